/* Acquire the synthetic camera and microphone, wait for completion, print the outcome. */
#include <libpublisher.h>
#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int done = 0, result = LP_OK;

static void on_access_denied(lp_publisher p, const lp_error *e, void *ud) {
  (void)p; (void)ud;
  fprintf(stderr, "access denied: %s\n", e->message);
}

static void on_done(lp_publisher p, const lp_error *e, void *ud) {
  (void)p; (void)ud;
  pthread_mutex_lock(&lock);
  result = e ? e->code : LP_OK;
  if (e) fprintf(stderr, "init_publisher failed: %d %s: %s\n", e->code, e->name, e->message);
  done = 1;
  pthread_cond_signal(&done_cond);
  pthread_mutex_unlock(&lock);
}

int main(void) {
  lp_publisher_settings *settings = lp_publisher_settings_new();
  lp_publisher_settings_set_video_source(settings, "synthetic");
  lp_publisher_settings_set_audio_source(settings, "synthetic");
  lp_publisher_settings_set_resolution(settings, "1280x720");
  lp_publisher_callbacks callbacks = {.on_access_denied = on_access_denied};
  lp_publisher publisher;
  int32_t rc = lp_init_publisher(settings, &callbacks, on_done, NULL, &publisher);
  lp_publisher_settings_free(settings);
  if (rc != LP_OK) {
    fprintf(stderr, "%d %s: %s\n", rc, lp_error_name(rc), lp_last_error_message());
    return 1;
  }
  pthread_mutex_lock(&lock);
  while (!done) pthread_cond_wait(&done_cond, &lock);
  pthread_mutex_unlock(&lock);
  printf("libpublisher %s: init_publisher -> %d %s\n", lp_version(), result, lp_error_name(result));
  lp_publisher_free(publisher);
  return result == LP_OK ? 0 : 1;
}
