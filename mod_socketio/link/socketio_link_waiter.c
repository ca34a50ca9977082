/* The relay link's waiter registry (see socketio_link.c for the whole
 * link): a waiter per request or WebSocket conn, its frame queue and wake
 * fd, and the frames request and WebSocket threads write themselves under
 * write_mutex (sending the reactor's queued bytes first); a held
 * waiter's hand-over to the next siod. Any thread that owns the waiter;
 * the reader thread touches only its queue with link->mutex held. Calls
 * socketio_link.c (open, stopping, the keeper thread), the frame
 * memory of socketio_link_read.c, socketio_link_oq.c (frame_parts,
 * oq_send, oq_notify) and socketio_link_fd.c (write, wake); none of them
 * calls back. */
#include "socketio_link_int.h"

APLOG_USE_MODULE(socketio);

static void free_queue_locked(socketio_waiter *w)
{
    socketio_frame *f = w->head, *next;

    for (; f; f = next) {
        next = f->next;
        socketio_frame_free(f);
    }
    w->head = w->tail = NULL;
    w->queued = 0;
    w->frames = 0;
    socketio_waiter_chunk_close_locked(w);
}

/* Cleanup on the waiter owner's pool. */
static apr_status_t waiter_cleanup(void *data)
{
    socketio_waiter *w = data;
    socketio_link *link = w->link;

    apr_thread_mutex_lock(link->mutex);
    if (w->registered) {
        apr_hash_set(link->waiters, &w->conn, sizeof(w->conn), NULL);
        w->registered = 0;
    }
    if (w->held) {
        w->held = 0;
        link->n_held--;
    }
    free_queue_locked(w);
    apr_thread_mutex_unlock(link->mutex);
    if (w->wakefd >= 0) {
        close(w->wakefd);
        w->wakefd = -1;
    }
    return APR_SUCCESS;
}

/* See the header. */
apr_status_t socketio_waiter_create(socketio_link *link, apr_pool_t *pool,
                                    apr_size_t max_queued,
                                    socketio_waiter **out)
{
    socketio_waiter *w;
    apr_status_t rv;

    *out = NULL;
    if (!link)
        return APR_ENOTIMPL;
    if ((rv = socketio_link_ensure_open(link)) != APR_SUCCESS)
        return rv;
    w = apr_pcalloc(pool, sizeof(*w));
    w->link = link;
    w->pool = pool;
    w->max_queued = max_queued;
    w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->wakefd < 0)
        return errno;
    apr_pool_cleanup_register(pool, w, waiter_cleanup, apr_pool_cleanup_null);

    apr_thread_mutex_lock(link->mutex);
    if (!link_up(link)) {
        apr_thread_mutex_unlock(link->mutex);
        return APR_ECONNRESET;
    }
    w->gen = link->gen;
    w->peer_caps = link->peer_caps;
    w->conn = ++link->next_conn;
    apr_hash_set(link->waiters, &w->conn, sizeof(w->conn), w);
    w->registered = 1;
    apr_thread_mutex_unlock(link->mutex);
    *out = w;
    return APR_SUCCESS;
}

/* Returns the waiter's conn handle. */
apr_uint64_t socketio_waiter_conn(const socketio_waiter *w)
{
    return w->conn;
}

/* Returns the wake fd; the waiter owns it (closed by its cleanup). */
int socketio_waiter_wakefd(const socketio_waiter *w)
{
    return w->wakefd;
}

/* Returns siod's maximum body as announced in its HELLO. */
apr_size_t socketio_waiter_max_body(const socketio_waiter *w)
{
    return w->link->peer_max_body;
}

/* See the header. The reactor's frames queued before this one are sent
 * first, whole, so frames never interleave on the stream. */
