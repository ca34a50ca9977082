/* WebSocket transport: validates the RFC 6455 upgrade, asks siod (OPEN or
 * UPGRADE) before answering 101, then moves messages between the client
 * and siod: client frames are parsed with sio_ws_parser and each whole
 * message goes to siod as WS_MSG; siod's WS_SEND/WS_CLOSE become frames to
 * the client. The per-WebSocket state and its event functions
 * (ws_on_client_readable, ws_on_siod_wake, ws_close, ws_finish) do not
 * depend on who waits for events; here one worker thread per WebSocket
 * drives them with poll(). Only the thread that owns a WebSocket touches
 * its pools, brigades and filters. */
#include <errno.h>
#include <poll.h>
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

#include "sio_base64.h"
#include "sio_relay.h"
#include "sio_ws.h"
#include "socketio_handler.h"
#include "socketio_link.h"
#include "socketio_ws.h"

APLOG_USE_MODULE(socketio);

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_IN_DEFAULT (16 * 1024)
/* Frames from siod written per flush, and their bytes. */
#define WS_BATCH_FRAMES 32
#define WS_BATCH_BYTES (256 * 1024)
/* How often a waiting WebSocket thread looks at the MPM's state anyway. */
#define WS_POLL_MS 10000

typedef struct ws_conn {
    socketio_req *sr;
    request_rec *r;
    conn_rec *c;
    apr_pool_t *pool;          /* this WebSocket's; a subpool of r->pool */
    apr_pool_t *msgpool;       /* the fragmented message under way */
    apr_pool_t *inpool;        /* the input buffer while grown, or NULL */
    socketio_waiter *w;
    char sid[SIO_SID_LEN];
    sio_ws_parser parser;
    apr_bucket_brigade *inbb;
    apr_bucket_brigade *outbb;
    unsigned char *in_small;   /* default input buffer (pool) */
    unsigned char *in;         /* in_small or a grown one (inpool) */
    apr_size_t in_len, in_cap;
    unsigned char *msg;        /* reassembled fragments (msgpool) */
    apr_size_t msg_len, msg_cap;
    int msg_binary;
    apr_size_t max_payload;
    int client_fd;
    int closed;                /* no more I/O with the client */
    int close_code;            /* what siod is told in WS_CLOSED */
} ws_conn;

/* ---- writing to the client ---------------------------------------- */

/* Appends a frame: header and payload are copied. */
static void ws_put_copy(ws_conn *ws, int opcode, const void *payload,
                        apr_size_t len)
{
    unsigned char hdr[SIO_WS_MAX_HEADER];
    apr_size_t hl = sio_ws_write_header(hdr, 1, opcode, len, NULL);
    apr_bucket_alloc_t *ba = ws->c->bucket_alloc;

    APR_BRIGADE_INSERT_TAIL(ws->outbb,
        apr_bucket_heap_create((const char *)hdr, hl, NULL, ba));
    if (len)
        APR_BRIGADE_INSERT_TAIL(ws->outbb,
            apr_bucket_heap_create(payload, len, NULL, ba));
}

/* Appends a frame whose payload stays where it is until ws_flush. */
static void ws_put_ref(ws_conn *ws, int opcode, const void *payload,
                       apr_size_t len)
{
    unsigned char hdr[SIO_WS_MAX_HEADER];
    apr_size_t hl = sio_ws_write_header(hdr, 1, opcode, len, NULL);
    apr_bucket_alloc_t *ba = ws->c->bucket_alloc;

    APR_BRIGADE_INSERT_TAIL(ws->outbb,
        apr_bucket_heap_create((const char *)hdr, hl, NULL, ba));
    if (len)
        APR_BRIGADE_INSERT_TAIL(ws->outbb,
            apr_bucket_transient_create(payload, len, ba));
}

/* Writes what is queued (blocking, bounded by the connection's Timeout).
 * Returns APR_SUCCESS, or an error after which the client is gone. */
static apr_status_t ws_flush(ws_conn *ws)
{
    apr_status_t rv;

    if (APR_BRIGADE_EMPTY(ws->outbb))
        return APR_SUCCESS;
    APR_BRIGADE_INSERT_TAIL(ws->outbb,
                            apr_bucket_flush_create(ws->c->bucket_alloc));
    rv = ap_pass_brigade(ws->c->output_filters, ws->outbb);
    apr_brigade_cleanup(ws->outbb);
    if (rv == APR_SUCCESS && ws->c->aborted)
        rv = APR_ECONNABORTED;
    return rv;
}

