/* A C program as a user of the installed library writes it: publishes the synthetic camera and
 * microphone to loopback:// for a second and prints what the embedded receiver got:
 *   receiver got N video frames, M audio packets
 * Exits 0 when both are above zero. tests/packaging/test_c_install.sh builds it against an
 * installed prefix, with pkg-config and with CMake. */
#define _POSIX_C_SOURCE 200809L
#include <libpublisher.h>

#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int completed = 0;
static int32_t failed = LP_OK;

static void complete(const lp_error *e) {
  pthread_mutex_lock(&lock);
  if (e) {
    fprintf(stderr, "error %d %s: %s\n", e->code, e->name, e->message);
    failed = e->code;
  }
  completed++;
  pthread_cond_signal(&changed);
  pthread_mutex_unlock(&lock);
}

static void on_publisher(lp_publisher p, const lp_error *e, void *ud) { (void)p; (void)ud; complete(e); }
static void on_session(lp_session s, const lp_error *e, void *ud) { (void)s; (void)ud; complete(e); }

/* Waits for the n-th completion; the first failure's code, or LP_OK. */
static int32_t wait_for(int n) {
  pthread_mutex_lock(&lock);
  while (completed < n && failed == LP_OK) pthread_cond_wait(&changed, &lock);
  int32_t rc = failed;
  pthread_mutex_unlock(&lock);
  return rc;
}

static void on_received(const lp_receiver_stats *stats, void *ud) {
  if (stats) *(lp_receiver_stats *)ud = *stats;
}

static int refused(int32_t rc) {
  fprintf(stderr, "error %d %s: %s\n", rc, lp_error_name(rc), lp_last_error_message());
  return 1;
}

int main(void) {
  lp_publisher_settings *settings = lp_publisher_settings_new();
  lp_publisher_settings_set_video_source(settings, "synthetic");
  lp_publisher_settings_set_audio_source(settings, "synthetic");
  lp_publisher_settings_set_resolution(settings, "320x240");
  lp_publisher publisher;
  int32_t rc = lp_init_publisher(settings, NULL, on_publisher, NULL, &publisher);
  lp_publisher_settings_free(settings);
  if (rc != LP_OK) return refused(rc);
  if (wait_for(1) != LP_OK) return 1;

  lp_session session;
  if ((rc = lp_session_new("loopback://", NULL, &session)) != LP_OK) return refused(rc);
  if ((rc = lp_session_connect(session, NULL, on_session, NULL)) != LP_OK) return refused(rc);
  if (wait_for(2) != LP_OK) return 1;
  if ((rc = lp_session_publish(session, publisher, on_session, NULL)) != LP_OK) return refused(rc);
  if (wait_for(3) != LP_OK) return 1;
  sleep(1);

  lp_receiver_stats received = {0};
  lp_session_get_receiver_stats(session, publisher, on_received, &received);
  lp_session_free(session);
  lp_publisher_free(publisher);
  printf("libpublisher %s: receiver got %llu video frames, %llu audio packets\n", lp_version(),
         (unsigned long long)received.video_frames, (unsigned long long)received.audio_packets);
  return received.video_frames > 0 && received.audio_packets > 0 ? 0 : 1;
}