apr_status_t socketio_waiter_send(socketio_waiter *w, int type, int flags,
                                  int status, const char *sid,
                                  const struct iovec *iov, int iovcnt)
{
    socketio_link *link = w->link;
    unsigned char hdr[SIO_RELAY_HDR_LEN];
    struct iovec parts[SEND_MAX_PARTS + 1];
    apr_size_t total, backlog;
    apr_time_t deadline;
    apr_status_t rv;
    int fd, ok;

    rv = socketio_waiter_frame_parts(w, type, flags, status, sid, iov,
                                     iovcnt, hdr, parts, &total);
    if (rv != APR_SUCCESS)
        return rv;

    apr_thread_mutex_lock(link->write_mutex);
    apr_thread_mutex_lock(link->mutex);
    ok = link_up(link) && link->gen == w->gen && !w->failed;
    fd = link->fd;
    backlog = link->oq_len;
    apr_thread_mutex_unlock(link->mutex);
    if (!ok) {
        apr_thread_mutex_unlock(link->write_mutex);
        return APR_ECONNRESET;
    }
    deadline = apr_time_now() + apr_time_from_msec(LINK_WRITE_TIMEOUT_MS);
    rv = backlog ? socketio_link_oq_send(link, fd, backlog, deadline)
                 : APR_SUCCESS;
    if (rv == APR_SUCCESS)
        rv = socketio_link_write_all(fd, parts, iovcnt + 1, deadline);
    if (rv != APR_SUCCESS) {
        /* The reader sees the shutdown and takes the link down (and logs
         * the outage). A peer that closed needs no line of its own; a
         * hung or failing one is logged once per link generation. */
        shutdown(fd, SHUT_RDWR);
        ap_log_error(APLOG_MARK,
                     rv == EPIPE || rv == ECONNRESET ||
                     link->wfail_gen == w->gen ? APLOG_DEBUG : APLOG_ERR,
                     rv, link->s,
                     "mod_socketio: writing %s to siod at %s failed; dropping "
                     "the relay link", sio_relay_type_name(type), link->path);
        link->wfail_gen = w->gen;
        rv = APR_ECONNRESET;
    }
    apr_thread_mutex_unlock(link->write_mutex);
    socketio_link_oq_notify(link);
    return rv;
}

/* See the header. */
apr_status_t socketio_waiter_take(socketio_waiter *w, socketio_frame **out)
{
    socketio_link *link = w->link;
    socketio_frame *f;
    apr_status_t rv;

    *out = NULL;
    apr_thread_mutex_lock(link->mutex);
    if (w->overflow) {
        free_queue_locked(w);
        rv = APR_ENOSPC;
    } else if ((f = w->head) != NULL) {
        w->head = f->next;
        if (!w->head)
            w->tail = NULL;
        w->queued -= f->cost;
        w->frames--;
        f->next = NULL;
        *out = f;
        rv = APR_SUCCESS;
    } else {
        rv = w->failed ? APR_ECONNRESET : APR_EAGAIN;
    }
    apr_thread_mutex_unlock(link->mutex);
    return rv;
}

/* See the header. */
void socketio_waiter_clear_wake(socketio_waiter *w)
{
    uint64_t v;
    ssize_t n;

    do {
        n = read(w->wakefd, &v, sizeof(v));
    } while (n < 0 && errno == EINTR);
}

/* Fills pfd[0] (w's wake-up) and pfd[1] (the client's hang-up) for a
 * wait of w's owner thread. */
static void wait_fds(struct pollfd *pfd, const socketio_waiter *w,
                     int client_fd)
{
    pfd[0].fd = w->wakefd;
    pfd[0].events = POLLIN;
    pfd[0].revents = 0;
    pfd[1].fd = client_fd;
    pfd[1].events = POLLRDHUP;
    pfd[1].revents = 0;
}

/* See the header. */
apr_status_t socketio_waiter_wait(socketio_waiter *w,
                                  apr_interval_time_t timeout,
                                  int client_fd, socketio_frame **out)
{
    apr_time_t deadline = apr_time_now() + timeout;
    struct pollfd pfd[2];
    apr_status_t rv;
    int n, ms;

    for (;;) {
        rv = socketio_waiter_take(w, out);
        if (rv != APR_EAGAIN)
            return rv;
        ms = socketio_link_ms_left(deadline);
        if (ms == 0)
            return APR_TIMEUP;
        wait_fds(pfd, w, client_fd);
        n = poll(pfd, client_fd >= 0 ? 2 : 1, ms);
        if (n < 0 && errno != EINTR)
            return errno;
        if (n > 0 && client_fd >= 0 &&
            (pfd[1].revents & (POLLRDHUP | POLLHUP | POLLERR)))
            return APR_ECONNABORTED;
        if (n > 0 && (pfd[0].revents & POLLIN))
            socketio_waiter_clear_wake(w);
    }
}

/* See the header. */
int socketio_waiter_can_release(const socketio_waiter *w)
{
    return (w->peer_caps & SIO_RELAY_CAP_RELEASE) != 0;
}