/* Ends the WebSocket: sends a close frame with code (unless the client
 * is gone: code 1006 sends nothing) and records report for siod. */
static void ws_close(ws_conn *ws, int code, const char *reason, int report)
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
    ws_put_copy(ws, SIO_WS_CLOSE, payload, len);
    if (ws_flush(ws) != APR_SUCCESS)
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, ws->r,
                      "mod_socketio: close frame not delivered");
}

/* The client is gone without a close frame. */
static void ws_lost(ws_conn *ws, apr_status_t rv, const char *what)
{
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, ws->r,
                  "mod_socketio: WebSocket %s", what);
    ws_close(ws, SIO_WS_CLOSE_ABNORMAL, NULL, SIO_WS_CLOSE_ABNORMAL);
}

/* ---- messages to siod --------------------------------------------- */

static void ws_send_msg(ws_conn *ws, const unsigned char *data, apr_size_t len,
                        int binary)
{
    struct iovec iov;
    apr_status_t rv;

    iov.iov_base = (void *)data;
    iov.iov_len = len;
    rv = socketio_waiter_send(ws->w, SIO_R_WS_MSG, binary ? SIO_RF_BINARY : 0,
                              0, ws->sid, &iov, len ? 1 : 0);
    if (rv == SOCKETIO_EMSGSIZE)
        ws_close(ws, SIO_WS_CLOSE_TOO_BIG, "Message too big",
                 SIO_WS_CLOSE_TOO_BIG);
    else if (rv != APR_SUCCESS)
        ws_close(ws, SIO_WS_CLOSE_INTERNAL, "Socket.IO daemon unavailable",
                 SIO_WS_CLOSE_INTERNAL);
}

/* Appends a fragment to the message under way (msgpool, doubling). */
static void ws_append(ws_conn *ws, const unsigned char *data, apr_size_t len)
{
    apr_size_t need = ws->msg_len + len, cap;
    unsigned char *bigger;

    if (need > ws->msg_cap) {
        cap = ws->msg_cap ? ws->msg_cap : 4096;
        while (cap < need)
            cap *= 2;
        if (cap > ws->max_payload)
            cap = need > ws->max_payload ? need : ws->max_payload;
        bigger = apr_palloc(ws->msgpool, cap);
        if (ws->msg_len)
            memcpy(bigger, ws->msg, ws->msg_len);
        ws->msg = bigger;
        ws->msg_cap = cap;
    }
    if (len)
        memcpy(ws->msg + ws->msg_len, data, len);
    ws->msg_len = need;
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

/* Makes room for a frame of need bytes (input buffer in inpool). */
static void ws_grow_input(ws_conn *ws, apr_size_t need)
{
    apr_pool_t *p;
    unsigned char *buf;

    if (apr_pool_create(&p, ws->pool) != APR_SUCCESS) {
        ws_close(ws, SIO_WS_CLOSE_INTERNAL, "Out of memory",
                 SIO_WS_CLOSE_INTERNAL);
        return;
    }
    apr_pool_tag(p, "socketio_ws_input");
    buf = apr_palloc(p, need);
    memcpy(buf, ws->in, ws->in_len);
    if (ws->inpool)
        apr_pool_destroy(ws->inpool);
    ws->inpool = p;
    ws->in = buf;
    ws->in_cap = need;
}

/* Back to the default buffer once a big frame is consumed. */
static void ws_shrink_input(ws_conn *ws)
{
    if (!ws->inpool || ws->in_len > WS_IN_DEFAULT)
        return;
    memcpy(ws->in_small, ws->in, ws->in_len);
    apr_pool_destroy(ws->inpool);
    ws->inpool = NULL;
    ws->in = ws->in_small;
    ws->in_cap = WS_IN_DEFAULT;
}

static void ws_on_frame(ws_conn *ws, const sio_ws_frame *f)
{
    int code;

    switch (f->opcode) {
    case SIO_WS_PING:
        ws_put_copy(ws, SIO_WS_PONG, f->payload, (apr_size_t)f->len);
        if (ws_flush(ws) != APR_SUCCESS)
            ws_lost(ws, APR_SUCCESS, "write failed");
        return;
    case SIO_WS_PONG:
        return;
    case SIO_WS_CLOSE:
        code = sio_ws_close_payload_code(f->payload, f->len);
        /* Echo the code; an empty close is answered with an empty one. */
        ws_close(ws, code, "", code);
        return;
    default:
        break;
    }
    if (f->fin && f->opcode != SIO_WS_CONT) {
        ws_send_msg(ws, f->payload, (apr_size_t)f->len,
                    f->message_opcode == SIO_WS_BINARY);
        return;
    }
    ws_append(ws, f->payload, (apr_size_t)f->len);
    if (f->fin) {
        ws_send_msg(ws, ws->msg, ws->msg_len,
                    f->message_opcode == SIO_WS_BINARY);
        apr_pool_clear(ws->msgpool);
        ws->msg = NULL;
        ws->msg_len = ws->msg_cap = 0;
    }
}

/* Parses every whole frame in the input buffer. */
static void ws_parse_input(ws_conn *ws)
{
    apr_size_t off = 0, used, need;
    sio_ws_frame f;
    int rc;

    while (!ws->closed) {
        rc = sio_ws_parse(&ws->parser, ws->in + off, ws->in_len - off, &used,
                          &f);
        if (rc == SIO_AGAIN)
            break;
        if (rc != SIO_OK) {
            int code = sio_ws_close_code(rc);

            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, ws->r,
                          "mod_socketio: WebSocket protocol error from "
                          "client: %s", sio_strerror(rc));
            ws_close(ws, code, sio_strerror(rc), code);
            return;
        }
        ws_on_frame(ws, &f);
        off += used;
    }
    if (ws->closed)
        return;
    if (off) {
        memmove(ws->in, ws->in + off, ws->in_len - off);
        ws->in_len -= off;
    }
    ws_shrink_input(ws);
    need = frame_size(ws->in, ws->in_len);
    if (need > ws->in_cap)
        ws_grow_input(ws, need);
}

