/* The adapter layer's public header: what a namespace asks of whoever
 * knows its rooms and, in a cluster, the other servers (the reference's
 * socket.io-adapter), and what an adapter may ask of its host in return.
 * One adapter instance per namespace. The in-process adapter
 * (siod_adapter_mem.c) keeps a two-way room index; a cluster adapter
 * (Redis) would forward broadcasts and answer for remote sockets through
 * the same operations.
 *
 * Dependencies: an adapter includes core and this header only. Sockets,
 * namespaces and broadcast waits are the host's (the Socket.IO layer's)
 * opaque handles: an adapter never looks inside them, and reaches the
 * host only through the siod_adapter_host ops it is given at create.
 *
 * Errors follow siod's model (core/siod_core.h): an operation that can
 * fail returns 0 (or a count) or a negative errno code named in its
 * contract, and logs nothing it reports; one that returns a pointer
 * returns NULL only when memory runs out. Operations without a result
 * report no failure: what they cannot do for a socket (memory) is skipped
 * for it, as for a client that cannot take a packet; a cluster adapter
 * logs its own connection's failures where they happen (its connection's
 * callbacks), not through these. */
#ifndef SIOD_ADAPTER_H
#define SIOD_ADAPTER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/siod_core.h"

/* The host's handles, opaque here. */
typedef struct siod_socket siod_socket;
typedef struct siod_nsp siod_nsp;
typedef struct siod_ackwait siod_ackwait;   /* a broadcast's wait for acks */

/* An encoded outbound Socket.IO packet, built once for every recipient:
 * the text in head (its buffer's headroom makes it an Engine.IO message)
 * and its binary attachments. An adapter hands it back to the host's
 * write; a cluster adapter would also publish its bytes. */
typedef struct siod_sio_out {
    siod_buf *head;
    siod_buf **atts;
    unsigned natts;
} siod_sio_out;

/* The emit flags an adapter may set itself, for what it delivers on
 * another server's behalf: the host's SIOD_EMIT_VOLATILE and
 * SIOD_EMIT_NO_COMPRESS (siod_app.h), with the same values. */
#define SIOD_ADAPTER_VOLATILE 0x1u
#define SIOD_ADAPTER_NO_COMPRESS 0x2u
/* Set by the host in siod_bcast_opts.flags (never passed to write): the
 * operation stays on this server (the reference's `local` flag). */
#define SIOD_ADAPTER_LOCAL 0x4u

/* Which sockets an operation targets (the reference's BroadcastOptions):
 * sockets in any of rooms (all sockets when nrooms is 0) and in none of
 * except. flags are the host's emit flags (SIOD_EMIT_VOLATILE,
 * SIOD_EMIT_NO_COMPRESS), passed back to its write untouched. */
typedef struct siod_bcast_opts {
    char **rooms;
    size_t nrooms;
    char **except;
    size_t nexcept;
    unsigned flags;
} siod_bcast_opts;

/* An attachment of an answer. */
typedef struct siod_adapter_bin {
    const void *data;
    size_t len;
} siod_adapter_bin;

/* One socket's answer to a packet sent with send_with_ack: answered 1
 * with the answer's first argument as JSON text json[0..len) (whose
 * placeholders point into bins[0..nbins)), or answered 0 (no answer in
 * time, or the socket left). Valid for the call. */
typedef void (*siod_adapter_ack_fn)(void *ud, int answered, const char *json,
                                    size_t len, const siod_adapter_bin *bins,
                                    unsigned nbins);

/* Answers that travel between servers (a cluster adapter's requests):
 * fetch_fn gets the sockets other servers hold that a fetch selects, each
 * as the reference's RemoteSocket (NUL-terminated texts: id, and JSON
 * handshake object, rooms array, data), or err (-ETIMEDOUT: not every
 * server answered in time; v NULL, n 0); reply_fn gets the servers'
 * answers to a server-side emit, each one's first ack argument as JSON
 * text v[0..n) (lens[i] bytes), and err 0 or -ETIMEDOUT (v holds those
 * that came). Both run once, later (never from the call that started
 * them); what they are given is valid for the call. */
