/* The checks the C tests use: a failed check is printed with its place and counted. */
#ifndef LP_TEST_CHECK_H
#define LP_TEST_CHECK_H

#include <stdio.h>

#include "libpublisher.h"

static int failures = 0;

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

#endif
