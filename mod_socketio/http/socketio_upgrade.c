/* The HTTP side of a WebSocket request: refuses it in a child out of
 * descriptors (socketio_fd_guard.c), hands the validated request to the
 * WebSocket layer (socketio_ws_upgrade) with what it needs from the
 * request (the info for siod, the CORS headers of the 101, the client
 * socket), and answers over plain HTTP whatever that could not serve. */
#include "httpd.h"
#include "http_protocol.h"

#include "socketio_http_int.h"
#include "socketio_link.h"
#include "socketio_ws.h"

/* Answers outcome (not SOCKETIO_WS_SERVED) of socketio_ws_upgrade. */
static int answer(socketio_req *sr, socketio_ws_outcome outcome,
                  const socketio_ws_result *res)
{
    static const char busy[] =
        "No WebSocket capacity left; use long-polling\n";

    switch (outcome) {
    case SOCKETIO_WS_BAD_METHOD:
        return socketio_respond_error(sr, SOCKETIO_ERR_BAD_HANDSHAKE_METHOD);
    case SOCKETIO_WS_BUSY:
        /* 503: a client upgrading from polling stays on polling, a
         * WebSocket-only client gets an error. */
        sr->r->connection->keepalive = AP_CONN_CLOSE;
        return socketio_respond(sr, HTTP_SERVICE_UNAVAILABLE,
                                SOCKETIO_CT_TEXT, busy, sizeof(busy) - 1);
    case SOCKETIO_WS_NO_SOCKET:
        return socketio_respond(sr, HTTP_INTERNAL_SERVER_ERROR, NULL, NULL,
                                0);
    case SOCKETIO_WS_UNAVAILABLE:
        if (socketio_fd_exhausted(res->rv))
            return socketio_respond_no_descriptor(sr, "a WebSocket",
                                                  res->rv);
        return socketio_respond_unavailable(sr);
    case SOCKETIO_WS_WAIT_FAILED:
        return socketio_respond_wait_error(sr, res->w, res->rv);
    case SOCKETIO_WS_REFUSED:
        return socketio_respond_frame(sr, &res->frame->f);
    case SOCKETIO_WS_BAD_REQUEST:
    default:
        return socketio_respond_error(sr, SOCKETIO_ERR_BAD_REQUEST);
    }
}

/* See socketio_http_int.h. */
int socketio_upgrade_serve(socketio_req *sr)
{
    request_rec *r = sr->r;
    socketio_ws_request req;
    socketio_ws_result res;
    socketio_ws_outcome outcome;
    int status;

    if (!socketio_fd_guard_admit(r->connection)) {
        /* A full child: its socket would hold a descriptor of the
         * reserve for as long as the WebSocket lasts. The answer goes out
         * now; then this worker stays away while the child is full. */
        status = socketio_respond_no_descriptor(sr, "a WebSocket", 0);
        ap_rflush(r);
        socketio_fd_guard_hold(r->connection);
        return status;
    }
    req.r = r;
    req.dconf = sr->dconf;
    req.sconf = sr->sconf;
    req.sid = sr->sid;
    req.info = socketio_req_info(sr, r->pool, &req.info_len);
    req.headers = apr_table_make(r->pool, 3);
    socketio_cors_headers(&sr->cors, req.headers);
    req.client_fd = socketio_req_client_fd(r->connection);
    outcome = socketio_ws_upgrade(&req, &res);
    if (outcome == SOCKETIO_WS_SERVED)
        return res.status;
    status = answer(sr, outcome, &res);
    socketio_frame_release(res.frame);
    socketio_waiter_destroy(res.w);
    return status;
}
