/* Publishes synthetic media from C to a session URL for a few seconds:
 *   publish URL TOKEN SECONDS [custom | mute | live SOURCE...]
 * With `mute`, video is turned off one second into publishing and on again a second later,
 * printing `video off at T` / `video on at T` (wall time of each call) and the events.
 * With `live`, the publisher starts with audio off (publish_audio false) and 640x480 video,
 * turns audio on a second into publishing (`audio on at T`), then switches the video to each
 * SOURCE in turn, a second apart, printing `switch SOURCE ok at T` or
 * `switch SOURCE failed CODE at T` (T: when the switch completed). Its consent callback refuses
 * a switch to the synthetic camera (a request for synthetic video alone): 1500.
 * With `custom`, the program pushes the media itself from a thread of its own: 320x240 RGBA
 * at 30 fps, red, green and blue for a second each in turn, and a 440 Hz tone in 10 ms pieces.
 * Each size video is sent at, as the network adaptation changes it, is printed as
 * `size OLDxOLD to NEWxNEW at T`.
 * The session's ICE settings come from the environment, when set: LP_ICE_SERVER (one URL),
 * LP_ICE_USERNAME, LP_ICE_CREDENTIAL, LP_ICE_TRANSPORT_POLICY ("all" or "relay") and
 * LP_ICE_TIMEOUT_MS. The synthetic camera's resolution is LP_RESOLUTION when set (WxH), else
 * 1280x720 (`custom` and `live` keep theirs).
 * Prints `ok` or `error CODE NAME: message`; tests/whip/test_whip_bindings.py,
 * test_whip_custom.py and tests/network check what the receiver decoded. */
#include "libpublisher.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../c/check.h"

static completions calls = COMPLETIONS_INIT;

static void on_init(lp_publisher p, const lp_error *e, void *ud) { (void)p; (void)ud; completion_add(&calls, e); }
static void on_session(lp_session s, const lp_error *e, void *ud) { (void)s; (void)ud; completion_add(&calls, e); }

static void print_event(const char *event, const char *reason) {
  printf("event %s %s\n", event, reason);
  fflush(stdout);
}

static void on_video_disabled(lp_publisher p, int32_t reason, const char *name, void *ud) {
  (void)p, (void)reason, (void)ud;
  print_event("videoDisabled", name);
}

static void on_video_enabled(lp_publisher p, int32_t reason, const char *name, void *ud) {
  (void)p, (void)reason, (void)ud;
  print_event("videoEnabled", name);
}

/* Turns video on or off and prints when; the call's code. */
static int32_t video(lp_publisher p, bool on) {
  int32_t rc = lp_publisher_publish_video(p, on);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  printf("video %s at %.3f\n", on ? "on" : "off", (double)now.tv_sec + (double)now.tv_nsec / 1e9);
  fflush(stdout);
  return rc;
}

static double wall_now(void) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* Each size video is sent at, as it changes (the network adaptation steps down and up). */
static void on_video_dimensions_changed(lp_publisher p, uint32_t old_width, uint32_t old_height,
                                        uint32_t new_width, uint32_t new_height, void *ud) {
  (void)p, (void)ud;
  printf("size %ux%u to %ux%u at %.3f\n", old_width, old_height, new_width, new_height, wall_now());
  fflush(stdout);
}

/* The `live` mode's consent: everything but a switch to the synthetic camera. */
static bool refuse_switch_to_synthetic(const lp_access_request *request, void *ud) {
  (void)ud;
  return !(request->video && !request->audio && strcmp(request->video, "synthetic") == 0);
}

/* Waits for the n-th completion; returns its code (-1: none within 30 s). */
static int32_t wait_for(int n) { return completion_wait(&calls, n, 30); }

/* The pushing thread of the `custom` mode. */
typedef struct {
  lp_publisher publisher;
  volatile int stop;
  int32_t failed; /* the first failed push's code */
  char why[256];  /* and its message */
} pusher;

