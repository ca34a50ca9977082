/* The engine layer's private view (engine/), shared by its files and by
 * nothing else: the session, peer and binding structs and the functions
 * one file of the layer offers another. Who calls whom (never back up):
 *   siod_session_relay.c  (frame handlers, siod_peer_free)
 *     -> siod_session_api.c (siod_engine.h: sends, multi-send, accessors)
 *     -> siod_session.c     (state machine, transit(), lifecycle, upgrade)
 *     -> siod_poll.c        (polling queue, payloads, held GETs, the
 *                            answers of just-closed sessions)
 *     -> siod_api_call.c    (API requests awaiting the upper layer)
 *     -> siod_peer.c, siod_addr.c (peers and their bindings; sessions per
 *                            client address)
 * A file may skip a level downwards. Single-threaded (event loop). */
#ifndef SIOD_ENGINE_INT_H
#define SIOD_ENGINE_INT_H

#include "siod_closed.h"
#include "siod_engine.h"
#include "sio_eio.h"
#include "sio_relay.h"

#include <event2/event.h>
#include <stdint.h>

/* WebSocket close code of a normal closure. */
#define SIOD_CLOSE_NORMAL 1000

enum siod_sess_state {
    ST_POLLING,        /* long-polling */
    ST_UPGRADE_PROBE,  /* polling; a probe WebSocket is bound, no "2probe"
                        * yet */
    ST_UPGRADE_WAIT,   /* polling paused; "3probe" sent, waiting for "5" */
    ST_WEBSOCKET,      /* on a WebSocket (upgraded or from the start) */
    ST_CLOSED
};

enum siod_bind_kind { B_GET, B_WS, B_PROBE };

/* One module-side handle (held GET, WebSocket, probe WebSocket) that a
 * session is using on one peer; indexed by (peer id, conn). */
struct siod_binding {
    siod_peer *peer;
    uint64_t conn;
    uint64_t hash;
    siod_session *s;
    enum siod_bind_kind kind;
    struct siod_binding *pnext, *pprev;   /* the peer's list */
};

struct siod_peer {
    const siod_peer_ops *ops;
    void *ctx;
    uint64_t id;
    int dead;                        /* being freed: send nothing */
    unsigned caps;                   /* SIO_RELAY_CAP_* from the HELLO */
    uint32_t max_body;               /* the module's largest frame body */
    char name[32];
    struct siod_binding *bindings;
    struct siod_api_call *calls;     /* API requests not yet answered */
    uint64_t fan_gen;                /* multi-send that last grouped it */
    size_t fan_idx;                  /* its group in that multi-send */
};

/* One packet in a polling session's queue. */
struct siod_qpkt {
    struct siod_qpkt *next;
    int type;
    int binary;
    size_t len;
    const unsigned char *ptr;        /* data, or the shared buffer's payload */
    siod_buf *ref;                   /* shared buffer held, or NULL */
    unsigned char data[];
};

struct siod_addr_count;

struct siod_session {
    char sid[SIO_SID_LEN + 1];
    uint64_t hash;
    enum siod_sess_state state;
    siod_session *prev, *next;       /* open sessions */
    siod_session *flush_next;        /* sessions whose held GET to answer */
    int flush_pending;
    siod_session *dead_next;         /* closed: on_close, then free */
    const char *close_reason;        /* for on_close (a string literal) */
    struct event *heartbeat;         /* ping interval, then ping timeout */
    int awaiting_pong;
    struct event *upgrade_timer;     /* created on first upgrade */
    struct event *check_timer;       /* upgrade-wait: ends a held GET */
    struct siod_binding *get;
    struct siod_binding *ws;
    struct siod_binding *probe;
    struct siod_qpkt *q_head, *q_tail;
    size_t q_count, q_bytes;
    unsigned char *info;             /* copy of the OPEN key/values */
    size_t info_len;
    size_t max_payload;
    void *data;                      /* upper layer's */
    int websocket;                   /* 1 once on a WebSocket */
    int eio3;                        /* an Engine.IO 3 client (OPEN's
                                      * "eio"): v3 payloads, client pings,
                                      * binary WebSocket messages with a
                                      * type byte */
    int b64;                         /* Engine.IO 3: no binary in polling
                                      * (OPEN's "b64") */
    struct siod_addr_count *addr;    /* its client address's count */
    int handover;                    /* closing: handed over to the next
                                      * siod (WS_CLOSE with SIO_RF_KEEP) */
};

struct siod_resume {
    siod_peer *peer;
    uint64_t conn;
    char sid[SIO_SID_LEN + 1];
};

/* A message packet in a shared buffer as a WebSocket message: text is "4"
 * and the payload, from the headroom byte; binary is the payload alone.
 * These give that message's offset in the buffer and its length. */
static inline size_t siod_ws_body_off(int binary)
{
    return binary ? 1 : 0;
}

static inline size_t siod_ws_body_len(const siod_buf *buf, int binary)
{
    return binary ? buf->len : buf->len + 1;
}

/* ---- siod_addr.c: open sessions per client address ---------------------- */

/* Open sessions of one client address (--max-sessions-per-address); freed
 * when its last session closes. */
