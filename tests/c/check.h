/* What the C tests and test programs share: checks (a failed check is printed with its place
 * and counted) and a wait for the completions of asynchronous calls. */
#ifndef LP_TEST_CHECK_H
#define LP_TEST_CHECK_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "libpublisher.h"

/* Unused by the programs that only wait for completions. */
static int failures __attribute__((unused)) = 0;

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
      failures++;                                                                \
    }                                                                            \
  } while (0)

/* Checks a call's return code, printing the code's name and the library's message. */
#define CHECK_CODE(expr, code)                                                   \
  do {                                                                           \
    int32_t got_ = (expr);                                                       \
    if (got_ != (code)) {                                                        \
      fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d: %s\n", __FILE__, \
              __LINE__, #expr, got_, lp_error_name(got_), (code),                \
              lp_last_error_message());                                          \
      failures++;                                                                \
    }                                                                            \
  } while (0)

/* Completions of asynchronous calls, counted in the order they come, from any thread. */
typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t changed;
  int count;            /* completions so far */
  int32_t code;         /* the latest one's code */
  char message[512];    /* and its message ("" for success) */
} completions;

#define COMPLETIONS_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, LP_OK, ""}

/* Counts one completion with its outcome (NULL: success); call it from the on_done callback. */
static inline void completion_add(completions *c, const lp_error *e) {
  pthread_mutex_lock(&c->lock);
  c->count++;
  c->code = e ? e->code : LP_OK;
  snprintf(c->message, sizeof c->message, "%s", e ? e->message : "");
  pthread_cond_broadcast(&c->changed);
  pthread_mutex_unlock(&c->lock);
}

/* Waits until `n` completions came in all, for at most `seconds`; the code of the latest, or
 * -1 if they did not come in time. */
static inline int32_t completion_wait(completions *c, int n, int seconds) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += seconds;
  pthread_mutex_lock(&c->lock);
  while (c->count < n && pthread_cond_timedwait(&c->changed, &c->lock, &deadline) == 0) {
  }
  int32_t code = c->count >= n ? c->code : -1;
  pthread_mutex_unlock(&c->lock);
  return code;
}

#endif
