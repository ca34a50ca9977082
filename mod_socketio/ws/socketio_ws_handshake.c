/* The WebSocket upgrade: validates the RFC 6455 request, checks that a
 * WebSocket can be held (reactor, or a free thread slot), asks siod (OPEN
 * or UPGRADE) before answering 101, then hands the connection to the
 * reactor (socketio_reactor.c, mpm_event) or runs it on this worker thread
 * (socketio_ws_thread.c). Worker thread of the upgrade request only.
 * Calls socketio_ws.c for the state's pool cleanup
 * (socketio_ws_pool_cleanup) and to end a WebSocket (_lost, _finish). */
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
#include "socketio_ws_int.h"

APLOG_USE_MODULE(socketio);

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* Frames siod queued for a WebSocket before the reactor or the thread
 * takes them may exceed the send queue bound by this much (node sizes). */
#define WS_WAITER_SLACK (1024 * 1024)

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
    apr_pool_cleanup_register(pool, ws, socketio_ws_pool_cleanup,
                              apr_pool_cleanup_null);
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
