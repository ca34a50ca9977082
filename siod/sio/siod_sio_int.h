/* Internals of siod's Socket.IO v5 layer (sio/), shared by its files: the
 * client (one per Engine.IO session: decoder, namespaces joined), sockets
 * (one per client and namespace), namespaces with their application and
 * adapter, outbound packets encoded once, and acknowledgements both ways.
 * The layer sits on engine/siod_engine.h and adapter/siod_adapter.h and
 * serves the public API in siod_app.h. Single event-loop thread.
 *
 * Who calls whom inside the layer (never back up; a file may skip levels
 * downwards; the sections below follow this order from the bottom):
 *   siod_sio_client.c       the "socketio" engine app: decoding, dispatch,
 *                           connectTimeout, starting and stopping the layer
 *     -> siod_sio_api.c     the HTTP emit API's operations (API frames),
 *                           through the public siod_app.h calls only
 *        -> siod_sio_stats.c  its "stats" operation (counters, gauges,
 *                           namespaces) for status pages and metrics
 *     -> siod_sio_host.c    the ops adapters are created with
 *     -> siod_sio_socket.c  a socket's states: connect (middleware),
 *                           events in, emits out, disconnects; beside it
 *        siod_sio_bcast.c   broadcasts and the namespace-level API, and
 *        siod_sio_cluster.c the other servers' events and this one's
 *                           server-side emits (the three never call each
 *                           other)
 *     -> siod_sio_recovery.c  connection state recovery: offsets on
 *                           the packets sent, sockets kept when they
 *                           leave, restored on a CONNECT with their pid,
 *                           missed packets replayed
 *        -> siod_sio_state.c  its state file across a restart of siod
 *     -> siod_sio_guard.c   an event's rate and schema, before any
 *                           handler (the guard layer's limits)
 *     -> siod_sio_ack.c     acks: awaited by the server (one emit's, a
 *                           broadcast's) and owed to a client
 *     -> siod_sio_socket_base.c  the socket object: references,
 *                           properties, data, rooms, writing to it
 *     -> siod_sio_observe.c the observers (siod_app_observe.h): what
 *                           the files above report of every socket
 *     -> siod_sio_conn.c    the client's connection: its session, writes,
 *                           its list of sockets
 *     -> siod_sio_nsp.c     namespaces: registry, patterns and children
 *     -> siod_sio_store_redis.c  recovery's store in Redis (also told
 *                           by siod_sio_socket_base.c of a tracked
 *                           socket's changes) -> siod_sio_store_blob.c,
 *                           its records and logged packets as bytes
 *     -> siod_sio_handshake.c, siod_sio_packet.c, siod_sio_util.c,
 *        siod_sio_store.c   (handshake data, encoding, config, timers,
 *                           recovery's in-process store)
 * Upward calls go only through ops: the adapter's host (siod_sio_host.c)
 * and the applications hooks (siod_sio_set_apps).
 *
 * Errors: inside the layer, siod's model (core/siod_core.h): 0 or a
 * negative errno code, detail in a caller's buffer, nothing logged by a
 * function that returns a failure. The application ABI's codes (SIOD_OK,
 * SIOD_E* in siod_app.h) appear only where a public API function returns
 * or an application's ack callback is called, translated by
 * siod_sio_app_err below. A failure is logged where it stops: the engine
 * callbacks (sio_on_open, the dispatch of sio_on_message), timers, the
 * layer's start, and an API function for what the operator should see
 * that the application gets only as a code (a join refused at
 * --max-rooms-per-socket, throttled). */
#ifndef SIOD_SIO_INT_H
#define SIOD_SIO_INT_H

#include <errno.h>
#include <regex.h>
#include <stdint.h>

#include "adapter/siod_adapter.h"
#include "core/siod_core.h"
#include "engine/siod_engine.h"
#include "guard/siod_guard.h"
#include "sio.h"
#include "sio_packet.h"
#include "siod_sio.h"

struct event;

typedef struct siod_sio_client siod_sio_client;
typedef struct siod_sio_hs siod_sio_hs;
typedef struct siod_sio_ackent siod_sio_ackent;
typedef struct siod_sio_missed siod_sio_missed;

/* The application ABI's code for code, a negative errno code of this
 * layer (0 and positive values are returned as they are):
 *   -EINVAL     SIOD_EINVAL         a bad argument
 *   -EPIPE      SIOD_ECLOSED        the socket (or its client's session)
 *                                   is closed
 *   -ENOMEM     SIOD_ENOMEM
 *   -EPERM      SIOD_ERESERVED      a reserved event name
 *   -EALREADY   SIOD_EALREADY       an ack already sent
 *   -ENOSPC, -ENOBUFS, -EMFILE, -EBUSY
 *               SIOD_ELIMIT         a limit siod enforces
 *   -ETIMEDOUT  SIOD_ETIMEDOUT      (ack callbacks) no answer in time
 *   -ECONNRESET SIOD_EDISCONNECTED  (ack callbacks) the socket left first
 *   -EOPNOTSUPP SIOD_ENOCLUSTER     no cluster (siod runs without --redis)
 *   -ENOTCONN   SIOD_ECLUSTERDOWN   the cluster's Redis cannot be reached
 *   -ECANCELED  SIOD_ECLOSED        the namespace went before the answers
 * Any other code (none is expected) becomes SIOD_EINVAL. */