/* Event: the client socket is readable (or may hold buffered data, as
 * after the handshake). Reads until the filters have nothing more. */
static void ws_on_client_readable(ws_conn *ws)
{
    apr_bucket *b;
    apr_status_t rv;
    const char *data;
    apr_size_t len, room;
    int got, eof;

    while (!ws->closed) {
        room = ws->in_cap - ws->in_len;
        if (room == 0) {
            /* Cannot happen: the buffer always fits the next frame. */
            ws_close(ws, SIO_WS_CLOSE_INTERNAL, "Input buffer full",
                     SIO_WS_CLOSE_INTERNAL);
            return;
        }
        rv = ap_get_brigade(ws->c->input_filters, ws->inbb, AP_MODE_READBYTES,
                            APR_NONBLOCK_READ, room);
        if (APR_STATUS_IS_EAGAIN(rv)) {
            apr_brigade_cleanup(ws->inbb);
            return;
        }
        if (rv != APR_SUCCESS) {
            apr_brigade_cleanup(ws->inbb);
            ws_lost(ws, rv, APR_STATUS_IS_EOF(rv) ? "closed by the client"
                                                  : "read failed");
            return;
        }
        got = 0;
        eof = 0;
        for (b = APR_BRIGADE_FIRST(ws->inbb);
             b != APR_BRIGADE_SENTINEL(ws->inbb); b = APR_BUCKET_NEXT(b)) {
            if (APR_BUCKET_IS_EOS(b)) {
                eof = 1;
                break;
            }
            if (APR_BUCKET_IS_METADATA(b))
                continue;
            rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ);
            if (rv != APR_SUCCESS) {
                eof = 1;
                break;
            }
            if (len > ws->in_cap - ws->in_len)
                len = ws->in_cap - ws->in_len; /* READBYTES never exceeds */
            memcpy(ws->in + ws->in_len, data, len);
            ws->in_len += len;
            got = 1;
        }
        apr_brigade_cleanup(ws->inbb);
        if (got)
            ws_parse_input(ws);
        if (eof) {
            ws_lost(ws, APR_EOF, "closed by the client");
            return;
        }
        if (!got)
            return;
    }
}

