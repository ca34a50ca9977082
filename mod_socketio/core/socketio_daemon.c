/* siod started and kept up by httpd's parent (SocketIODaemon managed, the
 * default), as mod_cgid keeps its daemon: one siod per distinct
 * SocketIODaemonSocket, run from SocketIODaemonPath with the module's own
 * options (socket, secret, User) and SocketIODaemonArgs. It is restarted
 * when it dies, at once after a long run and with a doubling delay after
 * quick exits; it lives on across graceful and hard restarts of httpd
 * (and its sessions with it), is replaced when its command line changes,
 * and is stopped when httpd stops. The records live in the process pool,
 * which outlives every configuration generation. Parent only. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_core.h"
#include "unixd.h"
#include "apr_hash.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"

#include "socketio_config.h"
#include "socketio_daemon.h"

APLOG_USE_MODULE(socketio);

/* A run shorter than this is a quick exit: the next start waits. */
#define QUICK_RUN apr_time_from_sec(10)
#define MAX_DELAY apr_time_from_sec(60)
/* The socket's directory when the module makes it: 0755, as the
 * runtime directory (the socket itself is 0660, and siod checks who
 * connects). */
#define DIR_PERMS (APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_UEXECUTE | \
                   APR_FPROT_GREAD | APR_FPROT_GEXECUTE | APR_FPROT_WREAD | \
                   APR_FPROT_WEXECUTE)
/* How long a stopping siod gets to close its sessions. */
#define STOP_GRACE apr_time_from_sec(10)

typedef struct daemon_state daemon_state;

/* One managed siod (process pool: outlives configurations). */
typedef struct daemon_rec {
    daemon_state *st;
    char *socket;                    /* its SocketIODaemonSocket */
    char *cmdline;                   /* argv joined, to notice a change */
    apr_pool_t *argp;                /* argv's pool, replaced with it */
    const char *const *argv;
    apr_proc_t proc;                 /* proc.pid 0: not running */
    apr_time_t started;
    apr_time_t restart_at;           /* 0: no start scheduled */
    unsigned quick;                  /* quick exits in a row */
    int wanted;                      /* named by the current configuration */
    apr_pool_t *pconf;               /* the generation it is registered in */
    server_rec *s;                   /* for logs: of the current
                                      * configuration, or NULL */
} daemon_rec;

struct daemon_state {
    apr_pool_t *pool;                /* the process pool */
    apr_hash_t *daemons;             /* socket path -> daemon_rec */
    apr_pool_t *pconf;               /* the current configuration's pool */
    pid_t parent;
};

static const char state_key[] = "socketio_daemon_state";

static void start(daemon_rec *d);
static void register_child(daemon_rec *d);

/* ---- stopping --------------------------------------------------------- */

/* Waits up to grace for pid to exit (reaping it); returns 1 if it did. */
static int reap_within(pid_t pid, apr_time_t grace)
{
    apr_time_t end = apr_time_now() + grace;
    int status;

    do {
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid || (r < 0 && errno == ECHILD))
            return 1;
        apr_sleep(apr_time_from_msec(20));
    } while (apr_time_now() < end);
    return 0;
}

/* Stops d's siod: SIGTERM (it closes its sessions), SIGKILL after
 * STOP_GRACE. */
static void stop(daemon_rec *d, const char *why)
{
    pid_t pid = d->proc.pid;

    if (pid <= 0)
        return;
    if (d->pconf)
        apr_proc_other_child_unregister(d);
    d->proc.pid = 0;
    d->restart_at = 0;
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, d->s,
                 "mod_socketio: stopping siod (pid %" APR_PID_T_FMT ", %s): "
                 "%s", pid, d->socket, why);
    if (kill(pid, SIGTERM) < 0 && errno == ESRCH)
        return;
    if (!reap_within(pid, STOP_GRACE)) {
        kill(pid, SIGKILL);
        reap_within(pid, apr_time_from_sec(2));
    }
}

/* The configuration pool's cleanup: stops every siod when httpd's parent
 * is exiting (stop, graceful-stop), not when it only restarts. On the
 * configuration's pool, not the process pool, for this module's code is
 * unloaded with the configuration. Children never run it. */
static apr_status_t stop_all(void *data)
{
    daemon_state *st = data;
    apr_hash_index_t *hi;

    if (getpid() != st->parent ||
        ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_EXITING)
        return APR_SUCCESS;
    for (hi = apr_hash_first(NULL, st->daemons); hi; hi = apr_hash_next(hi)) {
        daemon_rec *d = apr_hash_this_val(hi);

        d->pconf = NULL;             /* its registration is gone already */
        d->s = NULL;                 /* so is its server_rec */
        stop(d, "httpd is stopping");
    }
    return APR_SUCCESS;
}