static inline int siod_sio_app_err(int code)
{
    switch (code) {
    case -EINVAL:
        return SIOD_EINVAL;
    case -EPIPE:
        return SIOD_ECLOSED;
    case -ENOMEM:
        return SIOD_ENOMEM;
    case -EPERM:
        return SIOD_ERESERVED;
    case -EALREADY:
        return SIOD_EALREADY;
    case -ENOSPC:
    case -ENOBUFS:
    case -EMFILE:
    case -EBUSY:
        return SIOD_ELIMIT;
    case -ETIMEDOUT:
        return SIOD_ETIMEDOUT;
    case -ECONNRESET:
        return SIOD_EDISCONNECTED;
    case -EOPNOTSUPP:
        return SIOD_ENOCLUSTER;
    case -ENOTCONN:
        return SIOD_ECLUSTERDOWN;
    case -ECANCELED:
        return SIOD_ECLOSED;
    default:
        return code >= 0 ? code : SIOD_EINVAL;
    }
}

/* Default JSON nesting accepted in packets from clients and applications. */
#define SIOD_SIO_MAX_DEPTH 128

/* Outbound packets are siod_sio_out (adapter/siod_adapter.h): encoded
 * once, handed to the adapter and back. */

/* A socket's states; only transit() in siod_sio_socket.c changes them. */
enum siod_sock_state { SOCK_PENDING, SOCK_CONNECTED, SOCK_CLOSED };

struct siod_socket {
    unsigned refs;
    enum siod_sock_state state;
    char id[SIO_SID_LEN + 1];
    siod_nsp *nsp;                   /* holds a reference */
    siod_sio_client *client;         /* NULL once disconnected */
    siod_socket *cnext;              /* the client's sockets */
    siod_socket *nprev, *nnext;      /* the namespace's connected sockets */
    siod_sio_hs *hs;                 /* shared with the client */
    char *auth;                      /* JSON object text */
    int64_t issued;
    char time[80];
    char *hs_json;                   /* built on first request */
    void *data;
    void (*data_free)(void *);
    char *data_json;
    siod_sio_ackent *acks;           /* server -> client acks awaited */
    int mw_pending;                  /* connect_mw said SIOD_MW_PENDING */
    int closing;                     /* on_disconnecting is running */
    /* connection state recovery (siod_sio_recovery.c) */
    char pid[SIO_SID_LEN + 1];       /* "" while recovery is off */
    char *rec_offset;                /* restored: the client's offset */
    int recovered;                   /* restored from a kept state */
    int kept;                        /* left; its state kept for it */
    int live;                        /* in recovery's index by pid */
    int resumed;                     /* taken back from a hand-over: no
                                      * CONNECT answer, replay from the
                                      * stop's offset */
    siod_sio_missed *rec_missed;     /* restored: packets to replay */
    void *rec_live;                  /* the Redis store's while tracked */
    void *aslot;                     /* the adapter's (siod_adapter_host) */
    siod_guard_socket guard;         /* its event rate (siod_sio_guard.c) */
};

/* The client: one per Engine.IO session (siod_sio_conn.c has its
 * connection side, siod_sio_client.c decodes what arrives). It lives while
 * its session does and while a callback runs on it (refs). */
struct siod_sio_client {
    unsigned refs;
    siod_session *s;                 /* NULL once the session closed */
    struct event *connect_timer;
    siod_socket *sockets;            /* connected and pending */
    siod_sio_hs *hs;
    /* a binary packet waiting for its attachments */
    int rx_active;
    char *rx_text;
    size_t rx_len;
    unsigned rx_want, rx_n;
    siod_bin *rx_bins;               /* rx_want slots, malloc'd */
    size_t rx_bytes;                 /* text and attachments buffered */
};

struct siod_nsp {
    unsigned refs;
    char *name;
    size_t name_len;
    uint64_t hash;
    siod_sio_app *app;
    int is_parent;                   /* a pattern: '~' + regex */
    regex_t re;
    siod_nsp *parent;                /* a dynamic child's pattern */
    siod_nsp *children;              /* a pattern's live children */
    siod_nsp *sib_prev, *sib_next;
    int registered;                  /* findable by name */
    const siod_adapter_ops *aops;
    void *adapter;
    siod_socket *sockets;            /* connected */
    size_t count;
    size_t pending;                  /* sockets in connect middleware */
    uint64_t next_id;                /* ack ids (the reference's _ids) */
    siod_nsp *all_next;              /* configured namespaces */
    int explicit;                    /* bound by name (-n) */
    siod_server_event_cb sev_cb;     /* other servers' events */
    void *sev_ud;
};

