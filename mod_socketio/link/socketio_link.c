/* The per-child relay link: one Unix-socket connection to siod per daemon
 * socket path and httpd child, opened lazily, checked with HELLO and a
 * mutual proof of the relay secret (AUTH), re-opened after a failure, and
 * shared by every request and WebSocket thread of the child through
 * waiters (frame queue + eventfd) keyed by conn. This file holds the
 * link's life: connect/HELLO/AUTH, the outage flags in shared memory,
 * socketio_link_down, and the child's list of links.
 *
 * The link is four files sharing socketio_link_int.h (the structs, the
 * limits and the cross-file functions):
 * - socketio_link.c (this one): open, down, create, child init/stopping,
 *   the fd helpers (wait_fd, write_all). Starts the reader thread
 *   (socketio_link_reader_main) and frees the output queue on the way
 *   down (socketio_link_oq_free_locked); it calls nothing else there.
 * - socketio_link_read.c: the reader thread, frame reassembly, dispatch
 *   and WS_FANOUT; calls back here only for socketio_link_down and
 *   socketio_waiter_wake.
 * - socketio_link_waiter.c: the waiter registry and the threads' own
 *   writes; calls here (ensure_open, ms_left, write_all, wake,
 *   socketio_link_child_is_stopping) and into the queue (frame_parts,
 *   oq_send, oq_notify).
 * - socketio_link_oq.c: the reactor's output queue and its sink calls,
 *   and the frame building both writers share
 *   (socketio_waiter_frame_parts); calls here (wait_fd,
 *   socketio_link_down) and no other link file.
 * So two pairs call each other, both through the link's life: this file
 * starts the reader thread and empties the queue when the link goes
 * down, and the reader and the queue take the link down through
 * socketio_link_down. Nothing here calls the waiter file.
 *
 * Who reads: a reader thread per link, except under mpm_event, where the
 * child's reactor (socketio_reactor.c) registers a sink and reads every
 * link itself (socketio_link_reactor_read): frames for waiters bound to
 * it (its WebSockets) go straight to the sink's callbacks, frames for
 * request threads are queued for them as usual. Both readers share
 * link_pump, which never blocks. WS_FANOUT is split there: one call per
 * bound recipient on a message encoded once, a copy per thread waiter.
 *
 * Threads and memory (APR pools are not thread-safe, so who allocates where
 * is fixed):
 * - link->pool (a subpool of pchild) is allocated from in child_init and
 *   afterwards only with link->mutex held (the waiter hash grows there, the
 *   reader thread is created there). Its pre-cleanup stops the reader.
 * - Frames from siod are copied by the reading thread into memory nodes of
 *   link->alloc, an apr_allocator with its own mutex, so any thread may
 *   allocate or free them; the consumer frees each with
 *   socketio_frame_release. A waiter's queued bytes are bounded.
 * - A waiter is allocated from its owner's pool (r->pool or a WebSocket's
 *   pool) by the owning thread; the reader thread only touches its queue,
 *   flags and wake fd with link->mutex held, and a cleanup on the owner's
 *   pool unregisters it (under the mutex) before that memory goes away.
 * - The reader and socket fds are raw descriptors closed by cleanups.
 * Locks, always taken in this order: open_mutex (one connect at a time),
 * write_mutex (whole frames, guards the fd for writing), mutex (state,
 * waiters, queues). fd/up/gen change only with write_mutex and mutex held.
 *
 * Writing: request and WebSocket threads write their frames themselves,
 * blocking under write_mutex up to LINK_WRITE_TIMEOUT_MS. The reactor never
 * waits on siod: it appends whole frames to the link's output queue (oq_*,
 * chunks of link->alloc, guarded by mutex) and sends from it without
 * blocking when it gets write_mutex with trylock (socketio_link_reactor_
 * flush, again when the socket is writable). The queue's memory is
 * bounded (SocketIORelayQueue): the reactor asks for room before it takes
 * a client's message and stops reading that client when there is none
 * (socketio_waiter_reactor_room). A thread that takes write_mutex first
 * sends every byte queued before it (so frames never interleave on the
 * stream), then its own frame, and after letting go of the lock tells the
 * reactor (sink->output) if queued bytes or paused clients are left.
 * socketio_link_down shuts the socket down before it takes write_mutex, so a
 * writer blocked on siod lets go at once.
 */
