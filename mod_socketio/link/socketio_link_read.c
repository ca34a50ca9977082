/* The relay link's input (see socketio_link.c for the whole link): the
 * reader thread, the resumable reassembly of frames from the socket
 * (link_pump, shared by the reader thread and the reactor's
 * socketio_link_reactor_read), dispatch to waiters and the split of
 * WS_FANOUT. Runs on the reading thread (the link's reader, or the reactor
 * when a sink is set); touches waiters only with link->mutex held. Calls
 * socketio_link_state.c (socketio_link_down) and socketio_link_fd.c
 * (socketio_waiter_wake) only. */
#include "socketio_link_int.h"

APLOG_USE_MODULE(socketio);

/* Returns w if it may take cost more bytes; when it may not, a volatile
 * frame is dropped (counted), any other marks w overflowed (and wakes
 * it). mutex held. */
static socketio_waiter *admit_locked(socketio_waiter *w, apr_size_t cost,
                                     int volatile_)
{
    if (!w || w->failed || w->overflow || w->owner)
        return NULL;
    if (w->queued + cost > w->max_queued || w->frames >= WAITER_MAX_FRAMES) {
        if (volatile_) {
            w->vol_dropped++;
            return NULL;
        }
        w->overflow = 1;
        socketio_waiter_wake(w);
        return NULL;
    }
    return w;
}

static socketio_waiter *waiter_locked(socketio_link *link, apr_uint64_t conn)
{
    return apr_hash_get(link->waiters, &conn, sizeof(conn));
}

/* Is f (its header at least) a WS_SEND siod marked volatile? */
static int frame_volatile(const sio_relay_frame *f)
{
    return f->type == SIO_R_WS_SEND && (f->flags & SIO_RF_VOLATILE);
}

/* Returns a node with room for a frame record and rawlen raw bytes (at
 * FRAME_HDR), or NULL. */
static apr_memnode_t *frame_node(socketio_link *link, size_t rawlen)
{
    return apr_allocator_alloc(link->alloc, FRAME_HDR + rawlen);
}

#define CHUNK_HDR APR_ALIGN_DEFAULT(sizeof(frame_chunk))

/* Memory a node holds, header included. */
static apr_size_t node_size(const apr_memnode_t *node)
{
    return (apr_size_t)(node->endp - (const char *)node);
}

/* Drops one reference to c; the last one frees its node. Any thread. */
static void chunk_unref(frame_chunk *c)
{
    if (apr_atomic_dec32(&c->refs) == 0)
        apr_allocator_free(c->alloc, c->node);
}

/* See socketio_link_int.h. */
void socketio_waiter_chunk_close_locked(socketio_waiter *w)
{
    if (w->open) {
        chunk_unref(w->open);
        w->open = NULL;
    }
}

/* See socketio_link_int.h. */
void socketio_frame_free(socketio_frame *fr)
{
    if (fr->chunk)
        chunk_unref(fr->chunk);
    else
        apr_allocator_free(fr->alloc, fr->node);
}

/* Returns a zeroed frame record with rawlen bytes of room after it (at
 * FRAME_HDR) in w's open chunk, opening a new chunk when it is full, with
 * fr->chunk and fr->cost set; NULL when no memory is left. mutex held. */
static socketio_frame *chunk_frame_locked(socketio_link *link,
                                          socketio_waiter *w, size_t rawlen)
{
    apr_size_t need = FRAME_HDR + APR_ALIGN_DEFAULT(rawlen);
    frame_chunk *c = w->open;
    socketio_frame *fr;

    if (!c || (apr_size_t)(c->node->endp - c->node->first_avail) < need) {
        apr_memnode_t *node = apr_allocator_alloc(link->alloc, CHUNK_SIZE -
                                                  APR_MEMNODE_T_SIZE);

        if (!node)
            return NULL;
        socketio_waiter_chunk_close_locked(w);
        c = (frame_chunk *)node->first_avail;
        c->node = node;
        c->alloc = link->alloc;
        c->refs = 1;
        node->first_avail += CHUNK_HDR;
        w->open = c;
    }
    fr = (socketio_frame *)c->node->first_avail;
    c->node->first_avail += need;
    apr_atomic_inc32(&c->refs);
    memset(fr, 0, sizeof(*fr));
    fr->node = c->node;
    fr->alloc = link->alloc;
    fr->chunk = c;
    fr->cost = need;
    return fr;
}

