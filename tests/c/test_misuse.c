/* The C API misused: every exported function with NULL for each pointer argument, with the
 * zero, a forged, a freed and a wrongly typed handle; double frees; a free from inside every
 * kind of callback, of the very handle the callback is for and of the other one; many threads
 * calling at once on shared and own handles. Each case must give a code, never a crash, a hang
 * or a leak: scripts/test runs this under AddressSanitizer and UBSan and under valgrind.
 * Anything live publishes to the embedded loopback:// receiver. LP_TEST_SLOW (valgrind) runs
 * fewer rounds. */
#include "libpublisher.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

/* Every checked call is one case of the matrix. */
static atomic_int cases = 0;
#define EXPECT(expr, code)   \
  do {                       \
    atomic_fetch_add(&cases, 1); \
    CHECK_CODE(expr, code);  \
  } while (0)

static int slow = 0;
static struct timespec started;

/* Seconds since the start, for the parts' timings. */
static double elapsed(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - started.tv_sec) + (now.tv_nsec - started.tv_nsec) / 1e9;
}

/* A hang is a failure too: the watchdog names the part that hung. */
static const char *volatile part = "start";
static void on_alarm(int sig) {
  (void)sig;
  static const char text[] = "test_misuse: hung in ";
  if (write(2, text, sizeof text - 1) < 0) _exit(3);
  if (write(2, part, strlen(part)) < 0) _exit(3);
  if (write(2, "\n", 1) < 0) _exit(3);
  _exit(3);
}

/* Callbacks of calls refused at once must never run. */
static atomic_int unexpected = 0;
static void never_stats(const lp_publisher_stats *s, void *ud) { (void)s; (void)ud; atomic_fetch_add(&unexpected, 1); }
static void never_snapshot(const uint8_t *png, size_t len, void *ud) { (void)png; (void)len; (void)ud; atomic_fetch_add(&unexpected, 1); }
static void never_pdone(lp_publisher p, const lp_error *e, void *ud) { (void)p; (void)e; (void)ud; atomic_fetch_add(&unexpected, 1); }
static void never_cycle(lp_publisher p, const lp_error *e, const char *id, void *ud) { (void)p; (void)e; (void)id; (void)ud; atomic_fetch_add(&unexpected, 1); }
static void never_sdone(lp_session s, const lp_error *e, void *ud) { (void)s; (void)e; (void)ud; atomic_fetch_add(&unexpected, 1); }
static void never_rstats(const lp_receiver_stats *r, void *ud) { (void)r; (void)ud; atomic_fetch_add(&unexpected, 1); }

static void count_done(lp_session s, const lp_error *e, void *ud) { (void)s; completion_add(ud, e); }
static void count_pdone(lp_publisher p, const lp_error *e, void *ud) { (void)p; completion_add(ud, e); }
static void ignore_rstats(const lp_receiver_stats *r, void *ud) { (void)r; (void)ud; }
static void ignore_stats(const lp_publisher_stats *s, void *ud) { (void)s; (void)ud; }
static void ignore_log(int32_t level, const char *target, const char *message, void *ud) {
  (void)level; (void)target; (void)message; (void)ud;
}

/* Good frames and samples, so that only the handle is wrong. */
static uint8_t y_plane[16 * 16], u_plane[8 * 8], v_plane[8 * 8];
static const lp_video_frame good_frame = {
    .format = LP_VIDEO_FORMAT_I420, .width = 16, .height = 16,
    .data = {y_plane, u_plane, v_plane}, .stride = {16, 8, 8}, .timestamp_us = 0};
static int16_t pcm[480];
static float pcm_f[480];

static lp_publisher_settings *synthetic_settings(void) {
  lp_publisher_settings *s = lp_publisher_settings_new();
  CHECK(s != NULL);
  CHECK_CODE(lp_publisher_settings_set_video_source(s, "synthetic"), LP_OK);
  CHECK_CODE(lp_publisher_settings_set_audio_source(s, "synthetic"), LP_OK);
  CHECK_CODE(lp_publisher_settings_set_resolution(s, "160x120"), LP_OK);
  CHECK_CODE(lp_publisher_settings_set_frame_rate(s, 15), LP_OK);
  return s;
}

/* A ready synthetic publisher (its init completion counted in `c`). */
static lp_publisher ready_publisher(completions *c, int *n) {
  lp_publisher_settings *s = synthetic_settings();
  lp_publisher p = {0};
  CHECK_CODE(lp_init_publisher(s, NULL, count_pdone, c, &p), LP_OK);
  lp_publisher_settings_free(s);
  CHECK_CODE(completion_wait(c, ++*n, 30), LP_OK);
  return p;
}

/* A loopback session; slowed down (valgrind, eight publishes at once), ICE and publishing
 * may take longer than their defaults. */
static int32_t new_session(lp_session *out) {
  lp_session_settings *ss = lp_session_settings_new();
  if (slow) {
    CHECK_CODE(lp_session_settings_set_ice_timeout_ms(ss, 120000), LP_OK);
    CHECK_CODE(lp_session_settings_set_publish_timeout_ms(ss, 120000), LP_OK);
  }
  int32_t rc = lp_session_new_with_settings("loopback://", ss, NULL, out);
  lp_session_settings_free(ss);
  return rc;
}

/* A connected loopback session. */
static lp_session connected_session(completions *c, int *n) {
  lp_session s = {0};
  CHECK_CODE(new_session(&s), LP_OK);
  CHECK_CODE(lp_session_connect(s, NULL, count_done, c), LP_OK);
  CHECK_CODE(completion_wait(c, ++*n, 30), LP_OK);
  return s;
}

/* ---- names, logs, devices ------------------------------------------------------------- */

static void test_stateless(void) {
  part = "stateless";
  CHECK(lp_version() != NULL && strlen(lp_version()) > 0);
  const int32_t numbers[] = {INT32_MIN, -1, 0, 1, 9, 999, 1011, 2001, 4242, INT32_MAX};
  for (size_t i = 0; i < sizeof numbers / sizeof *numbers; i++) {
    atomic_fetch_add(&cases, 2);
    CHECK(lp_error_name(numbers[i]) != NULL && strlen(lp_error_name(numbers[i])) > 0);
    CHECK(lp_reason_name(numbers[i]) != NULL && strlen(lp_reason_name(numbers[i])) > 0);
  }
  CHECK(lp_last_error_message() != NULL);
  EXPECT(lp_get_devices(NULL, NULL), LP_INVALID_PARAMETER);
  EXPECT(lp_get_devices(NULL, &cases), LP_INVALID_PARAMETER);
  EXPECT(lp_set_log_callback(-1, ignore_log, NULL), LP_INVALID_PARAMETER);
  EXPECT(lp_set_log_callback(6, ignore_log, NULL), LP_INVALID_PARAMETER);
  EXPECT(lp_set_log_callback(INT32_MIN, NULL, NULL), LP_INVALID_PARAMETER);
  EXPECT(lp_set_log_callback(LP_LOG_TRACE, NULL, NULL), LP_OK); /* NULL: logging stops */
  EXPECT(lp_set_log_callback(LP_LOG_OFF, ignore_log, NULL), LP_OK);
  EXPECT(lp_set_log_callback(LP_LOG_OFF, NULL, NULL), LP_OK);
}

