/* The Socket.IO layer's public header, for siod_main.c and the
 * application loader (app/): the "socketio" upper layer of the engine,
 * namespaces bound to applications, and the hooks through which the
 * loader's applications are started and stopped with the layer. It
 * includes siod_app.h, the application ABI (installed alone by make
 * install) that applications (apps/) are written against. The layer sits
 * on the engine, the adapter and core. Single event-loop thread.
 *
 * Inside the layer, calls go one way (siod_sio_int.h shows the order); no
 * two of its files call each other. */
#ifndef SIOD_SIO_H
#define SIOD_SIO_H

#include "engine/siod_engine.h"
#include "siod_app.h"

/* The "socketio" upper layer. */
extern const siod_engine_app siod_app_socketio;

/* An application as the namespaces it serves see it: its module and the
 * state its init gave. Owned by whoever loaded it (the loader), and kept
 * until after siod_sio_nsps_free. */
typedef struct siod_sio_app {
    const siod_app_module *mod;
    void *state;
} siod_sio_app;

/* What the layer above registers so that its applications start and stop
 * with the layer: init runs from the engine app's init, once the layer's
 * settings are in place and the namespaces are findable; it returns 0, or
 * a negative errno code with why[0..cap) set, which the layer logs before
 * it fails to start. destroy runs from the engine app's destroy, after
 * every session is closed. */
typedef struct siod_sio_apps {
    int (*init)(char *why, size_t cap);
    void (*destroy)(void);
} siod_sio_apps;

/* Registers ops (static; NULL: none). Call before siod_sessions_init. */
void siod_sio_set_apps(const siod_sio_apps *ops);

/* The adapter every namespace gets (static; NULL: the in-process
 * siod_adapter_mem, the default). Call before siod_sessions_init. */
struct siod_adapter_ops;
void siod_sio_set_adapter(const struct siod_adapter_ops *ops);

/* Connection state recovery (the reference's connectionStateRecovery;
 * docs/siod.md, docs/limits.md): off while window_ms is 0. A socket that
 * leaves with a recoverable reason is kept window_ms, with the packets
 * sent after it left, and a client that comes back in time with its pid
 * and offset gets the same id, rooms, data and every packet it missed.
 * run_middlewares: connect middleware runs for a recovered socket too
 * (the reference's skipMiddlewares false). The max_* bound the memory
 * (0: no bound): packets logged and their bytes, sockets kept and their
 * bytes; past one the oldest goes. state_file (or NULL): where a clean
 * stop writes what recovery keeps and the next start reads it back
 * (siod_sio_recovery_persist). */
typedef struct siod_sio_recovery_conf {
    unsigned window_ms;
    int run_middlewares;
    size_t max_packets, max_log_bytes;
    size_t max_sessions, max_session_bytes;
    const char *state_file;
} siod_sio_recovery_conf;

/* Sets recovery's settings (copied). Call before siod_sessions_init. */
void siod_sio_set_recovery(const siod_sio_recovery_conf *conf);

/* Returns 1 when a clean stop keeps the sessions for the next siod:
 * recovery is on with a state file it may write. */
int siod_sio_recovery_persists(void);

/* A clean stop begins: with the state file in use (see above), the
 * sessions the engine hands over (siod_sessions_hand_over) are recorded
 * for the next siod, which takes them back on the module's WS_RESUME.
 * Returns 1 if so, 0 if nothing is handed over. */
int siod_sio_hand_over_begin(void);

/* At a clean stop, after every session closed (their sockets kept as on
 * a lost transport) and before siod_sessions_cleanup: writes what
 * recovery keeps to the state file. Returns the number of sockets
 * written (0 when recovery is off or has no state file), or a negative
 * errno with why[0..cap) set. */
ssize_t siod_sio_recovery_persist(char *why, size_t cap);

/* A Redis command's answer, as the cluster layer gives it
 * (siod_redis_strs_fn in cluster/siod_cluster.h): ok 1 with the n
 * strings of an array reply (a string reply is one item, items[i] NULL
 * for another type), valid for the call; ok 0 when Redis is down, answers
 * an error or memory runs out. */
typedef void (*siod_sio_redis_fn)(void *ud, int ok, const char *const *items,
                                  const size_t *lens, size_t n);

/* A Redis connection for connection state recovery: command sends
 * argv[0..argc) (lens[i] bytes each) and calls fn(ud, ...) exactly once,
 * at once or later (while the connection is down the command waits for
 * it, in order); ready returns 1 while a command is sent at once; keys
 * begin with prefix (the cluster's). */
typedef struct siod_sio_redis {
    void (*command)(int argc, const char *const *argv, const size_t *lens,
                    siod_sio_redis_fn fn, void *ud);
    int (*ready)(void);
    const char *prefix;
} siod_sio_redis;

/* With --redis and --recovery: recovery's packet log and sockets live in
 * Redis through r (static, used from the layer's start to its end), so
 * that any node of the cluster, or siod restarted after a crash, can
 * restore a socket (docs/cluster.md). Call before siod_sessions_init. */
void siod_sio_set_recovery_redis(const siod_sio_redis *r);

/* Binds namespace name ('/...' without ',', or '~' and a POSIX extended
 * regex: a pattern) to app. explicit: named on the command line (-n),
 * which overrides what an application declares; two explicit bindings of
 * one name, or two applications declaring it, are refused. Returns 0, or
 * -EINVAL (a bad name or pattern, a binding refused) or -ENOMEM with
 * why[0..cap) set. Before siod_sessions_init only. */
int siod_sio_nsp_bind(const char *name, siod_sio_app *app, int explicit,
                      char *why, size_t cap);

/* Logs every bound namespace and its application (at info). */
void siod_sio_nsps_log(void);

/* At exit (after the applications' destroy): frees every namespace, the
 * dynamic children left first. Safe to call more than once. */
void siod_sio_nsps_free(void);

/* At exit: stops every timer applications left running (the loop has
 * stopped: none fires). */
void siod_sio_timers_stop_all(void);

#endif