/* ---- siod_sio_util.c ---------------------------------------------------- */

/* Returns the loop and settings the layer runs with (set once by the
 * engine app's init through siod_sio_set_config). */
const siod_engine_config *siod_sio_config(void);
void siod_sio_set_config(const siod_engine_config *cfg);

/* ---- siod_sio_packet.c -------------------------------------------------- */

/* Encodes an EVENT (event != NULL) or ACK packet for namespace nsp with
 * optional ack id into *o (binary type and attachments when args has
 * placeholders). Returns 0, or -EINVAL (args not a JSON array, a
 * placeholder beyond nbins, no event name for an event, an event name
 * that is not UTF-8), -EPERM (a reserved event name) or -ENOMEM; *o then
 * holds nothing. */
int siod_sio_encode(siod_sio_out *o, int ack, const char *nsp, int has_id,
                    uint64_t id, const char *event, const siod_args *args);

/* siod_sio_encode for an EVENT without ack id whose data ends with the
 * string offset (connection state recovery's, the reference's way):
 * [event, ...args, offset]. Returns as siod_sio_encode. */
int siod_sio_encode_offset(siod_sio_out *o, const char *nsp,
                           const char *event, const siod_args *args,
                           const char *offset);

/* Encodes a packet whose data is JSON text data[0..len) (len 0: none) for
 * CONNECT, DISCONNECT, CONNECT_ERROR. Returns 0, -ENOMEM, or -EINVAL (the
 * codec refused the header: a namespace it cannot encode). */
int siod_sio_encode_raw(siod_sio_out *o, int type, const char *nsp,
                        size_t nsp_len, const char *data, size_t len);

/* Releases what *o holds; *o may be reused. */
void siod_sio_out_clear(siod_sio_out *o);

/* A growing NUL-terminated text (zero-initialised: empty; p is the
 * caller's to free). siod_sio_text_add appends s[0..n) and returns 0 or
 * -ENOMEM; siod_sio_text_add_renumbered appends JSON text s[0..n) whose
 * placeholders point into nbins buffers, renumbered by offset (canonical
 * form), and returns 0, -EINVAL (not JSON, a bad placeholder) or
 * -ENOMEM. */
typedef struct siod_sio_text {
    char *p;
    size_t len, cap;
} siod_sio_text;
int siod_sio_text_add(siod_sio_text *t, const char *s, size_t n);
int siod_sio_text_add_renumbered(siod_sio_text *t, const char *s, size_t n,
                                 unsigned nbins, unsigned offset);

/* Copies the data of a decoded packet p as an args array, without the
 * event name for an event (skip_first), NUL-terminated; *len is its
 * length. Returns a malloc'd string, or NULL if memory runs out. */
char *siod_sio_args_text(const struct sio_packet *p, int skip_first,
                         size_t *len);

/* ---- siod_sio_store.c --------------------------------------------------- */

/* Connection state recovery's memory (the reference adapter's packet log,
 * persistSession and restoreSession) behind ops, so that a store outside
 * siod (Redis) can keep it across siod's restarts. siod_sio_store_mem
 * keeps it in this process. */

/* A socket's state kept while its client is away (malloc'd, with its
 * strings; siod_sio_saved_free frees it all). */
typedef struct siod_sio_saved {
    char sid[SIO_SID_LEN + 1];
    char pid[SIO_SID_LEN + 1];
    char *nsp;                       /* its namespace's name */
    char **rooms;                    /* its rooms, its own id's included */
    size_t nrooms;
    char *data_json;                 /* socket.data; NULL when unset */
    int64_t at;                      /* when it left, ms since the epoch */
} siod_sio_saved;
void siod_sio_saved_free(siod_sio_saved *v);

/* An offset's text: "<ms>-<n>", the form of a Redis stream id. */
#define SIOD_SIO_OFFSET_MAX 48


typedef struct siod_sio_store_stats {
    size_t packets, log_bytes, sessions, session_bytes;
} siod_sio_store_stats;

/* The packets a store outside siod read with a kept state (the Redis
 * store's, siod_sio_store_redis.c), held by the socket until its replay;
 * NULL for the in-process store, whose replay reads its log. */
void siod_sio_missed_free(siod_sio_missed *m);

/* How take answers: v (the caller's) and m (the caller's, maybe NULL)
 * when the state can be restored, else v NULL and why (static text). */
typedef void (*siod_sio_taken_fn)(void *ud, siod_sio_saved *v,
                                  siod_sio_missed *m, const char *why);

