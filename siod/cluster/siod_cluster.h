/* The cluster layer's public header: the Redis adapters (siod_adapter_ops
 * wrapping the in-process adapter, wire-compatible with
 * @socket.io/redis-adapter's classic and sharded modes), siod's connection
 * to Redis (one publisher and one subscriber connection on siod's
 * libevent loop, with reconnection) and the wire codecs (msgpack
 * broadcasts, JSON requests, the sharded adapter's messages). The codec
 * is pure: bytes in, bytes out, no loop and no log, so it can be fuzzed
 * alone.
 *
 * Who calls whom inside the layer: siod_cluster_adapter.c ->
 * siod_cluster_serve.c -> siod_cluster_remote.c (siod_cluster_int.h) ->
 * siod_redis.c, siod_cluster_decode.c, siod_cluster_encode.c and
 * siod_cluster_request.c, which call neither each other nor back (the
 * adapter calls those four too). The sharded adapter:
 * siod_cluster_sharded.c -> siod_cluster_shard_serve.c ->
 * siod_cluster_adapter.c (its pending broadcasts with acks), and both ->
 * siod_cluster_serve.c, siod_cluster_remote.c (the cluster-wide requests,
 * written in the sharded wire when the layer is sharded), siod_redis.c
 * and siod_cluster_shard.c (the sharded wire, which siod_cluster_remote.c
 * calls too), which calls siod_cluster_decode.c and
 * siod_cluster_encode.c (msgpack to JSON and back); siod_redis.c ->
 * siod_redis_ssub.c (the sharded subscriber), which reports back only
 * through the callbacks it was given.
 * siod_cluster_nodes.c (the node registry, started by siod_main.c) ->
 * siod_redis.c.
 *
 * Errors follow siod's model (core/siod_core.h). The connection logs its
 * own outages (one line when Redis goes away, one when it is back, with
 * the number of messages it could not publish meanwhile); its calls never
 * block and never fail because Redis is down, they count the loss. */
#ifndef SIOD_CLUSTER_H
#define SIOD_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "adapter/siod_adapter.h"

struct event_base;

/* ---- the Redis adapter (siod_cluster_adapter.c) -------------------------- */

/* Every namespace's adapter once siod_cluster_start has run. */
extern const siod_adapter_ops siod_adapter_redis;

/* Connects to Redis at url (see siod_redis_open) on base, under channel
 * prefix (@socket.io/redis-adapter's key, "socket.io" by default), with a
 * new random server uid. Call once, before any namespace's adapter is
 * created. Returns 0, or -EINVAL / -ENOMEM / -EIO with why[0..cap) set. */
int siod_cluster_start(struct event_base *base, const char *url,
                       const char *prefix, char *why, size_t cap);

/* The sharded adapter's subscription modes (its subscriptionMode). */
enum siod_cluster_submode {
    SIOD_CLUSTER_STATIC,             /* the namespace's channel only */
    SIOD_CLUSTER_DYNAMIC,            /* and a channel per public room */
    SIOD_CLUSTER_DYNAMIC_PRIVATE     /* and a channel per room */
};

/* Every namespace's adapter once siod_cluster_start_sharded has run. */
extern const siod_adapter_ops siod_adapter_redis_sharded;

/* As siod_cluster_start, for the sharded adapter (Redis 7 sharded
 * pub/sub) in subscription mode mode (enum siod_cluster_submode). */
int siod_cluster_start_sharded(struct event_base *base, const char *url,
                               const char *prefix, int mode, char *why,
                               size_t cap);

/* This server's uid on the wire (6 alphanumerics, 16 hex digits when
 * sharded; "" before the start). */
const char *siod_cluster_uid(void);

/* Closes the connection and frees the layer's state (after the
 * namespaces, or before: their adapters then stop publishing). */
void siod_cluster_stop(void);

/* ---- the Redis URL (siod_redis.c) --------------------------------------- */

/* redis://[[user]:password@]host[:port][/db] (user and password
 * percent-decoded; host may be [IPv6]). */
typedef struct siod_redis_url {
    char *user;                      /* NULL: none (AUTH password) */
    char *password;                  /* NULL: no AUTH */
    char *host;
    int port;                        /* default 6379 */
    int db;                          /* default 0 */
} siod_redis_url;

/* Parses url into *out (strings malloc'd; siod_redis_url_clear frees
 * them). Returns 0, -EINVAL with why[0..cap) set (not a redis:// URL, a
 * bad port or db; rediss:// is refused: this build's hiredis has no TLS),
 * or -ENOMEM. */
