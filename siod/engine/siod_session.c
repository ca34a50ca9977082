/* Engine.IO v4 session state machine (behaviour modelled on the reference
 * server's socket.ts and transports): the sid registry, transit(), the
 * heartbeat, the transport a packet goes out on, the polling -> websocket
 * upgrade, and the one close path with its deferred teardown. The frame
 * handlers (siod_session_relay.c) and the upper-layer API
 * (siod_session_api.c) call in here; this file calls only siod_poll.c,
 * siod_peer.c and siod_addr.c, and the upper layer through the
 * siod_engine_app callbacks. */
#include "core/siod_core.h"
#include "siod_engine_int.h"
#include "sio_ws.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UPGRADE_TIMEOUT_MS 10000
#define UPGRADE_CHECK_MS 100
#define SID_TRIES 8

static const char *const state_names[] = {
    "polling", "upgrade-probe", "upgrade-wait", "websocket", "closed"
};

static struct {
    struct event_base *base;
    siod_engine_config cfg;
    const siod_engine_app *app;
    void *app_state;
    int app_ready;
    siod_hash sessions;              /* sid -> session */
    siod_session *open_list;
    size_t count;
    siod_session *flush_list;
    siod_session *dead_list;
    struct event *deferred;
    const struct timeval *tv_interval;
    const struct timeval *tv_timeout;
    const struct timeval *tv_v3;     /* v3: interval + timeout, no ping */
    const struct timeval *tv_upgrade;
    const struct timeval *tv_check;
} reg;

static const char json_bad_request[] =
    "{\"code\":3,\"message\":\"Bad request\"}";

static void upgrade_timeout_cb(evutil_socket_t fd, short what, void *arg);
static void upgrade_check_cb(evutil_socket_t fd, short what, void *arg);
static void deferred_cb(evutil_socket_t fd, short what, void *arg);
static void census(siod_gauges *g);

/* ---- helpers ----------------------------------------------------------- */

static int session_eq(const void *item, const void *key)
{
    return memcmp(((const siod_session *)item)->sid, key, SIO_SID_LEN) == 0;
}

static void transit(siod_session *s, enum siod_sess_state to, const char *why)
{
    siod_log_debug("session %s: %s -> %s (%s)", s->sid, state_names[s->state],
                   state_names[to], why);
    s->state = to;
}

siod_session *siod_session_find(const char sid[SIO_SID_LEN])
{
    return siod_hash_find(&reg.sessions, siod_hash_bytes(sid, SIO_SID_LEN),
                          sid);
}

static void schedule_deferred(void)
{
    event_active(reg.deferred, EV_WRITE, 0);
}

static void schedule_flush(siod_session *s)
{
    if (s->flush_pending)
        return;
    s->flush_pending = 1;
    s->flush_next = reg.flush_list;
    reg.flush_list = s;
    schedule_deferred();
}

/* ---- sending --------------------------------------------------------- */

/* Sends a packet on the current transport: at once on a WebSocket, else
 * through the polling queue. shared, if not NULL, is a message packet's
 * buffer (data and len are then its payload) that is referenced rather
 * than copied; volatile_ marks such a packet's WS_SEND SIO_RF_VOLATILE.
 * Returns 0, or a negative code after which s is closed: -EPIPE (closed
 * already, or its link broken), -ENOSPC (queue overflow), -EMSGSIZE,
 * -ENOMEM, -ENOBUFS. The close line logs why. */