#include "socketio_link_int.h"

APLOG_USE_MODULE(socketio);
/* Outage flags shared by all children (anonymous shm from post_config),
 * one per daemon socket path; and this child's links. */
static apr_shm_t *outage_shm;
static apr_hash_t *outage_slots;   /* path -> int index, in pconf */
static apr_array_header_t *child_links;
static volatile int child_stopping_mode;

/* Returns OK; without shared memory each child logs its own outages. */
int socketio_link_post_config(apr_pool_t *pconf, server_rec *s)
{
    apr_hash_t *slots = apr_hash_make(pconf);
    server_rec *v;
    int n = 0;
    apr_status_t rv;

    for (v = s; v; v = v->next) {
        socketio_server_conf *sc = socketio_config_server(v);
        int *idx;

        if (!sc->daemon_socket ||
            apr_hash_get(slots, sc->daemon_socket, APR_HASH_KEY_STRING))
            continue;
        idx = apr_palloc(pconf, sizeof(*idx));
        *idx = n++;
        apr_hash_set(slots, sc->daemon_socket, APR_HASH_KEY_STRING, idx);
    }
    outage_shm = NULL;
    outage_slots = slots;
    rv = apr_shm_create(&outage_shm, sizeof(apr_uint32_t) * (n ? n : 1),
                        NULL, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                     "mod_socketio: no shared memory for outage flags; each "
                     "child will log siod outages itself");
        outage_shm = NULL;
    } else {
        memset(apr_shm_baseaddr_get(outage_shm), 0,
               sizeof(apr_uint32_t) * (n ? n : 1));
    }
    return OK;
}

/* Logs the start of an outage once (across children when shm exists). */
static void note_outage(socketio_link *link, apr_status_t rv,
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

static void note_connected(socketio_link *link)
{
    if (apr_atomic_xchg32(link->outage, 0) == 1) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, link->s,
                     "mod_socketio: Socket.IO daemon at %s is back",
                     link->path);
    } else {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, link->s,
                     "mod_socketio: relay link to %s open (pid %" APR_PID_T_FMT
                     ")", link->path, getpid());
    }
}

int socketio_link_ms_left(apr_time_t deadline)
{
    apr_time_t left = deadline - apr_time_now();

    if (left <= 0)
        return 0;
    return (int)((left + 999) / 1000);
}

/* Waits for events on fd until deadline. Returns APR_SUCCESS, APR_TIMEUP or
 * an errno status. */
apr_status_t socketio_link_wait_fd(int fd, short events,
                                   apr_time_t deadline)
{
    struct pollfd pfd;
    int ms, n;

    for (;;) {
        ms = socketio_link_ms_left(deadline);
        if (ms == 0)
            return APR_TIMEUP;
        pfd.fd = fd;
        pfd.events = events;
        pfd.revents = 0;
        n = poll(&pfd, 1, ms);
        if (n > 0)
            return APR_SUCCESS;
        if (n == 0)
            return APR_TIMEUP;
        if (errno != EINTR)
            return errno;
    }
}

/* Writes all of iov (modified) to the non-blocking fd before deadline.
 * Returns APR_SUCCESS, APR_TIMEUP or an errno status. */
apr_status_t socketio_link_write_all(int fd, struct iovec *iov, int iovcnt,
                                     apr_time_t deadline)
{
    struct msghdr msg;
    ssize_t n;
    apr_status_t rv;

    while (iovcnt > 0) {
        if (iov->iov_len == 0) {
            iov++;
            iovcnt--;
            continue;
        }
        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = iov;
        msg.msg_iovlen = (size_t)iovcnt;
        n = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return errno;
            rv = socketio_link_wait_fd(fd, POLLOUT, deadline);
            if (rv != APR_SUCCESS)
                return rv;
            continue;
        }
        while (n > 0 && iovcnt > 0) {
            if ((size_t)n >= iov->iov_len) {
                n -= (ssize_t)iov->iov_len;
                iov++;
                iovcnt--;
            } else {
                iov->iov_base = (char *)iov->iov_base + n;
                iov->iov_len -= (size_t)n;
                n = 0;
            }
        }
    }
    return APR_SUCCESS;
}

