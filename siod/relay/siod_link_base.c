/* A relay link's lifecycle and the list of all links: the one transit()
 * of a link's states, breaking a link (it keeps why), and the reap event
 * by which the loop closes a broken link and logs why, never from inside
 * a send; shutdown's drain. Calls no other file of the link. */
#include "siod_relay.h"
#include "siod_link_int.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static siod_link *links;
static unsigned link_count;
static siod_link *reap_list;
static struct event *reap_ev;
static void (*drain_done)(void);
/* Lines a process that may connect can repeat (the module's ready links
 * log unthrottled: their lines come once per httpd child). */
static siod_log_throttle unready_close_log;
static siod_log_throttle unready_transit_log;

static const char *const state_names[] = {
    "hello", "auth", "ready", "draining", "broken"
};

/* The one place a link's state changes: logs old -> new and why at debug
 * level, throttled while the link has not proven the relay secret (any
 * process of an allowed uid can repeat those transitions; proving it
 * cannot be). */
void siod_link_transit(siod_link *l, enum siod_link_state to,
                       const char *why)
{
    if (siod_log_verbose()) {
        if ((l->state == L_HELLO || l->state == L_AUTH) && to != L_READY)
            siod_log_throttled(&unready_transit_log, SIOD_LOG_DEBUG,
                               "link %s: %s -> %s (%s)", l->name,
                               state_names[l->state], state_names[to], why);
        else
            siod_log(SIOD_LOG_DEBUG, "link %s: %s -> %s (%s)", l->name,
                     state_names[l->state], state_names[to], why);
    }
    l->state = to;
}

/* Logs why l broke, once: the line of the loop pass that closes it. */
static void link_log_closed(siod_link *l)
{
    if (l->why[0] == '\0')
        return;
    if (l->why_log != NULL)
        siod_log_throttled(l->why_log, l->why_level, "link %s closed: %s",
                           l->name, l->why);
    else
        siod_log(l->why_level, "link %s closed: %s", l->name, l->why);
    l->why[0] = '\0';
}

/* Closes and frees l (siod_link_int.h): logs why it broke, and when it
 * was the last link of a drain, says the drain is done. */
void siod_link_free(siod_link *l)
{
    link_log_closed(l);
    if (l->prev != NULL)
        l->prev->next = l->next;
    else
        links = l->next;
    if (l->next != NULL)
        l->next->prev = l->prev;
    link_count--;
    /* the peer goes first: its sessions may still try to send (they are
     * told the link is dead, so nothing reaches this link) */
    siod_peer *p = l->peer;
    l->peer = NULL;
    siod_peer_free(p);
    if (l->rev != NULL)
        event_free(l->rev);
    if (l->wev != NULL)
        event_free(l->wev);
    if (l->fev != NULL)
        event_free(l->fev);
    if (l->hs_timer != NULL)
        event_free(l->hs_timer);
    if (l->out != NULL)
        evbuffer_free(l->out);
    if (l->fd >= 0)
        close(l->fd);
    free(l->in);
    siod_link_auth_clear(&l->auth);
    free(l);
    if (drain_done != NULL && links == NULL) {
        void (*done)(void) = drain_done;
        drain_done = NULL;
        done();
    }
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    while (reap_list != NULL) {
        siod_link *l = reap_list;
        reap_list = l->reap_next;
        siod_link_free(l);
    }
}

/* Marks l broken and has the loop free it after the current callback; l
 * keeps why, which the loop logs at level through t (NULL: unthrottled)
 * as it closes l. The first reason stands. */
void siod_link_break_via(siod_link *l, siod_log_throttle *t, int level,
                         const char *why)
{
    if (l->state == L_BROKEN)
        return;
    siod_count.links_closed++;
    snprintf(l->why, sizeof l->why, "%s", why);
    l->why_level = level;
    l->why_log = t;
    siod_link_transit(l, L_BROKEN, why);
    event_del(l->rev);
    event_del(l->wev);
    if (l->fev != NULL)
        event_del(l->fev);
    if (l->hs_timer != NULL)
        event_del(l->hs_timer);
    if (!l->reap_pending) {
        l->reap_pending = 1;
        l->reap_next = reap_list;
        reap_list = l;
        event_active(reap_ev, EV_WRITE, 0);
    }
}

/* siod_link_break_via; a link that has not proven the relay secret may be
 * any process of an allowed uid, which can repeat it at will: its lines
 * are throttled. */
void siod_link_break(siod_link *l, int level, const char *why)
{
    siod_link_break_via(l, l->state == L_HELLO || l->state == L_AUTH
                               ? &unready_close_log : NULL, level, why);
}

/* The reap event, created the first time a link is adopted. */
struct event *siod_link_reaper(struct event_base *base)
{
    if (reap_ev == NULL)
        reap_ev = event_new(base, -1, 0, reap_cb, NULL);
    return reap_ev;
}

/* The gauge reporter of relay links (siod_stats.h): links that are not
 * broken, and the bytes queued to them. */
static void links_report(siod_gauges *g)
{
    for (const siod_link *l = links; l != NULL; l = l->next) {
        if (l->state == L_BROKEN)
            continue;
        g->links++;
        g->link_output_bytes += evbuffer_get_length(l->out);
    }
}

/* New links go first on the list of links. */
void siod_link_insert(siod_link *l)
{
    siod_stats_add_reporter(links_report);
    l->next = links;
    if (links != NULL)
        links->prev = l;
    links = l;
    link_count++;
}

void siod_links_drain(void (*done)(void))
{
    drain_done = done;
    for (siod_link *l = links; l != NULL; l = l->next) {
        if (l->state == L_BROKEN)
            continue;
        if (l->state == L_HELLO || l->state == L_AUTH) {
            siod_link_break(l, SIOD_LOG_INFO, "shutdown");
            continue;
        }
        siod_link_transit(l, L_DRAINING, "shutdown");
        event_del(l->rev);
        if (evbuffer_get_length(l->out) == 0)
            siod_link_break(l, SIOD_LOG_INFO, "shutdown");
    }
    if (links == NULL && drain_done != NULL) {
        drain_done = NULL;
        done();
    }
}

void siod_links_free_all(void)
{
    drain_done = NULL;
    reap_list = NULL;
    while (links != NULL)
        siod_link_free(links);
    if (reap_ev != NULL) {
        event_free(reap_ev);
        reap_ev = NULL;
    }
}

siod_link *siod_links_head(void)
{
    return links;
}

unsigned siod_links_count(void)
{
    return link_count;
}
