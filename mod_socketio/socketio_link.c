/* The per-child relay link: one Unix-socket connection to siod per daemon
 * socket path and httpd child, opened lazily, checked with HELLO and a
 * mutual proof of the relay secret (AUTH), re-opened after a failure, and shared by every request and WebSocket thread of the
 * child through waiters (frame queue + eventfd) keyed by conn.
 *
 * Who reads: a reader thread per link, except under mpm_event, where the
 * child's reactor (socketio_reactor.c) registers a sink and reads every
 * link itself (socketio_link_reactor_read): frames for waiters bound to
 * it (its WebSockets) go straight to the sink's callbacks, frames for
 * request threads are queued for them as usual. Both readers share
 * link_pump, which never blocks. WS_FANOUT is split here: one call per
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
 * link_down shuts the socket down before it takes write_mutex, so a
 * writer blocked on siod lets go at once.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_mpm.h"
#include "apr_atomic.h"
#include "apr_hash.h"
#include "apr_shm.h"
#include "apr_strings.h"
#include "apr_thread_cond.h"
#include "apr_thread_mutex.h"
#include "apr_thread_proc.h"
#include "mpm_common.h"

#include "sio_relay.h"
#include "socketio_config.h"
#include "socketio_link.h"
#include "socketio_secret.h"

APLOG_USE_MODULE(socketio);

/* Bound on connect + HELLO, and on writing one frame to siod. */
#define LINK_OPEN_TIMEOUT_MS 3000
/* After an open attempt that failed slowly (siod hung), others fail at
 * once for this long instead of queueing behind new attempts. */
#define LINK_OPEN_HOLDOFF apr_time_from_msec(1000)
#define LINK_OPEN_SLOW apr_time_from_msec(100)
#define LINK_WRITE_TIMEOUT_MS 10000
/* At most one "siod does not prove the secret" error per child this often. */
#define LINK_PROOF_LOG_EVERY apr_time_from_sec(60)
#define LINK_READ_BUF (64 * 1024)
/* Memory the frame allocator keeps for reuse. */
#define LINK_ALLOC_MAX_FREE (4 * 1024 * 1024)
#define SEND_MAX_PARTS 4
/* The reactor's output queue is made of chunks that are whole 64 KiB
 * allocator nodes, recycled by the link's allocator (no allocation per
 * message, never a size malloc would map), sent up to OQ_IOV at once. */
#define OQ_NODE (64 * 1024)
#define OQ_DATA (OQ_NODE - APR_MEMNODE_T_SIZE)
#define OQ_IOV 32
/* Control frames (WS_CLOSED) may go this far past SocketIORelayQueue. */
#define OQ_CONTROL_RESERVE (1024 * 1024)
/* At most one "input paused" warning per link this often. */
#define OQ_LOG_EVERY apr_time_from_sec(10)

/* Reading state: a partial frame in rbuf, or a big one assembled in node,
 * or the bytes of an unwanted big one still to skip. A big frame's node
 * has room for cap bytes: it grows as the bytes arrive (doubling), never
 * straight to the length the header declares. Reading thread only. */
typedef struct link_rstate {
    size_t have, skip;
    apr_memnode_t *node;
    unsigned char *big;
    size_t need, got, cap;
} link_rstate;

