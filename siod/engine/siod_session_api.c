/* The session layer's API for the layer above (siod_engine.h): sends to
 * one session, the multi-send that fans one broadcast out to many (as
 * WS_FANOUT frames, one per relay link, built by shared/sio_relay.c, where
 * a link takes them), writability, close and the accessors. Calls down
 * into siod_session.c, siod_poll.c and siod_peer.c; called by the upper
 * layer and by siod_session_relay.c (siod_session_info). */
#include "core/siod_core.h"
#include "siod_engine_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A WebSocket session counts as writable (for volatile packets) while its
 * relay link has less than this pending. */
#define WS_WRITABLE_MAX (256u * 1024u)

static uint64_t fan_gen;             /* multi-sends so far */

/* ---- multi-send: one broadcast, many sessions -------------------------- */

/* One relay link's share of a multi-send: the conns of its WebSocket
 * sessions, which get every packet in WS_FANOUT frames. */
struct fan_group {
    siod_peer *peer;
    size_t count;                    /* sessions */
    size_t fill;
    uint64_t *conns;                 /* count conns, then room for one
                                      * frame's body prefix (wire) */
    unsigned char *wire;
    int failed;                      /* a frame could not be queued */
};

/* A WS_FANOUT body around the message: u32 count and at least one conn. */
#define FAN_MIN_OVERHEAD \
    (SIO_RELAY_FANOUT_COUNT_LEN + SIO_RELAY_FANOUT_CONN_LEN)
/* Per-session modes of a multi-send besides a group index. */
#define FAN_SINGLE ((size_t)-1)      /* its own sends, as one recipient */
#define FAN_SKIP ((size_t)-2)        /* closed, or volatile and not writable */

/* May s's packets go out in its link's WS_FANOUT frames? Only a session
 * settled on a WebSocket with nothing of its own queued: one that is
 * upgrading keeps its queue in order through the per-session path. An
 * Engine.IO 3 session takes that path too for a broadcast with binary
 * messages (any_binary), which it gets with a type byte before them (the
 * same shared buffers, a prefix of its own). */
static int fan_eligible(const siod_session *s, size_t max_msg,
                        int any_binary)
{
    const siod_peer *p;

    if (s->state != ST_WEBSOCKET || s->ws == NULL || s->q_head != NULL ||
        (any_binary && s->eio3))
        return 0;
    p = s->ws->peer;
    return !p->dead && (p->caps & SIO_RELAY_CAP_FANOUT) &&
           max_msg <= p->max_body && p->max_body - max_msg >= FAN_MIN_OVERHEAD;
}

/* Queues every message of msgs on g's link as WS_FANOUT frames naming g's
 * conns: one frame per message, more only where the module's frame limit
 * asks for it. fan_eligible has checked that each message fits with one
 * conn. Returns 0, -EPIPE if the link is dead, -EMSGSIZE if a frame
 * cannot be encoded, or the code of the send_shared op that refused a
 * frame. */