#define SIOD_ADDR_KEY_MAX 64
struct siod_addr_count {
    uint64_t hash;
    size_t count;
    size_t len;
    char addr[SIOD_ADDR_KEY_MAX];
};

/* A client address as a key (not NUL-terminated). */
struct siod_addr_key {
    const char *addr;
    size_t len;
};

/* Sets up / frees the address table. */
void siod_addrs_init(void);
void siod_addrs_cleanup(void);

/* The client address an OPEN names (its "remote_addr", at most
 * SIOD_ADDR_KEY_MAX bytes of it, pointing into f's body; empty if
 * absent). */
struct siod_addr_key siod_addr_from_open(const sio_relay_frame *f);

/* Is k a loopback address (not limited per address)? Returns 1 or 0. */
int siod_addr_is_loopback(const struct siod_addr_key *k);

/* Returns k's entry, or NULL if no session of k is open. */
struct siod_addr_count *siod_addr_find(const struct siod_addr_key *k);

/* Counts one more session for address k. Returns its entry, or NULL if
 * memory runs out. */
struct siod_addr_count *siod_addr_acquire(const struct siod_addr_key *k);

/* One session of a's address closed; NULL is a no-op. */
void siod_addr_release(struct siod_addr_count *a);

/* ---- siod_peer.c: peers, bindings, frames to the module ----------------- */

/* Sets up / frees the (peer, conn) -> binding index. */
void siod_peers_init(void);
void siod_peers_cleanup(void);

/* Returns the number of peers whose HELLO set SIO_RELAY_CAP_FANOUT. */
size_t siod_peers_fanout_count(void);

/* Frees p itself, once it is marked dead and holds no binding. */
void siod_peer_destroy(siod_peer *p);

/* Returns p's binding for conn, or NULL. */
struct siod_binding *siod_binding_find(const siod_peer *p, uint64_t conn);

/* Binds conn of p to s as kind. Returns the new binding (freed with
 * siod_binding_free), or NULL if memory runs out. */
struct siod_binding *siod_binding_new(siod_peer *p, uint64_t conn,
                                      siod_session *s,
                                      enum siod_bind_kind kind);
void siod_binding_free(struct siod_binding *b);

/* Queues one frame on p with body a then b (either may be empty); sid may
 * be NULL (zeros). Returns 0, -EPIPE if p is NULL or dead, or what p's
 * send op returns (siod_peer_ops: -EMSGSIZE, -EPIPE, -ENOMEM, -ENOBUFS). */
int siod_peer_send(siod_peer *p, uint8_t type, uint8_t flags,
                   uint16_t status, uint64_t conn, const char *sid,
                   const void *a, size_t alen, const void *b, size_t blen);

/* Answers the request req with a RESPONSE of status and body (JSON if
 * json, else text). Returns as siod_peer_send (callers answering with a
 * short body may ignore it: a broken link reports itself). */
int siod_peer_respond(siod_peer *p, const sio_relay_frame *req,
                      uint16_t status, int json, const char *body,
                      size_t len);
int siod_peer_respond_str(siod_peer *p, const sio_relay_frame *req,
                          uint16_t status, int json, const char *body);

/* Sends the message packet in shared buffer buf as its own WebSocket
 * message on b for session sid; volatile_ marks it SIO_RF_VOLATILE.
 * Returns 0, -EPIPE if b's peer is dead, -EMSGSIZE if the message cannot
 * be one frame, or what the peer's send_shared op returns. */
int siod_peer_ws_send_shared(const char *sid, struct siod_binding *b,
                             siod_buf *buf, int binary, int volatile_);

/* Sends one packet as its own WebSocket message on b for session sid.
 * Returns 0, -ENOMEM, or what siod_peer_send returns. */
int siod_peer_ws_send_packet(const char *sid, struct siod_binding *b,
                             int type, int binary, const void *data,
                             size_t len);

/* ---- siod_poll.c: polling queue, payloads, held GETs -------------------- */

/* Sets up the answers of just-closed sessions (on base, within
 * closed_max_bytes). Returns 0 or -ENOMEM. */
int siod_poll_init(struct event_base *base, size_t closed_max_bytes);
void siod_poll_cleanup(void);

/* Appends a packet to s's queue (shared, if not NULL, is referenced rather
 * than data copied). Returns 0, or -ENOSPC when the queue is full (its
 * packet or byte bound) or -ENOMEM; the caller then closes s. */
int siod_poll_enqueue(siod_session *s, int type, int binary,
                      const void *data, size_t len, siod_buf *shared);

/* Removes and returns the head of s's queue (NULL if empty); the caller
 * frees it with siod_poll_pkt_free. */
struct siod_qpkt *siod_poll_take(siod_session *s);
void siod_poll_pkt_free(struct siod_qpkt *q);

/* Empties s's queue. */
void siod_poll_clear(siod_session *s);

/* Encodes a polling payload in s's protocol: the queued packets (if
 * with_queue; the queue is then cleared) followed by one packet of type
 * extra (-1: none) into *out (malloc'd, the caller's; NULL with *len 0
 * when there is nothing to encode). An Engine.IO 3 payload may take the
 * XHR2 binary form only where bin is not NULL; *bin then says whether it
 * did (the answer's SIO_RF_BINARY). Returns 0, or -ENOMEM (the queue is
 * kept). */
