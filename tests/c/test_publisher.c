/* C tests of the publisher API: real sources, real threads, the codes a C host sees. */
#include "libpublisher.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

/* What one publisher's callbacks saw, guarded by a mutex and signalled on completion. */
typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t changed;
  char events[8][32];
  int event_count;
  int done;
  int done_code;
  char done_name[64];
  char done_message[256];
  int callbacks_after_free;
  volatile int freed;
  int consent_answer;
  int consent_entered; /* the consent callback started */
  int consent_asked;   /* and returned */
  int consent_delay_ms;
  int free_in_done;
  int freed_in_done; /* the free inside on_done returned */
} observed;

static void observed_init(observed *o) {
  memset(o, 0, sizeof *o);
  pthread_mutex_init(&o->lock, NULL);
  pthread_cond_init(&o->changed, NULL);
  o->consent_answer = 1;
}

static void record_event(observed *o, const char *name) {
  pthread_mutex_lock(&o->lock);
  if (o->freed) o->callbacks_after_free++;
  if (o->event_count < 8) snprintf(o->events[o->event_count++], 32, "%s", name);
  pthread_mutex_unlock(&o->lock);
}

static void on_access_allowed(lp_publisher p, void *ud) {
  (void)p;
  record_event(ud, "accessAllowed");
}

static void on_access_denied(lp_publisher p, const lp_error *e, void *ud) {
  (void)p;
  record_event(ud, "accessDenied");
  if (e->code != LP_USER_MEDIA_ACCESS_DENIED) failures++;
}

static bool on_access_request(const lp_access_request *r, void *ud) {
  observed *o = ud;
  pthread_mutex_lock(&o->lock);
  o->consent_entered = 1;
  pthread_cond_broadcast(&o->changed);
  pthread_mutex_unlock(&o->lock);
  if (o->consent_delay_ms) usleep(o->consent_delay_ms * 1000); /* a host slow to answer */
  pthread_mutex_lock(&o->lock);
  if (o->freed) o->callbacks_after_free++;
  o->consent_asked++;
  pthread_mutex_unlock(&o->lock);
  return r != NULL && o->consent_answer;
}

static void on_done(lp_publisher p, const lp_error *e, void *ud) {
  observed *o = ud;
  pthread_mutex_lock(&o->lock);
  if (o->freed) o->callbacks_after_free++;
  o->done = 1;
  o->done_code = e ? e->code : LP_OK;
  snprintf(o->done_name, sizeof o->done_name, "%s", e ? e->name : "OK");
  snprintf(o->done_message, sizeof o->done_message, "%s", e ? e->message : "");
  pthread_cond_broadcast(&o->changed);
  pthread_mutex_unlock(&o->lock);
  /* The library may be called from inside a callback, including to free the caller. */
  if (o->free_in_done) {
    CHECK_CODE(lp_publisher_free(p), LP_OK);
    pthread_mutex_lock(&o->lock);
    o->freed_in_done = 1;
    pthread_cond_broadcast(&o->changed);
    pthread_mutex_unlock(&o->lock);
  }
}

/* Waits until `*flag` (a field of `o`) is set, for at most `seconds`; whether it is. */
static int wait_flag(observed *o, const int *flag, int seconds) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += seconds;
  pthread_mutex_lock(&o->lock);
  while (!*flag) {
    if (pthread_cond_timedwait(&o->changed, &o->lock, &deadline) != 0) break;
  }
  int set = *flag;
  pthread_mutex_unlock(&o->lock);
  return set;
}

static int wait_done(observed *o, int seconds) { return wait_flag(o, &o->done, seconds); }

static lp_publisher_settings *synthetic_settings(void) {
  lp_publisher_settings *s = lp_publisher_settings_new();
  CHECK_CODE(lp_publisher_settings_set_video_source(s, "synthetic"), LP_OK);
  CHECK_CODE(lp_publisher_settings_set_audio_source(s, "synthetic"), LP_OK);
  CHECK_CODE(lp_publisher_settings_set_resolution(s, "320x240"), LP_OK);
  CHECK_CODE(lp_publisher_settings_set_frame_rate(s, 30), LP_OK);
  return s;
}