static void queue_locked(socketio_waiter *w, socketio_frame *fr)
{
    if (w->tail)
        w->tail->next = fr;
    else
        w->head = fr;
    w->tail = fr;
    w->queued += fr->cost;
    w->frames++;
    socketio_waiter_wake(w);
}

/* Queues frame f, whose raw bytes (already validated by sio_relay_parse)
 * sit at FRAME_HDR in node, for the waiter of its conn; frees the node if
 * that waiter is gone or full. mutex held. */
static void enqueue_locked(socketio_link *link, apr_memnode_t *node,
                           size_t rawlen, const sio_relay_frame *f)
{
    apr_size_t cost = node_size(node);
    socketio_waiter *w = admit_locked(waiter_locked(link, f->conn), cost,
                                      frame_volatile(f));
    socketio_frame *fr;
    size_t used;

    if (!w) {
        apr_allocator_free(link->alloc, node);
        return;
    }
    fr = (socketio_frame *)node->first_avail;
    memset(fr, 0, sizeof(*fr));
    fr->node = node;
    fr->alloc = link->alloc;
    fr->cost = cost;
    sio_relay_parse((unsigned char *)fr + FRAME_HDR, rawlen,
                    SIO_RELAY_MAX_BODY, &used, &fr->f);
    queue_locked(w, fr);
}

/* Queues a copy of frame f, whole in the read buffer (raw, rawlen bytes),
 * for the waiter of its conn: packed into the waiter's open chunk when
 * small. mutex held. */
static void deliver_copy_locked(socketio_link *link, const unsigned char *raw,
                                size_t rawlen, const sio_relay_frame *f)
{
    int packed = FRAME_HDR + rawlen <= CHUNK_PACK_MAX;
    socketio_waiter *w = admit_locked(waiter_locked(link, f->conn),
                                      packed ? FRAME_HDR + rawlen
                                             : FRAME_HDR + rawlen +
                                               APR_MEMNODE_T_SIZE,
                                      frame_volatile(f));
    apr_memnode_t *node;
    socketio_frame *fr;
    size_t used;

    if (!w)
        return;
    if (packed) {
        if (!(fr = chunk_frame_locked(link, w, rawlen))) {
            w->overflow = 1;
            socketio_waiter_wake(w);
            return;
        }
        memcpy((unsigned char *)fr + FRAME_HDR, raw, rawlen);
        sio_relay_parse((unsigned char *)fr + FRAME_HDR, rawlen,
                        SIO_RELAY_MAX_BODY, &used, &fr->f);
        queue_locked(w, fr);
        return;
    }
    node = frame_node(link, rawlen);
    if (!node) {
        w->overflow = 1;
        socketio_waiter_wake(w);
        return;
    }
    memcpy(node->first_avail + FRAME_HDR, raw, rawlen);
    enqueue_locked(link, node, rawlen, f);
}

/* Queues a WS_SEND of body for w (one fan-out recipient served by a
 * thread). mutex held. */
static void enqueue_send_locked(socketio_link *link, socketio_waiter *w,
                                int flags, const unsigned char *body,
                                size_t len)
{
    int packed = FRAME_HDR + len <= CHUNK_PACK_MAX;
    apr_memnode_t *node;
    socketio_frame *fr;

    if (!admit_locked(w, packed ? FRAME_HDR + len
                                : FRAME_HDR + len + APR_MEMNODE_T_SIZE,
                      (flags & SIO_RF_VOLATILE) != 0))
        return;
    if (packed) {
        fr = chunk_frame_locked(link, w, len);
    } else if ((node = frame_node(link, len)) != NULL) {
        fr = (socketio_frame *)node->first_avail;
        memset(fr, 0, sizeof(*fr));
        fr->node = node;
        fr->alloc = link->alloc;
        fr->cost = node_size(node);
    } else {
        fr = NULL;
    }
    if (!fr) {
        w->overflow = 1;
        socketio_waiter_wake(w);
        return;
    }
    fr->f.type = SIO_R_WS_SEND;
    fr->f.flags = (uint8_t)flags;
    fr->f.conn = w->conn;
    fr->f.len = (uint32_t)len;
    fr->f.body = (unsigned char *)fr + FRAME_HDR;
    if (len)
        memcpy((unsigned char *)fr + FRAME_HDR, body, len);
    queue_locked(w, fr);
}

