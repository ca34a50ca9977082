/* Private to the reactor's files (socketio_reactor.c,
 * socketio_reactor_loop.c, socketio_reactor_adopt.c,
 * socketio_reactor_links.c, socketio_reactor_io.c): the reactor, its
 * connection and link records, its limits, small helpers, and the
 * functions one of these files calls in another. See socketio_reactor.c
 * for the design and thread rules. */
#ifndef SOCKETIO_REACTOR_INT_H
#define SOCKETIO_REACTOR_INT_H

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "httpd.h"
#include "http_config.h"
#include "http_connection.h"
#include "http_core.h"
#include "http_log.h"
#include "http_request.h"
#include "ap_mpm.h"
#include "mpm_common.h"
#include "util_filter.h"
#include "apr_atomic.h"
#include "apr_buckets.h"
#include "apr_thread_mutex.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"

#include "sio_ws.h"
#include "socketio_core.h"
#include "socketio_link.h"
#include "socketio_reactor.h"
#include "socketio_wsconn.h"

#define MAX_EVENTS 256
#define SCRATCH_SIZE (64 * 1024)
/* Bytes passed to the filters at once: below the core output filter's
 * FlushMaxThreshold (64 KB) even with TLS record overhead, so a
 * non-blocking pass never turns into a "blocking" one that times out. */
#define WRITE_CHUNK (16 * 1024)
/* Buckets per writev when writing straight to the socket. */
#define WRITE_IOV 64
/* Reads per readable event before other connections get their turn. */
#define READ_BUDGET 16
/* A closing WebSocket must take its close frame within this. */
#define CLOSE_TIMEOUT apr_time_from_sec(5)
/* Lingering close: read until EOF, at most this long. */
#define LINGER_TIMEOUT apr_time_from_sec(2)
/* Timer resolution while some connection has a deadline. */
#define TICK_MS 250
/* At most one "dropped a client" warning per reactor this often. */
#define DROP_LOG_INTERVAL apr_time_from_sec(10)

typedef enum { EV_WAKE, EV_LINK, EV_CONN } ev_kind;

typedef struct socketio_reactor socketio_reactor;

/* Every epoll registration points at a record starting with its kind. */
typedef struct rlink {
    ev_kind kind;
    socketio_link *link;
    int fd;                    /* registered socket, -1 if none */
    unsigned gen;
    unsigned events;           /* registered epoll events */
} rlink;

typedef enum { RC_WS, RC_LINGER, RC_DEAD } rc_phase;

/* A worker thread that handed connections off (see the opening comment
 * of socketio_reactor_adopt.c):
 * units counts the process_connection hooks it has begun, bumped by that
 * thread only; awaited asks it to wake the reactor when it bumps. Lives
 * until pchild goes. */
typedef struct worker_mark {
    volatile apr_uint64_t units;
    volatile apr_uint32_t awaited;
} worker_mark;

/* The memory of a closed connection's pool, kept until its worker moves. */
typedef struct set_aside {
    apr_allocator_t *alloc;
    worker_mark *worker;
    apr_uint64_t units;
    struct set_aside *next;
} set_aside;

/* One adopted connection, allocated from c->pool. */
typedef struct rconn {
    ev_kind kind;
    socketio_reactor *re;
    socketio_ws *ws;           /* NULL once finished */
    conn_rec *c;
    request_rec *r;            /* NULL once the request is finished */
    apr_socket_t *csd;
    int fd;
    rc_phase phase;
    unsigned events;           /* registered epoll events, 0: none */
    int read_more;             /* input may be waiting: read it */
    int paused;                /* not read: waits for the relay queue */
    int link_failed;
    int dirty;
    int in_direct;             /* the core input filter holds nothing: the
                                * reactor's filter reads the socket */
    int in_drained;            /* so read, the socket had no more; it is
                                * not read again before epoll says so */
    int direct_out;            /* the core output filter is the only one:
                                * queued frames are written straight to
                                * the socket (socketio_reactor_io.c) */
    int out_blocked;           /* so written, some are left: the socket
                                * was full */
    int fan_listed;            /* on the fan-out under way's list */
    struct rconn *fan_next;
    worker_mark *worker;       /* the thread that handed it off */
    apr_uint64_t worker_units; /* its units at the hand-off */
    apr_time_t deadline;       /* 0: none */
    apr_time_t pending_since;  /* output continuously pending since */
    apr_time_t closed_at;
    apr_bucket_brigade *tmpbb;
    struct rconn *prev, *next; /* all connections, or the grave */
    struct rconn *dirty_next;
} rconn;

