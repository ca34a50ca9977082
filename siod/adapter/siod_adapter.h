/* The adapter interface: what a namespace asks of whoever knows its rooms
 * and, in a cluster, the other servers (the reference's socket.io-adapter).
 * One adapter instance per namespace. The in-process adapter
 * (siod_adapter_mem.c) keeps a two-way room index; a cluster adapter
 * (Redis) would forward broadcasts and answer for remote sockets through
 * the same operations. */
#ifndef SIOD_ADAPTER_H
#define SIOD_ADAPTER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct siod_socket siod_socket;
typedef struct siod_nsp siod_nsp;
struct siod_sio_out;
struct siod_sio_ackwait;

/* Which sockets an operation targets (the reference's BroadcastOptions):
 * sockets in any of rooms (all sockets when nrooms is 0) and in none of
 * except. flags: SIOD_EMIT_VOLATILE, SIOD_EMIT_NO_COMPRESS. */
typedef struct siod_bcast_opts {
    char **rooms;
    size_t nrooms;
    char **except;
    size_t nexcept;
    unsigned flags;
} siod_bcast_opts;

typedef struct siod_adapter_ops {
    const char *name;
    /* Returns the adapter state for nsp, or NULL if memory runs out. */
    void *(*create)(siod_nsp *nsp);
    /* Frees the state (every socket has left). */
    void (*destroy)(void *a);
    /* Socket s joins room. Returns 0 or -1 (memory). */
    int (*add)(void *a, siod_socket *s, const char *room);
    /* Socket s leaves room (no-op if not in it). */
    void (*del)(void *a, siod_socket *s, const char *room);
    /* Socket s leaves every room. */
    void (*del_all)(void *a, siod_socket *s);
    /* Returns 1 if s is in room. */
    int (*has)(void *a, const siod_socket *s, const char *room);
    /* Calls fn for every room of s; returns how many. */
    size_t (*socket_rooms)(void *a, const siod_socket *s,
                           void (*fn)(void *ud, const char *room), void *ud);
    /* Returns the local connected sockets o selects in *out (malloc'd
     * array, each with a reference the caller drops), count as return, or
     * -1 if memory runs out. */
    ssize_t (*select)(void *a, const siod_bcast_opts *o, siod_socket ***out);
    /* Sends the encoded packet to every socket o selects. */
    void (*broadcast)(void *a, const struct siod_sio_out *pkt,
                      const siod_bcast_opts *o);
    /* The same for a packet carrying ack id: every recipient owes w an
     * answer; reports the number of recipients with
     * siod_sio_ackwait_count (once per server). */
    void (*broadcast_with_ack)(void *a, const struct siod_sio_out *pkt,
                               uint64_t id, const siod_bcast_opts *o,
                               struct siod_sio_ackwait *w);
    /* Sockets o selects join / leave room; or are disconnected. */
    void (*add_sockets)(void *a, const siod_bcast_opts *o, const char *room);
    void (*del_sockets)(void *a, const siod_bcast_opts *o, const char *room);
    void (*disconnect_sockets)(void *a, const siod_bcast_opts *o, int close);
    /* Returns the number of servers sharing the namespace (1 here). */
    unsigned (*server_count)(void *a);
} siod_adapter_ops;

/* The in-process adapter. */
extern const siod_adapter_ops siod_adapter_mem;

#endif
