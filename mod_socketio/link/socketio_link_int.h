/* Private to the relay link's files (socketio_link.c, socketio_link_read.c,
 * socketio_link_waiter.c, socketio_link_oq.c): the link and waiter structs,
 * their limits, and the functions one of these files calls in another.
 * Nothing outside the link includes it; see socketio_link.c for the thread
 * rules and lock order. */
#ifndef SOCKETIO_LINK_INT_H
#define SOCKETIO_LINK_INT_H

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
#include "socketio_core.h"
#include "socketio_link.h"

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
/* While WebSockets are held for the next siod and the link is down, the
 * keeper thread tries to open it this often. */
#define LINK_KEEP_RETRY apr_time_from_msec(200)

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

/* A link's state (link->state): changed by socketio_link_transit only,
 * with link->mutex held, and with write_mutex too where the socket comes
 * or goes (DOWN <-> UP, and the exit's last step). */
typedef enum socketio_link_state {
    LINK_DOWN,      /* no socket: never opened, or taken down; the next
                     * waiter opens it */
    LINK_UP,        /* connected, HELLO and AUTH done: fd, gen and peer_*
                     * belong to this open */
    LINK_CLOSING,   /* the child exits while the link is up: the socket is
                     * shut down, its reader finishing; never reopened */
    LINK_EXITED     /* the child exits, no socket: never reopened */
} socketio_link_state;

/* One peer learned through Redis: a tag and its base URL. */
typedef struct socketio_learned_peer {
    char tag[SIO_NODE_TAG_LEN + 1];
    char url[SIO_RELAY_PEER_URL_MAX + 1];
} socketio_learned_peer;

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
    /* The hand-over of WebSockets across a restart of siod (see
     * socketio_link.c, "Holding WebSockets"). */
    int handover;                  /* SocketIOHandoverTimeout > 0: HELLO
                                    * offers SIO_RELAY_CAP_HANDOVER */
    unsigned n_held;               /* mutex: waiters held (w->held) */
    apr_thread_t *keeper;          /* reopens the link while n_held;
                                    * started on the first hold */
    apr_thread_cond_t *keep_cond;  /* keeper waits here */
    apr_allocator_t *alloc;        /* frames; thread-safe */
    apr_hash_t *waiters;           /* &conn -> socketio_waiter */
    int fd;                        /* -1 while down */
    socketio_link_state state;     /* see socketio_link_transit */
    unsigned gen;                  /* bumped per successful open */
    apr_uint64_t next_conn;
    apr_size_t peer_max_body;
    unsigned peer_caps;            /* SIO_RELAY_CAP_* of siod's HELLO */
    char want_node[SIO_NODE_TAG_LEN + 1]; /* SocketIONode, or "" */
    int cluster;                   /* SocketIONode or SocketIOPeer set: siod
                                    * must name its node */
    apr_uint32_t node;             /* siod's node tag, packed (atomic);
                                    * 0: none yet */
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
    /* The peers siod learned through Redis (PEERS frames), written by the
     * reading thread, read by request threads, under peers_mutex. */
    apr_thread_mutex_t *peers_mutex;
    socketio_learned_peer *peers;  /* SIO_RELAY_PEERS_MAX entries */
    unsigned n_peers;
    apr_time_t peers_until;        /* the table's expiry */
    volatile apr_uint32_t learns;  /* a PEERS frame came (atomic) */
    volatile apr_uint32_t peers_fresh; /* one came since the link opened
                                        * (atomic) */
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
    int held;                      /* siod handed it over (WS_CLOSE with
                                    * SIO_RF_KEEP): a drop of its link
                                    * does not fail it; the owner gives it
                                    * to the next siod (rebind) */
    int held_status;               /* that WS_CLOSE's status */
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
#define FRAME_HDR APR_ALIGN_DEFAULT(sizeof(socketio_frame))

/* A node shared by small frames: freed when its last frame is released
 * and its waiter appends no more to it (refs: frames in it, +1 while it is
 * the waiter's open chunk). Released on any thread. */
typedef struct socketio_frame_chunk {
    apr_memnode_t *node;
    apr_allocator_t *alloc;
    volatile apr_uint32_t refs;
} frame_chunk;

/* socketio_link_read.c, for the waiter file: frees fr's memory (its
 * node, or its share of a chunk), any thread; appends no more to w's open
 * chunk, mutex held. */
void socketio_frame_free(socketio_frame *fr);
void socketio_waiter_chunk_close_locked(socketio_waiter *w);

/* Is the link's socket open (up, or closing at the child's exit)? mutex
 * held. */
static inline int link_up(const socketio_link *link)
{
    return link->state == LINK_UP || link->state == LINK_CLOSING;
}

/* Is the child exiting (the link never opens again)? */
static inline int link_exiting(const socketio_link *link)
{
    return link->state == LINK_CLOSING || link->state == LINK_EXITED;
}

/* A node tag (up to SIO_RELAY_NODE_LEN bytes, NUL-padded) as one word,
 * so that request threads read it without a lock; 0 for none. */
