/* C tests of sessions: publish to the embedded loopback receiver over real ICE/DTLS/SRTP on
 * 127.0.0.1, with the codes, events and event order a C host sees. */
#include "libpublisher.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

/* Every callback appends a line here; completions are also counted in `calls`. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char events[64][64];
static int event_count = 0;
static completions calls = COMPLETIONS_INIT;

static void log_event(const char *text) {
  pthread_mutex_lock(&lock);
  if (event_count < 64) snprintf(events[event_count++], 64, "%s", text);
  pthread_mutex_unlock(&lock);
}

static int find_event(const char *text) {
  pthread_mutex_lock(&lock);
  int at = -1;
  for (int i = 0; i < event_count && at < 0; i++)
    if (strcmp(events[i], text) == 0) at = i;
  pthread_mutex_unlock(&lock);
  return at;
}

static void on_done(const char *what, const lp_error *e) {
  char line[64];
  snprintf(line, sizeof line, "%s:%s", what, e ? e->name : "OK");
  log_event(line);
  completion_add(&calls, e);
}

static void on_init_done(lp_publisher p, const lp_error *e, void *ud) { (void)p; (void)ud; on_done("init", e); }
static void on_connect_done(lp_session s, const lp_error *e, void *ud) { (void)s; (void)ud; on_done("connect", e); }
static void on_publish_done(lp_session s, const lp_error *e, void *ud) { (void)s; (void)ud; on_done("publish", e); }
static void on_unpublish_done(lp_session s, const lp_error *e, void *ud) { (void)s; (void)ud; on_done("unpublish", e); }
static void on_disconnect_done(lp_session s, const lp_error *e, void *ud) { (void)s; (void)ud; on_done("disconnect", e); }

static void on_stream_created(lp_publisher p, const char *stream_id, void *ud) {
  (void)p; (void)ud;
  CHECK(stream_id != NULL && strlen(stream_id) > 0);
  log_event("streamCreated");
}
static void on_stream_destroyed(lp_publisher p, int32_t reason, const char *name, void *ud) {
  (void)p; (void)ud;
  char line[64];
  snprintf(line, sizeof line, "streamDestroyed:%s", name);
  CHECK(reason == LP_REASON_CLIENT_DISCONNECTED);
  log_event(line);
}
/* Seldom on loopback (only when the sending steps down or up): when it comes, the sizes are
 * real and differ. */
static void on_video_dimensions_changed(lp_publisher p, uint32_t old_width, uint32_t old_height,
                                        uint32_t new_width, uint32_t new_height, void *ud) {
  (void)p; (void)ud;
  CHECK(old_width > 0 && old_height > 0 && new_width > 0 && new_height > 0);
  CHECK(old_width != new_width || old_height != new_height);
  log_event("videoDimensionsChanged");
}
static void on_session_connected(lp_session s, void *ud) { (void)s; (void)ud; log_event("sessionConnected"); }
static void on_session_disconnected(lp_session s, int32_t reason, const char *name, void *ud) {
  (void)s; (void)ud; (void)reason;
  char line[64];
  snprintf(line, sizeof line, "sessionDisconnected:%s", name);
  log_event(line);
}

/* Waits until `n` completions happened in all; returns the last completion's code. */
static int32_t wait_completions(int n) { return completion_wait(&calls, n, 30); }

/* NULL stats (nothing to tell) read as all ones, which no real count matches. */
static void copy_receiver_stats(const lp_receiver_stats *stats, void *ud) {
  if (stats) *(lp_receiver_stats *)ud = *stats;
  else memset(ud, 0xff, sizeof(lp_receiver_stats));
}
static void copy_publisher_stats(const lp_publisher_stats *stats, void *ud) {
  *(lp_publisher_stats *)ud = *stats;
}