/* Reads exactly len bytes before deadline. Returns APR_SUCCESS, APR_EOF,
 * APR_TIMEUP or an errno status. */
static apr_status_t read_exact(int fd, unsigned char *buf, size_t len,
                               apr_time_t deadline)
{
    ssize_t n;
    apr_status_t rv;

    while (len > 0) {
        n = recv(fd, buf, len, 0);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n == 0)
            return APR_EOF;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return errno;
        if ((rv = socketio_link_wait_fd(fd, POLLIN, deadline)) != APR_SUCCESS)
            return rv;
    }
    return APR_SUCCESS;
}

/* Reads one handshake frame of type want whose body is min_len to
 * max_len bytes into buf (header included) before deadline, and nothing
 * after it. Returns APR_SUCCESS with *f parsed, or an error with *why. */
static apr_status_t read_handshake_frame(int fd, unsigned char *buf,
                                         int want, size_t min_len,
                                         size_t max_len, apr_time_t deadline,
                                         sio_relay_frame *f, const char **why)
{
    size_t blen, used;
    apr_status_t rv;

    if ((rv = read_exact(fd, buf, SIO_RELAY_HDR_LEN, deadline))
        != APR_SUCCESS) {
        *why = rv == APR_EOF ? (want == SIO_R_HELLO
                                    ? "siod closed the link before HELLO "
                                      "(refused?)"
                                    : "siod closed the link during the "
                                      "handshake (refused?)")
                             : "no handshake answer from siod";
        return rv;
    }
    blen = get32(buf);
    if (buf[4] != want || blen < min_len || blen > max_len) {
        *why = want == SIO_R_HELLO ? "siod's first frame is not a HELLO"
                                   : "siod's second frame is not an AUTH";
        return APR_EGENERAL;
    }
    if ((rv = read_exact(fd, buf + SIO_RELAY_HDR_LEN, blen, deadline))
        != APR_SUCCESS) {
        *why = "truncated handshake frame from siod";
        return rv;
    }
    if (sio_relay_parse(buf, SIO_RELAY_HDR_LEN + blen, max_len, &used, f)
        != SIO_OK) {
        *why = "malformed handshake frame from siod";
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

/* Connects to siod and runs the handshake: HELLO each way (each with a
 * fresh nonce), siod's proof of the relay secret, checked here, then ours.
 * Checking siod's first means the secret never serves a process that only
 * poses as siod. Returns APR_SUCCESS with *fdp (a non-blocking socket the
 * caller owns), *peer_max and *peer_caps, or an error with a short reason
 * in *why. */
static apr_status_t connect_hello(socketio_link *link, int *fdp,
                                  apr_size_t *peer_max, unsigned *peer_caps,
                                  const char **why, char *whybuf,
                                  apr_size_t whylen)
{
    struct sockaddr_un sun;
    unsigned char out[SIO_RELAY_HDR_LEN + SIO_RELAY_HELLO_LEN];
    unsigned char in[SIO_RELAY_HDR_LEN + SIO_RELAY_HELLO_LEN];
    unsigned char nonce[SIO_RELAY_NONCE_LEN];      /* ours */
    unsigned char peer_nonce[SIO_RELAY_NONCE_LEN]; /* siod's */
    unsigned char proof[SIO_RELAY_PROOF_LEN];
    apr_time_t deadline = apr_time_now() +
                          apr_time_from_msec(LINK_OPEN_TIMEOUT_MS);
    sio_relay_frame f;
    sio_relay_hello h;
    struct iovec iov;
    socklen_t elen;
    int fd, err;
    apr_status_t rv;

    if (!link->secret) {
        *why = "no relay secret (SocketIODaemonSecret could not be read at "
               "startup; see the error log then)";
        return APR_EGENERAL;
    }
    if ((rv = apr_generate_random_bytes(nonce, sizeof(nonce)))
        != APR_SUCCESS) {
        *why = "no random bytes for the handshake";
        return rv;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *why = "socket() failed";
        return errno;
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    apr_cpystrn(sun.sun_path, link->path, sizeof(sun.sun_path));
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        if (errno != EINPROGRESS && errno != EAGAIN && errno != EINTR) {
            rv = errno;
            *why = "connect() failed";
            goto fail;
        }
        rv = socketio_link_wait_fd(fd, POLLOUT, deadline);
        if (rv != APR_SUCCESS) {
            *why = "connect() timed out";
            goto fail;
        }
        elen = sizeof(err);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err) {
            rv = err ? err : errno;
            *why = "connect() failed";
            goto fail;
        }
    }

    memset(&f, 0, sizeof(f));
    f.type = SIO_R_HELLO;
    f.len = SIO_RELAY_HELLO_LEN;
    sio_relay_write_header(out, &f);
    memset(&h, 0, sizeof(h));
    h.magic = SIO_RELAY_MAGIC;
    h.version = SIO_RELAY_VERSION;
    h.pid = (uint32_t)getpid();
    h.max_body = SIO_RELAY_MAX_BODY;
    /* The module delivers WS_FANOUT on both the reactor and thread paths. */
    h.caps = SIO_RELAY_CAP_FANOUT;
    memcpy(h.nonce, nonce, sizeof(nonce));
    sio_relay_hello_encode(out + SIO_RELAY_HDR_LEN, &h);
    iov.iov_base = out;
    iov.iov_len = sizeof(out);
    if ((rv = socketio_link_write_all(fd, &iov, 1, deadline)) != APR_SUCCESS) {
        *why = "sending HELLO failed";
        goto fail;
    }

    /* Read exactly the two frames so nothing after them is consumed. A
     * version 1 siod's shorter HELLO still decodes, to name its version. */
    if ((rv = read_handshake_frame(fd, in, SIO_R_HELLO,
                                   SIO_RELAY_HELLO_V1_LEN,
                                   SIO_RELAY_HELLO_LEN, deadline, &f, why))
        != APR_SUCCESS)
        goto fail;
    if (sio_relay_hello_decode(f.body, f.len, &h) != SIO_OK) {
        rv = APR_EGENERAL;
        *why = "malformed HELLO from siod";
        goto fail;
    }
    if (h.version != SIO_RELAY_VERSION) {
        rv = APR_EGENERAL;
        apr_snprintf(whybuf, whylen, "siod speaks relay protocol version "
                     "%u, this module %u", (unsigned)h.version,
                     (unsigned)SIO_RELAY_VERSION);
        *why = whybuf;
        goto fail;
    }
    *peer_max = h.max_body && h.max_body < SIO_RELAY_MAX_BODY
                    ? h.max_body : SIO_RELAY_MAX_BODY;
    *peer_caps = h.caps;
    memcpy(peer_nonce, h.nonce, sizeof(peer_nonce));

    if ((rv = read_handshake_frame(fd, in, SIO_R_AUTH, SIO_RELAY_PROOF_LEN,
                                   SIO_RELAY_PROOF_LEN, deadline, &f, why))
        != APR_SUCCESS)
        goto fail;
    sio_relay_proof(link->secret->key, link->secret->len, SIO_RELAY_ROLE_SIOD,
                    nonce, peer_nonce, proof);
    if (!sio_relay_proof_ok(f.body, proof)) {
        rv = APR_EGENERAL;
        apr_snprintf(whybuf, whylen, "siod does not prove the relay secret "
                     "in %s (siod -k names another file, or it changed "
                     "since httpd started: restart httpd)",
                     link->secret->path);
        *why = whybuf;
        /* A configuration error, not an outage: said even while an
         * outage is already logged, once a minute per child. */
        if (apr_time_now() - link->proof_logged_at >= LINK_PROOF_LOG_EVERY) {
            link->proof_logged_at = apr_time_now();
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, link->s,
                         "mod_socketio: relay link to %s refused: %s",
                         link->path, whybuf);
        }
        goto fail;
    }

    sio_relay_proof(link->secret->key, link->secret->len,
                    SIO_RELAY_ROLE_MODULE, nonce, peer_nonce, proof);
    memset(&f, 0, sizeof(f));
    f.type = SIO_R_AUTH;
    f.len = SIO_RELAY_PROOF_LEN;
    sio_relay_write_header(in, &f);
    memcpy(in + SIO_RELAY_HDR_LEN, proof, sizeof(proof));
    iov.iov_base = in;
    iov.iov_len = SIO_RELAY_HDR_LEN + SIO_RELAY_PROOF_LEN;
    if ((rv = socketio_link_write_all(fd, &iov, 1, deadline)) != APR_SUCCESS) {
        *why = "sending AUTH failed";
        goto fail;
    }
    memset(proof, 0, sizeof(proof));
    *fdp = fd;
    return APR_SUCCESS;

fail:
    memset(proof, 0, sizeof(proof));
    close(fd);
    return rv;
}