typedef struct siod_sio_store_ops {
    const char *name;
    /* Returns a store with the window and limits of conf, or NULL if
     * memory runs out. destroy frees it and all it keeps (takes under
     * way are answered first, not restorable). */
    void *(*create)(const siod_sio_recovery_conf *conf);
    void (*destroy)(void *st);
    /* Writes the offset of the next packet logged into buf (the
     * in-process store: greater than every offset before it; the Redis
     * store: unique across the cluster). */
    void (*next_offset)(void *st, char buf[SIOD_SIO_OFFSET_MAX]);
    /* Logs pkt, which carries offset as its last argument, sent to the
     * sockets of namespace nsp that o selects. Returns 0, -EINVAL (not an
     * offset of next_offset) or -ENOMEM (not logged). Past a limit the
     * oldest packets are dropped (pkt too, if it is over one alone). */
    int (*append)(void *st, const char *offset, const char *nsp,
                  const siod_bcast_opts *o, const siod_sio_out *pkt);
    /* Calls fn(ud, pkt) for every packet logged after offset for nsp that
     * a socket whose rooms in(ud, room) tells (1: in it) was selected
     * for, oldest first: those of m when the take gave some, else the
     * log's. Returns their number, or -ENOENT (offset is not in the log:
     * too old, or never). */
    ssize_t (*replay)(void *st, const char *nsp, const char *offset,
                      const siod_sio_missed *m,
                      int (*in)(void *ud, const char *room),
                      void (*fn)(void *ud, const siod_sio_out *pkt),
                      void *ud);
    /* Keeps v (the store's from now on) for the window; one kept under the
     * same pid goes. Returns 0 or -ENOMEM (v is freed). Past a limit the
     * oldest kept go. */
    int (*save)(void *st, siod_sio_saved *v);
    /* Takes the state kept under pid for namespace nsp if it can be
     * restored: kept, not past the window, offset still in the log.
     * Calls done(ud, ...) exactly once, from this call or later from
     * the loop. */
    void (*take)(void *st, const char *nsp, const char *pid,
                 const char *offset, siod_sio_taken_fn done, void *ud);
    /* Drops what is past the window at now (ms since the epoch). */
    void (*expire)(void *st, int64_t now);
    void (*stats)(void *st, siod_sio_store_stats *out);
    /* Optional (NULL in the in-process store, which keeps a socket only
     * when it leaves): connected socket s is kept up to date in the store
     * while it is connected (track), so that a crash of siod leaves it
     * restorable; left: s is leaving, its state saved (kept 1) or not to
     * be kept (0: what the store holds of it goes). */
    void (*track)(void *st, siod_socket *s);
    void (*left)(void *st, siod_socket *s, int kept);
} siod_sio_store_ops;

extern const siod_sio_store_ops siod_sio_store_mem;

/* What st (a siod_sio_store_mem store) holds: sockets kept, and the bytes
 * counted against the limits (the log's and the kept sockets'). */
void siod_sio_store_mem_figures(void *st, size_t *sockets, size_t *bytes);

/* The in-process store's state file edges (siod_sio_state.c writes and
 * reads the file): a packet of the log as the store keeps it. */
typedef struct siod_sio_logged {
    uint64_t ms, n;                  /* its offset, "<ms>-<n>" */
    int64_t at;                      /* when it was sent, ms since the epoch */
    const char *names;               /* nsp, then nrooms rooms, then nexcept
                                      * rooms, each NUL-terminated */
    size_t nrooms, nexcept;
    siod_sio_out pkt;
} siod_sio_logged;

/* Walks what st (a siod_sio_store_mem store) keeps, oldest first: packet
 * for every packet logged, then saved for every kept socket; *ms, *n get
 * the offset counter (the last offset given). Stops at the first callback
 * that returns a negative code and returns it; else 0 (a NULL callback
 * is skipped). Nothing changes. */
int siod_sio_store_mem_dump(void *st, uint64_t *ms, uint64_t *n,
                            int (*packet)(void *ud, const siod_sio_logged *e),
                            int (*saved)(void *ud, const siod_sio_saved *v),
                            void *ud);

/* Logs e in st as it was logged before (its offset and time; offsets must
 * come in increasing order), within st's window and limits. Returns 0,
 * -EINVAL (an offset not after the last) or -ENOMEM. Kept sockets go
 * back through the ops' save; siod_sio_store_mem_restore_offset raises
 * the offset counter to at least (ms, n). */
int siod_sio_store_mem_restore(void *st, const siod_sio_logged *e);
void siod_sio_store_mem_restore_offset(void *st, uint64_t ms, uint64_t n);


/* ---- siod_sio_state.c --------------------------------------------------- */

/* A session handed over (siod_sio_handover.h). */
typedef struct siod_sio_handover siod_sio_handover;

/* Writes what the in-process store st keeps to the state file path
 * (a temporary file beside it, mode 0600, synced, renamed over it), with
 * the writer's window. Returns 0 with *packets and *sockets written, or a
 * negative errno with why[0..cap) set (no file is left half written). */
int siod_sio_state_write(const char *path, void *st, unsigned window_ms,
                         const siod_sio_handover *handed,
                         size_t *packets, size_t *sockets, char *why,
                         size_t cap);