int siod_poll_payload(siod_session *s, int with_queue, int extra,
                      unsigned char **out, size_t *len, int *bin);

/* Answers the held GET with the queued packets (if with_queue) followed
 * by one packet of type extra (-1: none; a noop if nothing else), and
 * forgets the GET. No-op without a held GET. Returns 0 (also when the
 * link refuses the answer because it is broken: the link reports that
 * itself), or -ENOMEM / -EMSGSIZE when the answer could not be built or
 * is over the module's frame limit: the GET then got a 500, and
 * why[0..cap) (may be NULL) says what. */
int siod_poll_answer(siod_session *s, int with_queue, int extra, char *why,
                     size_t cap);

/* Remembers closed session s's answer for its next GET; takes ownership
 * of payload (may be NULL). */
void siod_poll_closed_remember(const siod_session *s,
                               enum siod_closed_kind kind,
                               unsigned char *payload, size_t len);

/* Answers a GET for a session that is no longer registered if it is
 * remembered. Returns 1 if it did, 0 if sid is simply unknown, or
 * -EMSGSIZE with why[0..cap) set when the remembered payload is over the
 * module's frame limit (it is dropped, the GET not answered). */
int siod_poll_closed_answer(siod_peer *p, const sio_relay_frame *f,
                            char *why, size_t cap);

/* ---- siod_api_call.c: API requests awaiting their answer --------------- */

/* A new call for the API frame conn of p, on p's list until answered.
 * Returns NULL when memory runs out. */
siod_api_call *siod_api_call_new(siod_peer *p, uint64_t conn);

/* p's link is gone: its unanswered calls stay valid for the upper layer
 * but will send nothing. */
void siod_api_calls_orphan(siod_peer *p);

/* ---- siod_session.c: the state machine ---------------------------------- */

/* Hands an API call to the upper layer (answered 501 when it takes
 * none). */
void siod_session_app_api(siod_api_call *c, const unsigned char *body,
                          size_t len);

/* The registry's settings and upper layer. */
const siod_engine_config *siod_sessions_cfg(void);

/* Returns the open session named sid, or NULL. */
siod_session *siod_session_find(const char sid[SIO_SID_LEN]);

/* Checks that an OPEN/UPGRADE body (or a handed-over session's info) is a
 * well-formed key/value list. Returns 1 or 0. */
int siod_session_info_valid(const sio_relay_frame *f);

/* The upper layer's on_resume for a WS_RESUME of conn on p naming sid;
 * when it does not take the session back, the module is told to close
 * the WebSocket (1012). */
void siod_session_app_resume(siod_peer *p, uint64_t conn, const char *sid);

/* Creates a registered session in state st from an OPEN frame, counted
 * under client address addr, into *out; sid NULL: a new random id, else
 * that one (a session handed over). Returns 0, or -ENOMEM, -EEXIST (sid
 * in use, or no unused id in a few tries) or the random source's errno. */
int siod_session_new(const sio_relay_frame *f, enum siod_sess_state st,
                     const struct siod_addr_key *addr, const char *sid,
                     siod_session **out);

/* s's handshake has been answered: starts its heartbeat and tells the
 * upper layer. */
void siod_session_start(siod_session *s);

/* The one close path: reason for the upper layer, detail for the log;
 * client_side when the client sent a close packet; ws_code for its
 * WebSockets. The upper layer's on_close runs later, from the loop. */
void siod_session_close_ex(siod_session *s, const char *reason,
                           const char *detail, int client_side,
                           unsigned ws_code);

/* Sends a packet on s's current transport: at once on a WebSocket, else
 * through the polling queue. shared, if not NULL, is a message packet's
 * buffer (data and len are then its payload) that is referenced rather
 * than copied; volatile_ marks such a packet's WS_SEND SIO_RF_VOLATILE.
 * Returns 0, or a negative code after which s is closed (the codes of
 * siod_session_send_message: -EPIPE if it was closed already, else why
 * this send had to close it). */
int siod_session_send_packet(siod_session *s, int type, int binary,
                             const void *data, size_t len, siod_buf *shared,
                             int volatile_);

/* A packet that arrived on s's current transport. */
void siod_session_handle_packet(siod_session *s, const sio_eio_packet *pkt);

/* Begins the upgrade of s to the WebSocket conn of p (or refuses it as
 * the reference does when s is not plain polling). Returns 0, or -ENOMEM
 * (nothing was sent: the caller answers 500). */
int siod_session_upgrade_begin(siod_session *s, siod_peer *p, uint64_t conn);

/* A packet (rc from the decoder, pkt if SIO_OK) on s's probe WebSocket. */
void siod_session_probe_packet(siod_session *s, int rc,
                               const sio_eio_packet *pkt);

/* b's module-side handle is gone (cancelled poll, closed WebSocket); why
 * may be NULL. */
void siod_session_binding_gone(struct siod_binding *b, const char *why);

#endif
