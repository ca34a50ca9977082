/* The engine layer's public header: Engine.IO v4 sessions (siod_session*.c,
 * siod_poll.c, siod_peer.c, siod_addr.c, siod_closed.c). Two sections:
 * - upward: the contract with the layer above (the Socket.IO layer in
 *   sio/, or the built-in echo-engine). Inbound data flows up through the
 *   callbacks an upper layer registers (siod_engine_app); the upper layer
 *   answers through the siod_session_* calls declared here.
 * - relay-facing: the session registry and one siod_peer per relay link,
 *   with one entry point per inbound frame type; outbound frames go back
 *   through the siod_peer_ops the relay layer registers, so this layer
 *   never includes the relay code.
 * The engine sits on core and shared/ only. Everything runs on siod's
 * single event-loop thread. */
#ifndef SIOD_ENGINE_H
#define SIOD_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/siod_core.h"
#include "sio_relay.h"

typedef struct siod_session siod_session;
struct event_base;

/* Settings from siod's command line that upper layers may need, and the
 * event loop they run on (for their own timers). */
typedef struct siod_engine_config {
    struct event_base *base;       /* set by siod_sessions_init */
    unsigned ping_interval_ms;
    unsigned ping_timeout_ms;
    unsigned connect_timeout_ms;   /* Socket.IO connectTimeout; unused below */
    size_t max_payload;            /* default when OPEN info has none */
    size_t closed_max_bytes;       /* payloads kept for closed sessions */
    /* Limits (docs/limits.md); 0 means none where the option allows it. */
    size_t max_sessions;           /* open sessions in all: 503 */
    size_t max_sessions_per_addr;  /* per remote_addr: 429 */
    size_t max_handshake_bytes;    /* OPEN info kept per session: 431 */
    /* Limits the Socket.IO layer enforces (unused below it). */
    size_t max_rooms_per_socket;   /* rooms besides its own: SIOD_ELIMIT */
    size_t max_dynamic_nsps;       /* live children of ~patterns */
    size_t max_nsps_per_session;   /* sockets of one session at once */
    unsigned max_attachments;      /* per binary packet, 1.. */
    size_t max_binary_bytes;       /* attachment bytes buffered per session */
} siod_engine_config;

/* An upper layer. Every callback is optional (NULL: not called). A
 * session passed to a callback stays valid until that callback returns;
 * after on_close it must not be used again. Data passed to on_message
 * lives only during the call.
 * Closing never calls back into the upper layer: a session closed from
 * inside a siod_session_* call (a send that overflows its queue or finds
 * its link broken, siod_session_close) or by a relay frame is closed at
 * once (siod_session_is_open says 0, sends fail) but stays allocated, and
 * on_close runs later from the event loop, outside every other callback.
 * So an upper layer's objects are only torn down from on_close, never
 * under a caller that still uses them. */
/* An operation the module asked for outside any session (an SIO_R_API
 * frame: the HTTP emit API), answered with siod_api_answer. */
typedef struct siod_api_call siod_api_call;

/* A WebSocket that the previous siod handed over at its stop and the
 * module now hands to this one (WS_RESUME): the link, the module's conn
 * and the session id. Valid during on_resume only. */
typedef struct siod_resume siod_resume;

typedef struct siod_engine_app {
    const char *name;
    /* Called once at startup; returns 0 or a negative errno. *app becomes
     * the first argument of every other callback. */
    int (*init)(const siod_engine_config *cfg, void **app);
    /* A session finished its handshake. */
    void (*on_open)(void *app, siod_session *s);
    /* One Engine.IO message packet (binary: 1 for binary data). */
    void (*on_message)(void *app, siod_session *s, const unsigned char *data,
                       size_t len, int binary);
    /* The session is gone (called from the loop, see above); reason is
     * an engine.io reason string
     * ("transport close", "ping timeout", "transport error", "parse error",
     * "forced close", "server shutting down", ...). */
    void (*on_close)(void *app, siod_session *s, const char *reason);
    /* Called once at exit, after every session is closed. */
    void (*destroy)(void *app);
    /* An API request (body[0..len): the request's JSON, valid for the
     * call). The upper layer answers call exactly once, now or later, with
     * siod_api_answer. NULL: every request is answered 501. */
    void (*on_api)(void *app, siod_api_call *call, const unsigned char *body,
                   size_t len);
    /* The session moved from polling to its WebSocket (an upgrade
     * completed; not called for a session opened on a WebSocket). */
    void (*on_upgrade)(void *app, siod_session *s);
    /* A WebSocket handed over by the previous siod came back (r names
     * it, sid its session id). The upper layer opens the session again
     * with siod_session_resume and restores what it had; it returns 0,
     * or a negative code when it has not got that session (the module
     * then closes the WebSocket with 1012 and the client reconnects).
     * NULL: every such WebSocket is closed so. */
    int (*on_resume)(void *app, const siod_resume *r, const char *sid);
} siod_engine_app;