static int type_from_siod(int type)
{
    return type == SIO_R_RESPONSE || type == SIO_R_WS_ACCEPT ||
           type == SIO_R_WS_SEND || type == SIO_R_WS_CLOSE ||
           type == SIO_R_WS_FANOUT || type == SIO_R_PEERS;
}

/* WS_FANOUT (its body decoded by shared/): the message goes to every
 * listed conn this link knows, once encoded for all the reactor's
 * WebSockets, copied for each thread-served one. The sink's end, which
 * delivers to the reactor's, runs after the link is unlocked. Returns
 * APR_SUCCESS, or APR_EGENERAL for a malformed body. */
static apr_status_t fanout(socketio_link *link, const sio_relay_frame *f)
{
    int flags = f->flags & (SIO_RF_BINARY | SIO_RF_VOLATILE);
    sio_relay_fanout fo;
    void *handle = NULL;
    apr_uint32_t i;

    if (sio_relay_fanout_decode(f->body, f->len, &fo) != SIO_OK)
        return APR_EGENERAL;
    apr_thread_mutex_lock(link->mutex);
    for (i = 0; i < fo.count; i++) {
        socketio_waiter *w = waiter_locked(link,
                                           sio_relay_fanout_conn(&fo, i));

        if (!w || w->failed)
            continue;
        if (w->owner) {
            if (!handle)
                handle = link->sink->fanout_begin(link->sink_ctx, flags,
                                                  fo.msg, fo.msg_len);
            if (handle)
                link->sink->fanout_add(handle, w->owner);
            else if (!(flags & SIO_RF_VOLATILE))
                link->sink->undelivered(w->owner);
        } else {
            enqueue_send_locked(link, w, flags, fo.msg, fo.msg_len);
        }
    }
    apr_thread_mutex_unlock(link->mutex);
    if (handle)
        link->sink->fanout_end(handle);
    return APR_SUCCESS;
}

/* A WS_CLOSE with SIO_RF_KEEP for w: siod hands its WebSocket over to
 * the next siod, so the drop of this link that follows must not fail it
 * (socketio_link_down skips held waiters). Only where our HELLO offered
 * the hand-over; held once. mutex held. */
static void hold_locked(socketio_link *link, socketio_waiter *w, int status)
{
    if (!link->handover || w->held || w->failed)
        return;
    w->held = 1;
    w->held_status = status;
    link->n_held++;
}

/* Hands one whole frame from siod (raw bytes, already checked by
 * sio_relay_parse) to whoever waits for it: a request thread's waiter
 * under the lock, a reactor's WebSocket through the sink with the link
 * unlocked. raw lies in the read buffer, or at FRAME_HDR in node, which
 * this consumes (after the sink's call). Returns APR_SUCCESS, or
 * APR_EGENERAL for a frame siod must not send. Reading thread only. */
static apr_status_t dispatch(socketio_link *link, const unsigned char *raw,
                             size_t rawlen, apr_memnode_t *node)
{
    sio_relay_frame f;
    socketio_waiter *w;
    apr_status_t rv = APR_SUCCESS;
    void *owner = NULL;
    size_t used;

    sio_relay_parse(raw, rawlen, SIO_RELAY_MAX_BODY, &used, &f);
    if (!type_from_siod(f.type)) {
        rv = APR_EGENERAL;
    } else if (f.type == SIO_R_WS_FANOUT) {
        rv = fanout(link, &f);
    } else if (f.type == SIO_R_PEERS) {
        rv = socketio_link_peers_update(link, &f);
    } else {
        apr_thread_mutex_lock(link->mutex);
        w = waiter_locked(link, f.conn);
        if (w && f.type == SIO_R_WS_CLOSE && (f.flags & SIO_RF_KEEP))
            hold_locked(link, w, f.status);
        if (w && w->owner) {
            if (!w->failed)
                owner = w->owner;
        } else if (node) {
            enqueue_locked(link, node, rawlen, &f);
            node = NULL;
        } else {
            deliver_copy_locked(link, raw, rawlen, &f);
        }
        apr_thread_mutex_unlock(link->mutex);
        /* Unlocked: the reactor may write to its client. Its waiter stays:
         * only the reactor, this thread, fails or frees a bound one. */
        if (owner)
            link->sink->frame(owner, &f);
    }
    if (node)
        apr_allocator_free(link->alloc, node);
    return rv;
}

