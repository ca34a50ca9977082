/* The relay link's output queue for the reactor (see socketio_link.c for
 * the whole link): whole frames appended under link->mutex in chunks of
 * the link's allocator, sent without blocking when write_mutex is free,
 * bounded by SocketIORelayQueue (socketio_waiter_reactor_room), and the
 * reactor-only entry points that poll and flush a link. The socketio_*
 * reactor_* functions run on the reactor thread only; request and
 * WebSocket threads (socketio_link_waiter.c) call oq_send with write_mutex
 * held and oq_notify once they have let go of it, and build their frames
 * with socketio_waiter_frame_parts, as the reactor does. Calls
 * socketio_link_fd.c (wait_fd), no other link file. */
#include "socketio_link_int.h"

APLOG_USE_MODULE(socketio);

/* ---- the reactor's output queue ----------------------------------- */

static apr_size_t oq_node_size(const apr_memnode_t *n)
{
    return (apr_size_t)(n->endp - (const char *)n);
}

/* Frees the whole queue. mutex held (or no other thread left). */
void socketio_link_oq_free_locked(socketio_link *link)
{
    if (link->oq_head)
        apr_allocator_free(link->alloc, link->oq_head);
    link->oq_head = link->oq_tail = NULL;
    link->oq_rd = NULL;
    link->oq_len = link->oq_held = 0;
}

/* Returns the memory appending n bytes would add (whole chunks). mutex
 * held. */
static apr_size_t oq_cost_locked(const socketio_link *link, apr_size_t n)
{
    apr_size_t room = link->oq_tail ? (apr_size_t)(link->oq_tail->endp -
                                                   link->oq_tail->first_avail)
                                    : 0;

    if (n <= room)
        return 0;
    return (n - room + OQ_DATA - 1) / OQ_DATA * OQ_NODE;
}

/* Appends one frame made of iovcnt parts (total bytes), whole or not at
 * all: the chunks it needs are taken first. Returns APR_SUCCESS or
 * APR_ENOMEM. mutex held. */
static apr_status_t oq_append_locked(socketio_link *link,
                                     const struct iovec *iov, int iovcnt,
                                     apr_size_t total)
{
    apr_memnode_t *tail = link->oq_tail, *fresh = NULL, *last = NULL, *n;
    apr_size_t room = tail ? (apr_size_t)(tail->endp - tail->first_avail) : 0;
    apr_size_t need = total > room ? total - room : 0, held = 0, k, left;
    const char *from;
    int i;

    while (need > 0) {
        n = apr_allocator_alloc(link->alloc, OQ_DATA);
        if (!n) {
            if (fresh)
                apr_allocator_free(link->alloc, fresh);
            return APR_ENOMEM;
        }
        n->next = NULL;
        if (last)
            last->next = n;
        else
            fresh = n;
        last = n;
        held += oq_node_size(n);
        k = (apr_size_t)(n->endp - n->first_avail);
        need -= need < k ? need : k;
    }
    n = room ? tail : fresh;
    if (fresh) {
        if (tail)
            tail->next = fresh;
        else
            link->oq_head = fresh;
        if (!link->oq_rd)
            link->oq_rd = fresh->first_avail;
        link->oq_tail = last;
    }
    for (i = 0; i < iovcnt; i++) {
        from = iov[i].iov_base;
        left = iov[i].iov_len;
        while (left > 0) {
            if (n->first_avail == n->endp)
                n = n->next;
            k = (apr_size_t)(n->endp - n->first_avail);
            if (k > left)
                k = left;
            memcpy(n->first_avail, from, k);
            n->first_avail += k;
            from += k;
            left -= k;
        }
    }
    link->oq_len += total;
    link->oq_held += held;
    return APR_SUCCESS;
}

/* Points iov (OQ_IOV entries) at the first max unsent bytes. Returns the
 * entries used. mutex held; the bytes stay put while the caller holds
 * write_mutex (only its holder consumes). */
static int oq_iov_locked(const socketio_link *link, struct iovec *iov,
                         apr_size_t max)
{
    const apr_memnode_t *n = link->oq_head;
    char *from = link->oq_rd;
    apr_size_t len;
    int k = 0;

    while (n && k < OQ_IOV && max > 0) {
        len = (apr_size_t)(n->first_avail - from);
        if (len > max)
            len = max;
        if (len) {
            iov[k].iov_base = from;
            iov[k].iov_len = len;
            k++;
            max -= len;
        }
        n = n->next;
        if (n)
            from = (char *)n + APR_MEMNODE_T_SIZE;
    }
    return k;
}

/* n bytes were sent from the front: frees the chunks they emptied. mutex
 * held. */
