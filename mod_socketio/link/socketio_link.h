/* The per-child relay link to siod: one Unix-socket connection per daemon
 * socket path and httpd child, shared by every thread of the child. Request
 * and WebSocket threads register a waiter (a frame queue plus a wake-up fd),
 * send frames under the link's write lock, and receive the frames siod
 * addresses to their conn from the link's reader thread (or, under
 * mpm_event, through the sink the reactor registers).
 *
 * This is the module's relay-link layer, the one header the layers above
 * include for it. link/ calls core/ and shared/ (every relay frame is
 * encoded and decoded there); it calls nothing above it but the sink's
 * callbacks. Its files call one way (listed in socketio_link.c); no two of
 * them call each other.
 *
 * Who may call (the code is in socketio_link.c and its socketio_link_*.c
 * files, see there):
 * - socketio_link_post_config, _child_init, _child_stopping: httpd's
 *   hooks (parent or the child's main thread).
 * - socketio_link_set_sink, _count, _at: the reactor's set-up in
 *   child_init, before its thread runs (and set_sink(NULL) if that fails).
 * - socketio_link_reactor_*, socketio_waiter_reactor_*: the reactor thread
 *   only (mpm_event).
 * - socketio_waiter_*: the thread that owns the waiter (a request thread,
 *   a WebSocket thread, or the reactor for waiters bound to it).
 * - socketio_frame_release, socketio_link_child_is_stopping: any thread. */
#ifndef SOCKETIO_LINK_H
#define SOCKETIO_LINK_H

#include <errno.h>
#include <sys/uio.h>

#include "httpd.h"
#include "apr_allocator.h"

#include "sio_relay.h"

/* Status for a frame body over siod's maximum (errno values are APR
 * statuses on Unix). */
#define SOCKETIO_EMSGSIZE EMSGSIZE

typedef struct socketio_link socketio_link;
typedef struct socketio_waiter socketio_waiter;

/* One frame from siod, queued for a waiter. The struct and the frame's
 * bytes live in a memory node of the link's thread-safe allocator, their
 * own or (small frames) one shared with the waiter's next frames; the
 * thread that took it owns it until socketio_frame_release. */
typedef struct socketio_frame {
    struct socketio_frame *next;   /* queue order, link-internal */
    apr_memnode_t *node;           /* the memory holding all of this */
    apr_allocator_t *alloc;        /* where node goes back to */
    struct socketio_frame_chunk *chunk; /* node shared by small frames
                                         * (link-internal), else NULL */
    apr_size_t cost;               /* bytes counted against the queue */
    sio_relay_frame f;             /* f.body points into node */
} socketio_frame;

/* The reactor's side of a link (see socketio_reactor.c): when a sink is
 * set, no reader thread runs; the reactor polls the links' sockets and
 * calls socketio_link_reactor_read, which hands it the frames for the
 * waiters bound to it. The callbacks marked "link locked" run on the
 * reactor thread with the link's state mutex held: they may only queue
 * work for later (no link calls). Those marked "unlocked" run on the
 * reactor thread without it, so they may write to clients; they make no
 * link calls either. A bound waiter's owner stays valid during any of
 * them: only the reactor fails or frees a bound waiter. */
typedef struct socketio_link_sink {
    /* unlocked: one frame (WS_SEND, WS_CLOSE, ...) for the bound waiter
     * whose owner is owner; f->body is valid during the call. */
    void (*frame)(void *owner, const sio_relay_frame *f);
    /* a WS_FANOUT message (flags SIO_RF_BINARY, SIO_RF_VOLATILE) for some
     * bound waiters: begin (link locked) returns a handle (NULL: not
     * delivered), add (link locked) is called per recipient, end
     * (unlocked) once. msg is valid until end returns. */
    void *(*fanout_begin)(void *ctx, int flags, const unsigned char *msg,
                          apr_size_t len);
    void (*fanout_add)(void *handle, void *owner);
    void (*fanout_end)(void *handle);
    /* link locked: the link dropped; owner's waiter has failed. */
    void (*failed)(void *owner);
    /* any thread, no lock: a link (re)opened; poll its new socket. */
    void (*link_up)(void *ctx);
    /* link locked: a message for owner that is not volatile could not be
     * delivered (out of memory): owner must not go on as if it had been
     * (the reactor closes the WebSocket with 1011; the client reconnects). */
    void (*undelivered)(void *owner);
    /* any thread, no lock: a thread that wrote to the link let go of it
     * while frames the reactor queued are still unsent, or a client waits
     * for room: the reactor should flush (socketio_link_reactor_flush). */
    void (*output)(void *ctx);
} socketio_link_sink;

/* post_config (parent): sets up the shared outage flags so that a siod
 * outage is logged once across all children. Returns OK. */
int socketio_link_post_config(apr_pool_t *pconf, server_rec *s);

/* child_init: creates one (not yet connected) link per distinct
 * SocketIODaemonSocket and stores it in each server's config. Connections
 * open lazily on first use. A pre-cleanup on pchild closes the links and
 * joins their reader threads. */