/* Room for a big frame of which got bytes are in: twice that (at least
 * twice the read buffer), at most need. */
static size_t big_room(size_t got, size_t need)
{
    size_t want = got > LINK_READ_BUF ? got * 2 : LINK_READ_BUF * 2;

    return want < need ? want : need;
}

/* The big frame under way filled its node: moves it to one twice as big
 * (at most rs->need). Returns 0, or -1 out of memory. */
static int big_grow(socketio_link *link, link_rstate *rs)
{
    size_t cap = big_room(rs->got, rs->need);
    apr_memnode_t *bigger = frame_node(link, cap);

    if (!bigger)
        return -1;
    memcpy((unsigned char *)bigger->first_avail + FRAME_HDR, rs->big,
           rs->got);
    apr_allocator_free(link->alloc, rs->node);
    rs->node = bigger;
    rs->big = (unsigned char *)bigger->first_avail + FRAME_HDR;
    rs->cap = cap;
    return 0;
}

/* Forgets a partly read frame (new connection, or the reader stops). */
static void rstate_reset(socketio_link *link)
{
    if (link->rs.node)
        apr_allocator_free(link->alloc, link->rs.node);
    memset(&link->rs, 0, sizeof(link->rs));
}

/* Reads what fd has (at most budget recv calls) and dispatches every whole
 * frame. Returns APR_EAGAIN once the socket is drained, APR_SUCCESS when
 * the budget ran out first, or the failure (an APR status; APR_EGENERAL
 * for a protocol error) with a static description in *why. A recv that
 * got less than it asked for emptied the socket: that is taken as drained
 * without another recv to see EAGAIN (the caller's poll or level-triggered
 * epoll reports what came since). Reading thread only (the reader thread,
 * or the reactor). */
static apr_status_t link_pump(socketio_link *link, int fd, int budget,
                              const char **why)
{
    link_rstate *rs = &link->rs;
    unsigned char *buf = link->rbuf;
    size_t off, used;
    sio_relay_frame f;
    size_t want;
    ssize_t n;
    int rc, drained = 0;

    while (budget-- > 0) {
        if (drained)
            return APR_EAGAIN;
        if (rs->big && rs->got == rs->cap && big_grow(link, rs) != 0) {
            *why = "out of memory reading a frame from siod";
            return APR_ENOMEM;
        }
        if (rs->big) {
            want = rs->cap - rs->got;
            n = recv(fd, rs->big + rs->got, want, 0);
        } else if (rs->skip) {
            want = rs->skip < LINK_READ_BUF ? rs->skip : LINK_READ_BUF;
            n = recv(fd, buf, want, 0);
        } else {
            want = LINK_READ_BUF - rs->have;
            n = recv(fd, buf + rs->have, want, 0);
        }
        drained = n > 0 && (size_t)n < want;
        if (n == 0) {
            *why = "siod closed the relay link";
            return APR_EOF;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return APR_EAGAIN;
            *why = "reading the relay link failed";
            return errno;
        }

        if (rs->big) {
            rs->got += (size_t)n;
            if (rs->got == rs->need) {
                apr_memnode_t *node = rs->node;
                unsigned char *raw = rs->big;

                rs->node = NULL;
                rs->big = NULL;
                if (dispatch(link, raw, rs->need, node) != APR_SUCCESS) {
                    *why = "unexpected frame type from siod";
                    return APR_EGENERAL;
                }
            }
            continue;
        }
        if (rs->skip) {
            rs->skip -= (size_t)n;
            continue;
        }

        rs->have += (size_t)n;
        off = 0;
        for (;;) {
            rc = sio_relay_parse(buf + off, rs->have - off, SIO_RELAY_MAX_BODY,
                                 &used, &f);
            if (rc == SIO_OK) {
                if (dispatch(link, buf + off, used, NULL) != APR_SUCCESS) {
                    rc = SIO_EPROTO;
                    break;
                }
                off += used;
                continue;
            }
            if (rc == SIO_AGAIN &&
                sio_relay_parse_header(buf + off, rs->have - off,
                                       SIO_RELAY_MAX_BODY, &f) == SIO_OK) {
                /* Header valid, body incomplete: a frame that cannot fit
                 * the buffer is assembled in its own node, or skipped when
                 * nobody waits for it. */
                size_t total = SIO_RELAY_HDR_LEN + (size_t)f.len;
                int known;

                if (!type_from_siod(f.type)) {
                    rc = SIO_EPROTO;
                    break;
                }
                if (total <= LINK_READ_BUF)
                    break;
                if (f.type == SIO_R_WS_FANOUT) {
                    known = 1;
                } else {
                    socketio_waiter *w;

                    apr_thread_mutex_lock(link->mutex);
                    w = waiter_locked(link, f.conn);
                    known = w && ((w->owner && !w->failed) ||
                                  admit_locked(w, FRAME_HDR + total,
                                               frame_volatile(&f)));
                    apr_thread_mutex_unlock(link->mutex);
                }
                if (known)
                    rs->node = frame_node(link, big_room(rs->have - off,
                                                         total));
                if (rs->node) {
                    rs->big = (unsigned char *)rs->node->first_avail +
                              FRAME_HDR;
                    rs->need = total;
                    rs->got = rs->have - off;
                    rs->cap = big_room(rs->got, total);
                    memcpy(rs->big, buf + off, rs->got);
                } else {
                    rs->skip = total - (rs->have - off);
                }
                off = rs->have;
            }
            break;
        }
        if (rc < 0) {
            *why = rc == SIO_ETOOBIG ? "oversized frame from siod"
                                     : "malformed frame from siod";
            return APR_EGENERAL;
        }
        if (off > 0) {
            memmove(buf, buf + off, rs->have - off);
            rs->have -= off;
        }
    }
    return APR_SUCCESS;
}

