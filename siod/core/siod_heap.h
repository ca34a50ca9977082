/* siod's heap: how much of it is in use and how much is free (reported
 * with the other gauges), and giving free memory back to the system. A
 * burst (a crowd connecting at once, a slow link's output) leaves freed
 * blocks inside the heap that glibc keeps mapped: without this, siod's
 * RSS stays at the burst's high-water mark. */
#ifndef SIOD_HEAP_H
#define SIOD_HEAP_H

#include <event2/event.h>

/* Reports the heap's figures with the gauges and, every minute, gives
 * back to the system what is free once that is more than
 * SIOD_HEAP_TRIM_MIN bytes and an eighth of the heap. Returns 0, or
 * -ENOMEM (nothing is trimmed; figures are still reported). */
int siod_heap_start(struct event_base *base);
void siod_heap_stop(void);

#define SIOD_HEAP_TRIM_MIN (4u << 20)

#endif
