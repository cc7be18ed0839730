/* Publishes synthetic media from C and reports what happens when the connection is lost or
 * narrows:
 *   lost URL TOKEN RECONNECT_TIMEOUT_MS [VIDEO_SOURCE RESOLUTION]
 * (video `synthetic` at 320x240 unless given). Prints `PUBLISHING` once media flows, then one
 * line per event as it comes (`event sessionReconnecting`, `event streamDestroyed
 * networkDisconnected`, `event videoDisabled quality`, ...), and ends
 * after `sessionDisconnected` or `sessionReconnected` following a destroyed stream (or 60 s)
 * with `final video_frames_sent=N packets_sent=N` from the publisher's stats.
 * tests/network/test_connectivity.py kills the receiver once PUBLISHING is printed. */
#include "libpublisher.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../c/check.h"

static completions calls = COMPLETIONS_INIT;
/* The events, under their own lock. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int destroyed = 0, settled = 0;

static void finish(const lp_error *e) {
  if (e) printf("error %d %s: %s\n", e->code, e->name, e->message);
  completion_add(&calls, e);
}
static void on_init(lp_publisher p, const lp_error *e, void *ud) { (void)p; (void)ud; finish(e); }
static void on_done(lp_session s, const lp_error *e, void *ud) { (void)s; (void)ud; finish(e); }

static void event(const char *line, int destroys, int settles) {
  pthread_mutex_lock(&lock);
  printf("event %s\n", line);
  fflush(stdout);
  destroyed |= destroys;
  settled |= settles && destroyed;
  pthread_cond_signal(&changed);
  pthread_mutex_unlock(&lock);
}
static void on_destroyed(lp_publisher p, int32_t reason, const char *name, void *ud) {
  (void)p; (void)reason; (void)ud;
  char line[96];
  snprintf(line, sizeof line, "streamDestroyed %s", name);
  event(line, 1, 0);
}
static void on_warning(lp_publisher p, void *ud) { (void)p; (void)ud; event("videoDisableWarning", 0, 0); }
static void on_lifted(lp_publisher p, void *ud) { (void)p; (void)ud; event("videoDisableWarningLifted", 0, 0); }
static void on_video(const char *what, const char *reason) {
  char line[96];
  snprintf(line, sizeof line, "%s %s", what, reason);
  event(line, 0, 0);
}
static void on_video_disabled(lp_publisher p, int32_t reason, const char *name, void *ud) {
  (void)p; (void)reason; (void)ud;
  on_video("videoDisabled", name);
}
static void on_video_enabled(lp_publisher p, int32_t reason, const char *name, void *ud) {
  (void)p; (void)reason; (void)ud;
  on_video("videoEnabled", name);
}
static void on_disconnected(lp_session s, int32_t reason, const char *name, void *ud) {
  (void)s; (void)reason; (void)ud;
  char line[96];
  snprintf(line, sizeof line, "sessionDisconnected %s", name);
  event(line, 0, 1);
}
static void on_reconnecting(lp_session s, void *ud) { (void)s; (void)ud; event("sessionReconnecting", 0, 0); }
static void on_reconnected(lp_session s, void *ud) { (void)s; (void)ud; event("sessionReconnected", 0, 1); }

static int32_t wait_for(int n) { return completion_wait(&calls, n, 30); }

static void on_stats(const lp_publisher_stats *stats, void *ud) {
  (void)ud;
  printf("final video_frames_sent=%llu packets_sent=%llu\n",
         (unsigned long long)stats->video_frames_sent, (unsigned long long)stats->packets_sent);
}

int main(int argc, char **argv) {
  if (argc != 4 && argc != 6) return 2;
  lp_publisher_settings *settings = lp_publisher_settings_new();
  lp_publisher_settings_set_video_source(settings, argc == 6 ? argv[4] : "synthetic");
  lp_publisher_settings_set_audio_source(settings, "synthetic");
  lp_publisher_settings_set_resolution(settings, argc == 6 ? argv[5] : "320x240");
  lp_publisher_callbacks callbacks = {
      .on_stream_destroyed = on_destroyed,
      .on_video_disable_warning = on_warning,
      .on_video_disable_warning_lifted = on_lifted,
      .on_video_disabled = on_video_disabled,
      .on_video_enabled = on_video_enabled,
  };
  lp_publisher publisher;
  int32_t rc = lp_init_publisher(settings, &callbacks, on_init, NULL, &publisher);
  lp_publisher_settings_free(settings);
  if (rc != LP_OK || wait_for(1) != LP_OK) return 1;

  lp_session_settings *session_settings = lp_session_settings_new();
  if (lp_session_settings_set_reconnect_timeout_ms(session_settings, atoi(argv[3])) != LP_OK) {
    printf("error %s\n", lp_last_error_message());
    return 1;
  }
  lp_session_callbacks session_callbacks = {
      .on_session_disconnected = on_disconnected,
      .on_session_reconnecting = on_reconnecting,
      .on_session_reconnected = on_reconnected,
  };
  lp_session session;
  rc = lp_session_new_with_settings(argv[1], session_settings, &session_callbacks, &session);
  lp_session_settings_free(session_settings);
  if (rc != LP_OK) return 1;
  if (lp_session_connect(session, argv[2], on_done, NULL) != LP_OK || wait_for(2) != LP_OK) return 1;
  if (lp_session_publish(session, publisher, on_done, NULL) != LP_OK || wait_for(3) != LP_OK) return 1;
  printf("PUBLISHING\n");
  fflush(stdout);

  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 60;
  pthread_mutex_lock(&lock);
  while (!settled && pthread_cond_timedwait(&changed, &lock, &deadline) == 0) {
  }
  pthread_mutex_unlock(&lock);
  lp_publisher_get_stats(publisher, on_stats, NULL);
  lp_session_free(session);
  lp_publisher_free(publisher);
  return 0;
}