static lp_publisher start(lp_publisher_settings *s, observed *o) {
  lp_publisher_callbacks cbs = {0};
  cbs.on_access_allowed = on_access_allowed;
  cbs.on_access_denied = on_access_denied;
  cbs.user_data = o;
  CHECK_CODE(lp_publisher_settings_set_access_request(s, on_access_request, o), LP_OK);
  lp_publisher p = {0};
  CHECK_CODE(lp_init_publisher(s, &cbs, on_done, o, &p), LP_OK);
  CHECK(p.id != 0);
  return p;
}

static void count_frames(const lp_publisher_stats *stats, void *ud) {
  *(lp_publisher_stats *)ud = *stats;
}

static void test_names_and_version(void) {
  CHECK(strlen(lp_version()) > 0);
  CHECK(strcmp(lp_error_name(LP_NOT_CONNECTED), "NOT_CONNECTED") == 0);
  CHECK(strcmp(lp_error_name(LP_USER_MEDIA_ACCESS_DENIED), "USER_MEDIA_ACCESS_DENIED") == 0);
  CHECK(strcmp(lp_error_name(4242), "UNKNOWN") == 0);
  CHECK(strcmp(lp_reason_name(LP_REASON_NETWORK_DISCONNECTED), "networkDisconnected") == 0);
}

static void on_devices(const lp_device *devices, size_t count, void *ud) {
  *(long *)ud = (long)count;
  for (size_t i = 0; i < count; i++) {
    if (strncmp(devices[i].device_id, "audio:", 6) != 0 &&
        strncmp(devices[i].device_id, "video:", 6) != 0 &&
        strncmp(devices[i].device_id, "screen:", 7) != 0)
      failures++;
  }
}

static void count_cameras(const lp_device *devices, size_t count, void *ud) {
  *(long *)ud = 0;
  for (size_t i = 0; i < count; i++) *(long *)ud += strcmp(devices[i].kind, "videoInput") == 0;
}

static void test_devices(void) {
  CHECK_CODE(lp_get_devices(NULL, NULL), LP_INVALID_PARAMETER);
  long count = -1;
  CHECK_CODE(lp_get_devices(on_devices, &count), LP_OK);
  CHECK(count >= 0);
}