static inline apr_uint32_t socketio_link_pack_node(const char *node)
{
    return ((apr_uint32_t)(unsigned char)node[0] << 24) |
           ((apr_uint32_t)(unsigned char)node[1] << 16) |
           ((apr_uint32_t)(unsigned char)node[2] << 8) |
           (apr_uint32_t)(unsigned char)node[3];
}

/* The files call one way; below, each one's functions that others call,
 * from the top down (see socketio_link.c for the whole link). */

/* socketio_link.c (called by the waiter file). */
/* Opens the link unless it is up. Returns APR_SUCCESS or why not. */
apr_status_t socketio_link_ensure_open(socketio_link *link);
/* Starts the link's keeper thread (see socketio_link.c, "Holding
 * WebSockets") unless it runs, the child exits or the link does not hand
 * over; a failure is logged and turns the hand-over off for the link.
 * Any thread, no lock held. */
void socketio_link_keeper_start(socketio_link *link);

/* socketio_link_read.c (called by socketio_link.c and the waiter file). */
/* The reader thread's body (link->pool's thread). */
void *APR_THREAD_FUNC socketio_link_reader_main(apr_thread_t *t,
                                                void *data);

/* socketio_link_hello.c (called by socketio_link.c). */
/* Connects to siod and runs the handshake: HELLO each way (each with a
 * fresh nonce), siod's proof of the relay secret, checked here, then ours.
 * Checking siod's first means the secret never serves a process that only
 * poses as siod. siod's node tag must agree with the configuration (a
 * cluster node's siod runs with --node, the same as SocketIONode when
 * that is set). Returns APR_SUCCESS with *fdp (a non-blocking socket the
 * caller owns), *peer_max, *peer_caps and *peer_node (siod's tag packed,
 * 0 for none), or an error with a short reason in *why (which may point
 * into whybuf, whylen bytes). open_mutex held. */
apr_status_t socketio_link_connect(socketio_link *link, int *fdp,
                                   apr_size_t *peer_max, unsigned *peer_caps,
                                   apr_uint32_t *peer_node,
                                   const char **why, char *whybuf,
                                   apr_size_t whylen);

/* socketio_link_peers.c (called by socketio_link.c and the reader file). */
/* Makes the learned table's lock and room, from link->pool. Returns
 * APR_SUCCESS or why not. */
apr_status_t socketio_link_peers_init(socketio_link *link);
/* A PEERS frame f from siod replaces the learned table, valid for the
 * ttl it carries. Returns APR_SUCCESS, or APR_EGENERAL for a malformed
 * body (the caller drops the link). Reading thread. */
apr_status_t socketio_link_peers_update(socketio_link *link,
                                        const sio_relay_frame *f);

/* socketio_link_state.c (called by socketio_link.c and the reader file). */
/* Moves link to state to, logging old -> new and why (a static string)
 * at debug level; the one place link->state changes. mutex held (see
 * socketio_link_state for write_mutex). */
void socketio_link_transit(socketio_link *link, socketio_link_state to,
                           const char *why);
/* Logs that link cannot be opened or went down (rv, what): the start of
 * an outage at error level, once across the children, later lines at
 * debug. */
void socketio_link_note_outage(socketio_link *link, apr_status_t rv,
                               const char *what);
/* Logs that link opened: the end of an outage at notice level. */
void socketio_link_note_connected(socketio_link *link);
/* Takes the link down if it is still generation gen (LINK_UP -> DOWN, or
 * CLOSING -> EXITED): fails every waiter registered on it (a waiter bound
 * to the reactor through the sink), frees the output queue and closes the
 * socket (reader thread or reactor); logs the outage (rv, why) unless the
 * child is exiting. */
void socketio_link_down(socketio_link *link, unsigned gen, apr_status_t rv,
                        const char *why);

/* socketio_link_oq.c (called by the waiter, link and state files). */
/* Builds the header and parts of one frame for w (see there); the
 * thread that owns w. */
apr_status_t socketio_waiter_frame_parts(socketio_waiter *w, int type,
                                         int flags, int status,
                                         const char *sid,
                                         const struct iovec *iov, int iovcnt,
                                         unsigned char *hdr,
                                         struct iovec *parts,
                                         apr_size_t *total);
/* _locked with link->mutex held (or no other thread left); oq_send with
 * write_mutex held; oq_notify with no lock held. */
void socketio_link_oq_free_locked(socketio_link *link);
apr_status_t socketio_link_oq_send(socketio_link *link, int fd,
                                   apr_size_t max, apr_time_t deadline);
void socketio_link_oq_notify(socketio_link *link);

/* socketio_link_fd.c (called by the files above). */
/* Milliseconds left until deadline, rounded up; 0 once it has passed. */
int socketio_link_ms_left(apr_time_t deadline);
/* Polls fd for events until deadline. Returns APR_SUCCESS, APR_TIMEUP or
 * an errno status. */
apr_status_t socketio_link_wait_fd(int fd, short events,
                                   apr_time_t deadline);
/* Writes every byte of iov before deadline (iov is consumed). Returns
 * APR_SUCCESS, APR_TIMEUP or an errno status. */
apr_status_t socketio_link_write_all(int fd, struct iovec *iov, int iovcnt,
                                     apr_time_t deadline);
/* Wakes w's owner through its eventfd (any thread). */
void socketio_waiter_wake(socketio_waiter *w);

#endif
