/* The soak driver: publishes for a long time, or publishes and unpublishes many times, and
 * prints this process's resident memory, threads and open file descriptors (from /proc/self)
 * and its heap in use (from malloc) as it goes, one JSON line per sample.
 * tests/bench/soak.py runs it and sums the samples up.
 *
 *   soak publish URL TOKEN PUBLISHERS SECONDS INTERVAL RESOLUTION FPS
 *     After one publish and unpublish, PUBLISHERS sessions with one publisher each publish
 *     synthetic video and a tone for SECONDS, sampled every INTERVAL seconds; then everything
 *     is unpublished and freed.
 *   soak cycles URL TOKEN CYCLES EVERY RESOLUTION FPS [reuse]
 *     CYCLES times: new session, connect, init publisher, publish, wait for streamCreated,
 *     unpublish, disconnect, free the session and the publisher; sampled after the first
 *     cycle (`base`) and every EVERY cycles, between two cycles, with nothing alive. With
 *     `reuse`, one publisher (initialised once, freed at the end) is published by every
 *     cycle's new session.
 *
 * Samples: {"phase": P, "t": seconds since start, "cycle": N, "rss_kb": ..., "heap_kb": ...,
 * "threads": ..., "fds": ...}, heap_kb being what malloc has handed out and not had back
 * (glibc's mallinfo2: every arena, and mmapped blocks). P is `start` (before the first library
 * call), `base` (after one publish and unpublish, everything freed, after a 2 s pause: what
 * the library keeps for the process's life, its runtime, is up), `warm` (`publish`: once every
 * publisher publishes), `run` and `end` (everything freed, after a 2 s pause).
 * Any failure prints `error WHERE CODE NAME: message` and exits 1. */
#include "libpublisher.h"

#include <dirent.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Counts of calls completed and events, from any library thread. */
typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t changed;
  int done;      /* completions */
  int32_t code;  /* the latest completion's code */
  char message[512];
  int created;   /* on_stream_created */
  int destroyed; /* on_stream_destroyed */
  int32_t last_reason;
} counter;

static void counter_init(counter *c) {
  memset(c, 0, sizeof *c);
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->changed, NULL);
}

static void counter_destroy(counter *c) {
  pthread_mutex_destroy(&c->lock);
  pthread_cond_destroy(&c->changed);
}

static void complete(counter *c, const lp_error *e) {
  pthread_mutex_lock(&c->lock);
  c->done++;
  c->code = e ? e->code : LP_OK;
  snprintf(c->message, sizeof c->message, "%s", e ? e->message : "");
  pthread_cond_broadcast(&c->changed);
  pthread_mutex_unlock(&c->lock);
}

static void on_publisher_done(lp_publisher p, const lp_error *e, void *ud) {
  (void)p;
  complete(ud, e);
}

static void on_session_done(lp_session s, const lp_error *e, void *ud) {
  (void)s;
  complete(ud, e);
}

static void on_created(lp_publisher p, const char *stream_id, void *ud) {
  (void)p, (void)stream_id;
  counter *c = ud;
  pthread_mutex_lock(&c->lock);
  c->created++;
  pthread_cond_broadcast(&c->changed);
  pthread_mutex_unlock(&c->lock);
}

static void on_destroyed(lp_publisher p, int32_t reason, const char *name, void *ud) {
  (void)p, (void)name;
  counter *c = ud;
  pthread_mutex_lock(&c->lock);
  c->destroyed++;
  c->last_reason = reason;
  pthread_cond_broadcast(&c->changed);
  pthread_mutex_unlock(&c->lock);
}

/* Waits until `*field` reaches `n`, for at most 30 s; 0 when it did. */
static int wait_count(counter *c, const int *field, int n) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 30;
  pthread_mutex_lock(&c->lock);
  while (*field < n && pthread_cond_timedwait(&c->changed, &c->lock, &deadline) == 0) {
  }
  int reached = *field >= n;
  pthread_mutex_unlock(&c->lock);
  return reached ? 0 : -1;
}

static void fail(const char *where, int32_t code, const char *message) {
  printf("error %s %d %s: %s\n", where, code, lp_error_name(code), message);
  fflush(stdout);
  exit(1);
}

/* Checks a call's immediate return code. */
static void check(const char *where, int32_t rc) {
  if (rc != LP_OK) fail(where, rc, lp_last_error_message());
}

