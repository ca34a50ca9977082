/* The public API for Socket.IO applications that siod loads as shared
 * objects (dlopen). An application exports one siod_app_module record named
 * siod_app_module_v1; siod calls its callbacks on siod's single event-loop
 * thread, and the application acts through the siod_* calls below (which
 * must be called on that thread too, i.e. from a callback or a siod_timer).
 * docs/app-api.md is the guide, with a complete example. */
#ifndef SIOD_APP_H
#define SIOD_APP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this interface; an application sets .abi to it. */
#define SIOD_APP_ABI 1

/* The symbol siod looks up in an application's shared object. */
#define SIOD_APP_SYMBOL "siod_app_module_v1"

/* Return codes of the calls below: 0 or one of these. */
#define SIOD_OK 0
#define SIOD_EINVAL (-1)        /* bad argument: not JSON, not an array, ... */
#define SIOD_ECLOSED (-2)       /* the socket is no longer connected */
#define SIOD_ENOMEM (-3)        /* out of memory */
#define SIOD_ERESERVED (-4)     /* reserved event name ("connect", ...) */
#define SIOD_EALREADY (-5)      /* ack already sent */
#define SIOD_ELIMIT (-6)        /* a limit siod enforces is reached
                                 * (--max-rooms-per-socket, ...) */
#define SIOD_ENOCLUSTER (-7)    /* siod runs without a cluster (--redis) */
#define SIOD_ECLUSTERDOWN (-8)  /* the cluster's Redis cannot be reached now:
                                 * the other servers were not asked */
/* Errors an acknowledgement callback can get. */
#define SIOD_ETIMEDOUT (-10)    /* no answer within the timeout */
#define SIOD_EDISCONNECTED (-11)/* the socket went away before answering */

/* One client's connection to one namespace (the reference's Socket). */
typedef struct siod_socket siod_socket;
/* A namespace ("/", "/chat", or a child of a pattern like ~^/dyn-[0-9]+$). */
typedef struct siod_nsp siod_nsp;
/* The acknowledgement a client asked for with an event. */
typedef struct siod_ack siod_ack;
/* A broadcast being described (rooms, exceptions, flags). */
typedef struct siod_bcast siod_bcast;
/* A timer started with siod_timer_start. */
typedef struct siod_timer siod_timer;

/* A binary value (Buffer / ArrayBuffer on the JavaScript side). */
typedef struct siod_bin {
    const void *data;
    size_t len;
} siod_bin;

/* Event arguments: a JSON array whose elements are the arguments, e.g.
 * [1,"two",{"three":3}]. A binary value appears in the JSON as the
 * placeholder {"_placeholder":true,"num":N} and is bins[N]; buffers may be
 * nested anywhere (inside objects and arrays). Received arguments are the
 * client's text, validated; siod builds its packets from the arguments
 * given to it and renumbers placeholders as the reference does (in text
 * order, one attachment per placeholder), so received args can be sent on
 * as they are. json NULL means [] (len 0: json is NUL-terminated). */
typedef struct siod_args {
    const char *json;
    size_t len;
    const siod_bin *bins;
    unsigned nbins;
} siod_args;

/* An error a middleware gives: the client sees CONNECT_ERROR
 * {"message":message,"data":data} (data omitted when NULL). data is JSON
 * text. Both strings are copied by siod when it needs them. */
typedef struct siod_error {
    const char *message;
    const char *data;
} siod_error;

/* Connect middleware results. */
#define SIOD_MW_NEXT 0          /* accept (or let the connection go on) */
#define SIOD_MW_REJECT 1        /* refuse with *err */
#define SIOD_MW_PENDING 2       /* decide later with siod_connect_resume */

/* The record an application exports as `siod_app_module_v1`. Every
 * callback is optional. `app` is the state init returned. Pointers passed
 * to a callback are valid during the call; keep a socket longer with
 * siod_socket_ref, an ack with siod_ack_hold. */