/* See the header. */
int socketio_waiter_can_api(const socketio_waiter *w)
{
    return (w->peer_caps & SIO_RELAY_CAP_API) != 0;
}

/* See the header. prefork tells a busy child of a graceful restart only
 * with AP_SIG_GRACEFUL, caught by its one thread: the signal is blocked
 * here except inside ppoll, so one that arrives between the stop check
 * and the wait still ends the wait at once. Threaded MPMs keep it blocked
 * in their workers; child_stopping wakes those through the wake fd. */
apr_status_t socketio_waiter_wait_held(socketio_waiter *w,
                                       apr_interval_time_t timeout,
                                       int client_fd, socketio_frame **out)
{
    apr_time_t deadline = apr_time_now() + timeout;
    struct pollfd pfd[2];
    struct timespec ts;
    sigset_t graceful, old;
    apr_status_t rv;
    int n, ms;

    sigemptyset(&graceful);
    sigaddset(&graceful, AP_SIG_GRACEFUL);
    pthread_sigmask(SIG_BLOCK, &graceful, &old);
    for (;;) {
        rv = socketio_waiter_take(w, out);
        if (rv != APR_EAGAIN)
            break;
        if (socketio_link_child_is_stopping()) {
            rv = APR_INCOMPLETE;
            break;
        }
        ms = socketio_link_ms_left(deadline);
        if (ms == 0) {
            rv = APR_TIMEUP;
            break;
        }
        wait_fds(pfd, w, client_fd);
        ts.tv_sec = ms / 1000;
        ts.tv_nsec = (long)(ms % 1000) * 1000000L;
        n = ppoll(pfd, client_fd >= 0 ? 2 : 1, &ts, &old);
        if (n < 0 && errno != EINTR) {
            rv = errno;
            break;
        }
        if (n > 0 && client_fd >= 0 &&
            (pfd[1].revents & (POLLRDHUP | POLLHUP | POLLERR))) {
            rv = APR_ECONNABORTED;
            break;
        }
        if (n > 0 && (pfd[0].revents & POLLIN))
            socketio_waiter_clear_wake(w);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rv;
}

/* See the header. */
void socketio_waiter_destroy(socketio_waiter *w)
{
    if (w)
        apr_pool_cleanup_run(w->pool, w, waiter_cleanup);
}

/* See the header. */
apr_status_t socketio_waiter_bind(socketio_waiter *w, void *owner,
                                  socketio_frame **queued)
{
    socketio_link *link = w->link;
    apr_status_t rv;
    int fd;

    apr_thread_mutex_lock(link->mutex);
    *queued = w->head;
    w->head = w->tail = NULL;
    w->queued = 0;
    w->frames = 0;
    socketio_waiter_chunk_close_locked(w);  /* the reactor takes over */
    rv = w->failed ? APR_ECONNRESET : w->overflow ? APR_ENOSPC : APR_SUCCESS;
    w->owner = owner;
    fd = w->wakefd;
    w->wakefd = -1;
    apr_thread_mutex_unlock(link->mutex);
    if (fd >= 0)
        close(fd);
    return rv;
}

/* See the header. */
int socketio_waiter_held(socketio_waiter *w, int *status)
{
    socketio_link *link = w->link;
    int held;

    apr_thread_mutex_lock(link->mutex);
    held = w->held;
    if (held && status)
        *status = w->held_status;
    apr_thread_mutex_unlock(link->mutex);
    /* Someone must open the link again for it. */
    if (held)
        socketio_link_keeper_start(link);
    return held;
}

/* See the header. A held waiter keeps its conn and its place in the
 * registry; only its generation moves, so sends go to the new siod and a
 * drop of the new link fails it as any other. */
apr_status_t socketio_waiter_rebind(socketio_waiter *w)
{
    socketio_link *link = w->link;
    apr_status_t rv;

    apr_thread_mutex_lock(link->mutex);
    if (!w->held) {
        rv = APR_EINVAL;
    } else if (link->state != LINK_UP || link->gen == w->gen) {
        rv = APR_EAGAIN;
    } else {
        w->held = 0;
        link->n_held--;
        if (link->peer_caps & SIO_RELAY_CAP_HANDOVER) {
            w->gen = link->gen;
            w->peer_caps = link->peer_caps;
            w->failed = 0;
            rv = APR_SUCCESS;
        } else {
            w->failed = 1;
            rv = APR_ENOTIMPL;
        }
    }
    apr_thread_mutex_unlock(link->mutex);
    return rv;
}