/* Waits for the n-th completion of `c` and checks it succeeded. */
static void wait_done(const char *where, counter *c, int n) {
  if (wait_count(c, &c->done, n) != 0) fail(where, -1, "no completion within 30 s");
  if (c->code != LP_OK) fail(where, c->code, c->message);
}

static double start_time;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Prints one sample of this process's resources. */
static void sample(const char *phase, long cycle) {
  long rss_kb = -1, threads = -1, fds = -1;
  FILE *status = fopen("/proc/self/status", "r");
  if (status) {
    char line[256];
    while (fgets(line, sizeof line, status)) {
      if (strncmp(line, "VmRSS:", 6) == 0) rss_kb = strtol(line + 6, NULL, 10);
      if (strncmp(line, "Threads:", 8) == 0) threads = strtol(line + 8, NULL, 10);
    }
    fclose(status);
  }
  DIR *dir = opendir("/proc/self/fd");
  if (dir) {
    fds = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)))
      if (entry->d_name[0] != '.') fds++;
    fds--; /* the directory's own descriptor */
    closedir(dir);
  }
  /* Bytes malloc has handed out and not had back, in every arena and mmapped: what RSS
   * would be without the allocator's free lists and fragmentation. */
  struct mallinfo2 heap = mallinfo2();
  long heap_kb = (long)((heap.uordblks + heap.hblkhd) / 1024);
  printf("{\"phase\": \"%s\", \"t\": %.3f, \"cycle\": %ld, \"rss_kb\": %ld, \"heap_kb\": %ld, "
         "\"threads\": %ld, \"fds\": %ld}\n",
         phase, now() - start_time, cycle, rss_kb, heap_kb, threads, fds);
  fflush(stdout);
}

static lp_publisher new_publisher(const char *resolution, int fps, counter *c) {
  lp_publisher_settings *settings = lp_publisher_settings_new();
  check("settings", lp_publisher_settings_set_video_source(settings, "synthetic"));
  check("settings", lp_publisher_settings_set_audio_source(settings, "synthetic"));
  check("settings", lp_publisher_settings_set_resolution(settings, resolution));
  check("settings", lp_publisher_settings_set_frame_rate(settings, fps));
  lp_publisher_callbacks callbacks = {.on_stream_created = on_created,
                                      .on_stream_destroyed = on_destroyed,
                                      .user_data = c};
  lp_publisher p;
  int n = c->done;
  check("init_publisher", lp_init_publisher(settings, &callbacks, on_publisher_done, c, &p));
  lp_publisher_settings_free(settings);
  wait_done("init_publisher", c, n + 1);
  return p;
}

/* Connects a new session and publishes `p` on it, waiting for streamCreated. `pc` counts the
 * publisher's events, `sc` the session's completions. */
static lp_session publish(const char *url, const char *token, lp_publisher p, counter *pc,
                          counter *sc) {
  lp_session s;
  check("session_new", lp_session_new(url, NULL, &s));
  int n = sc->done, created = pc->created;
  check("connect", lp_session_connect(s, token, on_session_done, sc));
  wait_done("connect", sc, n + 1);
  check("publish", lp_session_publish(s, p, on_session_done, sc));
  wait_done("publish", sc, n + 2);
  if (wait_count(pc, &pc->created, created + 1) != 0)
    fail("streamCreated", -1, "no streamCreated within 30 s");
  return s;
}

/* Unpublishes `p` (checking streamDestroyed clientDisconnected), disconnects and frees `s`. */
static void unpublish(lp_session s, lp_publisher p, counter *pc, counter *sc) {
  int n = sc->done, destroyed = pc->destroyed;
  check("unpublish", lp_session_unpublish(s, p, on_session_done, sc));
  wait_done("unpublish", sc, n + 1);
  if (wait_count(pc, &pc->destroyed, destroyed + 1) != 0)
    fail("streamDestroyed", -1, "no streamDestroyed within 30 s");
  if (pc->last_reason != LP_REASON_CLIENT_DISCONNECTED)
    fail("streamDestroyed", pc->last_reason, lp_reason_name(pc->last_reason));
  check("disconnect", lp_session_disconnect(s, on_session_done, sc));
  wait_done("disconnect", sc, n + 2);
  check("session_free", lp_session_free(s));
}