int siod_redis_url_parse(const char *url, siod_redis_url *out, char *why,
                         size_t cap);
void siod_redis_url_clear(siod_redis_url *u);

/* ---- the connection (siod_redis.c) -------------------------------------- */

typedef struct siod_redis siod_redis;

/* A message received on a subscribed channel (for a pattern, channel is
 * the channel it was published on). The bytes are valid for the call. */
typedef void (*siod_redis_msg_fn)(void *ud, const char *channel,
                                  size_t chlen, const unsigned char *msg,
                                  size_t len);

/* An integer reply: ok is 1 with value, or 0 (Redis down, an error). */
typedef void (*siod_redis_int_fn)(void *ud, int ok, long long value);

/* siod_redis_open's flags: Redis 7's sharded pub/sub (SSUBSCRIBE,
 * SPUBLISH, PUBSUB SHARDNUMSUB; no patterns) instead of the classic. */
#define SIOD_REDIS_SHARDED 0x1u

/* Starts connecting to url on base (it never blocks, except to resolve a
 * host name); while Redis cannot be reached it keeps retrying with
 * backoff (100 ms doubling to 5 s) and logs the outage once. on_msg (with
 * ud) gets every message of every subscription. Returns the connection,
 * or NULL with why[0..cap) set (a bad URL, memory). */
siod_redis *siod_redis_open(struct event_base *base, const char *url,
                            unsigned flags, siod_redis_msg_fn on_msg,
                            void *ud, char *why, size_t cap);

/* Closes both connections and frees r (callbacks pending get ok 0). */
void siod_redis_free(siod_redis *r);

/* For the status page: *up 1 while both connections are usable, else 0;
 * *lost the messages that could not be published since start. */
void siod_redis_state(const siod_redis *r, int *up, uint64_t *lost);

/* Returns 1 while both connections are up. */
int siod_redis_up(const siod_redis *r);

/* Subscribes to channel (pattern: PSUBSCRIBE; sharded: SSUBSCRIBE, never
 * a pattern) now if connected and again
 * after every reconnection; subscribing twice counts twice. Returns 0 or
 * -ENOMEM. */
int siod_redis_subscribe(siod_redis *r, const char *channel, int pattern);

/* Drops one subscription siod_redis_subscribe made. */
void siod_redis_unsubscribe(siod_redis *r, const char *channel, int pattern);

/* Publishes msg[0..len) on channel[0..chlen), or counts it as lost:
 * while Redis is down (the outage's lines say how many), past 64 MiB of
 * publishes unanswered or out of memory (a throttled line each), or when
 * the connection loses it. */
void siod_redis_publish(siod_redis *r, const char *channel, size_t chlen,
                        const void *msg, size_t len);

/* PUBSUB NUMSUB (sharded: SHARDNUMSUB) channel: fn(ud, 1, subscribers) later, or fn(ud, 0, 0)
 * (maybe at once) when Redis is down or answers an error. */
void siod_redis_numsub(siod_redis *r, const char *channel,
                       siod_redis_int_fn fn, void *ud);

/* A reply read as strings: ok 1 with the n elements of an array reply
 * (items[i] NULL for a nil, lens[i] its bytes; a string reply is one
 * item), valid for the call; or ok 0 (Redis down, an error, another
 * type). */
typedef void (*siod_redis_strs_fn)(void *ud, int ok, const char *const *items,
                                   const size_t *lens, size_t n);

/* Sends the command argv[0..argc) (lens[i] bytes each) on the command
 * connection: fn(ud, ...) later, or fn(ud, 0, ...) (maybe at once) when
 * Redis is down or memory runs out. */
void siod_redis_command(siod_redis *r, int argc, const char *const *argv,
                        const size_t *lens, siod_redis_strs_fn fn, void *ud);

/* As siod_redis_command, but while the command connection is not usable
 * (connecting, an outage) the command is held, in order with the others
 * held, and sent once it is (Redis restarted, a siod started before Redis
 * answered); fn(ud, 0, ...) when it was sent and the connection went
 * before the answer, at once past 32 MiB held, or at siod_redis_free. */
void siod_redis_command_held(siod_redis *r, int argc,
                             const char *const *argv, const size_t *lens,
                             siod_redis_strs_fn fn, void *ud);

/* Returns 1 while a command is sent at once (the command connection is
 * usable), else 0. */