int siod_session_send_packet(siod_session *s, int type, int binary,
                             const void *data, size_t len, siod_buf *shared,
                             int volatile_)
{
    int rc;

    if (s->state == ST_CLOSED)
        return -EPIPE;
    if (s->state == ST_WEBSOCKET) {
        if (s->ws == NULL)
            rc = -EPIPE;
        else if (shared != NULL)
            rc = siod_peer_ws_send_shared(s->sid, s->ws, shared, binary,
                                          volatile_);
        else
            rc = siod_peer_ws_send_packet(s->sid, s->ws, type, binary, data,
                                          len);
        if (rc == 0) {
            siod_count.messages_out += type == SIO_EIO_MESSAGE;
            return 0;
        }
        siod_session_close_ex(s, "transport error", rc == -EMSGSIZE
                              ? "websocket message over the module's frame "
                                "limit"
                              : "websocket write failed",
                              0, SIOD_CLOSE_NORMAL);
        return rc;
    }
    rc = siod_poll_enqueue(s, type, binary, data, len, shared);
    if (rc < 0) {
        siod_count.poll_overflows += rc == -ENOSPC;
        siod_session_close_ex(s, "transport error", rc == -ENOSPC
                              ? "polling queue full" : "out of memory", 0,
                              SIOD_CLOSE_NORMAL);
        return rc;
    }
    siod_count.messages_out += type == SIO_EIO_MESSAGE;
    if (s->get != NULL)
        schedule_flush(s);
    return 0;
}

/* ---- lifecycle --------------------------------------------------------- */

static void session_free(siod_session *s)
{
    if (s == NULL)
        return;
    siod_poll_clear(s);
    if (s->heartbeat != NULL)
        event_free(s->heartbeat);
    if (s->upgrade_timer != NULL)
        event_free(s->upgrade_timer);
    if (s->check_timer != NULL)
        event_free(s->check_timer);
    free(s->info);
    free(s);
}

void siod_session_close_ex(siod_session *s, const char *reason,
                           const char *detail, int client_side,
                           unsigned ws_code)
{
    if (s->state == ST_CLOSED)
        return;
    transit(s, ST_CLOSED, detail != NULL ? detail : reason);
    siod_log_limited(SIOD_LOG_INFO, "session %s closed: %s%s%s%s", s->sid,
                     reason, detail != NULL ? " (" : "",
                     detail != NULL ? detail : "", detail != NULL ? ")" : "");

    siod_hash_remove(&reg.sessions, s->hash, s->sid);
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        reg.open_list = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    reg.count--;
    siod_count.sessions_closed++;
    siod_addr_release(s->addr);
    s->addr = NULL;

    event_del(s->heartbeat);
    if (s->upgrade_timer != NULL)
        event_del(s->upgrade_timer);
    if (s->check_timer != NULL)
        event_del(s->check_timer);

    if (client_side && s->get == NULL && !s->websocket)
        siod_poll_closed_remember(s, SIOD_CLOSED_NOOP, NULL, 0);
    /* the session is closing: a GET whose answer fails gets a 500, and
     * nothing more is owed to it */
    if (s->get != NULL) {
        if (client_side)
            siod_poll_answer(s, 0, SIO_EIO_NOOP, NULL, 0);
        else
            siod_poll_answer(s, 1, SIO_EIO_CLOSE, NULL, 0);
    }
    if (s->probe != NULL) {
        siod_peer_send(s->probe->peer, SIO_R_WS_CLOSE, 0, (uint16_t)ws_code,
                       s->probe->conn, s->sid, NULL, 0, NULL, 0);
        siod_binding_free(s->probe);
        s->probe = NULL;
    }
    if (s->ws != NULL) {
        siod_peer_send(s->ws->peer, SIO_R_WS_CLOSE,
                       s->handover ? SIO_RF_KEEP : 0, (uint16_t)ws_code,
                       s->ws->conn, s->sid, NULL, 0, NULL, 0);
        siod_binding_free(s->ws);
        s->ws = NULL;
    }
    siod_poll_clear(s);

    /* The upper layer hears of it from the loop (deferred_cb), never from
     * inside this call: a close can start inside any write the upper layer
     * or an application makes, and tearing down its objects there would
     * free what its callers still use. */
    s->close_reason = reason;
    s->dead_next = reg.dead_list;
    reg.dead_list = s;
    schedule_deferred();
}

/* siod_poll_answer from a loop callback: the boundary that logs its
 * failure (the GET got a 500), throttled (a client can cause it). */
static void answer_logged(siod_session *s, int with_queue, int extra)
{
    char why[128];

    if (siod_poll_answer(s, with_queue, extra, why, sizeof why) < 0)
        siod_log_limited(SIOD_LOG_ERROR, "session %s: %s", s->sid, why);
}