void socketio_link_child_init(apr_pool_t *pchild, server_rec *s);

/* child_stopping: marks the child as stopping and wakes every waiter so
 * WebSocket threads can close their clients (1001) and held long-polls
 * end (socketio_waiter_wait_held). */
void socketio_link_child_stopping(apr_pool_t *pchild, int graceful);

/* Returns 1 once the child is stopping (child_stopping ran, or the MPM
 * reports AP_MPMQ_STOPPING, as prefork does after a graceful signal). */
int socketio_link_child_is_stopping(void);

/* Request/WebSocket thread: registers a waiter on link, opening the link
 * first if it is down (connect + HELLO; one error_log line per outage).
 * The waiter is allocated from pool and unregistered, its queue freed and
 * its wake fd closed by a cleanup on pool; only the calling thread may use
 * it. max_queued bounds the bytes of frames queued for it (beyond that the
 * waiter overflows). Returns APR_SUCCESS, or an error when siod cannot be
 * reached (the caller answers 503), or EMFILE / ENFILE when no descriptor
 * is left for the wake fd or the link's socket (not an outage: the caller
 * logs it). */
apr_status_t socketio_waiter_create(socketio_link *link, apr_pool_t *pool,
                                    apr_size_t max_queued,
                                    socketio_waiter **out);

/* Request thread: siod's node tag (its --node) on link, opening the link
 * first if it is down, as socketio_waiter_create does. Returns 1 with
 * tag filled (NUL-terminated), or 0 when siod cannot be reached or runs
 * without a tag. */
int socketio_link_node(socketio_link *link, char tag[SIO_NODE_TAG_LEN + 1]);

/* Request thread: the base URL (copied into p) of node tag (its first
 * SIO_NODE_TAG_LEN characters) as siod learned it through Redis, or NULL
 * when siod has not named that node, or its last table expired. */
const char *socketio_link_learned_peer(socketio_link *link, const char *tag,
                                       apr_pool_t *p);

/* Returns 1 once siod has sent a table of learned peers on link (it runs
 * with --redis and --node), else 0. Any thread, no lock. */
int socketio_link_learns(socketio_link *link);

/* Returns the conn handle siod knows this waiter by (unique per link). */
apr_uint64_t socketio_waiter_conn(const socketio_waiter *w);

/* Returns the wake-up fd (readable when frames or an error are pending). */
int socketio_waiter_wakefd(const socketio_waiter *w);

/* Returns siod's maximum frame body for this waiter's link. */
apr_size_t socketio_waiter_max_body(const socketio_waiter *w);

/* Request/WebSocket thread (never the reactor): sends one frame named by
 * this waiter's conn: type, flags, status, sid (SIO_SID_LEN bytes, or
 * NULL for none) and a body made of iovcnt parts (at most 4). Blocks until
 * written (after the frames the reactor queued before it), bounded by the
 * link's write timeout. Returns APR_SUCCESS, APR_ECONNRESET if the link
 * this waiter was registered on is gone (a write failure also takes the
 * link down), or SOCKETIO_EMSGSIZE if the body is over siod's maximum. */
apr_status_t socketio_waiter_send(socketio_waiter *w, int type, int flags,
                                  int status, const char *sid,
                                  const struct iovec *iov, int iovcnt);

/* Takes the oldest queued frame. Returns APR_SUCCESS with *out (the caller
 * owns it: socketio_frame_release), APR_EAGAIN if none is queued,
 * APR_ECONNRESET when the link dropped (after the queued frames), or
 * APR_ENOSPC when the queue overflowed (queued frames were dropped). */
apr_status_t socketio_waiter_take(socketio_waiter *w, socketio_frame **out);

/* Empties the wake-up fd; call before taking frames, then poll. */
void socketio_waiter_clear_wake(socketio_waiter *w);

/* Waits up to timeout for the next frame, also watching client_fd (-1 for
 * none) for a hang-up. Returns what socketio_waiter_take returns except
 * APR_EAGAIN, or APR_TIMEUP, or APR_ECONNABORTED when the client hung up. */
apr_status_t socketio_waiter_wait(socketio_waiter *w,
                                  apr_interval_time_t timeout,
                                  int client_fd, socketio_frame **out);

/* Returns 1 when siod, on the link w was registered on, takes the release
 * of a held GET (CANCEL with SIO_RF_KEEP: SIO_RELAY_CAP_RELEASE). */
int socketio_waiter_can_release(const socketio_waiter *w);

/* Returns 1 when siod, on the link w was registered on, takes API frames
 * (SIO_RELAY_CAP_API: the HTTP emit API). */
int socketio_waiter_can_api(const socketio_waiter *w);

/* Request thread, for a held long-poll GET: as socketio_waiter_wait, and
 * also returns APR_INCOMPLETE, with nothing taken, as soon as the child is
 * stopping (socketio_link_child_stopping woke it, or prefork got its
 * graceful signal), even before the first wait: the caller then releases
 * the GET instead of holding the child until siod answers. */