int siod_redis_cmd_ready(const siod_redis *r);

/* Messages counted as lost since r was opened. */
uint64_t siod_redis_lost(const siod_redis *r);

/* siod_redis_command_held on the layer's connection (classic or
 * sharded): connection state recovery's store writes and reads through
 * it, and siod's stop waits for a PING through it (what recovery wrote at
 * the end reaches Redis). Without a started layer, fn(ud, 0, ...) at
 * once. */
void siod_cluster_command(int argc, const char *const *argv,
                          const size_t *lens, siod_redis_strs_fn fn,
                          void *ud);

/* The layer's key prefix (--redis-prefix; "" before the start). */
const char *siod_cluster_prefix(void);

/* Returns 1 when siod_cluster_command would send at once (the command
 * connection is usable), 0 when it would hold the command or fail. */
int siod_cluster_command_ready(void);

/* ---- the sharded subscriber connection (siod_redis_ssub.c) ------------- */

typedef struct siod_ssub siod_ssub;

/* What the connection reports to its owner (siod_redis.c): ready once
 * Redis answered the setup (AUTH, SELECT, PING); down when it failed or
 * went away (why: the reason), after which the connection frees itself
 * (the owner forgets it then); msg for every message (smessage). */
typedef struct siod_ssub_cbs {
    void (*ready)(void *ud);
    void (*down)(void *ud, const char *why);
    siod_redis_msg_fn msg;
} siod_ssub_cbs;

/* Starts connecting to u's host on base (a host name is resolved, the one
 * blocking step) and queues AUTH, SELECT and PING. Returns the
 * connection, or NULL with why[0..cap) set (the connect failed at once,
 * memory). */
siod_ssub *siod_ssub_open(struct event_base *base, const siod_redis_url *u,
                          const siod_ssub_cbs *cbs, void *ud, char *why,
                          size_t cap);

/* Queues `cmd channel` (SSUBSCRIBE, SUNSUBSCRIBE), sent when the
 * connection can write. A command memory refuses is lost with the
 * connection, which then fails and is reopened. */
void siod_ssub_command(siod_ssub *c, const char *cmd, const char *channel);

/* Closes and frees c without calling its callbacks (NULL: no-op). */
void siod_ssub_free(siod_ssub *c);

/* ---- the node registry (siod_cluster_nodes.c) -------------------------- */

/* The other nodes learned through Redis: tags[i] (NUL-terminated) is
 * served at urls[i] (a base URL, sio_relay_peer_url_valid), i < n. */
typedef void (*siod_cluster_nodes_fn)(void *ud, const char *const *tags,
                                      const char *const *urls, size_t n);

/* Default --node-ttl (ms): how long a node's entry lives in Redis
 * without a heartbeat; the heartbeat comes every ttl / 4. */
#define SIOD_NODE_TTL_DEFAULT 10000u
#define SIOD_NODE_TTL_MIN 400u

/* Joins the registry of the nodes sharing the layer's Redis (call after
 * siod_cluster_start) as node tag, served at url (NULL: learn only, do
 * not advertise), under the hash <prefix>#nodes: every ttl_ms / 4 this
 * node's entry is renewed (expiring ttl_ms later, by Redis's clock),
 * expired entries are dropped, and fn gets the others' table; while
 * Redis is down fn gets the last table again at each beat. Returns 0,
 * or -ENOMEM with why[0..cap) set. */
int siod_cluster_nodes_start(struct event_base *base, const char *tag,
                             const char *url, unsigned ttl_ms,
                             siod_cluster_nodes_fn fn, void *ud, char *why,
                             size_t cap);

/* Removes this node's entry (best effort) and stops the heartbeat; call
 * before siod_cluster_stop. Safe when not started. */
void siod_cluster_nodes_stop(void);

/* ---- the broadcast codec (siod_cluster_decode.c, _encode.c) ------------ */

/* Broadcast flags as the wire carries them (opts.flags). */
#define SIOD_CLUSTER_VOLATILE 0x1u       /* volatile: true */
#define SIOD_CLUSTER_NO_COMPRESS 0x2u    /* compress: false */
#define SIOD_CLUSTER_LOCAL 0x4u          /* local: true */

/* Attachments the decoder accepts in one broadcast. */
#define SIOD_CLUSTER_MAX_BINS 1000

typedef struct siod_cluster_bin {
    const unsigned char *data;
    size_t len;
} siod_cluster_bin;