typedef struct siod_sio_state_info {
    size_t packets, sockets;         /* restored */
    size_t sessions;                 /* handed-over sessions read */
    int64_t age_ms;                  /* how long ago the file was written */
    int foreign;                     /* not a siod state file at all */
} siod_sio_state_info;

/* Reads the state file path into st (a new siod_sio_store_mem store,
 * within its window and limits). Refused, with why[0..cap) set: a file
 * not this user's or that others may write (-EPERM), not a state file
 * (-EPROTO, info->foreign), another version or a checksum that does not
 * match (-EPROTO), one written longer than window_ms ago (-ESTALE), or
 * one that cannot be read (a negative errno: -ENOENT when absent). st may
 * then hold part of the file: the caller drops it. Returns 0 with *info
 * filled. */
int siod_sio_state_read(const char *path, void *st, unsigned window_ms,
                        int (*handed)(siod_sio_handover *h),
                        siod_sio_state_info *info, char *why, size_t cap);

/* ---- siod_sio_store_blob.c ---------------------------------------------- */

/* The Redis store's blobs: length-prefixed fields (a 4-byte big-endian
 * length, the bytes), docs/cluster.md. */

/* A socket's record: "r1", sid, pid, nsp, the node it lives on (this
 * process's random tag), whether it has data, data_json, its rooms.
 * Returns it (malloc'd, *len bytes), or NULL if memory runs out. */
char *siod_sio_blob_record(const char *sid, const char *pid,
                           const char *nsp, const char *node,
                           const char *data_json, const char *const *rooms,
                           size_t nrooms, size_t *len);

/* Reads record p[0..len) of a socket of namespace nsp: returns its state
 * (the caller's) with node[] the tag of the process it lived on, or NULL
 * (not a record, another namespace, memory). */
siod_sio_saved *siod_sio_blob_record_read(const char *p, size_t len,
                                          const char *nsp, char node[17]);

/* A logged packet: "p1", o's flags, the sending node's tag, nsp, o's
 * rooms and except, then pkt's buffers whole. Returns it (malloc'd,
 * *len bytes) or NULL if memory runs out. */
char *siod_sio_blob_packet(const char *node, const char *nsp,
                           const siod_bcast_opts *o, const siod_sio_out *pkt,
                           size_t *len);

/* raw[0..rawlen) holds packets as "<len>:<blob>", oldest first: calls
 * fn(ud, pkt) for each one a socket of nsp that lived on node, with the
 * rooms in(ud, room) tells, was selected for (a local packet only from
 * its own node), rebuilt in buffers of its own. Returns their number
 * (what cannot be read or rebuilt is skipped). */
ssize_t siod_sio_blob_replay(const char *raw, size_t rawlen, const char *nsp,
                             const char *node,
                             int (*in)(void *ud, const char *room),
                             void (*fn)(void *ud, const siod_sio_out *pkt),
                             void *ud);

/* ---- siod_sio_store_redis.c --------------------------------------------- */

/* Recovery's store in Redis (with --redis: siod_sio_set_recovery_redis),
 * shared by the nodes of a cluster and kept across a crash of siod. */
extern const siod_sio_store_ops siod_sio_store_redis;

/* A claim's command for Redis: EVAL of the claim script
 * (siod_sio_store_claim.c says what it takes and answers) on the record's
 * key, the stream, the take's own key and the client's offset, which must
 * outlive *c. */
#define SIOD_SIO_CLAIM_ARGC 9
typedef struct siod_sio_claim_cmd {
    const char *argv[SIOD_SIO_CLAIM_ARGC];
    size_t lens[SIOD_SIO_CLAIM_ARGC];
    char skew[16], ttl[16];
} siod_sio_claim_cmd;
void siod_sio_claim_command(siod_sio_claim_cmd *c, const char *key,
                            const char *stream, const char *taken_key,
                            const char *offset);


/* Tracked socket s changed (rooms joined or left, data): its record is
 * written again soon, coalesced with its other changes (a no-op for a
 * socket the store does not track). */
void siod_sio_store_redis_touch(siod_socket *s);

/* ---- siod_sio_handshake.c ----------------------------------------------- */

/* Builds the connection's shared handshake from session s's OPEN info.
 * Returns it (one reference), or NULL if memory runs out. */
siod_sio_hs *siod_sio_hs_new(siod_session *s);
siod_sio_hs *siod_sio_hs_ref(siod_sio_hs *hs);
void siod_sio_hs_unref(siod_sio_hs *hs);
/* A Socket.IO 2 client's namespace query (q[0..n), after the '?') as the
 * JSON object the reference makes of it for v3 clients' auth: values
 * URL-decoded, repeated keys as arrays. Returns it (malloc'd, the
 * caller's), or NULL if memory runs out. */