static void test_bad_arguments(void) {
  CHECK_CODE(lp_publisher_settings_set_resolution(NULL, "640x480"), LP_INVALID_PARAMETER);
  lp_publisher_settings *s = lp_publisher_settings_new();
  CHECK_CODE(lp_publisher_settings_set_resolution(s, "huge"), LP_INVALID_PARAMETER);
  CHECK(strncmp(lp_last_error_message(), "resolution:", 11) == 0);
  CHECK_CODE(lp_publisher_settings_set_resolution(s, NULL), LP_INVALID_PARAMETER);
  CHECK_CODE(lp_publisher_settings_set_frame_rate(s, 0), LP_INVALID_PARAMETER);
  CHECK(strncmp(lp_last_error_message(), "frame_rate:", 11) == 0);
  CHECK_CODE(lp_publisher_settings_set_video_source(s, "webcam"), LP_INVALID_PARAMETER);
  CHECK(strncmp(lp_last_error_message(), "video_source:", 13) == 0);
  CHECK_CODE(lp_publisher_settings_set_video_source(s, "\xff\xfe"), LP_INVALID_PARAMETER);
  CHECK_CODE(lp_publisher_settings_set_video_codec(s, "AV2"), LP_INVALID_PARAMETER);
  CHECK_CODE(lp_publisher_settings_set_init_timeout_ms(s, -5), LP_INVALID_PARAMETER);
  /* The adaptation settings: checked by the core, with its messages. */
  CHECK_CODE(lp_publisher_settings_set_degradation_preference(s, "fast"), LP_INVALID_PARAMETER);
  CHECK(strcmp(lp_last_error_message(),
               "degradation_preference: \"fast\" is not one of \"balanced\", "
               "\"maintain-framerate\", \"maintain-resolution\"") == 0);
  CHECK_CODE(lp_publisher_settings_set_degradation_preference(s, NULL), LP_INVALID_PARAMETER);
  CHECK_CODE(lp_publisher_settings_set_degradation_preference(NULL, "balanced"), LP_INVALID_PARAMETER);
  CHECK_CODE(lp_publisher_settings_set_degradation_preference(s, "maintain-framerate"), LP_OK);
  CHECK_CODE(lp_publisher_settings_set_degradation_preference(s, "maintain-resolution"), LP_OK);
  CHECK_CODE(lp_publisher_settings_set_degradation_preference(s, "balanced"), LP_OK);
  CHECK_CODE(lp_publisher_settings_set_max_video_bitrate_kbps(s, -1), LP_INVALID_PARAMETER);
  CHECK(strncmp(lp_last_error_message(), "max_video_bitrate_kbps:", 23) == 0);
  CHECK_CODE(lp_publisher_settings_set_max_video_bitrate_kbps(s, 100001), LP_INVALID_PARAMETER);
  CHECK(strncmp(lp_last_error_message(), "max_video_bitrate_kbps:", 23) == 0);
  CHECK_CODE(lp_publisher_settings_set_max_video_bitrate_kbps(NULL, 500), LP_INVALID_PARAMETER);
  CHECK_CODE(lp_publisher_settings_set_max_video_bitrate_kbps(s, 100000), LP_OK);
  CHECK_CODE(lp_publisher_settings_set_max_video_bitrate_kbps(s, 0), LP_OK);
  CHECK_CODE(lp_publisher_settings_set_audio_fallback(NULL, true), LP_INVALID_PARAMETER);
  CHECK_CODE(lp_publisher_settings_set_audio_fallback(s, false), LP_OK);
  CHECK_CODE(lp_publisher_settings_set_audio_fallback(s, true), LP_OK);
  /* A successful call clears the message. */
  CHECK_CODE(lp_publisher_settings_set_video_codec(s, "H264"), LP_OK);
  CHECK(strcmp(lp_last_error_message(), "") == 0);

  lp_publisher p = {0};
  CHECK_CODE(lp_init_publisher(NULL, NULL, NULL, NULL, &p), LP_INVALID_PARAMETER);
  CHECK_CODE(lp_init_publisher(s, NULL, NULL, NULL, NULL), LP_INVALID_PARAMETER);
  /* Settings that cannot work together fail at once, with no publisher and no callback. */
  CHECK_CODE(lp_publisher_settings_set_video_source(s, NULL), LP_OK);
  CHECK_CODE(lp_publisher_settings_set_audio_source(s, NULL), LP_OK);
  CHECK_CODE(lp_init_publisher(s, NULL, NULL, NULL, &p), LP_INVALID_PARAMETER);
  CHECK(p.id == 0);
  lp_publisher_settings_free(s);
  lp_publisher_settings_free(NULL);

  lp_publisher forged = {987654321};
  lp_publisher zero = {0};
  int32_t state;
  CHECK_CODE(lp_publisher_free(forged), LP_ILLEGAL_STATE);
  CHECK_CODE(lp_publisher_free(zero), LP_INVALID_PARAMETER);
  CHECK_CODE(lp_publisher_get_state(forged, &state), LP_ILLEGAL_STATE);
  CHECK_CODE(lp_publisher_get_stats(forged, count_frames, &state), LP_ILLEGAL_STATE);
  CHECK_CODE(lp_set_log_callback(42, NULL, NULL), LP_INVALID_PARAMETER);
}

