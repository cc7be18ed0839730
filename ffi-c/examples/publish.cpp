// Publishes the synthetic camera and microphone from C++ for a few seconds and prints what was
// sent and, on loopback://, what the embedded receiver got:
//   publish [URL [SECONDS]]        (default: loopback:// 2)
// It calls the C API as it is; the few lines of RAII below only make sure that every settings
// object and handle is freed once, on every path, exceptions included.
#include <libpublisher.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

namespace {

// Settings are heap objects: unique_ptr with the matching free function.
struct FreeSettings {
  void operator()(lp_publisher_settings *s) const { lp_publisher_settings_free(s); }
};
using PublisherSettings = std::unique_ptr<lp_publisher_settings, FreeSettings>;

// Publishers and sessions are ids passed by value, not pointers, so unique_ptr does not fit:
// a move-only owner frees the id once.
template <typename Handle, int32_t (*Free)(Handle)>
class Owned {
 public:
  Owned() = default;
  explicit Owned(Handle handle) : handle_(handle) {}
  Owned(Owned &&other) noexcept : handle_(std::exchange(other.handle_, Handle{})) {}
  Owned &operator=(Owned &&other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, Handle{});
    }
    return *this;
  }
  Owned(const Owned &) = delete;
  Owned &operator=(const Owned &) = delete;
  ~Owned() { reset(); }

  Handle get() const { return handle_; }
  // Freeing returns when no callback of the handle runs any more.
  void reset() {
    if (handle_.id != 0) Free(std::exchange(handle_, Handle{}));
  }

 private:
  Handle handle_{};
};
using Publisher = Owned<lp_publisher, lp_publisher_free>;
using Session = Owned<lp_session, lp_session_free>;

// A call refused at once: its code, and this thread's message for it.
void check(int32_t rc, const char *what) {
  if (rc != LP_OK)
    throw std::runtime_error(std::string(what) + ": " + std::to_string(rc) + " " +
                             lp_error_name(rc) + ": " + lp_last_error_message());
}

// A completion's outcome, copied: the lp_error lives only during the callback.
struct Outcome {
  int32_t code = LP_OK;
  std::string text;
};
using Completion = std::promise<Outcome>;

// The completion callback of publisher and session calls; user_data is the Completion.
template <typename Handle>
void on_done(Handle, const lp_error *error, void *user_data) {
  Outcome outcome;
  if (error) outcome = {error->code, std::string(error->name) + ": " + error->message};
  static_cast<Completion *>(user_data)->set_value(std::move(outcome));
}

// Starts a call with `start(&completion)` and waits for its callback.
template <typename Start>
void await(const char *what, Start start) {
  Completion completion;
  std::future<Outcome> result = completion.get_future();
  check(start(&completion), what);  // refused: the callback never runs
  Outcome outcome = result.get();
  if (outcome.code != LP_OK)
    throw std::runtime_error(std::string(what) + " failed: " + std::to_string(outcome.code) + " " +
                             outcome.text);
}

// Events run on the library's callback threads; one printf per line keeps lines whole.
void on_access_allowed(lp_publisher, void *) { std::printf("event accessAllowed\n"); }
void on_stream_created(lp_publisher, const char *stream_id, void *) {
  std::printf("event streamCreated %s\n", stream_id);
}
void on_stream_destroyed(lp_publisher, int32_t, const char *reason, void *) {
  std::printf("event streamDestroyed %s\n", reason);
}
void on_session_connected(lp_session, void *) { std::printf("event sessionConnected\n"); }
void on_session_disconnected(lp_session, int32_t, const char *reason, void *) {
  std::printf("event sessionDisconnected %s\n", reason);
}

// Stats arrive through a callback before the call returns; these copy them out.
void copy_sent(const lp_publisher_stats *stats, void *user_data) {
  *static_cast<lp_publisher_stats *>(user_data) = *stats;
}
struct Received {
  bool known = false;  // false: not a loopback:// session
  lp_receiver_stats stats{};
};
void copy_received(const lp_receiver_stats *stats, void *user_data) {
  auto *received = static_cast<Received *>(user_data);
  received->known = stats != nullptr;
  if (stats) received->stats = *stats;
}

int run(const char *url, int seconds) {
  std::printf("libpublisher %s\n", lp_version());

  PublisherSettings settings(lp_publisher_settings_new());
  check(lp_publisher_settings_set_video_source(settings.get(), "synthetic"), "video source");
  check(lp_publisher_settings_set_audio_source(settings.get(), "synthetic"), "audio source");
  check(lp_publisher_settings_set_resolution(settings.get(), "640x480"), "resolution");
  check(lp_publisher_settings_set_frame_rate(settings.get(), 30), "frame rate");

  lp_publisher_callbacks publisher_events{};
  publisher_events.on_access_allowed = on_access_allowed;
  publisher_events.on_stream_created = on_stream_created;
  publisher_events.on_stream_destroyed = on_stream_destroyed;
  Publisher publisher;
  await("init_publisher", [&](Completion *done) {
    lp_publisher handle{};
    int32_t rc = lp_init_publisher(settings.get(), &publisher_events, on_done<lp_publisher>,
                                   done, &handle);
    if (rc == LP_OK) publisher = Publisher(handle);
    return rc;
  });
  settings.reset();  // the publisher copied them

  lp_session_callbacks session_events{};
  session_events.on_session_connected = on_session_connected;
  session_events.on_session_disconnected = on_session_disconnected;
  lp_session session_handle{};
  check(lp_session_new(url, &session_events, &session_handle), "init_session");
  Session session(session_handle);

  await("connect", [&](Completion *done) {
    return lp_session_connect(session.get(), nullptr, on_done<lp_session>, done);
  });
  await("publish", [&](Completion *done) {
    return lp_session_publish(session.get(), publisher.get(), on_done<lp_session>, done);
  });
  std::this_thread::sleep_for(std::chrono::seconds(seconds));

  lp_publisher_stats sent{};
  check(lp_publisher_get_stats(publisher.get(), copy_sent, &sent), "get_stats");
  Received received;
  check(lp_session_get_receiver_stats(session.get(), publisher.get(), copy_received, &received),
        "get_receiver_stats");

  await("unpublish", [&](Completion *done) {
    return lp_session_unpublish(session.get(), publisher.get(), on_done<lp_session>, done);
  });
  await("disconnect", [&](Completion *done) {
    return lp_session_disconnect(session.get(), on_done<lp_session>, done);
  });

  std::printf("published %d s to %s: sent %llu video frames (%llu keyframes), %llu audio packets\n",
              seconds, url, static_cast<unsigned long long>(sent.video_frames_sent),
              static_cast<unsigned long long>(sent.video_keyframes_sent),
              static_cast<unsigned long long>(sent.audio_packets_sent));
  if (received.known) {
    std::printf("receiver got %llu video frames (first a keyframe: %s), %llu audio packets\n",
                static_cast<unsigned long long>(received.stats.video_frames),
                received.stats.first_frame_was_keyframe ? "yes" : "no",
                static_cast<unsigned long long>(received.stats.audio_packets));
    return received.stats.video_frames > 0 && received.stats.audio_packets > 0 ? 0 : 1;
  }
  return sent.video_frames_sent > 0 && sent.audio_packets_sent > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char **argv) {
  const char *url = argc > 1 ? argv[1] : "loopback://";
  int seconds = argc > 2 ? std::atoi(argv[2]) : 2;
  try {
    return run(url, seconds);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
