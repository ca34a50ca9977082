/* The Engine.IO answers of the HTTP layer: plain responses with the CORS
 * headers, Engine.IO errors as the reference server writes them, siod's
 * RESPONSE frames, and what a failed wait for siod is answered with. */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "apr_strings.h"

#include "socketio_http_int.h"

APLOG_USE_MODULE(socketio);

static const char *const error_messages[] = {
    "Transport unknown", "Session ID unknown", "Bad handshake method",
    "Bad request", "Forbidden", "Unsupported protocol version"
};

/* See socketio_http_int.h. */
void socketio_add_cors_headers(socketio_req *sr)
{
    socketio_cors_headers(&sr->cors, sr->r->headers_out);
}

/* See socketio_http_int.h. */
int socketio_respond(socketio_req *sr, int status, const char *ctype,
                     const char *body, apr_size_t len)
{
    request_rec *r = sr->r;

    r->status = status;
    socketio_add_cors_headers(sr);
    if (ctype)
        ap_set_content_type(r, ctype);
    ap_set_content_length(r, (apr_off_t)len);
    if (len && !r->header_only)
        ap_rwrite(body, (int)len, r);
    return OK;
}

/* See socketio_http_int.h. */
int socketio_respond_error(socketio_req *sr, int code)
{
    return socketio_respond_error_msg(sr, code, error_messages[code]);
}

/* See socketio_http_int.h. An Engine.IO 3 poll names its version in
 * every request; its payloads carry lengths. */
int socketio_respond_noop(socketio_req *sr)
{
    if (sr->eio && !strcmp(sr->eio, "3"))
        return socketio_respond(sr, HTTP_OK, SOCKETIO_CT_TEXT, "1:6", 3);
    return socketio_respond(sr, HTTP_OK, SOCKETIO_CT_TEXT, "6", 1);
}

/* See socketio_http_int.h. */
int socketio_respond_error_msg(socketio_req *sr, int code, const char *msg)
{
    const char *body;

    if (sr->upgrade) {
        /* The reference writes a bare "400 Bad Request" on the socket. */
        sr->r->connection->keepalive = AP_CONN_CLOSE;
        return socketio_respond(sr, HTTP_BAD_REQUEST, "text/html", msg,
                                strlen(msg));
    }
    body = apr_psprintf(sr->r->pool, "{\"code\":%d,\"message\":\"%s\"}", code,
                        msg);
    return socketio_respond(sr, code == SOCKETIO_ERR_FORBIDDEN
                                    ? HTTP_FORBIDDEN : HTTP_BAD_REQUEST,
                            SOCKETIO_CT_JSON, body, strlen(body));
}

/* See socketio_http_int.h. */
int socketio_respond_frame(socketio_req *sr, const sio_relay_frame *f)
{
    if (f->type != SIO_R_RESPONSE || f->status < 200 || f->status > 599) {
        socketio_log_rerror_limited(APLOG_ERR, 0, sr->r,
                                    "mod_socketio: unexpected %s (status "
                                    "%u) from siod",
                                    sio_relay_type_name(f->type),
                                    (unsigned)f->status);
        return socketio_respond(sr, HTTP_BAD_GATEWAY, SOCKETIO_CT_TEXT,
                                "Bad answer from the Socket.IO daemon\n", 37);
    }
    if (f->status == HTTP_NO_CONTENT || f->status == HTTP_NOT_MODIFIED)
        return socketio_respond(sr, f->status, NULL, NULL, 0);
    /* SIO_RF_BINARY: an Engine.IO 3 payload in the XHR2 binary form */
    return socketio_respond(sr, f->status,
                            (f->flags & SIO_RF_JSON) ? SOCKETIO_CT_JSON
                            : (f->flags & SIO_RF_BINARY) ? SOCKETIO_CT_BINARY
                                                         : SOCKETIO_CT_TEXT,
                            (const char *)f->body, f->len);
}