typedef struct siod_adapter_remote {
    const char *id, *handshake, *rooms, *data;
} siod_adapter_remote;
typedef void (*siod_adapter_fetch_fn)(void *ud, int err,
                                      const siod_adapter_remote *v, size_t n);
typedef void (*siod_adapter_reply_fn)(void *ud, int err,
                                      const char *const *v,
                                      const size_t *lens, size_t n);

/* The answer to another server's server-side emit: answered 1 with the
 * first ack argument as JSON text json[0..len) (no binary), or answered 0
 * (dropped unanswered). Called at most once. */
typedef void (*siod_adapter_answer_fn)(void *ud, int answered,
                                       const char *json, size_t len);

/* What the host gives every adapter it creates: the adapter's upward
 * calls, all of them. Every op is set. Sockets passed in stay valid for
 * the call; an adapter that keeps one takes a reference (ref/unref). */
typedef struct siod_adapter_host {
    /* The adapter's per-socket pointer, kept by the host in each socket
     * (NULL at first; the host never touches it). */
    void *(*slot)(const siod_socket *s);
    void (*set_slot)(siod_socket *s, void *slot);
    /* Returns 1 if s is connected (a socket still in connect middleware
     * may be in rooms but is sent nothing and selected by nothing). */
    int (*connected)(const siod_socket *s);
    siod_socket *(*ref)(siod_socket *s);
    void (*unref)(siod_socket *s);
    /* Sends pkt to the clients of sockets v[0..n) (flags: o->flags of the
     * operation) as one multi-send. Returns the number it was sent or
     * queued to. A send that fails closes its session; the socket leaves
     * later, from the event loop. */
    size_t (*write)(siod_socket *const *v, size_t n, const siod_sio_out *pkt,
                    unsigned flags);
    /* Broadcast acks: s owes w an answer for ack id (to be sent pkt next).
     * Returns 0, or -ENOMEM (s is then not to be sent the packet). */
    int (*expect)(siod_socket *s, uint64_t id, siod_ackwait *w);
    /* n clients of this server were sent w's packet (once per server and
     * broadcast; may finish w and run the application's callback). */
    void (*ack_count)(siod_ackwait *w, size_t n);
    /* For the answers of another server's clients to w: ack_hold keeps w
     * allocated past its end until ack_release; ack_finished returns 1
     * once w ended (its callback ran: answers then go nowhere);
     * ack_answer adds one client's answer, its first argument as JSON
     * text json[0..len) whose placeholders point into bins[0..nbins) (may
     * end w). */
    void (*ack_hold)(siod_ackwait *w);
    void (*ack_release)(siod_ackwait *w);
    int (*ack_finished)(const siod_ackwait *w);
    void (*ack_answer)(siod_ackwait *w, const char *json, size_t len,
                       const siod_adapter_bin *bins, unsigned nbins);
    /* The socket-level operations of the public API, with their checks:
     * s joins / leaves room, or is disconnected (close: the whole
     * connection). They run application callbacks. A join or leave the
     * host refuses (a closed socket, its limit on rooms, memory) is the
     * host's to report: the adapter has nothing to do about it. */
    void (*join)(siod_socket *s, const char *room);
    void (*leave)(siod_socket *s, const char *room);
    void (*disconnect)(siod_socket *s, int close);
    /* Returns s's id (its own room's name, valid while s is). */
    const char *(*id)(const siod_socket *s);
    /* Returns s as a cluster shows it to other servers (the reference's
     * fetchSockets answer): the JSON object {"id", "handshake", "rooms",
     * "data"}, malloc'd and NUL-terminated, or NULL if memory runs out. */
    char *(*describe)(siod_socket *s);
    /* Another server's broadcast with acks: sends pkt (an EVENT without
     * ack id; the host gives it one of nsp's) to the sockets v[0..n) of
     * nsp (flags as for write), each awaiting its answer for timeout_ms
     * (0: until it leaves). Returns how many were sent it; fn(ud, ...) is
     * called once for each of them, later (never from this call). */
    size_t (*send_with_ack)(siod_nsp *nsp, siod_socket *const *v, size_t n,
                            const siod_sio_out *pkt, unsigned flags,
                            unsigned timeout_ms, siod_adapter_ack_fn fn,
                            void *ud);
    /* Another server's server-side emit to nsp: data[0..len) is the JSON
     * array [event, ...args]. With fn (it asked for an answer), fn(ud,
     * ...) is called exactly once, maybe from this call. */
    void (*server_event)(siod_nsp *nsp, const char *data, size_t len,
                         siod_adapter_answer_fn fn, void *ud);
} siod_adapter_host;

