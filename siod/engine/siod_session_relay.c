/* The engine layer's entry points for the relay link: one handler per
 * module -> siod frame type (siod_engine.h, relay-facing section), which
 * checks the frame, answers refusals and hands the rest to the state
 * machine; the limits on new sessions; and siod_peer_free. A handler logs
 * events (sessions opening, refusals at a limit) but no failure: it
 * returns the failure with its detail to the link's dispatch, which logs
 * it. Calls down
 * into siod_session.c, siod_session_api.c, siod_poll.c, siod_peer.c and
 * siod_addr.c; nothing in the layer calls back into it. */
#include "core/siod_core.h"
#include "guard/siod_guard.h"
#include "siod_engine_int.h"
#include "sio_eio3.h"
#include "sio_ws.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char json_unknown_sid[] =
    "{\"code\":1,\"message\":\"Session ID unknown\"}";
static const char json_bad_request[] =
    "{\"code\":3,\"message\":\"Bad request\"}";
/* Handshakes refused at a limit: code 4 as the reference answers one its
 * allowRequest refuses, code 3 for a request too large to take. */
static const char json_too_many[] =
    "{\"code\":4,\"message\":\"Too many sessions\"}";
static const char json_too_many_addr[] =
    "{\"code\":4,\"message\":\"Too many sessions from this address\"}";
static const char json_hs_rate[] =
    "{\"code\":4,\"message\":\"Too many handshakes from this address\"}";
static const char json_hs_too_large[] =
    "{\"code\":3,\"message\":\"Handshake headers too large\"}";

static siod_log_throttle refusals;   /* handshakes refused at a limit */