/* ---- dying and restarting ---------------------------------------------- */

/* Logs d's end (one line; code is what the MPM reaped: an exit status
 * or a signal number, -1 unknown) and starts it again now, or schedules
 * the start for the monitor hook after quick exits. */
static void died(daemon_rec *d, pid_t pid, int code)
{
    apr_time_t now = apr_time_now();
    apr_time_t delay = 0;

    d->proc.pid = 0;
    d->quick = now - d->started < QUICK_RUN ? d->quick + 1 : 0;
    if (d->quick > 1) {
        delay = apr_time_from_sec(1) << (d->quick > 8 ? 7 : d->quick - 2);
        if (delay > MAX_DELAY)
            delay = MAX_DELAY;
    }
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, d->s,
                 "mod_socketio: siod (pid %" APR_PID_T_FMT ", %s) ended "
                 "(exit status or signal %d) after %" APR_TIME_T_FMT
                 " s; starting it again %s", pid, d->socket, code,
                 apr_time_sec(now - d->started),
                 delay ? apr_psprintf(d->argp, "in %" APR_TIME_T_FMT " s (it "
                                      "keeps exiting quickly)",
                                      apr_time_sec(delay))
                       : "now");
    if (delay) {
        d->restart_at = now + delay;
    } else {
        start(d);
        register_child(d);
    }
}

/* The MPM's reaping of other children: d's siod is gone. A restart of
 * httpd (RESTART, then UNREGISTER when the configuration's pool is
 * cleared) leaves siod running; the next configuration registers it. */
static void maintenance(int reason, void *data, apr_wait_t status)
{
    daemon_rec *d = data;

    switch (reason) {
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST: {
        pid_t pid = d->proc.pid;

        apr_proc_other_child_unregister(d);
        d->pconf = NULL;
        /* the MPM passes the exit status or signal number, not a wait
         * status */
        died(d, pid, reason == APR_OC_REASON_LOST ? -1 : (int)status);
        break;
    }
    case APR_OC_REASON_UNREGISTER:
        d->pconf = NULL;
        break;
    default:
        break;
    }
}

/* Has the MPM report d's siod's death (registered in the current
 * configuration's pool, which a restart clears). */
static void register_child(daemon_rec *d)
{
    apr_pool_t *pconf = d->st->pconf;

    if (d->pconf == pconf || d->proc.pid <= 0 || !pconf)
        return;
    if (d->pconf)
        apr_proc_other_child_unregister(d);
    apr_proc_other_child_register(&d->proc, maintenance, d, NULL, pconf);
    d->pconf = pconf;
}

/* ---- starting ---------------------------------------------------------- */

/* The forked child: a session of its own (httpd's signals to its process
 * group miss it), no descriptor of httpd's but stderr (the error log),
 * default signals. Never returns. */
static void exec_siod(const char *const *argv)
{
    sigset_t none;
    int fd = open("/dev/null", O_RDWR);

    setsid();
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(STDERR_FILENO, STDOUT_FILENO);
    }
    closefrom(3);
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execv(argv[0], (char *const *)argv);
    dprintf(STDERR_FILENO, "mod_socketio: cannot run siod %s: %s\n", argv[0],
            strerror(errno));
    _exit(127);
}

static void start(daemon_rec *d)
{
    char *dir = ap_make_dirstr_parent(d->argp, d->socket);
    apr_status_t rv;
    pid_t pid;

    d->restart_at = 0;
    /* the socket's directory, if the runtime directory lacks it */
    rv = apr_dir_make_recursive(dir, DIR_PERMS, d->argp);
    if (rv != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, d->s, "mod_socketio: "
                     "cannot create %s for siod's socket", dir);
    pid = fork();
    if (pid < 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, errno, d->s, "mod_socketio: "
                     "cannot start siod (fork); trying again in 10 s");
        d->restart_at = apr_time_now() + apr_time_from_sec(10);
        return;
    }
    if (pid == 0)
        exec_siod(d->argv);
    d->proc.pid = pid;
    d->proc.in = d->proc.out = d->proc.err = NULL;
    d->started = apr_time_now();
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, d->s, "mod_socketio: started "
                 "siod (pid %" APR_PID_T_FMT "): %s", pid, d->cmdline);
}

