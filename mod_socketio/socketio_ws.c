/* WebSocket transport: validates the RFC 6455 upgrade, asks siod (OPEN or
 * UPGRADE) before answering 101, and holds the protocol logic both drivers
 * share: client frames are parsed with sio_ws_parser and each whole
 * message goes to siod as WS_MSG; siod's WS_SEND/WS_CLOSE become frames
 * queued for the client. The functions below never wait for the client;
 * the reactor (socketio_reactor.c, mpm_event) or the worker thread
 * (socketio_ws_thread.c) writes the queued frames and waits for events. */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_connection.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"
#include "apr_base64.h"
#include "apr_buckets.h"
#include "apr_sha1.h"
#include "apr_strings.h"
#include "apr_thread_mutex.h"

#include "sio_base64.h"
#include "sio_relay.h"
#include "sio_ws.h"
#include "socketio_handler.h"
#include "socketio_link.h"
#include "socketio_log.h"
#include "socketio_reactor.h"
#include "socketio_ws.h"
#include "socketio_ws_thread.h"
#include "socketio_wsconn.h"

APLOG_USE_MODULE(socketio);

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* Memory the input allocator keeps for reuse. */
#define WS_IN_MAX_FREE (4 * 1024 * 1024)
/* Smallest buffer for a partial frame (the allocator's smallest node). */
#define IN_MIN_NODE (8 * 1024)
/* Frames siod queued for a WebSocket before the reactor or the thread
 * takes them may exceed the send queue bound by this much (node sizes). */
#define WS_WAITER_SLACK (1024 * 1024)

/* Input that outlives one read (a partial frame, a fragmented message)
 * lives in nodes of this allocator, given back as soon as it is used, so
 * an idle WebSocket keeps no input buffer. Thread-safe. */
static apr_allocator_t *in_alloc;

static apr_status_t in_alloc_cleanup(void *data)
{
    apr_allocator_destroy(in_alloc);
    in_alloc = NULL;
    return APR_SUCCESS;
}

/* See socketio_wsconn.h. */
void socketio_ws_child_init(apr_pool_t *pchild)
{
    apr_thread_mutex_t *m;

    if (apr_allocator_create(&in_alloc) != APR_SUCCESS) {
        in_alloc = NULL;
        return;
    }
    if (apr_thread_mutex_create(&m, APR_THREAD_MUTEX_DEFAULT, pchild)
        == APR_SUCCESS)
        apr_allocator_mutex_set(in_alloc, m);
    apr_allocator_max_free_set(in_alloc, WS_IN_MAX_FREE);
    apr_pool_cleanup_register(pchild, NULL, in_alloc_cleanup,
                              apr_pool_cleanup_null);
}

static apr_size_t node_cap(const apr_memnode_t *n)
{
    return (apr_size_t)(n->endp - n->first_avail);
}

/* ---- writing to the client ---------------------------------------- */

/* What queued output really holds. ws->out_bytes counts memory, not
 * payload: every bucket costs two small blocks of the bucket allocator
 * (the bucket and its heap record), and a block over the allocator's
 * small size takes a whole node (at least 8 KB). So non-volatile frames
 * are not given a block each: their bytes are appended to chunks, heap
 * buckets of about one node whose whole size is counted when the chunk is
 * made and released when its last byte leaves the queue. A volatile frame
 * keeps a bucket of its own (it may be dropped alone), counted with what
 * its block really takes; a fan-out frame shared with other WebSockets
 * costs its bucket and is counted at its full length. */
#define BA_SMALL 128                 /* apr_bucket_alloc's small blocks */
#define BA_HDR 32                    /* its header in every block */
#define BUCKET_COST (2 * BA_SMALL)   /* apr_bucket + apr_bucket_heap */
#define NODE_MIN 8192                /* apr_allocator's smallest node */
#define NODE_STEP 4096

typedef struct ws_chunk {
    apr_size_t used;                 /* bytes written into data */
    apr_size_t cap;                  /* room for data */
    apr_size_t held;                 /* memory counted for the chunk */
    int sealed;                      /* its last byte left the queue */
} ws_chunk;

#define CHUNK_HDR APR_ALIGN_DEFAULT(sizeof(ws_chunk))

/* Returns the memory apr_bucket_alloc takes for a block of n bytes. */
static apr_size_t held_size(apr_size_t n)
{
    n += BA_HDR;
    if (n <= BA_SMALL)
        return BA_SMALL;
    n = APR_ALIGN(n + APR_MEMNODE_T_SIZE, NODE_STEP);
    return n < NODE_MIN ? NODE_MIN : n;
}

static void chunk_free(void *data)
{
    apr_bucket_free((char *)data - CHUNK_HDR);
}

/* The chunk a bucket writes from, or NULL for any other bucket. */
static ws_chunk *chunk_of(const apr_bucket *b)
{
    const apr_bucket_heap *h;

    if (!APR_BUCKET_IS_HEAP(b))
        return NULL;
    h = b->data;
    return h->free_func == chunk_free ? (ws_chunk *)(h->base - CHUNK_HDR)
                                      : NULL;
}

