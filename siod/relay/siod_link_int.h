/* The relay link's private view (relay/), shared by the link's files and
 * by nothing else: the link struct, its states and the functions one file
 * offers another. Who calls whom (never back up):
 *   siod_link.c         (handshake order, dispatch, input, adopt)
 *     -> siod_link_peers.c  (the PEERS table, to every capable link)
 *     -> siod_link_output.c (output, back-pressure, siod_peer_ops)
 *     -> siod_link_base.c   (transit(), break, reap and free; all links)
 * siod_link.c may skip to siod_link_base.c; siod_link_auth.c (the
 * handshake's checks, used by siod_link.c, cleared by siod_link_base.c)
 * calls nothing back. Single-threaded (event loop). */
#ifndef SIOD_LINK_INT_H
#define SIOD_LINK_INT_H

#include "siod_link_auth.h"
#include "core/siod_core.h"
#include "engine/siod_engine.h"
#include "sio_relay.h"

#include <event2/event.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* A link's states; only siod_link_transit() changes them. */
enum siod_link_state {
    L_HELLO,     /* waiting for the module's HELLO */
    L_AUTH,      /* HELLO and proof sent; waiting for the module's AUTH */
    L_READY,     /* exchanging frames */
    L_DRAINING,  /* shutdown: writing what is left, reading nothing */
    L_BROKEN     /* waiting for the reaper */
};

typedef struct siod_link {
    int fd;
    enum siod_link_state state;
    char name[40];
    struct event *rev;
    struct event *wev;                   /* armed only while a write
                                          * would block */
    struct event *fev;                   /* flush: made active when output
                                          * is queued, runs once the loop's
                                          * current callbacks are done */
    struct event *hs_timer;              /* HANDSHAKE_SECONDS deadline */
    struct evbuffer *out;
    unsigned char *in;
    size_t in_len, in_cap;
    siod_peer *peer;
    uid_t uid;                           /* SO_PEERCRED, for the logs */
    pid_t pid;
    siod_link_auth auth;                 /* the handshake's nonces, and
                                          * the module's HELLO */
    struct siod_link *prev, *next;       /* all links */
    struct siod_link *reap_next;
    int reap_pending;
    size_t ref_count;                    /* referenced (shared) bodies */
    int paused;                          /* input held back: output backlog */
    /* Why the link broke, logged when it is closed (link_log_closed). */
    char why[256];
    int why_level;
    siod_log_throttle *why_log;          /* its throttle, NULL: none */
} siod_link;

/* ---- siod_link_base.c: a link's lifecycle, the list of links ------------ */

/* The one place a link's state changes: logs old -> new and why at debug
 * level, throttled while the link has not proven the relay secret. */
void siod_link_transit(siod_link *l, enum siod_link_state to,
                       const char *why);

/* Marks l broken and has the loop free it after the current callback; l
 * keeps why, which the loop logs at level through t (NULL: unthrottled)
 * as it closes l. The first reason stands. */
void siod_link_break_via(siod_link *l, siod_log_throttle *t, int level,
                         const char *why);

/* siod_link_break_via, throttled while l has not proven the relay secret
 * (any process of an allowed uid can repeat those lines), else not. */
void siod_link_break(siod_link *l, int level, const char *why);

/* Returns the event that reaps broken links, created on base the first
 * time (freed by siod_links_free_all), or NULL if memory runs out. */
struct event *siod_link_reaper(struct event_base *base);

/* Puts l, a new link, on the list of links (it counts from now on). */
void siod_link_insert(siod_link *l);

/* The first of all links (follow ->next), or NULL. */
siod_link *siod_links_head(void);

/* Logs why l broke, takes it off the list of links and frees it with its
 * peer (first), events, buffers and descriptor; the last link freed while
 * siod_links_drain waits calls its done(). */
void siod_link_free(siod_link *l);

/* ---- siod_link_peers.c: the learned peers sent to the modules ----------- */

/* Sends the current PEERS table to l, just ready, if its module takes it
 * (SIO_RELAY_CAP_PEERS) and a table was set. */
void siod_link_peers_greet(siod_link *l);

/* ---- siod_link_output.c: output and back-pressure ----------------------- */

/* The link's siod_peer_ops (siod_engine.h), ctx a siod_link: send,
 * send_shared and backlog. */
extern const siod_peer_ops siod_link_peer_ops;

/* Queues a handshake frame f with body iov (siod_link_peer_ops.send serves
 * only ready links). Returns 0, or -ENOMEM / -ENOBUFS after breaking the
 * link. */
int siod_link_handshake_send(siod_link *l, const sio_relay_frame *f,
                             const struct iovec *iov);

/* The write event's work: writes l's output to fd until it is empty or fd
 * would block; a draining link whose output is written, or a failed
 * write, breaks l. A paused link whose backlog fell under a quarter of
 * --max-link-output reads again. Returns 1 when l's input so resumed (the
 * caller then parses the frames l already holds), else 0. */
int siod_link_output_write(siod_link *l, evutil_socket_t fd);

/* The flush event's work: writes l's output as the write event does, then
 * arms the write event if some is left (the socket would block). Frames
 * queued in one pass of the loop go out in one write, with no epoll
 * change when the socket takes them all. Returns as
 * siod_link_output_write. */
int siod_link_output_flush(siod_link *l);

#endif