typedef struct siod_app_module {
    unsigned abi;                   /* SIOD_APP_ABI */
    const char *name;               /* for logs */
    /* Namespaces served when loaded with -a: NULL-terminated; a name
     * starting with '~' is a POSIX extended regular expression matched
     * against names clients ask for (a dynamic namespace). */
    const char *const *namespaces;
    /* Called once at startup; returns 0, or nonzero to stop siod. */
    int (*init)(void **app);
    /* Called once at exit, after every socket has disconnected. */
    void (*destroy)(void *app);
    /* A client asks to join a namespace (socket is not connected yet: it
     * may read its handshake, set data, join rooms, but not emit). Returns
     * SIOD_MW_NEXT, SIOD_MW_REJECT (fill *err) or SIOD_MW_PENDING. */
    int (*connect_mw)(void *app, siod_socket *s, siod_error *err);
    /* The socket is connected (its CONNECT answer is on the wire). */
    void (*on_connection)(void *app, siod_socket *s);
    /* Every event, before event_mw and on_event (the reference's onAny).
     * ack is NULL when the client wants none. */
    void (*on_any)(void *app, siod_socket *s, const char *event,
                   const siod_args *args, siod_ack *ack);
    /* Per-event middleware (the reference's socket.use): returns 0 to
     * dispatch the event, nonzero to drop it; *err then goes to on_error. */
    int (*event_mw)(void *app, siod_socket *s, const char *event,
                    const siod_args *args, siod_error *err);
    /* An event from the client. A numeric event name arrives as its JSON
     * text ("42"). */
    void (*on_event)(void *app, siod_socket *s, const char *event,
                     const siod_args *args, siod_ack *ack);
    /* A middleware dropped an event, or the client broke the protocol
     * (the connection is closed right after). */
    void (*on_error)(void *app, siod_socket *s, const siod_error *err);
    /* The socket left: reason is the reference's ("client namespace
     * disconnect", "server namespace disconnect", "transport close",
     * "transport error", "ping timeout", "forced close", "parse error",
     * "server shutting down"). Rooms are already left. */
    void (*on_disconnect)(void *app, siod_socket *s, const char *reason);
    /* The socket is about to leave (the reference's "disconnecting"): it
     * is still in its rooms and counts as connected; same reasons. */
    void (*on_disconnecting)(void *app, siod_socket *s, const char *reason);
} siod_app_module;

/* ---- sockets ------------------------------------------------------------ */

/* Returns the socket id (20 characters, also the name of the room the
 * socket is always in). Valid while the socket is. */
const char *siod_socket_id(const siod_socket *s);
/* Returns 1 while the socket is connected. */
int siod_socket_connected(const siod_socket *s);
/* Returns the socket's namespace. */
siod_nsp *siod_socket_nsp(const siod_socket *s);
/* Returns "polling" or "websocket" (NULL once disconnected). */
const char *siod_socket_transport(const siod_socket *s);
/* Keeps the socket object (not the connection) alive past a callback;
 * returns s. Every ref needs one unref. */
siod_socket *siod_socket_ref(siod_socket *s);
void siod_socket_unref(siod_socket *s);
/* One pointer of application data; free_fn (may be NULL) runs when the
 * socket object is freed or the data replaced. */
void siod_socket_set_data(siod_socket *s, void *data, void (*free_fn)(void *));
void *siod_socket_data(const siod_socket *s);
/* socket.data as JSON (what a cluster adapter would share). Returns
 * SIOD_OK or SIOD_EINVAL (not JSON) / SIOD_ENOMEM; NULL clears it. */
int siod_socket_set_data_json(siod_socket *s, const char *json, size_t len);
/* Returns the JSON set above, or NULL. */
const char *siod_socket_data_json(const siod_socket *s);

/* Sends an event to this socket. Returns SIOD_OK, SIOD_ECLOSED,
 * SIOD_EINVAL (args not a JSON array, a placeholder beyond nbins, an event
 * name that is not UTF-8), SIOD_ERESERVED or SIOD_ENOMEM. */
int siod_emit(siod_socket *s, const char *event, const siod_args *args);

/* The answer to an emit with acknowledgement: err is 0 (res holds the
 * client's arguments), SIOD_ETIMEDOUT or SIOD_EDISCONNECTED (res NULL).
 * Called exactly once per successful siod_emit_ex with .ack set. */
