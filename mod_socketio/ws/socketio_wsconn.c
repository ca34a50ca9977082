/* One WebSocket connection (RFC 6455), shared by both drivers: client
 * frames are parsed with sio_ws_parser and each whole message goes to
 * siod as WS_MSG; pings are answered, a close is echoed; siod's
 * WS_SEND/WS_CLOSE become frames queued for the client; the close policy
 * (socketio_ws_close, _lost, _finish) and the input memory. The functions
 * never wait for the client: the reactor (socketio_reactor*.c, mpm_event)
 * or the worker thread (socketio_ws_thread.c) writes the queued frames and
 * waits for events; only the thread that owns the WebSocket calls them.
 * Calls socketio_ws_out.c (the output queue) and link/ (the waiter); no
 * other file of ws/. */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_connection.h"
#include "http_core.h"
#include "http_log.h"
#include "util_filter.h"
#include "apr_atomic.h"
#include "apr_buckets.h"
#include "apr_thread_mutex.h"

#include "sio_be.h"
#include "sio_relay.h"
#include "sio_utf8.h"
#include "sio_ws.h"
#include "socketio_core.h"
#include "socketio_link.h"
#include "socketio_ws.h"
#include "socketio_ws_zlib.h"
#include "socketio_wsconn.h"

APLOG_USE_MODULE(socketio);

/* Memory the input allocator keeps for reuse. */
#define WS_IN_MAX_FREE (4 * 1024 * 1024)
/* Smallest buffer for a partial frame (the allocator's smallest node). */
#define IN_MIN_NODE (8 * 1024)

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

/* See socketio_ws.h. */
void socketio_ws_child_init(apr_pool_t *pchild)
{
    apr_thread_mutex_t *m;

    socketio_wsz_child_init(pchild);
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

/* ---- the WebSocket's state ---------------------------------------- */

static const char *const state_names[] = {
    "handshake", "open", "closing", "lost", "finished"
};

/* Moves ws forward to state to (a state it has passed is kept), logging
 * old -> new and why at trace1. The one place ws->state changes. */
static void transit(socketio_ws *ws, socketio_ws_state to, const char *why)
{
    if (to <= ws->state)
        return;
    ap_log_cerror(APLOG_MARK, APLOG_TRACE1, 0, ws->c,
                  "mod_socketio: WebSocket %.*s: %s -> %s (%s)", SIO_SID_LEN,
                  ws->sid, state_names[ws->state], state_names[to],
                  why ? why : "");
    ws->state = to;
}

/* See socketio_wsconn.h. */
void socketio_ws_opened(socketio_ws *ws)
{
    transit(ws, SOCKETIO_WS_OPEN, "101 sent");
}

/* See socketio_wsconn.h. */
void socketio_ws_close(socketio_ws *ws, int code, const char *reason,
                       int report)
{
    unsigned char payload[SIO_WS_MAX_CONTROL];
    apr_size_t len;

    if (socketio_ws_is_closed(ws))
        return;
    transit(ws, SOCKETIO_WS_CLOSING, reason && *reason ? reason : "close");
    ws->close_code = report;
    if (code == SIO_WS_CLOSE_ABNORMAL)
        return;
    len = code == SIO_WS_CLOSE_NO_STATUS
              ? 0 : sio_ws_close_payload(payload, (uint16_t)code, reason);
    /* The close frame always fits: the bound is for messages. */
    ws->out_limit = 0;
    socketio_ws_queue(ws, SIO_WS_CLOSE, payload, len);
}

/* ---- held across a restart of siod -------------------------------- */

/* The child's held WebSockets, and those of them closed at the time-out
 * since the count was last zero (both drivers, any thread). */
static volatile apr_uint32_t held_now;
static volatile apr_uint32_t held_expired;

/* Holds ws for the next siod (status: the code to close with if none
 * takes it back). Not reading the client from now on keeps its memory
 * as it is: what it sends waits in the kernel. */
static void ws_hold(socketio_ws *ws, int status, const char *why)
{
    if (ws->held || socketio_ws_is_closed(ws))
        return;
    ws->held = 1;
    ws->held_status = status >= 1000 && status <= 4999
                          ? status : SOCKETIO_WS_CLOSE_SERVICE_RESTART;
    ws->held_until = apr_time_now() +
                     socketio_config_handover_timeout(ws->sconf);
    apr_atomic_inc32(&held_now);
    ap_log_cerror(APLOG_MARK, APLOG_TRACE1, 0, ws->c,
                  "mod_socketio: WebSocket %.*s held for the next siod (%s)",
                  SIO_SID_LEN, ws->sid, why);
}

/* ws waits for a siod no more (taken back, or finished); the last of the
 * child's held WebSockets logs how many were closed at the time-out. */
static void ws_unhold(socketio_ws *ws)
{
    apr_uint32_t n;

    if (!ws->held)
        return;
    ws->held = 0;
    if (apr_atomic_dec32(&held_now) != 0)
        return;
    n = apr_atomic_xchg32(&held_expired, 0);
    if (n)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ws->c->base_server,
                     "mod_socketio: %u WebSocket(s) held across a restart "
                     "of siod closed: no siod took them back within "
                     "SocketIOHandoverTimeout", n);
}

