/* One WebSocket connection: its protocol state and the event functions
 * that drive it, shared by its two drivers, the thread-per-WebSocket loop
 * (socketio_ws_thread.c) and the per-child reactor (socketio_reactor*.c),
 * and called by the upgrade (socketio_ws_handshake.c). The functions here
 * never wait for the client: they read what is there and queue frames in
 * ws->outbb; the driver writes them out its own way. Besides link/ (the
 * WebSocket's waiter) they call only each other one way: the protocol
 * (socketio_wsconn.c) queues through the output queue
 * (socketio_ws_out.c), which reads the state through the inline
 * accessors below and calls nothing in socketio_wsconn.c. Private to ws/.
 *
 * Who may call (the code is in socketio_wsconn.c, protocol and close, and
 * socketio_ws_out.c, the output queue):
 * - socketio_ws_create: the worker thread of the upgrade request.
 * - everything else: the WebSocket's owner only, which is the reactor
 *   thread once ws->on_reactor is set, else the worker thread running
 *   socketio_ws_thread_run (and, before either, the upgrade on the
 *   request's worker thread).
 * - socketio_ws_dequeued, socketio_ws_settle and the fan-out functions
 *   (socketio_ws_fan_*): today the reactor only (its writer and
 *   WS_FANOUT); a fan-out block's count is not atomic, so they must stay
 *   on one thread.
 * - ws->write_now, when the driver sets it, is called by the output queue
 *   on the owner's thread. */
#ifndef SOCKETIO_WSCONN_H
#define SOCKETIO_WSCONN_H

#include <sys/uio.h>

#include "httpd.h"
#include "apr_allocator.h"
#include "apr_buckets.h"

#include "sio_relay.h"
#include "sio_ws.h"
#include "socketio_core.h"
#include "socketio_link.h"

/* Close code 1012 (service restart, IANA's registry after RFC 6455): a
 * stopping siod's, for the WebSockets it keeps for the next siod. */
#define SOCKETIO_WS_CLOSE_SERVICE_RESTART 1012

/* A WebSocket's life (ws->state), changed only by the functions below
 * (one transition function in socketio_wsconn.c logs old -> new and why
 * at trace1). Forward only: handshake -> open -> closing -> lost ->
 * finished, any step but the last may be skipped. */
typedef enum socketio_ws_state {
    SOCKETIO_WS_HANDSHAKE, /* created: siod asked, no 101 yet */
    SOCKETIO_WS_OPEN,      /* 101 sent (socketio_ws_opened): frames flow */
    SOCKETIO_WS_CLOSING,   /* closed (socketio_ws_close): a close frame is
                            * queued, or none is due; input is no longer
                            * processed, queued output still goes out */
    SOCKETIO_WS_LOST,      /* the client is gone (socketio_ws_lost):
                            * nothing can be written */
    SOCKETIO_WS_FINISHED   /* WS_CLOSED sent, waiter gone
                            * (socketio_ws_finish) */
} socketio_ws_state;

/* A driver's direct writer (the reactor's, for a connection whose only
 * output filter is the core's): writes what the socket takes of vec[0..n)
 * at once, without waiting; called by the output queue only when nothing
 * is queued before the frame. Returns the bytes written: 0 when nothing
 * can be written now (the filters hold data, the socket is full) or the
 * write failed (the writer has then marked the WebSocket lost). */
typedef apr_size_t (*socketio_ws_writer)(void *ctx, const struct iovec *vec,
                                         int n);

