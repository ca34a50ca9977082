/* The bottom of the Socket.IO layer: the settings and event loop it runs
 * with, and the utilities the public application API offers besides
 * Socket.IO itself: the wall clock, logging into siod's log, and timers on
 * siod's event loop (tracked so that none outlives its application at
 * exit). Calls nothing else of the layer. */
#include "siod_sio_int.h"
#include "core/siod_core.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct siod_timer {
    struct event *ev;
    void (*cb)(void *ud);
    void *ud;
    int repeat;
    int running;                     /* its callback is on the stack */
    int stopped;                     /* stopped from its own callback */
    siod_timer *prev, *next;
};

static siod_timer *timers;

static siod_engine_config layer_cfg;

const siod_engine_config *siod_sio_config(void)
{
    return &layer_cfg;
}

void siod_sio_set_config(const siod_engine_config *cfg)
{
    layer_cfg = *cfg;
}

int64_t siod_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Applications log per client too: each format string (one per call site
 * of the application, in practice) has its own budget of SIOD_LOG_BURST
 * lines a second; formats whose addresses share a slot share one. */
#define APP_LOG_SLOTS 64
static siod_log_throttle app_log_throttles[APP_LOG_SLOTS];

void siod_app_log(int level, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (level < SIOD_APP_LOG_ERROR)
        level = SIOD_APP_LOG_ERROR;
    if (level >= SIOD_APP_LOG_DEBUG) {
        siod_log_debug("app: %s", buf);
        return;
    }
    uintptr_t site = (uintptr_t)fmt;
    siod_log_throttled(&app_log_throttles[(site ^ (site >> 7)) %
                                          APP_LOG_SLOTS],
                       level, "app: %s", buf);
}

static void timer_unlink_free(siod_timer *t)
{
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        timers = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    event_free(t->ev);
    free(t);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    siod_timer *t = arg;
    t->running = 1;
    t->cb(t->ud);
    t->running = 0;
    if (!t->repeat || t->stopped)
        timer_unlink_free(t);
}

siod_timer *siod_timer_start(unsigned ms, int repeat, void (*cb)(void *ud),
                             void *ud)
{
    const siod_engine_config *cfg = siod_sio_config();
    if (cb == NULL || cfg->base == NULL)
        return NULL;
    siod_timer *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->ev = event_new(cfg->base, -1, repeat ? EV_PERSIST : 0, timer_cb, t);
    if (t->ev == NULL) {
        free(t);
        return NULL;
    }
    t->cb = cb;
    t->ud = ud;
    t->repeat = repeat;
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
    event_add(t->ev, &tv);
    t->next = timers;
    if (timers != NULL)
        timers->prev = t;
    timers = t;
    return t;
}

void siod_timer_stop(siod_timer *t)
{
    if (t == NULL)
        return;
    event_del(t->ev);
    if (t->running)
        t->stopped = 1;  /* freed when its callback returns */
    else
        timer_unlink_free(t);
}

void siod_sio_timers_stop_all(void)
{
    while (timers != NULL)
        timer_unlink_free(timers);
}