struct socketio_link {
    apr_pool_t *pool;
    server_rec *s;
    const char *path;
    const socketio_secret *secret; /* NULL: unusable, never opened */
    apr_time_t proof_logged_at;    /* open_mutex: last wrong-proof error */
    apr_thread_mutex_t *open_mutex;
    apr_thread_mutex_t *write_mutex;
    apr_thread_mutex_t *mutex;
    apr_thread_cond_t *cond;       /* reader waits here while down */
    apr_thread_t *reader;
    apr_allocator_t *alloc;        /* frames; thread-safe */
    apr_hash_t *waiters;           /* &conn -> socketio_waiter */
    int fd;                        /* -1 while down */
    int up;
    int exiting;
    unsigned gen;                  /* bumped per successful open */
    apr_uint64_t next_conn;
    apr_size_t peer_max_body;
    unsigned peer_caps;            /* SIO_RELAY_CAP_* of siod's HELLO */
    apr_time_t slow_fail_at;       /* open_mutex: last slow failed open */
    apr_status_t slow_fail_rv;
    volatile apr_uint32_t *outage; /* 1 while an outage is logged */
    volatile apr_uint32_t local_outage;
    unsigned char *rbuf;           /* reading thread only */
    link_rstate rs;                /* reading thread only */
    unsigned rs_gen;               /* the generation rs belongs to */
    unsigned wfail_gen;            /* write_mutex: write failure logged */
    const socketio_link_sink *sink;/* set: the reactor reads the link */
    void *sink_ctx;
    /* The reactor's output queue (mutex; sent from under write_mutex):
     * chunks linked by node->next, each written up to first_avail. */
    apr_memnode_t *oq_head, *oq_tail;
    char *oq_rd;                   /* first unsent byte in oq_head */
    apr_size_t oq_len;             /* unsent bytes */
    apr_size_t oq_held;            /* memory of the chunks */
    apr_size_t oq_limit;           /* SocketIORelayQueue */
    int oq_paused;                 /* a client waits for room */
    apr_time_t oq_logged_at;       /* reactor: last "input paused" line */
    unsigned oq_unlogged;          /* reactor: pauses since that line */
};

struct socketio_waiter {
    socketio_link *link;
    apr_pool_t *pool;
    void *owner;                   /* bound to the reactor: its record */
    apr_uint64_t conn;
    unsigned gen;
    unsigned peer_caps;            /* siod's, on the link of gen */
    int wakefd;
    int registered;
    int failed;                    /* link dropped */
    int overflow;
    apr_size_t vol_dropped;        /* volatile WS_SENDs it had no room for */
    apr_size_t queued, max_queued; /* memory the queued frames hold */
    unsigned frames;               /* frames queued */
    socketio_frame *head, *tail;
    struct socketio_frame_chunk *open; /* where small frames go next */
};

/* A waiter's queue (a thread-served WebSocket's, or a request's) is
 * bounded by the memory its frames hold (max_queued) and by a frame
 * count. A frame of up to CHUNK_PACK_MAX bytes (record included) is packed
 * with the waiter's next ones into a shared chunk of CHUNK_SIZE and counted
 * at the bytes it takes there; a bigger one has a node of its own, counted
 * at the node's full size. Besides what is counted, a waiter holds at most
 * the unused end of its open chunk and the taken start of its oldest one:
 * two chunks. */
#define WAITER_MAX_FRAMES 4096
#define CHUNK_SIZE (16 * 1024)
#define CHUNK_PACK_MAX (4 * 1024)

/* A node shared by small frames: freed when its last frame is released
 * and its waiter appends no more to it (refs: frames in it, +1 while it is
 * the waiter's open chunk). Released on any thread. */
typedef struct socketio_frame_chunk {
    apr_memnode_t *node;
    apr_allocator_t *alloc;
    volatile apr_uint32_t refs;
} frame_chunk;

/* Outage flags shared by all children (anonymous shm from post_config),
 * one per daemon socket path; and this child's links. */
static apr_shm_t *outage_shm;
static apr_hash_t *outage_slots;   /* path -> int index, in pconf */
static apr_array_header_t *child_links;
static volatile int child_stopping_mode;

static apr_uint32_t get32(const unsigned char *p)
{
    return (apr_uint32_t)p[0] << 24 | (apr_uint32_t)p[1] << 16 |
           (apr_uint32_t)p[2] << 8 | p[3];
}

static apr_uint64_t get64(const unsigned char *p)
{
    return (apr_uint64_t)get32(p) << 32 | get32(p + 4);
}

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

static int ms_left(apr_time_t deadline)
{
    apr_time_t left = deadline - apr_time_now();

    if (left <= 0)
        return 0;
    return (int)((left + 999) / 1000);
}

/* Waits for events on fd until deadline. Returns APR_SUCCESS, APR_TIMEUP or
 * an errno status. */