/* A broadcast decoded from the wire: [uid, packet, opts]. */
typedef struct siod_cluster_bcast {
    char *uid;                       /* NUL-terminated */
    char *nsp;                       /* the packet's namespace ("/" if none) */
    char *packet;                    /* the Socket.IO packet text, e.g.
                                        `51-/chat,["ev",{"_placeholder"...}]`,
                                        NUL-terminated, packet_len bytes */
    size_t packet_len;
    siod_cluster_bin *bins;          /* its attachments, in placeholder
                                        order; they point into the message
                                        decoded */
    unsigned nbins;
    char **rooms, **except;
    size_t nrooms, nexcept;
    unsigned flags;                  /* SIOD_CLUSTER_* */
    unsigned timeout_ms;             /* flags.timeout (0: none) */
} siod_cluster_bcast;

/* Decodes msg[0..len), a broadcast from @socket.io/redis-adapter or
 * @socket.io/redis-emitter, into *out: the packet's data becomes JSON text
 * (bin → attachment placeholder, Date → its ISO string, undefined → null)
 * in an EVENT or BINARY_EVENT packet that siod's own Socket.IO parser
 * accepts. Returns 0; -EPROTO with why[0..cap) set (not a broadcast, not
 * an event, bad msgpack or text, too deep, too many attachments); or
 * -ENOMEM. *out holds nothing on failure. */
int siod_cluster_decode_bcast(const unsigned char *msg, size_t len,
                              siod_cluster_bcast *out, char *why, size_t cap);
void siod_cluster_bcast_clear(siod_cluster_bcast *b);

/* Decodes msg[0..len), a BROADCAST request (a broadcast with acks: the
 * msgpack map {uid, requestId, type: 7, packet, opts}), into *out as
 * siod_cluster_decode_bcast does, with *request_id (malloc'd) and the
 * wait in out->timeout_ms. Returns 0, -EPROTO (why set) or -ENOMEM. */
int siod_cluster_decode_bcast_request(const unsigned char *msg, size_t len,
                                      siod_cluster_bcast *out,
                                      char **request_id, char *why,
                                      size_t cap);

/* Encodes a broadcast: Socket.IO packet text pkt[0..len) (an EVENT or
 * BINARY_EVENT as siod encodes it, without the Engine.IO prefix) with its
 * attachments atts[0..natts), from node uid, to rooms and except (flags:
 * SIOD_CLUSTER_VOLATILE, SIOD_CLUSTER_NO_COMPRESS), as the msgpack array
 * [uid, {type: 2, data, nsp}, {rooms, except, flags}] (binary as bin);
 * with request_id, as the BROADCAST request (a broadcast with acks)
 * {uid, requestId, type: 7, packet, opts}, pkt's ack id left out.
 * Returns 0 with *out (malloc'd) and *outlen; -EINVAL (not an event
 * packet, an ack id without request_id, data json-c cannot read, a
 * placeholder out of range) or -ENOMEM. */
int siod_cluster_encode_bcast(const char *uid, const char *request_id,
                              const char *pkt, size_t len,
                              const siod_cluster_bin *atts, unsigned natts,
                              char *const *rooms, size_t nrooms,
                              char *const *except, size_t nexcept,
                              unsigned flags, unsigned char **out,
                              size_t *outlen);

/* ---- the request channel (siod_cluster_request.c) --------------------- */

/* @socket.io/redis-adapter's request types. */
enum siod_cluster_req_type {
    SIOD_REQ_SOCKETS = 0,
    SIOD_REQ_ALL_ROOMS = 1,
    SIOD_REQ_REMOTE_JOIN = 2,
    SIOD_REQ_REMOTE_LEAVE = 3,
    SIOD_REQ_REMOTE_DISCONNECT = 4,
    SIOD_REQ_REMOTE_FETCH = 5,
    SIOD_REQ_SERVER_SIDE_EMIT = 6,
    SIOD_REQ_BROADCAST = 7,
    SIOD_REQ_BROADCAST_CLIENT_COUNT = 8,
    SIOD_REQ_BROADCAST_ACK = 9
};

/* A request as read from the wire (strings NUL-terminated, malloc'd). */
typedef struct siod_cluster_req {
    int type;
    char *uid;                       /* NULL: none (the emitter's) */
    char *request_id;                /* NULL: no answer expected */
    int has_opts;                    /* opts given: rooms and except */
    char **rooms, **except;
    size_t nrooms, nexcept;
    char **names;                    /* the rooms to join or leave */
    size_t nnames;
    int close;                       /* a disconnect closes the connection */
} siod_cluster_req;