/* Room left in the queue's last chunk for appending, 0 if the last bucket
 * is not an open chunk. */
static apr_size_t tail_room(socketio_ws *ws)
{
    apr_bucket *b;
    ws_chunk *ch;

    if (APR_BRIGADE_EMPTY(ws->outbb))
        return 0;
    b = APR_BRIGADE_LAST(ws->outbb);
    ch = chunk_of(b);
    if (!ch || ch->sealed ||
        b->start + b->length != ch->used)
        return 0;
    return ch->cap - ch->used;
}

/* The room of a new chunk for at least n bytes: whole allocator nodes
 * (at least one), all of them usable. */
static apr_size_t chunk_cap(apr_size_t n)
{
    apr_size_t over = BA_HDR + APR_MEMNODE_T_SIZE + CHUNK_HDR;
    apr_size_t node = APR_ALIGN(n + over, NODE_STEP);

    return (node < NODE_MIN ? NODE_MIN : node) - over;
}

/* Returns the memory appending n bytes would add (0 when they fit the
 * open chunk). */
static apr_size_t append_cost(socketio_ws *ws, apr_size_t n)
{
    apr_size_t room = tail_room(ws);

    if (n <= room)
        return 0;
    return held_size(CHUNK_HDR + chunk_cap(n - room)) + BUCKET_COST;
}

/* Appends a frame made of two parts (a then b) to the queue's chunks,
 * whole or not at all. Returns 0, or -1 out of memory (ws->oom is set:
 * the WebSocket is then closed with 1011). */
static int append(socketio_ws *ws, const void *a, apr_size_t an,
                  const void *b, apr_size_t bn)
{
    const char *part[2] = { a, b };
    apr_size_t left[2] = { an, bn };
    apr_size_t room = tail_room(ws), cap = 0, k;
    apr_bucket *tail = room ? APR_BRIGADE_LAST(ws->outbb) : NULL;
    apr_bucket *fresh = NULL;
    ws_chunk *ch = NULL, *nch = NULL;
    char *mem;
    int i;

    if (an + bn > room) {
        cap = chunk_cap(an + bn - room);
        mem = apr_bucket_alloc(CHUNK_HDR + cap, ws->out_alloc);
        if (!mem) {
            ws->oom = 1;
            return -1;
        }
        nch = (ws_chunk *)mem;
        nch->used = 0;
        nch->cap = cap;
        nch->held = held_size(CHUNK_HDR + cap) + BUCKET_COST;
        nch->sealed = 0;
        fresh = apr_bucket_heap_create(mem + CHUNK_HDR, cap, chunk_free,
                                       ws->c->bucket_alloc);
        fresh->length = 0;
    }
    if (tail)
        ch = chunk_of(tail);
    for (i = 0; i < 2; i++) {
        while (left[i] > 0) {
            apr_bucket *into = room ? tail : fresh;
            ws_chunk *c = room ? ch : nch;

            k = room ? room : c->cap - c->used;
            if (k > left[i])
                k = left[i];
            memcpy((char *)c + CHUNK_HDR + c->used, part[i], k);
            c->used += k;
            into->length += k;
            part[i] += k;
            left[i] -= k;
            if (room)
                room -= k;
        }
    }
    if (fresh) {
        APR_BRIGADE_INSERT_TAIL(ws->outbb, fresh);
        ws->out_bytes += nch->held;
    }
    return 0;
}

/* Frees a volatile frame's bytes; as a heap bucket's free function it is
 * what marks the frame volatile. */
static void vol_free(void *data)
{
    apr_bucket_free(data);
}

/* Returns the memory bucket b stands for in ws->out_bytes when the whole
 * of it leaves the queue, or, with whole unset, when this piece of it
 * leaves (the writer passes buckets split at any byte). */
static apr_size_t piece_cost(apr_bucket *b)
{
    ws_chunk *ch = chunk_of(b);
    const apr_bucket_heap *h;

    if (ch) {
        /* A chunk was counted whole when made: its last piece releases
         * it, and it takes no more bytes. */
        if (ch->sealed || b->start + b->length != ch->used)
            return 0;
        ch->sealed = 1;
        return ch->held;
    }
    if (!APR_BUCKET_IS_HEAP(b))
        return b->length;
    h = b->data;
    if (b->start + b->length != h->alloc_len)
        return 0;
    return (h->free_func == vol_free ? held_size(h->alloc_len)
                                     : h->alloc_len) + BUCKET_COST;
}

/* See socketio_wsconn.h. */
void socketio_ws_dequeued(socketio_ws *ws, apr_bucket_brigade *bb)
{
    apr_bucket *b;
    apr_size_t n = 0;

    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
         b = APR_BUCKET_NEXT(b))
        n += piece_cost(b);
    ws->out_bytes -= n < ws->out_bytes ? n : ws->out_bytes;
}

static int over_limit(socketio_ws *ws, apr_size_t cost)
{
    if (!ws->out_limit || ws->out_bytes + cost <= ws->out_limit)
        return 0;
    ws->overflow = 1;
    return 1;
}