void *APR_THREAD_FUNC socketio_link_reader_main(apr_thread_t *t, void *data);

/* Starts the reader thread (link->mutex held). Signals are blocked in it
 * so the MPM's handlers (prefork's SIGTERM/graceful) never run there. */
static apr_status_t start_reader_locked(socketio_link *link)
{
    sigset_t all, old;
    apr_status_t rv;

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rv = apr_thread_create(&link->reader, NULL, socketio_link_reader_main,
                           link,
                           link->pool);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rv != APR_SUCCESS)
        link->reader = NULL;
    return rv;
}

/* Opens the link if it is down. Returns APR_SUCCESS when it is up. */
apr_status_t socketio_link_ensure_open(socketio_link *link)
{
    apr_status_t rv = APR_SUCCESS;
    apr_size_t peer_max = 0;
    unsigned peer_caps = 0;
    const char *why = NULL;
    char whybuf[96];
    apr_time_t start;
    int fd = -1, up;

    apr_thread_mutex_lock(link->mutex);
    up = link->up;
    apr_thread_mutex_unlock(link->mutex);
    if (up)
        return APR_SUCCESS;

    apr_thread_mutex_lock(link->open_mutex);
    apr_thread_mutex_lock(link->mutex);
    up = link->up;
    if (link->exiting)
        rv = APR_EOF;
    apr_thread_mutex_unlock(link->mutex);
    if (up || rv != APR_SUCCESS)
        goto out;

    start = apr_time_now();
    if (start - link->slow_fail_at < LINK_OPEN_HOLDOFF) {
        rv = link->slow_fail_rv;
        goto out;
    }
    rv = connect_hello(link, &fd, &peer_max, &peer_caps, &why, whybuf,
                       sizeof(whybuf));
    if (rv != APR_SUCCESS) {
        if (apr_time_now() - start >= LINK_OPEN_SLOW) {
            link->slow_fail_at = apr_time_now();
            link->slow_fail_rv = rv;
        }
        note_outage(link, rv, why);
        goto out;
    }
    link->slow_fail_at = 0;
    apr_thread_mutex_lock(link->write_mutex);
    apr_thread_mutex_lock(link->mutex);
    if (!link->sink && !link->reader &&
        (rv = start_reader_locked(link)) != APR_SUCCESS) {
        apr_thread_mutex_unlock(link->mutex);
        apr_thread_mutex_unlock(link->write_mutex);
        close(fd);
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, link->s,
                     "mod_socketio: cannot start the relay reader thread");
        goto out;
    }
    link->fd = fd;
    link->peer_max_body = peer_max;
    link->peer_caps = peer_caps;
    link->gen++;
    link->up = 1;
    apr_thread_cond_signal(link->cond);
    apr_thread_mutex_unlock(link->mutex);
    apr_thread_mutex_unlock(link->write_mutex);
    note_connected(link);
    if (link->sink)
        link->sink->link_up(link->sink_ctx);