typedef struct socketio_ws {
    request_rec *r;                /* the upgrade request; NULL once the
                                    * reactor has finished it */
    const socketio_server_conf *sconf; /* its server's configuration */
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
    socketio_ws_writer write_now;  /* NULL: every frame is queued */
    void *write_ctx;
    int fan_fresh;                 /* small fan-out frames queued this
                                    * turn share their block (see
                                    * socketio_ws_settle) */
    apr_memnode_t *in_node;        /* unparsed input kept between reads */
    apr_size_t in_len;
    apr_memnode_t *msg_node;       /* fragmented message under way */
    apr_size_t msg_len;
    apr_size_t max_payload;
    int client_fd;
    socketio_ws_state state;       /* see socketio_ws_state */
    int close_code;                /* told to siod in WS_CLOSED */
    int overflow;                  /* out_limit was crossed */
    int oom;                       /* a message could not be queued for
                                    * want of memory: closed with 1011 */
    apr_size_t vol_dropped;        /* volatile messages dropped so far */
    int on_reactor;                /* the reactor drives it: frames for
                                    * siod are queued, never waited for */
    int relay_wait;                /* reactor: a message waits for room in
                                    * the relay queue; no input is read
                                    * until the driver clears this */
    int in_eof;                    /* the client's input ended behind
                                    * input held for the relay queue */
    int h2;                        /* an HTTP/2 stream (RFC 8441): c is
                                    * mod_http2's secondary connection,
                                    * with no socket of its own (client_fd
                                    * -1); always on a thread */
    int h2_body_eos;               /* h2: the end of the upgrade request's
                                    * (empty) body is still to come first
                                    * on the stream's input; not the
                                    * client's end */
    int held;                      /* siod handed it over (WS_CLOSE with
                                    * SIO_RF_KEEP): the client is not
                                    * read until the next siod takes it
                                    * (socketio_ws_try_resume); stays set
                                    * if it is closed meanwhile, so no
                                    * siod is told (socketio_ws_finish) */
    int held_status;               /* that WS_CLOSE's status: the close
                                    * code if no siod takes it back */
    apr_time_t held_until;         /* SocketIOHandoverTimeout from then */
    int pmd;                       /* permessage-deflate agreed */
    apr_size_t compress_min;       /* with pmd: smallest message sent
                                    * compressed */
} socketio_ws;

/* Closed: a close frame queued (or none due), the client gone, or
 * finished; input is no longer processed. */
static inline int socketio_ws_is_closed(const socketio_ws *ws)
{
    return ws->state >= SOCKETIO_WS_CLOSING;
}

/* The client is gone (and the WebSocket not yet finished): nothing can be
 * written. */
static inline int socketio_ws_is_lost(const socketio_ws *ws)
{
    return ws->state == SOCKETIO_WS_LOST;
}

/* Creates a WebSocket's state for upgrade request r (dconf and sconf its
 * configuration, client_fd its socket) in pool: r->pool for a WebSocket
 * that holds its thread, c->pool for one the reactor takes. No subpool:
 * every pool costs at least one 8 KB allocator node. A cleanup on pool
 * frees the input memory if the WebSocket ends without socketio_ws_finish.
 * Returns the state; ws->w (its waiter) is the caller's to set. */
socketio_ws *socketio_ws_create(request_rec *r,
                                const socketio_dir_conf *dconf,
                                const socketio_server_conf *sconf,
                                int client_fd, apr_pool_t *pool);

/* Queues one frame to the client. When nothing is queued and the driver
 * gave a direct writer, the frame is written at once and only what the
 * socket did not take is queued; otherwise (or for the rest) header and
 * payload are copied into the queue's chunks (memory from ws->out_alloc).
 * When the memory queued would go over out_limit the frame is dropped and
 * ws->overflow set; the rest of a frame already begun is always queued. */
void socketio_ws_queue(socketio_ws *ws, int opcode, const void *payload,
                       apr_size_t len);

/* socketio_ws_queue for a message siod marked SIO_RF_VOLATILE when
 * volatile_ is set: over out_limit a volatile message is dropped (counted
 * in ws->vol_dropped); a message that is not first makes room by dropping
 * queued volatile frames not yet started, and only then sets overflow. */
void socketio_ws_queue_msg(socketio_ws *ws, int opcode, const void *payload,
                           apr_size_t len, int volatile_);

/* The buckets of bb, just taken from the front of ws->outbb, are leaving
 * the queue (passed to the filters): takes the memory they stand for off
 * ws->out_bytes. Call before passing them. */
void socketio_ws_dequeued(socketio_ws *ws, apr_bucket_brigade *bb);

/* The upgrade sent the 101: the WebSocket is open (from the handshake;
 * a WebSocket already lost stays so). */
void socketio_ws_opened(socketio_ws *ws);

/* One message for many WebSockets (WS_FANOUT on the reactor): its frame,
 * header and payload, copied once into a reference-counted block that
 * the recipients' queues share (made when the first recipient needs it),
 * and for recipients that agreed permessage-deflate the same message
 * compressed once, in a block of its own. The caller keeps the record
 * from socketio_ws_fan_begin to socketio_ws_fan_end; its fields are the
 * output queue's. */
typedef struct socketio_ws_fan_block socketio_ws_fan_block;