typedef void (*siod_ack_cb)(void *ud, siod_socket *s, int err,
                            const siod_args *res);

#define SIOD_EMIT_VOLATILE 0x1u     /* drop if the client cannot take it now */
#define SIOD_EMIT_NO_COMPRESS 0x2u  /* accepted; siod does not compress */

typedef struct siod_emit_opts {
    unsigned flags;             /* SIOD_EMIT_* */
    unsigned timeout_ms;        /* with .ack: 0 = wait until disconnect */
    siod_ack_cb ack;            /* NULL: no acknowledgement asked */
    void *ack_ud;
} siod_emit_opts;

/* siod_emit with options (opts NULL: none). Returns as siod_emit; when it
 * fails, the ack callback is not called. */
int siod_emit_ex(siod_socket *s, const char *event, const siod_args *args,
                 const siod_emit_opts *opts);

/* Joins / leaves a room (a name; rooms exist while they have members).
 * Returns SIOD_OK, SIOD_ECLOSED or SIOD_ENOMEM; siod_join also
 * SIOD_ELIMIT when the socket is already in --max-rooms-per-socket rooms
 * besides its own (it stays in those; joining one of them again is
 * SIOD_OK). */
int siod_join(siod_socket *s, const char *room);
int siod_leave(siod_socket *s, const char *room);
/* Returns 1 if the socket is in room. */
int siod_in_room(const siod_socket *s, const char *room);
/* Calls fn for each room of the socket (fn must not join or leave rooms);
 * returns how many. */
size_t siod_socket_rooms(const siod_socket *s,
                         void (*fn)(void *ud, const char *room), void *ud);

/* Disconnects the socket from its namespace (the client gets DISCONNECT);
 * close != 0 closes the whole connection (every namespace). on_disconnect
 * runs before this returns. No-op if already disconnected. */
void siod_disconnect(siod_socket *s, int close);

/* Accept (err NULL) or refuse a connection whose connect_mw returned
 * SIOD_MW_PENDING. Must be called exactly once for it; a no-op (apart
 * from releasing it) if the client has gone meanwhile. */
void siod_connect_resume(siod_socket *s, const siod_error *err);

/* ---- acknowledgements from the server side ------------------------------ */

/* Answers the client's ack with args (NULL: no arguments). Returns SIOD_OK,
 * SIOD_EALREADY, SIOD_ECLOSED or an argument error. The ack object is
 * released after it (if it was held). */
int siod_ack_send(siod_ack *ack, const siod_args *args);
/* Keeps the ack past the callback; the application must then call
 * siod_ack_send or siod_ack_release. Returns ack. */
siod_ack *siod_ack_hold(siod_ack *ack);
/* Drops a held ack without answering. */
void siod_ack_release(siod_ack *ack);

/* ---- handshake ---------------------------------------------------------- */

/* Values are NUL-terminated and live as long as the socket object. */
/* A request header by lower-case name ("user-agent"), NULL if absent. */
const char *siod_handshake_header(const siod_socket *s, const char *name);
/* A query parameter, percent-decoded (first one if repeated), or NULL. */
const char *siod_handshake_query(const siod_socket *s, const char *key);
/* The client address as the module saw it. */
const char *siod_handshake_address(const siod_socket *s);
/* The request URL (path and query). */
const char *siod_handshake_url(const siod_socket *s);
/* 1 for HTTPS. */
int siod_handshake_secure(const siod_socket *s);
/* 1 if the request had an Origin header (the reference's xdomain). */
int siod_handshake_xdomain(const siod_socket *s);
/* The authenticated user (REMOTE_USER), NULL if none. */
const char *siod_handshake_user(const siod_socket *s);
/* The CONNECT packet's auth payload as a JSON object ("{}" if none). */
const char *siod_handshake_auth(const siod_socket *s);
/* When the socket was created: ms since the epoch, and as text in
 * JavaScript's Date string form (the reference's handshake.time). */
int64_t siod_handshake_issued(const siod_socket *s);
const char *siod_handshake_time(const siod_socket *s);
/* The whole handshake as the reference's JSON object: headers, time,
 * address, xdomain, secure, issued, url, query, auth (plus user when
 * set). NULL if memory runs out. */