/* See socketio_ws.h. */
unsigned socketio_ws_held_now(void)
{
    return apr_atomic_read32(&held_now);
}

/* See socketio_wsconn.h. */
void socketio_ws_hold_expired(socketio_ws *ws)
{
    if (!socketio_ws_is_held(ws))
        return;
    apr_atomic_inc32(&held_expired);
    socketio_ws_close(ws, ws->held_status, "Service restart",
                      ws->held_status);
}

/* See socketio_wsconn.h. */
int socketio_ws_try_resume(socketio_ws *ws)
{
    apr_status_t rv;

    if (!socketio_ws_is_held(ws))
        return 1;
    rv = socketio_waiter_rebind(ws->w);
    if (APR_STATUS_IS_EAGAIN(rv))
        return 0;
    if (rv == APR_SUCCESS) {
        /* First on the new link for this conn: the client's messages,
         * read from now on, follow it. */
        rv = ws->on_reactor
                 ? socketio_waiter_reactor_send(ws->w, SIO_R_WS_RESUME, 0, 0,
                                                ws->sid, NULL, 0, 1)
                 : socketio_waiter_send(ws->w, SIO_R_WS_RESUME, 0, 0,
                                        ws->sid, NULL, 0);
        if (rv == APR_SUCCESS) {
            ap_log_cerror(APLOG_MARK, APLOG_TRACE1, 0, ws->c,
                          "mod_socketio: WebSocket %.*s handed to the new "
                          "siod (WS_RESUME)", SIO_SID_LEN, ws->sid);
            ws_unhold(ws);
            return 1;
        }
    }
    ap_log_cerror(APLOG_MARK, APLOG_DEBUG, rv, ws->c,
                  "mod_socketio: WebSocket %.*s held for the next siod: %s; "
                  "closing it (%d)", SIO_SID_LEN, ws->sid,
                  rv == APR_ENOTIMPL ? "that siod does not take WebSockets "
                                       "back"
                                     : "the new relay link failed",
                  ws->held_status);
    /* Still held: no siod is told of its close. */
    socketio_ws_close(ws, ws->held_status, "Service restart",
                      ws->held_status);
    return 1;
}

/* See socketio_wsconn.h. */
void socketio_ws_lost(socketio_ws *ws, apr_status_t rv, const char *what)
{
    ap_log_cerror(APLOG_MARK, APLOG_DEBUG, rv, ws->c,
                  "mod_socketio: WebSocket %s", what);
    /* Gone without a close: siod hears 1006. */
    if (!socketio_ws_is_closed(ws))
        ws->close_code = SIO_WS_CLOSE_ABNORMAL;
    transit(ws, SOCKETIO_WS_LOST, what);
    apr_brigade_cleanup(ws->outbb);
    ws->out_bytes = 0;
}