out:
    apr_thread_mutex_unlock(link->open_mutex);
    return rv;
}

void socketio_waiter_wake(socketio_waiter *w)
{
    uint64_t one = 1;
    ssize_t n;

    if (w->wakefd < 0)
        return;
    do {
        n = write(w->wakefd, &one, sizeof(one));
    } while (n < 0 && errno == EINTR);
}

/* Takes the link down if it is still generation gen: fails every waiter
 * registered on it (a waiter bound to the reactor through the sink) and
 * closes the socket (reader thread or reactor). */
void socketio_link_down(socketio_link *link, unsigned gen, apr_status_t rv,
                        const char *why)
{
    apr_hash_index_t *hi;
    int fd = -1, was_up = 0;

    /* A thread blocked writing to siod holds write_mutex: its write fails
     * at once on a shut socket, so the reactor never waits here for a
     * write deadline. */
    apr_thread_mutex_lock(link->mutex);
    if (link->up && link->gen == gen)
        shutdown(link->fd, SHUT_RDWR);
    apr_thread_mutex_unlock(link->mutex);
    apr_thread_mutex_lock(link->write_mutex);
    apr_thread_mutex_lock(link->mutex);
    if (link->up && link->gen == gen) {
        was_up = 1;
        fd = link->fd;
        link->fd = -1;
        link->up = 0;
        socketio_link_oq_free_locked(link);
        for (hi = apr_hash_first(NULL, link->waiters); hi;
             hi = apr_hash_next(hi)) {
            socketio_waiter *w = apr_hash_this_val(hi);

            if (w->gen != gen || w->failed)
                continue;
            w->failed = 1;
            if (w->owner)
                link->sink->failed(w->owner);
            else
                socketio_waiter_wake(w);
        }
    }
    apr_thread_mutex_unlock(link->mutex);
    apr_thread_mutex_unlock(link->write_mutex);
    if (fd >= 0)
        close(fd);
    if (was_up && !link->exiting)
        note_outage(link, rv, why);
}