/* Runs from the loop after the callbacks that queued work: the upper
 * layer's on_close for every session closed since (its teardown may close
 * more, which are handled in the same pass), then the held GETs to answer,
 * then frees the closed sessions. No session is freed while a callback
 * that may hold it runs, and none is freed while still on the flush list. */
static void deferred_cb(evutil_socket_t fd, short what, void *arg)
{
    siod_session *done = NULL;

    while (reg.dead_list != NULL) {
        siod_session *s = reg.dead_list;
        reg.dead_list = s->dead_next;
        if (reg.app->on_close != NULL)
            reg.app->on_close(reg.app_state, s, s->close_reason);
        s->dead_next = done;
        done = s;
    }
    while (reg.flush_list != NULL) {
        siod_session *s = reg.flush_list;
        reg.flush_list = s->flush_next;
        s->flush_pending = 0;
        if (s->state != ST_CLOSED && s->get != NULL && s->q_head != NULL)
            answer_logged(s, 1, -1);
    }
    while (done != NULL) {
        siod_session *s = done;
        done = s->dead_next;
        session_free(s);
    }
}

static void heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
    siod_session *s = arg;
    if (s->state == ST_CLOSED)
        return;
    if (s->awaiting_pong) {
        siod_session_close_ex(s, "ping timeout", NULL, 0, SIOD_CLOSE_NORMAL);
        return;
    }
    if (siod_session_send_packet(s, SIO_EIO_PING, 0, NULL, 0, NULL, 0) < 0)
        return;
    s->awaiting_pong = 1;
    evtimer_add(s->heartbeat, reg.tv_timeout);
}

/* Engine.IO 3: the client pings; the session ends after pingInterval +
 * pingTimeout without one, as the reference does for v3. */
static void on_ping_v3(siod_session *s)
{
    evtimer_add(s->heartbeat, reg.tv_v3);
    siod_session_send_packet(s, SIO_EIO_PONG, 0, NULL, 0, NULL, 0);
}

static void on_pong(siod_session *s)
{
    s->awaiting_pong = 0;
    evtimer_add(s->heartbeat, reg.tv_interval); /* re-adding reschedules */
}

/* Is the info key's value val (a short literal)? */
int siod_session_info_valid(const sio_relay_frame *f)
{
    size_t off = 0;
    sio_relay_kv kv;
    int rc;
    while ((rc = sio_relay_kv_next(f->body, f->len, &off, &kv)) == SIO_OK)
        ;
    return rc == SIO_DONE;
}

static int info_is(const sio_relay_frame *f, const char *key,
                   const char *val)
{
    sio_relay_kv kv;
    size_t n = strlen(val);
    return sio_relay_kv_find(f->body, f->len, key, &kv) == SIO_OK &&
           kv.val_len == n && memcmp(kv.val, val, n) == 0;
}

static size_t info_max_payload(const sio_relay_frame *f)
{
    sio_relay_kv kv;
    if (sio_relay_kv_find(f->body, f->len, "max_payload", &kv) != SIO_OK ||
        kv.val_len == 0 || kv.val_len > 15)
        return reg.cfg.max_payload;
    size_t v = 0;
    for (size_t i = 0; i < kv.val_len; i++) {
        if (kv.val[i] < '0' || kv.val[i] > '9')
            return reg.cfg.max_payload;
        v = v * 10 + (size_t)(kv.val[i] - '0');
    }
    return v;
}

/* Creates a registered session in state st from an OPEN frame, counted
 * under client address addr, into *out. Returns 0, -ENOMEM, -EEXIST (no
 * unused id in SID_TRIES tries) or the random source's errno. */
