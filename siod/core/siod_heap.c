/* The heap's figures and its trim (see siod_heap.h). glibc only: with
 * another C library the figures are 0 and nothing is trimmed. */
#include "siod_heap.h"
#include "siod_log.h"
#include "siod_stats.h"

#include <errno.h>
#include <stddef.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#define TRIM_EVERY_S 60

static struct event *trim_timer;

/* Bytes of the heap in use and free (mallinfo2: the main arena and the
 * others, plus blocks mapped on their own, which are in use). */
static void heap_figures(size_t *used, size_t *spare)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
    struct mallinfo2 mi = mallinfo2();
    *used = mi.uordblks + mi.hblkhd;
    *spare = mi.fordblks;
#else
    *used = *spare = 0;
#endif
}

static void heap_report(siod_gauges *g)
{
    heap_figures(&g->heap_used, &g->heap_free);
}

static void trim_cb(evutil_socket_t fd, short what, void *arg)
{
    size_t used, spare;

    heap_figures(&used, &spare);
    if (spare < SIOD_HEAP_TRIM_MIN || spare < (used + spare) / 8)
        return;
#ifdef __GLIBC__
    malloc_trim(0);
    siod_log_debug("heap: %zu KB in use, %zu KB free: the free pages given "
                   "back to the system", used >> 10, spare >> 10);
#endif
}

int siod_heap_start(struct event_base *base)
{
    struct timeval tv = { TRIM_EVERY_S, 0 };

    siod_stats_add_reporter(heap_report);
    trim_timer = event_new(base, -1, EV_PERSIST, trim_cb, NULL);
    if (trim_timer == NULL)
        return -ENOMEM;
    event_add(trim_timer, &tv);
    return 0;
}

void siod_heap_stop(void)
{
    if (trim_timer != NULL)
        event_free(trim_timer);
    trim_timer = NULL;
}
