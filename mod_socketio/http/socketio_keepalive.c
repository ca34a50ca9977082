/* Keep-alive that holds under mpm_event. When all of a child's workers are
 * busy, mpm_event closes the connections it keeps alive (and one whose
 * next request arrives while no worker is free): a polling client that
 * reuses its connection then finds it cut, without an answer ("socket
 * hang up"), which is what happens as soon as polls and posts outnumber a
 * child's threads. Connections the MPM waits on in CONN_STATE_ASYNC_WAITIO
 * (httpd 2.4.63 and later, AP_MPMQ_CAN_WAITIO) are not closed so: when
 * their next request comes, the MPM waits for a free worker. So after a
 * request the module answered, the connection waits for the next one in
 * that state instead of the MPM's keep-alive.
 *
 * How: this file's process_connection hook runs the connection's hooks
 * itself (httpd's HTTP/1 processing of one request), then, if the request
 * was the module's, the connection stays open and nothing is left to
 * write or read, it returns CONN_STATE_ASYNC_WAITIO instead of
 * CONN_STATE_WRITE_COMPLETION. The MPM bounds that wait by Timeout, not
 * KeepAliveTimeout, and does not end it when the child stops; so such
 * connections are listed (per child, under a mutex) and shut for reading
 * (the MPM then wakes, reads the end and closes them) once idle for
 * KeepAliveTimeout, by a timed callback of the MPM's that runs while any
 * is listed, and all at once when the child stops. A connection leaves
 * the list when its next request wakes it, before the MPM closes it
 * (pre_close_connection) or when its pool goes. Under other MPMs, older
 * httpd, HTTP/2 and for other handlers' requests nothing changes.
 *
 * The same hook hands a parked long-poll GET (socketio_poll_park.c) to
 * the MPM when its handler returned SUSPENDED, and resumes it when the
 * MPM wakes the connection; pre_close_connection gives up a parked GET
 * the MPM closes.
 *
 * Called by socketio_handler.c (the mark) and httpd's hooks; calls
 * socketio_poll_park.c. */
#include <sys/socket.h>

#include "httpd.h"
#include "http_config.h"
#include "http_connection.h"
#include "http_core.h"
#include "http_log.h"
#include "ap_mpm.h"
#include "util_filter.h"
#include "apr_thread_mutex.h"

#include "socketio_http.h"
#include "socketio_http_int.h"

APLOG_USE_MODULE(socketio);

/* The connection's record, in c->pool's user data under this key. */
#define KA_KEY "socketio-keepalive"

typedef struct ka_conn {
    struct ka_conn *prev, *next;   /* the list, oldest first */
    conn_rec *c;
    int fd;
    int ours;                      /* the module answered its last request */
    int listed;                    /* waiting in CONN_STATE_ASYNC_WAITIO */
    apr_time_t idle_until;         /* then shut for reading */
} ka_conn;

static int ka_enabled;             /* the MPM can wait so (child_init) */
static apr_thread_mutex_t *ka_mutex;
/* Under ka_mutex: */
static int ka_stopping;
static int ka_timer;               /* the idle timer is registered */
static ka_conn *ka_head, *ka_tail;
/* Set while this thread runs the hooks inside ours. */
static __thread int ka_inner;

static void unlink_locked(ka_conn *kc)
{
    if (!kc->listed)
        return;
    if (kc->prev)
        kc->prev->next = kc->next;
    else
        ka_head = kc->next;
    if (kc->next)
        kc->next->prev = kc->prev;
    else
        ka_tail = kc->prev;
    kc->prev = kc->next = NULL;
    kc->listed = 0;
}

/* Also from the cleanup of a connection's pool, which may run after the
 * child's pool (and the mutex) is gone, as the process exits. */
static void unlink_conn(ka_conn *kc)
{
    if (!ka_mutex)
        return;
    apr_thread_mutex_lock(ka_mutex);
    unlink_locked(kc);
    apr_thread_mutex_unlock(ka_mutex);
}

