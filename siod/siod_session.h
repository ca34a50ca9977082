/* Engine.IO v4 sessions as the relay link code sees them: a registry of
 * sessions (sid -> session), one siod_peer per relay link with the requests
 * and WebSockets it holds, and one entry point per inbound frame type.
 * Outbound frames go back through the siod_peer_ops the link registers, so
 * this layer never includes the link code. Single-threaded (event loop). */
#ifndef SIOD_SESSION_H
#define SIOD_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "sio_relay.h"
#include "siod_engine.h"

struct event_base;

/* How a session reaches its relay link. */
typedef struct siod_peer_ops {
    /* Queues one frame on the link: header fields from f (f->len is the sum
     * of the iov lengths, f->body is ignored), body from iov. Returns 0, or
     * -1 if the link is broken (it is then closed later by the loop, never
     * from inside this call). */
    int (*send)(void *ctx, const sio_relay_frame *f, const struct iovec *iov,
                int iovcnt);
    /* Queues one frame whose body is the npre (at most
     * SIOD_PEER_PRE_MAX) pre buffers, copied, followed by the rest of
     * f->len from b->bytes + off, for which the link takes a reference to
     * b rather than a copy where that is cheaper. Returns as send does. */
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
 * sio_relay_parse). Each returns 0, or -1 when the frame is invalid for the
 * relay protocol (malformed info list, a conn already in use): the caller
 * then drops the link. Refusals the client should see (unknown sid, ...)
 * are answered on the link and return 0. poll_post may modify body. */
int siod_session_relay_open(siod_peer *p, const sio_relay_frame *f);
int siod_session_relay_upgrade(siod_peer *p, const sio_relay_frame *f);
int siod_session_relay_poll_get(siod_peer *p, const sio_relay_frame *f);
int siod_session_relay_poll_post(siod_peer *p, const sio_relay_frame *f,
                                 unsigned char *body);
int siod_session_relay_cancel(siod_peer *p, const sio_relay_frame *f);
int siod_session_relay_ws_msg(siod_peer *p, const sio_relay_frame *f);
int siod_session_relay_ws_closed(siod_peer *p, const sio_relay_frame *f);
int siod_session_relay_abort(siod_peer *p, const sio_relay_frame *f);

#endif
