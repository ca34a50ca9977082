/* The WebSocket upgrade: validates the RFC 6455 request, checks that a
 * WebSocket can be held (reactor, or a free thread slot), asks siod (OPEN
 * or UPGRADE) before answering 101, then hands the connection to the
 * reactor (socketio_reactor.c, mpm_event) or runs it on this worker thread
 * (socketio_ws_thread.c; always so for an HTTP/2 stream, RFC 8441, whose
 * 101 mod_http2 turns into 200). What it cannot serve it reports to the HTTP
 * layer (socketio_ws_outcome), which answers. Worker thread of the upgrade
 * request only. Calls the drivers and the connection (socketio_wsconn.h);
 * nothing in ws/ calls it. */
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
#include "apr_sha1.h"
#include "apr_strings.h"

#include "sio_base64.h"
#include "sio_relay.h"
#include "sio_ws_pmd.h"
#include "socketio_core.h"
#include "socketio_link.h"
#include "socketio_reactor.h"
#include "socketio_ws.h"
#include "socketio_ws_thread.h"
#include "socketio_wsconn.h"

APLOG_USE_MODULE(socketio);

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* Frames siod queued for a WebSocket before the reactor or the thread
 * takes them may exceed the send queue bound by this much (node sizes). */
#define WS_WAITER_SLACK (1024 * 1024)

/* ---- the handshake ------------------------------------------------ */

/* Returns 1 when c is an HTTP/2 stream that mod_http2 turned from an
 * RFC 8441 extended CONNECT (H2WebSockets On) into an RFC 6455 upgrade
 * request: its output filter then turns this module's 101 into the 200
 * the stream answers. Any other request over HTTP/2 cannot become a
 * WebSocket. */
static int h2_websocket_stream(conn_rec *c)
{
    ap_filter_t *f;

    for (f = c->output_filters; f; f = f->next)
        if (f->frec && f->frec->name &&
            !ap_cstr_casecmp(f->frec->name, "H2_C2_WS_OUT"))
            return 1;
    return 0;
}

/* Checks the RFC 6455 request headers. Returns SOCKETIO_WS_SERVED with
 * *key set when they are acceptable, else what the caller answers. */
static socketio_ws_outcome ws_valid_request(request_rec *r, const char **key)
{
    const char *up = apr_table_get(r->headers_in, "Upgrade");
    const char *ver = apr_table_get(r->headers_in, "Sec-WebSocket-Version");
    const char *k = apr_table_get(r->headers_in, "Sec-WebSocket-Key");
    unsigned char raw[24];
    size_t rawlen;

    if (r->connection->master && !h2_websocket_stream(r->connection)) {
        /* Over HTTP/2 only mod_http2's RFC 8441 streams are WebSockets. */
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      "mod_socketio: WebSocket over HTTP/2 without RFC 8441 "
                      "(H2WebSockets On) not served");
        return SOCKETIO_WS_BAD_REQUEST;
    }
    if (strcmp(r->method, "GET") != 0)
        return SOCKETIO_WS_BAD_METHOD;
    if (r->proto_num < HTTP_VERSION(1, 1) || !up ||
        !ap_find_token(r->pool, up, "websocket") ||
        !k || strlen(k) != 24 ||
        sio_base64_decode(raw, k, 24, &rawlen) != SIO_OK || rawlen != 16)
        return SOCKETIO_WS_BAD_REQUEST;
    if (!ver || strcmp(ver, "13") != 0) {
        apr_table_setn(r->headers_out, "Sec-WebSocket-Version", "13");
        return SOCKETIO_WS_BAD_REQUEST;
    }
    *key = k;
    return SOCKETIO_WS_SERVED;
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

/* apr_table_do callback: adds one of the caller's headers to the 101. */
static int add_header(void *data, const char *key, const char *val)
{
    apr_table_addn(data, key, val);
    return 1;
}

/* Sends 101 (with the caller's extra headers) and turns the connection
 * into a WebSocket. Returns 0, or -1 when the client is already gone. */
static int ws_switch(socketio_ws *ws, const char *key, apr_table_t *headers)
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
    if (ws->pmd)
        apr_table_setn(r->headers_out, "Sec-WebSocket-Extensions",
                       SIO_WS_PMD_RESPONSE);
    if (headers)
        apr_table_do(add_header, r->headers_out, headers, NULL);
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

/* Agrees permessage-deflate when SocketIOWebSocketCompression is on and
 * the client offers it in a form this server takes (sio_ws_pmd.h): the
 * 101 will say so, and RSV1 may then mark the client's messages. */
static void ws_negotiate(socketio_ws *ws, const socketio_dir_conf *dconf)
{
    const char *ext = apr_table_get(ws->r->headers_in,
                                    "Sec-WebSocket-Extensions");

    if (socketio_config_ws_compress(dconf) && ext &&
        sio_ws_pmd_accept(ext, strlen(ext))) {
        ws->pmd = 1;
        ws->parser.allow_rsv1 = 1;
    }
}