/* Is b a whole volatile frame nothing of which has been written? The
 * writer splits a frame only when it passes the front part on. */
static int vol_unstarted(const apr_bucket *b)
{
    const apr_bucket_heap *h;

    if (!APR_BUCKET_IS_HEAP(b))
        return 0;
    h = b->data;
    return (h->free_func == vol_free ||
            h->free_func == socketio_reactor_fan_vol_free) &&
           b->start == 0 && b->length == h->alloc_len;
}

/* Counts one dropped volatile message, logged at debug on the 1st, 2nd,
 * 4th, 8th, ... so a client that stays slow costs no log flood. */
static void vol_count(socketio_ws *ws)
{
    ws->vol_dropped++;
    if ((ws->vol_dropped & (ws->vol_dropped - 1)) == 0)
        ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, ws->c,
                      "mod_socketio: WebSocket %.*s not reading: %"
                      APR_SIZE_T_FMT " volatile message(s) dropped so far "
                      "(SocketIOWebSocketQueue %" APR_SIZE_T_FMT " bytes)",
                      SIO_SID_LEN, ws->sid, ws->vol_dropped, ws->out_limit);
}

/* Can a message costing cost bytes of memory be queued? A volatile one
 * over the bound is dropped; any other drops queued, unstarted volatile
 * frames until it fits, else sets overflow. Returns 1 to queue it, 0 to
 * drop it. */
static int make_room(socketio_ws *ws, apr_size_t cost, int volatile_)
{
    apr_bucket *b, *next;
    apr_size_t c;

    if (!ws->out_limit || ws->out_bytes + cost <= ws->out_limit)
        return 1;
    if (volatile_) {
        vol_count(ws);
        return 0;
    }
    for (b = APR_BRIGADE_FIRST(ws->outbb);
         b != APR_BRIGADE_SENTINEL(ws->outbb) &&
         ws->out_bytes + cost > ws->out_limit; b = next) {
        next = APR_BUCKET_NEXT(b);
        if (!vol_unstarted(b))
            continue;
        c = piece_cost(b);
        ws->out_bytes -= c < ws->out_bytes ? c : ws->out_bytes;
        apr_bucket_delete(b);
        vol_count(ws);
    }
    return !over_limit(ws, cost);
}

/* See socketio_wsconn.h. */
void socketio_ws_queue(socketio_ws *ws, int opcode, const void *payload,
                       apr_size_t len)
{
    socketio_ws_queue_msg(ws, opcode, payload, len, 0);
}

/* See socketio_wsconn.h. */
void socketio_ws_queue_msg(socketio_ws *ws, int opcode, const void *payload,
                           apr_size_t len, int volatile_)
{
    unsigned char hdr[SIO_WS_MAX_HEADER];
    apr_size_t hl = sio_ws_write_header(hdr, 1, opcode, len, NULL);
    char *buf;

    if (ws->lost)
        return;
    if (!volatile_) {
        if (make_room(ws, append_cost(ws, hl + len), 0))
            append(ws, hdr, hl, payload, len);
        return;
    }
    if (!make_room(ws, held_size(hl + len) + BUCKET_COST, 1))
        return;
    buf = apr_bucket_alloc(hl + len, ws->out_alloc);
    if (!buf) {
        ws->oom = 1;
        return;
    }
    memcpy(buf, hdr, hl);
    if (len)
        memcpy(buf + hl, payload, len);
    APR_BRIGADE_INSERT_TAIL(ws->outbb,
        apr_bucket_heap_create(buf, hl + len, vol_free, ws->c->bucket_alloc));
    ws->out_bytes += held_size(hl + len) + BUCKET_COST;
}

/* See socketio_wsconn.h. */
int socketio_ws_queue_copy(socketio_ws *ws, const void *frame,
                           apr_size_t len)
{
    if (ws->lost || ws->closed)
        return 1;
    if (make_room(ws, append_cost(ws, len), 0))
        append(ws, frame, len, NULL, 0);
    return 1;
}

/* See socketio_wsconn.h. */
void socketio_ws_queue_bucket(socketio_ws *ws, apr_bucket *b, apr_size_t len,
                              int volatile_)
{
    if (ws->lost || ws->closed ||
        !make_room(ws, len + BUCKET_COST, volatile_)) {
        apr_bucket_destroy(b);
        return;
    }
    APR_BRIGADE_INSERT_TAIL(ws->outbb, b);
    ws->out_bytes += len + BUCKET_COST;
}

/* See socketio_wsconn.h. */
void socketio_ws_close(socketio_ws *ws, int code, const char *reason,
                       int report)
{
    unsigned char payload[SIO_WS_MAX_CONTROL];
    apr_size_t len;

    if (ws->closed)
        return;
    ws->closed = 1;
    ws->close_code = report;
    if (code == SIO_WS_CLOSE_ABNORMAL)
        return;
    len = code == SIO_WS_CLOSE_NO_STATUS
              ? 0 : sio_ws_close_payload(payload, (uint16_t)code, reason);
    /* The close frame always fits: the bound is for messages. */
    ws->out_limit = 0;
    socketio_ws_queue(ws, SIO_WS_CLOSE, payload, len);
}