/* ---- settings: NULL settings, NULL and invalid strings --------------------------------- */

static void test_settings(void) {
  part = "settings";
  const char *bad_utf8 = "\xc3\x28";
  EXPECT(lp_publisher_settings_set_video_source(NULL, "synthetic"), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_settings_set_audio_source(NULL, "synthetic"), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_settings_set_resolution(NULL, "640x480"), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_settings_set_frame_rate(NULL, 30), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_settings_set_publish_audio(NULL, true), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_settings_set_publish_video(NULL, true), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_settings_set_name(NULL, "n"), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_settings_set_video_codec(NULL, "VP8"), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_settings_set_init_timeout_ms(NULL, 1000), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_settings_set_degradation_preference(NULL, "balanced"), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_settings_set_max_video_bitrate_kbps(NULL, 0), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_settings_set_simulcast(NULL, 0), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_settings_set_audio_fallback(NULL, true), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_settings_set_access_request(NULL, NULL, NULL), LP_INVALID_PARAMETER);
  lp_publisher_settings_free(NULL);

  lp_publisher_settings *ps = lp_publisher_settings_new();
  /* NULL clears the nullable strings and is refused for the others. */
  EXPECT(lp_publisher_settings_set_video_source(ps, NULL), LP_OK);
  EXPECT(lp_publisher_settings_set_audio_source(ps, NULL), LP_OK);
  EXPECT(lp_publisher_settings_set_name(ps, NULL), LP_OK);
  EXPECT(lp_publisher_settings_set_resolution(ps, NULL), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_settings_set_video_codec(ps, NULL), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_settings_set_degradation_preference(ps, NULL), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_settings_set_access_request(ps, NULL, NULL), LP_OK);
  EXPECT(lp_publisher_settings_set_video_source(ps, bad_utf8), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_settings_set_audio_source(ps, bad_utf8), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_settings_set_name(ps, bad_utf8), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_settings_set_resolution(ps, bad_utf8), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_settings_set_video_codec(ps, bad_utf8), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_settings_set_degradation_preference(ps, bad_utf8), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_settings_set_frame_rate(ps, INT32_MIN), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_settings_set_init_timeout_ms(ps, INT32_MAX), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_settings_set_simulcast(ps, -1), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_settings_set_max_video_bitrate_kbps(ps, INT32_MIN), LP_INVALID_PARAMETER);
  lp_publisher_settings_free(ps);

  EXPECT(lp_session_settings_set_connect_timeout_ms(NULL, 1000), LP_INVALID_PARAMETER);
  EXPECT(lp_session_settings_set_publish_timeout_ms(NULL, 1000), LP_INVALID_PARAMETER);
  EXPECT(lp_session_settings_set_ice_timeout_ms(NULL, 1000), LP_INVALID_PARAMETER);
  EXPECT(lp_session_settings_set_reconnect_timeout_ms(NULL, 1000), LP_INVALID_PARAMETER);
  EXPECT(lp_session_settings_add_ice_server(NULL, "stun:127.0.0.1", NULL, NULL), LP_INVALID_PARAMETER);
  EXPECT(lp_session_settings_set_ice_transport_policy(NULL, "all"), LP_INVALID_PARAMETER);
  lp_session_settings_free(NULL);
  lp_session_settings *ss = lp_session_settings_new();
  EXPECT(lp_session_settings_add_ice_server(ss, NULL, NULL, NULL), LP_INVALID_PARAMETER);
  EXPECT(lp_session_settings_add_ice_server(ss, NULL, "u", "p"), LP_INVALID_PARAMETER);
  EXPECT(lp_session_settings_add_ice_server(ss, "turn:127.0.0.1", NULL, NULL), LP_INVALID_PARAMETER);
  EXPECT(lp_session_settings_add_ice_server(ss, "turn:127.0.0.1", "u", NULL), LP_INVALID_PARAMETER);
  EXPECT(lp_session_settings_add_ice_server(ss, "turn:127.0.0.1", NULL, "p"), LP_INVALID_PARAMETER);
  EXPECT(lp_session_settings_add_ice_server(ss, bad_utf8, NULL, NULL), LP_INVALID_PARAMETER);
  EXPECT(lp_session_settings_add_ice_server(ss, "turn:127.0.0.1", bad_utf8, "p"), LP_INVALID_PARAMETER);
  EXPECT(lp_session_settings_add_ice_server(ss, "stun:127.0.0.1", NULL, NULL), LP_OK);
  EXPECT(lp_session_settings_set_ice_transport_policy(ss, NULL), LP_INVALID_PARAMETER);
  EXPECT(lp_session_settings_set_ice_transport_policy(ss, bad_utf8), LP_INVALID_PARAMETER);
  EXPECT(lp_session_settings_set_connect_timeout_ms(ss, INT32_MIN), LP_INVALID_PARAMETER);
  EXPECT(lp_session_settings_set_publish_timeout_ms(ss, -1), LP_INVALID_PARAMETER);
  EXPECT(lp_session_settings_set_ice_timeout_ms(ss, INT32_MAX), LP_INVALID_PARAMETER);
  EXPECT(lp_session_settings_set_reconnect_timeout_ms(ss, 0), LP_INVALID_PARAMETER);
  lp_session_settings_free(ss);
}

/* ---- constructors: NULL pointers; no handle is made ------------------------------------ */