/* Opens again, under its id, a session the previous siod handed over:
 * bound to r's WebSocket, in the WebSocket state, with the handshake info
 * info[0..len) (a key/value list as OPEN's body), pinging from now on.
 * The upper layer's on_open is not called (it restores its own state).
 * Returns the session, or NULL with *rc set (-EPROTO: info malformed,
 * -EEXIST: the id is in use, -ENOMEM). Only from on_resume. */
siod_session *siod_session_resume(const siod_resume *r,
                                  const unsigned char *info, size_t len,
                                  int *rc);

/* Returns 1 if s was handed over to the next siod when it closed (its
 * WebSocket kept open by the module: siod_sessions_hand_over), else 0. */
int siod_session_handed_over(const siod_session *s);

/* Answers call with HTTP status and the JSON json[0..len), and frees call.
 * When the link that asked has gone meanwhile, nothing is sent. Returns 0,
 * or the link's send code (-EPIPE, -EMSGSIZE, -ENOMEM, -ENOBUFS); call is
 * freed either way. */
int siod_api_answer(siod_api_call *call, unsigned status, const char *json,
                    size_t len);
/* The same with a text/plain body (metrics, status lines). */
int siod_api_answer_text(siod_api_call *call, unsigned status,
                         const char *text, size_t len);

/* Queues one message packet for the client (copies data). Returns 0, or a
 * negative code after which the session is closed (on_close runs later,
 * from the loop): -EPIPE (it was closed already, or its relay link is
 * broken), -ENOSPC (its polling queue overflowed), -EMSGSIZE (the packet
 * is more than its link's module takes in one frame), -ENOMEM or -ENOBUFS
 * (memory, or its link's output over --max-link-output). */
int siod_session_send_message(siod_session *s, const void *data, size_t len,
                              int binary);

/* Queues one message packet whose payload is b's (see siod_buf.h) without
 * copying it: the session, or the relay link for a WebSocket, takes its own
 * reference, so a broadcast encoded once is shared by every recipient. The
 * caller keeps its reference. Returns as siod_session_send_message does. */
int siod_session_send_shared(siod_session *s, siod_buf *b, int binary);

/* One message packet of a multi-send: a shared buffer (see siod_buf.h)
 * and whether it is binary. */
typedef struct siod_shared_msg {
    siod_buf *buf;
    int binary;
} siod_shared_msg;

/* siod_session_send_multi flags. */
#define SIOD_SEND_VOLATILE 0x01   /* skip sessions not writable now; mark
                                   * WebSocket frames SIO_RF_VOLATILE */

/* siod_session_send_shared with flags: SIOD_SEND_VOLATILE marks the
 * packet volatile on a WebSocket (its WS_SEND carries SIO_RF_VOLATILE, so
 * the module may drop it for a client that cannot take it). The caller
 * checks siod_session_writable first. Returns as siod_session_send_shared. */
int siod_session_send_shared_ex(siod_session *s, siod_buf *b, int binary,
                                unsigned flags);

/* Sends the nmsg message packets msgs, in order and as one unit (a
 * Socket.IO packet and its binary attachments), to each open session of
 * v[0..n); closed ones are skipped. With SIOD_SEND_VOLATILE, a session for
 * which siod_session_writable says 0 gets none of them. Nothing is copied:
 * polling (and upgrading) sessions queue references as
 * siod_session_send_shared does, and the WebSocket sessions of a relay
 * link whose module takes WS_FANOUT get each packet in one frame per link
 * that lists their conns, so the work grows with the links, not the
 * clients; other WebSocket sessions get a WS_SEND each. A session whose
 * link fails is closed as a failed send closes it. v's sessions must be
 * valid for the call (any session the caller got during the current
 * callback is); the caller keeps its references to msgs. Returns the
 * number of sessions the packets were sent or queued to. */
