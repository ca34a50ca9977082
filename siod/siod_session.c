/* Engine.IO v4 session state machine (behaviour modelled on the reference
 * server's socket.ts and transports): sid registry, heartbeat, long-polling
 * queue and held GET, WebSocket binding, the polling -> websocket upgrade,
 * and the one close path. Relay frames arrive through siod_session_relay_*
 * and leave through each peer's siod_peer_ops; the upper layer is reached
 * through the siod_engine_app callbacks. */
#include "siod_session.h"
#include "siod_closed.h"
#include "siod_hash.h"
#include "siod_log.h"
#include "siod_sid.h"
#include "sio_eio.h"
#include "sio_ws.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UPGRADE_TIMEOUT_MS 10000
#define UPGRADE_CHECK_MS 100
/* A polling client that stops fetching must not grow siod without bound. */
#define QUEUE_MAX_PACKETS 4096
#define QUEUE_MAX_BYTES (8u * 1024u * 1024u)
#define SID_TRIES 8
#define CLOSE_NORMAL 1000
/* A WebSocket session counts as writable (for volatile packets) while its
 * relay link has less than this pending. */
#define WS_WRITABLE_MAX (256u * 1024u)

enum sess_state {
    ST_POLLING,        /* long-polling */
    ST_UPGRADE_PROBE,  /* polling; a probe WebSocket is bound, no "2probe" yet */
    ST_UPGRADE_WAIT,   /* polling paused; "3probe" sent, waiting for "5" */
    ST_WEBSOCKET,      /* on a WebSocket (upgraded or from the start) */
    ST_CLOSED
};

static const char *const state_names[] = {
    "polling", "upgrade-probe", "upgrade-wait", "websocket", "closed"
};

enum bind_kind { B_GET, B_WS, B_PROBE };

/* One module-side handle (held GET, WebSocket, probe WebSocket) that a
 * session is using on one peer; indexed by (peer id, conn). */
struct binding {
    siod_peer *peer;
    uint64_t conn;
    uint64_t hash;
    siod_session *s;
    enum bind_kind kind;
    struct binding *pnext, *pprev;   /* the peer's list */
};

struct siod_peer {
    const siod_peer_ops *ops;
    void *ctx;
    uint64_t id;
    int dead;                        /* being freed: send nothing */
    unsigned caps;                   /* SIO_RELAY_CAP_* from the HELLO */
    uint32_t max_body;               /* the module's largest frame body */
    char name[32];
    struct binding *bindings;
    uint64_t fan_gen;                /* multi-send that last grouped it */
    size_t fan_idx;                  /* its group in that multi-send */
};

struct qpkt {
    struct qpkt *next;
    int type;
    int binary;
    size_t len;
    const unsigned char *ptr;        /* data, or the shared buffer's payload */
    siod_buf *ref;                   /* shared buffer held, or NULL */
    unsigned char data[];
};

struct siod_session {
    char sid[SIO_SID_LEN + 1];
    uint64_t hash;
    enum sess_state state;
    siod_session *prev, *next;       /* open sessions */
    siod_session *flush_next;        /* sessions whose held GET to answer */
    int flush_pending;
    siod_session *dead_next;         /* closed: on_close, then free */
    const char *close_reason;        /* for on_close (a string literal) */
    struct event *heartbeat;         /* ping interval, then ping timeout */
    int awaiting_pong;
    struct event *upgrade_timer;     /* created on first upgrade */
    struct event *check_timer;       /* upgrade-wait: ends a held GET */
    struct binding *get;
    struct binding *ws;
    struct binding *probe;
    struct qpkt *q_head, *q_tail;
    size_t q_count, q_bytes;
    unsigned char *info;             /* copy of the OPEN key/values */
    size_t info_len;
    size_t max_payload;
    void *data;                      /* upper layer's */
    int websocket;                   /* 1 once on a WebSocket */
    struct addr_count *addr;         /* its client address's count */
};

struct conn_key {
    uint64_t peer;
    uint64_t conn;
};

/* Open sessions of one client address (--max-sessions-per-address); freed
 * when its last session closes. */
#define ADDR_KEY_MAX 64
struct addr_count {
    uint64_t hash;
    size_t count;
    size_t len;
    char addr[ADDR_KEY_MAX];
};

struct addr_key {
    const char *addr;
    size_t len;
};

static struct {
    struct event_base *base;
    siod_engine_config cfg;
    const siod_engine_app *app;
    void *app_state;
    int app_ready;
    siod_hash sessions;              /* sid -> session */
    siod_hash conns;                 /* (peer, conn) -> binding */
    siod_hash addrs;                 /* client address -> addr_count */
    siod_log_throttle refusals;      /* handshakes refused at a limit */
    siod_session *open_list;
    size_t count;
    siod_session *flush_list;
    siod_session *dead_list;
    struct event *deferred;
    siod_closed_ring *closed;        /* answers for just-closed sessions */
    struct event *closed_timer;      /* empties its expired entries */
    uint64_t closed_warned_ms;       /* last "payload dropped" warning */
    unsigned closed_dropped;         /* payloads dropped since then */
    const struct timeval *tv_interval;
    const struct timeval *tv_timeout;
    const struct timeval *tv_upgrade;
    const struct timeval *tv_check;
    uint64_t next_peer_id;
    uint64_t fan_gen;                /* multi-sends so far */
    size_t fan_peers;                /* peers that take WS_FANOUT */
} reg;

static const char json_unknown_sid[] = "{\"code\":1,\"message\":\"Session ID unknown\"}";
static const char json_bad_request[] = "{\"code\":3,\"message\":\"Bad request\"}";
/* Handshakes refused at a limit: code 4 as the reference answers one its
 * allowRequest refuses, code 3 for a request too large to take. */
static const char json_too_many[] =
    "{\"code\":4,\"message\":\"Too many sessions\"}";
static const char json_too_many_addr[] =
    "{\"code\":4,\"message\":\"Too many sessions from this address\"}";
static const char json_hs_too_large[] =
    "{\"code\":3,\"message\":\"Handshake headers too large\"}";

/* ---- helpers ----------------------------------------------------------- */

static int session_eq(const void *item, const void *key)
{
    return memcmp(((const siod_session *)item)->sid, key, SIO_SID_LEN) == 0;
}

static int addr_eq(const void *item, const void *key)
{
    const struct addr_count *a = item;
    const struct addr_key *k = key;
    return a->len == k->len && memcmp(a->addr, k->addr, k->len) == 0;
}

/* The client address an OPEN names (its "remote_addr", at most
 * ADDR_KEY_MAX bytes of it; empty if absent). */
static struct addr_key open_addr(const sio_relay_frame *f)
{
    sio_relay_kv kv;
    struct addr_key k = { "", 0 };
    if (sio_relay_kv_find(f->body, f->len, "remote_addr", &kv) == SIO_OK) {
        k.addr = kv.val;
        k.len = kv.val_len < ADDR_KEY_MAX ? kv.val_len : ADDR_KEY_MAX;
    }
    return k;
}

