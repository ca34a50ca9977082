/* siod's entry point: command line, logging, pid file, signals, and the
 * order of startup and shutdown around the libevent loop. siod always runs
 * in the foreground; scripts or systemd supervise it. main is where
 * startup failures are logged (to stderr for the command line, to the log
 * after it is open): the layers return a code and the detail. */
#include "app/siod_app_loader.h"
#include "callback/siod_callback.h"
#include "cluster/siod_cluster.h"
#include "core/siod_core.h"
#include "engine/siod_engine.h"
#include "guard/siod_guard.h"
#include "relay/siod_relay.h"
#include "sio/siod_sio.h"
#include "siod_args.h"
#include "siod_echo_engine.h"
#include "sio_relay.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHUTDOWN_FLUSH_SECONDS 5

static struct event_base *base;
static struct event *flush_timer;
static int stopping;
/* SIGUSR2: stop as for SIGTERM, then exec the same command line (the same
 * pid: a supervisor sees nothing), the listening socket passed on. */
static int restart_in_place;
/* The WebSocket close code of a clean stop: 1001 (going away), or 1012
 * (service restart) when the sessions are kept for the next siod. */
static int stop_code = 1001;
/* Writes siod's pid to path. Returns 0 or a negative errno. */
static int write_pidfile(const char *path)
{
    char buf[32];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    int rc = write(fd, buf, (size_t)n) == n ? 0 : -EIO;
    close(fd);
    return rc;
}

/* Reads (or creates) the relay secret and hands it to the links; *len
 * is its length. Returns 0, or a negative errno with why[0..cap) set. */
static int load_secret(const char *path, size_t *len, char *why, size_t cap)
{
    unsigned char key[SIO_RELAY_SECRET_MAX];
    int rc = siod_secret_load(path, key, len, why, cap);

    if (rc == 0) {
        rc = siod_link_set_secret(key, *len);
        if (rc < 0)
            siod_err_set(why, cap, rc, "%s", siod_strerror(rc));
    }
    memset(key, 0, sizeof key);
    return rc;
}

static void redis_synced(void *ud, int ok, const char *const *items,
                         const size_t *lens, size_t n)
{
    event_base_loopbreak(base);
}

/* The links are drained. With --redis, what the sessions' close wrote
 * (recovery's kept sockets, the last packets logged) is still in the
 * connection's buffers, or held while Redis is away: the loop ends once
 * Redis answers a PING sent after them (at once without Redis; at worst
 * at the flush timeout), else they would be lost with the process. */
static void drained(void)
{
    static const char *const ping[1] = { "PING" };
    static const size_t len[1] = { 4 };
    siod_cluster_command(1, ping, len, redis_synced, NULL);
}

static void flush_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    siod_log(SIOD_LOG_WARN, "shutdown: links did not drain in %d s",
             SHUTDOWN_FLUSH_SECONDS);
    event_base_loopbreak(base);
}

/* The node registry's table (siod_cluster_nodes_start) as a PEERS body
 * for the modules, which use it for ttl (the registry's TTL) unless it
 * comes again. */
/* Recovery's store talks to Redis through the cluster layer's
 * connection (the Socket.IO layer does not see that layer). */
static void recovery_command(int argc, const char *const *argv,
                             const size_t *lens, siod_sio_redis_fn fn,
                             void *ud)
{
    siod_cluster_command(argc, argv, lens, fn, ud);
}

static int recovery_ready(void)
{
    return siod_cluster_command_ready();
}

static siod_sio_redis recovery_redis = { recovery_command, recovery_ready,
                                         NULL };

static void on_nodes(void *ud, const char *const *tags,
                     const char *const *urls, size_t n)
{
    unsigned char body[SIO_RELAY_PEERS_HEAD_LEN +
                       SIO_RELAY_PEERS_MAX *
                           SIO_RELAY_PEER_LEN(SIO_RELAY_PEER_URL_MAX)];
    size_t len = SIO_RELAY_PEERS_HEAD_LEN, k = 0, w;
    const unsigned *ttl = ud;

    for (size_t i = 0; i < n && k < SIO_RELAY_PEERS_MAX; i++) {
        w = sio_relay_peer_put(body + len, tags[i], urls[i], strlen(urls[i]));
        len += w;
        k += w > 0;
    }
    sio_relay_peers_head(body, *ttl, (uint16_t)k);
    if (siod_links_set_peers(body, len) < 0)
        siod_log_limited(SIOD_LOG_WARN, "cluster: out of memory for the "
                         "peers table");
}