static void test_synthetic_ok(void) {
  observed o;
  observed_init(&o);
  lp_publisher_settings *s = synthetic_settings();
  lp_publisher p = start(s, &o);
  lp_publisher_settings_free(s); /* the publisher keeps its own copy */
  CHECK(wait_done(&o, 10));
  CHECK_CODE(o.done_code, LP_OK);
  CHECK(o.consent_asked == 1);
  CHECK(o.event_count == 1 && strcmp(o.events[0], "accessAllowed") == 0);
  int32_t state = -1;
  CHECK_CODE(lp_publisher_get_state(p, &state), LP_OK);
  CHECK(state == LP_PUBLISHER_READY);

  lp_publisher_stats first = {0}, later = {0};
  CHECK_CODE(lp_publisher_get_stats(p, count_frames, &first), LP_OK);
  usleep(400 * 1000); /* the measured interval: 400 ms at 30 fps carry at least 6 frames */
  CHECK_CODE(lp_publisher_get_stats(p, count_frames, &later), LP_OK);
  CHECK(later.video_frames_captured >= first.video_frames_captured + 6);
  CHECK(later.audio_frames_captured >= first.audio_frames_captured + 20);

  CHECK_CODE(lp_publisher_close(p), LP_OK);
  CHECK_CODE(lp_publisher_get_state(p, &state), LP_OK);
  CHECK(state == LP_PUBLISHER_CLOSED);
  CHECK_CODE(lp_publisher_free(p), LP_OK);
  CHECK_CODE(lp_publisher_free(p), LP_ILLEGAL_STATE);
  CHECK_CODE(lp_publisher_get_stats(p, count_frames, &later), LP_ILLEGAL_STATE);
}

static void record_toggle(void *ud, const char *event, int32_t reason, const char *name,
                          int32_t expected_reason, const char *expected_name) {
  record_event(ud, event);
  CHECK(reason == expected_reason);
  CHECK(strcmp(name, expected_name) == 0);
}

static void on_video_disabled(lp_publisher p, int32_t reason, const char *name, void *ud) {
  (void)p;
  record_toggle(ud, "videoDisabled", reason, name, LP_REASON_PUBLISH_VIDEO, "publishVideo");
}

static void on_video_enabled(lp_publisher p, int32_t reason, const char *name, void *ud) {
  (void)p;
  record_toggle(ud, "videoEnabled", reason, name, LP_REASON_PUBLISH_VIDEO, "publishVideo");
}

static void on_audio_disabled(lp_publisher p, int32_t reason, const char *name, void *ud) {
  (void)p;
  record_toggle(ud, "audioDisabled", reason, name, LP_REASON_PUBLISH_AUDIO, "publishAudio");
}

static void on_audio_enabled(lp_publisher p, int32_t reason, const char *name, void *ud) {
  (void)p;
  record_toggle(ud, "audioEnabled", reason, name, LP_REASON_PUBLISH_AUDIO, "publishAudio");
}

/* Muting before publishing: each change is an event with its reason, a repeat is none; a
 * publisher without video cannot turn it on, a freed one cannot be called. (What a receiver
 * decodes across mute and unmute is tested from Python against aiortc, tests/whip.) */
static void test_mute(void) {
  observed o;
  observed_init(&o);
  lp_publisher_settings *s = synthetic_settings();
  lp_publisher_callbacks cbs = {0};
  cbs.on_access_allowed = on_access_allowed;
  cbs.on_video_disabled = on_video_disabled;
  cbs.on_video_enabled = on_video_enabled;
  cbs.on_audio_disabled = on_audio_disabled;
  cbs.on_audio_enabled = on_audio_enabled;
  cbs.user_data = &o;
  lp_publisher p = {0};
  CHECK_CODE(lp_init_publisher(s, &cbs, on_done, &o, &p), LP_OK);
  lp_publisher_settings_free(s);
  CHECK(wait_done(&o, 10));
  CHECK_CODE(lp_publisher_publish_video(p, false), LP_OK);
  CHECK_CODE(lp_publisher_publish_video(p, false), LP_OK);
  CHECK_CODE(lp_publisher_publish_audio(p, false), LP_OK);
  CHECK_CODE(lp_publisher_publish_audio(p, true), LP_OK);
  CHECK_CODE(lp_publisher_publish_video(p, true), LP_OK);
  usleep(300 * 1000); /* events are delivered on the publisher's callback thread */
  pthread_mutex_lock(&o.lock);
  const char *expected[] = {"accessAllowed", "videoDisabled", "audioDisabled", "audioEnabled",
                            "videoEnabled"};
  CHECK(o.event_count == 5);
  for (int i = 0; i < 5 && i < o.event_count; i++) CHECK(strcmp(o.events[i], expected[i]) == 0);
  pthread_mutex_unlock(&o.lock);
  CHECK_CODE(lp_publisher_free(p), LP_OK);
  CHECK_CODE(lp_publisher_publish_video(p, false), LP_ILLEGAL_STATE);

  observed a;
  observed_init(&a);
  s = lp_publisher_settings_new();
  CHECK_CODE(lp_publisher_settings_set_video_source(s, NULL), LP_OK);
  CHECK_CODE(lp_publisher_settings_set_audio_source(s, "synthetic"), LP_OK);
  lp_publisher audio_only = start(s, &a);
  lp_publisher_settings_free(s);
  CHECK(wait_done(&a, 10));
  CHECK_CODE(lp_publisher_publish_video(audio_only, true), LP_ILLEGAL_STATE);
  CHECK(strstr(lp_last_error_message(), "has no video") != NULL);
  CHECK_CODE(lp_publisher_free(audio_only), LP_OK);
}

