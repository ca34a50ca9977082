/* The queue of frames a WebSocket sends to its client (ws->outbb): frames
 * written at once through the driver's direct writer while nothing is
 * queued, what the queued output really holds in memory, chunks that
 * small frames share, volatile frames dropped first when the queue is at
 * its bound, and the fan-out blocks the reactor shares between
 * WebSockets, compressed once for those that agreed permessage-deflate.
 * Only the thread that owns the WebSocket; called by socketio_wsconn.c
 * and by the drivers, calls no other file of ws/ but the compressor
 * (socketio_ws_zlib.c; the direct writer is the driver's, called through
 * ws->write_now). */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "apr_buckets.h"

#include "sio_relay.h"
#include "sio_ws.h"
#include "socketio_ws_zlib.h"
#include "socketio_wsconn.h"

APLOG_USE_MODULE(socketio);

/* ---- writing to the client ---------------------------------------- */

/* Written at once. A client that takes what it is sent costs no queue
 * memory: while its queue is empty, a frame for it alone goes straight to
 * the socket from siod's bytes in the link's buffer, and only what the
 * socket does not take is queued (copied). A frame begun that way is
 * never dropped nor held to the bound below: the client has its first
 * bytes. Nor may it lack memory for its rest, which would leave the
 * client with half a frame and no close code it can read: only a frame up
 * to DIRECT_MAX is begun so; a bigger one is queued whole first.
 * Fan-out messages are not written one by one: each recipient's queue
 * gets a bucket on the message's shared block (no copy), and the driver
 * writes all that a turn of its loop queued in one go, then calls
 * socketio_ws_settle, which copies into the chunks what is left of the
 * small ones, so that no client holds a shared block between turns for
 * less than it costs.
 *
 * What queued output really holds. ws->out_bytes counts memory, not
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
#define DIRECT_MAX (64 * 1024)       /* largest frame begun unreserved */

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

/* Writes the frame made of a then b (an + bn bytes) at once when nothing
 * is queued and the driver gave a direct writer. Returns the bytes
 * written: 0 when none were (or the client is lost). */
static apr_size_t write_now(socketio_ws *ws, const void *a, apr_size_t an,
                            const void *b, apr_size_t bn)
{
    struct iovec vec[2];
    int n = 0;

    if (!ws->write_now || !APR_BRIGADE_EMPTY(ws->outbb))
        return 0;
    vec[n].iov_base = (void *)a;
    vec[n++].iov_len = an;
    if (bn) {
        vec[n].iov_base = (void *)b;
        vec[n++].iov_len = bn;
    }
    return ws->write_now(ws->write_ctx, vec, n);
}

/* Queues what is left of the frame made of a then b, of which sent bytes
 * (fewer than all) were written: copied into the chunks, counted, but
 * neither dropped nor held to the bound, since the client has its start.
 * Out of memory sets ws->oom. */
static void queue_rest(socketio_ws *ws, const char *a, apr_size_t an,
                       const char *b, apr_size_t bn, apr_size_t sent)
{
    if (sent < an) {
        a += sent;
        an -= sent;
    } else {
        b += sent - an;
        bn -= sent - an;
        an = 0;
    }
    append(ws, a, an, b, bn);
}

/* Frees a volatile frame's bytes; as a heap bucket's free function it is
 * what marks the frame volatile. */
static void vol_free(void *data)
{
    apr_bucket_free(data);
}

/* A fan-out message's queued frame: one reference-counted block (WebSocket
 * header and payload) shared by the heap buckets of the recipients that
 * queue it. The count is not atomic: one thread (the reactor) queues and
 * writes them all. */
struct socketio_ws_fan_block {
    apr_size_t refs;
    apr_size_t len;
};

#define FAN_HDR APR_ALIGN_DEFAULT(sizeof(socketio_ws_fan_block))
/* A fan-out message up to this long is copied into each recipient's
 * queue rather than shared through a bucket of its own: the bucket would
 * cost more than the copy. */
#define FAN_COPY_MAX 1024

static void fan_unref(void *data)
{
    socketio_ws_fan_block *b =
        (socketio_ws_fan_block *)((char *)data - FAN_HDR);

    if (--b->refs == 0)
        apr_bucket_free(b);
}

