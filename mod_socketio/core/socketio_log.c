/* Per-call-site log budgets for lines clients can repeat (see the header).
 * Counters are per child and updated with APR atomics: the races between
 * threads can let a line or two more through in an interval, never flood. */
#include "httpd.h"
#include "http_log.h"
#include "apr_atomic.h"
#include "apr_strings.h"
#include "apr_time.h"

#include "socketio_log.h"

/* See the header. */
int socketio_log_level(socketio_log_throttle *t, int level,
                       apr_uint32_t *dropped)
{
    apr_uint32_t interval = t->interval ? t->interval : 1;
    apr_uint32_t burst = t->burst ? t->burst : SOCKETIO_LOG_BURST;
    apr_uint32_t now = (apr_uint32_t)apr_time_sec(apr_time_now());

    /* the interval and its count change together: a thread that starts a
     * new interval claims its first line in the same step, so no line of
     * the old interval's count leaks into the new one */
    for (;;) {
        apr_uint64_t old = apr_atomic_read64(&t->state);
        apr_uint32_t start = (apr_uint32_t)(old >> 32);
        apr_uint32_t lines = (apr_uint32_t)old;

        if (now - start >= interval) {
            start = now;
            lines = 0;
        }
        if (lines >= burst) {
            apr_atomic_inc32(&t->dropped);
            *dropped = 0;
            return APLOG_DEBUG;
        }
        if (apr_atomic_cas64(&t->state,
                             ((apr_uint64_t)start << 32) | (lines + 1),
                             old) == old)
            break;
    }
    *dropped = apr_atomic_xchg32(&t->dropped, 0);
    return level;
}

/* See the header. */
const char *socketio_log_dropped_note(apr_pool_t *p, apr_uint32_t dropped)
{
    if (dropped == 0)
        return "";
    return apr_psprintf(p, " (%u similar lines not logged)", dropped);
}