/* Pre-cleanup of a link's pool: wakes and joins the reader, closes the
 * socket. Runs at child exit, after the MPM has joined its workers. */
static apr_status_t link_cleanup(void *data)
{
    socketio_link *link = data;
    apr_status_t trv;

    apr_thread_mutex_lock(link->mutex);
    link->exiting = 1;
    if (link->fd >= 0)
        shutdown(link->fd, SHUT_RDWR);
    apr_thread_cond_broadcast(link->cond);
    apr_thread_mutex_unlock(link->mutex);
    if (link->reader) {
        apr_thread_join(&trv, link->reader);
        link->reader = NULL;
    }
    if (link->fd >= 0) {
        close(link->fd);
        link->fd = -1;
    }
    socketio_link_oq_free_locked(link);
    return APR_SUCCESS;
}

static apr_status_t alloc_cleanup(void *data)
{
    apr_allocator_destroy(data);
    return APR_SUCCESS;
}

static socketio_link *link_create(apr_pool_t *pchild, server_rec *s,
                                  const char *path)
{
    socketio_link *link;
    apr_thread_mutex_t *amutex;
    apr_pool_t *p;
    int *idx;

    if (apr_pool_create(&p, pchild) != APR_SUCCESS)
        return NULL;
    apr_pool_tag(p, "socketio_link");
    link = apr_pcalloc(p, sizeof(*link));
    link->pool = p;
    link->s = s;
    link->path = apr_pstrdup(p, path);
    link->fd = -1;
    link->rbuf = apr_palloc(p, LINK_READ_BUF);
    link->waiters = apr_hash_make(p);
    link->outage = &link->local_outage;
    link->oq_limit = socketio_config_relay_queue(socketio_config_server(s));
    idx = outage_slots ? apr_hash_get(outage_slots, path, APR_HASH_KEY_STRING)
                       : NULL;
    if (outage_shm && idx)
        link->outage = (apr_uint32_t *)apr_shm_baseaddr_get(outage_shm) + *idx;
    if (apr_thread_mutex_create(&link->open_mutex, APR_THREAD_MUTEX_DEFAULT, p)
        || apr_thread_mutex_create(&link->write_mutex,
                                   APR_THREAD_MUTEX_DEFAULT, p)
        || apr_thread_mutex_create(&link->mutex, APR_THREAD_MUTEX_DEFAULT, p)
        || apr_thread_mutex_create(&amutex, APR_THREAD_MUTEX_DEFAULT, p)
        || apr_thread_cond_create(&link->cond, p)
        || apr_allocator_create(&link->alloc) != APR_SUCCESS) {
        apr_pool_destroy(p);
        return NULL;
    }
    apr_allocator_mutex_set(link->alloc, amutex);
    apr_allocator_max_free_set(link->alloc, LINK_ALLOC_MAX_FREE);
    /* Registered before the link cleanup so it runs after it (LIFO). */
    apr_pool_cleanup_register(p, link->alloc, alloc_cleanup,
                              apr_pool_cleanup_null);
    apr_pool_pre_cleanup_register(p, link, link_cleanup);
    return link;
}