const char *siod_handshake_json(const siod_socket *s);

/* ---- namespaces and broadcasts ------------------------------------------ */

/* Returns the namespace named name if it exists (configured, or a live
 * dynamic child), else NULL. */
siod_nsp *siod_nsp_find(const char *name);
/* Returns the namespace's name. */
const char *siod_nsp_name(const siod_nsp *nsp);
/* Returns the number of connected sockets. */
size_t siod_nsp_count(const siod_nsp *nsp);
/* Sends an event to every socket of the namespace (for a pattern
 * namespace: of every child). Returns as siod_emit (SIOD_OK with no
 * recipient too). */
int siod_nsp_emit(siod_nsp *nsp, const char *event, const siod_args *args);

/* A broadcast: start with siod_bcast_new (every socket of nsp) or
 * siod_socket_broadcast (every socket of s's namespace but s), narrow it
 * with to/except and flags (each returns b, so calls chain, and accepts
 * NULL), then finish it with one of the calls that consume it. */
siod_bcast *siod_bcast_new(siod_nsp *nsp);
siod_bcast *siod_socket_broadcast(siod_socket *s);
/* Only sockets in room (several calls: in any of them). siod_bcast_in is
 * the same. */
siod_bcast *siod_bcast_to(siod_bcast *b, const char *room);
#define siod_bcast_in siod_bcast_to
/* Not sockets in room. */
siod_bcast *siod_bcast_except(siod_bcast *b, const char *room);
/* Drop for clients that cannot take it at once. */
siod_bcast *siod_bcast_volatile(siod_bcast *b);
/* Accepted for compatibility; siod does not compress. */
siod_bcast *siod_bcast_compress(siod_bcast *b, int on);
/* For siod_bcast_emit_ack: how long to wait for the answers. */
siod_bcast *siod_bcast_timeout(siod_bcast *b, unsigned ms);

/* Sends the event (encoded once) to every socket selected; frees b.
 * Returns as siod_emit (SIOD_OK also with no recipient). */
int siod_bcast_emit(siod_bcast *b, const char *event, const siod_args *args);

/* The answers to a broadcast with acknowledgement: responses is a JSON
 * array with each client's first ack argument (binary values as
 * placeholders into responses->bins), count their number. err is 0 when
 * every client answered, SIOD_ETIMEDOUT if the timeout came first,
 * SIOD_EDISCONNECTED if some clients left before answering. */
typedef void (*siod_bcast_ack_cb)(void *ud, int err,
                                  const siod_args *responses, size_t count);

/* Sends with an ack id and gathers the answers (timeout from
 * siod_bcast_timeout; 0 waits until each client answered or left); frees
 * b. On success cb is called exactly once (at once if nobody was
 * selected). Returns as siod_emit. */
int siod_bcast_emit_ack(siod_bcast *b, const char *event,
                        const siod_args *args, siod_bcast_ack_cb cb,
                        void *ud);
/* Makes every selected socket join / leave room; frees b. In a cluster
 * (--redis) the other servers' sockets too (the reference's socketsJoin,
 * socketsLeave), unless b is siod_bcast_local. Returns SIOD_OK,
 * SIOD_EINVAL (room NULL), SIOD_ENOMEM, or SIOD_ECLUSTERDOWN: done on
 * this server only, Redis cannot be reached (the reference would send it
 * once Redis is back; siod does not hold it). */
int siod_bcast_join(siod_bcast *b, const char *room);
int siod_bcast_leave(siod_bcast *b, const char *room);
/* Disconnects every selected socket (close: their whole connections),
 * in a cluster on every server (disconnectSockets); frees b. Returns as
 * siod_bcast_join. */
int siod_bcast_disconnect(siod_bcast *b, int close);
/* Calls fn for every selected socket of this server; frees b; returns
 * how many. */
size_t siod_bcast_sockets(siod_bcast *b,
                          void (*fn)(void *ud, siod_socket *s), void *ud);

/* Keeps the broadcast on this server (the reference's `local` flag): an
 * emit, an emit with acks, a join, leave, disconnect or fetch then
 * reaches no other server. Without a cluster every broadcast is local. */