/* See socketio_ws.h. */
int socketio_ws_available(conn_rec *c)
{
    return socketio_reactor_running() || socketio_ws_thread_cap() > 0;
}

/* Asks siod for the WebSocket (OPEN, or UPGRADE of req->sid) and waits
 * for its answer. Returns SOCKETIO_WS_SERVED with ws->sid set on
 * WS_ACCEPT, else what the caller answers, with res filled. */
static socketio_ws_outcome ask_siod(const socketio_ws_request *req,
                                    socketio_ws *ws, socketio_ws_result *res)
{
    socketio_frame *f = NULL;
    struct iovec iov;
    apr_status_t rv;

    iov.iov_base = (void *)req->info;
    iov.iov_len = req->info_len;
    if (req->sid)
        rv = socketio_waiter_send(ws->w, SIO_R_UPGRADE, 0, 0, req->sid, &iov,
                                  1);
    else
        rv = socketio_waiter_send(ws->w, SIO_R_OPEN, SIO_RF_WEBSOCKET, 0, NULL,
                                  &iov, 1);
    if (rv == APR_SUCCESS)
        rv = socketio_waiter_wait(ws->w,
                                  socketio_config_reply_timeout(req->sconf),
                                  ws->client_fd, &f);
    if (rv != APR_SUCCESS) {
        res->rv = rv;
        res->w = ws->w;
        return rv == APR_ECONNRESET || rv == SOCKETIO_EMSGSIZE
                   ? SOCKETIO_WS_UNAVAILABLE : SOCKETIO_WS_WAIT_FAILED;
    }
    if (f->f.type != SIO_R_WS_ACCEPT) {
        res->w = ws->w;
        res->frame = f;
        return SOCKETIO_WS_REFUSED;
    }
    memcpy(ws->sid, f->f.sid, SIO_SID_LEN);
    socketio_frame_release(f);
    return SOCKETIO_WS_SERVED;
}

/* See socketio_ws.h. */
socketio_ws_outcome socketio_ws_upgrade(const socketio_ws_request *req,
                                        socketio_ws_result *res)
{
    request_rec *r = req->r;
    const char *key = NULL;
    socketio_ws_outcome out;
    apr_status_t rv;
    socketio_ws *ws;
    int reactor;

    memset(res, 0, sizeof(*res));
    if ((out = ws_valid_request(r, &key)) != SOCKETIO_WS_SERVED)
        return out;
    reactor = socketio_reactor_accepts(r->connection);
    if (!reactor && !socketio_ws_thread_acquire(r))
        return SOCKETIO_WS_BUSY;
    /* An HTTP/2 stream has no socket of its own: it runs on this thread
     * through mod_http2's filters (socketio_ws_thread.c). */
    if (req->client_fd < 0 && !r->connection->master) {
        socketio_log_rerror_limited(APLOG_ERR, 0, r,
                                    "mod_socketio: cannot set up a "
                                    "WebSocket");
        return SOCKETIO_WS_NO_SOCKET;
    }
    /* The state lives in r->pool for a WebSocket that holds its thread, in
     * c->pool for one the reactor takes (it finishes the request, and
     * frees r->pool, soon after the hand-off). */
    ws = socketio_ws_create(r, req->dconf, req->sconf, req->client_fd,
                            reactor ? r->connection->pool : r->pool);
    r->connection->keepalive = AP_CONN_CLOSE;
    rv = socketio_waiter_create(req->sconf->link,
                                reactor ? r->connection->pool : r->pool,
                                socketio_config_ws_queue(req->dconf) +
                                WS_WAITER_SLACK, &ws->w);
    if (rv != APR_SUCCESS) {
        res->rv = rv;          /* EMFILE: out of descriptors, else siod */
        return SOCKETIO_WS_UNAVAILABLE;
    }
    if ((out = ask_siod(req, ws, res)) != SOCKETIO_WS_SERVED)
        return out;

    res->status = DONE;
    ws_negotiate(ws, req->dconf);
    if (ws_switch(ws, key, req->headers) != 0) {
        socketio_ws_lost(ws, APR_ECONNABORTED,
                         "client left during the handshake");
        socketio_ws_finish(ws);
        return SOCKETIO_WS_SERVED;
    }
    socketio_ws_opened(ws);
    if (reactor) {
        ws->out_limit = socketio_config_ws_queue(req->dconf);
        res->status = socketio_reactor_handoff(ws);
        return SOCKETIO_WS_SERVED;
    }
    socketio_ws_thread_run(ws);
    socketio_ws_finish(ws);
    return SOCKETIO_WS_SERVED;
}