/* The free function of a shared fan-out bucket whose frame is volatile:
 * as fan_unref, and it is what marks the frame volatile. */
static void fan_vol_free(void *data)
{
    fan_unref(data);
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
    return (h->free_func == vol_free || h->free_func == fan_vol_free) &&
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
    apr_size_t hl = sio_ws_write_header(hdr, 1, opcode, len, NULL), sent;
    char *buf;

    if (socketio_ws_is_lost(ws))
        return;
    sent = hl + len <= DIRECT_MAX ? write_now(ws, hdr, hl, payload, len) : 0;
    if (sent == hl + len || socketio_ws_is_lost(ws))
        return;
    if (sent) {
        queue_rest(ws, (char *)hdr, hl, payload, len, sent);
        return;
    }
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

/* Queues bucket b (made on ws->c->bucket_alloc) holding len bytes of one
 * whole frame; same bound as socketio_ws_queue_msg (b is destroyed when
 * dropped). volatile_ says b's frame is volatile (b's free function is
 * then fan_vol_free). */
static void queue_bucket(socketio_ws *ws, apr_bucket *b, apr_size_t len,
                         int volatile_)
{
    if (!make_room(ws, len + BUCKET_COST, volatile_)) {
        apr_bucket_destroy(b);
        return;
    }
    APR_BRIGADE_INSERT_TAIL(ws->outbb, b);
    ws->out_bytes += len + BUCKET_COST;
}

/* Sets frame fr to msg[0..len) with opcode (SIO_WS_RSV1 for a
 * compressed one), no block yet. */
static void fan_frame(socketio_ws_fan_frame *fr, int opcode,
                      const unsigned char *msg, apr_size_t len)
{
    fr->msg = msg;
    fr->len = len;
    fr->hl = sio_ws_write_header(fr->hdr, 1, opcode, len, NULL);
    fr->no_memory = 0;
    fr->block = NULL;
}

/* See socketio_wsconn.h. */
void socketio_ws_fan_begin(socketio_ws_fan *fan, apr_bucket_alloc_t *ba,
                           int flags, const unsigned char *msg,
                           apr_size_t len)
{
    fan->opcode = (flags & SIO_RF_BINARY) ? SIO_WS_BINARY : SIO_WS_TEXT;
    fan_frame(&fan->plain, fan->opcode, msg, len);
    fan->zipped.block = NULL;
    fan->zipped_state = 0;
    fan->volatile_ = (flags & SIO_RF_VOLATILE) != 0;
    fan->ba = ba;
}

/* Makes the block holding a copy of frame fr of fan (header, then
 * payload), if it has none. Returns it; NULL out of memory. */
static socketio_ws_fan_block *fan_block(socketio_ws_fan *fan,
                                        socketio_ws_fan_frame *fr)
{
    socketio_ws_fan_block *b = fr->block;

    if (b || fr->no_memory)
        return b;
    b = apr_bucket_alloc(FAN_HDR + fr->hl + fr->len, fan->ba);
    if (!b) {
        fr->no_memory = 1;
        return NULL;
    }
    b->refs = 1;
    b->len = fr->hl + fr->len;
    memcpy((char *)b + FAN_HDR, fr->hdr, fr->hl);
    if (fr->len)
        memcpy((char *)b + FAN_HDR + fr->hl, fr->msg, fr->len);
    fr->block = b;
    return b;
}

/* The compressed form of fan, made once (compressed by the caller's
 * compressor, then copied into its own block at once, for the
 * compressor's buffer serves the next message). NULL when it cannot be
 * made: the recipient gets the plain form. */
static socketio_ws_fan_frame *fan_zipped(socketio_ws *ws, socketio_ws_fan *fan)
{
    socketio_ws_fan_frame *fr = &fan->zipped;
    const unsigned char *z = NULL;
    apr_size_t zl = 0;
    socketio_wsz *zc;
    int ok;

    if (fan->zipped_state == 0) {
        zc = socketio_wsz_acquire(ws->on_reactor);
        ok = zc && socketio_wsz_deflate(zc, fan->plain.msg, fan->plain.len,
                                        &z, &zl) == 0;
        if (ok) {
            fan_frame(fr, fan->opcode | SIO_WS_RSV1, z, zl);
            ok = fan_block(fan, fr) != NULL;
            if (ok)
                fr->msg = (unsigned char *)fr->block + FAN_HDR + fr->hl;
        }
        socketio_wsz_release(zc);
        fan->zipped_state = ok ? 1 : -1;
    }
    return fan->zipped_state == 1 ? fr : NULL;
}

/* See socketio_wsconn.h. The frame shares the block (made on first
 * use) through a bucket, but a small one that is not volatile for a
 * client that had frames waiting before this turn of the driver's loop is
 * copied into the chunks at once, as socketio_ws_settle would. A client
 * that agreed permessage-deflate gets the compressed form of a message
 * of its threshold or more. */
void socketio_ws_fan_send(socketio_ws *ws, socketio_ws_fan *fan)
{
    socketio_ws_fan_frame *fr = &fan->plain;
    apr_size_t total;
    int small;
    socketio_ws_fan_block *b;
    apr_bucket *bk;

    if (socketio_ws_is_closed(ws))
        return;
    if (ws->pmd && fan->plain.len >= ws->compress_min) {
        socketio_ws_fan_frame *z = fan_zipped(ws, fan);

        if (z)
            fr = z;
    }
    total = fr->hl + fr->len;
    small = !fan->volatile_ && total <= FAN_COPY_MAX;
    if (small && !APR_BRIGADE_EMPTY(ws->outbb) && !ws->fan_fresh) {
        if (make_room(ws, append_cost(ws, total), 0))
            append(ws, fr->hdr, fr->hl, fr->msg, fr->len);
        return;
    }
    if (!(b = fan_block(fan, fr))) {
        if (!fan->volatile_)
            ws->oom = 1;
        return;
    }
    b->refs++;
    bk = apr_bucket_heap_create((char *)b + FAN_HDR, b->len,
                                fan->volatile_ ? fan_vol_free : fan_unref,
                                ws->c->bucket_alloc);
    queue_bucket(ws, bk, b->len, fan->volatile_);
    if (small)
        ws->fan_fresh = 1;
}

/* Is b (a piece of) a small fan-out frame that is not volatile, sharing
 * its block? */
static int small_shared(const apr_bucket *b)
{
    const apr_bucket_heap *h;

    if (!APR_BUCKET_IS_HEAP(b))
        return 0;
    h = b->data;
    return h->free_func == fan_unref && h->alloc_len <= FAN_COPY_MAX;
}

/* See socketio_wsconn.h. */
void socketio_ws_settle(socketio_ws *ws, apr_bucket_brigade *tmp)
{
    apr_bucket *b;
    const char *data;
    apr_size_t len, c;

    if (!ws->fan_fresh)
        return;
    ws->fan_fresh = 0;
    if (APR_BRIGADE_EMPTY(ws->outbb))
        return;
    APR_BRIGADE_CONCAT(tmp, ws->outbb);
    while (!APR_BRIGADE_EMPTY(tmp)) {
        b = APR_BRIGADE_FIRST(tmp);
        if (!small_shared(b) || ws->oom) {
            APR_BUCKET_REMOVE(b);
            APR_BRIGADE_INSERT_TAIL(ws->outbb, b);
            continue;
        }
        c = piece_cost(b);
        ws->out_bytes -= c < ws->out_bytes ? c : ws->out_bytes;
        if (apr_bucket_read(b, &data, &len, APR_BLOCK_READ) == APR_SUCCESS)
            append(ws, data, len, NULL, 0);
        else
            ws->oom = 1;
        apr_bucket_delete(b);
    }
    /* Now held at what they cost: over the bound, the volatile ones go
     * first, else the client is closed (as when they came). */
    make_room(ws, 0, 0);
}

/* See socketio_wsconn.h. */
void socketio_ws_fan_end(socketio_ws_fan *fan)
{
    if (fan->plain.block)
        fan_unref((char *)fan->plain.block + FAN_HDR);
    if (fan->zipped_state == 1 && fan->zipped.block)
        fan_unref((char *)fan->zipped.block + FAN_HDR);
    fan->plain.block = fan->zipped.block = NULL;
}