/* Returns 1 when something listens on the Unix socket at path. */
static int listening(const char *path)
{
    struct sockaddr_un sa;
    int fd, ok;

    if (strlen(path) >= sizeof(sa.sun_path))
        return 0;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* At httpd's start, gives a siod just started up to READY_WAIT to listen
 * before the children open their links, so that the first requests are
 * not answered 503 while it starts. It may still be starting afterwards:
 * the children retry. */
#define READY_WAIT apr_time_from_sec(2)
static void wait_listening(const daemon_rec *d)
{
    apr_time_t end = apr_time_now() + READY_WAIT;

    while (d->proc.pid > 0 && !listening(d->socket) &&
           apr_time_now() < end)
        apr_sleep(apr_time_from_msec(20));
}

/* ---- the configuration ------------------------------------------------- */

static daemon_state *state_of(process_rec *proc)
{
    daemon_state *st = NULL;

    apr_pool_userdata_get((void **)&st, state_key, proc->pool);
    if (st)
        return st;
    st = apr_pcalloc(proc->pool, sizeof(*st));
    st->pool = proc->pool;
    st->daemons = apr_hash_make(proc->pool);
    st->parent = getpid();
    apr_pool_userdata_set(st, state_key, NULL, proc->pool);
    return st;
}

/* The command line sc asks for, into d: argv and cmdline in a new pool
 * (d->argp) of their own, kept until the command line changes. */
static void set_argv(daemon_rec *d, const socketio_server_conf *sc)
{
    apr_array_header_t *a;
    char **extra = NULL;
    apr_pool_t *p;

    apr_pool_create(&p, NULL);
    apr_pool_tag(p, "socketio_daemon_argv");
    a = apr_array_make(p, 16, sizeof(const char *));
    APR_ARRAY_PUSH(a, const char *) = sc->daemon_path ? sc->daemon_path
                                                      : SOCKETIO_SIOD_PATH;
    APR_ARRAY_PUSH(a, const char *) = "-s";
    APR_ARRAY_PUSH(a, const char *) = sc->daemon_socket;
    APR_ARRAY_PUSH(a, const char *) = "-k";
    APR_ARRAY_PUSH(a, const char *) = sc->daemon_secret;
    if (geteuid() == 0) {
        /* the children's User may connect */
        APR_ARRAY_PUSH(a, const char *) = "-u";
        APR_ARRAY_PUSH(a, const char *) =
            apr_psprintf(p, "%ld", (long)ap_unixd_config.user_id);
    }
    if (sc->daemon_args)
        apr_tokenize_to_argv(sc->daemon_args, &extra, p);
    for (; extra && *extra; extra++)
        APR_ARRAY_PUSH(a, const char *) = *extra;
    d->cmdline = apr_array_pstrcat(p, a, ' ');
    for (int i = 0; i < a->nelts; i++)
        APR_ARRAY_IDX(a, i, const char *) =
            apr_pstrdup(p, APR_ARRAY_IDX(a, i, const char *));
    APR_ARRAY_PUSH(a, const char *) = NULL;
    d->argv = (const char *const *)a->elts;
    d->argp = p;
}

/* The record for socket, made in st's pool if new. */
static daemon_rec *daemon_for(daemon_state *st, const char *socket)
{
    daemon_rec *d = apr_hash_get(st->daemons, socket, APR_HASH_KEY_STRING);

    if (!d) {
        d = apr_pcalloc(st->pool, sizeof(*d));
        d->st = st;
        d->socket = apr_pstrdup(st->pool, socket);
        apr_hash_set(st->daemons, d->socket, APR_HASH_KEY_STRING, d);
    }
    return d;
}

/* See socketio_daemon.h. */
int socketio_daemon_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                                server_rec *s)
{
    daemon_state *st;
    apr_hash_index_t *hi;
    server_rec *v;

    /* the first pass only reads the configuration */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG ||
        ap_state_query(AP_SQ_RUN_MODE) != AP_SQ_RM_NORMAL)
        return OK;
    st = state_of(s->process);
    st->pconf = pconf;
    apr_pool_cleanup_register(pconf, st, stop_all, apr_pool_cleanup_null);
    for (hi = apr_hash_first(ptemp, st->daemons); hi; hi = apr_hash_next(hi))
        ((daemon_rec *)apr_hash_this_val(hi))->wanted = 0;
    /* A module loaded (a2enmod) but not yet used starts nothing. */
    if (!socketio_config_any_enabled())
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                     "mod_socketio: no SocketIO On in the configuration: "
                     "siod is not started");
    for (v = socketio_config_any_enabled() ? s : NULL; v; v = v->next) {
        const socketio_server_conf *sc = socketio_config_server(v);
        daemon_rec *d, cand = { 0 };

        if (sc->daemon_managed == 0)
            continue;
        d = daemon_for(st, sc->daemon_socket);
        if (d->wanted)
            continue;                /* another server names it first */
        d->wanted = 1;
        d->s = v;
        set_argv(&cand, sc);
        if (d->cmdline && !strcmp(d->cmdline, cand.cmdline)) {
            apr_pool_destroy(cand.argp);
        } else {
            if (d->proc.pid > 0)
                stop(d, "its command line changed");
            if (d->argp)
                apr_pool_destroy(d->argp);
            d->argp = cand.argp;
            d->argv = cand.argv;
            d->cmdline = cand.cmdline;
            d->quick = 0;
        }
        if (d->proc.pid <= 0 && !d->restart_at) {
            start(d);
            wait_listening(d);
        }
        register_child(d);
    }
    for (hi = apr_hash_first(ptemp, st->daemons); hi; hi = apr_hash_next(hi)) {
        daemon_rec *d = apr_hash_this_val(hi);

        if (!d->wanted) {
            d->s = s;
            stop(d, "no longer configured");
            d->restart_at = 0;
        }
    }
    return OK;
}