/* --check: the Redis URL parses (nothing is connected). Returns 0, or
 * -EINVAL after the error line. */
static int check_redis_url(const char *url)
{
    siod_redis_url u;
    char why[256];

    if (url == NULL)
        return 0;
    if (siod_redis_url_parse(url, &u, why, sizeof why) < 0) {
        siod_log(SIOD_LOG_ERROR, "--redis: %s", why);
        return -EINVAL;
    }
    siod_redis_url_clear(&u);
    return 0;
}

/* A stop asked for (SIGTERM, SIGINT) while siod restarts in place must
 * reach the next image: once the loop has ended it would be lost with it.
 * So they are blocked from the SIGUSR2 on; pending across exec, they are
 * taken by the next image once it unblocks them (unblock_signals), which
 * then stops as asked, its sessions kept. */
static void hold_stop_signals(void)
{
    sigset_t stop;

    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigprocmask(SIG_BLOCK, &stop, NULL);
}

/* Unblocks every signal, once siod's handlers are in place (a restart in
 * place leaves some blocked, and pending). */
static void unblock_signals(void)
{
    sigset_t none;

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    if (sig == SIGHUP) {
        int rc = siod_log_reopen();
        if (rc < 0)
            siod_log(SIOD_LOG_ERROR, "reopening the log: %s",
                     siod_strerror(rc));
        else
            siod_log(SIOD_LOG_INFO, "log reopened");
        return;
    }
    if (stopping) {
        if (sig != SIGUSR2 && restart_in_place) {
            /* taken before SIGUSR2 blocked it: a stop after all */
            restart_in_place = 0;
            siod_log(SIOD_LOG_WARN, "%s: the restart in place is called "
                     "off", strsignal(sig));
        }
        siod_log(SIOD_LOG_WARN, "second %s: exiting now", strsignal(sig));
        event_base_loopbreak(base);
        return;
    }
    stopping = 1;
    siod_cluster_nodes_stop();
    if (siod_sio_recovery_persists())
        stop_code = 1012;
    if (sig == SIGUSR2) {
        int rc = siod_listen_pass();
        restart_in_place = rc == 0;
        if (rc < 0)
            siod_log(SIOD_LOG_ERROR, "restart in place: cannot pass the "
                     "listening socket on (%s); stopping instead",
                     siod_strerror(rc));
        else
            hold_stop_signals();
    }
    siod_log(SIOD_LOG_INFO, "%s: closing %zu sessions on %u links%s%s",
             strsignal(sig), siod_sessions_count(), siod_links_count(),
             stop_code == 1012 ? " (kept for the next siod: close code "
                                 "1012)" : "",
             restart_in_place ? "; restarting in place" : "");
    siod_listen_close();
    if (stop_code == 1012 && siod_sio_hand_over_begin()) {
        size_t n = siod_sessions_hand_over("server shutting down", stop_code);
        siod_log(SIOD_LOG_INFO, "%zu WebSocket sessions handed over to the "
                 "next siod (the module keeps them open)", n);
    } else {
        siod_sessions_close_all("server shutting down", stop_code);
    }
    struct timeval tv = { SHUTDOWN_FLUSH_SECONDS, 0 };
    flush_timer = evtimer_new(base, flush_timeout_cb, NULL);
    if (flush_timer != NULL)
        evtimer_add(flush_timer, &tv);
    siod_links_drain(drained);
}

/* Replaces this process with the command line argv (argv[0] if it is a
 * path, the running binary otherwise): the restart in place. Returns only
 * if exec failed, after logging it; the caller then exits 1 (a
 * supervisor starts siod again). */
static void exec_self(char **argv)
{
    const char *exe = strchr(argv[0], '/') != NULL ? argv[0] : "/proc/self/exe";

    /* the log's descriptor is close-on-exec: open still if exec fails */
    siod_log(SIOD_LOG_INFO, "restarting in place: exec %s", exe);
    execv(exe, argv);
    siod_log(SIOD_LOG_ERROR, "restart in place: exec %s: %s; exiting", exe,
             strerror(errno));
}