apr_status_t socketio_waiter_wait_held(socketio_waiter *w,
                                       apr_interval_time_t timeout,
                                       int client_fd, socketio_frame **out);

/* The hand-over of a WebSocket across a restart of siod (the link's
 * part: socketio_link.c, "Holding WebSockets"). The owner of a waiter
 * that got WS_CLOSE with SIO_RF_KEEP asks socketio_waiter_held, which
 * returns 1 while the link holds w for the next siod (its drop then does
 * not fail w), with *status (may be NULL) the WS_CLOSE's status; 0 when
 * w is not held (the module does not offer the hand-over: the WS_CLOSE
 * is a plain one). The first hold starts the thread that opens the link
 * again. The owner's thread; takes the link's mutex. */
int socketio_waiter_held(socketio_waiter *w, int *status);

/* The owner of a held waiter, whenever the link may have opened again
 * (its wake fd, or the reactor's sink->link_up): moves w to the link's
 * new siod. Returns APR_SUCCESS when w now belongs to it (no longer held:
 * the caller sends WS_RESUME before anything else for w's conn),
 * APR_EAGAIN while no new link is up (still held), APR_ENOTIMPL when the
 * new siod does not take WebSockets back (no SIO_RELAY_CAP_HANDOVER: w is
 * no longer held and stays failed; the caller closes the WebSocket), or
 * APR_EINVAL when w is not held. */
apr_status_t socketio_waiter_rebind(socketio_waiter *w);

/* Unregisters w now (instead of when its pool goes): frames siod still
 * sends to its conn are dropped. NULL is a no-op. */
void socketio_waiter_destroy(socketio_waiter *w);

/* Reactor thread: binds w to the reactor; its frames now go to the
 * sink's callbacks with owner instead of its queue, and its wake fd is
 * closed. *queued gets the frames queued so far, oldest first (linked by
 * next; the caller releases each). Returns APR_SUCCESS, APR_ECONNRESET if
 * the link already failed, or APR_ENOSPC if the queue overflowed. */
apr_status_t socketio_waiter_bind(socketio_waiter *w, void *owner,
                                  socketio_frame **queued);

/* Reactor thread, for a waiter bound to it: is there room in its link's
 * output queue for a frame of len body bytes? Returns 1 if it may be
 * queued now (always when the queue is empty, so one message of any size
 * fits, or when the link is gone: the send then fails), or 0: the queue is
 * at SocketIORelayQueue; the caller takes no more input from that client
 * until socketio_link_reactor_drained says so (logged, throttled). */
int socketio_waiter_reactor_room(socketio_waiter *w, apr_size_t len);

/* Reactor thread, for a waiter bound to it: queues one frame as
 * socketio_waiter_send describes, copied into the link's output queue;
 * never blocks (socketio_link_reactor_flush sends it). A message must
 * fit SocketIORelayQueue (ask socketio_waiter_reactor_room first); with
 * control set (WS_CLOSED) a frame may use 1 MiB more, and past that the
 * link is dropped (logged at error), for siod has stopped taking frames.
 * Returns APR_SUCCESS, APR_ECONNRESET (the link is gone or was dropped),
 * SOCKETIO_EMSGSIZE, APR_ENOSPC (no room) or APR_ENOMEM. */
apr_status_t socketio_waiter_reactor_send(socketio_waiter *w, int type,
                                          int flags, int status,
                                          const char *sid,
                                          const struct iovec *iov, int iovcnt,
                                          int control);

/* child_init, after socketio_link_child_init and before any link opens:
 * the reactor will read every link of this child. */
void socketio_link_set_sink(const socketio_link_sink *sink, void *ctx);

/* This child's links (reactor): how many, and the i-th. */
int socketio_link_count(void);
socketio_link *socketio_link_at(int i);

/* Reactor: returns the socket to poll while link is up (and its
 * generation in *gen), else -1. The link owns the socket. */
int socketio_link_reactor_fd(socketio_link *link, unsigned *gen);

/* Reactor: reads and dispatches what the socket of generation gen holds.
 * Returns APR_EAGAIN when drained, APR_SUCCESS when more may be waiting,
 * or an error after taking the link down (every bound waiter's owner got
 * the failed callback; the socket is closed). */
apr_status_t socketio_link_reactor_read(socketio_link *link, unsigned gen);

/* Reactor: sends what the output queue of the link's generation gen
 * holds, without blocking. Returns APR_SUCCESS (all sent), APR_EAGAIN
 * (the socket is full: poll it for POLLOUT), APR_EBUSY (another thread is
 * writing; the sink's output callback comes when it is done), or
 * APR_ECONNRESET (the link is gone, or a write failed and the link was
 * shut down: the read side takes it down). */
apr_status_t socketio_link_reactor_flush(socketio_link *link, unsigned gen);

/* Reactor: returns 1 once the link's output queue holds no more than half
 * of SocketIORelayQueue (clients paused for room may be read again). */
int socketio_link_reactor_drained(socketio_link *link);

/* Gives a frame's memory back to the link's allocator. NULL is a no-op. */
void socketio_frame_release(socketio_frame *f);

#endif