/* Reads msg[0..len), a JSON request, into *q. Returns 0; -EPROTO (not
 * JSON, not an object with a numeric type, a bad room list; msgpack
 * requests are not read) or -ENOMEM; *q holds nothing on failure. */
int siod_cluster_decode_request(const unsigned char *msg, size_t len,
                                siod_cluster_req *q);
void siod_cluster_req_clear(siod_cluster_req *q);

/* A JSON response {"requestId": request_id} and, with key, the array
 * items[0..n) under it, quoted as strings (quote) or inserted as the JSON
 * texts they are. Returns it (malloc'd, *outlen bytes), or NULL (memory,
 * a string that is not UTF-8). */
char *siod_cluster_response(const char *request_id, const char *key,
                            char *const *items, size_t n, int quote,
                            size_t *outlen);

/* The responses to a BROADCAST request: the JSON
 * {"type":8,"requestId","clientCount"} (returns it malloc'd, or NULL),
 * and one client's answer as msgpack {type: 9, requestId, packet: arg},
 * arg the JSON text json[0..len) whose placeholders point into
 * bins[0..nbins) (binary as bin). The latter returns 0 with *out
 * (malloc'd) and *outlen, -EINVAL (json-c cannot read arg, a placeholder
 * out of range) or -ENOMEM. */
char *siod_cluster_client_count(const char *request_id, size_t count,
                                size_t *outlen);
int siod_cluster_encode_ack(const char *request_id, const char *json,
                            size_t len, const siod_cluster_bin *bins,
                            unsigned nbins, unsigned char **out,
                            size_t *outlen);

/* One client's answer to a broadcast with acks, from another server
 * (the msgpack {type: 9, requestId, packet: arg}). */
typedef struct siod_cluster_ack {
    char *request_id;
    char *json;                      /* arg as JSON text (len bytes), its
                                        binary as placeholders */
    size_t len;
    siod_cluster_bin *bins;          /* pointing into the message */
    unsigned nbins;
} siod_cluster_ack;

/* Decodes msg[0..len), a type 9 response, into *out. Returns 0, -EPROTO
 * (anything else) or -ENOMEM; *out holds nothing on failure. */
int siod_cluster_decode_ack(const unsigned char *msg, size_t len,
                            siod_cluster_ack *out);
void siod_cluster_ack_clear(siod_cluster_ack *a);

/* Decodes msg[0..len), a JSON type 8 response (a server's client count
 * for a broadcast with acks): 0 with *request_id (malloc'd) and *count,
 * -EPROTO (another response) or -ENOMEM. */
int siod_cluster_decode_count(const unsigned char *msg, size_t len,
                              char **request_id, size_t *count);

/* ---- msgpack and JSON (siod_cluster_decode.c, _encode.c) --------------- */

/* msg[0..len), one whole msgpack value, as JSON text (bin as attachment
 * placeholders, numbered in order, into *bins pointing into msg; Date as
 * its ISO string). Returns 0 with *json (malloc'd, NUL-terminated, *jlen
 * bytes), *bins (malloc'd, or NULL) and *nbins; -EPROTO or -ENOMEM. */
int siod_cluster_decode_json(const unsigned char *msg, size_t len,
                             char **json, size_t *jlen,
                             siod_cluster_bin **bins, unsigned *nbins);

/* JSON text json[0..len) as msgpack, its placeholders replaced by bins
 * (as bin). Returns 0 with *out (malloc'd) and *outlen; -EINVAL (json-c
 * cannot read it, a placeholder out of range) or -ENOMEM. */
int siod_cluster_encode_json(const char *json, size_t len,
                             const siod_cluster_bin *bins, unsigned nbins,
                             unsigned char **out, size_t *outlen);

/* ---- the sharded adapter's wire (siod_cluster_shard.c) ----------------- */

/* socket.io-adapter's ClusterAdapter message types (1, 2 and 13 are its
 * heartbeat variant's, which the sharded adapter does not send). */