char *siod_sio_query_json(const char *q, size_t n);
/* Writes ms since the epoch as JavaScript's Date string (UTC) into buf. */
void siod_sio_format_time(int64_t ms, char *buf, size_t cap);

/* ---- siod_sio_nsp.c ----------------------------------------------------- */

/* Makes the configured namespaces findable by name (siod's hash seed is
 * set by now) and gives each an adapter of aops created with host (both
 * static; dynamic children get theirs too). Returns 0, or -ENOMEM with
 * why[0..cap) set. */
int siod_sio_nsps_start(const siod_adapter_ops *aops,
                        const siod_adapter_host *host, char *why, size_t cap);

/* Finds the namespace a client may join under name[0..len): configured,
 * a live dynamic child, or a new child of the first pattern that matches.
 * Returns 0 with *out set (the registry keeps its reference), else *out is
 * NULL and it returns -ENOENT (no such namespace), -ENOSPC (a new child
 * would pass --max-dynamic-namespaces) or -ENOMEM; for those two
 * why[0..cap) says which namespace and why (the caller logs it). */
int siod_sio_nsp_resolve(const char *name, size_t len, siod_nsp **out,
                         char *why, size_t cap);
siod_nsp *siod_sio_nsp_ref(siod_nsp *nsp);
void siod_sio_nsp_unref(siod_nsp *nsp);
/* A socket left nsp (or its middleware refused it): an empty dynamic
 * child is forgotten. */
void siod_sio_nsp_check_empty(siod_nsp *nsp);
/* Calls fn for each configured namespace with its connected sockets (a
 * pattern: those of all its live children). */
void siod_sio_nsps_each(void (*fn)(void *ud, const char *name,
                                   size_t sockets), void *ud);

/* ---- siod_sio_observe.c ------------------------------------------------- */

/* Reports to the observers (siod_app_observe.h; each a no-op without
 * one): s connected (only while it still is); s is leaving, still in its
 * rooms; connected s joined (joined 1) or left a room it was (not) in;
 * an event from s's client (sent 0) or emitted to s (sent 1). */
void siod_sio_observe_connection(siod_socket *s);
void siod_sio_observe_disconnect(siod_socket *s, const char *reason);
void siod_sio_observe_room(siod_socket *s, const char *room, int joined);
void siod_sio_observe_event(siod_socket *s, const char *event,
                            const siod_args *args, int sent);
/* Connected s's client moved to WebSocket. */
void siod_sio_observe_upgrade(siod_socket *s);
/* Returns 1 when an observer is registered. */
int siod_sio_observed(void);

/* ---- siod_sio_conn.c ---------------------------------------------------- */

/* Drops a reference to c; the last frees it (its decoder state, timer and
 * handshake). */
void siod_sio_client_unref(siod_sio_client *c);

/* Drops a binary packet c was gathering, if any. */
void siod_sio_client_rx_clear(siod_sio_client *c);

/* Sends o to client c (flags: SIOD_EMIT_VOLATILE drops it when the
 * transport cannot take it now: that is 0). Returns 0, or -EPIPE when c's
 * session is closed, or was closed by this send (any failure of the
 * engine's send closes the session). */
int siod_sio_client_write(siod_sio_client *c, const siod_sio_out *o,
                          unsigned flags);

/* Closes c's session ("forced close"); no-op once it is closed. */
void siod_sio_client_close(siod_sio_client *c);

/* ---- siod_sio_stats.c -------------------------------------------------- */

/* Answers call with siod's figures in format "json", "status" (mod_status
 * lines) or "prometheus" (text); 400 for another format. */
void siod_sio_stats(siod_api_call *call, const char *format);

/* ---- siod_sio_api.c ---------------------------------------------------- */

/* The engine app's on_api: serves one request of the HTTP emit API
 * (docs/emit-api.md) and answers call, at once or when a broadcast's
 * acks are in. */
void siod_sio_api(void *app, siod_api_call *call, const unsigned char *body,
                  size_t len);

/* Returns c's Engine.IO session, or NULL once it is closed. */
siod_session *siod_sio_client_session(const siod_sio_client *c);

/* Returns c's handshake (shared by its sockets). */
siod_sio_hs *siod_sio_client_hs(const siod_sio_client *c);

/* Adds socket s to c's list, or removes it (c keeps no reference). */
void siod_sio_client_link(siod_sio_client *c, siod_socket *s);
void siod_sio_client_unlink(siod_sio_client *c, siod_socket *s);

/* The namespace's first socket joined: the connect timeout stops. */
void siod_sio_client_connected(siod_sio_client *c);

/* ---- siod_sio_socket_base.c --------------------------------------------- */

/* Writes o to socket s's client. Returns 0, or -EPIPE (s is not
 * connected, or its client's session is or got closed). */
int siod_sio_socket_write(siod_socket *s, const siod_sio_out *o,
                          unsigned flags);

/* (references, properties, data and rooms: the siod_socket_* and
 * siod_join/leave/in_room calls of siod_app.h) */