/* Keeps the first bytes of a snapshot and its length. */
typedef struct {
  uint8_t head[24];
  size_t len;
} png_head;

static void on_snapshot(const uint8_t *png, size_t len, void *ud) {
  png_head *h = ud;
  h->len = len;
  memcpy(h->head, png, len < sizeof h->head ? len : sizeof h->head);
}

static void on_switched(lp_publisher p, const lp_error *e, void *ud) {
  (void)p;
  completion_add(ud, e);
}

/* Switching sources before publishing: a good source completes with NULL, a missing device
 * or file with its code (the old source stays), a wrong string or a freed publisher fails at
 * once with no completion. (What a receiver sees across a switch is tested from Python.) */
static void test_switch_sources(void) {
  static completions switched = COMPLETIONS_INIT;
  observed o;
  observed_init(&o);
  lp_publisher_settings *s = synthetic_settings();
  lp_publisher p = start(s, &o);
  lp_publisher_settings_free(s);
  CHECK(wait_done(&o, 10));
  CHECK_CODE(lp_publisher_set_video_source(p, "synthetic", on_switched, &switched), LP_OK);
  CHECK_CODE(completion_wait(&switched, 1, 10), LP_OK);
  CHECK_CODE(lp_publisher_set_audio_source(p, "synthetic", on_switched, &switched), LP_OK);
  CHECK_CODE(completion_wait(&switched, 2, 10), LP_OK);
  CHECK_CODE(lp_publisher_set_video_source(p, "video:no-such-camera", on_switched, &switched),
             LP_OK);
  CHECK_CODE(completion_wait(&switched, 3, 10), LP_DEVICE_NOT_FOUND);
  CHECK_CODE(lp_publisher_set_video_source(p, "file:/no/such.y4m", on_switched, &switched), LP_OK);
  CHECK_CODE(completion_wait(&switched, 4, 10), LP_MEDIA_SOURCE_INVALID);
  CHECK_CODE(lp_publisher_set_video_source(p, "loudspeaker", on_switched, &switched),
             LP_INVALID_PARAMETER);
  CHECK_CODE(lp_publisher_set_video_source(p, NULL, on_switched, &switched), LP_INVALID_PARAMETER);
  CHECK_CODE(lp_publisher_set_preferred_resolution(p, "160x120"), LP_OK);
  CHECK_CODE(lp_publisher_set_preferred_frame_rate(p, 15), LP_OK);
  CHECK_CODE(lp_publisher_set_preferred_resolution(p, "huge"), LP_INVALID_PARAMETER);
  CHECK_CODE(lp_publisher_set_preferred_resolution(p, NULL), LP_INVALID_PARAMETER);
  CHECK_CODE(lp_publisher_set_preferred_frame_rate(p, 0), LP_INVALID_PARAMETER);
  /* Cycling cameras on a machine without one has nowhere to go: 1581 at once. */
  long cameras = -1;
  CHECK_CODE(lp_get_devices(count_cameras, &cameras), LP_OK);
  if (cameras == 0) CHECK_CODE(lp_publisher_cycle_video(p, NULL, NULL), LP_NO_DEVICES_FOUND);
  /* A snapshot: PNG at the publisher's 320x240 (IHDR's width and height, big-endian). */
  png_head head = {0};
  CHECK_CODE(lp_publisher_snapshot(p, on_snapshot, &head), LP_OK);
  CHECK(head.len > 24 && memcmp(head.head, "\x89PNG\r\n\x1a\n", 8) == 0);
  CHECK(head.head[18] == 0x01 && head.head[19] == 0x40 && head.head[22] == 0 && head.head[23] == 0xf0);
  CHECK_CODE(lp_publisher_snapshot(p, NULL, NULL), LP_INVALID_PARAMETER);
  /* The synthetic source still runs. */
  lp_publisher_stats first = {0}, later = {0};
  CHECK_CODE(lp_publisher_get_stats(p, count_frames, &first), LP_OK);
  usleep(300 * 1000);
  CHECK_CODE(lp_publisher_get_stats(p, count_frames, &later), LP_OK);
  CHECK(later.video_frames_captured > first.video_frames_captured);
  CHECK_CODE(lp_publisher_free(p), LP_OK);
  CHECK_CODE(lp_publisher_set_video_source(p, "synthetic", on_switched, &switched),
             LP_ILLEGAL_STATE);
  CHECK_CODE(lp_publisher_cycle_video(p, NULL, NULL), LP_ILLEGAL_STATE);
  usleep(100 * 1000);
  CHECK(completion_wait(&switched, 5, 0) == -1); /* no completion for calls refused at once */
}

