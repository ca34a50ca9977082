/* siobench: the monotonic clock, fatal errors, the latency histograms
 * (log-linear, merged by the parent) and the workers' random numbers. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "siobench.h"

int64_t sb_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

void sb_die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("siobench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}


/* ---- histograms ---- */

static unsigned hist_index(uint64_t v)
{
    unsigned bits, shift, idx;

    if (v < 128)
        return (unsigned)v;
    bits = 64 - (unsigned)__builtin_clzll(v);
    shift = bits - 7;
    idx = 128 + (shift - 1) * HSUB + (unsigned)((v >> shift) - 64);
    return idx < HBUCKETS ? idx : HBUCKETS - 1;
}

/* middle of a bucket, in microseconds */
static double hist_value(unsigned idx)
{
    unsigned shift, top;

    if (idx < 128)
        return idx;
    shift = (idx - 128) / HSUB + 1;
    top = (idx - 128) % HSUB + 64;
    return ((double)top + 0.5) * (double)(1ULL << shift);
}

void sb_hist_add(uint32_t *h, uint64_t *max_us, int64_t ns)
{
    uint64_t us = ns > 0 ? (uint64_t)ns / 1000 : 0;

    h[hist_index(us)]++;
    if (us > *max_us)
        *max_us = us;
}

/* q-quantile in milliseconds; 0 for an empty histogram */
double sb_hist_quantile(const uint64_t *h, double q)
{
    uint64_t total = 0, acc = 0, want;
    unsigned i;

    for (i = 0; i < HBUCKETS; i++)
        total += h[i];
    if (total == 0)
        return 0;
    want = (uint64_t)ceil(q * (double)total);
    if (want == 0)
        want = 1;
    for (i = 0; i < HBUCKETS; i++) {
        acc += h[i];
        if (acc >= want)
            return hist_value(i) / 1000.0;
    }
    return hist_value(HBUCKETS - 1) / 1000.0;
}

uint64_t sb_rnd(struct worker *w)
{
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return w->rng * 0x2545f4914f6cdd1dULL;
}