static int fan_send(const struct fan_group *g, const siod_shared_msg *msgs,
                    size_t nmsg, int volatile_)
{
    siod_peer *p = g->peer;

    for (size_t m = 0; m < nmsg; m++) {
        int binary = msgs[m].binary != 0;
        size_t mlen = siod_ws_body_len(msgs[m].buf, binary);
        size_t per = (p->max_body - mlen - SIO_RELAY_FANOUT_COUNT_LEN) /
                     SIO_RELAY_FANOUT_CONN_LEN;

        for (size_t i = 0; i < g->count; i += per) {
            size_t k = g->count - i < per ? g->count - i : per;
            sio_relay_frame f;
            struct iovec pre;

            int rc;

            if (p->dead)
                return -EPIPE;
            /* the link copies the prefix: wire is free again after */
            pre.iov_base = g->wire;
            pre.iov_len = sio_relay_fanout_encode(
                &f, g->wire, g->conns + i, k, mlen,
                (binary ? SIO_RF_BINARY : 0) |
                    (volatile_ ? SIO_RF_VOLATILE : 0));
            if (pre.iov_len == 0)
                return -EMSGSIZE;
            rc = p->ops->send_shared(p->ctx, &f, &pre, 1, msgs[m].buf,
                                     siod_ws_body_off(binary));
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* The per-session path: msgs to s alone, checked for volatility now.
 * Returns 0 if s was sent (or queued) every message, -EAGAIN if they were
 * volatile and s not writable, or siod_session_send_packet's code (-EPIPE
 * for a session closed already). */
static int send_one(siod_session *s, const siod_shared_msg *msgs, size_t nmsg,
                    int volatile_)
{
    if (s->state == ST_CLOSED)
        return -EPIPE;
    if (volatile_ && !siod_session_writable(s)) {
        siod_log_debug("session %s: volatile packet dropped", s->sid);
        siod_count.volatile_skipped++;
        return -EAGAIN;
    }
    for (size_t m = 0; m < nmsg; m++) {
        siod_buf *b = msgs[m].buf;
        /* a failed send closes s: the rest is not sent */
        int rc = siod_session_send_packet(s, SIO_EIO_MESSAGE,
                                          msgs[m].binary ? 1 : 0,
                                          siod_buf_data(b), b->len, b,
                                          volatile_);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Sorts v's sessions into modes (a group per FANOUT link, FAN_SINGLE,
 * FAN_SKIP) and fills each group's conns. Runs no callback and sends
 * nothing, so the per-peer marks it uses cannot be disturbed. Returns the
 * number of groups (*groups malloc'd, each conns malloc'd or NULL when
 * memory ran out: its sessions then take the per-session path). */
static size_t fan_sort(siod_session *const *v, size_t n, size_t *mode,
                       size_t max_msg, int any_binary, int volatile_,
                       struct fan_group **groups, size_t *singles)
{
    uint64_t gen = ++fan_gen;
    struct fan_group *g = NULL;
    size_t ng = 0, cap = 0, ns = 0;

    for (size_t i = 0; i < n; i++) {
        siod_session *s = v[i];
        siod_peer *p;

        if (s->state == ST_CLOSED) {
            mode[i] = FAN_SKIP;
            continue;
        }
        if (!fan_eligible(s, max_msg, any_binary)) {
            mode[i] = FAN_SINGLE;
            ns++;
            continue;
        }
        if (volatile_ && !siod_session_writable(s)) {
            siod_log_debug("session %s: volatile packet dropped", s->sid);
            siod_count.volatile_skipped++;
            mode[i] = FAN_SKIP;
            continue;
        }
        p = s->ws->peer;
        if (p->fan_gen != gen) {
            if (ng == cap) {
                size_t nc = cap ? cap * 2 : 4;
                struct fan_group *ngv = realloc(g, nc * sizeof *ngv);
                if (ngv == NULL) {
                    mode[i] = FAN_SINGLE;
                    ns++;
                    continue;
                }
                g = ngv;
                cap = nc;
            }
            p->fan_gen = gen;
            p->fan_idx = ng;
            g[ng++] = (struct fan_group){ p, 0, 0, NULL, NULL, 0 };
        }
        g[p->fan_idx].count++;
        mode[i] = p->fan_idx;
    }
    for (size_t k = 0; k < ng; k++) {
        g[k].conns = malloc(g[k].count * sizeof *g[k].conns +
                            sio_relay_fanout_prefix_len(g[k].count));
        if (g[k].conns != NULL)
            g[k].wire = (unsigned char *)(g[k].conns + g[k].count);
    }
    for (size_t i = 0; i < n; i++) {
        if (mode[i] >= ng)
            continue;
        struct fan_group *gi = &g[mode[i]];
        if (gi->conns == NULL) {
            mode[i] = FAN_SINGLE;
            ns++;
        } else {
            gi->conns[gi->fill++] = v[i]->ws->conn;
        }
    }
    *groups = g;
    *singles = ns;
    return ng;
}

/* ---- upper-layer API (siod_engine.h) ----------------------------------- */

int siod_session_send_message(siod_session *s, const void *data, size_t len,
                              int binary)
{
    return siod_session_send_packet(s, SIO_EIO_MESSAGE, binary ? 1 : 0,
                                    data, len, NULL, 0);
}

int siod_session_send_shared(siod_session *s, siod_buf *b, int binary)
{
    return siod_session_send_packet(s, SIO_EIO_MESSAGE, binary ? 1 : 0,
                                    siod_buf_data(b), b->len, b, 0);
}

int siod_session_send_shared_ex(siod_session *s, siod_buf *b, int binary,
                                unsigned flags)
{
    return siod_session_send_packet(s, SIO_EIO_MESSAGE, binary ? 1 : 0,
                                    siod_buf_data(b), b->len, b,
                                    (flags & SIOD_SEND_VOLATILE) != 0);
}

size_t siod_session_send_multi(siod_session *const *v, size_t n,
                               const siod_shared_msg *msgs, size_t nmsg,
                               unsigned flags)
{
    int volatile_ = (flags & SIOD_SEND_VOLATILE) != 0;
    struct fan_group *groups = NULL;
    size_t ng = 0, sent = 0, max_msg = 0, singles = n;
    size_t *mode = NULL;
    int failed = 0, any_binary = 0;

    if (n == 0 || nmsg == 0)
        return 0;
    for (size_t m = 0; m < nmsg; m++) {
        size_t len = siod_ws_body_len(msgs[m].buf, msgs[m].binary != 0);
        if (len > max_msg)
            max_msg = len;
        any_binary |= msgs[m].binary != 0;
    }
    /* with no link taking WS_FANOUT, or no memory to sort them, every
     * session takes its own path */
    if (siod_peers_fanout_count() > 0 &&
        (mode = malloc(n * sizeof *mode)) != NULL)
        ng = fan_sort(v, n, mode, max_msg, any_binary, volatile_, &groups,
                      &singles);
    /* the FANOUT frames first: queueing them runs no callback */
    for (size_t k = 0; k < ng; k++) {
        if (groups[k].conns == NULL)
            continue;
        groups[k].failed = fan_send(&groups[k], msgs, nmsg, volatile_) < 0;
        if (groups[k].failed)
            failed = 1;
        else {
            sent += groups[k].count;
            siod_count.messages_out += groups[k].count * nmsg;
        }
    }
    /* then the per-session sends, which may close sessions (their
     * on_close runs later, from the loop) */
    for (size_t i = 0; (singles > 0 || failed) && i < n; i++) {
        size_t m = mode != NULL ? mode[i] : FAN_SINGLE;
        if (m == FAN_SINGLE) {
            if (send_one(v[i], msgs, nmsg, volatile_) == 0)
                sent++;
        } else if (m < ng && groups[m].failed) {
            siod_session_close_ex(v[i], "transport error",
                                  "websocket write failed", 0,
                                  SIOD_CLOSE_NORMAL);
        }
    }
    for (size_t k = 0; k < ng; k++)
        free(groups[k].conns);
    free(groups);
    free(mode);
    return sent;
}

int siod_session_writable(const siod_session *s)
{
    switch (s->state) {
    case ST_POLLING:
        return s->get != NULL && s->q_head == NULL;
    case ST_WEBSOCKET:
        return s->ws != NULL && !s->ws->peer->dead &&
               s->ws->peer->ops->backlog(s->ws->peer->ctx) < WS_WRITABLE_MAX;
    default:
        return 0;
    }
}

int siod_session_polling_unheld(const siod_session *s)
{
    return s->state == ST_POLLING && s->get == NULL;
}

void siod_session_close(siod_session *s, const char *reason)
{
    /* A plain polling session keeps what is queued for it: the packets go
     * out first, the close packet after them (see siod_poll_closed_answer). */
    if (s->state == ST_POLLING && s->q_head != NULL) {
        if (s->get != NULL) {
            /* a failed answer ends the GET with a 500: the session closes
             * either way */
            siod_poll_answer(s, 1, -1, NULL, 0);
            siod_poll_closed_remember(s, SIOD_CLOSED_CLOSE, NULL, 0);
        } else {
            size_t len = 0;
            unsigned char *payload;
            /* out of memory, nothing is remembered: the next GET finds
             * no session, as after any close */
            if (siod_poll_payload(s, 1, -1, &payload, &len, NULL) == 0 &&
                payload != NULL)
                siod_poll_closed_remember(s, SIOD_CLOSED_PAYLOAD, payload,
                                          len);
        }
    }
    siod_session_close_ex(s, reason != NULL ? reason : "forced close", NULL, 0,
                          SIOD_CLOSE_NORMAL);
}

const char *siod_session_sid(const siod_session *s)
{
    return s->sid;
}

int siod_session_is_open(const siod_session *s)
{
    return s->state != ST_CLOSED;
}

const char *siod_session_transport(const siod_session *s)
{
    return s->websocket ? "websocket" : "polling";
}

int siod_session_eio3(const siod_session *s)
{
    return s->eio3;
}

int siod_session_info(const siod_session *s, const char *key,
                      const char **val, size_t *len)
{
    sio_relay_kv kv;
    if (s->info == NULL ||
        sio_relay_kv_find(s->info, s->info_len, key, &kv) != SIO_OK)
        return -ENOENT;
    *val = kv.val;
    *len = kv.val_len;
    return 0;
}

void siod_session_info_raw(const siod_session *s, const unsigned char **buf,
                           size_t *len)
{
    *buf = s->info;
    *len = s->info != NULL ? s->info_len : 0;
}

void siod_session_set_data(siod_session *s, void *data)
{
    s->data = data;
}

void *siod_session_get_data(const siod_session *s)
{
    return s->data;
}