/* See socketio_wsconn.h. */
void socketio_ws_lost(socketio_ws *ws, apr_status_t rv, const char *what)
{
    ap_log_cerror(APLOG_MARK, APLOG_DEBUG, rv, ws->c,
                  "mod_socketio: WebSocket %s", what);
    socketio_ws_close(ws, SIO_WS_CLOSE_ABNORMAL, NULL, SIO_WS_CLOSE_ABNORMAL);
    ws->lost = 1;
    apr_brigade_cleanup(ws->outbb);
    ws->out_bytes = 0;
}

/* ---- messages to siod --------------------------------------------- */

static void ws_send_msg(socketio_ws *ws, const unsigned char *data,
                        apr_size_t len, int binary)
{
    struct iovec iov;
    apr_status_t rv;

    iov.iov_base = (void *)data;
    iov.iov_len = len;
    if (ws->on_reactor)
        rv = socketio_waiter_reactor_send(ws->w, SIO_R_WS_MSG,
                                          binary ? SIO_RF_BINARY : 0, 0,
                                          ws->sid, &iov, len ? 1 : 0, 0);
    else
        rv = socketio_waiter_send(ws->w, SIO_R_WS_MSG,
                                  binary ? SIO_RF_BINARY : 0, 0, ws->sid,
                                  &iov, len ? 1 : 0);
    if (rv == SOCKETIO_EMSGSIZE)
        socketio_ws_close(ws, SIO_WS_CLOSE_TOO_BIG, "Message too big",
                          SIO_WS_CLOSE_TOO_BIG);
    else if (rv != APR_SUCCESS)
        socketio_ws_close(ws, SIO_WS_CLOSE_INTERNAL,
                          "Socket.IO daemon unavailable",
                          SIO_WS_CLOSE_INTERNAL);
}

static void msg_free(socketio_ws *ws)
{
    if (ws->msg_node)
        apr_allocator_free(in_alloc, ws->msg_node);
    ws->msg_node = NULL;
    ws->msg_len = 0;
}

/* Appends a fragment to the message under way (a node, doubling; the
 * parser has already refused messages over max_payload). Returns 0, or -1
 * out of memory (the WebSocket is closed). */
static int ws_append(socketio_ws *ws, const unsigned char *data,
                     apr_size_t len)
{
    apr_size_t need = ws->msg_len + len, cap;
    apr_memnode_t *bigger;

    if (!ws->msg_node || need > node_cap(ws->msg_node)) {
        cap = ws->msg_node ? node_cap(ws->msg_node) * 2 : 4096;
        if (cap < need)
            cap = need;
        if (cap > ws->max_payload && need <= ws->max_payload)
            cap = ws->max_payload;
        bigger = in_alloc ? apr_allocator_alloc(in_alloc, cap) : NULL;
        if (!bigger) {
            socketio_ws_close(ws, SIO_WS_CLOSE_INTERNAL, "Out of memory",
                              SIO_WS_CLOSE_INTERNAL);
            return -1;
        }
        if (ws->msg_len)
            memcpy(bigger->first_avail, ws->msg_node->first_avail,
                   ws->msg_len);
        if (ws->msg_node)
            apr_allocator_free(in_alloc, ws->msg_node);
        ws->msg_node = bigger;
    }
    if (len)
        memcpy(ws->msg_node->first_avail + ws->msg_len, data, len);
    ws->msg_len = need;
    return 0;
}

/* ---- reading from the client -------------------------------------- */

/* Returns the whole size of the frame starting at buf when its header is
 * in, else 0 (the parser already refused frames over the limits). */
static apr_size_t frame_size(const unsigned char *buf, apr_size_t len)
{
    apr_uint64_t plen;
    apr_size_t hdr = 2, i;

    if (len < 2)
        return 0;
    plen = buf[1] & 0x7f;
    if (plen == 126) {
        if (len < 4)
            return 0;
        plen = (apr_uint64_t)buf[2] << 8 | buf[3];
        hdr = 4;
    } else if (plen == 127) {
        if (len < 10)
            return 0;
        for (plen = 0, i = 2; i < 10; i++)
            plen = plen << 8 | buf[i];
        hdr = 10;
    }
    if (buf[1] & 0x80)
        hdr += 4;
    return hdr + (apr_size_t)plen;
}