static void test_constructors(void) {
  part = "constructors";
  lp_publisher_settings *ps = synthetic_settings();
  lp_publisher p = {0};
  lp_publisher_callbacks pcb = {0};
  EXPECT(lp_init_publisher(NULL, NULL, NULL, NULL, &p), LP_INVALID_PARAMETER);
  EXPECT(lp_init_publisher(NULL, &pcb, never_pdone, NULL, &p), LP_INVALID_PARAMETER);
  EXPECT(lp_init_publisher(ps, &pcb, never_pdone, NULL, NULL), LP_INVALID_PARAMETER);
  EXPECT(lp_init_publisher(NULL, NULL, NULL, NULL, NULL), LP_INVALID_PARAMETER);
  CHECK(p.id == 0);
  /* NULL callbacks and completion are allowed: a publisher nobody hears from. */
  EXPECT(lp_init_publisher(ps, NULL, NULL, NULL, &p), LP_OK);
  CHECK(p.id != 0);
  int32_t state = -1;
  for (int i = 0; i < 300; i++) {
    CHECK_CODE(lp_publisher_get_state(p, &state), LP_OK);
    if (state != LP_PUBLISHER_INITIALIZING) break;
    usleep(20 * 1000);
  }
  CHECK(state == LP_PUBLISHER_READY);
  EXPECT(lp_publisher_free(p), LP_OK);
  lp_publisher_settings_free(ps);

  lp_session s = {0};
  lp_session_callbacks scb = {0};
  lp_session_settings *ss = lp_session_settings_new();
  EXPECT(lp_session_new(NULL, NULL, &s), LP_INVALID_PARAMETER);
  EXPECT(lp_session_new(NULL, &scb, &s), LP_INVALID_PARAMETER);
  EXPECT(lp_session_new("loopback://", &scb, NULL), LP_INVALID_PARAMETER);
  EXPECT(lp_session_new("\xc3\x28", NULL, &s), LP_INVALID_PARAMETER);
  EXPECT(lp_session_new("", NULL, &s), LP_INVALID_SESSION_ID);
  EXPECT(lp_session_new_with_settings(NULL, ss, &scb, &s), LP_INVALID_PARAMETER);
  EXPECT(lp_session_new_with_settings("loopback://", ss, &scb, NULL), LP_INVALID_PARAMETER);
  EXPECT(lp_session_new_with_settings(NULL, NULL, NULL, NULL), LP_INVALID_PARAMETER);
  CHECK(s.id == 0);
  /* NULL settings and callbacks are allowed. */
  EXPECT(lp_session_new_with_settings("loopback://", NULL, NULL, &s), LP_OK);
  EXPECT(lp_session_connect(s, NULL, NULL, NULL), LP_OK);
  for (int i = 0; i < 300; i++) {
    CHECK_CODE(lp_session_get_state(s, &state), LP_OK);
    if (state == LP_SESSION_CONNECTED) break;
    usleep(20 * 1000);
  }
  CHECK(state == LP_SESSION_CONNECTED);
  EXPECT(lp_session_free(s), LP_OK);
  lp_session_settings_free(ss);
}

/* ---- every function with a bad handle ---------------------------------------------------- */

/* Every function taking a publisher, called with `p` and otherwise good arguments (`live`: a
 * connected session for the session calls), gives `code`. */
static void publisher_calls(lp_publisher p, lp_session live, int32_t code) {
  int32_t state = 12345;
  EXPECT(lp_publisher_get_stats(p, never_stats, NULL), code);
  EXPECT(lp_publisher_publish_video(p, false), code);
  EXPECT(lp_publisher_publish_audio(p, true), code);
  EXPECT(lp_publisher_set_video_source(p, "synthetic", never_pdone, NULL), code);
  EXPECT(lp_publisher_set_audio_source(p, "synthetic", never_pdone, NULL), code);
  EXPECT(lp_publisher_cycle_video(p, never_cycle, NULL), code);
  EXPECT(lp_publisher_set_preferred_resolution(p, "160x120"), code);
  EXPECT(lp_publisher_set_preferred_frame_rate(p, 15), code);
  EXPECT(lp_publisher_snapshot(p, never_snapshot, NULL), code);
  EXPECT(lp_publisher_get_state(p, &state), code);
  CHECK(state == 12345);
  EXPECT(lp_publisher_push_video_frame(p, &good_frame), code);
  EXPECT(lp_publisher_push_audio_frame(p, pcm, 480, 48000, 1, 0), code);
  EXPECT(lp_publisher_push_audio_frame_float(p, pcm_f, 480, 48000, 1, 0), code);
  EXPECT(lp_session_publish(live, p, never_sdone, NULL), code);
  EXPECT(lp_session_unpublish(live, p, never_sdone, NULL), code);
  EXPECT(lp_session_get_receiver_stats(live, p, never_rstats, NULL), code);
  EXPECT(lp_publisher_close(p), code);
  EXPECT(lp_publisher_free(p), code);
}

/* Every function taking a session, with `s` (and `live`, a ready publisher), gives `code`. */
static void session_calls(lp_session s, lp_publisher live, int32_t code) {
  int32_t state = 12345;
  EXPECT(lp_session_connect(s, NULL, never_sdone, NULL), code);
  EXPECT(lp_session_connect(s, "token", never_sdone, NULL), code);
  EXPECT(lp_session_publish(s, live, never_sdone, NULL), code);
  EXPECT(lp_session_unpublish(s, live, never_sdone, NULL), code);
  EXPECT(lp_session_disconnect(s, never_sdone, NULL), code);
  EXPECT(lp_session_get_state(s, &state), code);
  CHECK(state == 12345);
  EXPECT(lp_session_get_receiver_stats(s, live, never_rstats, NULL), code);
  EXPECT(lp_session_close(s), code);
  EXPECT(lp_session_free(s), code);
}

