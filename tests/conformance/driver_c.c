/* Conformance driver for C. `driver_c --table` prints the error and reason tables as JSON;
 * `driver_c --scenario NAME --consent allow|deny [--set key=value]...` runs one init_publisher
 * scenario (value `null` means NULL) and prints its result as JSON; `driver_c --host` runs the
 * host-contract script. test_conformance.py calls it. */
#include "libpublisher.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t changed;
  char events[8][32];
  int event_count;
  int done;
  int code;
  char message[512];
  int allow;
} run_state;

static void add_event(run_state *r, const char *name) {
  pthread_mutex_lock(&r->lock);
  if (!r->done && r->event_count < 8) snprintf(r->events[r->event_count++], 32, "%s", name);
  pthread_mutex_unlock(&r->lock);
}
static void on_allowed(lp_publisher p, void *ud) { (void)p; add_event(ud, "accessAllowed"); }
static void on_denied(lp_publisher p, const lp_error *e, void *ud) {
  (void)p; (void)e; add_event(ud, "accessDenied");
}
static bool on_request(const lp_access_request *req, void *ud) {
  (void)req; return ((run_state *)ud)->allow;
}
static void on_done(lp_publisher p, const lp_error *e, void *ud) {
  (void)p;
  run_state *r = ud;
  pthread_mutex_lock(&r->lock);
  r->done = 1;
  r->code = e ? e->code : LP_OK;
  snprintf(r->message, sizeof r->message, "%s", e ? e->message : "");
  pthread_cond_broadcast(&r->changed);
  pthread_mutex_unlock(&r->lock);
}

static void print_json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') printf("\\%c", *s);
    else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
    else putchar(*s);
  }
  putchar('"');
}

static int apply(lp_publisher_settings *s, const char *key, const char *value) {
  const char *v = strcmp(value, "null") == 0 ? NULL : value;
  if (!strcmp(key, "videoSource")) return lp_publisher_settings_set_video_source(s, v);
  if (!strcmp(key, "audioSource")) return lp_publisher_settings_set_audio_source(s, v);
  if (!strcmp(key, "resolution")) return lp_publisher_settings_set_resolution(s, v);
  if (!strcmp(key, "frameRate")) return lp_publisher_settings_set_frame_rate(s, atoi(value));
  if (!strcmp(key, "name")) return lp_publisher_settings_set_name(s, v);
  if (!strcmp(key, "videoCodec")) return lp_publisher_settings_set_video_codec(s, v);
  if (!strcmp(key, "publishAudio")) return lp_publisher_settings_set_publish_audio(s, !strcmp(value, "true"));
  if (!strcmp(key, "publishVideo")) return lp_publisher_settings_set_publish_video(s, !strcmp(value, "true"));
  if (!strcmp(key, "initTimeoutMs")) return lp_publisher_settings_set_init_timeout_ms(s, atoi(value));
  if (!strcmp(key, "degradationPreference")) return lp_publisher_settings_set_degradation_preference(s, v);
  if (!strcmp(key, "maxVideoBitrateKbps")) return lp_publisher_settings_set_max_video_bitrate_kbps(s, atoi(value));
  if (!strcmp(key, "audioFallback")) return lp_publisher_settings_set_audio_fallback(s, !strcmp(value, "true"));
  if (!strcmp(key, "simulcast")) return lp_publisher_settings_set_simulcast(s, atoi(value));
  fprintf(stderr, "driver_c: no setter for %s\n", key);
  exit(2);
}