size_t siod_session_send_multi(siod_session *const *v, size_t n,
                               const siod_shared_msg *msgs, size_t nmsg,
                               unsigned flags);

/* Returns 1 if a packet sent now would leave at once: a polling session
 * holds a GET and has nothing queued, a WebSocket session's relay link has
 * little output pending. 0 otherwise (closed, queue non-empty, no poll
 * held, link backed up, upgrade in progress). Volatile packets are dropped
 * when this says 0, as the reference drops them when its transport is not
 * writable. */
int siod_session_writable(const siod_session *s);

/* Returns 1 if s is a polling session (no upgrade under way) that holds
 * no GET: its client is between two polls, or gone without a word (its
 * held poll cut by a proxy or a stopping httpd child), which siod would
 * learn only at the ping timeout. */
int siod_session_polling_unheld(const siod_session *s);

/* Closes the session from the server side: a held poll gets the queued
 * packets and a close packet, a WebSocket gets close code 1000. reason
 * (NULL: "forced close") must outlive the session, a string literal; the
 * loop calls on_close with it after the current callback returns. No-op if
 * already closed. */
void siod_session_close(siod_session *s, const char *reason);

/* Returns the session id, NUL-terminated; owned by the session. */
const char *siod_session_sid(const siod_session *s);

/* Returns 1 while the session is open, 0 once closed. */
int siod_session_is_open(const siod_session *s);

/* Returns "polling" or "websocket" (the transport in use). */
const char *siod_session_transport(const siod_session *s);

/* Returns 1 for an Engine.IO 3 client's session (Socket.IO 2: protocol 4
 * of the parser), 0 for Engine.IO 4. */
int siod_session_eio3(const siod_session *s);

/* Looks key up in the handshake (OPEN) info the module sent ("query",
 * "remote_addr", "user", "h:cookie", ...). Returns 0 and sets *val and *len
 * (pointing into the session's copy, valid while the session lives), or
 * -ENOENT if absent. */
int siod_session_info(const siod_session *s, const char *key,
                      const char **val, size_t *len);

/* Points *buf / *len at the whole handshake info list (sio_relay_kv_next
 * walks it); valid while the session lives. *len is 0 if there is none. */
void siod_session_info_raw(const siod_session *s, const unsigned char **buf,
                           size_t *len);

/* One pointer of upper-layer data per session (NULL at first). */
void siod_session_set_data(siod_session *s, void *data);
void *siod_session_get_data(const siod_session *s);

/* ==== relay-facing: sessions as the relay layer sees them ============== */

/* How a session reaches its relay link. */
typedef struct siod_peer_ops {
    /* Queues one frame on the link: header fields from f (f->len is the sum
     * of the iov lengths, f->body is ignored), body from iov. Returns 0, or
     * -EMSGSIZE when f->len is over the module's frame limit (nothing is
     * queued; the link stays), -EPIPE when the link is not ready or is
     * broken, -ENOMEM or -ENOBUFS when queueing broke it (out of memory;
     * output over --max-link-output). A broken link keeps why and is
     * closed (and logged) later by the loop, never from inside this call. */
    int (*send)(void *ctx, const sio_relay_frame *f, const struct iovec *iov,
                int iovcnt);
    /* Queues one frame whose body is the npre (at most
     * SIOD_PEER_PRE_MAX) pre buffers, copied, followed by the rest of
     * f->len from b->bytes + off, for which the link takes a reference to
     * b rather than a copy where that is cheaper. Returns as send does, or
     * -EINVAL for npre out of range or longer than f->len. */
    int (*send_shared)(void *ctx, const sio_relay_frame *f,
                       const struct iovec *pre, int npre, siod_buf *b,
                       size_t off);
    /* Returns the bytes queued on the link and not yet written. */
    size_t (*backlog)(void *ctx);
} siod_peer_ops;

#define SIOD_PEER_PRE_MAX 4

typedef struct siod_peer siod_peer;

/* Sets up the session registry on base with cfg and the upper layer app
 * (its init is called here). Returns 0 or a negative errno. */