/* Is k a loopback address (127.0.0.0/8, ::1, or 127.x mapped to IPv6)?
 * Those are not limited per address: they are this host's own processes,
 * or a reverse proxy on it through which every client would share one. */
static int addr_is_loopback(const struct addr_key *k)
{
    static const char *const prefixes[] = { "127.", "::ffff:127." };
    if (k->len == 3 && memcmp(k->addr, "::1", 3) == 0)
        return 1;
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t n = strlen(prefixes[i]);
        if (k->len > n && memcmp(k->addr, prefixes[i], n) == 0)
            return 1;
    }
    return 0;
}

static struct addr_count *addr_find(const struct addr_key *k)
{
    return siod_hash_find(&reg.addrs, siod_hash_bytes(k->addr, k->len), k);
}

/* Counts one more session for address k. Returns its entry, or NULL if
 * memory runs out. */
static struct addr_count *addr_acquire(const struct addr_key *k)
{
    struct addr_count *a = addr_find(k);
    if (a == NULL) {
        a = calloc(1, sizeof *a);
        if (a == NULL)
            return NULL;
        a->hash = siod_hash_bytes(k->addr, k->len);
        a->len = k->len;
        memcpy(a->addr, k->addr, k->len);
        if (siod_hash_insert(&reg.addrs, a->hash, a) < 0) {
            free(a);
            return NULL;
        }
    }
    a->count++;
    return a;
}

/* One session of a's address closed; NULL is a no-op. */
static void addr_release(struct addr_count *a)
{
    if (a == NULL || --a->count > 0)
        return;
    struct addr_key k = { a->addr, a->len };
    siod_hash_remove(&reg.addrs, a->hash, &k);
    free(a);
}

static int binding_eq(const void *item, const void *key)
{
    const struct binding *b = item;
    const struct conn_key *k = key;
    return b->peer->id == k->peer && b->conn == k->conn;
}

static void transit(siod_session *s, enum sess_state to, const char *why)
{
    siod_log_debug("session %s: %s -> %s (%s)", s->sid, state_names[s->state],
                   state_names[to], why);
    s->state = to;
}

static int peer_send(siod_peer *p, uint8_t type, uint8_t flags,
                     uint16_t status, uint64_t conn, const char *sid,
                     const void *a, size_t alen, const void *b, size_t blen)
{
    sio_relay_frame f;
    struct iovec iov[2];
    int n = 0;

    if (p == NULL || p->dead)
        return -1;
    memset(&f, 0, sizeof f);
    f.type = type;
    f.flags = flags;
    f.status = status;
    f.conn = conn;
    if (sid != NULL)
        memcpy(f.sid, sid, SIO_SID_LEN);
    if (alen > 0) {
        iov[n].iov_base = (void *)a;
        iov[n++].iov_len = alen;
    }
    if (blen > 0) {
        iov[n].iov_base = (void *)b;
        iov[n++].iov_len = blen;
    }
    f.len = (uint32_t)(alen + blen);
    return p->ops->send(p->ctx, &f, iov, n);
}

static void respond(siod_peer *p, const sio_relay_frame *req, uint16_t status,
                    int json, const char *body, size_t len)
{
    peer_send(p, SIO_R_RESPONSE, json ? SIO_RF_JSON : 0, status, req->conn,
              req->sid, body, len, NULL, 0);
}

static void respond_str(siod_peer *p, const sio_relay_frame *req,
                        uint16_t status, int json, const char *body)
{
    respond(p, req, status, json, body, strlen(body));
}