static void test_bad_handles(void) {
  part = "bad handles";
  completions c = COMPLETIONS_INIT;
  int n = 0;
  lp_publisher live_p = ready_publisher(&c, &n);
  lp_session live_s = connected_session(&c, &n);

  const uint64_t forged[] = {UINT64_MAX, 1ULL << 63, 0xdeadbeefcafef00dULL,
                             ((uint64_t)rand() << 33) | (1ULL << 62) | (uint64_t)rand()};
  const lp_publisher zero_p = {0};
  const lp_session zero_s = {0};
  publisher_calls(zero_p, live_s, LP_INVALID_PARAMETER);
  session_calls(zero_s, live_p, LP_INVALID_PARAMETER);
  for (size_t i = 0; i < sizeof forged / sizeof *forged; i++) {
    publisher_calls((lp_publisher){forged[i]}, live_s, LP_ILLEGAL_STATE);
    session_calls((lp_session){forged[i]}, live_p, LP_ILLEGAL_STATE);
  }
  /* A handle of the other kind: the ids are unique across kinds, so it is unknown. */
  publisher_calls((lp_publisher){live_s.id}, live_s, LP_ILLEGAL_STATE);
  session_calls((lp_session){live_p.id}, live_p, LP_ILLEGAL_STATE);

  /* NULL pointers with good handles. */
  int32_t state;
  EXPECT(lp_publisher_get_stats(live_p, NULL, NULL), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_set_video_source(live_p, NULL, never_pdone, NULL), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_set_audio_source(live_p, NULL, never_pdone, NULL), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_set_video_source(live_p, "\xc3\x28", never_pdone, NULL), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_set_preferred_resolution(live_p, NULL), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_set_preferred_resolution(live_p, "\xc3\x28"), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_snapshot(live_p, NULL, NULL), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_get_state(live_p, NULL), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_push_video_frame(live_p, NULL), LP_INVALID_PARAMETER);
  lp_video_frame no_plane = good_frame;
  no_plane.data[0] = NULL;
  EXPECT(lp_publisher_push_video_frame(live_p, &no_plane), LP_INVALID_PARAMETER);
  no_plane = good_frame;
  no_plane.width = UINT32_MAX;
  no_plane.height = UINT32_MAX - 1;
  EXPECT(lp_publisher_push_video_frame(live_p, &no_plane), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_push_audio_frame(live_p, NULL, 480, 48000, 1, 0), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_push_audio_frame(live_p, pcm, SIZE_MAX, 48000, 2, 0), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_push_audio_frame_float(live_p, NULL, 480, 48000, 1, 0), LP_INVALID_PARAMETER);
  EXPECT(lp_publisher_push_audio_frame_float(live_p, pcm_f, SIZE_MAX / 2, 48000, 2, 0),
         LP_INVALID_PARAMETER);
  EXPECT(lp_session_connect(live_s, "\xc3\x28", never_sdone, NULL), LP_INVALID_PARAMETER);
  EXPECT(lp_session_get_state(live_s, NULL), LP_INVALID_PARAMETER);
  EXPECT(lp_session_get_receiver_stats(live_s, live_p, NULL, NULL), LP_INVALID_PARAMETER);
  /* Optional callbacks may be NULL: the call works, nothing is called. */
  EXPECT(lp_publisher_set_video_source(live_p, "synthetic", NULL, NULL), LP_OK);
  EXPECT(lp_publisher_publish_video(live_p, true), LP_OK);
  EXPECT(lp_publisher_get_state(live_p, &state), LP_OK);

  /* Freed handles: every function, and the double free, gives 1015. */
  lp_publisher freed_p = ready_publisher(&c, &n);
  EXPECT(lp_publisher_free(freed_p), LP_OK);
  publisher_calls(freed_p, live_s, LP_ILLEGAL_STATE);
  lp_session freed_s = connected_session(&c, &n);
  EXPECT(lp_session_free(freed_s), LP_OK);
  session_calls(freed_s, live_p, LP_ILLEGAL_STATE);

  /* Closed handles stay readable and refuse calls; free still works once. */
  lp_publisher closed_p = ready_publisher(&c, &n);
  EXPECT(lp_publisher_close(closed_p), LP_OK);
  EXPECT(lp_publisher_close(closed_p), LP_OK);
  EXPECT(lp_publisher_get_state(closed_p, &state), LP_OK);
  CHECK(state == LP_PUBLISHER_CLOSED);
  EXPECT(lp_session_publish(live_s, closed_p, never_sdone, NULL), LP_ILLEGAL_STATE);
  EXPECT(lp_publisher_set_video_source(closed_p, "synthetic", never_pdone, NULL), LP_ILLEGAL_STATE);
  EXPECT(lp_publisher_snapshot(closed_p, never_snapshot, NULL), LP_ILLEGAL_STATE);
  EXPECT(lp_publisher_free(closed_p), LP_OK);
  EXPECT(lp_publisher_free(closed_p), LP_ILLEGAL_STATE);
  lp_session closed_s = connected_session(&c, &n);
  EXPECT(lp_session_close(closed_s), LP_OK);
  EXPECT(lp_session_close(closed_s), LP_OK);
  EXPECT(lp_session_publish(closed_s, live_p, never_sdone, NULL), LP_NOT_CONNECTED);
  EXPECT(lp_session_disconnect(closed_s, never_sdone, NULL), LP_ILLEGAL_STATE);
  EXPECT(lp_session_free(closed_s), LP_OK);
  EXPECT(lp_session_free(closed_s), LP_ILLEGAL_STATE);

  /* Freed in every state: initializing, publishing (publisher first, or session first). */
  lp_publisher_settings *ps = synthetic_settings();
  lp_publisher initializing = {0};
  EXPECT(lp_init_publisher(ps, NULL, count_pdone, &c, &initializing), LP_OK);
  EXPECT(lp_publisher_free(initializing), LP_OK);
  n++; /* its init completed (1015 or OK) before the free returned */
  CHECK(completion_wait(&c, n, 0) != -1);
  lp_session connecting = {0};
  EXPECT(lp_session_new("loopback://", NULL, &connecting), LP_OK);
  EXPECT(lp_session_connect(connecting, NULL, count_done, &c), LP_OK);
  EXPECT(lp_session_free(connecting), LP_OK);
  n++;
  CHECK(completion_wait(&c, n, 0) != -1);
  for (int session_first = 0; session_first < 2; session_first++) {
    lp_publisher p = ready_publisher(&c, &n);
    lp_session s = connected_session(&c, &n);
    EXPECT(lp_session_publish(s, p, count_done, &c), LP_OK);
    if (session_first) { /* the publish is in flight or done */
      EXPECT(lp_session_free(s), LP_OK);
      EXPECT(lp_publisher_free(p), LP_OK);
    } else {
      struct timespec t0, t1;
      clock_gettime(CLOCK_MONOTONIC, &t0);
      EXPECT(lp_publisher_free(p), LP_OK);
      CHECK(completion_wait(&c, n + 1, 30) != -1);
      clock_gettime(CLOCK_MONOTONIC, &t1);
      /* Cut short at once, not at the publish timeout (15 s) waiting for stopped sources. */
      CHECK(t1.tv_sec - t0.tv_sec < (slow ? 20 : 3));
      EXPECT(lp_session_free(s), LP_OK);
    }
    CHECK(completion_wait(&c, ++n, 0) != -1);
  }
  lp_publisher_settings_free(ps);

  EXPECT(lp_publisher_free(live_p), LP_OK);
  EXPECT(lp_session_free(live_s), LP_OK);
  CHECK(c.count == n);
}

/* ---- a free from inside each kind of callback ---------------------------------------------- */