static void ws_on_frame(socketio_ws *ws, const sio_ws_frame *f)
{
    int code;

    switch (f->opcode) {
    case SIO_WS_PING:
        socketio_ws_queue(ws, SIO_WS_PONG, f->payload, (apr_size_t)f->len);
        return;
    case SIO_WS_PONG:
        return;
    case SIO_WS_CLOSE:
        code = sio_ws_close_payload_code(f->payload, f->len);
        /* Echo the code; an empty close is answered with an empty one. */
        socketio_ws_close(ws, code, "", code);
        return;
    default:
        break;
    }
    if (f->fin && f->opcode != SIO_WS_CONT) {
        ws_send_msg(ws, f->payload, (apr_size_t)f->len,
                    f->message_opcode == SIO_WS_BINARY);
        return;
    }
    if (ws_append(ws, f->payload, (apr_size_t)f->len) != 0)
        return;
    if (f->fin) {
        ws_send_msg(ws, (unsigned char *)ws->msg_node->first_avail,
                    ws->msg_len, f->message_opcode == SIO_WS_BINARY);
        msg_free(ws);
    }
}

/* Reactor: may the frame at buf (len bytes in) be handled now? A whole
 * final data frame ends a message for siod: it needs room in the relay
 * queue for what the message may hold (the fragments before it and its
 * own bytes). Returns 1, or 0 to leave it for later. */
static int relay_room(socketio_ws *ws, const unsigned char *buf,
                      apr_size_t len)
{
    apr_size_t need = frame_size(buf, len);
    int opcode;

    if (!need || need > len || !(buf[0] & 0x80))
        return 1;
    opcode = buf[0] & 0x0f;
    if (opcode != SIO_WS_CONT && opcode != SIO_WS_TEXT &&
        opcode != SIO_WS_BINARY)
        return 1;
    return socketio_waiter_reactor_room(ws->w, need + ws->msg_len);
}

/* Handles every whole frame in buf[0..len). Returns the bytes used. */
static apr_size_t ws_parse(socketio_ws *ws, unsigned char *buf,
                           apr_size_t len)
{
    apr_size_t off = 0, used;
    sio_ws_frame f;
    int rc;

    while (!ws->closed) {
        if (ws->on_reactor && !relay_room(ws, buf + off, len - off)) {
            ws->relay_wait = 1;
            break;
        }
        rc = sio_ws_parse(&ws->parser, buf + off, len - off, &used, &f);
        if (rc == SIO_AGAIN)
            break;
        if (rc != SIO_OK) {
            int code = sio_ws_close_code(rc);

            ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, ws->c,
                          "mod_socketio: WebSocket protocol error from "
                          "client: %s", sio_strerror(rc));
            socketio_ws_close(ws, code, sio_strerror(rc), code);
            break;
        }
        ws_on_frame(ws, &f);
        off += used;
    }
    return off;
}

/* Copies the data buckets of ws->inbb to buf + *len (room bytes at most:
 * READBYTES never returns more than asked). Returns 1 at end of stream. */
static int ws_take_input(socketio_ws *ws, unsigned char *buf,
                         apr_size_t *len, apr_size_t room, int *got)
{
    apr_bucket *b;
    const char *data;
    apr_size_t n;
    int eof = 0;

    *got = 0;
    for (b = APR_BRIGADE_FIRST(ws->inbb); b != APR_BRIGADE_SENTINEL(ws->inbb);
         b = APR_BUCKET_NEXT(b)) {
        if (APR_BUCKET_IS_EOS(b)) {
            eof = 1;
            break;
        }
        if (APR_BUCKET_IS_METADATA(b))
            continue;
        if (apr_bucket_read(b, &data, &n, APR_BLOCK_READ) != APR_SUCCESS) {
            eof = 1;
            break;
        }
        if (n > room)
            n = room;
        memcpy(buf + *len, data, n);
        *len += n;
        room -= n;
        *got = 1;
    }
    apr_brigade_cleanup(ws->inbb);
    return eof;
}

/* Room for a partial frame of len bytes whose whole size is need: twice
 * what has arrived (at least IN_MIN_NODE), never more than need, so a
 * client that declares a big frame and sends little of it costs little;
 * the buffer doubles as the bytes come (a logarithmic number of copies). */
static apr_size_t input_room(apr_size_t len, apr_size_t need)
{
    apr_size_t want = len > IN_MIN_NODE / 2 ? len * 2 : IN_MIN_NODE;

    return need > len && want > need ? need : want;
}

/* Moves len bytes at buf into a node of at least want bytes (the input
 * kept for the next read). Returns the node, or NULL out of memory (the
 * WebSocket is closed). */
static apr_memnode_t *keep_input(socketio_ws *ws, const unsigned char *buf,
                                 apr_size_t len, apr_size_t want)
{
    apr_memnode_t *n = in_alloc ? apr_allocator_alloc(in_alloc,
                                                      want > len ? want : len)
                                : NULL;

    if (!n) {
        socketio_ws_close(ws, SIO_WS_CLOSE_INTERNAL, "Out of memory",
                          SIO_WS_CLOSE_INTERNAL);
        return NULL;
    }
    memcpy(n->first_avail, buf, len);
    return n;
}

/* See socketio_wsconn.h. Input is read into scratch, or into ws->in_node
 * while a partial frame is kept; that node grows with the bytes that
 * arrive (input_room), never straight to the length the frame declares;
 * what is left unparsed when the read ends moves to a node. */