/* Reads frames from fd until it fails (reader thread). Returns the reason
 * and a static description in *why. */
static apr_status_t reader_loop(socketio_link *link, int fd, const char **why)
{
    struct pollfd pfd;
    apr_status_t rv;

    rstate_reset(link);
    for (;;) {
        rv = link_pump(link, fd, 64, why);
        if (rv == APR_SUCCESS)
            continue;
        if (rv != APR_EAGAIN)
            break;
        pfd.fd = fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
            rv = errno;
            *why = "poll() on the relay link failed";
            break;
        }
    }
    rstate_reset(link);
    return rv;
}

/* The reader thread: waits while the link is down, reads while it is up,
 * until the child exits. */
void *APR_THREAD_FUNC socketio_link_reader_main(apr_thread_t *t,
                                                void *data)
{
    socketio_link *link = data;
    const char *why = NULL;
    apr_status_t rv;
    unsigned gen;
    int fd;

    for (;;) {
        apr_thread_mutex_lock(link->mutex);
        while (link->state == LINK_DOWN)
            apr_thread_cond_wait(link->cond, link->mutex);
        if (link->state == LINK_EXITED) {
            apr_thread_mutex_unlock(link->mutex);
            break;
        }
        fd = link->fd;
        gen = link->gen;
        apr_thread_mutex_unlock(link->mutex);

        rv = reader_loop(link, fd, &why);
        socketio_link_down(link, gen, rv == APR_EGENERAL ? APR_SUCCESS : rv,
                           why);
        if (link_exiting(link))
            break;
    }
    return NULL;
}

/* See the header. Only the reactor reads a link that has a sink, so fd
 * cannot be closed under it: only socketio_link_down, called here, closes
 * it. */
apr_status_t socketio_link_reactor_read(socketio_link *link, unsigned gen)
{
    const char *why = NULL;
    apr_status_t rv;
    int fd;

    if (link->rs_gen != gen) {
        rstate_reset(link);
        link->rs_gen = gen;
    }
    apr_thread_mutex_lock(link->mutex);
    fd = link_up(link) && link->gen == gen ? link->fd : -1;
    apr_thread_mutex_unlock(link->mutex);
    if (fd < 0)
        return APR_ECONNRESET;
    rv = link_pump(link, fd, 64, &why);
    if (rv == APR_SUCCESS || rv == APR_EAGAIN)
        return rv;
    rstate_reset(link);
    socketio_link_down(link, gen, rv == APR_EGENERAL ? APR_SUCCESS : rv, why);
    return rv == APR_EGENERAL ? APR_ECONNRESET : rv;
}

/* See the header. */
void socketio_frame_release(socketio_frame *f)
{
    if (f)
        socketio_frame_free(f);
}