/* Runs sc's siod command line with --check (siod checks its options,
 * applications, schemas and Redis URL, says what is wrong on stderr,
 * which is the terminal of a configuration test, and exits). Returns 1
 * when siod took it. */
static int siod_accepts(const socketio_server_conf *sc, server_rec *v)
{
    daemon_rec cand = { 0 };
    const char **argv;
    int n = 0, status = 0;
    pid_t pid;

    set_argv(&cand, sc);
    while (cand.argv[n])
        n++;
    argv = apr_palloc(cand.argp, (n + 2) * sizeof(*argv));
    memcpy(argv, cand.argv, n * sizeof(*argv));
    argv[n] = "--check";
    argv[n + 1] = NULL;
    pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_RDONLY);

        if (fd >= 0)
            dup2(fd, STDIN_FILENO);
        closefrom(3);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        status = 0;              /* could not ask: the start will tell */
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, v,
                     "mod_socketio: SocketIODaemonArgs: siod refuses this "
                     "configuration (its lines above say why): %s",
                     cand.cmdline);
    apr_pool_destroy(cand.argp);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* See socketio_daemon.h. */
int socketio_daemon_check_config(apr_pool_t *ptemp, server_rec *s)
{
    apr_hash_t *asked = apr_hash_make(ptemp);

    for (server_rec *v = s; v; v = v->next) {
        const socketio_server_conf *sc = socketio_config_server(v);
        const char *path = sc->daemon_path ? sc->daemon_path
                                           : SOCKETIO_SIOD_PATH;

        if (sc->daemon_managed == 0 ||
            apr_hash_get(asked, sc->daemon_socket, APR_HASH_KEY_STRING))
            continue;
        apr_hash_set(asked, sc->daemon_socket, APR_HASH_KEY_STRING, "");
        if (access(path, X_OK) == 0) {
            if (!siod_accepts(sc, v))
                return HTTP_INTERNAL_SERVER_ERROR;
            continue;
        }
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, errno, v,
                     "mod_socketio: SocketIODaemonPath %s: not a program "
                     "httpd can run, and SocketIODaemon managed (the "
                     "default) starts siod from it: install siod there, "
                     "set SocketIODaemonPath, or say SocketIODaemon "
                     "external and run siod yourself", path);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

/* See socketio_daemon.h. */
int socketio_daemon_monitor(apr_pool_t *p, server_rec *s)
{
    daemon_state *st = NULL;
    apr_time_t now = apr_time_now();
    apr_hash_index_t *hi;

    apr_pool_userdata_get((void **)&st, state_key, s->process->pool);
    if (!st)
        return DECLINED;
    for (hi = apr_hash_first(p, st->daemons); hi; hi = apr_hash_next(hi)) {
        daemon_rec *d = apr_hash_this_val(hi);

        /* gone while no configuration had it registered (a restart) */
        if (d->proc.pid > 0 && kill(d->proc.pid, 0) < 0 && errno == ESRCH) {
            pid_t pid = d->proc.pid;

            if (d->pconf)
                apr_proc_other_child_unregister(d);
            d->pconf = NULL;
            died(d, pid, -1);
        }
        if (d->wanted && d->proc.pid <= 0 && d->restart_at &&
            now >= d->restart_at) {
            start(d);
            register_child(d);
        }
    }
    return DECLINED;
}