static void oq_consume_locked(socketio_link *link, apr_size_t n)
{
    apr_memnode_t *h;
    apr_size_t avail;

    link->oq_len -= n;
    while (n > 0 && (h = link->oq_head) != NULL) {
        avail = (apr_size_t)(h->first_avail - link->oq_rd);
        if (n < avail) {
            link->oq_rd += n;
            return;
        }
        n -= avail;
        link->oq_head = h->next;
        link->oq_rd = h->next ? (char *)h->next + APR_MEMNODE_T_SIZE : NULL;
        if (!link->oq_head)
            link->oq_tail = NULL;
        link->oq_held -= oq_node_size(h);
        h->next = NULL;
        apr_allocator_free(link->alloc, h);
    }
}

/* Sends up to max queued bytes on fd, from the front. With a deadline it
 * waits for the socket until then; with deadline 0 it stops when the
 * socket is full. Returns APR_SUCCESS (max bytes sent, or the queue is
 * empty), APR_EAGAIN (full, not waiting), APR_TIMEUP or an errno status.
 * write_mutex held. */
apr_status_t socketio_link_oq_send(socketio_link *link, int fd,
                                   apr_size_t max, apr_time_t deadline)
{
    struct iovec iov[OQ_IOV];
    struct msghdr msg;
    apr_status_t rv;
    ssize_t n;
    int k;

    while (max > 0) {
        apr_thread_mutex_lock(link->mutex);
        k = oq_iov_locked(link, iov, max);
        apr_thread_mutex_unlock(link->mutex);
        if (k == 0)
            return APR_SUCCESS;
        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = iov;
        msg.msg_iovlen = (size_t)k;
        n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return errno;
            if (!deadline)
                return APR_EAGAIN;
            rv = socketio_link_wait_fd(fd, POLLOUT, deadline);
            if (rv != APR_SUCCESS)
                return rv;
            continue;
        }
        apr_thread_mutex_lock(link->mutex);
        oq_consume_locked(link, (apr_size_t)n);
        apr_thread_mutex_unlock(link->mutex);
        max -= (apr_size_t)n;
    }
    return APR_SUCCESS;
}

/* A thread other than the reactor let go of write_mutex: if the reactor's
 * queue holds bytes, or a client waits for room, the reactor must look
 * (it may have found the lock taken). Any thread, no lock held. */
void socketio_link_oq_notify(socketio_link *link)
{
    int tell;

    if (!link->sink)
        return;
    apr_thread_mutex_lock(link->mutex);
    tell = link->oq_len > 0 || link->oq_paused;
    apr_thread_mutex_unlock(link->mutex);
    if (tell)
        link->sink->output(link->sink_ctx);
}

/* Fills hdr and parts[0..iovcnt] (parts[0] is the header) for one frame
 * named by w's conn. Returns APR_SUCCESS with the body length in *total,
 * APR_EINVAL or SOCKETIO_EMSGSIZE. */
apr_status_t socketio_waiter_frame_parts(socketio_waiter *w, int type,
                                         int flags, int status,
                                         const char *sid,
                                         const struct iovec *iov, int iovcnt,
                                         unsigned char *hdr,
                                         struct iovec *parts,
                                         apr_size_t *total)
{
    sio_relay_frame f;
    apr_uint64_t sum = 0;
    int i;

    if (iovcnt < 0 || iovcnt > SEND_MAX_PARTS)
        return APR_EINVAL;
    for (i = 0; i < iovcnt; i++) {
        sum += iov[i].iov_len;
        parts[i + 1] = iov[i];
    }
    if (sum > w->link->peer_max_body)
        return SOCKETIO_EMSGSIZE;
    memset(&f, 0, sizeof(f));
    f.type = (uint8_t)type;
    f.flags = (uint8_t)flags;
    f.status = (uint16_t)status;
    f.conn = w->conn;
    if (sid)
        memcpy(f.sid, sid, SIO_SID_LEN);
    f.len = (uint32_t)sum;
    sio_relay_write_header(hdr, &f);
    parts[0].iov_base = hdr;
    parts[0].iov_len = SIO_RELAY_HDR_LEN;
    *total = (apr_size_t)sum;
    return APR_SUCCESS;
}

/* Logs that clients' input is paused for room: at most once per
 * OQ_LOG_EVERY per link at warn, the others at debug and counted.
 * Reactor thread, no lock held. */
static void oq_log_pause(socketio_link *link, apr_size_t held)
{
    apr_time_t now = apr_time_now();

    if (now - link->oq_logged_at >= OQ_LOG_EVERY) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, link->s,
                     "mod_socketio: siod at %s is not taking this child's "
                     "messages: %" APR_SIZE_T_FMT " bytes queued "
                     "(SocketIORelayQueue %" APR_SIZE_T_FMT "); WebSocket "
                     "clients' input paused until it drains (%u more pauses "
                     "since the last such message)", link->path, held,
                     link->oq_limit, link->oq_unlogged);
        link->oq_logged_at = now;
        link->oq_unlogged = 0;
    } else {
        link->oq_unlogged++;
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, link->s,
                     "mod_socketio: relay queue to %s full (%" APR_SIZE_T_FMT
                     " bytes): a WebSocket client's input paused", link->path,
                     held);
    }
}