static void print_table(void) {
  static const int32_t codes[] = {
      LP_OK, LP_AUTHENTICATION_ERROR, LP_INVALID_SESSION_ID, LP_CONNECT_FAILED,
      LP_NOT_CONNECTED, LP_INVALID_PARAMETER, LP_ILLEGAL_STATE, LP_CONNECT_TIMEOUT,
      LP_CONNECTION_LIMIT_EXCEEDED, LP_USER_MEDIA_ACCESS_DENIED, LP_PUBLISH_TIMEOUT,
      LP_CREATE_PEER_CONNECTION_FAILED, LP_HARDWARE_UNAVAILABLE, LP_NO_DEVICES_FOUND,
      LP_DEVICE_NOT_FOUND, LP_CONSTRAINTS_NOT_SATISFIED, LP_MEDIA_SOURCE_INVALID,
      LP_STREAM_CREATE_FAILED, LP_SET_REMOTE_DESCRIPTION_FAILED, LP_INTERNAL_ERROR,
      LP_UNEXPECTED_SERVER_RESPONSE};
  static const int32_t reasons[] = {
      LP_REASON_CLIENT_DISCONNECTED, LP_REASON_FORCE_DISCONNECTED, LP_REASON_FORCE_UNPUBLISHED,
      LP_REASON_MEDIA_STOPPED, LP_REASON_NETWORK_DISCONNECTED, LP_REASON_QUALITY,
      LP_REASON_PUBLISH_VIDEO, LP_REASON_PUBLISH_AUDIO};
  printf("{\"language\":\"c\",\"version\":");
  print_json_string(lp_version());
  printf(",\"errors\":[");
  for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
    printf("%s{\"code\":%d,\"name\":", i ? "," : "", codes[i]);
    print_json_string(lp_error_name(codes[i]));
    putchar('}');
  }
  printf("],\"reasons\":[");
  for (size_t i = 0; i < sizeof reasons / sizeof *reasons; i++) {
    printf("%s{\"code\":%d,\"name\":", i ? "," : "", reasons[i]);
    print_json_string(lp_reason_name(reasons[i]));
    putchar('}');
  }
  printf("]}\n");
}

/* ----- the host-contract script (scenarios.json, "host") ----- */

static void print_outcome(int32_t code, const char *message) {
  printf("{\"code\":%d,\"name\":", code);
  print_json_string(lp_error_name(code));
  printf(",\"message\":");
  print_json_string(code == LP_OK ? "" : message);
  putchar('}');
}

/* A call refused at once returns its code, and its callback never runs. */
static void print_refused(const char *key, int32_t code) {
  printf(",\"%s\":{\"at_once\":%s,\"code\":%d,\"name\":", key, code != LP_OK ? "true" : "false", code);
  print_json_string(lp_error_name(code));
  printf(",\"message\":");
  print_json_string(code == LP_OK ? "" : lp_last_error_message());
  putchar('}');
}

static void never(lp_session s, const lp_error *e, void *ud) {
  (void)s; (void)e; (void)ud;
  fprintf(stderr, "driver_c: a refused call completed\n");
  exit(4);
}

typedef struct {
  int count;
  int32_t code;
  char message[256];
} completions;

static void record_completion(lp_session s, const lp_error *e, void *ud) {
  (void)s;
  completions *c = ud;
  c->count++;
  c->code = e ? e->code : LP_OK;
  snprintf(c->message, sizeof c->message, "%s", e ? e->message : "");
}

static void wait_done(run_state *r) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 20;
  pthread_mutex_lock(&r->lock);
  while (!r->done && pthread_cond_timedwait(&r->changed, &r->lock, &deadline) == 0) {
  }
  pthread_mutex_unlock(&r->lock);
}

static void session_done(lp_session s, const lp_error *e, void *ud) {
  (void)s;
  on_done((lp_publisher){0}, e, ud);
}

static lp_publisher synthetic(run_state *r, int allow) {
  memset(r, 0, sizeof *r);
  pthread_mutex_init(&r->lock, NULL);
  pthread_cond_init(&r->changed, NULL);
  r->allow = allow;
  lp_publisher_settings *s = lp_publisher_settings_new();
  lp_publisher_settings_set_video_source(s, "synthetic");
  lp_publisher_settings_set_audio_source(s, "synthetic");
  lp_publisher_settings_set_resolution(s, "320x240");
  lp_publisher_settings_set_access_request(s, on_request, r);
  lp_publisher p = {0};
  if (lp_init_publisher(s, NULL, on_done, r, &p) != LP_OK) exit(5);
  lp_publisher_settings_free(s);
  wait_done(r);
  return p;
}

