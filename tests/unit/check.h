/* A tiny assertion helper shared by the unit tests: CHECK prints file:line
 * and the failed expression and exits nonzero; DONE prints the summary. */
#ifndef SIO_TEST_CHECK_H
#define SIO_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static unsigned long checks_run;

#define CHECK(cond)                                                       \
    do {                                                                  \
        checks_run++;                                                     \
        if (!(cond)) {                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,        \
                    __LINE__, #cond);                                     \
            exit(1);                                                      \
        }                                                                 \
    } while (0)

#define CHECK_EQ(a, b)                                                    \
    do {                                                                  \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);   \
        checks_run++;                                                     \
        if (check_a_ != check_b_) {                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", \
                    __FILE__, __LINE__, #a, #b, check_a_, check_b_);      \
            exit(1);                                                      \
        }                                                                 \
    } while (0)

#define RUN(fn)                                                           \
    do {                                                                  \
        fn();                                                             \
        cases_run++;                                                      \
    } while (0)

static unsigned cases_run;

#define DONE(name)                                                        \
    do {                                                                  \
        printf("%s: %u cases, %lu checks, all passed\n", name, cases_run, \
               checks_run);                                               \
        return 0;                                                         \
    } while (0)

#endif