/* ---- frames from siod --------------------------------------------- */

/* Event: the waiter's wake fd fired (or might have). Writes what siod
 * queued, in batches, and handles its close or the link's failure. */
static void ws_on_siod_wake(ws_conn *ws)
{
    socketio_frame *batch[WS_BATCH_FRAMES];
    socketio_frame *f;
    apr_size_t bytes = 0;
    apr_status_t rv = APR_SUCCESS, wrv;
    int n = 0, i, code;

    socketio_waiter_clear_wake(ws->w);
    while (!ws->closed) {
        rv = socketio_waiter_take(ws->w, &f);
        if (rv != APR_SUCCESS)
            break;
        if (f->f.type == SIO_R_WS_SEND) {
            ws_put_ref(ws, (f->f.flags & SIO_RF_BINARY) ? SIO_WS_BINARY
                                                         : SIO_WS_TEXT,
                       f->f.body, f->f.len);
            batch[n++] = f;
            bytes += f->f.len;
            if (n == WS_BATCH_FRAMES || bytes >= WS_BATCH_BYTES) {
                wrv = ws_flush(ws);
                for (i = 0; i < n; i++)
                    socketio_frame_release(batch[i]);
                n = 0;
                bytes = 0;
                if (wrv != APR_SUCCESS)
                    ws_lost(ws, wrv, "write failed");
            }
            continue;
        }
        if (f->f.type == SIO_R_WS_CLOSE) {
            code = f->f.status >= 1000 && f->f.status <= 4999
                       ? f->f.status : SIO_WS_CLOSE_NORMAL;
            socketio_frame_release(f);
            /* Everything queued before the close goes first. */
            wrv = ws_flush(ws);
            for (i = 0; i < n; i++)
                socketio_frame_release(batch[i]);
            n = 0;
            if (wrv != APR_SUCCESS)
                ws_lost(ws, wrv, "write failed");
            else
                ws_close(ws, code, "", code);
            return;
        }
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, ws->r,
                      "mod_socketio: ignoring %s from siod on a WebSocket",
                      sio_relay_type_name(f->f.type));
        socketio_frame_release(f);
    }
    if (n) {
        wrv = ws_flush(ws);
        for (i = 0; i < n; i++)
            socketio_frame_release(batch[i]);
        if (wrv != APR_SUCCESS)
            ws_lost(ws, wrv, "write failed");
    }
    if (ws->closed)
        return;
    if (rv == APR_ECONNRESET) {
        ws_close(ws, SIO_WS_CLOSE_INTERNAL, "Socket.IO daemon unavailable",
                 SIO_WS_CLOSE_INTERNAL);
    } else if (rv == APR_ENOSPC) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, ws->r,
                      "mod_socketio: WebSocket client too slow: its send "
                      "queue overflowed; closing it");
        ws_close(ws, SIO_WS_CLOSE_POLICY, "Send queue overflow",
                 SIO_WS_CLOSE_POLICY);
    }
}

/* Tells siod the WebSocket is gone (once the I/O is over). */
static void ws_finish(ws_conn *ws)
{
    socketio_waiter_send(ws->w, SIO_R_WS_CLOSED, 0,
                         ws->close_code ? ws->close_code
                                        : SIO_WS_CLOSE_ABNORMAL,
                         ws->sid, NULL, 0);
}