/* ---- siod_sio_recovery.c ------------------------------------------------ */

/* Starts recovery with the settings of siod_sio_set_recovery (no-op when
 * off): its store and the timer that expires it. Returns 0, or -ENOMEM
 * with why[0..cap) set. siod_sio_recovery_stop frees them (at exit,
 * after every session closed). */
int siod_sio_recovery_start(char *why, size_t cap);
void siod_sio_recovery_stop(void);

/* Returns 1 while recovery is on. */
int siod_sio_recovery_on(void);

/* The connection siod_sio_set_recovery_redis gave, or NULL (recovery's
 * store is then this process's memory). */
const siod_sio_redis *siod_sio_recovery_redis(void);

/* Calls fn(ud, logged) once every packet logged so far is in recovery's
 * store (logged 1): at once for the in-process store, else when Redis has
 * answered a PING sent after them (a store that is down holds it until it
 * is back). logged 0: the PING failed (the connection dropped while it or
 * a packet before it was under way), so those packets may be lost. */
void siod_sio_recovery_sync(void (*fn)(void *ud, int logged), void *ud);

/* Encodes an EVENT for nsp that o selects (flags: the emit's); with
 * recovery on and the packet not volatile, it carries a new offset and
 * is logged (a packet that cannot be logged is sent without). Returns as
 * siod_sio_encode. */
int siod_sio_recovery_encode(siod_sio_out *out, siod_nsp *nsp,
                             const char *event, const siod_args *args,
                             const siod_bcast_opts *o);

/* A CONNECT for s (pending, linked to its client, not yet in any room)
 * with auth: with recovery on, a pid and an offset (strings) whose state
 * the store keeps make s that socket again (id, pid, rooms, data;
 * s->recovered); otherwise s gets a new pid. Returns 0 (no pid and
 * offset, or recovery off: s is ready), 1 (the store was asked: resume(s)
 * is called once it answered, from this call or later, while s is still
 * pending with its client; not at all if its client left), or -ENOMEM or
 * the random source's code. */
int siod_sio_recovery_claim(siod_socket *s, const struct sio_json_span *auth,
                            void (*resume)(siod_socket *s));

/* s is connected (and in its own room): a store that keeps connected
 * sockets (Redis) keeps it from now on, so that it survives a crash. */
void siod_sio_recovery_connected(siod_socket *s);

/* Returns 1 if connect middleware is skipped for a recovered socket
 * (the reference's skipMiddlewares, the default). */
int siod_sio_recovery_skips_middleware(void);

/* s (recovered) is accepted: the packets it missed go to its client,
 * before its CONNECT. If they are no longer all in the log, s is not
 * recovered after all (a new pid tells the client). */
void siod_sio_recovery_replay(siod_socket *s);

/* s (connected, still in its rooms) leaves for reason: a recoverable one
 * keeps its state (s->kept). */
void siod_sio_recovery_save(siod_socket *s, const char *reason);

/* s is no longer findable by its pid (it left, or is freed). */
void siod_sio_recovery_forget(siod_socket *s);


/* ---- siod_sio_ack.c ----------------------------------------------------- */

/* A single emit's ack: s awaits the answer to id; cb(ud, ...) runs once,
 * with the answer, SIOD_ETIMEDOUT after timeout_ms (0: never) or
 * SIOD_EDISCONNECTED. Returns 0 or -ENOMEM (cb will not run). */
int siod_sio_ack_await(siod_socket *s, uint64_t id, siod_ack_cb cb, void *ud,
                       unsigned timeout_ms);

/* Broadcast acks (an adapter host op): s owes wait w an answer for id.
 * Returns 0 or -ENOMEM. */
int siod_sio_socket_expect(siod_socket *s, uint64_t id, siod_ackwait *w);

/* An ACK packet p (with an id) from s's client: the awaited entry gets
 * its answer (bins: its attachments, owned by the caller); one not
 * awaited is ignored. */
void siod_sio_ack_answer(siod_socket *s, const struct sio_packet *p,
                         const siod_bin *bins, unsigned nbins);

/* s disconnected: every ack it awaits fails (SIOD_EDISCONNECTED, or the
 * broadcast counts it as gone). */
void siod_sio_acks_fail(siod_socket *s);

/* An event from s's client asks for ack id: returns the siod_ack handed
 * to the application (NULL if memory runs out). After the application's
 * callbacks return, siod_sio_ack_dispatched ends the dispatch (the ack is
 * freed unless the application holds it). */
siod_ack *siod_sio_ack_new(siod_socket *s, uint64_t id);
void siod_sio_ack_dispatched(siod_ack *a);

/* Another server's server-side emit asks for an answer: returns the
 * siod_ack handed to the application (NULL if memory runs out: fn is
 * then not called). siod_ack_send calls fn(ud, 1, its first argument);
 * an ack freed unanswered calls fn(ud, 0, NULL, 0). Ended by
 * siod_sio_ack_dispatched as a client's. */