siod_bcast *siod_bcast_local(siod_bcast *b);

/* A socket as siod_bcast_fetch gives it (the reference's RemoteSocket):
 * texts valid for the callback. socket is set for a socket of this
 * server (use it as any socket; siod_socket_ref to keep it), NULL for
 * another server's. */
typedef struct siod_remote_socket {
    const char *id;             /* the socket id */
    const char *handshake;      /* JSON object: headers, time, address,
                                 * xdomain, secure, issued, url, query,
                                 * auth (siod_handshake_json's form) */
    const char *rooms;          /* JSON array of its rooms' names */
    const char *data;           /* JSON: socket.data ({} when unset) */
    siod_socket *socket;
} siod_remote_socket;

/* The sockets a fetch found, this server's first: err is SIOD_OK, or
 * SIOD_ETIMEDOUT (a server did not answer within the timeout: v NULL, n
 * 0, as the reference's fetchSockets rejects), SIOD_ECLUSTERDOWN (Redis
 * went away while the servers were counted) or SIOD_ECLOSED (the
 * namespace went away). */
typedef void (*siod_fetch_cb)(void *ud, int err,
                              const siod_remote_socket *v, size_t n);

/* Fetches the selected sockets of every server (the reference's
 * fetchSockets): this server's at once, the others' through Redis within
 * siod_bcast_timeout's time (5000 ms if unset, the reference adapter's
 * requestsTimeout); frees b. Returns SIOD_OK (cb runs exactly once,
 * later, never from this call), SIOD_ENOMEM, SIOD_EINVAL (cb NULL) or
 * SIOD_ECLUSTERDOWN (Redis cannot be reached now: use siod_bcast_local
 * for this server's sockets); cb is then not called. Without a cluster,
 * or with siod_bcast_local, cb gets this server's sockets only. */
int siod_bcast_fetch(siod_bcast *b, siod_fetch_cb cb, void *ud);

/* ---- the other servers of a cluster ------------------------------------- */

/* Sends event with args (JSON only: no binary, as the reference's JSON
 * requests carry none) to namespace nsp on every other server of the
 * cluster (the reference's serverSideEmit); this server does not get it.
 * Returns SIOD_OK, SIOD_EINVAL (no event, args not a JSON array or with
 * binary, a pattern namespace), SIOD_ERESERVED, SIOD_ENOMEM,
 * SIOD_ENOCLUSTER (siod runs without --redis: there is no other server)
 * or SIOD_ECLUSTERDOWN (Redis cannot be reached now). */
int siod_server_emit(siod_nsp *nsp, const char *event, const siod_args *args);

/* The same with an answer awaited from every other server (the
 * reference's serverSideEmitWithAck): cb(ud, err, responses, count) runs
 * exactly once, later, with responses a JSON array of each server's
 * first answer argument, and err SIOD_OK (every server answered; also
 * when there is no other server: an empty array), SIOD_ETIMEDOUT (after
 * timeout_ms, 0 meaning 5000: those that came), SIOD_ECLUSTERDOWN (Redis
 * went away while the servers were counted) or SIOD_ECLOSED (the
 * namespace went away). Returns as siod_server_emit; when it fails cb
 * is not called. */
int siod_server_emit_ack(siod_nsp *nsp, const char *event,
                         const siod_args *args, unsigned timeout_ms,
                         siod_bcast_ack_cb cb, void *ud);

/* An event another server sent to this namespace with serverSideEmit
 * (a Node.js server's io.serverSideEmit, another siod's siod_server_emit):
 * ack is NULL when it wants no answer; else answer it once with
 * siod_ack_send (only the first argument travels; no binary; hold it
 * with siod_ack_hold to answer later). */
typedef void (*siod_server_event_cb)(void *ud, siod_nsp *nsp,
                                     const char *event, const siod_args *args,
                                     siod_ack *ack);

/* Registers cb (NULL: none) for the server-side events of nsp (for a
 * pattern namespace: of its children that have none of their own),
 * the reference's nsp.on(event) for events from other servers; call it
 * from init. Events arriving without one are dropped (a debug line).
 * Returns SIOD_OK or SIOD_EINVAL (nsp NULL). */