static void sid_text(const sio_relay_frame *f, char out[SIO_SID_LEN + 1])
{
    for (size_t i = 0; i < SIO_SID_LEN; i++) {
        unsigned char c = (unsigned char)f->sid[i];
        out[i] = (c > 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[SIO_SID_LEN] = '\0';
}

static siod_session *find_session(const char sid[SIO_SID_LEN])
{
    return siod_hash_find(&reg.sessions, siod_hash_bytes(sid, SIO_SID_LEN),
                          sid);
}

static struct binding *find_binding(const siod_peer *p, uint64_t conn)
{
    struct conn_key k = { p->id, conn };
    return siod_hash_find(&reg.conns, siod_hash_u64pair(k.peer, k.conn), &k);
}

/* Returns the new binding, or NULL if memory runs out. */
static struct binding *bind_conn(siod_peer *p, uint64_t conn, siod_session *s,
                                 enum bind_kind kind)
{
    struct binding *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    b->peer = p;
    b->conn = conn;
    b->s = s;
    b->kind = kind;
    b->hash = siod_hash_u64pair(p->id, conn);
    if (siod_hash_insert(&reg.conns, b->hash, b) < 0) {
        free(b);
        return NULL;
    }
    b->pnext = p->bindings;
    if (p->bindings != NULL)
        p->bindings->pprev = b;
    p->bindings = b;
    return b;
}

static void unbind(struct binding *b)
{
    struct conn_key k = { b->peer->id, b->conn };
    siod_hash_remove(&reg.conns, b->hash, &k);
    if (b->pprev != NULL)
        b->pprev->pnext = b->pnext;
    else
        b->peer->bindings = b->pnext;
    if (b->pnext != NULL)
        b->pnext->pprev = b->pprev;
    free(b);
}

/* Checks that an OPEN/UPGRADE body is a well-formed key/value list. */
static int info_valid(const sio_relay_frame *f)
{
    size_t off = 0;
    sio_relay_kv kv;
    int rc;
    while ((rc = sio_relay_kv_next(f->body, f->len, &off, &kv)) == SIO_OK)
        ;
    return rc == SIO_DONE;
}

static void schedule_deferred(void)
{
    event_active(reg.deferred, EV_WRITE, 0);
}

/* ---- outbound queue ---------------------------------------------------- */

static void queue_clear(siod_session *s)
{
    struct qpkt *q = s->q_head;
    while (q != NULL) {
        struct qpkt *next = q->next;
        siod_buf_unref(q->ref);
        free(q);
        q = next;
    }
    s->q_head = s->q_tail = NULL;
    s->q_count = 0;
    s->q_bytes = 0;
}

/* Encodes a polling payload: the queued packets (if with_queue; the queue
 * is then cleared) followed by one packet of type extra (-1: none).
 * Returns a malloc'd buffer with *len set (NULL with *len 0 when there is
 * nothing to encode), or NULL with *len 1 when memory runs out. */
static unsigned char *payload_encode(siod_session *s, int with_queue,
                                     int extra, size_t *len)
{
    sio_eio_packet pkt;
    size_t total = 0, n = 0, off = 0;

    if (with_queue) {
        for (struct qpkt *q = s->q_head; q != NULL; q = q->next) {
            pkt = (sio_eio_packet){ q->type, q->binary, q->ptr, q->len };
            total += sio_eio_encoded_len(&pkt, 1) + (n++ > 0);
        }
    }
    if (extra >= 0) {
        pkt = (sio_eio_packet){ extra, 0, NULL, 0 };
        total += sio_eio_encoded_len(&pkt, 1) + (n > 0);
    }
    *len = 0;
    if (total == 0)
        return NULL;
    unsigned char *buf = malloc(total);
    if (buf == NULL) {
        *len = 1;
        return NULL;
    }
    n = 0;
    if (with_queue) {
        for (struct qpkt *q = s->q_head; q != NULL; q = q->next) {
            if (n++ > 0)
                buf[off++] = SIO_EIO_SEPARATOR;
            pkt = (sio_eio_packet){ q->type, q->binary, q->ptr, q->len };
            off += sio_eio_encode(buf + off, &pkt, 1);
        }
        queue_clear(s);
    }
    if (extra >= 0) {
        if (n > 0)
            buf[off++] = SIO_EIO_SEPARATOR;
        pkt = (sio_eio_packet){ extra, 0, NULL, 0 };
        off += sio_eio_encode(buf + off, &pkt, 1);
    }
    *len = off;
    return buf;
}

/* Answers the held GET with the queued packets (if with_queue) followed
 * by one packet of type extra (-1: none; a noop if nothing else), and
 * forgets the GET. */
static void answer_get(siod_session *s, int with_queue, int extra)
{
    struct binding *b = s->get;
    size_t len;

    if (b == NULL)
        return;
    if (extra < 0 && (!with_queue || s->q_head == NULL))
        extra = SIO_EIO_NOOP;
    unsigned char *buf = payload_encode(s, with_queue, extra, &len);
    if (buf == NULL) {
        siod_log_limited(SIOD_LOG_ERROR, "session %s: out of memory "
                         "answering a poll", s->sid);
        peer_send(b->peer, SIO_R_RESPONSE, 0, 500, b->conn, s->sid, NULL, 0,
                  NULL, 0);
    } else {
        if (peer_send(b->peer, SIO_R_RESPONSE, 0, 200, b->conn, s->sid, buf,
                      len, NULL, 0) < 0 && !b->peer->dead)
            /* too big for the module: the request must still end */
            peer_send(b->peer, SIO_R_RESPONSE, 0, 500, b->conn, s->sid, NULL,
                      0, NULL, 0);
        free(buf);
    }
    unbind(b);
    s->get = NULL;
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

/* A message packet in a shared buffer as a WebSocket message: text is "4"
 * and the payload, from the headroom byte; binary is the payload alone. */
static size_t ws_body_off(int binary)
{
    return binary ? 1 : 0;
}

static size_t ws_body_len(const siod_buf *buf, int binary)
{
    return binary ? buf->len : buf->len + 1;
}

/* Sends the message packet in shared buffer buf as its own WebSocket
 * message on b; volatile_ marks it SIO_RF_VOLATILE. Returns 0 or -1. */
static int ws_send_shared(siod_session *s, struct binding *b, siod_buf *buf,
                          int binary, int volatile_)
{
    sio_relay_frame f;
    siod_peer *p = b->peer;

    if (p->dead)
        return -1;
    memset(&f, 0, sizeof f);
    f.type = SIO_R_WS_SEND;
    f.flags = (binary ? SIO_RF_BINARY : 0) |
              (volatile_ ? SIO_RF_VOLATILE : 0);
    f.conn = b->conn;
    memcpy(f.sid, s->sid, SIO_SID_LEN);
    if (buf->len + 1 > UINT32_MAX)
        return -1;
    f.len = (uint32_t)ws_body_len(buf, binary);
    return p->ops->send_shared(p->ctx, &f, NULL, 0, buf, ws_body_off(binary));
}

/* Sends one packet as its own WebSocket message on b. Returns 0 or -1. */
static int ws_send_packet(siod_session *s, struct binding *b, int type,
                          int binary, const void *data, size_t len)
{
    sio_eio_packet pkt = { type, binary, data, len };
    size_t n = sio_eio_encoded_len(&pkt, 0);
    unsigned char small[64];
    unsigned char *buf = n <= sizeof small ? small : malloc(n);
    if (buf == NULL)
        return -1;
    n = sio_eio_encode(buf, &pkt, 0);
    int rc = peer_send(b->peer, SIO_R_WS_SEND, binary ? SIO_RF_BINARY : 0, 0,
                       b->conn, s->sid, buf, n, NULL, 0);
    if (buf != small)
        free(buf);
    return rc;
}

static void session_close_ex(siod_session *s, const char *reason,
                             const char *detail, int client_side,
                             unsigned ws_code);
static void upgrade_timeout_cb(evutil_socket_t fd, short what, void *arg);
static void upgrade_check_cb(evutil_socket_t fd, short what, void *arg);

/* Sends a packet on the current transport: at once on a WebSocket, else
 * through the polling queue. shared, if not NULL, is a message packet's
 * buffer (data and len are then its payload) that is referenced rather
 * than copied; volatile_ marks such a packet's WS_SEND SIO_RF_VOLATILE.
 * Returns 0, or -1 if the session is closed or had to be closed (queue
 * overflow, broken link). */
static int send_packet_vol(siod_session *s, int type, int binary,
                           const void *data, size_t len, siod_buf *shared,
                           int volatile_)
{
    if (s->state == ST_CLOSED)
        return -1;
    if (s->state == ST_WEBSOCKET) {
        if (s->ws != NULL &&
            (shared != NULL ? ws_send_shared(s, s->ws, shared, binary,
                                             volatile_)
                            : ws_send_packet(s, s->ws, type, binary, data,
                                             len)) == 0)
            return 0;
        session_close_ex(s, "transport error", "websocket write failed", 0,
                         CLOSE_NORMAL);
        return -1;
    }
    if (s->q_count >= QUEUE_MAX_PACKETS || len > QUEUE_MAX_BYTES ||
        s->q_bytes + len > QUEUE_MAX_BYTES) {
        session_close_ex(s, "transport error", "polling queue full", 0,
                         CLOSE_NORMAL);
        return -1;
    }
    struct qpkt *q = malloc(sizeof *q + (shared != NULL ? 0 : len));
    if (q == NULL) {
        session_close_ex(s, "transport error", "out of memory", 0,
                         CLOSE_NORMAL);
        return -1;
    }
    q->next = NULL;
    q->type = type;
    q->binary = binary;
    q->len = len;
    q->ref = shared != NULL ? siod_buf_ref(shared) : NULL;
    q->ptr = shared != NULL ? siod_buf_data(shared) : q->data;
    if (shared == NULL && len > 0)
        memcpy(q->data, data, len);
    if (s->q_tail != NULL)
        s->q_tail->next = q;
    else
        s->q_head = q;
    s->q_tail = q;
    s->q_count++;
    s->q_bytes += len;
    if (s->get != NULL)
        schedule_flush(s);
    return 0;
}

/* send_packet_vol for a packet that is not volatile. */
static int send_packet_ex(siod_session *s, int type, int binary,
                          const void *data, size_t len, siod_buf *shared)
{
    return send_packet_vol(s, type, binary, data, len, shared, 0);
}

static int send_packet(siod_session *s, int type, int binary,
                       const void *data, size_t len)
{
    return send_packet_ex(s, type, binary, data, len, NULL);
}

/* ---- lifecycle --------------------------------------------------------- */

static void session_free(siod_session *s)
{
    if (s == NULL)
        return;
    queue_clear(s);
    if (s->heartbeat != NULL)
        event_free(s->heartbeat);
    if (s->upgrade_timer != NULL)
        event_free(s->upgrade_timer);
    if (s->check_timer != NULL)
        event_free(s->check_timer);
    free(s->info);
    free(s);
}

/* Recently closed polling sessions whose next GET still has an answer
 * (siod_closed.c holds them).
 * - NOOP: the client closed with a close packet while no GET was held. Its
 *   GET and POST travel through different httpd children, so the GET that
 *   was in flight may reach siod after the close: it gets the noop it would
 *   have had had it come first.
 * - PAYLOAD / CLOSE: the server closed the session (siod_session_close)
 *   with packets still queued (a Socket.IO DISCONNECT, say). As the
 *   reference does, the queued packets go to the next GET and the close
 *   packet to the one after, so the client handles them before the close.
 * Each entry answers its GETs within a short grace, then is forgotten. */
#define CLOSED_RING 256
#define CLOSED_GRACE_MS 1000

static uint64_t loop_now_ms(void)
{
    struct timeval tv;
    event_base_gettimeofday_cached(reg.base, &tv);
    return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

/* Runs the ring's expiry at the loop's ms time next (an entry's end). */
static void closed_arm(uint64_t now, uint64_t next)
{
    /* +1: an entry ends once the clock is past its time */
    uint64_t ms = next > now ? next - now + 1 : 1;
    struct timeval tv = { (time_t)(ms / 1000),
                          (suseconds_t)(ms % 1000) * 1000 };
    evtimer_add(reg.closed_timer, &tv);
}

/* Frees what expired entries hold as soon as they expire, whatever the
 * traffic (a slot was otherwise emptied only when reused). */
static void closed_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    uint64_t now = loop_now_ms();
    uint64_t next = siod_closed_expire(reg.closed, now);
    siod_log_debug("closed sessions: %zu answers held, %zu bytes",
                   siod_closed_count(reg.closed),
                   siod_closed_bytes(reg.closed));
    if (next != 0)
        closed_arm(now, next);
}

/* Remembers s; takes ownership of payload (may be NULL). */
static void closed_remember(const siod_session *s, enum siod_closed_kind kind,
                            unsigned char *payload, size_t len)
{
    uint64_t now = loop_now_ms();
    unsigned dropped = siod_closed_remember(reg.closed, s->sid, kind, payload,
                                            len, now);
    if (dropped > 0) {
        /* one line per 10 s at most: a client can cause this at will */
        reg.closed_dropped += dropped;
        if (reg.closed_warned_ms == 0 || now - reg.closed_warned_ms >= 10000) {
            siod_log(SIOD_LOG_WARN, "closed sessions: %u queued payload(s) "
                     "dropped to keep within -R %zu bytes (their clients get "
                     "the close packet alone)", reg.closed_dropped,
                     reg.cfg.closed_max_bytes);
            reg.closed_warned_ms = now;
            reg.closed_dropped = 0;
        }
    }
    if (!evtimer_pending(reg.closed_timer, NULL))
        closed_arm(now, now + CLOSED_GRACE_MS);
}

/* Answers a GET for a session that is no longer registered if the ring
 * remembers it; returns 1 if it did, 0 if sid is simply unknown. */
static int closed_answer(siod_peer *p, const sio_relay_frame *f)
{
    siod_closed_answer a;

    if (!siod_closed_take(reg.closed, f->sid, loop_now_ms(), &a))
        return 0;
    switch (a.kind) {
    case SIOD_CLOSED_NOOP:
        respond_str(p, f, 200, 0, "6");
        break;
    case SIOD_CLOSED_PAYLOAD:
        respond(p, f, 200, 0, (const char *)a.payload, a.len);
        free(a.payload);
        break;
    case SIOD_CLOSED_CLOSE:
        respond_str(p, f, 200, 0, "1");
        break;
    }
    return 1;
}

static void session_close_ex(siod_session *s, const char *reason,
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
    addr_release(s->addr);
    s->addr = NULL;

    event_del(s->heartbeat);
    if (s->upgrade_timer != NULL)
        event_del(s->upgrade_timer);
    if (s->check_timer != NULL)
        event_del(s->check_timer);

    if (client_side && s->get == NULL && !s->websocket)
        closed_remember(s, SIOD_CLOSED_NOOP, NULL, 0);
    if (s->get != NULL) {
        if (client_side)
            answer_get(s, 0, SIO_EIO_NOOP);
        else
            answer_get(s, 1, SIO_EIO_CLOSE);
    }
    if (s->probe != NULL) {
        peer_send(s->probe->peer, SIO_R_WS_CLOSE, 0, (uint16_t)ws_code,
                  s->probe->conn, s->sid, NULL, 0, NULL, 0);
        unbind(s->probe);
        s->probe = NULL;
    }
    if (s->ws != NULL) {
        peer_send(s->ws->peer, SIO_R_WS_CLOSE, 0, (uint16_t)ws_code,
                  s->ws->conn, s->sid, NULL, 0, NULL, 0);
        unbind(s->ws);
        s->ws = NULL;
    }
    queue_clear(s);

    /* The upper layer hears of it from the loop (deferred_cb), never from
     * inside this call: a close can start inside any write the upper layer
     * or an application makes, and tearing down its objects there would
     * free what its callers still use. */
    s->close_reason = reason;
    s->dead_next = reg.dead_list;
    reg.dead_list = s;
    schedule_deferred();
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
            answer_get(s, 1, -1);
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
        session_close_ex(s, "ping timeout", NULL, 0, CLOSE_NORMAL);
        return;
    }
    if (send_packet(s, SIO_EIO_PING, 0, NULL, 0) < 0)
        return;
    s->awaiting_pong = 1;
    evtimer_add(s->heartbeat, reg.tv_timeout);
}

static void on_pong(siod_session *s)
{
    s->awaiting_pong = 0;
    evtimer_add(s->heartbeat, reg.tv_interval); /* re-adding reschedules */
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
 * under client address addr. Returns it, or NULL (logged) if memory or
 * randomness runs out. */
static siod_session *session_new(const sio_relay_frame *f, enum sess_state st,
                                 const struct addr_key *addr)
{
    siod_session *s = calloc(1, sizeof *s);
    if (s == NULL)
        goto fail;
    s->state = st;
    s->websocket = st == ST_WEBSOCKET;
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
    for (int i = 0;; i++) {
        int rc = siod_sid_generate(s->sid);
        if (rc < 0) {
            siod_log_limited(SIOD_LOG_ERROR, "session id generation "
                             "failed: %s", strerror(-rc));
            goto fail;
        }
        if (find_session(s->sid) == NULL)
            break;
        if (i == SID_TRIES)
            goto fail;
    }
    s->sid[SIO_SID_LEN] = '\0';
    s->hash = siod_hash_bytes(s->sid, SIO_SID_LEN);
    s->addr = addr_acquire(addr);
    if (s->addr == NULL)
        goto fail;
    if (siod_hash_insert(&reg.sessions, s->hash, s) < 0)
        goto fail;
    s->next = reg.open_list;
    if (reg.open_list != NULL)
        reg.open_list->prev = s;
    reg.open_list = s;
    reg.count++;
    return s;
fail:
    siod_log_limited(SIOD_LOG_ERROR, "cannot create a session (out of "
                     "resources)");
    if (s != NULL)
        addr_release(s->addr);
    session_free(s);
    return NULL;
}

/* Writes the handshake packet ("0{...}") into buf; returns its length. */
static size_t handshake_packet(const siod_session *s, int upgrades,
                               char *buf, size_t cap)
{
    int n = snprintf(buf, cap,
                     "0{\"sid\":\"%s\",\"upgrades\":[%s],\"pingInterval\":%u,"
                     "\"pingTimeout\":%u,\"maxPayload\":%zu}",
                     s->sid, upgrades ? "\"websocket\"" : "",
                     reg.cfg.ping_interval_ms, reg.cfg.ping_timeout_ms,
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
 * all, sessions of its client address) and logs it, throttled. Returns 1
 * if it was refused, 0 if the session may open. */
static int open_refused(siod_peer *p, const sio_relay_frame *f,
                        const struct addr_key *addr)
{
    const struct addr_count *a;
    const siod_engine_config *c = &reg.cfg;
    int alen = (int)addr->len;

    if (c->max_handshake_bytes > 0 && f->len > c->max_handshake_bytes) {
        siod_log_throttled(&reg.refusals, SIOD_LOG_INFO, "handshake from %.*s "
                           "refused: %u bytes of headers and query over "
                           "--max-handshake-bytes %zu", alen, addr->addr,
                           (unsigned)f->len, c->max_handshake_bytes);
        respond_str(p, f, 431, 1, json_hs_too_large);
        return 1;
    }
    if (c->max_sessions > 0 && reg.count >= c->max_sessions) {
        siod_log_throttled(&reg.refusals, SIOD_LOG_WARN, "handshake from %.*s "
                           "refused: %zu sessions open (--max-sessions)",
                           alen, addr->addr, reg.count);
        respond_str(p, f, 503, 1, json_too_many);
        return 1;
    }
    a = addr_find(addr);
    if (c->max_sessions_per_addr > 0 && a != NULL &&
        a->count >= c->max_sessions_per_addr && !addr_is_loopback(addr)) {
        siod_log_throttled(&reg.refusals, SIOD_LOG_INFO, "handshake from %.*s "
                           "refused: %zu sessions open from that address "
                           "(--max-sessions-per-address)", alen, addr->addr,
                           a->count);
        respond_str(p, f, 429, 1, json_too_many_addr);
        return 1;
    }
    return 0;
}

/* ---- frame handlers ---------------------------------------------------- */

int siod_session_relay_open(siod_peer *p, const sio_relay_frame *f)
{
    char hs[256];
    int websocket = (f->flags & SIO_RF_WEBSOCKET) != 0;

    if (!info_valid(f)) {
        siod_log_limited(SIOD_LOG_WARN, "link %s: OPEN with a malformed "
                         "info list", p->name);
        return -1;
    }
    if (websocket && find_binding(p, f->conn) != NULL) {
        siod_log_limited(SIOD_LOG_WARN, "link %s: OPEN reuses conn %llu",
                         p->name, (unsigned long long)f->conn);
        return -1;
    }
    struct addr_key addr = open_addr(f);
    if (open_refused(p, f, &addr))
        return 0;
    siod_session *s = session_new(f, websocket ? ST_WEBSOCKET : ST_POLLING,
                                  &addr);
    if (s == NULL) {
        respond_str(p, f, 500, 0, "Internal Server Error");
        return 0;
    }
    if (websocket) {
        s->ws = bind_conn(p, f->conn, s, B_WS);
        if (s->ws == NULL) {
            respond_str(p, f, 500, 0, "Internal Server Error");
            session_close_ex(s, "transport error", "out of memory", 0,
                             CLOSE_NORMAL);
            return 0;
        }
        peer_send(p, SIO_R_WS_ACCEPT, 0, 0, f->conn, s->sid, NULL, 0, NULL, 0);
        size_t n = handshake_packet(s, 0, hs, sizeof hs);
        peer_send(p, SIO_R_WS_SEND, 0, 0, f->conn, s->sid, hs, n, NULL, 0);
    } else {
        sio_relay_kv up;
        int upgrades = sio_relay_kv_find(f->body, f->len, "upgrades", &up) ==
                           SIO_OK && up.val_len == 9 &&
                       memcmp(up.val, "websocket", 9) == 0;
        size_t n = handshake_packet(s, upgrades, hs, sizeof hs);
        peer_send(p, SIO_R_RESPONSE, 0, 200, f->conn, s->sid, hs, n, NULL, 0);
    }
    log_open(s, p);
    evtimer_add(s->heartbeat, reg.tv_interval);
    if (reg.app->on_open != NULL)
        reg.app->on_open(reg.app_state, s);
    return 0;
}

int siod_session_relay_upgrade(siod_peer *p, const sio_relay_frame *f)
{
    if (!info_valid(f)) {
        siod_log_limited(SIOD_LOG_WARN, "link %s: UPGRADE with a malformed "
                         "info list", p->name);
        return -1;
    }
    if (find_binding(p, f->conn) != NULL) {
        siod_log_limited(SIOD_LOG_WARN, "link %s: UPGRADE reuses conn %llu",
                         p->name, (unsigned long long)f->conn);
        return -1;
    }
    siod_session *s = find_session(f->sid);
    if (s == NULL) {
        char sid[SIO_SID_LEN + 1];
        sid_text(f, sid);
        siod_log_debug("UPGRADE for unknown session %s", sid);
        respond_str(p, f, 400, 0, "Session ID unknown");
        return 0;
    }
    if (s->state != ST_POLLING) {
        /* As the reference: a second WebSocket for a session that is
         * upgrading or upgraded completes its handshake and is closed at
         * once; the conn is never bound, so its WS_CLOSED is ignored. */
        siod_log_debug("session %s: UPGRADE refused in state %s", s->sid,
                       state_names[s->state]);
        peer_send(p, SIO_R_WS_ACCEPT, 0, 0, f->conn, s->sid, NULL, 0, NULL, 0);
        peer_send(p, SIO_R_WS_CLOSE, 0, SIO_WS_CLOSE_NO_STATUS, f->conn,
                  s->sid, NULL, 0, NULL, 0);
        return 0;
    }
    if (s->upgrade_timer == NULL)
        s->upgrade_timer = evtimer_new(reg.base, upgrade_timeout_cb, s);
    if (s->check_timer == NULL)
        s->check_timer = event_new(reg.base, -1, EV_PERSIST, upgrade_check_cb,
                                   s);
    s->probe = s->upgrade_timer != NULL && s->check_timer != NULL
                   ? bind_conn(p, f->conn, s, B_PROBE)
                   : NULL;
    if (s->probe == NULL) {
        respond_str(p, f, 500, 0, "Internal Server Error");
        return 0;
    }
    peer_send(p, SIO_R_WS_ACCEPT, 0, 0, f->conn, s->sid, NULL, 0, NULL, 0);
    transit(s, ST_UPGRADE_PROBE, "websocket probe accepted");
    evtimer_add(s->upgrade_timer, reg.tv_upgrade);
    return 0;
}

int siod_session_relay_poll_get(siod_peer *p, const sio_relay_frame *f)
{
    siod_session *s = find_session(f->sid);
    if (s == NULL) {
        char sid[SIO_SID_LEN + 1];
        sid_text(f, sid);
        if (closed_answer(p, f)) {
            siod_log_debug("GET for just-closed session %s answered", sid);
            return 0;
        }
        siod_log_debug("GET for unknown session %s", sid);
        respond_str(p, f, 400, 1, json_unknown_sid);
        return 0;
    }
    if (s->state == ST_WEBSOCKET) {
        siod_log_debug("session %s: GET on a websocket session", s->sid);
        respond_str(p, f, 400, 1, json_bad_request);
        return 0;
    }
    if (find_binding(p, f->conn) != NULL) {
        siod_log_limited(SIOD_LOG_WARN, "link %s: POLL_GET reuses conn "
                         "%llu", p->name, (unsigned long long)f->conn);
        return -1;
    }
    if (s->get != NULL) {
        /* as the reference: the session ends, the new poll gets a 400 */
        session_close_ex(s, "transport error", "overlap from client", 0,
                         CLOSE_NORMAL);
        respond_str(p, f, 400, 1, json_bad_request);
        return 0;
    }
    s->get = bind_conn(p, f->conn, s, B_GET);
    if (s->get == NULL) {
        respond_str(p, f, 500, 0, "Internal Server Error");
        return 0;
    }
    /* In upgrade-wait an empty poll is ended by upgrade_check_cb. */
    if (s->q_head != NULL)
        answer_get(s, 1, -1);
    return 0;
}

/* A packet that arrived on the session's current transport. */
static void handle_packet(siod_session *s, const sio_eio_packet *pkt)
{
    switch (pkt->type) {
    case SIO_EIO_PONG:
        on_pong(s);
        break;
    case SIO_EIO_CLOSE:
        session_close_ex(s, "transport close", "client sent close", 1,
                         CLOSE_NORMAL);
        break;
    case SIO_EIO_MESSAGE:
        if (reg.app->on_message != NULL)
            reg.app->on_message(reg.app_state, s, pkt->data, pkt->len,
                                pkt->binary);
        break;
    case SIO_EIO_PING:
        /* v4: the server pings; the reference treats this as an error */
        session_close_ex(s, "transport error", "invalid heartbeat direction",
                         0, CLOSE_NORMAL);
        break;
    default:
        /* open, upgrade, noop: nothing to do, as the reference */
        break;
    }
}

int siod_session_relay_poll_post(siod_peer *p, const sio_relay_frame *f,
                                 unsigned char *body)
{
    siod_session *s = find_session(f->sid);
    if (s == NULL) {
        char sid[SIO_SID_LEN + 1];
        sid_text(f, sid);
        siod_log_debug("POST for unknown session %s", sid);
        respond_str(p, f, 400, 1, json_unknown_sid);
        return 0;
    }
    if (s->state == ST_WEBSOCKET) {
        siod_log_debug("session %s: POST on a websocket session", s->sid);
        respond_str(p, f, 400, 1, json_bad_request);
        return 0;
    }
    sio_eio_payload_iter it;
    sio_eio_packet pkt;
    int rc = SIO_DONE;
    sio_eio_payload_init(&it, body, f->len);
    while (s->state != ST_CLOSED &&
           (rc = sio_eio_payload_next(&it, &pkt)) == SIO_OK)
        handle_packet(s, &pkt);
    if (s->state != ST_CLOSED && rc != SIO_DONE) {
        session_close_ex(s, "parse error", sio_strerror(rc), 0, CLOSE_NORMAL);
        respond_str(p, f, 400, 1, json_bad_request);
        return 0;
    }
    respond_str(p, f, 200, 0, "ok");
    return 0;
}

static void drop_probe(siod_session *s, int send_close, const char *why)
{
    if (s->probe == NULL)
        return;
    if (send_close)
        peer_send(s->probe->peer, SIO_R_WS_CLOSE, 0, CLOSE_NORMAL,
                  s->probe->conn, s->sid, NULL, 0, NULL, 0);
    unbind(s->probe);
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
        answer_get(s, 1, s->q_head != NULL ? -1 : SIO_EIO_NOOP);
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
        struct binding *b = s->get;
        s->get = NULL;
        peer_send(b->peer, SIO_R_RESPONSE, SIO_RF_JSON, 400, b->conn, s->sid,
                  json_bad_request, sizeof json_bad_request - 1, NULL, 0);
        unbind(b);
    }
    s->ws = s->probe;
    s->ws->kind = B_WS;
    s->probe = NULL;
    transit(s, ST_WEBSOCKET, "upgrade packet");
    s->websocket = 1;
    siod_log_limited(SIOD_LOG_INFO, "session %s upgraded to websocket, "
                     "link %s", s->sid, s->ws->peer->name);
    while (s->q_head != NULL && s->state == ST_WEBSOCKET) {
        struct qpkt *q = s->q_head;
        s->q_head = q->next;
        if (s->q_head == NULL)
            s->q_tail = NULL;
        s->q_count--;
        s->q_bytes -= q->len;
        send_packet_ex(s, q->type, q->binary, q->ptr, q->len, q->ref);
        siod_buf_unref(q->ref);
        free(q);
    }
}

static void probe_message(siod_session *s, const sio_eio_packet *pkt)
{
    if (pkt->type == SIO_EIO_PING && pkt->len == 5 &&
        memcmp(pkt->data, "probe", 5) == 0) {
        static const char pong[] = "3probe";
        peer_send(s->probe->peer, SIO_R_WS_SEND, 0, 0, s->probe->conn, s->sid,
                  pong, sizeof pong - 1, NULL, 0);
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

int siod_session_relay_ws_msg(siod_peer *p, const sio_relay_frame *f)
{
    struct binding *b = find_binding(p, f->conn);
    if (b == NULL || b->kind == B_GET) {
        siod_log_debug("link %s: WS_MSG for unknown conn %llu", p->name,
                       (unsigned long long)f->conn);
        return 0;
    }
    siod_session *s = b->s;
    sio_eio_packet pkt;
    int rc = sio_eio_decode_ws(f->body, f->len,
                               (f->flags & SIO_RF_BINARY) != 0, &pkt);
    if (b->kind == B_PROBE) {
        if (rc != SIO_OK)
            drop_probe(s, 1, "malformed packet on probe");
        else
            probe_message(s, &pkt);
        return 0;
    }
    if (rc != SIO_OK) {
        session_close_ex(s, "parse error", sio_strerror(rc), 0, CLOSE_NORMAL);
        return 0;
    }
    handle_packet(s, &pkt);
    return 0;
}

/* b's module-side handle is gone (cancelled poll, closed WebSocket). */
static void handle_gone(struct binding *b, const char *why)
{
    siod_session *s = b->s;
    switch (b->kind) {
    case B_GET:
        unbind(b);
        s->get = NULL;
        session_close_ex(s, "transport error", why != NULL ? why :
                         "poll connection closed prematurely", 0,
                         CLOSE_NORMAL);
        break;
    case B_PROBE:
        drop_probe(s, 0, "probe websocket closed");
        break;
    case B_WS:
        unbind(b);
        s->ws = NULL;
        session_close_ex(s, "transport close", why, 0, CLOSE_NORMAL);
        break;
    }
}

int siod_session_relay_cancel(siod_peer *p, const sio_relay_frame *f)
{
    struct binding *b = find_binding(p, f->conn);
    if (b == NULL) {
        /* also a released GET that was answered before the release came:
         * that answer is the one the module waits for */
        siod_log_debug("link %s: CANCEL for unknown conn %llu", p->name,
                       (unsigned long long)f->conn);
        return 0;
    }
    if ((f->flags & SIO_RF_KEEP) && b->kind == B_GET) {
        /* The module's child is stopping: end the GET with a bare noop
         * and keep the session. Queued packets stay for the client's next
         * GET, so an answer the module can no longer deliver loses none. */
        siod_log_debug("session %s: held GET released by link %s",
                       b->s->sid, p->name);
        answer_get(b->s, 0, SIO_EIO_NOOP);
        return 0;
    }
    handle_gone(b, NULL);
    return 0;
}

int siod_session_relay_ws_closed(siod_peer *p, const sio_relay_frame *f)
{
    struct binding *b = find_binding(p, f->conn);
    if (b == NULL) {
        siod_log_debug("link %s: WS_CLOSED for unknown conn %llu", p->name,
                       (unsigned long long)f->conn);
        return 0;
    }
    if (b->kind == B_WS)
        siod_log_debug("session %s: websocket closed, code %u", b->s->sid,
                       (unsigned)f->status);
    handle_gone(b, NULL);
    return 0;
}

int siod_session_relay_abort(siod_peer *p, const sio_relay_frame *f)
{
    siod_session *s = find_session(f->sid);
    if (s == NULL) {
        char sid[SIO_SID_LEN + 1];
        sid_text(f, sid);
        siod_log_debug("ABORT for unknown session %s", sid);
        return 0;
    }
    char detail[64];
    snprintf(detail, sizeof detail, "aborted by the module, status %u",
             (unsigned)f->status);
    session_close_ex(s, "transport error", detail, 0, CLOSE_NORMAL);
    return 0;
}

/* ---- peers ------------------------------------------------------------- */

siod_peer *siod_peer_new(const siod_peer_ops *ops, void *ctx, const char *name,
                         unsigned caps, uint32_t max_body)
{
    siod_peer *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->ops = ops;
    p->ctx = ctx;
    p->caps = caps;
    p->max_body = max_body;
    if (caps & SIO_RELAY_CAP_FANOUT)
        reg.fan_peers++;
    p->id = ++reg.next_peer_id;
    snprintf(p->name, sizeof p->name, "%s", name != NULL ? name : "?");
    return p;
}

void siod_peer_free(siod_peer *p)
{
    if (p == NULL)
        return;
    p->dead = 1;
    if (p->caps & SIO_RELAY_CAP_FANOUT)
        reg.fan_peers--;
    /* each step unbinds at least the head, so this terminates */
    while (p->bindings != NULL)
        handle_gone(p->bindings, "relay link closed");
    free(p);
}

/* ---- registry ---------------------------------------------------------- */

static const struct timeval *common_timeout(unsigned ms)
{
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
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
    siod_hash_init(&reg.conns, binding_eq);
    siod_hash_init(&reg.addrs, addr_eq);
    reg.deferred = event_new(base, -1, 0, deferred_cb, NULL);
    reg.closed = siod_closed_new(CLOSED_RING, CLOSED_GRACE_MS,
                                 cfg->closed_max_bytes);
    reg.closed_timer = evtimer_new(base, closed_timer_cb, NULL);
    reg.tv_interval = common_timeout(cfg->ping_interval_ms);
    reg.tv_timeout = common_timeout(cfg->ping_timeout_ms);
    reg.tv_upgrade = common_timeout(UPGRADE_TIMEOUT_MS);
    reg.tv_check = common_timeout(UPGRADE_CHECK_MS);
    if (reg.deferred == NULL || reg.closed == NULL ||
        reg.closed_timer == NULL ||
        reg.tv_interval == NULL || reg.tv_timeout == NULL ||
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
        session_close_ex(reg.open_list, reason, NULL, 0, ws_code);
}

void siod_sessions_cleanup(void)
{
    siod_sessions_close_all("server shutting down", 1001);
    if (reg.deferred != NULL) {
        deferred_cb(-1, 0, NULL);
        event_free(reg.deferred);
        reg.deferred = NULL;
    }
    siod_closed_free(reg.closed);
    reg.closed = NULL;
    if (reg.closed_timer != NULL)
        event_free(reg.closed_timer);
    reg.closed_timer = NULL;
    siod_hash_destroy(&reg.sessions);
    siod_hash_destroy(&reg.conns);
    siod_hash_destroy(&reg.addrs);
    if (reg.app_ready && reg.app->destroy != NULL)
        reg.app->destroy(reg.app_state);
    reg.app_ready = 0;
}

size_t siod_sessions_count(void)
{
    return reg.count;
}

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
 * upgrading keeps its queue in order through the per-session path. */
static int fan_eligible(const siod_session *s, size_t max_msg)
{
    const siod_peer *p;

    if (s->state != ST_WEBSOCKET || s->ws == NULL || s->q_head != NULL)
        return 0;
    p = s->ws->peer;
    return !p->dead && (p->caps & SIO_RELAY_CAP_FANOUT) &&
           max_msg <= p->max_body && p->max_body - max_msg >= FAN_MIN_OVERHEAD;
}

/* Queues every message of msgs on g's link as WS_FANOUT frames naming g's
 * conns: one frame per message, more only where the module's frame limit
 * asks for it. fan_eligible has checked that each message fits with one
 * conn. Returns 0, or -1 if the link refused a frame. */
static int fan_send(const struct fan_group *g, const siod_shared_msg *msgs,
                    size_t nmsg, int volatile_)
{
    siod_peer *p = g->peer;

    for (size_t m = 0; m < nmsg; m++) {
        int binary = msgs[m].binary != 0;
        size_t mlen = ws_body_len(msgs[m].buf, binary);
        size_t per = (p->max_body - mlen - SIO_RELAY_FANOUT_COUNT_LEN) /
                     SIO_RELAY_FANOUT_CONN_LEN;

        for (size_t i = 0; i < g->count; i += per) {
            size_t k = g->count - i < per ? g->count - i : per;
            sio_relay_frame f;
            struct iovec pre;

            if (p->dead)
                return -1;
            /* the link copies the prefix: wire is free again after */
            pre.iov_base = g->wire;
            pre.iov_len = sio_relay_fanout_encode(
                &f, g->wire, g->conns + i, k, mlen,
                (binary ? SIO_RF_BINARY : 0) |
                    (volatile_ ? SIO_RF_VOLATILE : 0));
            if (pre.iov_len == 0 ||
                p->ops->send_shared(p->ctx, &f, &pre, 1, msgs[m].buf,
                                    ws_body_off(binary)) < 0)
                return -1;
        }
    }
    return 0;
}

/* The per-session path: msgs to s alone, checked for volatility now.
 * Returns 0 if s was sent (or queued) every message, else -1. */
static int send_one(siod_session *s, const siod_shared_msg *msgs, size_t nmsg,
                    int volatile_)
{
    if (s->state == ST_CLOSED)
        return -1;
    if (volatile_ && !siod_session_writable(s)) {
        siod_log_debug("session %s: volatile packet dropped", s->sid);
        return -1;
    }
    for (size_t m = 0; m < nmsg; m++) {
        siod_buf *b = msgs[m].buf;
        /* a failed send closes s: the rest is not sent */
        if (send_packet_vol(s, SIO_EIO_MESSAGE, msgs[m].binary ? 1 : 0,
                            siod_buf_data(b), b->len, b, volatile_) < 0)
            return -1;
    }
    return 0;
}

/* Sorts v's sessions into modes (a group per FANOUT link, FAN_SINGLE,
 * FAN_SKIP) and fills each group's conns. Runs no callback and sends
 * nothing, so the per-peer marks it uses cannot be disturbed. Returns the
 * number of groups (*groups malloc'd, each conns malloc'd or NULL when
 * memory ran out: its sessions then take the per-session path). */
static size_t fan_sort(siod_session *const *v, size_t n, size_t *mode,
                       size_t max_msg, int volatile_,
                       struct fan_group **groups, size_t *singles)
{
    uint64_t gen = ++reg.fan_gen;
    struct fan_group *g = NULL;
    size_t ng = 0, cap = 0, ns = 0;

    for (size_t i = 0; i < n; i++) {
        siod_session *s = v[i];
        siod_peer *p;

        if (s->state == ST_CLOSED) {
            mode[i] = FAN_SKIP;
            continue;
        }
        if (!fan_eligible(s, max_msg)) {
            mode[i] = FAN_SINGLE;
            ns++;
            continue;
        }
        if (volatile_ && !siod_session_writable(s)) {
            siod_log_debug("session %s: volatile packet dropped", s->sid);
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
    return send_packet(s, SIO_EIO_MESSAGE, binary ? 1 : 0, data, len);
}

int siod_session_send_shared(siod_session *s, siod_buf *b, int binary)
{
    return send_packet_ex(s, SIO_EIO_MESSAGE, binary ? 1 : 0,
                          siod_buf_data(b), b->len, b);
}

int siod_session_send_shared_ex(siod_session *s, siod_buf *b, int binary,
                                unsigned flags)
{
    return send_packet_vol(s, SIO_EIO_MESSAGE, binary ? 1 : 0,
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
    int failed = 0;

    if (n == 0 || nmsg == 0)
        return 0;
    for (size_t m = 0; m < nmsg; m++) {
        size_t len = ws_body_len(msgs[m].buf, msgs[m].binary != 0);
        if (len > max_msg)
            max_msg = len;
    }
    /* with no link taking WS_FANOUT, or no memory to sort them, every
     * session takes its own path */
    if (reg.fan_peers > 0 && (mode = malloc(n * sizeof *mode)) != NULL)
        ng = fan_sort(v, n, mode, max_msg, volatile_, &groups, &singles);
    /* the FANOUT frames first: queueing them runs no callback */
    for (size_t k = 0; k < ng; k++) {
        if (groups[k].conns == NULL)
            continue;
        groups[k].failed = fan_send(&groups[k], msgs, nmsg, volatile_) < 0;
        if (groups[k].failed)
            failed = 1;
        else
            sent += groups[k].count;
    }
    /* then the per-session sends, which may close sessions (their
     * on_close runs later, from the loop) */
    for (size_t i = 0; (singles > 0 || failed) && i < n; i++) {
        size_t m = mode != NULL ? mode[i] : FAN_SINGLE;
        if (m == FAN_SINGLE) {
            if (send_one(v[i], msgs, nmsg, volatile_) == 0)
                sent++;
        } else if (m < ng && groups[m].failed) {
            session_close_ex(v[i], "transport error",
                             "websocket write failed", 0, CLOSE_NORMAL);
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

void siod_session_close(siod_session *s, const char *reason)
{
    /* A plain polling session keeps what is queued for it: the packets go
     * out first, the close packet after them (see closed_answer). */
    if (s->state == ST_POLLING && s->q_head != NULL) {
        if (s->get != NULL) {
            answer_get(s, 1, -1);
            closed_remember(s, SIOD_CLOSED_CLOSE, NULL, 0);
        } else {
            size_t len = 0;
            unsigned char *payload = payload_encode(s, 1, -1, &len);
            if (payload != NULL)
                closed_remember(s, SIOD_CLOSED_PAYLOAD, payload, len);
        }
    }
    session_close_ex(s, reason != NULL ? reason : "forced close", NULL, 0,
                     CLOSE_NORMAL);
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

int siod_session_info(const siod_session *s, const char *key,
                      const char **val, size_t *len)
{
    sio_relay_kv kv;
    if (s->info == NULL ||
        sio_relay_kv_find(s->info, s->info_len, key, &kv) != SIO_OK)
        return -1;
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