siod_ack *siod_sio_ack_new_server(siod_adapter_answer_fn fn, void *ud);

/* A broadcast with an ack: a wait for the answers, cb(ud, ...) run once
 * when every server reported and every recipient answered or left, or
 * after timeout_ms (0: never). servers: how many adapter reports (the
 * sum of server_count) it waits for. Returns NULL if memory runs out. */
siod_ackwait *siod_sio_ackwait_new(siod_bcast_ack_cb cb, void *ud,
                                   unsigned servers, unsigned timeout_ms);
/* Every broadcast of w is handed to its adapters: with no server to wait
 * for, w finishes now (the callback runs, w is freed). */
void siod_sio_ackwait_start(siod_ackwait *w);
/* An adapter host op: n clients were sent w's packet (one server's
 * report). May finish w. */
void siod_sio_ackwait_count(siod_ackwait *w, size_t n);
/* Adapter host ops for another server's answers: hold keeps w allocated
 * (not running) past its end until release; finished says whether it
 * ended (its callback ran); answer adds one client's answer, its first
 * argument as JSON text json[0..len) with its attachments (may finish
 * w). */
void siod_sio_ackwait_hold(siod_ackwait *w);
void siod_sio_ackwait_release(siod_ackwait *w);
int siod_sio_ackwait_finished(const siod_ackwait *w);
void siod_sio_ackwait_answer(siod_ackwait *w, const char *json, size_t len,
                             const siod_adapter_bin *bins, unsigned nbins);

/* ---- siod_sio_guard.c --------------------------------------------------- */

/* Event name[0..nlen) with arguments a arrives on s (ack: the client's,
 * or NULL), before any handler: 1 if it may be delivered; 0 if it was
 * dropped (over the event rate, or its arguments fail its schema); -1 if
 * dropped and s floods, which the caller disconnects. A dropped event's
 * ack is answered with an error object. Logs (throttled) and counts. */
int siod_sio_guard_event(siod_socket *s, const char *name, size_t nlen,
                         const siod_args *a, siod_ack *ack);


/* ---- siod_sio_socket.c -------------------------------------------------- */


/* A CONNECT for nsp (auth: the packet's data span, type NONE if absent)
 * from client c: creates the socket, runs the middleware, answers.
 * Returns 0, or -ENOMEM or the random source's errno (no socket was
 * created: the client is not answered; the caller logs it). */
int siod_sio_socket_connect(siod_sio_client *c, siod_nsp *nsp,
                            const struct sio_json_span *auth);

/* A packet for connected socket s: (BINARY_)EVENT, (BINARY_)ACK or
 * DISCONNECT; bins are its attachments (owned by the caller). Returns 0,
 * or -ENOMEM when an event could not be handed to the application (it is
 * dropped; the caller logs it). */
int siod_sio_socket_packet(siod_socket *s, const struct sio_packet *p,
                           const siod_bin *bins, unsigned nbins);

/* The connection under s went away (reason as the engine gave it), or s
 * is being disconnected by the server. Runs on_disconnect once. */
void siod_sio_socket_closed(siod_socket *s, const char *reason);

/* A protocol error on s's connection: on_error with message why. */
void siod_sio_socket_error(siod_socket *s, const char *why);

/* The client left while s was pending in connect middleware. */
void siod_sio_socket_abandon(siod_socket *s);

/* Returns a snapshot of c's connected sockets (in the order they
 * connected), each with a reference the caller drops; *n is set (0 and
 * NULL when there are none or memory runs out). */
siod_socket **siod_sio_client_sockets(siod_sio_client *c, size_t *n);

/* ---- siod_sio_cluster.c ------------------------------------------------- */

/* Another server's server-side emit to nsp (the adapter host's
 * server_event): data[0..len) is [event, ...args]; handed to the
 * callback siod_nsp_on_server_event registered, with an ack when fn is
 * set (fn runs exactly once). */
void siod_sio_server_event(siod_nsp *nsp, const char *data, size_t len,
                           siod_adapter_answer_fn fn, void *ud);

/* ---- siod_sio_bcast.c --------------------------------------------------- */

/* Sends o to the clients of sockets v[0..n) (those not connected are
 * skipped) as one multi-send (siod_session_send_multi): the packet and its
 * attachments are shared by every recipient, and the WebSocket clients of
 * a link that takes WS_FANOUT are named in one frame per link. flags:
 * SIOD_EMIT_VOLATILE. The caller keeps its references to v's sockets.
 * Returns the number of clients the packet was sent or queued to. */
size_t siod_sio_sockets_write(siod_socket *const *v, size_t n,
                              const siod_sio_out *o, unsigned flags);

/* ---- siod_sio_host.c ---------------------------------------------------- */

/* The ops every adapter of this layer is created with. */
extern const siod_adapter_host siod_sio_adapter_host;

#include "siod_sio_handover.h"

#endif