int siod_session_new(const sio_relay_frame *f, enum siod_sess_state st,
                     const struct siod_addr_key *addr, const char *sid,
                     siod_session **out)
{
    int rc = -ENOMEM;
    siod_session *s = calloc(1, sizeof *s);

    *out = NULL;
    if (s == NULL)
        goto fail;
    s->state = st;
    s->websocket = st == ST_WEBSOCKET;
    /* the module names the version only when it allowed v3 */
    s->eio3 = info_is(f, "eio", "3");
    s->b64 = s->eio3 && info_is(f, "b64", "1");
    /* v3: the timer runs out unless the client pings */
    s->awaiting_pong = s->eio3;
    s->max_payload = info_max_payload(f);
    if (f->len > 0) {
        s->info = malloc(f->len);
        if (s->info == NULL)
            goto fail;
        memcpy(s->info, f->body, f->len);
        s->info_len = f->len;
    }
    s->heartbeat = evtimer_new(reg.base, heartbeat_cb, s);
    if (s->heartbeat == NULL)
        goto fail;
    if (sid != NULL) {
        memcpy(s->sid, sid, SIO_SID_LEN);
        rc = -EEXIST;
        if (siod_session_find(s->sid) != NULL)
            goto fail;
    }
    for (int i = 0; sid == NULL; i++) {
        rc = siod_sid_generate(s->sid);
        if (rc < 0)
            goto fail;
        if (siod_session_find(s->sid) == NULL)
            break;
        if (i == SID_TRIES) {
            rc = -EEXIST;
            goto fail;
        }
    }
    rc = -ENOMEM;
    s->sid[SIO_SID_LEN] = '\0';
    s->hash = siod_hash_bytes(s->sid, SIO_SID_LEN);
    s->addr = siod_addr_acquire(addr);
    if (s->addr == NULL)
        goto fail;
    if (siod_hash_insert(&reg.sessions, s->hash, s) < 0)
        goto fail;
    s->next = reg.open_list;
    if (reg.open_list != NULL)
        reg.open_list->prev = s;
    reg.open_list = s;
    reg.count++;
    siod_count.sessions_opened++;
    *out = s;
    return 0;
fail:
    if (s != NULL)
        siod_addr_release(s->addr);
    session_free(s);
    return rc;
}

/* ---- packets and the upgrade -------------------------------------------- */

/* A packet that arrived on the session's current transport. */
void siod_session_handle_packet(siod_session *s, const sio_eio_packet *pkt)
{
    switch (pkt->type) {
    case SIO_EIO_PONG:
        if (s->eio3)
            siod_session_close_ex(s, "transport error",
                                  "invalid heartbeat direction", 0,
                                  SIOD_CLOSE_NORMAL);
        else
            on_pong(s);
        break;
    case SIO_EIO_CLOSE:
        siod_session_close_ex(s, "transport close", "client sent close", 1,
                              SIOD_CLOSE_NORMAL);
        break;
    case SIO_EIO_MESSAGE:
        siod_count.messages_in++;
        if (reg.app->on_message != NULL)
            reg.app->on_message(reg.app_state, s, pkt->data, pkt->len,
                                pkt->binary);
        break;
    case SIO_EIO_PING:
        if (s->eio3) {
            on_ping_v3(s);
            break;
        }
        /* v4: the server pings; the reference treats this as an error */
        siod_session_close_ex(s, "transport error",
                              "invalid heartbeat direction", 0,
                              SIOD_CLOSE_NORMAL);
        break;
    default:
        /* open, upgrade, noop: nothing to do, as the reference */
        break;
    }
}

static void drop_probe(siod_session *s, int send_close, const char *why)
{
    if (s->probe == NULL)
        return;
    if (send_close)
        siod_peer_send(s->probe->peer, SIO_R_WS_CLOSE, 0, SIOD_CLOSE_NORMAL,
                       s->probe->conn, s->sid, NULL, 0, NULL, 0);
    siod_binding_free(s->probe);
    s->probe = NULL;
    if (s->upgrade_timer != NULL)
        event_del(s->upgrade_timer);
    if (s->check_timer != NULL)
        event_del(s->check_timer);
    if (s->state == ST_UPGRADE_PROBE || s->state == ST_UPGRADE_WAIT)
        transit(s, ST_POLLING, why);
}

/* Every UPGRADE_CHECK_MS in upgrade-wait, as the reference does: a held
 * GET is ended (queued packets or a noop) so the client can pause polling
 * and send its upgrade packet. Not at once on the probe: the client's GET
 * and its WebSocket messages travel through different httpd children, so
 * a GET it sent after "5" may reach siod before the "5" does; it then gets
 * the 400 of an upgraded session (complete_upgrade), as it would have had
 * it come second. */