static void frames_sent(const lp_publisher_stats *stats, void *ud) {
  *(uint64_t *)ud = stats->video_frames_sent;
}

static int run_publish(const char *url, const char *token, int count, double seconds,
                       double interval, const char *resolution, int fps) {
  lp_publisher *publishers = calloc((size_t)count, sizeof *publishers);
  lp_session *sessions = calloc((size_t)count, sizeof *sessions);
  counter *pcs = calloc((size_t)count, sizeof *pcs), sc;
  counter_init(&sc);
  /* One publish and unpublish first, everything freed: what the library keeps for the
   * process's life (its runtime) is up for the `base` sample. */
  counter_init(&pcs[0]);
  lp_publisher first = new_publisher(resolution, fps, &pcs[0]);
  unpublish(publish(url, token, first, &pcs[0], &sc), first, &pcs[0], &sc);
  check("publisher_free", lp_publisher_free(first));
  counter_destroy(&pcs[0]);
  sleep(2);
  sample("base", 0);
  for (int i = 0; i < count; i++) {
    counter_init(&pcs[i]);
    publishers[i] = new_publisher(resolution, fps, &pcs[i]);
    sessions[i] = publish(url, token, publishers[i], &pcs[i], &sc);
  }
  double began = now();
  sample("warm", 0);
  for (long k = 1; now() - began < seconds; k++) {
    double next = began + (double)k * interval;
    while (now() < next) usleep(100000);
    for (int i = 0; i < count; i++)
      if (pcs[i].destroyed) fail("streamDestroyed", pcs[i].last_reason, "a stream ended early");
    sample("run", 0);
  }
  for (int i = 0; i < count; i++) {
    uint64_t sent = 0;
    check("get_stats", lp_publisher_get_stats(publishers[i], frames_sent, &sent));
    printf("{\"publisher\": %d, \"video_frames_sent\": %llu}\n", i, (unsigned long long)sent);
    unpublish(sessions[i], publishers[i], &pcs[i], &sc);
    check("publisher_free", lp_publisher_free(publishers[i]));
    counter_destroy(&pcs[i]);
  }
  counter_destroy(&sc);
  free(publishers);
  free(sessions);
  free(pcs);
  return 0;
}

static int run_cycles(const char *url, const char *token, long cycles, long every,
                      const char *resolution, int fps, int reuse) {
  counter pc, sc;
  counter_init(&pc);
  counter_init(&sc);
  lp_publisher kept = {0};
  if (reuse) kept = new_publisher(resolution, fps, &pc);
  for (long i = 1; i <= cycles; i++) {
    lp_publisher p = reuse ? kept : new_publisher(resolution, fps, &pc);
    lp_session s = publish(url, token, p, &pc, &sc);
    unpublish(s, p, &pc, &sc);
    if (!reuse) check("publisher_free", lp_publisher_free(p));
    if (i == 1) {
      sleep(2);
      sample("base", i);
    }
    else if (i % every == 0 || i == cycles) sample("run", i);
  }
  if (reuse) check("publisher_free", lp_publisher_free(kept));
  counter_destroy(&pc);
  counter_destroy(&sc);
  return 0;
}

int main(int argc, char **argv) {
  start_time = now();
  int rc;
  sample("start", 0);
  if (argc == 9 && strcmp(argv[1], "publish") == 0) {
    rc = run_publish(argv[2], argv[3], atoi(argv[4]), atof(argv[5]), atof(argv[6]), argv[7],
                     atoi(argv[8]));
  } else if ((argc == 8 || argc == 9) && strcmp(argv[1], "cycles") == 0) {
    int reuse = argc == 9 && strcmp(argv[8], "reuse") == 0;
    rc = run_cycles(argv[2], argv[3], atol(argv[4]), atol(argv[5]), argv[6], atoi(argv[7]),
                    reuse);
  } else {
    fprintf(stderr,
            "usage: soak publish URL TOKEN PUBLISHERS SECONDS INTERVAL RESOLUTION FPS\n"
            "       soak cycles URL TOKEN CYCLES EVERY RESOLUTION FPS [reuse]\n");
    return 2;
  }
  sleep(2); /* lets threads that end on their own finish ending */
  sample("end", 0);
  printf("ok\n");
  return rc;
}