/* See the header. Links are keyed by socket path. */
void socketio_link_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_hash_t *by_path = apr_hash_make(pchild);
    server_rec *v;

    child_stopping_mode = 0;
    child_links = apr_array_make(pchild, 2, sizeof(socketio_link *));
    for (v = s; v; v = v->next) {
        socketio_server_conf *sc = socketio_config_server(v);
        socketio_link *link;

        if (!sc->daemon_socket)
            continue;
        link = apr_hash_get(by_path, sc->daemon_socket, APR_HASH_KEY_STRING);
        if (!link) {
            link = link_create(pchild, s, sc->daemon_socket);
            if (!link) {
                ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                             "mod_socketio: cannot set up the relay link "
                             "for %s", sc->daemon_socket);
                continue;
            }
            /* The secret of the first server naming this socket. */
            link->secret = sc->secret;
            apr_hash_set(by_path, link->path, APR_HASH_KEY_STRING, link);
            APR_ARRAY_PUSH(child_links, socketio_link *) = link;
        }
        sc->link = link;
    }
}

/* See the header. Runs on an MPM thread; wakes everyone. */
void socketio_link_child_stopping(apr_pool_t *pchild, int graceful)
{
    apr_hash_index_t *hi;
    int i;

    child_stopping_mode = graceful ? 1 : 2;
    if (!child_links)
        return;
    for (i = 0; i < child_links->nelts; i++) {
        socketio_link *link = APR_ARRAY_IDX(child_links, i, socketio_link *);

        apr_thread_mutex_lock(link->mutex);
        for (hi = apr_hash_first(NULL, link->waiters); hi;
             hi = apr_hash_next(hi))
            socketio_waiter_wake(apr_hash_this_val(hi));
        apr_thread_mutex_unlock(link->mutex);
    }
}

/* See the header. */
int socketio_link_child_is_stopping(void)
{
    int state = 0;

    if (child_stopping_mode)
        return 1;
    if (ap_mpm_query(AP_MPMQ_MPM_STATE, &state) == APR_SUCCESS &&
        state == AP_MPMQ_STOPPING)
        return 1;
    return 0;
}

/* See the header. */
void socketio_link_set_sink(const socketio_link_sink *sink, void *ctx)
{
    int i;

    for (i = 0; child_links && i < child_links->nelts; i++) {
        socketio_link *link = APR_ARRAY_IDX(child_links, i, socketio_link *);

        link->sink = sink;
        link->sink_ctx = ctx;
    }
}

/* See the header. */
int socketio_link_count(void)
{
    return child_links ? child_links->nelts : 0;
}

/* See the header. */
socketio_link *socketio_link_at(int i)
{
    return APR_ARRAY_IDX(child_links, i, socketio_link *);
}