/* See socketio_http_int.h. */
int socketio_respond_unavailable(socketio_req *sr)
{
    static const char msg[] = "Socket.IO daemon unavailable\n";

    return socketio_respond(sr, HTTP_SERVICE_UNAVAILABLE, SOCKETIO_CT_TEXT,
                            msg, sizeof(msg) - 1);
}

/* See socketio_http_int.h. */
int socketio_respond_no_descriptor(socketio_req *sr, const char *what,
                                   apr_status_t rv)
{
    static socketio_log_throttle throttle = SOCKETIO_LOG_THROTTLE(10, 1);
    static const char msg[] = "Server busy: try again\n";
    request_rec *r = sr->r;
    apr_uint32_t held = 0;
    /* The guard's refusals are counted in its own line. */
    int level = rv ? socketio_log_level(&throttle, APLOG_WARNING, &held)
                   : APLOG_DEBUG;

    ap_log_rerror(APLOG_MARK, level, rv, r,
                  "mod_socketio: %s refused (503): this child's descriptors "
                  "are nearly all in use%s%s", what,
                  socketio_fd_advice(r->pool),
                  socketio_log_dropped_note(r->pool, held));
    r->connection->keepalive = AP_CONN_CLOSE;
    apr_table_setn(r->headers_out, "Retry-After", "1");
    return socketio_respond(sr, HTTP_SERVICE_UNAVAILABLE, SOCKETIO_CT_TEXT,
                            msg, sizeof(msg) - 1);
}

static void send_cancel(socketio_req *sr, socketio_waiter *w)
{
    socketio_waiter_send(w, SIO_R_CANCEL, 0, 0, sr->sid, NULL, 0);
}

/* See socketio_http_int.h. */
int socketio_respond_wait_error(socketio_req *sr, socketio_waiter *w,
                                apr_status_t rv)
{
    static const char slow[] = "Socket.IO daemon did not answer in time\n";
    apr_time_t limit = apr_time_sec(socketio_config_reply_timeout(sr->sconf));

    switch (rv) {
    case APR_TIMEUP:
        send_cancel(sr, w);
        socketio_log_rerror_limited(APLOG_WARNING, 0, sr->r,
                                    "mod_socketio: no answer from siod "
                                    "within SocketIOReplyTimeout (%"
                                    APR_TIME_T_FMT " s)", limit);
        return socketio_respond(sr, HTTP_GATEWAY_TIME_OUT, SOCKETIO_CT_TEXT,
                                slow, sizeof(slow) - 1);
    case APR_ECONNABORTED:
        /* The client left: tell siod, close without an answer. */
        send_cancel(sr, w);
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, sr->r,
                      "mod_socketio: client closed the connection while "
                      "waiting for siod");
        sr->r->connection->keepalive = AP_CONN_CLOSE;
        sr->r->connection->aborted = 1;
        return DONE;
    default:
        /* APR_ECONNRESET (the link dropped, logged by the link), or an
         * overflow that a single reply cannot cause unless siod is broken. */
        return socketio_respond_unavailable(sr);
    }
}

/* See socketio_http_int.h. */
int socketio_respond_waited(socketio_req *sr, socketio_waiter *w,
                            apr_status_t rv, socketio_frame *f)
{
    int status;

    if (rv != APR_SUCCESS)
        return socketio_respond_wait_error(sr, w, rv);
    status = socketio_respond_frame(sr, &f->f);
    socketio_frame_release(f);
    return status;
}

/* See socketio_http_int.h. */
int socketio_respond_relay(socketio_req *sr, socketio_waiter *w, int type,
                           int flags, const struct iovec *iov, int iovcnt)
{
    socketio_frame *f = NULL;
    apr_status_t rv;

    rv = socketio_waiter_send(w, type, flags, 0, sr->sid, iov, iovcnt);
    if (rv != APR_SUCCESS)
        return socketio_respond_unavailable(sr);
    rv = socketio_waiter_wait(w, socketio_config_reply_timeout(sr->sconf),
                              socketio_req_client_fd(sr->r->connection), &f);
    return socketio_respond_waited(sr, w, rv, f);
}