static void test_consent_denied(void) {
  observed o;
  observed_init(&o);
  o.consent_answer = 0;
  lp_publisher_settings *s = synthetic_settings();
  lp_publisher p = start(s, &o);
  CHECK(wait_done(&o, 10));
  CHECK_CODE(o.done_code, LP_USER_MEDIA_ACCESS_DENIED);
  CHECK(strcmp(o.done_name, "USER_MEDIA_ACCESS_DENIED") == 0);
  CHECK(strncmp(o.done_message, "Publisher Access Denied:", 24) == 0);
  CHECK(o.event_count == 1 && strcmp(o.events[0], "accessDenied") == 0);
  int32_t state = -1;
  CHECK_CODE(lp_publisher_get_state(p, &state), LP_OK);
  CHECK(state == LP_PUBLISHER_FAILED);
  CHECK_CODE(lp_publisher_free(p), LP_OK);
  lp_publisher_settings_free(s);
}

static void expect_device_error(const char *video_source, int32_t code) {
  observed o;
  observed_init(&o);
  lp_publisher_settings *s = lp_publisher_settings_new();
  CHECK_CODE(lp_publisher_settings_set_video_source(s, video_source), LP_OK);
  CHECK_CODE(lp_publisher_settings_set_audio_source(s, NULL), LP_OK);
  lp_publisher p = start(s, &o);
  CHECK(wait_done(&o, 10));
  CHECK_CODE(o.done_code, code);
  CHECK(o.event_count == 0);
  CHECK(o.consent_asked == 0); /* nothing to ask about when the device is not there */
  CHECK_CODE(lp_publisher_free(p), LP_OK);
  lp_publisher_settings_free(s);
}

static void test_free_during_init(void) {
  observed o;
  observed_init(&o);
  o.consent_delay_ms = 300;
  lp_publisher_settings *s = synthetic_settings();
  lp_publisher p = start(s, &o);
  CHECK(wait_flag(&o, &o.consent_entered, 10)); /* the consent callback is now running */
  CHECK_CODE(lp_publisher_free(p), LP_OK);
  pthread_mutex_lock(&o.lock);
  o.freed = 1;
  int asked = o.consent_asked;
  pthread_mutex_unlock(&o.lock);
  CHECK(asked == 1); /* free waited for the running callback */
  usleep(500 * 1000); /* time for callbacks that must not come */
  CHECK(o.callbacks_after_free == 0);
  /* The pending init completed once, with 1015, before free returned. */
  CHECK(o.done);
  CHECK_CODE(o.done_code, LP_ILLEGAL_STATE);
  CHECK(strcmp(o.done_message, "the publisher was closed before init_publisher completed") == 0);
  lp_publisher_settings_free(s);
}