int main(int argc, char **argv)
{
    struct options o;
    static const int signums[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR2 };
    enum { N_SIGNALS = sizeof signums / sizeof signums[0] };
    struct event *sigs[N_SIGNALS] = { NULL };
    const siod_engine_app *app = NULL;
    int status = 1, sessions_up = 0, pid_written = 0;
    char why[512];
    size_t secret_len = 0;

    if (siod_args_parse(argc, argv, &o) < 0) {
        siod_app_loader_destroy();
        siod_callback_conf_free();
        return 2;
    }
    app = o.echo_engine ? &siod_app_echo_engine : &siod_app_socketio;
    /* --check: what follows is said on stderr, not in the log file */
    int rc = siod_log_open(o.check ? NULL : o.log_path, o.verbose);
    if (o.check)
        siod_log_set_max(SIOD_LOG_WARN);
    if (rc < 0) {
        fprintf(stderr, "siod: -l %s: %s\n", o.log_path, siod_strerror(rc));
        siod_app_loader_destroy();
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    siod_guard_configure(&o.guard);
    if (o.schemas_dir != NULL) {
        rc = siod_schemas_load(o.schemas_dir, why, sizeof why);
        if (rc < 0) {
            siod_log(SIOD_LOG_ERROR, "--schemas: %s", why);
            goto out;
        }
        siod_log(SIOD_LOG_INFO, "schemas: %d events from %s", rc,
                 o.schemas_dir);
    }
    if (!o.echo_engine && siod_app_loader_load() < 0)
        goto out;
    if (o.check) {
        /* silent when all is usable: httpd runs it at every start */
        status = check_redis_url(o.redis_url) < 0 ? 2 : 0;
        goto out;
    }
    base = event_base_new();
    if (base == NULL || siod_heap_start(base) < 0) {
        siod_log(SIOD_LOG_ERROR, "cannot create the event loop");
        goto out;
    }
    for (int i = 0; i < N_SIGNALS; i++) {
        sigs[i] = evsignal_new(base, signums[i], signal_cb, NULL);
        if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) < 0) {
            siod_log(SIOD_LOG_ERROR, "cannot install signal handlers");
            goto out;
        }
    }
    unblock_signals();
    if (o.redis_url != NULL && !o.echo_engine) {
        if (o.redis_sharded)
            rc = siod_cluster_start_sharded(base, o.redis_url,
                                            o.redis_prefix, o.redis_submode,
                                            why, sizeof why);
        else
            rc = siod_cluster_start(base, o.redis_url, o.redis_prefix, why,
                                    sizeof why);
        if (rc < 0) {
            siod_log(SIOD_LOG_ERROR, "--redis: %s", why);
            goto out;
        }
        siod_sio_set_adapter(o.redis_sharded ? &siod_adapter_redis_sharded
                                             : &siod_adapter_redis);
        siod_log(SIOD_LOG_INFO, "cluster: Redis adapter (%s), prefix %s, "
                 "uid %s", o.redis_sharded ? siod_args_submode_names[o.redis_submode]
                                           : "classic",
                 o.redis_prefix, siod_cluster_uid());
        if (siod_sid_node()[0] != '\0') {
            rc = siod_cluster_nodes_start(base, siod_sid_node(), o.node_url,
                                          o.node_ttl_ms, on_nodes,
                                          &o.node_ttl_ms, why, sizeof why);
            if (rc < 0) {
                siod_log(SIOD_LOG_ERROR, "--node-url: %s", why);
                goto out;
            }
            siod_log(SIOD_LOG_INFO, "cluster: node %s %s%s, entries live "
                     "%u ms", siod_sid_node(), o.node_url ? "advertised at "
                     : "learns its peers, not advertised (no --node-url)",
                     o.node_url ? o.node_url : "", o.node_ttl_ms);
        }
    }
    siod_sio_set_recovery(&o.recovery);
    if (o.redis_url != NULL && !o.echo_engine) {
        /* recovery's state in Redis: any node restores a socket, and a
         * crash of siod loses none (docs/cluster.md) */
        recovery_redis.prefix = siod_cluster_prefix();
        siod_sio_set_recovery_redis(&recovery_redis);
    }
    siod_callback_set_loop(base);
    rc = siod_sessions_init(base, &o.engine, app);
    sessions_up = 1;
    if (rc < 0) {
        siod_log(SIOD_LOG_ERROR, "cannot start %s: %s", app->name,
                 siod_strerror(rc));
        goto out;
    }
    rc = load_secret(o.secret_path, &secret_len, why, sizeof why);
    if (rc < 0) {
        siod_log(SIOD_LOG_ERROR, "relay secret %s: %s", o.secret_path, why);
        goto out;
    }
    siod_log(SIOD_LOG_INFO, "relay secret %s: %zu bytes", o.secret_path,
             secret_len);
    siod_links_set_output_max(o.max_link_output);
    siod_links_set_max((unsigned)o.max_links);
    rc = siod_listen_open(base, o.socket_path, o.uids, o.n_uids, why,
                          sizeof why);
    if (rc < 0) {
        siod_log(SIOD_LOG_ERROR, "%s", why);
        goto out;
    }
    siod_log(SIOD_LOG_INFO, "listening on %s", o.socket_path);
    if (siod_sid_node()[0] != '\0')
        siod_log(SIOD_LOG_INFO, "node tag '%s': session ids begin with it",
                 siod_sid_node());
    if (o.pid_path != NULL) {
        rc = write_pidfile(o.pid_path);
        if (rc < 0) {
            siod_log(SIOD_LOG_ERROR, "pid file %s: %s", o.pid_path,
                     siod_strerror(rc));
            goto out;
        }
        pid_written = 1;
    }
    siod_log(SIOD_LOG_INFO, "siod started: app %s, pingInterval %u ms, "
             "pingTimeout %u ms, connectTimeout %u ms, maxPayload %zu, "
             "libevent %s (%s)", app->name, o.engine.ping_interval_ms,
             o.engine.ping_timeout_ms, o.engine.connect_timeout_ms,
             o.engine.max_payload, event_get_version(),
             event_base_get_method(base));
    siod_log(SIOD_LOG_INFO, "limits (0: none): sessions %zu, per address %zu, "
             "handshake bytes %zu, rooms per socket %zu, dynamic namespaces "
             "%zu, namespaces per session %zu, attachments %u, binary bytes "
             "%zu, link output %zu, links %zu", o.engine.max_sessions,
             o.engine.max_sessions_per_addr, o.engine.max_handshake_bytes,
             o.engine.max_rooms_per_socket, o.engine.max_dynamic_nsps,
             o.engine.max_nsps_per_session, o.engine.max_attachments,
             o.engine.max_binary_bytes, o.max_link_output, o.max_links);
    siod_log(SIOD_LOG_INFO, "rates (0: none): events %g a second a socket "
             "(burst %g), %u drops in %u ms disconnect; handshakes %g a "
             "second an address (burst %g)", o.guard.event_rate,
             o.guard.event_burst, o.guard.flood_drops,
             o.guard.flood_window_ms, o.guard.handshake_rate,
             o.guard.handshake_burst);

    if (event_base_dispatch(base) < 0)
        siod_log(SIOD_LOG_ERROR, "event loop failed");
    else
        status = 0;