static void upgrade_check_cb(evutil_socket_t fd, short what, void *arg)
{
    siod_session *s = arg;
    if (s->state != ST_UPGRADE_WAIT) {
        event_del(s->check_timer);
        return;
    }
    if (s->get != NULL)
        answer_logged(s, 1, s->q_head != NULL ? -1 : SIO_EIO_NOOP);
}

static void upgrade_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    siod_session *s = arg;
    if (s->state == ST_UPGRADE_PROBE || s->state == ST_UPGRADE_WAIT) {
        siod_log_debug("session %s: client did not complete the upgrade",
                       s->sid);
        drop_probe(s, 1, "upgrade timeout");
    }
}

static void complete_upgrade(siod_session *s)
{
    event_del(s->upgrade_timer);
    event_del(s->check_timer);
    if (s->get != NULL) {
        /* the queue goes to the WebSocket; a poll still held now is one the
         * client sent after "5" (see upgrade_check_cb) */
        struct siod_binding *b = s->get;
        s->get = NULL;
        siod_peer_send(b->peer, SIO_R_RESPONSE, SIO_RF_JSON, 400, b->conn,
                       s->sid, json_bad_request, sizeof json_bad_request - 1,
                       NULL, 0);
        siod_binding_free(b);
    }
    s->ws = s->probe;
    s->ws->kind = B_WS;
    s->probe = NULL;
    transit(s, ST_WEBSOCKET, "upgrade packet");
    s->websocket = 1;
    siod_log_limited(SIOD_LOG_INFO, "session %s upgraded to websocket, "
                     "link %s", s->sid, s->ws->peer->name);
    while (s->q_head != NULL && s->state == ST_WEBSOCKET) {
        struct siod_qpkt *q = siod_poll_take(s);
        siod_session_send_packet(s, q->type, q->binary, q->ptr, q->len,
                                 q->ref, 0);
        siod_poll_pkt_free(q);
    }
    if (s->state == ST_WEBSOCKET && reg.app->on_upgrade != NULL)
        reg.app->on_upgrade(reg.app_state, s);
}

static void probe_message(siod_session *s, const sio_eio_packet *pkt)
{
    if (pkt->type == SIO_EIO_PING && pkt->len == 5 &&
        memcmp(pkt->data, "probe", 5) == 0) {
        static const char pong[] = "3probe";
        siod_peer_send(s->probe->peer, SIO_R_WS_SEND, 0, 0, s->probe->conn,
                       s->sid, pong, sizeof pong - 1, NULL, 0);
        if (s->state == ST_UPGRADE_PROBE) {
            transit(s, ST_UPGRADE_WAIT, "probe answered");
            evtimer_add(s->check_timer, reg.tv_check);
        }
    } else if (pkt->type == SIO_EIO_UPGRADE) {
        complete_upgrade(s);
    } else {
        siod_log_debug("session %s: unexpected packet type %d on the probe",
                       s->sid, pkt->type);
        drop_probe(s, 1, "unexpected packet on probe");
    }
}

void siod_session_probe_packet(siod_session *s, int rc,
                               const sio_eio_packet *pkt)
{
    if (rc != SIO_OK)
        drop_probe(s, 1, "malformed packet on probe");
    else
        probe_message(s, pkt);
}