static apr_status_t wait_fd(int fd, short events, apr_time_t deadline)
{
    struct pollfd pfd;
    int ms, n;

    for (;;) {
        ms = ms_left(deadline);
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
static apr_status_t write_all(int fd, struct iovec *iov, int iovcnt,
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
            if ((rv = wait_fd(fd, POLLOUT, deadline)) != APR_SUCCESS)
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

/* ---- the reactor's output queue ----------------------------------- */

static apr_size_t oq_node_size(const apr_memnode_t *n)
{
    return (apr_size_t)(n->endp - (const char *)n);
}

/* Frees the whole queue. mutex held (or no other thread left). */
static void oq_free_locked(socketio_link *link)
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
static apr_status_t oq_send(socketio_link *link, int fd, apr_size_t max,
                            apr_time_t deadline)
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
            if ((rv = wait_fd(fd, POLLOUT, deadline)) != APR_SUCCESS)
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
static void oq_notify(socketio_link *link)
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
        if ((rv = wait_fd(fd, POLLIN, deadline)) != APR_SUCCESS)
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
        if ((rv = wait_fd(fd, POLLOUT, deadline)) != APR_SUCCESS) {
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
    if ((rv = write_all(fd, &iov, 1, deadline)) != APR_SUCCESS) {
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
    if ((rv = write_all(fd, &iov, 1, deadline)) != APR_SUCCESS) {
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

static void *APR_THREAD_FUNC reader_main(apr_thread_t *t, void *data);

/* Starts the reader thread (link->mutex held). Signals are blocked in it
 * so the MPM's handlers (prefork's SIGTERM/graceful) never run there. */
static apr_status_t start_reader_locked(socketio_link *link)
{
    sigset_t all, old;
    apr_status_t rv;

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rv = apr_thread_create(&link->reader, NULL, reader_main, link,
                           link->pool);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rv != APR_SUCCESS)
        link->reader = NULL;
    return rv;
}

/* Opens the link if it is down. Returns APR_SUCCESS when it is up. */
static apr_status_t ensure_open(socketio_link *link)
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

static void wake(socketio_waiter *w)
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
static void link_down(socketio_link *link, unsigned gen, apr_status_t rv,
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
        oq_free_locked(link);
        for (hi = apr_hash_first(NULL, link->waiters); hi;
             hi = apr_hash_next(hi)) {
            socketio_waiter *w = apr_hash_this_val(hi);

            if (w->gen != gen || w->failed)
                continue;
            w->failed = 1;
            if (w->owner)
                link->sink->failed(w->owner);
            else
                wake(w);
        }
    }
    apr_thread_mutex_unlock(link->mutex);
    apr_thread_mutex_unlock(link->write_mutex);
    if (fd >= 0)
        close(fd);
    if (was_up && !link->exiting)
        note_outage(link, rv, why);
}

#define FRAME_HDR APR_ALIGN_DEFAULT(sizeof(socketio_frame))
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

/* Appends no more to w's open chunk. mutex held. */
static void chunk_close_locked(socketio_waiter *w)
{
    if (w->open) {
        chunk_unref(w->open);
        w->open = NULL;
    }
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
        chunk_close_locked(w);
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

/* Frees fr's memory (its node, or its share of a chunk). Any thread. */
static void frame_free(socketio_frame *fr)
{
    if (fr->chunk)
        chunk_unref(fr->chunk);
    else
        apr_allocator_free(fr->alloc, fr->node);
}

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
        wake(w);
        return NULL;
    }
    return w;
}

static socketio_waiter *waiter_locked(socketio_link *link, apr_uint64_t conn)
{
    return apr_hash_get(link->waiters, &conn, sizeof(conn));
}

/* Is the frame whose header starts at raw a WS_SEND siod marked
 * volatile? */
static int raw_volatile(const unsigned char *raw)
{
    return raw[4] == SIO_R_WS_SEND && (raw[5] & SIO_RF_VOLATILE);
}

/* Returns a node with room for a frame record and rawlen raw bytes (at
 * FRAME_HDR), or NULL. */
static apr_memnode_t *frame_node(socketio_link *link, size_t rawlen)
{
    return apr_allocator_alloc(link->alloc, FRAME_HDR + rawlen);
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
    wake(w);
}

/* Queues the frame whose raw bytes (already validated by sio_relay_parse)
 * sit at FRAME_HDR in node for the waiter of conn; frees the node if that
 * waiter is gone or full. mutex held. */
static void enqueue_locked(socketio_link *link, apr_memnode_t *node,
                           size_t rawlen, apr_uint64_t conn)
{
    apr_size_t cost = node_size(node);
    socketio_waiter *w = admit_locked(waiter_locked(link, conn), cost,
                                      raw_volatile((unsigned char *)
                                                   node->first_avail +
                                                   FRAME_HDR));
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

/* Queues a copy of one whole frame from the read buffer: packed into the
 * waiter's open chunk when small. mutex held. */
static void deliver_copy_locked(socketio_link *link, const unsigned char *raw,
                                size_t rawlen, apr_uint64_t conn)
{
    int packed = FRAME_HDR + rawlen <= CHUNK_PACK_MAX;
    socketio_waiter *w = admit_locked(waiter_locked(link, conn),
                                      packed ? FRAME_HDR + rawlen
                                             : FRAME_HDR + rawlen +
                                               APR_MEMNODE_T_SIZE,
                                      raw_volatile(raw));
    apr_memnode_t *node;
    socketio_frame *fr;
    size_t used;

    if (!w)
        return;
    if (packed) {
        if (!(fr = chunk_frame_locked(link, w, rawlen))) {
            w->overflow = 1;
            wake(w);
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
        wake(w);
        return;
    }
    memcpy(node->first_avail + FRAME_HDR, raw, rawlen);
    enqueue_locked(link, node, rawlen, conn);
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
        wake(w);
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
           type == SIO_R_WS_FANOUT;
}

/* WS_FANOUT: the message goes to every listed conn this link knows, once
 * encoded for all the reactor's WebSockets, copied for each thread-served
 * one. Returns APR_SUCCESS, or APR_EGENERAL for a malformed body. */
static apr_status_t fanout(socketio_link *link, const sio_relay_frame *f)
{
    const unsigned char *conns = f->body + 4, *msg;
    int flags = f->flags & (SIO_RF_BINARY | SIO_RF_VOLATILE);
    apr_uint32_t count, i;
    void *handle = NULL;
    size_t mlen;

    if (f->len < 4)
        return APR_EGENERAL;
    count = get32(f->body);
    if (count > (f->len - 4) / 8)
        return APR_EGENERAL;
    msg = conns + (size_t)count * 8;
    mlen = f->len - 4 - (size_t)count * 8;
    apr_thread_mutex_lock(link->mutex);
    for (i = 0; i < count; i++) {
        socketio_waiter *w = waiter_locked(link, get64(conns + 8 * i));

        if (!w || w->failed)
            continue;
        if (w->owner) {
            if (!handle)
                handle = link->sink->fanout_begin(link->sink_ctx, flags, msg,
                                                  mlen);
            if (handle)
                link->sink->fanout_add(handle, w->owner);
            else if (!(flags & SIO_RF_VOLATILE))
                link->sink->undelivered(w->owner);
        } else {
            enqueue_send_locked(link, w, flags, msg, mlen);
        }
    }
    if (handle)
        link->sink->fanout_end(handle);
    apr_thread_mutex_unlock(link->mutex);
    return APR_SUCCESS;
}

/* Hands one whole frame from siod (raw bytes, already checked by
 * sio_relay_parse) to whoever waits for it. raw lies in the read buffer,
 * or at FRAME_HDR in node, which this consumes. Returns APR_SUCCESS, or
 * APR_EGENERAL for a frame siod must not send. Reading thread only. */
static apr_status_t dispatch(socketio_link *link, const unsigned char *raw,
                             size_t rawlen, apr_memnode_t *node)
{
    sio_relay_frame f;
    socketio_waiter *w;
    apr_status_t rv = APR_SUCCESS;
    size_t used;

    sio_relay_parse(raw, rawlen, SIO_RELAY_MAX_BODY, &used, &f);
    if (!type_from_siod(f.type)) {
        rv = APR_EGENERAL;
    } else if (f.type == SIO_R_WS_FANOUT) {
        rv = fanout(link, &f);
    } else {
        apr_thread_mutex_lock(link->mutex);
        w = waiter_locked(link, f.conn);
        if (w && w->owner) {
            if (!w->failed)
                link->sink->frame(w->owner, &f);
        } else if (node) {
            enqueue_locked(link, node, rawlen, f.conn);
            node = NULL;
        } else {
            deliver_copy_locked(link, raw, rawlen, f.conn);
        }
        apr_thread_mutex_unlock(link->mutex);
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
 * for a protocol error) with a static description in *why. Reading thread
 * only (the reader thread, or the reactor). */
static apr_status_t link_pump(socketio_link *link, int fd, int budget,
                              const char **why)
{
    link_rstate *rs = &link->rs;
    unsigned char *buf = link->rbuf;
    size_t off, used;
    sio_relay_frame f;
    ssize_t n;
    int rc;

    while (budget-- > 0) {
        if (rs->big && rs->got == rs->cap && big_grow(link, rs) != 0) {
            *why = "out of memory reading a frame from siod";
            return APR_ENOMEM;
        }
        if (rs->big)
            n = recv(fd, rs->big + rs->got, rs->cap - rs->got, 0);
        else if (rs->skip)
            n = recv(fd, buf, rs->skip < LINK_READ_BUF ? rs->skip
                                                       : LINK_READ_BUF, 0);
        else
            n = recv(fd, buf + rs->have, LINK_READ_BUF - rs->have, 0);
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
            if (rc == SIO_AGAIN && rs->have - off >= SIO_RELAY_HDR_LEN) {
                /* Header valid, body incomplete: a frame that cannot fit
                 * the buffer is assembled in its own node, or skipped when
                 * nobody waits for it. */
                size_t total = SIO_RELAY_HDR_LEN + get32(buf + off);
                apr_uint64_t conn = get64(buf + off + 8);
                int type = buf[off + 4], known;

                if (!type_from_siod(type)) {
                    rc = SIO_EPROTO;
                    break;
                }
                if (total <= LINK_READ_BUF)
                    break;
                if (type == SIO_R_WS_FANOUT) {
                    known = 1;
                } else {
                    socketio_waiter *w;

                    apr_thread_mutex_lock(link->mutex);
                    w = waiter_locked(link, conn);
                    known = w && ((w->owner && !w->failed) ||
                                  admit_locked(w, FRAME_HDR + total,
                                               raw_volatile(buf + off)));
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
static void *APR_THREAD_FUNC reader_main(apr_thread_t *t, void *data)
{
    socketio_link *link = data;
    const char *why = NULL;
    apr_status_t rv;
    unsigned gen;
    int fd;

    for (;;) {
        apr_thread_mutex_lock(link->mutex);
        while (!link->up && !link->exiting)
            apr_thread_cond_wait(link->cond, link->mutex);
        if (link->exiting && !link->up) {
            apr_thread_mutex_unlock(link->mutex);
            break;
        }
        fd = link->fd;
        gen = link->gen;
        apr_thread_mutex_unlock(link->mutex);

        rv = reader_loop(link, fd, &why);
        link_down(link, gen, rv == APR_EGENERAL ? APR_SUCCESS : rv, why);
        if (link->exiting)
            break;
    }
    return NULL;
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
    oq_free_locked(link);
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
            wake(apr_hash_this_val(hi));
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

static void free_queue_locked(socketio_waiter *w)
{
    socketio_frame *f = w->head, *next;

    for (; f; f = next) {
        next = f->next;
        frame_free(f);
    }
    w->head = w->tail = NULL;
    w->queued = 0;
    w->frames = 0;
    chunk_close_locked(w);
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
    if ((rv = ensure_open(link)) != APR_SUCCESS)
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
    if (!link->up) {
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

/* Fills hdr and parts[0..iovcnt] (parts[0] is the header) for one frame
 * named by w's conn. Returns APR_SUCCESS with the body length in *total,
 * APR_EINVAL or SOCKETIO_EMSGSIZE. */
static apr_status_t frame_parts(socketio_waiter *w, int type, int flags,
                                int status, const char *sid,
                                const struct iovec *iov, int iovcnt,
                                unsigned char *hdr, struct iovec *parts,
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

    rv = frame_parts(w, type, flags, status, sid, iov, iovcnt, hdr, parts,
                     &total);
    if (rv != APR_SUCCESS)
        return rv;

    apr_thread_mutex_lock(link->write_mutex);
    apr_thread_mutex_lock(link->mutex);
    ok = link->up && link->gen == w->gen && !w->failed;
    fd = link->fd;
    backlog = link->oq_len;
    apr_thread_mutex_unlock(link->mutex);
    if (!ok) {
        apr_thread_mutex_unlock(link->write_mutex);
        return APR_ECONNRESET;
    }
    deadline = apr_time_now() + apr_time_from_msec(LINK_WRITE_TIMEOUT_MS);
    rv = backlog ? oq_send(link, fd, backlog, deadline) : APR_SUCCESS;
    if (rv == APR_SUCCESS)
        rv = write_all(fd, parts, iovcnt + 1, deadline);
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
    oq_notify(link);
    return rv;
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
    ok = !link->up || link->gen != w->gen || w->failed || !link->oq_head ||
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

    rv = frame_parts(w, type, flags, status, sid, iov, iovcnt, hdr, parts,
                     &total);
    if (rv != APR_SUCCESS)
        return rv;
    apr_thread_mutex_lock(link->mutex);
    if (!link->up || link->gen != w->gen || w->failed) {
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
        socketio_waiter_clear_wake(w);
        rv = socketio_waiter_take(w, out);
        if (rv != APR_EAGAIN)
            return rv;
        ms = ms_left(deadline);
        if (ms == 0)
            return APR_TIMEUP;
        pfd[0].fd = w->wakefd;
        pfd[0].events = POLLIN;
        pfd[0].revents = 0;
        pfd[1].fd = client_fd;
        pfd[1].events = POLLRDHUP;
        pfd[1].revents = 0;
        n = poll(pfd, client_fd >= 0 ? 2 : 1, ms);
        if (n < 0 && errno != EINTR)
            return errno;
        if (n > 0 && client_fd >= 0 &&
            (pfd[1].revents & (POLLRDHUP | POLLHUP | POLLERR)))
            return APR_ECONNABORTED;
    }
}

/* See the header. */
int socketio_waiter_can_release(const socketio_waiter *w)
{
    return (w->peer_caps & SIO_RELAY_CAP_RELEASE) != 0;
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
        socketio_waiter_clear_wake(w);
        rv = socketio_waiter_take(w, out);
        if (rv != APR_EAGAIN)
            break;
        if (socketio_link_child_is_stopping()) {
            rv = APR_INCOMPLETE;
            break;
        }
        ms = ms_left(deadline);
        if (ms == 0) {
            rv = APR_TIMEUP;
            break;
        }
        pfd[0].fd = w->wakefd;
        pfd[0].events = POLLIN;
        pfd[0].revents = 0;
        pfd[1].fd = client_fd;
        pfd[1].events = POLLRDHUP;
        pfd[1].revents = 0;
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
    chunk_close_locked(w);  /* the reactor takes the frames from here on */
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

/* See the header. */
int socketio_link_reactor_fd(socketio_link *link, unsigned *gen)
{
    int fd;

    apr_thread_mutex_lock(link->mutex);
    fd = link->up ? link->fd : -1;
    *gen = link->gen;
    apr_thread_mutex_unlock(link->mutex);
    return fd;
}

/* See the header. Only the reactor reads a link that has a sink, so fd
 * cannot be closed under it: only link_down, called here, closes it. */
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
    fd = link->up && link->gen == gen ? link->fd : -1;
    apr_thread_mutex_unlock(link->mutex);
    if (fd < 0)
        return APR_ECONNRESET;
    rv = link_pump(link, fd, 64, &why);
    if (rv == APR_SUCCESS || rv == APR_EAGAIN)
        return rv;
    rstate_reset(link);
    link_down(link, gen, rv == APR_EGENERAL ? APR_SUCCESS : rv, why);
    return rv == APR_EGENERAL ? APR_ECONNRESET : rv;
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
    fd = link->up && link->gen == gen ? link->fd : -1;
    apr_thread_mutex_unlock(link->mutex);
    if (fd < 0) {
        apr_thread_mutex_unlock(link->write_mutex);
        return APR_ECONNRESET;
    }
    rv = oq_send(link, fd, (apr_size_t)-1, 0);
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

/* See the header. */
void socketio_frame_release(socketio_frame *f)
{
    if (f)
        frame_free(f);
}