/* See the header. */
int socketio_waiter_reactor_room(socketio_waiter *w, apr_size_t len)
{
    socketio_link *link = w->link;
    apr_size_t held;
    int ok;

    apr_thread_mutex_lock(link->mutex);
    /* A link that is gone fails the send, which closes the client. */
    ok = !link_up(link) || link->gen != w->gen || w->failed ||
         !link->oq_head ||
         link->oq_held + oq_cost_locked(link, SIO_RELAY_HDR_LEN + len) <=
             link->oq_limit;
    held = link->oq_held;
    if (!ok)
        link->oq_paused = 1;
    apr_thread_mutex_unlock(link->mutex);
    if (!ok)
        oq_log_pause(link, held);
    return ok;
}

/* See the header. */
apr_status_t socketio_waiter_reactor_send(socketio_waiter *w, int type,
                                          int flags, int status,
                                          const char *sid,
                                          const struct iovec *iov, int iovcnt,
                                          int control)
{
    socketio_link *link = w->link;
    unsigned char hdr[SIO_RELAY_HDR_LEN];
    struct iovec parts[SEND_MAX_PARTS + 1];
    apr_size_t total, held, limit = link->oq_limit +
                                    (control ? OQ_CONTROL_RESERVE : 0);
    apr_status_t rv;

    rv = socketio_waiter_frame_parts(w, type, flags, status, sid, iov,
                                     iovcnt, hdr, parts, &total);
    if (rv != APR_SUCCESS)
        return rv;
    apr_thread_mutex_lock(link->mutex);
    if (!link_up(link) || link->gen != w->gen || w->failed) {
        rv = APR_ECONNRESET;
    } else if (link->oq_head &&
               link->oq_held + oq_cost_locked(link, SIO_RELAY_HDR_LEN + total)
                   > limit) {
        rv = APR_ENOSPC;
    } else {
        rv = oq_append_locked(link, parts, iovcnt + 1,
                              SIO_RELAY_HDR_LEN + total);
    }
    held = link->oq_held;
    if (rv != APR_SUCCESS && rv != APR_ECONNRESET && control) {
        /* siod has not taken even the reserve for close notices: it is
         * stuck. Dropping the link ends this child's sessions there as
         * closes would (the reader sees the shutdown). */
        shutdown(link->fd, SHUT_RDWR);
    }
    apr_thread_mutex_unlock(link->mutex);
    if (rv != APR_SUCCESS && rv != APR_ECONNRESET && control) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, link->s,
                     "mod_socketio: cannot queue %s for siod at %s (%"
                     APR_SIZE_T_FMT " bytes queued, SocketIORelayQueue %"
                     APR_SIZE_T_FMT " + 1 MiB for closes); dropping the "
                     "relay link", sio_relay_type_name(type), link->path,
                     held, link->oq_limit);
        rv = APR_ECONNRESET;
    }
    return rv;
}

/* See the header. */
int socketio_link_reactor_fd(socketio_link *link, unsigned *gen)
{
    int fd;

    apr_thread_mutex_lock(link->mutex);
    fd = link_up(link) ? link->fd : -1;
    *gen = link->gen;
    apr_thread_mutex_unlock(link->mutex);
    return fd;
}

/* See the header. The lock is only tried: its holder may be a thread
 * waiting on siod, and it calls sink->output once it lets go. */
apr_status_t socketio_link_reactor_flush(socketio_link *link, unsigned gen)
{
    apr_status_t rv;
    int fd;

    if (apr_thread_mutex_trylock(link->write_mutex) != APR_SUCCESS)
        return APR_EBUSY;
    apr_thread_mutex_lock(link->mutex);
    fd = link_up(link) && link->gen == gen ? link->fd : -1;
    apr_thread_mutex_unlock(link->mutex);
    if (fd < 0) {
        apr_thread_mutex_unlock(link->write_mutex);
        return APR_ECONNRESET;
    }
    rv = socketio_link_oq_send(link, fd, (apr_size_t)-1, 0);
    if (rv != APR_SUCCESS && rv != APR_EAGAIN) {
        /* As in socketio_waiter_send: the reading side takes it down. */
        shutdown(fd, SHUT_RDWR);
        ap_log_error(APLOG_MARK,
                     rv == EPIPE || rv == ECONNRESET || link->wfail_gen == gen
                         ? APLOG_DEBUG : APLOG_ERR, rv, link->s,
                     "mod_socketio: writing to siod at %s failed; dropping "
                     "the relay link", link->path);
        link->wfail_gen = gen;
        rv = APR_ECONNRESET;
    }
    apr_thread_mutex_unlock(link->write_mutex);
    return rv;
}

/* See the header. */
int socketio_link_reactor_drained(socketio_link *link)
{
    int drained;

    apr_thread_mutex_lock(link->mutex);
    drained = link->oq_held <= link->oq_limit / 2;
    if (drained)
        link->oq_paused = 0;
    apr_thread_mutex_unlock(link->mutex);
    return drained;
}