int siod_nsp_on_server_event(siod_nsp *nsp, siod_server_event_cb cb,
                             void *ud);

/* Returns a short English text for a code of this API ("the cluster's
 * Redis cannot be reached"); never NULL. */
const char *siod_app_strerror(int code);
/* Frees b unused. */
void siod_bcast_free(siod_bcast *b);

/* ---- reading arguments -------------------------------------------------- */

/* JSON types, as siod_arg_type returns them. */
enum siod_json_type {
    SIOD_JSON_NONE = 0, SIOD_JSON_OBJECT, SIOD_JSON_ARRAY, SIOD_JSON_STRING,
    SIOD_JSON_NUMBER, SIOD_JSON_TRUE, SIOD_JSON_FALSE, SIOD_JSON_NULL,
    SIOD_JSON_BINARY            /* a placeholder for one of args->bins */
};

/* Returns the number of arguments. */
size_t siod_arg_count(const siod_args *a);
/* Returns the type of argument i, SIOD_JSON_NONE if there is none. */
int siod_arg_type(const siod_args *a, size_t i);
/* Points *json / *len at argument i's JSON text. Returns SIOD_OK or
 * SIOD_EINVAL (no such argument). */
int siod_arg_raw(const siod_args *a, size_t i, const char **json, size_t *len);
/* Returns string argument i decoded, NUL-terminated, malloc'd (free it),
 * or NULL if it is not a string or holds U+0000 (a C string cannot: cut
 * at it, "room\u0000x" would name room "room"). */
char *siod_arg_string(const siod_args *a, size_t i);
/* Reads number argument i. Returns SIOD_OK or SIOD_EINVAL. */
int siod_arg_number(const siod_args *a, size_t i, double *out);
/* Gives binary argument i. Returns SIOD_OK or SIOD_EINVAL. */
int siod_arg_bin(const siod_args *a, size_t i, siod_bin *out);
/* Finds member key of object argument i: its JSON text. Returns SIOD_OK or
 * SIOD_EINVAL (not an object, no such member). */
int siod_arg_member(const siod_args *a, size_t i, const char *key,
                    const char **json, size_t *len);
/* Decodes a JSON string value json[0..len) into a malloc'd NUL-terminated
 * string (free it); NULL if it is not a string or holds U+0000. */
char *siod_json_string_dup(const char *json, size_t len);

/* Formats JSON: like printf with %s %d %i %u %ld %lu %lld %llu %zu %g %f
 * %% and %.*s (inserted as they are), plus %Q: a NUL-terminated UTF-8
 * string written as a JSON string ("..." with escapes), %.*Q the same with
 * an int length first. Returns a malloc'd NUL-terminated string (free it),
 * or NULL (memory, a %Q string that is not UTF-8, an unknown conversion).
 * The result is not validated: the format must make it JSON. */
char *siod_json_fmt(const char *fmt, ...);

/* ---- utilities ---------------------------------------------------------- */

/* Milliseconds since the epoch (wall clock). */
int64_t siod_now_ms(void);

/* Log levels for siod_app_log. */
#define SIOD_APP_LOG_ERROR 0
#define SIOD_APP_LOG_WARN 1
#define SIOD_APP_LOG_INFO 2
#define SIOD_APP_LOG_DEBUG 3 /* written only with siod -v */
/* Writes one line to siod's log. Lines below debug are throttled per
 * format string (at most 5 a second each; the next one says how many were
 * left out, and siod -v shows them at debug), as clients can repeat them. */
void siod_app_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Calls cb(ud) after ms milliseconds (every ms when repeat). Returns the
 * timer, or NULL if memory runs out. A one-shot timer is freed after its
 * call; stop a repeating one (or a one-shot before it fires) with
 * siod_timer_stop (destroy may still do so). Timers still running after
 * destroy are freed by siod. */
siod_timer *siod_timer_start(unsigned ms, int repeat, void (*cb)(void *ud),
                             void *ud);
/* Stops and frees t (NULL: no-op). Not for a one-shot timer that fired. */
void siod_timer_stop(siod_timer *t);

#ifdef __cplusplus
}
#endif

#endif
