/* The relay link's state (see socketio_link.c for the whole link): its
 * one transition function, taking it down when the socket fails, and the
 * outage lines, logged once across the children. Any thread (the reading
 * thread takes the link down); calls the output queue
 * (socketio_link_oq.c, to free it) and the descriptor helpers, no other
 * link file. */
#include "socketio_link_int.h"

APLOG_USE_MODULE(socketio);

static const char *const state_names[] = {
    "down", "up", "closing", "exited"
};

/* See socketio_link_int.h. */
void socketio_link_transit(socketio_link *link, socketio_link_state to,
                           const char *why)
{
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, link->s,
                 "mod_socketio: relay link to %s (pid %" APR_PID_T_FMT
                 ", generation %u): %s -> %s (%s)", link->path, getpid(),
                 link->gen, state_names[link->state], state_names[to], why);
    /* Stored atomically: socketio_link_ensure_open reads it unlocked. */
    __atomic_store_n(&link->state, to, __ATOMIC_RELEASE);
}

/* See socketio_link_int.h. Once across the children when the shared
 * flags exist. */
void socketio_link_note_outage(socketio_link *link, apr_status_t rv,
                        const char *what)
{
    /* Protocol failures carry no errno worth printing. */
    if (rv == APR_EGENERAL || rv == APR_EOF)
        rv = APR_SUCCESS;
    if (apr_atomic_cas32(link->outage, 1, 0) == 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, link->s,
                     "mod_socketio: Socket.IO daemon unavailable at %s: %s "
                     "(answering 503 until it is back)", link->path, what);
    } else {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, rv, link->s,
                     "mod_socketio: siod at %s still unavailable: %s",
                     link->path, what);
    }
}

/* See socketio_link_int.h. (An open outside an outage is logged by
 * socketio_link_transit only.) */
void socketio_link_note_connected(socketio_link *link)
{
    if (apr_atomic_xchg32(link->outage, 0) == 1)
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, link->s,
                     "mod_socketio: Socket.IO daemon at %s is back",
                     link->path);
}

/* See socketio_link_int.h. */
void socketio_link_down(socketio_link *link, unsigned gen, apr_status_t rv,
                        const char *why)
{
    apr_hash_index_t *hi;
    int fd = -1, was_up = 0;

    /* A thread blocked writing to siod holds write_mutex: its write fails
     * at once on a shut socket, so the reactor never waits here for a
     * write deadline. */
    apr_thread_mutex_lock(link->mutex);
    if (link_up(link) && link->gen == gen)
        shutdown(link->fd, SHUT_RDWR);
    apr_thread_mutex_unlock(link->mutex);
    apr_thread_mutex_lock(link->write_mutex);
    apr_thread_mutex_lock(link->mutex);
    if (link_up(link) && link->gen == gen) {
        was_up = link->state == LINK_UP;
        fd = link->fd;
        link->fd = -1;
        socketio_link_transit(link, was_up ? LINK_DOWN : LINK_EXITED, why);
        socketio_link_oq_free_locked(link);
        for (hi = apr_hash_first(NULL, link->waiters); hi;
             hi = apr_hash_next(hi)) {
            socketio_waiter *w = apr_hash_this_val(hi);

            /* A held waiter outlives its link (its owner's next siod
             * takes it back, or the owner closes it). */
            if (w->gen != gen || w->failed || w->held)
                continue;
            w->failed = 1;
            if (w->owner)
                link->sink->failed(w->owner);
            else
                socketio_waiter_wake(w);
        }
        /* The keeper opens the link again for the held ones. */
        if (link->n_held && link->keep_cond)
            apr_thread_cond_broadcast(link->keep_cond);
    }
    apr_thread_mutex_unlock(link->mutex);
    apr_thread_mutex_unlock(link->write_mutex);
    if (fd >= 0)
        close(fd);
    if (was_up)
        socketio_link_note_outage(link, rv, why);
}