static const char *state_name(int32_t code, int session) {
  static const char *publisher_states[] = {"initializing", "ready", "failed", "publishing", "closed"};
  static const char *session_states[] = {"disconnected", "connecting", "connected", "disconnecting", "closed"};
  if (code < 0 || code > 4) return "?";
  return session ? session_states[code] : publisher_states[code];
}

static void receiver_stats_seen(const lp_receiver_stats *stats, void *ud) { *(int *)ud = stats != NULL; }

static void never_switched(lp_publisher p, const lp_error *e, void *ud) {
  (void)p; (void)e; (void)ud;
  fprintf(stderr, "driver_c: a refused switch completed\n");
  exit(4);
}

static void never_cycled(lp_publisher p, const lp_error *e, const char *id, void *ud) {
  (void)p; (void)e; (void)id; (void)ud;
  fprintf(stderr, "driver_c: a refused cycle completed\n");
  exit(4);
}

/* A call that returns its code at once. */
static void print_attempt(const char *key, int32_t code) {
  const char *message = lp_last_error_message();
  printf(",\"%s\":", key);
  print_outcome(code, message);
}

static void png_ignored(const uint8_t *png, size_t len, void *ud) { (void)png; (void)len; (void)ud; }

/* A file no machine has: every driver switches to it. */
#define MISSING_FILE "file:/nonexistent/libpublisher-conformance.y4m"

/* Live control of a ready publisher (scenarios.json, "host"). */
static void live_control(lp_publisher p) {
  print_refused("switch_wrong_string", lp_publisher_set_video_source(p, "loudspeaker", never_switched, NULL));
  print_refused("switch_screen_as_audio", lp_publisher_set_audio_source(p, "screen", never_switched, NULL));
  run_state s;
  memset(&s, 0, sizeof s);
  pthread_mutex_init(&s.lock, NULL);
  pthread_cond_init(&s.changed, NULL);
  int32_t rc = lp_publisher_set_video_source(p, MISSING_FILE, on_done, &s);
  printf(",\"switch_missing_file\":");
  if (rc == LP_OK) {
    wait_done(&s);
    print_outcome(s.code, s.message);
  } else {
    print_outcome(rc, lp_last_error_message());
  }
  print_attempt("preferred_resolution_wrong", lp_publisher_set_preferred_resolution(p, "12"));
  print_attempt("preferred_frame_rate_0", lp_publisher_set_preferred_frame_rate(p, 0));
  printf(",\"mute_and_unmute\":[");
  for (int i = 0; i < 4; i++) {
    bool on = i >= 2;
    int32_t code = i % 2 ? lp_publisher_publish_audio(p, on) : lp_publisher_publish_video(p, on);
    if (i) putchar(',');
    print_outcome(code, lp_last_error_message());
  }
  putchar(']');
}