int socketio_ws_read(socketio_ws *ws, unsigned char *scratch,
                     apr_size_t cap, int budget)
{
    apr_memnode_t *node = ws->in_node, *bigger;
    unsigned char *buf = node ? (unsigned char *)node->first_avail : scratch;
    apr_size_t len = node ? ws->in_len : 0, used, need, scap = cap;
    apr_status_t rv;
    int got, eof, more = 0;

    if (node)
        cap = node_cap(node);
    ws->in_node = NULL;
    ws->in_len = 0;
    if (len && ws->on_reactor && !ws->closed) {
        /* Whole frames may be waiting since the relay queue was full. */
        used = ws_parse(ws, buf, len);
        if (used) {
            memmove(buf, buf + used, len - used);
            len -= used;
        }
        if (node && len == 0) {
            apr_allocator_free(in_alloc, node);
            node = NULL;
            buf = scratch;
            cap = scap;
        }
        if (ws->in_eof && !ws->relay_wait && !ws->closed)
            socketio_ws_lost(ws, APR_EOF, "closed by the client");
    }
    while (!ws->closed && !ws->relay_wait && !ws->in_eof) {
        if (budget-- <= 0) {
            more = 1;
            break;
        }
        if (len == cap) {
            /* A partial frame fills its node: double it (see above). */
            bigger = keep_input(ws, buf, len,
                                input_room(len, frame_size(buf, len)));
            if (node)
                apr_allocator_free(in_alloc, node);
            node = bigger;
            if (!node)
                break;
            buf = (unsigned char *)node->first_avail;
            cap = node_cap(node);
        }
        rv = ap_get_brigade(ws->c->input_filters, ws->inbb, AP_MODE_READBYTES,
                            APR_NONBLOCK_READ, cap - len);
        if (APR_STATUS_IS_EAGAIN(rv)) {
            apr_brigade_cleanup(ws->inbb);
            break;
        }
        if (rv != APR_SUCCESS) {
            apr_brigade_cleanup(ws->inbb);
            socketio_ws_lost(ws, rv, APR_STATUS_IS_EOF(rv)
                                         ? "closed by the client"
                                         : "read failed");
            break;
        }
        eof = ws_take_input(ws, buf, &len, cap - len, &got);
        if (got) {
            used = ws_parse(ws, buf, len);
            if (used) {
                memmove(buf, buf + used, len - used);
                len -= used;
            }
            if (node && len == 0) {
                apr_allocator_free(in_alloc, node);
                node = NULL;
                buf = scratch;
                cap = scap;
            }
            need = frame_size(buf, len);
            if (!ws->closed && need > cap && !node) {
                /* The frame under way is bigger than scratch. */
                bigger = keep_input(ws, buf, len, input_room(len, need));
                if (node)
                    apr_allocator_free(in_alloc, node);
                node = bigger;
                if (!node)
                    break;
                buf = (unsigned char *)node->first_avail;
                cap = node_cap(node);
            }
        }
        if (eof && ws->relay_wait) {
            /* The messages before the end go first. */
            ws->in_eof = 1;
            break;
        }
        if (eof) {
            socketio_ws_lost(ws, APR_EOF, "closed by the client");
            break;
        }
        if (!got)
            break;
    }
    if (ws->closed || len == 0) {
        if (node)
            apr_allocator_free(in_alloc, node);
        return 0;
    }
    if (!node) {
        /* Input held back for the relay queue is kept as it is. */
        node = keep_input(ws, buf, len,
                          ws->relay_wait ? len
                                         : input_room(len,
                                                      frame_size(buf, len)));
        if (!node)
            return 0;
    }
    ws->in_node = node;
    ws->in_len = len;
    return more;
}

/* ---- frames from siod --------------------------------------------- */

/* See socketio_wsconn.h. */
void socketio_ws_siod_frame(socketio_ws *ws, const sio_relay_frame *f)
{
    int code;

    switch (f->type) {
    case SIO_R_WS_SEND:
        if (!ws->closed)
            socketio_ws_queue_msg(ws, (f->flags & SIO_RF_BINARY)
                                          ? SIO_WS_BINARY : SIO_WS_TEXT,
                                  f->body, f->len,
                                  (f->flags & SIO_RF_VOLATILE) != 0);
        return;
    case SIO_R_WS_CLOSE:
        code = f->status >= 1000 && f->status <= 4999 ? f->status
                                                      : SIO_WS_CLOSE_NORMAL;
        socketio_ws_close(ws, code, "", code);
        return;
    default:
        ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, ws->c,
                      "mod_socketio: ignoring %s from siod on a WebSocket",
                      sio_relay_type_name(f->type));
    }
}