/* One form of the message: its frame and the block that holds a copy. */
typedef struct socketio_ws_fan_frame {
    const unsigned char *msg;      /* the caller's (plain), or the block's
                                    * (compressed), until _end */
    apr_size_t len;
    unsigned char hdr[SIO_WS_MAX_HEADER];
    apr_size_t hl;
    int no_memory;                 /* the block could not be made */
    socketio_ws_fan_block *block;  /* NULL until a recipient queues */
} socketio_ws_fan_frame;

typedef struct socketio_ws_fan {
    socketio_ws_fan_frame plain;
    socketio_ws_fan_frame zipped;  /* compressed, made on first need */
    int zipped_state;              /* 0 not tried, 1 made, -1 failed */
    int opcode;                    /* SIO_WS_TEXT or SIO_WS_BINARY */
    int volatile_;                 /* SIO_RF_VOLATILE */
    apr_bucket_alloc_t *ba;        /* the blocks' memory */
} socketio_ws_fan;

/* Starts fan-out message msg[0..len) (flags: SIO_RF_BINARY,
 * SIO_RF_VOLATILE) in the caller's record fan; msg must stay valid until
 * socketio_ws_fan_end. ba is where a queued copy is made: the allocator
 * of the WebSockets' queued frames (ws->out_alloc). Allocates nothing. */
void socketio_ws_fan_begin(socketio_ws_fan *fan, apr_bucket_alloc_t *ba,
                           int flags, const unsigned char *msg,
                           apr_size_t len);

/* Queues fan's frame for ws (nothing once ws is closed): a bucket on the
 * message's block, made on first use, so that the driver writes it with
 * whatever else this turn queued; but a small one that is not volatile
 * for a client that already had frames waiting is copied into the
 * queue's chunks. Same bound as socketio_ws_queue_msg; a frame that is
 * not volatile and finds no memory for the block sets ws->oom. The
 * driver must call socketio_ws_settle before its turn ends. */
void socketio_ws_fan_send(socketio_ws *ws, socketio_ws_fan *fan);

/* The end of a turn of the driver's loop, after it wrote what it could:
 * small fan-out frames left in the queue are copied into its chunks, so
 * that they hold their blocks no longer, and are counted at that cost
 * (over the bound: volatile frames dropped first, else ws->overflow).
 * tmp is an empty brigade of the connection's, left empty. */
void socketio_ws_settle(socketio_ws *ws, apr_bucket_brigade *tmp);

/* Ends the message: gives back the creator's reference to the block, if
 * one was made; it goes with the last queued frame that shares it. */
void socketio_ws_fan_end(socketio_ws_fan *fan);

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
 * call (once the driver clears it) starts with that input. A held
 * WebSocket is not read (the input after a message siod dropped waits
 * for the resume). Returns 1 when the budget ran out with input possibly
 * left, else 0. */
int socketio_ws_read(socketio_ws *ws, unsigned char *scratch,
                     apr_size_t cap, int budget);

/* A frame from siod for this WebSocket: WS_SEND is queued, WS_CLOSE
 * closes (after what is queued), others are ignored. A WS_CLOSE with
 * SIO_RF_KEEP whose waiter the link holds (the module offers the
 * hand-over) holds the WebSocket instead: what is queued still goes out,
 * the client is no longer read (ws->held). */
void socketio_ws_siod_frame(socketio_ws *ws, const sio_relay_frame *f);

/* Waits a held WebSocket (ws->held) for a siod? Open and held. */
static inline int socketio_ws_is_held(const socketio_ws *ws)
{
    return ws->held && !socketio_ws_is_closed(ws);
}

/* A held WebSocket, when its link may have opened again: hands it to the
 * siod now on the link (WS_RESUME, then the client is read again: the
 * driver reads what waited), or closes it with ws->held_status when that
 * siod does not take WebSockets back or the new link failed. Returns 1
 * once it waits no more (taken back, or closed), 0 while no new link is
 * up. */
int socketio_ws_try_resume(socketio_ws *ws);

/* A held WebSocket that no siod took back by ws->held_until: closes it
 * with ws->held_status and counts it; once no WebSocket of the child is
 * held any more, one line logs how many were closed so. */
void socketio_ws_hold_expired(socketio_ws *ws);

/* Tells siod the WebSocket is gone (WS_CLOSED with ws->close_code; none
 * for one closed while held: no siod has it), unregisters the waiter and
 * frees the input memory. Call once the I/O is over; later calls do
 * nothing. */
void socketio_ws_finish(socketio_ws *ws);

#endif