static int host_script(void) {
  run_state r;
  lp_publisher p = synthetic(&r, 1);
  if (r.code != LP_OK) return 6;
  lp_session session;
  if (lp_session_new("loopback://", NULL, &session) != LP_OK) return 7;
  printf("{\"host\":{\"_\":0");
  print_refused("publish_not_connected", lp_session_publish(session, p, never, NULL));
  int seen = -1;
  lp_session_get_receiver_stats(session, p, receiver_stats_seen, &seen);
  printf(",\"receiver_stats_not_published\":%s", seen ? "\"stats\"" : "null");
  run_state c;
  memset(&c, 0, sizeof c);
  pthread_mutex_init(&c.lock, NULL);
  pthread_cond_init(&c.changed, NULL);
  if (lp_session_connect(session, NULL, session_done, &c) != LP_OK) return 8;
  wait_done(&c);
  printf(",\"connect\":");
  print_outcome(c.code, c.message);
  print_refused("connect_twice", lp_session_connect(session, NULL, never, NULL));
  print_refused("unpublish_not_published", lp_session_unpublish(session, p, never, NULL));
  completions pending = {0};
  if (lp_session_publish(session, p, record_completion, &pending) != LP_OK) return 9;
  lp_session_close(session);
  printf(",\"close_with_publish_pending\":[");
  if (pending.count == 1) print_outcome(pending.code, pending.message);
  else if (pending.count > 1) printf("\"%d completions\"", pending.count);
  printf("]");
  int32_t state = -1;
  lp_session_get_state(session, &state);
  printf(",\"session_state_after_close\":\"%s\"", state_name(state, 1));
  print_refused("session_call_after_close", lp_session_connect(session, NULL, never, NULL));
  lp_session_free(session);
  live_control(p);
  lp_publisher_close(p);
  lp_publisher_get_state(p, &state);
  printf(",\"publisher_state_after_close\":\"%s\"", state_name(state, 0));
  print_refused("switch_after_close", lp_publisher_set_video_source(p, "synthetic", never_switched, NULL));
  print_refused("cycle_after_close", lp_publisher_cycle_video(p, never_cycled, NULL));
  print_attempt("mute_after_close", lp_publisher_publish_video(p, false));
  print_attempt("snapshot_after_close", lp_publisher_snapshot(p, png_ignored, NULL));
  lp_publisher_free(p);
  /* C's access-request callback returns a bool: the replies it can give. */
  printf(",\"consent\":{");
  for (int allow = 1; allow >= 0; allow--) {
    run_state a;
    lp_publisher q = synthetic(&a, allow);
    lp_publisher_free(q);
    printf("%s\"%s\":%d", allow ? "" : ",", allow ? "true" : "false", a.code);
  }
  printf("}}}\n");
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && !strcmp(argv[1], "--table")) {
    print_table();
    return 0;
  }
  if (argc == 2 && !strcmp(argv[1], "--host")) return host_script();
  run_state r;
  memset(&r, 0, sizeof r);
  pthread_mutex_init(&r.lock, NULL);
  pthread_cond_init(&r.changed, NULL);
  r.allow = 1;
  const char *scenario = "";
  lp_publisher_settings *s = lp_publisher_settings_new();
  int32_t setup_code = LP_OK;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--scenario")) scenario = argv[i + 1];
    else if (!strcmp(argv[i], "--consent")) r.allow = !strcmp(argv[i + 1], "allow");
    else if (!strcmp(argv[i], "--set") && setup_code == LP_OK) {
      char key[64];
      const char *eq = strchr(argv[i + 1], '=');
      if (!eq || eq - argv[i + 1] >= (long)sizeof key) return 2;
      snprintf(key, (size_t)(eq - argv[i + 1]) + 1, "%s", argv[i + 1]);
      setup_code = apply(s, key, eq + 1);
      if (setup_code != LP_OK) snprintf(r.message, sizeof r.message, "%s", lp_last_error_message());
    }
  }
  lp_publisher p = {0};
  if (setup_code == LP_OK) {
    lp_publisher_callbacks cbs = {0};
    cbs.on_access_allowed = on_allowed;
    cbs.on_access_denied = on_denied;
    cbs.user_data = &r;
    lp_publisher_settings_set_access_request(s, on_request, &r);
    setup_code = lp_init_publisher(s, &cbs, on_done, &r, &p);
    if (setup_code != LP_OK) snprintf(r.message, sizeof r.message, "%s", lp_last_error_message());
  }
  if (setup_code == LP_OK) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 20;
    pthread_mutex_lock(&r.lock);
    while (!r.done && pthread_cond_timedwait(&r.changed, &r.lock, &deadline) == 0) {
    }
    pthread_mutex_unlock(&r.lock);
    lp_publisher_free(p);
    if (!r.done) {
      fprintf(stderr, "driver_c: %s did not complete\n", scenario);
      return 3;
    }
  } else {
    r.code = setup_code;
  }
  lp_publisher_settings_free(s);
  printf("{\"scenario\":");
  print_json_string(scenario);
  printf(",\"code\":%d,\"name\":", r.code);
  print_json_string(lp_error_name(r.code));
  printf(",\"message\":");
  print_json_string(r.message);
  printf(",\"events\":[");
  for (int i = 0; i < r.event_count; i++) {
    printf("%s", i ? "," : "");
    print_json_string(r.events[i]);
  }
  printf("]}\n");
  return 0;
}