/* See socketio_wsconn.h. */
void socketio_ws_finish(socketio_ws *ws)
{
    if (ws->finished)
        return;
    ws->finished = 1;
    if (ws->on_reactor)
        socketio_waiter_reactor_send(ws->w, SIO_R_WS_CLOSED, 0,
                                     ws->close_code ? ws->close_code
                                                    : SIO_WS_CLOSE_ABNORMAL,
                                     ws->sid, NULL, 0, 1);
    else
        socketio_waiter_send(ws->w, SIO_R_WS_CLOSED, 0,
                             ws->close_code ? ws->close_code
                                            : SIO_WS_CLOSE_ABNORMAL,
                             ws->sid, NULL, 0);
    socketio_waiter_destroy(ws->w);
    ws->w = NULL;
    if (ws->in_node)
        apr_allocator_free(in_alloc, ws->in_node);
    ws->in_node = NULL;
    msg_free(ws);
    ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, ws->c,
                  "mod_socketio: WebSocket %.*s closed (%d, %" APR_SIZE_T_FMT
                  " volatile message(s) dropped)", SIO_SID_LEN,
                  ws->sid, ws->close_code, ws->vol_dropped);
}

/* Frees the input memory if the WebSocket ends without finishing (the
 * pool holding it goes). */
static apr_status_t ws_cleanup(void *data)
{
    socketio_ws *ws = data;

    if (ws->in_node)
        apr_allocator_free(in_alloc, ws->in_node);
    ws->in_node = NULL;
    msg_free(ws);
    return APR_SUCCESS;
}

/* ---- the handshake ------------------------------------------------ */

/* Returns 1 if the RFC 6455 request headers are acceptable; else answers
 * (400) and returns 0 with *status set. */
static int ws_valid_request(socketio_req *sr, const char **key, int *status)
{
    request_rec *r = sr->r;
    const char *up = apr_table_get(r->headers_in, "Upgrade");
    const char *ver = apr_table_get(r->headers_in, "Sec-WebSocket-Version");
    const char *k = apr_table_get(r->headers_in, "Sec-WebSocket-Key");
    unsigned char raw[24];
    size_t rawlen;

    if (r->connection->master) {
        /* HTTP/2 WebSockets (RFC 8441) are not served: the client stays on
         * long-polling. */
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      "mod_socketio: WebSocket over HTTP/2 not supported");
        *status = socketio_respond_error(sr, SOCKETIO_ERR_BAD_REQUEST);
        return 0;
    }
    if (strcmp(r->method, "GET") != 0) {
        *status = socketio_respond_error(sr, SOCKETIO_ERR_BAD_HANDSHAKE_METHOD);
        return 0;
    }
    if (r->proto_num < HTTP_VERSION(1, 1) || !up ||
        !ap_find_token(r->pool, up, "websocket") ||
        !k || strlen(k) != 24 ||
        sio_base64_decode(raw, k, 24, &rawlen) != SIO_OK || rawlen != 16) {
        *status = socketio_respond_error(sr, SOCKETIO_ERR_BAD_REQUEST);
        return 0;
    }
    if (!ver || strcmp(ver, "13") != 0) {
        apr_table_setn(r->headers_out, "Sec-WebSocket-Version", "13");
        *status = socketio_respond_error(sr, SOCKETIO_ERR_BAD_REQUEST);
        return 0;
    }
    *key = k;
    return 1;
}

static const char *ws_accept_key(apr_pool_t *p, const char *key)
{
    unsigned char digest[APR_SHA1_DIGESTSIZE];
    apr_sha1_ctx_t ctx;
    char *out;

    apr_sha1_init(&ctx);
    apr_sha1_update(&ctx, key, (unsigned int)strlen(key));
    apr_sha1_update(&ctx, WS_GUID, (unsigned int)strlen(WS_GUID));
    apr_sha1_final(digest, &ctx);
    out = apr_palloc(p, apr_base64_encode_len(APR_SHA1_DIGESTSIZE));
    apr_base64_encode(out, (const char *)digest, APR_SHA1_DIGESTSIZE);
    return out;
}

/* Sends 101 and turns the connection into a WebSocket. Returns 0, or -1
 * when the client is already gone. */
static int ws_switch(socketio_ws *ws, const char *key)
{
    request_rec *r = ws->r;
    conn_rec *c = ws->c;

    /* A bidirectional stream would trip mod_reqtimeout's limits. */
    ap_remove_input_filter_byhandle(c->input_filters, "reqtimeout");
    r->status = HTTP_SWITCHING_PROTOCOLS;
    r->status_line = NULL;
    apr_table_clear(r->headers_out);
    apr_table_setn(r->headers_out, "Upgrade", "websocket");
    apr_table_setn(r->headers_out, "Connection", "Upgrade");
    apr_table_setn(r->headers_out, "Sec-WebSocket-Accept",
                   ws_accept_key(r->pool, key));
    socketio_cors_headers(&ws->sr->cors, r->headers_out);
    ap_send_interim_response(r, 1);
    c->keepalive = AP_CONN_CLOSE;
    /* mod_ssl would hold small frames back until a later write. */
    ap_remove_output_filter_byhandle(c->output_filters,
                                     "SSL/TLS Coalescing Filter");
    /* From now on only connection filters apply (no HTTP framing at the
     * end of the request). */
    r->input_filters = r->proto_input_filters = c->input_filters;
    r->output_filters = r->proto_output_filters = c->output_filters;
    return c->aborted ? -1 : 0;
}

