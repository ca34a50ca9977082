/* One WebSocket's protocol state and the event functions that drive it,
 * shared by its two drivers: the thread-per-WebSocket loop
 * (socketio_ws_thread.c) and the per-child reactor (socketio_reactor.c).
 * The functions here never wait for the client: they read what is there
 * and queue frames in ws->outbb; the driver writes them out its own way.
 * Only the thread that owns the WebSocket may call them.
 *
 * Who may call (the code is in socketio_ws.c, protocol and close, and
 * socketio_ws_out.c, the output queue):
 * - socketio_ws_child_init: the child_init hook.
 * - everything else: the WebSocket's owner only, which is the reactor
 *   thread once ws->on_reactor is set, else the worker thread running
 *   socketio_ws_thread_run (and, before either, the handshake on the
 *   request's worker thread).
 * - socketio_ws_queue_copy, _queue_bucket, _dequeued: today the reactor
 *   only (fan-out and its writer); a volatile bucket's free function is
 *   the reactor's, so _queue_bucket must stay reactor-only. */
#ifndef SOCKETIO_WSCONN_H
#define SOCKETIO_WSCONN_H

#include "httpd.h"
#include "apr_allocator.h"
#include "apr_buckets.h"

#include "sio_relay.h"
#include "sio_ws.h"
#include "socketio_handler.h"
#include "socketio_link.h"

typedef struct socketio_ws {
    socketio_req *sr;              /* the handshake's; NULL, like r, once */
    request_rec *r;                /* the reactor has finished the request */
    conn_rec *c;
    socketio_waiter *w;
    char sid[SIO_SID_LEN];
    sio_ws_parser parser;
    apr_bucket_brigade *inbb;      /* ap_get_brigade's */
    apr_bucket_brigade *outbb;     /* frames not yet passed to the filters */
    apr_size_t out_bytes;          /* the memory they hold (see
                                    * socketio_ws_out.c), not their length */
    apr_size_t out_limit;          /* bound on out_bytes; 0: unbounded
                                    * (the waiter bounds it) */
    apr_bucket_alloc_t *out_alloc; /* where queued frames' bytes live */
    apr_memnode_t *in_node;        /* unparsed input kept between reads */
    apr_size_t in_len;
    apr_memnode_t *msg_node;       /* fragmented message under way */
    apr_size_t msg_len;
    apr_size_t max_payload;
    int client_fd;
    int closed;                    /* close frame queued or client gone:
                                    * input is no longer processed */
    int lost;                      /* client gone: nothing can be written */
    int close_code;                /* told to siod in WS_CLOSED */
    int overflow;                  /* out_limit was crossed */
    int oom;                       /* a message could not be queued for
                                    * want of memory: closed with 1011 */
    apr_size_t vol_dropped;        /* volatile messages dropped so far */
    int finished;                  /* WS_CLOSED sent, waiter gone */
    int on_reactor;                /* the reactor drives it: frames for
                                    * siod are queued, never waited for */
    int relay_wait;                /* reactor: a message waits for room in
                                    * the relay queue; no input is read
                                    * until the driver clears this */
    int in_eof;                    /* the client's input ended behind
                                    * input held for the relay queue */
} socketio_ws;

/* child_init: sets up the memory WebSockets keep input in. */
void socketio_ws_child_init(apr_pool_t *pchild);

/* Queues one frame to the client; header and payload are copied into
 * the queue's chunks (memory from ws->out_alloc). When the memory queued
 * would go over out_limit the frame is dropped and ws->overflow set. */
void socketio_ws_queue(socketio_ws *ws, int opcode, const void *payload,
                       apr_size_t len);

/* socketio_ws_queue for a message siod marked SIO_RF_VOLATILE when
 * volatile_ is set: over out_limit a volatile message is dropped (counted
 * in ws->vol_dropped); a message that is not first makes room by dropping
 * queued volatile frames not yet started, and only then sets overflow. */
void socketio_ws_queue_msg(socketio_ws *ws, int opcode, const void *payload,
                           apr_size_t len, int volatile_);

/* Queues a copy of one whole frame (header and payload, len bytes) that
 * is not volatile, appended to the queue's chunks: for a small fan-out
 * message a copy costs less than a bucket of its own. Same bound as
 * socketio_ws_queue_msg. Returns 1 (the frame is queued or dropped). */
int socketio_ws_queue_copy(socketio_ws *ws, const void *frame,
                           apr_size_t len);

/* The buckets of bb, just taken from the front of ws->outbb, are leaving
 * the queue (passed to the filters): takes the memory they stand for off
 * ws->out_bytes. Call before passing them. */
void socketio_ws_dequeued(socketio_ws *ws, apr_bucket_brigade *bb);

/* Queues bucket b (made on ws->c->bucket_alloc) holding len bytes of one
 * whole frame; same bound as socketio_ws_queue_msg (b is destroyed when
 * dropped). volatile_ says b's frame is volatile: b must then be a heap
 * bucket whose free function is socketio_reactor_fan_vol_free. */
void socketio_ws_queue_bucket(socketio_ws *ws, apr_bucket *b, apr_size_t len,
                              int volatile_);

/* Ends the WebSocket: queues a close frame with code and reason (code
 * 1006: the client is gone, nothing is sent) and records report for
 * siod. Later calls do nothing. */
void socketio_ws_close(socketio_ws *ws, int code, const char *reason,
                       int report);

/* The client is gone without a close (read or write failed); what is
 * logged at debug. */
void socketio_ws_lost(socketio_ws *ws, apr_status_t rv, const char *what);

/* Event: the client may have sent something (its socket is readable, or
 * filters may hold data). Reads without blocking through scratch (cap
 * bytes, the reading thread's), at most budget reads; handles every whole
 * frame (messages go to siod, pings are answered, a close is echoed).
 * On the reactor a message that finds no room in the relay queue is left
 * unparsed, with the input after it, and ws->relay_wait set: the next
 * call (once the driver clears it) starts with that input. Returns 1 when
 * the budget ran out with input possibly left, else 0. */
int socketio_ws_read(socketio_ws *ws, unsigned char *scratch,
                     apr_size_t cap, int budget);

/* A frame from siod for this WebSocket: WS_SEND is queued, WS_CLOSE
 * closes (after what is queued), others are ignored. */
void socketio_ws_siod_frame(socketio_ws *ws, const sio_relay_frame *f);

/* Tells siod the WebSocket is gone (WS_CLOSED with ws->close_code),
 * unregisters the waiter and frees the input memory. Call once the I/O is
 * over; later calls do nothing. */
void socketio_ws_finish(socketio_ws *ws);

#endif