int siod_session_upgrade_begin(siod_session *s, siod_peer *p, uint64_t conn)
{
    if (s->state != ST_POLLING) {
        /* As the reference: a second WebSocket for a session that is
         * upgrading or upgraded completes its handshake and is closed at
         * once; the conn is never bound, so its WS_CLOSED is ignored. */
        siod_log_debug("session %s: UPGRADE refused in state %s", s->sid,
                       state_names[s->state]);
        siod_peer_send(p, SIO_R_WS_ACCEPT, 0, 0, conn, s->sid, NULL, 0, NULL,
                       0);
        siod_peer_send(p, SIO_R_WS_CLOSE, 0, SIO_WS_CLOSE_NO_STATUS, conn,
                       s->sid, NULL, 0, NULL, 0);
        return 0;
    }
    if (s->upgrade_timer == NULL)
        s->upgrade_timer = evtimer_new(reg.base, upgrade_timeout_cb, s);
    if (s->check_timer == NULL)
        s->check_timer = event_new(reg.base, -1, EV_PERSIST, upgrade_check_cb,
                                   s);
    s->probe = s->upgrade_timer != NULL && s->check_timer != NULL
                   ? siod_binding_new(p, conn, s, B_PROBE)
                   : NULL;
    if (s->probe == NULL)
        return -ENOMEM;
    siod_peer_send(p, SIO_R_WS_ACCEPT, 0, 0, conn, s->sid, NULL, 0, NULL, 0);
    transit(s, ST_UPGRADE_PROBE, "websocket probe accepted");
    evtimer_add(s->upgrade_timer, reg.tv_upgrade);
    return 0;
}

/* b's module-side handle is gone (cancelled poll, closed WebSocket). */
void siod_session_binding_gone(struct siod_binding *b, const char *why)
{
    siod_session *s = b->s;
    switch (b->kind) {
    case B_GET:
        siod_binding_free(b);
        s->get = NULL;
        siod_session_close_ex(s, "transport error", why != NULL ? why :
                              "poll connection closed prematurely", 0,
                              SIOD_CLOSE_NORMAL);
        break;
    case B_PROBE:
        drop_probe(s, 0, "probe websocket closed");
        break;
    case B_WS:
        siod_binding_free(b);
        s->ws = NULL;
        siod_session_close_ex(s, "transport close", why, 0, SIOD_CLOSE_NORMAL);
        break;
    }
}

/* ---- registry ---------------------------------------------------------- */

static const struct timeval *common_timeout(unsigned ms)
{
    struct timeval tv = { (time_t)(ms / 1000),
                          (suseconds_t)(ms % 1000) * 1000 };
    const struct timeval *c = event_base_init_common_timeout(reg.base, &tv);
    return c;
}

int siod_sessions_init(struct event_base *base, const siod_engine_config *cfg,
                       const siod_engine_app *app)
{
    memset(&reg, 0, sizeof reg);
    reg.base = base;
    reg.cfg = *cfg;
    reg.cfg.base = base;
    reg.app = app;
    siod_hash_seed();
    siod_hash_init(&reg.sessions, session_eq);
    siod_peers_init();
    siod_addrs_init();
    siod_stats_add_reporter(census);
    reg.deferred = event_new(base, -1, 0, deferred_cb, NULL);
    reg.tv_interval = common_timeout(cfg->ping_interval_ms);
    reg.tv_timeout = common_timeout(cfg->ping_timeout_ms);
    reg.tv_v3 = common_timeout(cfg->ping_interval_ms + cfg->ping_timeout_ms);
    reg.tv_upgrade = common_timeout(UPGRADE_TIMEOUT_MS);
    reg.tv_check = common_timeout(UPGRADE_CHECK_MS);
    if (siod_poll_init(base, cfg->closed_max_bytes) < 0 ||
        reg.deferred == NULL ||
        reg.tv_interval == NULL || reg.tv_timeout == NULL ||
        reg.tv_v3 == NULL ||
        reg.tv_upgrade == NULL || reg.tv_check == NULL)
        return -ENOMEM;
    if (app->init != NULL) {
        int rc = app->init(&reg.cfg, &reg.app_state);
        if (rc < 0)
            return rc;
    }
    reg.app_ready = 1;
    return 0;
}

void siod_sessions_close_all(const char *reason, unsigned ws_code)
{
    while (reg.open_list != NULL)
        siod_session_close_ex(reg.open_list, reason, NULL, 0, ws_code);
}

size_t siod_sessions_hand_over(const char *reason, unsigned ws_code)
{
    size_t n = 0;

    for (siod_session *s = reg.open_list; s != NULL; s = s->next) {
        s->handover = s->state == ST_WEBSOCKET && s->ws != NULL &&
                      s->probe == NULL &&
                      (s->ws->peer->caps & SIO_RELAY_CAP_HANDOVER) != 0;
        n += (size_t)s->handover;
    }
    siod_sessions_close_all(reason, ws_code);
    return n;
}