struct socketio_reactor {
    apr_pool_t *pool;
    server_rec *s;
    apr_thread_t *thread;
    int epfd;
    int wakefd;
    ev_kind wake_kind;
    apr_thread_mutex_t *mutex;   /* guards the fields down to exiting */
    apr_pool_t *marks;           /* worker_marks come from here */
    rconn *incoming;             /* handed off, not yet adopted */
    int links_changed;
    int links_output;            /* a link's queue needs the reactor */
    int exiting;
    volatile int stop_mode;      /* 0, STOP_GRACEFUL, STOP_NOW */
    /* reactor thread only: */
    int stopping;
    rconn *conns;                /* RC_WS and RC_LINGER */
    rconn *grave;                /* closed, pool not yet destroyed */
    rconn *dirty;
    set_aside *aside;            /* pools' memory waiting for a worker */
    set_aside *aside_free;       /* spare records, from own */
    apr_pool_t *own;             /* reactor thread only */
    int nconns;
    int ntimed;
    int npaused;                 /* connections with paused set */
    int want_flush;              /* frames may have been queued for siod */
    rlink *links;
    int nlinks;
    apr_allocator_t *alloc;
    apr_bucket_alloc_t *ba;      /* bytes of queued frames, input read by
                                  * socketio_reactor_io.c */
    socketio_ws_fan fan;         /* the WS_FANOUT message under way */
    rconn *fan_list;             /* its recipients, delivered at its end */
    rconn **fan_tail;
    unsigned char *scratch;
    apr_time_t next_tick;
    apr_time_t drop_logged_at;
    unsigned drops_unlogged;
};

#define STOP_GRACEFUL 1
#define STOP_NOW 2

/* ---- small helpers ------------------------------------------------ */

/* wake: any thread (the hooks wake the reactor); the others: the reactor
 * thread. */

static inline void wake(socketio_reactor *re)
{
    uint64_t one = 1;
    ssize_t n;

    do {
        n = write(re->wakefd, &one, sizeof(one));
    } while (n < 0 && errno == EINTR);
}

static inline void mark_dirty(rconn *rc)
{
    socketio_reactor *re = rc->re;

    if (rc->dirty || rc->phase == RC_DEAD)
        return;
    rc->dirty = 1;
    rc->dirty_next = re->dirty;
    re->dirty = rc;
}

static inline void list_remove(rconn **head, rconn *rc)
{
    if (rc->prev)
        rc->prev->next = rc->next;
    else
        *head = rc->next;
    if (rc->next)
        rc->next->prev = rc->prev;
    rc->prev = rc->next = NULL;
}

static inline void list_add(rconn **head, rconn *rc)
{
    rc->prev = NULL;
    rc->next = *head;
    if (*head)
        (*head)->prev = rc;
    *head = rc;
}

/* Reactor thread only, unless said otherwise. */

/* socketio_reactor_loop.c: the thread's body (started by child_init in
 * socketio_reactor.c). */
void *APR_THREAD_FUNC socketio_reactor_main(apr_thread_t *t, void *data);

/* socketio_reactor_adopt.c: takes a handed-off connection over; frees
 * the pools of buried connections whose workers moved on (all: force). */
void socketio_reactor_adopt(socketio_reactor *re, rconn *rc);
void socketio_reactor_bury(socketio_reactor *re, int force);

/* socketio_reactor_links.c: polls the sockets of (re)opened links; sends
 * what the links' output queues hold; handles events on a link's socket;
 * the sink registered with the links (child_init). */
void socketio_reactor_refresh_links(socketio_reactor *re);
void socketio_reactor_flush_links(socketio_reactor *re);
void socketio_reactor_on_link(socketio_reactor *re, rlink *rl,
                              unsigned events);
extern const socketio_link_sink socketio_reactor_sink;

/* socketio_reactor_io.c: registers the reactor's input filter (child
 * init, before the thread runs); at adoption, puts it on rc's connection
 * and gives rc's WebSocket the direct writer where the core output filter
 * is the connection's only one. */
void socketio_reactor_io_register(void);
void socketio_reactor_io_adopt(rconn *rc);

#endif