int main(void) {
  int done = 0;
  lp_session bad;
  CHECK_CODE(lp_session_new("ftp://example.com", NULL, &bad), LP_INVALID_SESSION_ID);
  CHECK_CODE(lp_session_new(NULL, NULL, &bad), LP_INVALID_PARAMETER);
  CHECK_CODE(lp_session_new("loopback://", NULL, NULL), LP_INVALID_PARAMETER);
  lp_session_settings *ss = lp_session_settings_new();
  CHECK_CODE(lp_session_settings_set_ice_timeout_ms(ss, 0), LP_INVALID_PARAMETER);
  CHECK_CODE(lp_session_settings_set_ice_timeout_ms(ss, 5000), LP_OK);

  /* ICE servers and the transport policy are checked at once: 1011 naming the option. */
  lp_session_settings *ice = lp_session_settings_new();
  CHECK_CODE(lp_session_settings_add_ice_server(ice, "stun:127.0.0.1:3478", NULL, NULL), LP_OK);
  CHECK_CODE(lp_session_settings_add_ice_server(ice, "turn:127.0.0.1:3478?transport=tcp", "u", "p"),
             LP_OK);
  CHECK_CODE(lp_session_settings_add_ice_server(ice, "turn:127.0.0.1:3478", "u", NULL),
             LP_INVALID_PARAMETER);
  CHECK(strncmp(lp_last_error_message(), "ice_servers.credential: ", 24) == 0);
  CHECK_CODE(lp_session_settings_add_ice_server(ice, "http://127.0.0.1/", NULL, NULL),
             LP_INVALID_PARAMETER);
  CHECK(strstr(lp_last_error_message(), "unsupported scheme") != NULL);
  CHECK_CODE(lp_session_settings_add_ice_server(ice, NULL, NULL, NULL), LP_INVALID_PARAMETER);
  CHECK_CODE(lp_session_settings_add_ice_server(NULL, "stun:h", NULL, NULL), LP_INVALID_PARAMETER);
  CHECK_CODE(lp_session_settings_set_ice_transport_policy(ice, "nearby"), LP_INVALID_PARAMETER);
  CHECK(strncmp(lp_last_error_message(), "ice_transport_policy: ", 22) == 0);
  CHECK_CODE(lp_session_settings_set_ice_transport_policy(ice, NULL), LP_INVALID_PARAMETER);
  CHECK_CODE(lp_session_settings_set_ice_transport_policy(ice, "relay"), LP_OK);
  lp_session_settings_free(ice);

  lp_publisher_settings *ps = lp_publisher_settings_new();
  CHECK_CODE(lp_publisher_settings_set_video_source(ps, "synthetic"), LP_OK);
  CHECK_CODE(lp_publisher_settings_set_audio_source(ps, "synthetic"), LP_OK);
  CHECK_CODE(lp_publisher_settings_set_resolution(ps, "640x480"), LP_OK);
  lp_publisher_callbacks pcb = {0};
  pcb.on_stream_created = on_stream_created;
  pcb.on_stream_destroyed = on_stream_destroyed;
  pcb.on_video_dimensions_changed = on_video_dimensions_changed;
  lp_publisher publisher;
  CHECK_CODE(lp_init_publisher(ps, &pcb, on_init_done, NULL, &publisher), LP_OK);
  CHECK_CODE(wait_completions(++done), LP_OK);

  lp_session_callbacks scb = {0};
  scb.on_session_connected = on_session_connected;
  scb.on_session_disconnected = on_session_disconnected;
  lp_session session;
  /* Under valgrind (LP_TEST_SLOW) the connection's checks can go unanswered for seconds, and
   * the default 15 s to reconnect ran out in some runs before any media arrived. */
  if (getenv("LP_TEST_SLOW") != NULL)
    CHECK_CODE(lp_session_settings_set_reconnect_timeout_ms(ss, 120000), LP_OK);
  CHECK_CODE(lp_session_new_with_settings("loopback://", ss, &scb, &session), LP_OK);
  lp_session_settings_free(ss);

  /* Not connected yet: 1010 at once, no completion. */
  CHECK_CODE(lp_session_publish(session, publisher, on_publish_done, NULL), LP_NOT_CONNECTED);
  CHECK_CODE(lp_session_connect(session, NULL, on_connect_done, NULL), LP_OK);
  CHECK_CODE(wait_completions(++done), LP_OK);
  CHECK_CODE(lp_session_connect(session, NULL, on_connect_done, NULL), LP_ILLEGAL_STATE);
  int32_t state = -1;
  CHECK_CODE(lp_session_get_state(session, &state), LP_OK);
  CHECK(state == LP_SESSION_CONNECTED);

  /* Not published yet: nothing is sent, so nothing is estimated or limited. */
  lp_publisher_stats sent = {0};
  memset(&sent, 0xff, sizeof sent);
  CHECK_CODE(lp_publisher_get_stats(publisher, copy_publisher_stats, &sent), LP_OK);
  CHECK(sent.target_bitrate_bps == 0 && sent.available_outgoing_bitrate_bps == 0);
  CHECK(sent.frame_width == 0 && sent.frame_height == 0 && sent.frames_per_second == 0.0);
  CHECK(sent.quality_limitation_reason == LP_QUALITY_LIMITATION_NONE);

  CHECK_CODE(lp_session_publish(session, publisher, on_publish_done, NULL), LP_OK);
  CHECK_CODE(wait_completions(++done), LP_OK);
  CHECK_CODE(lp_session_publish(session, publisher, on_publish_done, NULL), LP_ILLEGAL_STATE);
  /* Under valgrind everything runs tens of times slower: there only "media arrived" holds,
   * and it takes longer to arrive, so the test waits for it. Otherwise 2 s of media pass and
   * the counts must fit that time. */
  int slow = getenv("LP_TEST_SLOW") != NULL;
  struct timespec started, now;
  clock_gettime(CLOCK_MONOTONIC, &started);
  lp_receiver_stats received = {0};
  if (slow) {
    for (int i = 0; i < 600; i++) {
      CHECK_CODE(lp_session_get_receiver_stats(session, publisher, copy_receiver_stats, &received), LP_OK);
      if (received.video_frames >= 1 && received.video_keyframes >= 1 && received.audio_packets >= 1)
        break;
      usleep(100 * 1000);
    }
  } else {
    sleep(2);
  }
  CHECK_CODE(lp_session_get_receiver_stats(session, publisher, copy_receiver_stats, &received), LP_OK);
  /* The synthetic source runs at 30 fps: the receiver cannot have seen more than that time
   * allows (plus slack for frames already on their way when the clock started). */
  clock_gettime(CLOCK_MONOTONIC, &now);
  double elapsed = (double)(now.tv_sec - started.tv_sec) + (now.tv_nsec - started.tv_nsec) / 1e9;
  fprintf(stderr, "received %llu video frames (%llu keyframes), %llu audio packets in %.1f s\n",
          (unsigned long long)received.video_frames, (unsigned long long)received.video_keyframes,
          (unsigned long long)received.audio_packets, elapsed);
  CHECK(received.video_frames >= (slow ? 1 : 40));
  CHECK(received.video_frames <= (uint64_t)(30.0 * elapsed) + 20);
  /* Slowed down that much, the receiver's DTLS may finish after the first keyframe went out;
   * the periodic keyframe then repairs the stream. */
  CHECK(slow ? received.video_keyframes >= 1 : received.first_frame_was_keyframe);
  CHECK(received.audio_packets >= (slow ? 1 : 60));
  CHECK_CODE(lp_publisher_get_stats(publisher, copy_publisher_stats, &sent), LP_OK);
  /* The sent frame rate is measured over a second of encoding: slowed down, wait for it. */
  for (int i = 0; slow && sent.frames_per_second == 0.0 && i < 300; i++) {
    usleep(100 * 1000);
    CHECK_CODE(lp_publisher_get_stats(publisher, copy_publisher_stats, &sent), LP_OK);
  }
  CHECK(sent.video_frames_sent >= received.video_frames);
  CHECK(sent.video_keyframes_sent >= 1);
  fprintf(stderr, "sent at %ux%u, %.1f fps, %llu bit/s asked of %llu estimated, limitation %d\n",
          sent.frame_width, sent.frame_height, sent.frames_per_second,
          (unsigned long long)sent.target_bitrate_bps,
          (unsigned long long)sent.available_outgoing_bitrate_bps,
          (int)sent.quality_limitation_reason);
  CHECK(sent.target_bitrate_bps > 0 && sent.available_outgoing_bitrate_bps > 0);
  CHECK(sent.frames_per_second > 0.0);
  if (slow) {
    /* Tens of times slower, the encoder may step the size down, never up. */
    CHECK(sent.frame_width > 0 && sent.frame_width <= 640);
    CHECK(sent.frame_height > 0 && sent.frame_height <= 480);
  } else {
    /* On loopback nothing is short: the published size, unlimited. */
    CHECK(sent.frame_width == 640 && sent.frame_height == 480);
    CHECK(sent.quality_limitation_reason == LP_QUALITY_LIMITATION_NONE);
  }
  CHECK_CODE(lp_publisher_get_state(publisher, &state), LP_OK);
  CHECK(state == LP_PUBLISHER_PUBLISHING);

  CHECK_CODE(lp_session_unpublish(session, publisher, on_unpublish_done, NULL), LP_OK);
  CHECK_CODE(wait_completions(++done), LP_OK);
  /* Not published there any more: the stats are NULL, as None/null in Python and Node. */
  CHECK_CODE(lp_session_get_receiver_stats(session, publisher, copy_receiver_stats, &received), LP_OK);
  CHECK(received.video_frames == UINT64_MAX);
  CHECK_CODE(lp_session_publish(session, publisher, on_publish_done, NULL), LP_OK);
  CHECK_CODE(wait_completions(++done), LP_OK);
  CHECK_CODE(lp_session_disconnect(session, on_disconnect_done, NULL), LP_OK);
  CHECK_CODE(wait_completions(++done), LP_OK);
  CHECK_CODE(lp_session_publish(session, publisher, on_publish_done, NULL), LP_NOT_CONNECTED);

  /* The order a host sees, as OpenTok defines it. */
  CHECK(find_event("sessionConnected") < find_event("connect:OK"));
  CHECK(find_event("publish:OK") < find_event("streamCreated"));
  CHECK(find_event("streamDestroyed:clientDisconnected") < find_event("unpublish:OK"));
  int second_destroyed = -1;
  for (int i = find_event("unpublish:OK"); i < event_count; i++)
    if (strcmp(events[i], "streamDestroyed:clientDisconnected") == 0) second_destroyed = i;
  CHECK(second_destroyed > 0 && second_destroyed < find_event("sessionDisconnected:clientDisconnected"));
  CHECK(find_event("sessionDisconnected:clientDisconnected") < find_event("disconnect:OK"));

  /* Closed, the handle still reads (as in Python and Node); freed, it is gone. */
  CHECK_CODE(lp_session_close(session), LP_OK);
  CHECK_CODE(lp_session_close(session), LP_OK);
  CHECK_CODE(lp_session_get_state(session, &state), LP_OK);
  CHECK(state == LP_SESSION_CLOSED);
  CHECK_CODE(lp_session_connect(session, NULL, on_connect_done, NULL), LP_ILLEGAL_STATE);
  CHECK_CODE(lp_session_free(session), LP_OK);
  CHECK_CODE(lp_session_free(session), LP_ILLEGAL_STATE);
  CHECK_CODE(lp_session_get_state(session, &state), LP_ILLEGAL_STATE);
  CHECK_CODE(lp_publisher_free(publisher), LP_OK);
  lp_publisher_settings_free(ps);

  if (failures) {
    for (int i = 0; i < event_count; i++) fprintf(stderr, "  event %d: %s\n", i, events[i]);
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("all C session tests passed\n");
  return 0;
}