int siod_session_handed_over(const siod_session *s)
{
    return s->handover;
}

siod_session *siod_session_resume(const siod_resume *r,
                                  const unsigned char *info, size_t len,
                                  int *rc)
{
    sio_relay_frame f = { 0 };
    siod_session *s;

    f.body = info;
    f.len = (uint32_t)len;
    if (len > UINT32_MAX || !siod_session_info_valid(&f)) {
        *rc = -EPROTO;
        return NULL;
    }
    struct siod_addr_key addr = siod_addr_from_open(&f);
    *rc = siod_session_new(&f, ST_WEBSOCKET, &addr, r->sid, &s);
    if (*rc < 0)
        return NULL;
    s->ws = siod_binding_new(r->peer, r->conn, s, B_WS);
    if (s->ws == NULL) {
        siod_session_close_ex(s, "transport error", "out of memory", 0,
                              SIOD_CLOSE_NORMAL);
        *rc = -ENOMEM;
        return NULL;
    }
    evtimer_add(s->heartbeat, s->eio3 ? reg.tv_v3 : reg.tv_interval);
    return s;
}

void siod_session_app_resume(siod_peer *p, uint64_t conn, const char *sid)
{
    siod_resume r = { p, conn, { 0 } };
    int rc = -ENOTSUP;

    memcpy(r.sid, sid, SIO_SID_LEN);
    if (reg.app->on_resume != NULL)
        rc = reg.app->on_resume(reg.app_state, &r, r.sid);
    if (rc < 0) {
        siod_log_debug("link %s: session %s not taken back (%s): the "
                       "client reconnects", p->name, r.sid,
                       siod_strerror(rc));
        siod_count.handovers_refused++;
        /* the client was told nothing: it comes back as after any close */
        if (siod_binding_find(p, conn) == NULL)
            siod_peer_send(p, SIO_R_WS_CLOSE, 0, 1012, conn, sid, NULL, 0,
                           NULL, 0);
        return;
    }
    siod_count.handovers_resumed++;
}

void siod_sessions_settle(void)
{
    if (reg.deferred != NULL)
        deferred_cb(-1, 0, NULL);
}

void siod_sessions_cleanup(void)
{
    siod_sessions_close_all("server shutting down", 1001);
    if (reg.deferred != NULL) {
        deferred_cb(-1, 0, NULL);
        event_free(reg.deferred);
        reg.deferred = NULL;
    }
    siod_poll_cleanup();
    siod_hash_destroy(&reg.sessions);
    siod_peers_cleanup();
    siod_addrs_cleanup();
    if (reg.app_ready && reg.app->destroy != NULL)
        reg.app->destroy(reg.app_state);
    reg.app_ready = 0;
}

const siod_engine_config *siod_sessions_cfg(void)
{
    return &reg.cfg;
}

void siod_session_app_api(siod_api_call *c, const unsigned char *body,
                          size_t len)
{
    static const char none[] =
        "{\"ok\":false,\"error\":\"this siod serves no API requests "
        "(its application layer takes none)\"}";

    if (reg.app->on_api != NULL)
        reg.app->on_api(reg.app_state, c, body, len);
    else
        siod_api_answer(c, 501, none, sizeof none - 1);
}

void siod_session_start(siod_session *s)
{
    evtimer_add(s->heartbeat, s->eio3 ? reg.tv_v3 : reg.tv_interval);
    if (reg.app->on_open != NULL)
        reg.app->on_open(reg.app_state, s);
}

size_t siod_sessions_count(void)
{
    return reg.count;
}

/* The gauge reporter of open sessions by transport (siod_stats.h). */
static void census(siod_gauges *g)
{
    for (const siod_session *s = reg.open_list; s != NULL; s = s->next) {
        if (s->state == ST_POLLING)
            g->polling++;
        else if (s->state == ST_WEBSOCKET)
            g->websocket++;
        else if (s->state != ST_CLOSED)
            g->upgrading++;
    }
}