enum target {
  T_ACCESS_REQUEST, T_ACCESS_ALLOWED, T_ACCESS_DENIED, T_INIT_DONE, T_STATS, T_SNAPSHOT,
  T_VIDEO_DISABLED, T_VIDEO_ENABLED, T_AUDIO_DISABLED, T_AUDIO_ENABLED, T_AUDIO_LEVEL,
  T_VIDEO_SOURCE_DONE, T_AUDIO_SOURCE_DONE, T_LOG_PUBLISHER,
  /* From here on, the session part runs too. */
  T_SESSION_CONNECTED, T_CONNECT_DONE, T_PUBLISH_DONE, T_STREAM_CREATED, T_RECEIVER_STATS,
  T_UNPUBLISH_DONE, T_STREAM_DESTROYED, T_SESSION_DISCONNECTED, T_DISCONNECT_DONE, T_LOG_SESSION,
  T_COUNT
};
static const char *const target_names[T_COUNT] = {
    "access request", "on_access_allowed", "on_access_denied", "init completion",
    "stats callback", "snapshot callback", "on_video_disabled", "on_video_enabled",
    "on_audio_disabled", "on_audio_enabled", "on_audio_level_updated",
    "set_video_source completion", "set_audio_source completion", "log callback (publisher)",
    "on_session_connected", "connect completion", "publish completion", "on_stream_created",
    "receiver stats callback", "unpublish completion", "on_stream_destroyed",
    "on_session_disconnected", "disconnect completion", "log callback (session)"};

/* Whether the callback of `t` is the session's (else the publisher's). */
static int session_target(int t) {
  return t == T_SESSION_CONNECTED || t == T_CONNECT_DONE || t == T_PUBLISH_DONE ||
         t == T_RECEIVER_STATS || t == T_UNPUBLISH_DONE || t == T_SESSION_DISCONNECTED ||
         t == T_DISCONNECT_DONE || t == T_LOG_SESSION;
}

typedef struct {
  int target;
  int which; /* 0: the handle the callback is for; 1: the other one; 2: both */
  lp_publisher p;
  lp_session s;
  atomic_int fired, visited;       /* the callback started, and its frees returned */
  atomic_int p_freeing, s_freeing; /* a free of it started (calls may be refused from then on) */
  atomic_int p_code, s_code;       /* what the frees in the callback returned */
  atomic_int p_freed, s_freed;     /* a free of it returned */
  atomic_int after_free;           /* callbacks of a handle entered after its free returned */
  atomic_int created, destroyed;   /* stream events */
  atomic_int created_after_destroyed;
  completions calls;
} scene;

static void visit(scene *c, int target, int is_session) {
  if (atomic_load(is_session ? &c->s_freed : &c->p_freed)) atomic_fetch_add(&c->after_free, 1);
  if (c->target != target || atomic_exchange(&c->fired, 1)) return;
  int own_session = session_target(target);
  int free_session = c->which == 2 || (c->which == 0) == own_session;
  int free_publisher = c->which == 2 || (c->which == 0) != own_session;
  if (free_session) {
    atomic_store(&c->s_freeing, 1);
    atomic_store(&c->s_code, lp_session_free(c->s));
    atomic_store(&c->s_freed, 1);
  }
  if (free_publisher) {
    atomic_store(&c->p_freeing, 1);
    atomic_store(&c->p_code, lp_publisher_free(c->p));
    atomic_store(&c->p_freed, 1);
  }
  atomic_store(&c->visited, 1);
}

static bool sc_access(const lp_access_request *r, void *ud) {
  (void)r;
  visit(ud, T_ACCESS_REQUEST, 0);
  return ((scene *)ud)->target != T_ACCESS_DENIED;
}
static void sc_allowed(lp_publisher p, void *ud) { (void)p; visit(ud, T_ACCESS_ALLOWED, 0); }
static void sc_denied(lp_publisher p, const lp_error *e, void *ud) { (void)p; (void)e; visit(ud, T_ACCESS_DENIED, 0); }
static void sc_init_done(lp_publisher p, const lp_error *e, void *ud) {
  (void)p;
  visit(ud, T_INIT_DONE, 0);
  completion_add(&((scene *)ud)->calls, e);
}
static void sc_stats(const lp_publisher_stats *s, void *ud) { (void)s; visit(ud, T_STATS, 0); }
static void sc_snapshot(const uint8_t *png, size_t len, void *ud) { (void)png; (void)len; visit(ud, T_SNAPSHOT, 0); }
static void sc_video_disabled(lp_publisher p, int32_t r, const char *n, void *ud) { (void)p; (void)r; (void)n; visit(ud, T_VIDEO_DISABLED, 0); }
static void sc_video_enabled(lp_publisher p, int32_t r, const char *n, void *ud) { (void)p; (void)r; (void)n; visit(ud, T_VIDEO_ENABLED, 0); }
static void sc_audio_disabled(lp_publisher p, int32_t r, const char *n, void *ud) { (void)p; (void)r; (void)n; visit(ud, T_AUDIO_DISABLED, 0); }
static void sc_audio_enabled(lp_publisher p, int32_t r, const char *n, void *ud) { (void)p; (void)r; (void)n; visit(ud, T_AUDIO_ENABLED, 0); }
static void sc_level(lp_publisher p, float level, void *ud) { (void)p; (void)level; visit(ud, T_AUDIO_LEVEL, 0); }
static void sc_video_done(lp_publisher p, const lp_error *e, void *ud) {
  (void)p;
  visit(ud, T_VIDEO_SOURCE_DONE, 0);
  completion_add(&((scene *)ud)->calls, e);
}
static void sc_audio_done(lp_publisher p, const lp_error *e, void *ud) {
  (void)p;
  visit(ud, T_AUDIO_SOURCE_DONE, 0);
  completion_add(&((scene *)ud)->calls, e);
}
static void sc_created(lp_publisher p, const char *id, void *ud) {
  (void)p; (void)id;
  scene *c = ud;
  if (atomic_load(&c->destroyed) > 0) atomic_fetch_add(&c->created_after_destroyed, 1);
  atomic_fetch_add(&c->created, 1);
  visit(ud, T_STREAM_CREATED, 0);
}
static void sc_destroyed(lp_publisher p, int32_t r, const char *n, void *ud) {
  (void)p; (void)r; (void)n;
  atomic_fetch_add(&((scene *)ud)->destroyed, 1);
  visit(ud, T_STREAM_DESTROYED, 0);
}
static void sc_connected(lp_session s, void *ud) { (void)s; visit(ud, T_SESSION_CONNECTED, 1); }
static void sc_disconnected(lp_session s, int32_t r, const char *n, void *ud) { (void)s; (void)r; (void)n; visit(ud, T_SESSION_DISCONNECTED, 1); }
static void sc_sdone(scene *c, int target, const lp_error *e) {
  visit(c, target, 1);
  completion_add(&c->calls, e);
}
static void sc_connect_done(lp_session s, const lp_error *e, void *ud) { (void)s; sc_sdone(ud, T_CONNECT_DONE, e); }
static void sc_publish_done(lp_session s, const lp_error *e, void *ud) { (void)s; sc_sdone(ud, T_PUBLISH_DONE, e); }
static void sc_unpublish_done(lp_session s, const lp_error *e, void *ud) { (void)s; sc_sdone(ud, T_UNPUBLISH_DONE, e); }
static void sc_disconnect_done(lp_session s, const lp_error *e, void *ud) { (void)s; sc_sdone(ud, T_DISCONNECT_DONE, e); }
static void sc_rstats(const lp_receiver_stats *r, void *ud) { (void)r; visit(ud, T_RECEIVER_STATS, 1); }
/* Logs come from any library thread: frees at a milestone of the scene's handles. */
static void sc_log(int32_t level, const char *target, const char *message, void *ud) {
  (void)level; (void)target;
  scene *c = ud;
  if (c->target == T_LOG_PUBLISHER && strstr(message, "sources acquired")) visit(c, T_LOG_PUBLISHER, 0);
  if (c->target == T_LOG_SESSION && strncmp(message, "connected", 9) == 0) visit(c, T_LOG_SESSION, 1);
}