static void sid_text(const sio_relay_frame *f, char out[SIO_SID_LEN + 1])
{
    for (size_t i = 0; i < SIO_SID_LEN; i++) {
        unsigned char c = (unsigned char)f->sid[i];
        out[i] = (c > 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[SIO_SID_LEN] = '\0';
}

/* Writes the handshake packet ("0{...}") into buf; returns its length. */
static size_t handshake_packet(const siod_session *s, int upgrades,
                               char *buf, size_t cap)
{
    const siod_engine_config *cfg = siod_sessions_cfg();
    int n = snprintf(buf, cap,
                     "0{\"sid\":\"%s\",\"upgrades\":[%s],\"pingInterval\":%u,"
                     "\"pingTimeout\":%u,\"maxPayload\":%zu}",
                     s->sid, upgrades ? "\"websocket\"" : "",
                     cfg->ping_interval_ms, cfg->ping_timeout_ms,
                     s->max_payload);
    return n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
}

static void log_open(const siod_session *s, const siod_peer *p)
{
    const char *addr = "?";
    size_t alen = 1;
    siod_session_info(s, "remote_addr", &addr, &alen);
    siod_log_limited(SIOD_LOG_INFO, "session %s open: %s, link %s, client "
                     "%.*s", s->sid,
                     s->state == ST_WEBSOCKET ? "websocket" : "polling",
                     p->name, (int)(alen > 64 ? 64 : alen), addr);
}

/* Answers an OPEN that a limit refuses (the handshake's size, sessions in
 * all, sessions of its client address, handshakes of that address a
 * second: the guard layer's) and logs it, throttled. Returns 1
 * if it was refused, 0 if the session may open. */
static int open_refused(siod_peer *p, const sio_relay_frame *f,
                        const struct siod_addr_key *addr)
{
    const struct siod_addr_count *a;
    const siod_engine_config *c = siod_sessions_cfg();
    int alen = (int)addr->len;

    if (c->max_handshake_bytes > 0 && f->len > c->max_handshake_bytes) {
        siod_log_throttled(&refusals, SIOD_LOG_INFO, "handshake from %.*s "
                           "refused: %u bytes of headers and query over "
                           "--max-handshake-bytes %zu", alen, addr->addr,
                           (unsigned)f->len, c->max_handshake_bytes);
        siod_peer_respond_str(p, f, 431, 1, json_hs_too_large);
        return 1;
    }
    if (c->max_sessions > 0 && siod_sessions_count() >= c->max_sessions) {
        siod_log_throttled(&refusals, SIOD_LOG_WARN, "handshake from %.*s "
                           "refused: %zu sessions open (--max-sessions)",
                           alen, addr->addr, siod_sessions_count());
        siod_peer_respond_str(p, f, 503, 1, json_too_many);
        return 1;
    }
    a = siod_addr_find(addr);
    if (c->max_sessions_per_addr > 0 && a != NULL &&
        a->count >= c->max_sessions_per_addr && !siod_addr_is_loopback(addr)) {
        siod_log_throttled(&refusals, SIOD_LOG_INFO, "handshake from %.*s "
                           "refused: %zu sessions open from that address "
                           "(--max-sessions-per-address)", alen, addr->addr,
                           a->count);
        siod_guard_note_sessions_per_addr();
        siod_peer_respond_str(p, f, 429, 1, json_too_many_addr);
        return 1;
    }
    if (!siod_addr_is_loopback(addr) &&
        siod_guard_handshake(addr->addr, addr->len) == -EBUSY) {
        siod_log_throttled(&refusals, SIOD_LOG_INFO, "handshake from %.*s "
                           "refused: over --handshake-rate %g a second "
                           "(burst %g)", alen, addr->addr,
                           siod_guard_config_get()->handshake_rate,
                           siod_guard_config_get()->handshake_burst);
        siod_peer_respond_str(p, f, 429, 1, json_hs_rate);
        return 1;
    }
    return 0;
}

/* ---- frame handlers ---------------------------------------------------- */

int siod_session_relay_open(siod_peer *p, const sio_relay_frame *f,
                            char *why, size_t cap)
{
    char hs[256];
    int websocket = (f->flags & SIO_RF_WEBSOCKET) != 0;
    siod_session *s;
    int rc;

    if (!siod_session_info_valid(f))
        return siod_err_set(why, cap, -EPROTO, "malformed info list");
    if (websocket && siod_binding_find(p, f->conn) != NULL)
        return siod_err_set(why, cap, -EPROTO, "reuses conn %llu",
                            (unsigned long long)f->conn);
    struct siod_addr_key addr = siod_addr_from_open(f);
    if (open_refused(p, f, &addr)) {
        siod_count.handshakes_refused++;
        return 0;
    }
    rc = siod_session_new(f, websocket ? ST_WEBSOCKET : ST_POLLING, &addr,
                          NULL, &s);
    if (rc < 0) {
        siod_peer_respond_str(p, f, 500, 0, "Internal Server Error");
        return siod_err_set(why, cap, rc, "cannot create a session: %s",
                            siod_strerror(rc));
    }
    if (websocket) {
        s->ws = siod_binding_new(p, f->conn, s, B_WS);
        if (s->ws == NULL) {
            siod_peer_respond_str(p, f, 500, 0, "Internal Server Error");
            siod_session_close_ex(s, "transport error", "out of memory", 0,
                                  SIOD_CLOSE_NORMAL);
            return siod_err_set(why, cap, -ENOMEM, "session %s: out of "
                                "memory binding its websocket", s->sid);
        }
        siod_peer_send(p, SIO_R_WS_ACCEPT, 0, 0, f->conn, s->sid, NULL, 0,
                       NULL, 0);
        size_t n = handshake_packet(s, 0, hs, sizeof hs);
        siod_peer_send(p, SIO_R_WS_SEND, 0, 0, f->conn, s->sid, hs, n, NULL,
                       0);
    } else {
        sio_relay_kv up;
        int upgrades = sio_relay_kv_find(f->body, f->len, "upgrades", &up) ==
                           SIO_OK && up.val_len == 9 &&
                       memcmp(up.val, "websocket", 9) == 0;
        size_t n = handshake_packet(s, upgrades, hs, sizeof hs);
        char rec[sizeof hs + 16];
        if (s->eio3) {
            /* a v3 payload of one record: "<length>:0{...}" */
            sio_eio_packet pkt = { SIO_EIO_OPEN, 0,
                                   (const unsigned char *)hs + 1, n - 1 };
            n = sio_eio3_encode((unsigned char *)rec, &pkt, SIO_EIO3_TEXT);
        }
        siod_peer_send(p, SIO_R_RESPONSE, 0, 200, f->conn, s->sid,
                       s->eio3 ? rec : hs, n, NULL, 0);
    }
    log_open(s, p);
    siod_session_start(s);
    return 0;
}

int siod_session_relay_upgrade(siod_peer *p, const sio_relay_frame *f,
                               char *why, size_t cap)
{
    if (!siod_session_info_valid(f))
        return siod_err_set(why, cap, -EPROTO, "malformed info list");
    if (siod_binding_find(p, f->conn) != NULL)
        return siod_err_set(why, cap, -EPROTO, "reuses conn %llu",
                            (unsigned long long)f->conn);
    siod_session *s = siod_session_find(f->sid);
    if (s == NULL) {
        char sid[SIO_SID_LEN + 1];
        sid_text(f, sid);
        siod_log_debug("UPGRADE for unknown session %s", sid);
        siod_peer_respond_str(p, f, 400, 0, "Session ID unknown");
        return 0;
    }
    int rc = siod_session_upgrade_begin(s, p, f->conn);
    if (rc < 0) {
        siod_peer_respond_str(p, f, 500, 0, "Internal Server Error");
        return siod_err_set(why, cap, rc, "session %s: out of memory "
                            "beginning its upgrade", s->sid);
    }
    return 0;
}

/* siod_poll_answer for a frame handler: a failure's detail, with the
 * session's id, goes to why. Returns as siod_poll_answer. */
static int answer(siod_session *s, int with_queue, int extra, char *why,
                  size_t cap)
{
    char detail[128];
    int rc = siod_poll_answer(s, with_queue, extra, detail, sizeof detail);

    if (rc < 0)
        return siod_err_set(why, cap, rc, "session %s: %s", s->sid, detail);
    return 0;
}

int siod_session_relay_poll_get(siod_peer *p, const sio_relay_frame *f,
                                char *why, size_t cap)
{
    siod_session *s = siod_session_find(f->sid);
    if (s == NULL) {
        char sid[SIO_SID_LEN + 1];
        sid_text(f, sid);
        int rc = siod_poll_closed_answer(p, f, why, cap);
        if (rc != 0) {
            if (rc > 0)
                siod_log_debug("GET for just-closed session %s answered",
                               sid);
            return rc < 0 ? rc : 0;
        }
        siod_log_debug("GET for unknown session %s", sid);
        siod_peer_respond_str(p, f, 400, 1, json_unknown_sid);
        return 0;
    }
    if (s->state == ST_WEBSOCKET) {
        siod_log_debug("session %s: GET on a websocket session", s->sid);
        siod_peer_respond_str(p, f, 400, 1, json_bad_request);
        return 0;
    }
    if (siod_binding_find(p, f->conn) != NULL)
        return siod_err_set(why, cap, -EPROTO, "reuses conn %llu",
                            (unsigned long long)f->conn);
    if (s->get != NULL) {
        /* as the reference: the session ends, the new poll gets a 400 */
        siod_session_close_ex(s, "transport error", "overlap from client", 0,
                              SIOD_CLOSE_NORMAL);
        siod_peer_respond_str(p, f, 400, 1, json_bad_request);
        return 0;
    }
    s->get = siod_binding_new(p, f->conn, s, B_GET);
    if (s->get == NULL) {
        siod_peer_respond_str(p, f, 500, 0, "Internal Server Error");
        return siod_err_set(why, cap, -ENOMEM, "session %s: out of memory "
                            "holding a poll", s->sid);
    }
    /* In upgrade-wait an empty poll is ended by upgrade_check_cb. */
    if (s->q_head != NULL)
        return answer(s, 1, -1, why, cap);
    return 0;
}

int siod_session_relay_poll_post(siod_peer *p, const sio_relay_frame *f,
                                 unsigned char *body, char *why, size_t cap)
{
    siod_session *s = siod_session_find(f->sid);
    if (s == NULL) {
        char sid[SIO_SID_LEN + 1];
        sid_text(f, sid);
        siod_log_debug("POST for unknown session %s", sid);
        siod_peer_respond_str(p, f, 400, 1, json_unknown_sid);
        return 0;
    }
    if (s->state == ST_WEBSOCKET) {
        siod_log_debug("session %s: POST on a websocket session", s->sid);
        siod_peer_respond_str(p, f, 400, 1, json_bad_request);
        return 0;
    }
    sio_eio_payload_iter it;
    sio_eio3_payload_iter it3;
    sio_eio_packet pkt;
    int rc = SIO_DONE;
    if (s->eio3)
        sio_eio3_payload_init(&it3, body, f->len);
    else
        sio_eio_payload_init(&it, body, f->len);
    while (s->state != ST_CLOSED &&
           (rc = s->eio3 ? sio_eio3_payload_next(&it3, &pkt)
                         : sio_eio_payload_next(&it, &pkt)) == SIO_OK)
        siod_session_handle_packet(s, &pkt);
    if (s->state != ST_CLOSED && rc != SIO_DONE) {
        siod_session_close_ex(s, "parse error", sio_strerror(rc), 0,
                              SIOD_CLOSE_NORMAL);
        siod_peer_respond_str(p, f, 400, 1, json_bad_request);
        return 0;
    }
    siod_peer_respond_str(p, f, 200, 0, "ok");
    return 0;
}

/* The binding frame f names on p, or NULL (logged at debug: a frame for
 * a conn that is gone, as after a race with its close) when there is
 * none or it is a GET and get_ok is 0. */
static struct siod_binding *frame_binding(siod_peer *p,
                                          const sio_relay_frame *f,
                                          int get_ok)
{
    struct siod_binding *b = siod_binding_find(p, f->conn);

    if (b == NULL || (!get_ok && b->kind == B_GET)) {
        siod_log_debug("link %s: %s for unknown conn %llu", p->name,
                       sio_relay_type_name(f->type),
                       (unsigned long long)f->conn);
        return NULL;
    }
    return b;
}

int siod_session_relay_ws_msg(siod_peer *p, const sio_relay_frame *f,
                              char *why, size_t cap)
{
    struct siod_binding *b = frame_binding(p, f, 0);
    if (b == NULL)
        return 0;
    siod_session *s = b->s;
    sio_eio_packet pkt;
    int binary = (f->flags & SIO_RF_BINARY) != 0;
    int rc = s->eio3 ? sio_eio3_decode_ws(f->body, f->len, binary, &pkt)
                     : sio_eio_decode_ws(f->body, f->len, binary, &pkt);
    if (b->kind == B_PROBE) {
        siod_session_probe_packet(s, rc, &pkt);
        return 0;
    }
    if (rc != SIO_OK) {
        siod_session_close_ex(s, "parse error", sio_strerror(rc), 0,
                              SIOD_CLOSE_NORMAL);
        return 0;
    }
    siod_session_handle_packet(s, &pkt);
    return 0;
}

int siod_session_relay_cancel(siod_peer *p, const sio_relay_frame *f,
                              char *why, size_t cap)
{
    /* none: also a released GET that was answered before the release
     * came (that answer is the one the module waits for) */
    struct siod_binding *b = frame_binding(p, f, 1);
    if (b == NULL)
        return 0;
    if ((f->flags & SIO_RF_KEEP) && b->kind == B_GET) {
        /* The module's child is stopping: end the GET with a bare noop
         * and keep the session. Queued packets stay for the client's next
         * GET, so an answer the module can no longer deliver loses none. */
        siod_log_debug("session %s: held GET released by link %s",
                       b->s->sid, p->name);
        return answer(b->s, 0, SIO_EIO_NOOP, why, cap);
    }
    siod_session_binding_gone(b, NULL);
    return 0;
}

int siod_session_relay_ws_closed(siod_peer *p, const sio_relay_frame *f,
                                 char *why, size_t cap)
{
    struct siod_binding *b = frame_binding(p, f, 1);
    if (b == NULL)
        return 0;
    if (b->kind == B_WS)
        siod_log_debug("session %s: websocket closed, code %u", b->s->sid,
                       (unsigned)f->status);
    siod_session_binding_gone(b, NULL);
    return 0;
}

int siod_session_relay_abort(siod_peer *p, const sio_relay_frame *f,
                             char *why, size_t cap)
{
    siod_session *s = siod_session_find(f->sid);
    if (s == NULL) {
        char sid[SIO_SID_LEN + 1];
        sid_text(f, sid);
        siod_log_debug("ABORT for unknown session %s", sid);
        return 0;
    }
    char detail[64];
    snprintf(detail, sizeof detail, "aborted by the module, status %u",
             (unsigned)f->status);
    siod_session_close_ex(s, "transport error", detail, 0, SIOD_CLOSE_NORMAL);
    return 0;
}

/* A WebSocket the previous siod handed over: its session id must be a
 * real one (URL-safe base64) and conn new on this link. */
int siod_session_relay_ws_resume(siod_peer *p, const sio_relay_frame *f,
                                 char *why, size_t cap)
{
    char sid[SIO_SID_LEN + 1];

    sid_text(f, sid);
    for (size_t i = 0; i < SIO_SID_LEN; i++)
        if (!((sid[i] >= 'A' && sid[i] <= 'Z') ||
              (sid[i] >= 'a' && sid[i] <= 'z') ||
              (sid[i] >= '0' && sid[i] <= '9') || sid[i] == '-' ||
              sid[i] == '_'))
            return siod_err_set(why, cap, -EPROTO, "WS_RESUME names no "
                                "session id (%s)", sid);
    if (f->len != 0)
        return siod_err_set(why, cap, -EPROTO, "WS_RESUME with a body");
    if (siod_binding_find(p, f->conn) != NULL)
        return siod_err_set(why, cap, -EPROTO, "reuses conn %llu",
                            (unsigned long long)f->conn);
    siod_session_app_resume(p, f->conn, sid);
    return 0;
}

/* ---- peers ------------------------------------------------------------- */

/* An API request: outside any session, so sid must be zero. */
int siod_session_relay_api(siod_peer *p, const sio_relay_frame *f,
                           const unsigned char *body, char *why, size_t cap)
{
    static const unsigned char zero[SIO_SID_LEN];
    siod_api_call *c;

    if (memcmp(f->sid, zero, SIO_SID_LEN) != 0) {
        snprintf(why, cap, "API frame names a session");
        return -EPROTO;
    }
    c = siod_api_call_new(p, f->conn);
    if (c == NULL) {
        snprintf(why, cap, "out of memory for an API request");
        siod_peer_respond_str(p, f, 500, 1, "{\"ok\":false,\"error\":"
                              "\"siod is out of memory\"}");
        return -ENOMEM;
    }
    siod_session_app_api(c, body, f->len);
    return 0;
}

void siod_peer_free(siod_peer *p)
{
    if (p == NULL)
        return;
    p->dead = 1;
    /* each step unbinds at least the head, so this terminates */
    while (p->bindings != NULL)
        siod_session_binding_gone(p->bindings, "relay link closed");
    siod_api_calls_orphan(p);
    siod_peer_destroy(p);
}