int siod_sessions_init(struct event_base *base, const siod_engine_config *cfg,
                       const siod_engine_app *app);

/* Closes every session (held polls get a close packet, WebSockets close
 * code ws_code, e.g. 1001 at shutdown) with reason (a string literal); the
 * upper layer's on_close runs from the loop, or from
 * siod_sessions_cleanup. */
void siod_sessions_close_all(const char *reason, unsigned ws_code);

/* As siod_sessions_close_all, but each session on a WebSocket of a module
 * that holds WebSockets across a restart (SIO_RELAY_CAP_HANDOVER) is
 * handed over: its WS_CLOSE carries SIO_RF_KEEP, so the module keeps the
 * WebSocket open for the next siod (ws_code is what the module closes it
 * with if no siod takes it back), and siod_session_handed_over tells the
 * upper layer so in its on_close. Returns how many were handed over. */
size_t siod_sessions_hand_over(const char *reason, unsigned ws_code);

/* Runs now what the loop would run next for the sessions closed so far
 * (the upper layer's on_close, pending flushes), so that what they leave
 * behind is settled; for the shutdown path, once the loop has stopped. */
void siod_sessions_settle(void);

/* Frees everything the registry holds (closed sessions, timers) and calls
 * the upper layer's destroy. Call after the loop has stopped and every
 * peer is freed. */
void siod_sessions_cleanup(void);

/* Returns the number of open sessions. */
size_t siod_sessions_count(void);

/* Creates the session layer's view of one relay link; ctx is passed to
 * ops->send. caps are the SIO_RELAY_CAP_* bits of the module's HELLO
 * (SIO_RELAY_CAP_FANOUT: broadcasts to its WebSockets leave as WS_FANOUT
 * frames), max_body the largest frame body the module takes. Returns the
 * peer (owned by the caller, freed with siod_peer_free) or NULL if memory
 * runs out. */
siod_peer *siod_peer_new(const siod_peer_ops *ops, void *ctx,
                         const char *name, unsigned caps, uint32_t max_body);

/* The link is gone: every poll it held is treated as cancelled and every
 * WebSocket as closed (nothing more is sent to it), then p is freed.
 * NULL is a no-op. */
void siod_peer_free(siod_peer *p);

/* Frame handlers, one per module -> siod frame type (f was validated by
 * sio_relay_parse); poll_post may modify body. They log no failure: the
 * caller (the link's dispatch) logs what they return. Each returns
 * - 0: the frame was handled, refusals the client should see included
 *   (unknown sid, a limit reached: answered on the link; the handler
 *   logs a refusal at a limit as an event);
 * - -EPROTO: the frame is invalid for the relay protocol (a malformed
 *   info list, a conn already in use); the caller drops the link;
 * - another negative code: siod failed to serve the request (-ENOMEM, or
 *   -EMSGSIZE for an answer over the module's frame limit); it was
 *   answered 500 where the link still takes it, and the link stays.
 * On failure why[0..cap) says what failed (without the link's name). */
int siod_session_relay_open(siod_peer *p, const sio_relay_frame *f,
                            char *why, size_t cap);
int siod_session_relay_upgrade(siod_peer *p, const sio_relay_frame *f,
                               char *why, size_t cap);
int siod_session_relay_poll_get(siod_peer *p, const sio_relay_frame *f,
                                char *why, size_t cap);
int siod_session_relay_poll_post(siod_peer *p, const sio_relay_frame *f,
                                 unsigned char *body, char *why, size_t cap);
int siod_session_relay_cancel(siod_peer *p, const sio_relay_frame *f,
                              char *why, size_t cap);
int siod_session_relay_ws_msg(siod_peer *p, const sio_relay_frame *f,
                              char *why, size_t cap);
int siod_session_relay_ws_closed(siod_peer *p, const sio_relay_frame *f,
                                 char *why, size_t cap);
int siod_session_relay_abort(siod_peer *p, const sio_relay_frame *f,
                             char *why, size_t cap);
int siod_session_relay_ws_resume(siod_peer *p, const sio_relay_frame *f,
                                 char *why, size_t cap);
int siod_session_relay_api(siod_peer *p, const sio_relay_frame *f,
                           const unsigned char *body, char *why, size_t cap);

#endif