/* After a call: OK and its completion is awaited, or refused because a free came first. */
static void step(scene *c, int32_t rc, int *n) {
  atomic_fetch_add(&cases, 1);
  if (rc == LP_OK) {
    CHECK(completion_wait(&c->calls, ++*n, 30) != -1);
  } else if (!(rc == LP_ILLEGAL_STATE || rc == LP_NOT_CONNECTED) ||
             !(atomic_load(&c->p_freeing) || atomic_load(&c->s_freeing))) {
    fprintf(stderr, "%s (which %d): a step returned %d (%s): %s\n", target_names[c->target],
            c->which, rc, lp_error_name(rc), lp_last_error_message());
    failures++;
  }
}

static void run_scene(int target, int which) {
  part = target_names[target];
  scene c;
  memset(&c, 0, sizeof c);
  pthread_mutex_init(&c.calls.lock, NULL);
  pthread_cond_init(&c.calls.changed, NULL);
  c.target = target;
  c.which = which;
  int n = 0;
  if (target == T_LOG_PUBLISHER || target == T_LOG_SESSION)
    CHECK_CODE(lp_set_log_callback(LP_LOG_INFO, sc_log, &c), LP_OK);

  /* The session exists from the start, so that a publisher callback can free it. */
  lp_session_callbacks scb = {0};
  scb.on_session_connected = sc_connected;
  scb.on_session_disconnected = sc_disconnected;
  scb.user_data = &c;
  CHECK_CODE(lp_session_new("loopback://", &scb, &c.s), LP_OK);

  lp_publisher_settings *ps = synthetic_settings();
  CHECK_CODE(lp_publisher_settings_set_access_request(ps, sc_access, &c), LP_OK);
  lp_publisher_callbacks pcb = {0};
  pcb.on_access_allowed = sc_allowed;
  pcb.on_access_denied = sc_denied;
  pcb.on_stream_created = sc_created;
  pcb.on_stream_destroyed = sc_destroyed;
  pcb.on_audio_level_updated = sc_level;
  pcb.on_video_disabled = sc_video_disabled;
  pcb.on_video_enabled = sc_video_enabled;
  pcb.on_audio_disabled = sc_audio_disabled;
  pcb.on_audio_enabled = sc_audio_enabled;
  pcb.user_data = &c;
  step(&c, lp_init_publisher(ps, &pcb, sc_init_done, &c, &c.p), &n);
  lp_publisher_settings_free(ps);

  if (target < T_LOG_PUBLISHER && target > T_INIT_DONE) {
    atomic_fetch_add(&cases, 2);
    int32_t rc = lp_publisher_get_stats(c.p, sc_stats, &c);
    CHECK(rc == LP_OK || (rc == LP_ILLEGAL_STATE && c.p_freeing));
    rc = lp_publisher_snapshot(c.p, sc_snapshot, &c);
    CHECK(rc == LP_OK || (rc == LP_ILLEGAL_STATE && c.p_freeing));
    step(&c, lp_publisher_set_video_source(c.p, "synthetic", sc_video_done, &c), &n);
    step(&c, lp_publisher_set_audio_source(c.p, "synthetic", sc_audio_done, &c), &n);
    const int32_t toggles[] = {0, 1};
    for (int i = 0; i < 2; i++) {
      atomic_fetch_add(&cases, 2);
      rc = lp_publisher_publish_video(c.p, toggles[i]);
      CHECK(rc == LP_OK || (rc == LP_ILLEGAL_STATE && c.p_freeing));
      rc = lp_publisher_publish_audio(c.p, toggles[i]);
      CHECK(rc == LP_OK || (rc == LP_ILLEGAL_STATE && c.p_freeing));
      usleep(50 * 1000);
    }
  }
  if (target > T_LOG_PUBLISHER) {
    step(&c, lp_session_connect(c.s, NULL, sc_connect_done, &c), &n);
    step(&c, lp_session_publish(c.s, c.p, sc_publish_done, &c), &n);
    atomic_fetch_add(&cases, 1);
    int32_t rc = lp_session_get_receiver_stats(c.s, c.p, sc_rstats, &c);
    CHECK(rc == LP_OK || (rc == LP_ILLEGAL_STATE && (c.p_freeing || c.s_freeing)));
    step(&c, lp_session_unpublish(c.s, c.p, sc_unpublish_done, &c), &n);
    step(&c, lp_session_disconnect(c.s, sc_disconnect_done, &c), &n);
  }
  /* The target's callback ran (events may come a little after their call). */
  for (int i = 0; i < 1000 && !atomic_load(&c.visited); i++) usleep(10 * 1000);
  if (!atomic_load(&c.visited)) {
    fprintf(stderr, "%s (which %d): the callback never ran\n", target_names[target], which);
    failures++;
  }
  int own_session = session_target(target);
  if (which == 2 || (which == 0) == own_session) CHECK_CODE(atomic_load(&c.s_code), LP_OK);
  if (which == 2 || (which == 0) != own_session) CHECK_CODE(atomic_load(&c.p_code), LP_OK);
  /* What the callback did not free is freed here; what it freed is gone. */
  int32_t expected = atomic_load(&c.p_freed) ? LP_ILLEGAL_STATE : LP_OK;
  atomic_store(&c.p_freeing, 1);
  EXPECT(lp_publisher_free(c.p), expected);
  atomic_store(&c.p_freed, 1);
  expected = atomic_load(&c.s_freed) ? LP_ILLEGAL_STATE : LP_OK;
  atomic_store(&c.s_freeing, 1);
  EXPECT(lp_session_free(c.s), expected);
  atomic_store(&c.s_freed, 1);
  if (target == T_LOG_PUBLISHER || target == T_LOG_SESSION)
    CHECK_CODE(lp_set_log_callback(LP_LOG_OFF, NULL, NULL), LP_OK);
  usleep(50 * 1000);
  if (atomic_load(&c.after_free) != 0) {
    fprintf(stderr, "%s (which %d): %d callback(s) after a free returned\n", target_names[target],
            which, atomic_load(&c.after_free));
    failures++;
  }
  if (atomic_load(&c.created_after_destroyed) != 0) {
    fprintf(stderr, "%s (which %d): on_stream_created came after on_stream_destroyed\n",
            target_names[target], which);
    failures++;
  }
  CHECK(c.calls.count == n);
}

