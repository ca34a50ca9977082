/* Throttled logging for lines a client can repeat (a refused request, a
 * body over the limit, ...): each call site has a budget of lines per
 * interval in its child; the lines over it go to debug level and are
 * counted, and the next line within budget says how many there were. */
#ifndef SOCKETIO_LOG_H
#define SOCKETIO_LOG_H

#include "apr_pools.h"

/* Lines a second a zero-initialised throttle lets through. */
#define SOCKETIO_LOG_BURST 5

/* One per call site, static (zero-initialised, or SOCKETIO_LOG_THROTTLE
 * for another budget); shared by the child's threads, updated with atomic
 * operations only. */
typedef struct socketio_log_throttle {
    apr_uint32_t interval;           /* seconds; 0: 1 */
    apr_uint32_t burst;              /* lines per interval; 0: the default */
    volatile apr_uint32_t window;    /* when the current interval began (s) */
    volatile apr_uint32_t lines;     /* lines let through in it */
    volatile apr_uint32_t dropped;   /* held back since the last one */
} socketio_log_throttle;

#define SOCKETIO_LOG_THROTTLE(interval_s, lines_per_interval) \
    { (interval_s), (lines_per_interval), 0, 0, 0 }

/* The level the caller's next line is written at: level while t's budget
 * lasts, with *dropped set to the lines t held back since the last one it
 * let through (the caller says so in the line, e.g. with
 * socketio_log_dropped_note); past the budget APLOG_DEBUG, with *dropped
 * 0, and the line is counted. Safe on any thread. */
int socketio_log_level(socketio_log_throttle *t, int level,
                       apr_uint32_t *dropped);

/* " (N similar lines not logged)" for dropped > 0, else "" (a constant);
 * allocated from p. */
const char *socketio_log_dropped_note(apr_pool_t *p, apr_uint32_t dropped);

#endif
