/* Throttled logging for lines a client can repeat (a refused request, a
 * body over the limit, ...): each call site has a budget of lines per
 * interval in its child; the lines over it go to debug level and are
 * counted, and the next line within budget says how many there were. */
#ifndef SOCKETIO_LOG_H
#define SOCKETIO_LOG_H

#include "httpd.h"
#include "http_log.h"
#include "apr_pools.h"

/* Lines a second a zero-initialised throttle lets through. */
#define SOCKETIO_LOG_BURST 5

/* One per call site, static (zero-initialised, or SOCKETIO_LOG_THROTTLE
 * for another budget); shared by the child's threads, updated with atomic
 * operations only. */
typedef struct socketio_log_throttle {
    apr_uint32_t interval;           /* seconds; 0: 1 */
    apr_uint32_t burst;              /* lines per interval; 0: the default */
    volatile apr_uint64_t state;     /* when the current interval began (s,
                                      * high half) and the lines let through
                                      * in it (low half): one word, so that
                                      * a new interval and its first line
                                      * are counted together */
    volatile apr_uint32_t dropped;   /* held back since the last one */
} socketio_log_throttle;

#define SOCKETIO_LOG_THROTTLE(interval_s, lines_per_interval) \
    { (interval_s), (lines_per_interval), 0, 0 }

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

/* ap_log_rerror / ap_log_cerror through a throttle of this call site's
 * own (a zero-initialised static: SOCKETIO_LOG_BURST lines a second in
 * this child), the note of the lines it held back appended: for a line a
 * client can repeat. fmt must be a string literal; r (c) is evaluated
 * twice. Safe on any thread. */
#define socketio_log_rerror_limited(level, status, r, ...) \
    socketio_log_limited_(ap_log_rerror, level, status, r, __VA_ARGS__)
#define socketio_log_cerror_limited(level, status, c, ...) \
    socketio_log_limited_(ap_log_cerror, level, status, c, __VA_ARGS__)

/* The two above; obj is the request or connection whose pool holds the
 * note. */
#define socketio_log_limited_(log, level, status, obj, fmt, ...) \
    do { \
        static socketio_log_throttle socketio_log_site_; \
        apr_uint32_t socketio_log_held_; \
        int socketio_log_at_ = socketio_log_level(&socketio_log_site_, \
                                                  (level), \
                                                  &socketio_log_held_); \
        log(APLOG_MARK, socketio_log_at_, (status), (obj), fmt "%s", \
            ##__VA_ARGS__, \
            socketio_log_dropped_note((obj)->pool, socketio_log_held_)); \
    } while (0)

#endif