enum siod_cluster_msg_type {
    SIOD_MSG_BROADCAST = 3,
    SIOD_MSG_SOCKETS_JOIN = 4,
    SIOD_MSG_SOCKETS_LEAVE = 5,
    SIOD_MSG_DISCONNECT_SOCKETS = 6,
    SIOD_MSG_FETCH_SOCKETS = 7,
    SIOD_MSG_FETCH_SOCKETS_RESPONSE = 8,
    SIOD_MSG_SERVER_SIDE_EMIT = 9,
    SIOD_MSG_SERVER_SIDE_EMIT_RESPONSE = 10,
    SIOD_MSG_BROADCAST_CLIENT_COUNT = 11,
    SIOD_MSG_BROADCAST_ACK = 12
};

/* A message as read from the wire (strings NUL-terminated, malloc'd). */
typedef struct siod_cluster_msg {
    int type;
    char *uid;                       /* the sender's ("" if none) */
    char *nsp;                       /* the envelope's namespace */
    char *request_id;                /* NULL: none */
    siod_cluster_bcast b;            /* BROADCAST: its packet; 3 to 7: the
                                        opts (rooms, except, flags);
                                        BROADCAST_ACK: b.bins, arg's */
    char **names;                    /* SOCKETS_JOIN/LEAVE: the rooms */
    size_t nnames;
    int close;                       /* DISCONNECT_SOCKETS */
    size_t client_count;             /* BROADCAST_CLIENT_COUNT */
    char *arg;                       /* as JSON (arg_len bytes):
                                        BROADCAST_ACK, SERVER_SIDE_EMIT_
                                        RESPONSE: the answer ("null" if
                                        none); SERVER_SIDE_EMIT: the array
                                        [event, ...args]; FETCH_SOCKETS_
                                        RESPONSE: the sockets array */
    size_t arg_len;
} siod_cluster_msg;

/* Decodes msg[0..len), a sharded adapter's message (JSON, or msgpack
 * when it carries binary), into *out; attachments point into msg. A
 * BROADCAST's packet becomes siod's packet text as
 * siod_cluster_decode_bcast makes it; other types keep what they carry.
 * Returns 0; -EPROTO with why[0..cap) set (not a message, a bad packet,
 * options or data); or -ENOMEM. *out holds nothing on failure. */
int siod_cluster_decode_msg(const unsigned char *msg, size_t len,
                            siod_cluster_msg *out, char *why, size_t cap);
void siod_cluster_msg_clear(siod_cluster_msg *m);

/* Encodes a BROADCAST (with request_id: a broadcast with acks, pkt's ack
 * id left out) from uid, of siod's packet pkt[0..len) with attachments
 * atts[0..natts), as siod_cluster_encode_bcast takes them: JSON, or
 * msgpack with binary. Returns 0 with *out (malloc'd) and *outlen;
 * -EINVAL or -ENOMEM. */
int siod_cluster_encode_shard_bcast(const char *uid, const char *request_id,
                                    const char *pkt, size_t len,
                                    const siod_cluster_bin *atts,
                                    unsigned natts, char *const *rooms,
                                    size_t nrooms, char *const *except,
                                    size_t nexcept, unsigned flags,
                                    unsigned char **out, size_t *outlen);

/* Encodes one of this server's requests of type from uid on namespace
 * nsp, JSON: SOCKETS_JOIN or SOCKETS_LEAVE (data {opts: {rooms, except,
 * flags}, rooms: [room]}), DISCONNECT_SOCKETS ({opts, close}),
 * FETCH_SOCKETS ({opts}), SERVER_SIDE_EMIT ({packet}: the JSON array
 * packet[0..plen)); with request_id, data.requestId too. Returns 0 with
 * *out (malloc'd) and *outlen; -EINVAL (a name that is not UTF-8) or
 * -ENOMEM. */
int siod_cluster_encode_shard_request(const char *uid, const char *nsp,
                                      int type, const char *request_id,
                                      char *const *rooms, size_t nrooms,
                                      char *const *except, size_t nexcept,
                                      const char *room, int close,
                                      const char *packet, size_t plen,
                                      unsigned char **out, size_t *outlen);

/* Encodes a response of type from uid on namespace nsp: data
 * {"requestId": request_id} and, with key, key: value (the JSON text
 * value[0..vlen), its placeholders into bins[0..nbins)). JSON, or
 * msgpack with binary. Returns 0 with *out (malloc'd) and *outlen;
 * -EINVAL or -ENOMEM. */
int siod_cluster_encode_shard_response(const char *uid, const char *nsp,
                                       int type, const char *request_id,
                                       const char *key, const char *value,
                                       size_t vlen,
                                       const siod_cluster_bin *bins,
                                       unsigned nbins, unsigned char **out,
                                       size_t *outlen);

#endif