static void test_free_in_callbacks(void) {
  for (int t = 0; t < T_COUNT; t++) {
    /* Slowed down, each once; otherwise also the other handle, and both. */
    int variants = slow ? 1 : 3;
    for (int which = 0; which < variants; which++) run_scene(t, which);
  }
  part = "free from inside each callback";
}

/* ---- a log callback that calls the library on every record ---------------------------------- */

static lp_publisher probe_p;
static lp_session probe_s;
static atomic_int probed = 0;
static void probing_log(int32_t level, const char *target, const char *message, void *ud) {
  (void)level; (void)target; (void)message; (void)ud;
  int32_t state;
  int32_t a = lp_publisher_get_state(probe_p, &state);
  int32_t b = lp_session_get_state(probe_s, &state);
  int32_t d = lp_publisher_get_stats(probe_p, ignore_stats, NULL);
  int32_t e = lp_session_get_receiver_stats(probe_s, probe_p, ignore_rstats, NULL);
  if ((a != LP_OK && a != LP_ILLEGAL_STATE && a != LP_INVALID_PARAMETER) ||
      (b != LP_OK && b != LP_ILLEGAL_STATE && b != LP_INVALID_PARAMETER) ||
      (d != LP_OK && d != LP_ILLEGAL_STATE && d != LP_INVALID_PARAMETER) ||
      (e != LP_OK && e != LP_ILLEGAL_STATE && e != LP_INVALID_PARAMETER))
    failures++;
  atomic_fetch_add(&probed, 1);
}

static void test_log_callback_calls_back(void) {
  part = "log callback calling the library";
  completions c = COMPLETIONS_INIT;
  int n = 0;
  EXPECT(lp_set_log_callback(LP_LOG_DEBUG, probing_log, NULL), LP_OK);
  lp_publisher_settings *ps = synthetic_settings();
  EXPECT(lp_init_publisher(ps, NULL, count_pdone, &c, &probe_p), LP_OK);
  CHECK_CODE(completion_wait(&c, ++n, 30), LP_OK);
  lp_publisher_settings_free(ps);
  EXPECT(lp_session_new("loopback://", NULL, &probe_s), LP_OK);
  EXPECT(lp_session_connect(probe_s, NULL, count_done, &c), LP_OK);
  CHECK_CODE(completion_wait(&c, ++n, 30), LP_OK);
  EXPECT(lp_session_publish(probe_s, probe_p, count_done, &c), LP_OK);
  CHECK_CODE(completion_wait(&c, ++n, 30), LP_OK);
  EXPECT(lp_session_unpublish(probe_s, probe_p, count_done, &c), LP_OK);
  CHECK_CODE(completion_wait(&c, ++n, 30), LP_OK);
  EXPECT(lp_session_publish(probe_s, probe_p, count_done, &c), LP_OK);
  CHECK_CODE(completion_wait(&c, ++n, 30), LP_OK);
  EXPECT(lp_session_disconnect(probe_s, count_done, &c), LP_OK);
  CHECK_CODE(completion_wait(&c, ++n, 30), LP_OK);
  EXPECT(lp_publisher_free(probe_p), LP_OK);
  EXPECT(lp_session_free(probe_s), LP_OK);
  EXPECT(lp_set_log_callback(LP_LOG_OFF, NULL, NULL), LP_OK);
  CHECK(atomic_load(&probed) > 0);
}

/* ---- the log callback's user data, freed once logging is off ------------------------------ */

/* A slow log callback writing to its user data: once lp_set_log_callback has turned logging
 * off (or moved it elsewhere), the old callback runs no more, so the host may free what it
 * gave it. */
typedef struct {
  atomic_int entered;
  atomic_int records;
} log_box;
static void slow_log(int32_t level, const char *target, const char *message, void *ud) {
  (void)level; (void)target; (void)message;
  log_box *box = ud;
  atomic_store(&box->entered, 1);
  usleep(20 * 1000);
  atomic_fetch_add(&box->records, 1);
}

static void *free_publisher_thread(void *arg) {
  EXPECT(lp_publisher_free(*(lp_publisher *)arg), LP_OK); /* which logs on this thread */
  return NULL;
}

static void test_log_user_data_freed(void) {
  part = "log user data freed after logging is off";
  completions c = COMPLETIONS_INIT;
  int n = 0;
  for (int round = 0; round < 3; round++) {
    lp_publisher p = ready_publisher(&c, &n);
    log_box *box = calloc(1, sizeof *box);
    EXPECT(lp_set_log_callback(LP_LOG_TRACE, slow_log, box), LP_OK);
    pthread_t freeing;
    CHECK(pthread_create(&freeing, NULL, free_publisher_thread, &p) == 0);
    for (int i = 0; i < 2000 && !atomic_load(&box->entered); i++) usleep(1000);
    CHECK(atomic_load(&box->entered));
    /* The callback is running on the other thread: off (or elsewhere), then freed. */
    EXPECT(lp_set_log_callback(round == 2 ? LP_LOG_DEBUG : LP_LOG_OFF,
                               round == 1 ? NULL : ignore_log, NULL), LP_OK);
    free(box);
    pthread_join(freeing, NULL);
  }
  EXPECT(lp_set_log_callback(LP_LOG_OFF, NULL, NULL), LP_OK);
}