static void test_free_inside_callback(void) {
  observed o;
  observed_init(&o);
  o.free_in_done = 1;
  lp_publisher_settings *s = synthetic_settings();
  lp_publisher p = start(s, &o);
  CHECK(wait_done(&o, 10));
  CHECK(wait_flag(&o, &o.freed_in_done, 10));
  int32_t state;
  CHECK_CODE(lp_publisher_get_state(p, &state), LP_ILLEGAL_STATE);
  lp_publisher_settings_free(s);
}

/* Custom sources: init completes without a pushed frame and without consent; wrong frames are
 * LP_INVALID_PARAMETER, pushes to a publisher that is not custom or freed LP_ILLEGAL_STATE. */
static void test_custom_sources(void) {
  observed o;
  observed_init(&o);
  lp_publisher_settings *s = lp_publisher_settings_new();
  CHECK_CODE(lp_publisher_settings_set_video_source(s, "custom"), LP_OK);
  CHECK_CODE(lp_publisher_settings_set_audio_source(s, "custom"), LP_OK);
  CHECK_CODE(lp_publisher_settings_set_resolution(s, "320x240"), LP_OK);
  lp_publisher p = start(s, &o);
  CHECK(wait_done(&o, 3));
  CHECK_CODE(o.done_code, LP_OK);
  CHECK(o.consent_asked == 0); /* the host's own frames need no consent */

  enum { W = 320, H = 240, PAD = 16 };
  static uint8_t y[(W + PAD) * H], u[(W / 2 + PAD) * (H / 2)], v[(W / 2 + PAD) * (H / 2)];
  static uint8_t rgba[64 * 48 * 4];
  memset(y, 81, sizeof y);
  memset(u, 90, sizeof u);
  memset(v, 240, sizeof v);
  for (size_t i = 0; i < sizeof rgba; i += 4) {
    rgba[i] = 255; rgba[i + 1] = 0; rgba[i + 2] = 0; rgba[i + 3] = 255;
  }
  lp_video_frame i420 = {
      .format = LP_VIDEO_FORMAT_I420, .width = W, .height = H,
      .data = {y, u, v}, .stride = {W + PAD, W / 2 + PAD, W / 2 + PAD}, .timestamp_us = 0};
  lp_video_frame packed = {
      .format = LP_VIDEO_FORMAT_RGBA, .width = 64, .height = 48,
      .data = {rgba, NULL, NULL}, .stride = {64 * 4, 0, 0}, .timestamp_us = 0};
  static int16_t tone[480 * 2];
  static float tone_f[441 * 2];
  for (int i = 0; i < 480; i++) tone[2 * i] = tone[2 * i + 1] = (int16_t)((i % 48) * 300);
  for (int i = 0; i < 441 * 2; i++) tone_f[i] = (float)(i % 10) / 20.0f;

  /* Good frames. */
  CHECK_CODE(lp_publisher_push_video_frame(p, &i420), LP_OK);
  usleep(40 * 1000); /* a frame interval at 30 fps, so that neither frame is thinned out */
  CHECK_CODE(lp_publisher_push_video_frame(p, &packed), LP_OK);
  CHECK_CODE(lp_publisher_push_audio_frame(p, tone, 480, 48000, 2, 0), LP_OK);
  CHECK_CODE(lp_publisher_push_audio_frame(p, tone, 960, 48000, 1, 0), LP_OK);
  CHECK_CODE(lp_publisher_push_audio_frame_float(p, tone_f, 441, 44100, 2, 0), LP_OK);

  /* Wrong ones: each names its argument. */
  lp_video_frame bad = i420;
  CHECK_CODE(lp_publisher_push_video_frame(p, NULL), LP_INVALID_PARAMETER);
  bad.width = 0;
  CHECK_CODE(lp_publisher_push_video_frame(p, &bad), LP_INVALID_PARAMETER);
  CHECK(strncmp(lp_last_error_message(), "width:", 6) == 0);
  bad = i420;
  bad.height = H - 1; /* odd I420 */
  CHECK_CODE(lp_publisher_push_video_frame(p, &bad), LP_INVALID_PARAMETER);
  CHECK(strncmp(lp_last_error_message(), "height:", 7) == 0);
  bad = i420;
  bad.stride[1] = W / 2 - 1; /* shorter than a row */
  CHECK_CODE(lp_publisher_push_video_frame(p, &bad), LP_INVALID_PARAMETER);
  CHECK(strncmp(lp_last_error_message(), "stride[1]:", 10) == 0);
  bad = i420;
  bad.data[2] = NULL;
  CHECK_CODE(lp_publisher_push_video_frame(p, &bad), LP_INVALID_PARAMETER);
  CHECK(strncmp(lp_last_error_message(), "data[2]:", 8) == 0);
  bad = i420;
  bad.format = 7;
  CHECK_CODE(lp_publisher_push_video_frame(p, &bad), LP_INVALID_PARAMETER);
  bad = packed;
  bad.stride[0] = 64 * 3; /* an RGB stride for RGBA */
  CHECK_CODE(lp_publisher_push_video_frame(p, &bad), LP_INVALID_PARAMETER);
  CHECK_CODE(lp_publisher_push_audio_frame(p, NULL, 480, 48000, 1, 0), LP_INVALID_PARAMETER);
  CHECK_CODE(lp_publisher_push_audio_frame(p, tone, 0, 48000, 1, 0), LP_INVALID_PARAMETER);
  CHECK_CODE(lp_publisher_push_audio_frame(p, tone, 480, 0, 1, 0), LP_INVALID_PARAMETER);
  CHECK(strncmp(lp_last_error_message(), "sample_rate:", 12) == 0);
  CHECK_CODE(lp_publisher_push_audio_frame(p, tone, 480, 48000, 0, 0), LP_INVALID_PARAMETER);
  CHECK_CODE(lp_publisher_push_audio_frame(p, tone, 320, 48000, 3, 0), LP_INVALID_PARAMETER);
  CHECK(strncmp(lp_last_error_message(), "channels:", 9) == 0);

  /* The good frames are counted once the source took them. */
  lp_publisher_stats stats = {0};
  for (int i = 0; i < 100; i++) {
    CHECK_CODE(lp_publisher_get_stats(p, count_frames, &stats), LP_OK);
    if (stats.video_frames_captured >= 2 && stats.audio_frames_captured >= 3) break;
    usleep(20 * 1000);
  }
  CHECK(stats.video_frames_captured == 2);
  CHECK(stats.audio_frames_captured == 3); /* 10 ms stereo, 20 ms mono; 10 ms at 44.1 kHz: short of a sample */

  /* Good frames where they cannot go. */
  observed o2;
  observed_init(&o2);
  lp_publisher_settings *syn = synthetic_settings();
  lp_publisher other = start(syn, &o2);
  CHECK(wait_done(&o2, 10));
  CHECK_CODE(lp_publisher_push_video_frame(other, &i420), LP_ILLEGAL_STATE);
  CHECK_CODE(lp_publisher_push_audio_frame(other, tone, 480, 48000, 1, 0), LP_ILLEGAL_STATE);
  CHECK_CODE(lp_publisher_free(other), LP_OK);
  CHECK_CODE(lp_publisher_push_video_frame(other, &i420), LP_ILLEGAL_STATE);
  CHECK_CODE(lp_publisher_free(p), LP_OK);
  CHECK_CODE(lp_publisher_push_video_frame(p, &i420), LP_ILLEGAL_STATE);
  CHECK_CODE(lp_publisher_push_audio_frame(p, tone, 480, 48000, 1, 0), LP_ILLEGAL_STATE);
  lp_publisher zero = {0};
  CHECK_CODE(lp_publisher_push_video_frame(zero, &i420), LP_INVALID_PARAMETER);
  lp_publisher_settings_free(syn);
  lp_publisher_settings_free(s);
}

int main(void) {
  test_names_and_version();
  test_devices();
  test_bad_arguments();
  test_synthetic_ok();
  test_mute();
  test_switch_sources();
  test_consent_denied();
  expect_device_error("default", LP_NO_DEVICES_FOUND); /* no camera on a build machine */
  expect_device_error("video:no-such-camera", LP_DEVICE_NOT_FOUND);
  test_free_during_init();
  test_free_inside_callback();
  test_custom_sources();
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("all C publisher tests passed\n");
  return 0;
}