typedef struct siod_adapter_ops {
    const char *name;
    /* Returns the adapter state for namespace nsp (named name, kept by the
     * caller while the adapter lives) of host (static, outlives the
     * adapter), or NULL if memory runs out. */
    void *(*create)(const siod_adapter_host *host, siod_nsp *nsp,
                    const char *name);
    /* Frees the state (every socket has left). */
    void (*destroy)(void *a);
    /* Socket s joins room (0 if it is in it already). Returns 0, or
     * -ENOMEM (s is then not in room; rooms it was in are kept). Rooms
     * are local to each server, so this needs no other server. */
    int (*add)(void *a, siod_socket *s, const char *room);
    /* Socket s leaves room (no-op if not in it). */
    void (*del)(void *a, siod_socket *s, const char *room);
    /* Socket s leaves every room. */
    void (*del_all)(void *a, siod_socket *s);
    /* Returns 1 if s is in room. */
    int (*has)(void *a, const siod_socket *s, const char *room);
    /* Calls fn for every room of the namespace that holds a socket (each
     * once, socket ids included); returns how many. */
    size_t (*rooms)(void *a, void (*fn)(void *ud, const char *room),
                    void *ud);
    /* Calls fn for every room of s; returns how many. */
    size_t (*socket_rooms)(void *a, const siod_socket *s,
                           void (*fn)(void *ud, const char *room), void *ud);
    /* Returns the number of local connected sockets o selects, with them
     * in *out (malloc'd array, each with a reference the caller drops), or
     * -ENOMEM (*out untouched, no reference taken). */
    ssize_t (*select)(void *a, const siod_bcast_opts *o, siod_socket ***out);
    /* Sends the encoded packet to every socket o selects. */
    void (*broadcast)(void *a, const siod_sio_out *pkt,
                      const siod_bcast_opts *o);
    /* The same for a packet carrying ack id: every recipient owes w an
     * answer (host->expect); reports the number of recipients with
     * host->ack_count (once per server). */
    void (*broadcast_with_ack)(void *a, const siod_sio_out *pkt, uint64_t id,
                               const siod_bcast_opts *o, siod_ackwait *w);
    /* Sockets o selects join / leave room; or are disconnected. A
     * cluster adapter also asks the other servers (unless o->flags has
     * SIOD_ADAPTER_LOCAL), as broadcast and broadcast_with_ack do. */
    void (*add_sockets)(void *a, const siod_bcast_opts *o, const char *room);
    void (*del_sockets)(void *a, const siod_bcast_opts *o, const char *room);
    void (*disconnect_sockets)(void *a, const siod_bcast_opts *o, int close);
    /* Returns the number of servers sharing the namespace (1 here). */
    unsigned (*server_count)(void *a);
    /* The cluster-wide operations; NULL in an adapter without other
     * servers. cluster: 0 while the other servers can be reached, else
     * -ENOTCONN. fetch: asks the other servers for the sockets o selects
     * (answers awaited timeout_ms); server_emit: sends the JSON array
     * data[0..len) ([event, ...args]) to the namespace on every other
     * server, with fn awaiting their answers for timeout_ms. Both return
     * 0 (fn runs later, once), -ENOTCONN (the other servers cannot be
     * reached now) or -ENOMEM; fn is then not called. */
    int (*cluster)(void *a);
    int (*fetch)(void *a, const siod_bcast_opts *o, unsigned timeout_ms,
                 siod_adapter_fetch_fn fn, void *ud);
    int (*server_emit)(void *a, const char *data, size_t len,
                       unsigned timeout_ms, siod_adapter_reply_fn fn,
                       void *ud);
} siod_adapter_ops;

/* The in-process adapter. */
extern const siod_adapter_ops siod_adapter_mem;

#endif
