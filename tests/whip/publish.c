/* Publishes synthetic media from C to a session URL for a few seconds:
 *   publish URL TOKEN SECONDS
 * Prints `ok` or `error CODE NAME: message`; tests/whip/test_whip_bindings.py checks what
 * the receiver decoded. */
#include "libpublisher.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int completions = 0, code = LP_OK;
static char message[512];

static void finish(const lp_error *e) {
  pthread_mutex_lock(&lock);
  completions++;
  code = e ? e->code : LP_OK;
  if (e) snprintf(message, sizeof message, "%s", e->message);
  pthread_cond_signal(&changed);
  pthread_mutex_unlock(&lock);
}
static void on_init(lp_publisher p, const lp_error *e, void *ud) { (void)p; (void)ud; finish(e); }
static void on_session(lp_session s, const lp_error *e, void *ud) { (void)s; (void)ud; finish(e); }

/* Waits for the n-th completion; returns its code. */
static int wait_for(int n) {
  pthread_mutex_lock(&lock);
  while (completions < n) pthread_cond_wait(&changed, &lock);
  int c = code;
  pthread_mutex_unlock(&lock);
  return c;
}

static int fail(int32_t c) {
  printf("error %d %s: %s\n", c, lp_error_name(c), completions ? message : lp_last_error_message());
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 4) return 2;
  lp_publisher_settings *settings = lp_publisher_settings_new();
  lp_publisher_settings_set_video_source(settings, "synthetic");
  lp_publisher_settings_set_audio_source(settings, "synthetic");
  lp_publisher_settings_set_resolution(settings, "640x480");
  lp_publisher publisher;
  int32_t rc = lp_init_publisher(settings, NULL, on_init, NULL, &publisher);
  lp_publisher_settings_free(settings);
  if (rc != LP_OK) return fail(rc);
  if ((rc = wait_for(1)) != LP_OK) return fail(rc);
  lp_session session;
  if ((rc = lp_session_new(argv[1], NULL, &session)) != LP_OK) return fail(rc);
  if ((rc = lp_session_connect(session, argv[2], on_session, NULL)) != LP_OK) return fail(rc);
  if ((rc = wait_for(2)) != LP_OK) return fail(rc);
  if ((rc = lp_session_publish(session, publisher, on_session, NULL)) != LP_OK) return fail(rc);
  if ((rc = wait_for(3)) != LP_OK) return fail(rc);
  sleep((unsigned)atoi(argv[3]));
  if ((rc = lp_session_unpublish(session, publisher, on_session, NULL)) != LP_OK) return fail(rc);
  if ((rc = wait_for(4)) != LP_OK) return fail(rc);
  lp_session_free(session);
  lp_publisher_free(publisher);
  printf("ok\n");
  return 0;
}
