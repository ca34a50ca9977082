/* The counters' storage and the gauge reporters' registry. */
#include <errno.h>
#include <string.h>

#include "siod_stats.h"

#define MAX_REPORTERS 8

siod_counters siod_count;

static siod_gauge_fn reporters[MAX_REPORTERS];
static size_t n_reporters;

int siod_stats_add_reporter(siod_gauge_fn fn)
{
    for (size_t i = 0; i < n_reporters; i++)
        if (reporters[i] == fn)
            return 0;
    if (n_reporters == MAX_REPORTERS)
        return -ENOSPC;
    reporters[n_reporters++] = fn;
    return 0;
}

void siod_stats_gauges(siod_gauges *g)
{
    memset(g, 0, sizeof(*g));
    g->redis = -1;
    for (size_t i = 0; i < n_reporters; i++)
        reporters[i](g);
}