/* The thread-per-WebSocket driver. */
static void ws_run_thread(ws_conn *ws)
{
    struct pollfd pfd[2];
    int n;

    ws_on_client_readable(ws);
    while (!ws->closed) {
        ws_on_siod_wake(ws);
        if (ws->closed)
            break;
        if (socketio_link_child_is_stopping()) {
            ws_close(ws, SIO_WS_CLOSE_GOING_AWAY, "Server restarting",
                     SIO_WS_CLOSE_GOING_AWAY);
            break;
        }
        pfd[0].fd = ws->client_fd;
        pfd[0].events = POLLIN;
        pfd[0].revents = 0;
        pfd[1].fd = socketio_waiter_wakefd(ws->w);
        pfd[1].events = POLLIN;
        pfd[1].revents = 0;
        n = poll(pfd, 2, WS_POLL_MS);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            ws_close(ws, SIO_WS_CLOSE_INTERNAL, "Internal error",
                     SIO_WS_CLOSE_INTERNAL);
            break;
        }
        if (n > 0 && pfd[0].revents)
            ws_on_client_readable(ws);
    }
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
static int ws_switch(ws_conn *ws, const char *key)
{
    request_rec *r = ws->r;
    conn_rec *c = ws->c;
    const char *origin = ws->sr->cors_origin;

    /* A bidirectional stream would trip mod_reqtimeout's limits. */
    ap_remove_input_filter_byhandle(c->input_filters, "reqtimeout");
    r->status = HTTP_SWITCHING_PROTOCOLS;
    r->status_line = NULL;
    apr_table_clear(r->headers_out);
    apr_table_setn(r->headers_out, "Upgrade", "websocket");
    apr_table_setn(r->headers_out, "Connection", "Upgrade");
    apr_table_setn(r->headers_out, "Sec-WebSocket-Accept",
                   ws_accept_key(r->pool, key));
    if (ws->sr->dconf->cors_set && origin) {
        apr_table_setn(r->headers_out, "Access-Control-Allow-Origin", origin);
        if (strcmp(origin, "*") != 0)
            apr_table_setn(r->headers_out, "Access-Control-Allow-Credentials",
                           "true");
    }
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

/* Creates the WebSocket's state in a tagged subpool of r->pool. */
static ws_conn *ws_create(socketio_req *sr)
{
    request_rec *r = sr->r;
    apr_pool_t *p;
    ws_conn *ws;

    if (apr_pool_create(&p, r->pool) != APR_SUCCESS)
        return NULL;
    apr_pool_tag(p, "socketio_ws");
    ws = apr_pcalloc(p, sizeof(*ws));
    ws->sr = sr;
    ws->r = r;
    ws->c = r->connection;
    ws->pool = p;
    if (apr_pool_create(&ws->msgpool, p) != APR_SUCCESS) {
        apr_pool_destroy(p);
        return NULL;
    }
    apr_pool_tag(ws->msgpool, "socketio_ws_msg");
    ws->max_payload = (apr_size_t)sr->max_payload;
    ws->in_small = apr_palloc(p, WS_IN_DEFAULT);
    ws->in = ws->in_small;
    ws->in_cap = WS_IN_DEFAULT;
    ws->inbb = apr_brigade_create(p, ws->c->bucket_alloc);
    ws->outbb = apr_brigade_create(p, ws->c->bucket_alloc);
    ws->client_fd = socketio_req_client_fd(ws->c);
    sio_ws_parser_init(&ws->parser, 1, ws->max_payload);
    return ws;
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
    ws_conn *ws;
    int status;

    if (!ws_valid_request(sr, &key, &status))
        return status;
    if (!(ws = ws_create(sr)) || ws->client_fd < 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "mod_socketio: cannot set up a WebSocket");
        return socketio_respond(sr, HTTP_INTERNAL_SERVER_ERROR, NULL, NULL, 0);
    }
    r->connection->keepalive = AP_CONN_CLOSE;
    rv = socketio_waiter_create(sr->sconf->link, ws->pool,
                                2 * ws->max_payload + 1024 * 1024, &ws->w);
    if (rv != APR_SUCCESS) {
        apr_pool_destroy(ws->pool);
        return socketio_respond_unavailable(sr);
    }
    iov.iov_base = socketio_req_info(sr, ws->pool, &len);
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
        apr_pool_destroy(ws->pool);
        return status;
    }
    if (f->f.type != SIO_R_WS_ACCEPT) {
        status = socketio_respond_frame(sr, &f->f);
        socketio_frame_release(f);
        apr_pool_destroy(ws->pool);
        return status;
    }
    memcpy(ws->sid, f->f.sid, SIO_SID_LEN);
    socketio_frame_release(f);

    if (ws_switch(ws, key) != 0)
        ws_lost(ws, APR_ECONNABORTED, "client left during the handshake");
    else
        ws_run_thread(ws);
    ws_finish(ws);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  "mod_socketio: WebSocket %.*s closed (%d)", SIO_SID_LEN,
                  ws->sid, ws->close_code);
    apr_pool_destroy(ws->pool);
    return DONE;
}