/* Shuts kc's socket for reading: the MPM sees the end at once and closes
 * the connection. The socket is still open: every way the MPM closes a
 * connection of the list (lingering close) runs pre_close_connection
 * first, which takes the mutex held here. */
static void shut_locked(ka_conn *kc)
{
    unlink_locked(kc);
    shutdown(kc->fd, SHUT_RD);
}

static apr_status_t ka_cleanup(void *data)
{
    unlink_conn(data);
    return APR_SUCCESS;
}

static ka_conn *ka_of(conn_rec *c)
{
    void *kc = NULL;

    apr_pool_userdata_get(&kc, KA_KEY, c->pool);
    return kc;
}

/* pchild's cleanup: the workers are joined, the mutex goes. */
static apr_status_t ka_child_cleanup(void *data)
{
    ka_enabled = 0;
    ka_mutex = NULL;
    ka_head = ka_tail = NULL;
    return APR_SUCCESS;
}

/* See socketio_http.h. */
void socketio_keepalive_child_init(apr_pool_t *pchild, server_rec *s)
{
    ka_enabled = 0;
#ifdef AP_MPMQ_CAN_WAITIO
    int async = 0, waitio = 0;

    if (ap_mpm_query(AP_MPMQ_IS_ASYNC, &async) != APR_SUCCESS || !async ||
        ap_mpm_query(AP_MPMQ_CAN_WAITIO, &waitio) != APR_SUCCESS || !waitio)
        return;
    if (apr_thread_mutex_create(&ka_mutex, APR_THREAD_MUTEX_DEFAULT,
                                pchild) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "mod_socketio: no mutex; polling connections use the "
                     "MPM's keep-alive");
        return;
    }
    apr_pool_cleanup_register(pchild, NULL, ka_child_cleanup,
                              apr_pool_cleanup_null);
    ka_enabled = 1;
#endif
    socketio_park_enable(ka_enabled);
}

/* See socketio_http.h. */
void socketio_keepalive_child_stopping(void)
{
    if (!ka_enabled)
        return;
    apr_thread_mutex_lock(ka_mutex);
    ka_stopping = 1;
    while (ka_head)
        shut_locked(ka_head);
    apr_thread_mutex_unlock(ka_mutex);
}

/* See socketio_http_int.h. */
void socketio_keepalive_mark(conn_rec *c)
{
    ka_conn *kc;
    apr_socket_t *sock;
    apr_os_sock_t fd;

    if (!ka_enabled || c->master || !c->cs)
        return;
    if (!(kc = ka_of(c))) {
        if (!(sock = ap_get_conn_socket(c)) ||
            apr_os_sock_get(&fd, sock) != APR_SUCCESS)
            return;
        kc = apr_pcalloc(c->pool, sizeof(*kc));
        kc->c = c;
        kc->fd = fd;
        apr_pool_userdata_setn(kc, KA_KEY, ka_cleanup, c->pool);
    }
    kc->ours = 1;
}

/* Pushes what the core output filter still holds, without waiting (as
 * the MPM does in write completion). */
static void push_output(conn_rec *c)
{
    ap_filter_t *f = c->output_filters;

    while (f->next)
        f = f->next;
    if (f->frec->filter_func.out_func(f, NULL) != APR_SUCCESS)
        c->aborted = 1;
}

#ifdef AP_MPMQ_CAN_WAITIO
/* Registers the idle timer for the oldest listed connection's time, if
 * it is not registered yet (ka_mutex held). */
static void arm_locked(apr_time_t now);

/* The idle timer (a worker thread of the MPM's): shuts the connections
 * idle for KeepAliveTimeout, and comes back while any is listed. */