static void push_failed(pusher *ps, int32_t rc) {
  ps->failed = rc;
  snprintf(ps->why, sizeof ps->why, "%s", lp_last_error_message());
}

static double seconds_since(const struct timespec *start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void *push_media(void *arg) {
  pusher *ps = arg;
  enum { W = 320, H = 240 };
  static uint8_t rgba[W * H * 4];
  static const uint8_t colors[3][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
  int16_t pcm[480];
  /* A 440 Hz tone at a quarter of full scale, by rotating a phasor (no libm needed). */
  const double c = 0.9983418166140283, s = 0.057564026959567284; /* cos, sin of 2pi*440/48000 */
  double x = 1.0, y = 0.0;
  long frames = 0, audio_ms = 0;
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  while (!ps->stop && !ps->failed) {
    double t = seconds_since(&start);
    while (audio_ms <= t * 1000 + 20) {
      for (int i = 0; i < 480; i++) {
        pcm[i] = (int16_t)(y * 8192);
        double nx = x * c - y * s;
        y = x * s + y * c;
        x = nx;
      }
      int32_t rc = lp_publisher_push_audio_frame(ps->publisher, pcm, 480, 48000, 1, 0);
      if (rc != LP_OK) push_failed(ps, rc);
      audio_ms += 10;
    }
    if (frames <= t * 30) {
      const uint8_t *color = colors[(int)t % 3];
      for (size_t i = 0; i < sizeof rgba; i += 4) {
        memcpy(rgba + i, color, 3);
        rgba[i + 3] = 255;
      }
      lp_video_frame frame = {.format = LP_VIDEO_FORMAT_RGBA, .width = W, .height = H,
                              .data = {rgba, NULL, NULL}, .stride = {W * 4, 0, 0},
                              .timestamp_us = (uint64_t)(t * 1e6)};
      int32_t rc = lp_publisher_push_video_frame(ps->publisher, &frame);
      if (rc != LP_OK) push_failed(ps, rc);
      frames++;
    }
    usleep(2000); /* paces the pushes: the loop sends what is due, then waits */
  }
  return NULL;
}

static int fail(int32_t c) {
  printf("error %d %s: %s\n", c, lp_error_name(c), calls.count ? calls.message : lp_last_error_message());
  return 1;
}

/* A call that failed at once: its message is this thread's last error. */
static int fail_now(int32_t c) {
  printf("error %d %s: %s\n", c, lp_error_name(c), lp_last_error_message());
  return 1;
}

/* Session settings from the LP_ICE_* variables; NULL settings (the defaults) without them. */
static int32_t ice_settings(lp_session_settings **out) {
  const char *server = getenv("LP_ICE_SERVER"), *policy = getenv("LP_ICE_TRANSPORT_POLICY");
  const char *timeout = getenv("LP_ICE_TIMEOUT_MS");
  *out = NULL;
  if (!server && !policy && !timeout) return LP_OK;
  lp_session_settings *settings = lp_session_settings_new();
  int32_t rc = LP_OK;
  if (server)
    rc = lp_session_settings_add_ice_server(settings, server, getenv("LP_ICE_USERNAME"),
                                            getenv("LP_ICE_CREDENTIAL"));
  if (rc == LP_OK && policy) rc = lp_session_settings_set_ice_transport_policy(settings, policy);
  if (rc == LP_OK && timeout)
    rc = lp_session_settings_set_ice_timeout_ms(settings, (int32_t)atoi(timeout));
  if (rc != LP_OK) {
    lp_session_settings_free(settings);
    return rc;
  }
  *out = settings;
  return LP_OK;
}

int main(int argc, char **argv) {
  int custom = argc == 5 && strcmp(argv[4], "custom") == 0;
  int mute = argc == 5 && strcmp(argv[4], "mute") == 0;
  int live = argc >= 5 && strcmp(argv[4], "live") == 0;
  if (argc != 4 && !custom && !mute && !live) return 2;
  lp_publisher_settings *settings = lp_publisher_settings_new();
  lp_publisher_settings_set_video_source(settings, custom ? "custom" : "synthetic");
  lp_publisher_settings_set_audio_source(settings, custom ? "custom" : "synthetic");
  const char *resolution = getenv("LP_RESOLUTION");
  if (!resolution) resolution = "1280x720";
  lp_publisher_settings_set_resolution(settings, custom ? "320x240" : live ? "640x480" : resolution);
  lp_publisher_settings_set_frame_rate(settings, 30);
  if (live) {
    lp_publisher_settings_set_publish_audio(settings, false);
    lp_publisher_settings_set_access_request(settings, refuse_switch_to_synthetic, NULL);
  }
  lp_publisher publisher;
  lp_publisher_callbacks callbacks = {.on_video_dimensions_changed = on_video_dimensions_changed};
  if (mute) {
    callbacks.on_video_disabled = on_video_disabled;
    callbacks.on_video_enabled = on_video_enabled;
  }
  int32_t rc = lp_init_publisher(settings, &callbacks, on_init, NULL, &publisher);
  lp_publisher_settings_free(settings);
  if (rc != LP_OK) return fail(rc);
  if ((rc = wait_for(1)) != LP_OK) return fail(rc);
  /* A host pushes as soon as it has the publisher, also while publish is under way. */
  pusher ps = {.publisher = publisher};
  pthread_t thread;
  if (custom && pthread_create(&thread, NULL, push_media, &ps) != 0) return 3;
  lp_session session;
  lp_session_settings *session_settings;
  if ((rc = ice_settings(&session_settings)) != LP_OK) return fail_now(rc);
  rc = lp_session_new_with_settings(argv[1], session_settings, NULL, &session);
  lp_session_settings_free(session_settings); /* copied by the session; NULL is fine */
  if (rc != LP_OK) return fail_now(rc);
  if ((rc = lp_session_connect(session, argv[2], on_session, NULL)) != LP_OK) return fail(rc);
  if ((rc = wait_for(2)) != LP_OK) return fail(rc);
  if ((rc = lp_session_publish(session, publisher, on_session, NULL)) != LP_OK) return fail(rc);
  if ((rc = wait_for(3)) != LP_OK) return fail(rc);
  if (mute) {
    sleep(1);
    if ((rc = video(publisher, false)) != LP_OK) return fail_now(rc);
    sleep(1);
    if ((rc = video(publisher, true)) != LP_OK) return fail_now(rc);
  }
  int completed = 3;
  if (live) {
    sleep(1);
    if ((rc = lp_publisher_publish_audio(publisher, true)) != LP_OK) return fail_now(rc);
    printf("audio on at %.3f\n", wall_now());
    fflush(stdout);
    for (int i = 5; i < argc; i++) {
      sleep(1);
      if ((rc = lp_publisher_set_video_source(publisher, argv[i], on_init, NULL)) != LP_OK)
        return fail_now(rc);
      rc = wait_for(++completed);
      if (rc == LP_OK)
        printf("switch %s ok at %.3f\n", argv[i], wall_now());
      else
        printf("switch %s failed %d at %.3f\n", argv[i], rc, wall_now());
      fflush(stdout);
    }
  }
  sleep((unsigned)atoi(argv[3])); /* publishes for the time asked */
  if ((rc = lp_session_unpublish(session, publisher, on_session, NULL)) != LP_OK) return fail(rc);
  if ((rc = wait_for(++completed)) != LP_OK) return fail(rc);
  if (custom) {
    ps.stop = 1;
    pthread_join(thread, NULL);
    if (ps.failed) {
      printf("error %d %s: %s\n", ps.failed, lp_error_name(ps.failed), ps.why);
      return 1;
    }
  }
  lp_session_free(session);
  lp_publisher_free(publisher);
  printf("ok\n");
  return 0;
}