out:
    siod_listen_close();
    if (sessions_up)
        siod_sessions_close_all("server shutting down", stop_code);
    siod_links_free_all();
    /* a clean stop, or a start that failed after recovery read its state
     * file: what recovery keeps goes to the next siod, including the
     * sockets of sessions closed just now (the loop may have stopped
     * before it told their upper layer: sessions without a link drain at
     * once) */
    if (sessions_up) {
        siod_sessions_settle();
        ssize_t kept = siod_sio_recovery_persist(why, sizeof why);
        if (kept < 0)
            siod_log(SIOD_LOG_ERROR, "state file: %s; sessions do not "
                     "survive this restart", why);
    }
    if (sessions_up)
        siod_sessions_cleanup();
    siod_app_loader_destroy();   /* if the layer never started */
    siod_callback_conf_free();
    siod_cluster_nodes_stop();
    siod_cluster_stop();
    siod_links_peers_free();
    siod_schemas_cleanup();
    siod_guard_cleanup();
    if (flush_timer != NULL)
        event_free(flush_timer);
    siod_heap_stop();
    for (int i = 0; i < N_SIGNALS; i++)
        if (sigs[i] != NULL)
            event_free(sigs[i]);
    if (base != NULL)
        event_base_free(base);
    libevent_global_shutdown();
    if (restart_in_place && status == 0) {
        exec_self(argv);   /* returns only if exec failed */
        status = 1;
    }
    if (pid_written)
        unlink(o.pid_path);
    siod_log(status == 0 ? SIOD_LOG_INFO : SIOD_LOG_ERROR, "siod exiting (%d)",
             status);
    siod_log_close();
    return status;
}
