/* The cluster layer's private header: the Redis adapter's state per
 * namespace and the layer's own, shared by siod_cluster_adapter.c (the
 * adapter's ops, broadcasts, this server's broadcasts with acks) and
 * siod_cluster_serve.c (other servers' requests), which the adapter
 * calls, never the reverse. The sharded adapter (siod_cluster_sharded.c)
 * calls siod_cluster_shard_serve.c (what other servers send it), which
 * calls siod_cluster_adapter.c (the pending broadcasts with acks),
 * siod_cluster_serve.c and siod_cluster_remote.c (this server's requests,
 * which the sharded adapter also makes through it); none of those calls
 * back. */
#ifndef SIOD_CLUSTER_INT_H
#define SIOD_CLUSTER_INT_H

#include "siod_cluster.h"

struct event;
struct event_base;
struct creq;

/* A namespace's Redis adapter. */
struct radapter {
    void *mem;                       /* the in-process adapter's state */
    const siod_adapter_host *host;
    siod_nsp *nsp_h;                 /* the host's namespace */
    char *nsp;
    char *channel;                   /* <prefix>#<nsp># */
    size_t chlen;
    char *pattern;                   /* <prefix>#<nsp>#* */
    char *req_channel;               /* <prefix>-request#<nsp># */
    char *resp_channel;              /* <prefix>-response#<nsp>#; sharded:
                                        <prefix>#<nsp>#<uid># */
    long long servers;               /* last NUMSUB answer (0: none yet) */
    char *own_resp_channel;          /* <prefix>-response#<nsp>#<uid>#: where
                                        servers with the Node.js adapter's
                                        publishOnSpecificResponseChannel
                                        answer this one */
    int subscribed;                  /* a namespace, not a ~pattern */
    struct radapter *prev, *next;
};

/* This server's broadcast with acks, waiting for other servers. */
struct pending_ack {
    char request_id[17];
    siod_ackwait *w;                 /* held (host->ack_hold) */
    const siod_adapter_host *host;
    struct pending_ack *next;
};

/* The layer's state (one Redis connection for all namespaces). */
struct siod_cluster_state {
    siod_redis *r;
    char *prefix;
    char uid[17];                    /* classic: as uid2(6), 6
                                        alphanumerics; sharded: 8 random
                                        bytes in hex, as ClusterAdapter */
    struct event *numsub_timer;
    struct radapter *list;
    struct pending_ack *pending;
    struct event_base *base;
    struct creq *requests;           /* siod_cluster_remote.c's */
    int sharded;                     /* the sharded adapter's layer: its
                                        requests in its wire format */
};
extern struct siod_cluster_state siod_cluster_g;

#define MEM (&siod_adapter_mem)

/* ---- siod_cluster_adapter.c ---------------------------------------------- */

/* This server's broadcast with acks waiting under request_id (NULL once
 * its wait ended); the sweep drops those whose wait ended (all, with
 * all). */
struct pending_ack *siod_cluster_pending_find(const char *request_id);
void siod_cluster_pending_sweep(int all);

/* ---- siod_cluster_shard_serve.c ------------------------------------------- */

/* Every message of the sharded adapter's subscriptions: another server's
 * broadcast or request, answered as ClusterAdapter answers it, or a
 * response to one of this server's broadcasts with acks, fetches or
 * server-side emits. */
void siod_cluster_shard_on_message(void *ud, const char *channel,
                                   size_t chlen, const unsigned char *msg,
                                   size_t len);

/* ---- siod_cluster_serve.c ------------------------------------------------ */

/* The decoded broadcast b as the host's encoded packet (copied into
 * buffers; out->head NULL when memory ran out, then
 * siod_cluster_release_out frees what was made). */
void siod_cluster_build_out(const siod_cluster_bcast *b, siod_sio_out *out);
void siod_cluster_release_out(siod_sio_out *out);

/* The host's emit flags for the wire's SIOD_CLUSTER_* flags. */
unsigned siod_cluster_host_flags(unsigned cluster_flags);

/* Answers another server's (or the emitter's) request msg[0..len) on
 * a's request channel, as @socket.io/redis-adapter does. */
void siod_cluster_serve(struct radapter *a, const unsigned char *msg,
                        size_t len);

/* ---- siod_cluster_remote.c ------------------------------------------------ */

/* This server's cluster-wide requests and other servers' server-side
 * emits, called by the adapter and by siod_cluster_serve.c (never calling
 * either back). */

/* Publishes a REMOTE_JOIN or REMOTE_LEAVE (of room) or REMOTE_DISCONNECT
 * (close) request for the sockets o selects on the other servers. */
void siod_cluster_remote_sockets(struct radapter *a, int type,
                                 const siod_bcast_opts *o, const char *room,
                                 int close);

/* The adapter's fetch and server_emit ops (siod_adapter.h) for a. */
int siod_cluster_remote_fetch(struct radapter *a, const siod_bcast_opts *o,
                              unsigned timeout_ms, siod_adapter_fetch_fn fn,
                              void *ud);
int siod_cluster_remote_emit(struct radapter *a, const char *data,
                             size_t len, unsigned timeout_ms,
                             siod_adapter_reply_fn fn, void *ud);

/* A JSON response msg[0..len) on a response channel: returns 1 if it
 * answered one of this server's requests (maybe ending it), else 0. */
int siod_cluster_remote_response(const unsigned char *msg, size_t len);

/* Ends the requests of a (the namespace goes: their callbacks get
 * -ECANCELED), or with a NULL, every request without a callback (the
 * layer stops). */
void siod_cluster_remote_drop(struct radapter *a);

/* Another server's SERVER_SIDE_EMIT request msg[0..len) (JSON) on a's
 * request channel: handed to the host; its answer, if it asks for one,
 * published on a's response channel. */
void siod_cluster_remote_serve_emit(struct radapter *a,
                                    const unsigned char *msg, size_t len);

/* ---- siod_cluster_adapter.c: ops the classic and sharded adapters share -- */

/* siod_adapter_ops members of both Redis adapters (p is a struct
 * radapter): has, rooms, socket_rooms and select read the in-process
 * adapter; server_count is what Redis last counted; cluster, fetch and
 * server_emit as siod_adapter.h says. */
int siod_cluster_op_has(void *p, const siod_socket *s, const char *room);
size_t siod_cluster_op_rooms(void *p, void (*fn)(void *ud, const char *room),
                             void *ud);
size_t siod_cluster_op_socket_rooms(void *p, const siod_socket *s,
                                    void (*fn)(void *ud, const char *room),
                                    void *ud);
ssize_t siod_cluster_op_select(void *p, const siod_bcast_opts *o,
                               siod_socket ***out);
unsigned siod_cluster_op_server_count(void *p);
int siod_cluster_op_cluster(void *p);
int siod_cluster_op_fetch(void *p, const siod_bcast_opts *o,
                          unsigned timeout_ms, siod_adapter_fetch_fn fn,
                          void *ud);
int siod_cluster_op_server_emit(void *p, const char *data, size_t len,
                                unsigned timeout_ms, siod_adapter_reply_fn fn,
                                void *ud);

/* The gauge reporter of the cluster (core's siod_stats.h), registered
 * by both start functions: Redis up or down, messages lost. */
void siod_cluster_report(siod_gauges *gg);

#endif