/* Creates the WebSocket's state in pool: r->pool for a WebSocket that
 * holds its thread; c->pool for one the reactor takes, which finishes the
 * request (and frees r->pool) soon after the hand-off. No subpool: every
 * pool costs at least one 8 KB allocator node. */
static socketio_ws *ws_create(socketio_req *sr, apr_pool_t *pool)
{
    request_rec *r = sr->r;
    socketio_ws *ws = apr_pcalloc(pool, sizeof(*ws));

    ws->sr = sr;
    ws->r = r;
    ws->c = r->connection;
    ws->max_payload = (apr_size_t)sr->max_payload;
    ws->inbb = apr_brigade_create(pool, ws->c->bucket_alloc);
    ws->outbb = apr_brigade_create(pool, ws->c->bucket_alloc);
    ws->out_alloc = ws->c->bucket_alloc;
    ws->client_fd = socketio_req_client_fd(ws->c);
    sio_ws_parser_init(&ws->parser, 1, ws->max_payload);
    apr_pool_cleanup_register(pool, ws, ws_cleanup, apr_pool_cleanup_null);
    return ws;
}

/* See the header. */
int socketio_ws_available(conn_rec *c)
{
    return socketio_reactor_running() || socketio_ws_thread_cap() > 0;
}

/* Over the thread cap: 503, so a client upgrading from polling stays on
 * polling and a WebSocket-only client gets an error. */
static int refuse_busy(socketio_req *sr)
{
    static const char msg[] = "No WebSocket capacity left; use long-polling\n";

    sr->r->connection->keepalive = AP_CONN_CLOSE;
    return socketio_respond(sr, HTTP_SERVICE_UNAVAILABLE,
                            "text/plain; charset=UTF-8", msg,
                            sizeof(msg) - 1);
}

/* See the header. */
int socketio_ws_handle(socketio_req *sr)
{
    request_rec *r = sr->r;
    socketio_frame *f = NULL;
    const char *key = NULL;
    struct iovec iov;
    apr_size_t len;
    apr_status_t rv;
    socketio_ws *ws;
    int status, reactor;

    if (!ws_valid_request(sr, &key, &status))
        return status;
    reactor = socketio_reactor_accepts(r->connection);
    if (!reactor && !socketio_ws_thread_acquire(r))
        return refuse_busy(sr);
    ws = ws_create(sr, reactor ? r->connection->pool : r->pool);
    if (ws->client_fd < 0) {
        static socketio_log_throttle setup_log;
        apr_uint32_t n;
        int level = socketio_log_level(&setup_log, APLOG_ERR, &n);

        ap_log_rerror(APLOG_MARK, level, 0, r,
                      "mod_socketio: cannot set up a WebSocket%s",
                      socketio_log_dropped_note(r->pool, n));
        return socketio_respond(sr, HTTP_INTERNAL_SERVER_ERROR, NULL, NULL, 0);
    }
    r->connection->keepalive = AP_CONN_CLOSE;
    rv = socketio_waiter_create(sr->sconf->link,
                                reactor ? r->connection->pool : r->pool,
                                socketio_config_ws_queue(sr->dconf) +
                                WS_WAITER_SLACK, &ws->w);
    if (rv != APR_SUCCESS)
        return socketio_respond_unavailable(sr);
    iov.iov_base = socketio_req_info(sr, r->pool, &len);
    iov.iov_len = len;
    if (sr->sid)
        rv = socketio_waiter_send(ws->w, SIO_R_UPGRADE, 0, 0, sr->sid, &iov, 1);
    else
        rv = socketio_waiter_send(ws->w, SIO_R_OPEN, SIO_RF_WEBSOCKET, 0, NULL,
                                  &iov, 1);
    if (rv == APR_SUCCESS)
        rv = socketio_waiter_wait(ws->w,
                                  socketio_config_reply_timeout(sr->sconf),
                                  ws->client_fd, &f);
    if (rv != APR_SUCCESS) {
        status = rv == APR_ECONNRESET || rv == SOCKETIO_EMSGSIZE
                     ? socketio_respond_unavailable(sr)
                     : socketio_respond_wait_error(sr, ws->w, rv);
        socketio_waiter_destroy(ws->w);
        return status;
    }
    if (f->f.type != SIO_R_WS_ACCEPT) {
        status = socketio_respond_frame(sr, &f->f);
        socketio_frame_release(f);
        socketio_waiter_destroy(ws->w);
        return status;
    }
    memcpy(ws->sid, f->f.sid, SIO_SID_LEN);
    socketio_frame_release(f);

    if (ws_switch(ws, key) != 0) {
        socketio_ws_lost(ws, APR_ECONNABORTED,
                         "client left during the handshake");
    } else if (reactor) {
        ws->out_limit = socketio_config_ws_queue(sr->dconf);
        return socketio_reactor_handoff(ws);
    } else {
        socketio_ws_thread_run(ws);
    }
    socketio_ws_finish(ws);
    return DONE;
}