static void idle_timer(void *baton)
{
    apr_time_t now = apr_time_now();

    if (!ka_mutex)
        return;
    apr_thread_mutex_lock(ka_mutex);
    ka_timer = 0;
    while (ka_head && ka_head->idle_until <= now)
        shut_locked(ka_head);
    arm_locked(now);
    apr_thread_mutex_unlock(ka_mutex);
}

static void arm_locked(apr_time_t now)
{
    apr_time_t wait;

    if (ka_timer || ka_stopping || !ka_head)
        return;
    wait = ka_head->idle_until - now;
    if (wait < apr_time_from_msec(10))
        wait = apr_time_from_msec(10);
    ka_timer = ap_mpm_register_timed_callback(wait, idle_timer, NULL) ==
               APR_SUCCESS;
}

/* Lists kc as waiting for its next request; once the child is stopping
 * (it raced with child_stopping), shuts it at once instead. */
static void list_conn(ka_conn *kc)
{
    apr_time_t now = apr_time_now();

    kc->idle_until = now + kc->c->base_server->keep_alive_timeout;
    apr_thread_mutex_lock(ka_mutex);
    if (ka_stopping) {
        shutdown(kc->fd, SHUT_RD);
        apr_thread_mutex_unlock(ka_mutex);
        return;
    }
    kc->prev = ka_tail;
    kc->next = NULL;
    if (ka_tail)
        ka_tail->next = kc;
    else
        ka_head = kc;
    ka_tail = kc;
    kc->listed = 1;
    arm_locked(now);
    apr_thread_mutex_unlock(ka_mutex);
}
#endif

/* See socketio_http.h. */
int socketio_keepalive_process_connection(conn_rec *c)
{
    socketio_parked *pk;
    ka_conn *kc;
    int rc;

    if (!ka_enabled || ka_inner || !c->cs || c->master ||
        c->clogging_input_filters)
        return DECLINED;
    if ((kc = ka_of(c)) != NULL)
        unlink_conn(kc);     /* its next request woke it */
    if ((pk = socketio_parked_of(c)) != NULL) {
        /* Its parked GET woke: answered, or parked again. */
        socketio_park_resume(pk, 0);
        if (c->cs->state == CONN_STATE_ASYNC_WAITIO)
            return OK;
        rc = OK;
    } else {
        ka_inner = 1;
        rc = ap_run_process_connection(c);
        ka_inner = 0;
        /* c may be the reactor's now only after this hook returns (its
         * suspend_connection hook runs then), so reading it here is
         * safe. */
        if (rc == OK && c->cs->state == CONN_STATE_SUSPENDED &&
            (pk = socketio_parked_of(c)) != NULL) {
            if (socketio_park_hand_over(pk))
                return OK;
            socketio_park_resume(pk, 1);
        }
    }
    if (rc != OK || !(kc = ka_of(c)) || !kc->ours)
        return rc;
    kc->ours = 0;
    if (c->cs->state != CONN_STATE_WRITE_COMPLETION || c->aborted ||
        c->keepalive != AP_CONN_KEEPALIVE || c->data_in_input_filters ||
        socketio_link_child_is_stopping())
        return rc;
    if (c->data_in_output_filters)
        push_output(c);
    /* Output left to write: the MPM's write completion does it (and then
     * its own keep-alive). */
    if (c->data_in_output_filters || c->aborted)
        return rc;
#ifdef AP_MPMQ_CAN_WAITIO
    c->cs->state = CONN_STATE_ASYNC_WAITIO;
    c->cs->sense = CONN_SENSE_DEFAULT;
    list_conn(kc);
#endif
    return rc;
}

/* See socketio_http.h. */
int socketio_keepalive_pre_close(conn_rec *c)
{
    socketio_parked *pk;
    ka_conn *kc;

    if (!ka_enabled)
        return OK;
    if ((kc = ka_of(c)) != NULL)
        unlink_conn(kc);
    if ((pk = socketio_parked_of(c)) != NULL)
        socketio_park_abandon(pk);
    return OK;
}
