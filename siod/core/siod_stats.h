/* siod's figures for status pages and metrics (the "stats" operation of
 * the HTTP API): counters each layer bumps where the event happens, and
 * gauges each layer reports when asked, through a function it registers
 * at start (the upward call of this lowest layer). One event loop: plain
 * integers, no locks. */
#ifndef SIOD_STATS_H
#define SIOD_STATS_H

#include <stddef.h>
#include <stdint.h>

/* Counters since start. */
typedef struct siod_counters {
    uint64_t sessions_opened;        /* engine: handshakes answered */
    uint64_t sessions_closed;
    uint64_t handshakes_refused;     /* at a limit: 503, 429, 431 */
    uint64_t messages_in;            /* Engine.IO messages from clients */
    uint64_t messages_out;           /* ... to clients (per recipient) */
    uint64_t poll_overflows;         /* sessions closed: polling queue full */
    uint64_t volatile_skipped;       /* volatile packets a client could not
                                      * take at once */
    uint64_t links_opened;           /* relay links that proved the secret */
    uint64_t links_closed;           /* relay links closed (a child gone, an
                                      * error) */
    uint64_t handovers_resumed;      /* WebSockets taken back from the
                                      * previous siod (WS_RESUME) */
    uint64_t handovers_refused;      /* ... not taken back: closed, 1012 */
} siod_counters;

extern siod_counters siod_count;

/* Gauges, filled in by the registered reporters. */
typedef struct siod_gauges {
    size_t polling, upgrading, websocket;   /* open sessions by transport */
    size_t links;                           /* relay links (httpd children) */
    size_t link_output_bytes;               /* queued to them */
    int redis;                              /* -1 no cluster, 0 down, 1 up */
    uint64_t redis_lost;                    /* messages not published, since
                                             * start (a counter) */
    size_t recovery_sockets;                /* kept for recovery (in-process
                                             * store) */
    size_t recovery_bytes;                  /* the log's and the kept
                                             * sockets' bytes (the same) */
    size_t heap_used, heap_free;            /* the process heap (glibc) */
} siod_gauges;

typedef void (*siod_gauge_fn)(siod_gauges *g);

/* Adds fn to the reporters (at most 8; a layer registers once, at
 * start). Returns 0, or -ENOSPC. */
int siod_stats_add_reporter(siod_gauge_fn fn);

/* Fills *g: zero, redis -1, then every reporter in turn. */
void siod_stats_gauges(siod_gauges *g);

#endif