/* ---- many threads at once -------------------------------------------------------------------- */

enum { THREADS = 8 };
static lp_publisher shared_p;
static lp_session shared_s;
static pthread_barrier_t barrier;
static atomic_int free_ok_p = 0, free_ok_s = 0;

static int racing_code(int32_t rc) {
  return rc == LP_OK || rc == LP_ILLEGAL_STATE || rc == LP_NOT_CONNECTED;
}

static void *hammer(void *arg) {
  int id = (int)(intptr_t)arg;
  completions c;
  memset(&c, 0, sizeof c);
  pthread_mutex_init(&c.lock, NULL);
  pthread_cond_init(&c.changed, NULL);
  int n = 0, rounds = slow ? 1 : 3, calls = slow ? 2 : 20, wait = slow ? 240 : 60;
  /* Slowed down, eight connections at once miss the ICE agent's own check timers: there two
   * threads publish their own publishers (every thread still races for the shared one). */
  int own_publish = !slow || id < 2;
  pthread_barrier_wait(&barrier);
  for (int r = 0; r < rounds; r++) {
    /* Own handles: every call works. */
    lp_publisher_settings *ps = synthetic_settings();
    lp_publisher p = {0};
    EXPECT(lp_init_publisher(ps, NULL, count_pdone, &c, &p), LP_OK);
    lp_publisher_settings_free(ps);
    CHECK_CODE(completion_wait(&c, ++n, wait), LP_OK);
    lp_session s = shared_s;
    if (id % 2 == 0 && own_publish) { /* half the threads on a session of their own */
      EXPECT(new_session(&s), LP_OK);
      EXPECT(lp_session_connect(s, NULL, count_done, &c), LP_OK);
      CHECK_CODE(completion_wait(&c, ++n, wait), LP_OK);
    }
    if (own_publish) {
      EXPECT(lp_session_publish(s, p, count_done, &c), LP_OK);
      CHECK_CODE(completion_wait(&c, ++n, wait), LP_OK);
    }
    int32_t state;
    for (int i = 0; i < calls; i++) {
      atomic_fetch_add(&cases, 5);
      CHECK(lp_publisher_get_stats(p, ignore_stats, NULL) == LP_OK);
      CHECK(racing_code(lp_publisher_get_stats(shared_p, ignore_stats, NULL)));
      CHECK(lp_session_get_state(shared_s, &state) == LP_OK);
      CHECK(lp_session_get_receiver_stats(s, p, ignore_rstats, NULL) == LP_OK); /* NULL stats if not published */
      /* The shared publisher: one thread wins each publish and unpublish, the others are
       * refused; a publish that started completes. */
      int32_t rc = lp_session_publish(shared_s, shared_p, count_done, &c);
      CHECK(racing_code(rc));
      if (rc == LP_OK) CHECK(completion_wait(&c, ++n, wait) != -1);
      rc = lp_session_unpublish(shared_s, shared_p, count_done, &c);
      CHECK(racing_code(rc));
      if (rc == LP_OK) CHECK(completion_wait(&c, ++n, wait) != -1);
      if (i % 5 == id % 5)
        CHECK_CODE(lp_set_log_callback(i % 2 ? LP_LOG_DEBUG : LP_LOG_OFF, ignore_log, NULL), LP_OK);
    }
    if (own_publish) {
      EXPECT(lp_session_unpublish(s, p, count_done, &c), LP_OK);
      CHECK_CODE(completion_wait(&c, ++n, wait), LP_OK);
    }
    if (own_publish && r % 2 == 0) { /* published again, and freed published */
      EXPECT(lp_session_publish(s, p, count_done, &c), LP_OK);
      CHECK_CODE(completion_wait(&c, ++n, wait), LP_OK);
    }
    EXPECT(lp_publisher_free(p), LP_OK);
    if (s.id != shared_s.id) EXPECT(lp_session_free(s), LP_OK);
  }
  /* All at once: freeing the shared handles; one free of each works. */
  pthread_barrier_wait(&barrier);
  int32_t rc = lp_publisher_free(shared_p);
  CHECK(rc == LP_OK || rc == LP_ILLEGAL_STATE);
  if (rc == LP_OK) atomic_fetch_add(&free_ok_p, 1);
  rc = lp_session_free(shared_s);
  CHECK(rc == LP_OK || rc == LP_ILLEGAL_STATE);
  if (rc == LP_OK) atomic_fetch_add(&free_ok_s, 1);
  atomic_fetch_add(&cases, 2);
  CHECK(c.count == n);
  pthread_mutex_destroy(&c.lock);
  pthread_cond_destroy(&c.changed);
  return NULL;
}

static void test_threads(void) {
  part = "threads";
  completions c = COMPLETIONS_INIT;
  int n = 0;
  shared_p = ready_publisher(&c, &n);
  shared_s = connected_session(&c, &n);
  pthread_barrier_init(&barrier, NULL, THREADS);
  pthread_t threads[THREADS];
  for (int i = 0; i < THREADS; i++)
    CHECK(pthread_create(&threads[i], NULL, hammer, (void *)(intptr_t)i) == 0);
  for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
  pthread_barrier_destroy(&barrier);
  CHECK(atomic_load(&free_ok_p) == 1);
  CHECK(atomic_load(&free_ok_s) == 1);
  CHECK_CODE(lp_set_log_callback(LP_LOG_OFF, NULL, NULL), LP_OK);
  /* The shared publisher's publishes completed before its free returned. */
  CHECK(c.count == n);
}

int main(void) {
  slow = getenv("LP_TEST_SLOW") != NULL;
  signal(SIGALRM, on_alarm);
  alarm(slow ? 1500 : 240);
  srand((unsigned)time(NULL));
  clock_gettime(CLOCK_MONOTONIC, &started);
  void (*const parts[])(void) = {
      test_stateless, test_settings, test_constructors, test_bad_handles,
      test_free_in_callbacks, test_log_callback_calls_back, test_log_user_data_freed,
      test_threads};
  for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
    double before = elapsed();
    parts[i]();
    fprintf(stderr, "  %-45s %5.1f s\n", part, elapsed() - before);
  }
  part = "end";
  CHECK(atomic_load(&unexpected) == 0);
  fprintf(stderr, "%d misuse cases in %.1f s\n", atomic_load(&cases), elapsed());
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("all C misuse tests passed\n");
  return 0;
}