/* ---- messages to siod --------------------------------------------- */

/* Has the link held ws's waiter (WS_CLOSE with SIO_RF_KEEP) before this
 * WebSocket's thread took that frame? Then holds ws too. Returns 1 if ws
 * is held. */
static int held_by_link(socketio_ws *ws)
{
    int status;

    if (!ws->held && socketio_waiter_held(ws->w, &status))
        ws_hold(ws, status, "its relay link dropped");
    return ws->held;
}

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
    else if (rv == APR_ECONNRESET && held_by_link(ws))
        ;   /* dropped, as the stopping siod drops what reaches it now */
    else if (rv != APR_SUCCESS)
        socketio_ws_close(ws, SIO_WS_CLOSE_INTERNAL,
                          "Socket.IO daemon unavailable",
                          SIO_WS_CLOSE_INTERNAL);
}

/* Sends the client's message data[0..len) on to siod, inflated first
 * when it came compressed: the inflated size is held to SocketIOMaxPayload
 * (1009 past it), bad deflate data or text that is not UTF-8 once
 * inflated closes with 1007. */
static void ws_deliver(socketio_ws *ws, const unsigned char *data,
                       apr_size_t len, int binary, int compressed)
{
    const unsigned char *out;
    apr_size_t olen;
    socketio_wsz *z;
    int rc;

    if (!compressed) {
        ws_send_msg(ws, data, len, binary);
        return;
    }
    if (!(z = socketio_wsz_acquire(ws->on_reactor))) {
        socketio_ws_close(ws, SIO_WS_CLOSE_INTERNAL, "Out of memory",
                          SIO_WS_CLOSE_INTERNAL);
        return;
    }
    rc = socketio_wsz_inflate(z, data, len, ws->max_payload, &out, &olen);
    if (rc == 0 && !binary && !sio_utf8_valid(out, olen))
        rc = SOCKETIO_WSZ_BAD;
    if (rc == 0)
        ws_send_msg(ws, out, olen, binary);
    socketio_wsz_release(z);
    if (rc == SOCKETIO_WSZ_TOOBIG)
        socketio_ws_close(ws, SIO_WS_CLOSE_TOO_BIG, "Message too big",
                          SIO_WS_CLOSE_TOO_BIG);
    else if (rc == SOCKETIO_WSZ_BAD)
        socketio_ws_close(ws, SIO_WS_CLOSE_BAD_DATA, "Invalid compressed "
                          "message", SIO_WS_CLOSE_BAD_DATA);
    else if (rc != 0)
        socketio_ws_close(ws, SIO_WS_CLOSE_INTERNAL, "Out of memory",
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
    apr_size_t hdr = 2;

    if (len < 2)
        return 0;
    plen = buf[1] & 0x7f;
    if (plen == 126) {
        if (len < 4)
            return 0;
        plen = sio_be16_get(buf + 2);
        hdr = 4;
    } else if (plen == 127) {
        if (len < 10)
            return 0;
        plen = sio_be64_get(buf + 2);
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
        ws_deliver(ws, f->payload, (apr_size_t)f->len,
                   f->message_opcode == SIO_WS_BINARY, f->compressed);
        return;
    }
    if (ws_append(ws, f->payload, (apr_size_t)f->len) != 0)
        return;
    if (f->fin) {
        ws_deliver(ws, (unsigned char *)ws->msg_node->first_avail,
                   ws->msg_len, f->message_opcode == SIO_WS_BINARY,
                   f->compressed);
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

    while (!socketio_ws_is_closed(ws) && !ws->held) {
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
        if (APR_BUCKET_IS_EOS(b) && ws->h2_body_eos) {
            /* mod_http2 ends the upgrade request's body before the
             * stream's data (h2_c2_filter_in): not the client's end. */
            ws->h2_body_eos = 0;
            continue;
        }
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

/* The input being read: in scratch, or in a node of in_alloc. */
typedef struct in_buf {
    apr_memnode_t *node;
    unsigned char *buf;
    apr_size_t len, cap;
} in_buf;

/* Parses the whole frames at the head of in and keeps the rest at its
 * start; an emptied node goes back to in_alloc (in is scratch again). */
static void parse_held(socketio_ws *ws, in_buf *in, unsigned char *scratch,
                       apr_size_t scap)
{
    apr_size_t used = ws_parse(ws, in->buf, in->len);

    if (used) {
        memmove(in->buf, in->buf + used, in->len - used);
        in->len -= used;
    }
    if (in->node && in->len == 0) {
        apr_allocator_free(in_alloc, in->node);
        in->node = NULL;
        in->buf = scratch;
        in->cap = scap;
    }
}

/* Moves in's bytes into a new node of room bytes at least. Returns 0, or
 * -1 when memory runs out (in then has no node, keep_input has closed
 * the WebSocket). */
static int grow_input(socketio_ws *ws, in_buf *in, apr_size_t room)
{
    apr_memnode_t *bigger = keep_input(ws, in->buf, in->len, room);

    if (in->node)
        apr_allocator_free(in_alloc, in->node);
    in->node = bigger;
    if (!bigger)
        return -1;
    in->buf = (unsigned char *)bigger->first_avail;
    in->cap = node_cap(bigger);
    return 0;
}

/* See socketio_wsconn.h. Input is read into scratch, or into ws->in_node
 * while a partial frame is kept; that node grows with the bytes that
 * arrive (input_room), never straight to the length the frame declares;
 * what is left unparsed when the read ends moves to a node. */
int socketio_ws_read(socketio_ws *ws, unsigned char *scratch,
                     apr_size_t cap, int budget)
{
    in_buf in;
    apr_size_t need;
    apr_status_t rv;
    int got, eof, more = 0;

    if (ws->held)
        return 0;
    in.node = ws->in_node;
    in.buf = in.node ? (unsigned char *)in.node->first_avail : scratch;
    in.len = in.node ? ws->in_len : 0;
    in.cap = in.node ? node_cap(in.node) : cap;
    ws->in_node = NULL;
    ws->in_len = 0;
    if (in.len && !socketio_ws_is_closed(ws)) {
        /* Whole frames may be waiting since the relay queue was full, or
         * since the WebSocket was held (the thread driver). */
        parse_held(ws, &in, scratch, cap);
        if (ws->in_eof && !ws->relay_wait && !socketio_ws_is_closed(ws) &&
            !ws->held)
            socketio_ws_lost(ws, APR_EOF, "closed by the client");
    }
    while (!socketio_ws_is_closed(ws) && !ws->relay_wait && !ws->in_eof &&
           !ws->held) {
        if (budget-- <= 0) {
            more = 1;
            break;
        }
        /* A partial frame fills its node: double it (see above). */
        if (in.len == in.cap &&
            grow_input(ws, &in, input_room(in.len,
                                           frame_size(in.buf, in.len))) != 0)
            break;
        rv = ap_get_brigade(ws->c->input_filters, ws->inbb, AP_MODE_READBYTES,
                            APR_NONBLOCK_READ, in.cap - in.len);
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
        eof = ws_take_input(ws, in.buf, &in.len, in.cap - in.len, &got);
        if (got) {
            parse_held(ws, &in, scratch, cap);
            need = frame_size(in.buf, in.len);
            /* The frame under way is bigger than scratch. */
            if (!socketio_ws_is_closed(ws) && need > in.cap && !in.node &&
                grow_input(ws, &in, input_room(in.len, need)) != 0)
                break;
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
    if (socketio_ws_is_closed(ws) || in.len == 0) {
        if (in.node)
            apr_allocator_free(in_alloc, in.node);
        return 0;
    }
    /* Input held back for the relay queue is kept as it is. */
    if (!in.node &&
        grow_input(ws, &in, ws->relay_wait
                                ? in.len
                                : input_room(in.len,
                                             frame_size(in.buf, in.len))) != 0)
        return 0;
    ws->in_node = in.node;
    ws->in_len = in.len;
    return more;
}

/* ---- frames from siod --------------------------------------------- */

/* Queues one message from siod for the client: compressed when the
 * client agreed permessage-deflate and the message is at the threshold
 * or over (plain if compressing fails). */
static void ws_send_client(socketio_ws *ws, int opcode,
                           const unsigned char *msg, apr_size_t len,
                           int volatile_)
{
    const unsigned char *z;
    apr_size_t zl;
    socketio_wsz *zc;

    if (ws->pmd && len >= ws->compress_min &&
        (zc = socketio_wsz_acquire(ws->on_reactor)) != NULL) {
        /* queued (copied or written) before the compressor is let go */
        if (socketio_wsz_deflate(zc, msg, len, &z, &zl) == 0) {
            socketio_ws_queue_msg(ws, opcode | SIO_WS_RSV1, z, zl,
                                  volatile_);
            socketio_wsz_release(zc);
            return;
        }
        socketio_wsz_release(zc);
    }
    socketio_ws_queue_msg(ws, opcode, msg, len, volatile_);
}

/* See socketio_wsconn.h. */
void socketio_ws_siod_frame(socketio_ws *ws, const sio_relay_frame *f)
{
    int code;

    switch (f->type) {
    case SIO_R_WS_SEND:
        if (!socketio_ws_is_closed(ws))
            ws_send_client(ws, (f->flags & SIO_RF_BINARY) ? SIO_WS_BINARY
                                                          : SIO_WS_TEXT,
                           f->body, f->len,
                           (f->flags & SIO_RF_VOLATILE) != 0);
        return;
    case SIO_R_WS_CLOSE:
        code = f->status >= 1000 && f->status <= 4999 ? f->status
                                                      : SIO_WS_CLOSE_NORMAL;
        if ((f->flags & SIO_RF_KEEP) && socketio_waiter_held(ws->w, NULL)) {
            ws_hold(ws, code, "WS_CLOSE with SIO_RF_KEEP");
            return;
        }
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
    if (ws->state == SOCKETIO_WS_FINISHED)
        return;
    transit(ws, SOCKETIO_WS_FINISHED, ws->held ? "held, no siod to tell"
                                               : "WS_CLOSED to siod");
    if (ws->held)
        ws_unhold(ws);
    else if (ws->on_reactor)
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
static apr_status_t ws_pool_cleanup(void *data)
{
    socketio_ws *ws = data;

    if (ws->in_node)
        apr_allocator_free(in_alloc, ws->in_node);
    ws->in_node = NULL;
    msg_free(ws);
    ws_unhold(ws);
    return APR_SUCCESS;
}

/* See socketio_wsconn.h. */
socketio_ws *socketio_ws_create(request_rec *r,
                                const socketio_dir_conf *dconf,
                                const socketio_server_conf *sconf,
                                int client_fd, apr_pool_t *pool)
{
    socketio_ws *ws = apr_pcalloc(pool, sizeof(*ws));

    ws->r = r;
    ws->sconf = sconf;
    ws->c = r->connection;
    ws->max_payload = (apr_size_t)socketio_config_max_payload(dconf);
    ws->compress_min = socketio_config_ws_compress_min(dconf);
    ws->inbb = apr_brigade_create(pool, ws->c->bucket_alloc);
    ws->outbb = apr_brigade_create(pool, ws->c->bucket_alloc);
    ws->out_alloc = ws->c->bucket_alloc;
    ws->client_fd = client_fd;
    ws->h2 = ws->h2_body_eos = ws->c->master != NULL;
    sio_ws_parser_init(&ws->parser, 1, ws->max_payload);
    apr_pool_cleanup_register(pool, ws, ws_pool_cleanup,
                              apr_pool_cleanup_null);
    return ws;
}
