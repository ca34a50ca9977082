/* Long-polling: the handshake over polling (OPEN), held GETs (parked
 * without a thread under mpm_event, socketio_poll_park.c; elsewhere
 * capped by SocketIOPollThreads; released when the child stops) and
 * POSTs of packets, each turned into a relay frame whose answer from siod
 * is written back. The module keeps no session state: siod answers for
 * every sid. */
#include <string.h>

#include "httpd.h"
#include "ap_mpm.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "apr_atomic.h"
#include "apr_strings.h"

#include "sio_relay.h"
#include "socketio_http_int.h"

APLOG_USE_MODULE(socketio);

/* How long a GET waits on its thread before it is parked (mpm_event):
 * long enough for siod's answer when it has packets queued. */
#define PARK_AFTER_MS 2

/* Registers a waiter for this request (r->pool). Returns APR_SUCCESS
 * with *w, or why not: siod unreachable, or EMFILE (no descriptor left). */
static apr_status_t waiter_for(socketio_req *sr, apr_size_t max_queued,
                               socketio_waiter **w)
{
    apr_status_t rv;

    rv = socketio_waiter_create(sr->sconf->link, sr->r->pool, max_queued, w);
    if (rv != APR_SUCCESS && !socketio_fd_exhausted(rv))
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, sr->r,
                      "mod_socketio: relay link unavailable");
    return rv;
}

/* Answers a request waiter_for found no waiter for (rv). */
static int no_waiter(socketio_req *sr, apr_status_t rv)
{
    if (socketio_fd_exhausted(rv))
        return socketio_respond_no_descriptor(sr, "a polling request", rv);
    return socketio_respond_unavailable(sr);
}

/* See socketio_http_int.h. The handshake over long-polling: OPEN with the
 * request's info. */
int socketio_polling_open(socketio_req *sr)
{
    socketio_waiter *w = NULL;
    apr_status_t rv = waiter_for(sr, SIO_RELAY_MAX_BODY + 65536, &w);
    struct iovec iov;
    apr_size_t len;

    if (rv != APR_SUCCESS)
        return no_waiter(sr, rv);
    iov.iov_base = socketio_req_info(sr, sr->r->pool, &len);
    iov.iov_len = len;
    return socketio_respond_relay(sr, w, SIO_R_OPEN, 0, &iov, 1);
}

/* A GET over SocketIOPollThreads: answered at once with what siod has
 * queued for the session, or a noop (the GET, then its release: siod
 * answers the first with its queue if it holds any, else the release
 * with a noop, and ignores a release that comes after its answer). Where
 * an idle kept-alive connection holds a thread (prefork, worker) the
 * connection is closed, so the client's next poll waits at accept for a
 * free worker instead of pinning this one. */
static int answer_at_once(socketio_req *sr, socketio_waiter *w)
{
    socketio_frame *f = NULL;
    apr_status_t rv;
    int async = 0;

    if (ap_mpm_query(AP_MPMQ_IS_ASYNC, &async) != APR_SUCCESS || !async)
        sr->r->connection->keepalive = AP_CONN_CLOSE;
    if (!socketio_waiter_can_release(w))
        return socketio_respond_noop(sr);
    rv = socketio_waiter_send(w, SIO_R_POLL_GET, 0, 0, sr->sid, NULL, 0);
    if (rv == APR_SUCCESS)
        rv = socketio_waiter_send(w, SIO_R_CANCEL, SIO_RF_KEEP, 0, sr->sid,
                                  NULL, 0);
    if (rv != APR_SUCCESS)
        return socketio_respond_unavailable(sr);
    rv = socketio_waiter_wait(w, socketio_config_reply_timeout(sr->sconf),
                              socketio_req_client_fd(sr->r->connection), &f);
    return socketio_respond_waited(sr, w, rv, f);
}

/* A GET under mpm_event: waits on this thread only PARK_AFTER_MS (siod
 * answers at once when it has packets queued), then is parked in the MPM
 * (socketio_poll_park.c) and costs no thread until siod answers. */
static int park_or_answer(socketio_req *sr, socketio_waiter *w)
{
    socketio_frame *f = NULL;
    apr_status_t rv;

    rv = socketio_waiter_send(w, SIO_R_POLL_GET, 0, 0, sr->sid, NULL, 0);
    if (rv != APR_SUCCESS)
        return socketio_respond_unavailable(sr);
    rv = socketio_waiter_wait_held(w, apr_time_from_msec(PARK_AFTER_MS),
                                   socketio_req_client_fd(sr->r->connection),
                                   &f);
    if (rv == APR_TIMEUP)
        return socketio_park(sr, w);
    if (rv == APR_INCOMPLETE)
        return socketio_poll_release(sr, w);
    return socketio_respond_waited(sr, w, rv, f);
}

/* See socketio_http_int.h. A held GET: siod answers when it has packets
 * or at the next ping, or releases it when the child stops. Under
 * mpm_event it is parked without a thread; elsewhere it holds its thread,
 * or over SocketIOPollThreads is answered at once instead. */
int socketio_polling_get(socketio_req *sr)
{
    socketio_waiter *w = NULL;
    apr_status_t rv = waiter_for(sr, SIO_RELAY_MAX_BODY + 65536, &w);
    socketio_frame *f = NULL;

    if (rv != APR_SUCCESS)
        return no_waiter(sr, rv);
    if (socketio_waiter_can_release(w) &&
        socketio_park_possible(sr->r->connection))
        return park_or_answer(sr, w);
    if (!socketio_poll_cap_acquire(sr->r))
        return answer_at_once(sr, w);
    if (!socketio_waiter_can_release(w))
        return socketio_respond_relay(sr, w, SIO_R_POLL_GET, 0, NULL, 0);
    rv = socketio_waiter_send(w, SIO_R_POLL_GET, 0, 0, sr->sid, NULL, 0);
    if (rv != APR_SUCCESS)
        return socketio_respond_unavailable(sr);
    rv = socketio_waiter_wait_held(w, socketio_config_reply_timeout(sr->sconf),
                                   socketio_req_client_fd(sr->r->connection),
                                   &f);
    if (rv == APR_INCOMPLETE)
        return socketio_poll_release(sr, w);
    return socketio_respond_waited(sr, w, rv, f);
}

/* Closes the session for a rule the module enforces, and answers. */
static int abort_session(socketio_req *sr, int status, const char *msg)
{
    socketio_waiter *w = NULL;

    if (waiter_for(sr, 65536, &w) == APR_SUCCESS)
        socketio_waiter_send(w, SIO_R_ABORT, 0, status, sr->sid, NULL, 0);
    return socketio_respond(sr, status, SOCKETIO_CT_TEXT, msg, strlen(msg));
}

/* See socketio_http_int.h. A POST of packets: the body goes to siod as
 * is. */
int socketio_polling_post(socketio_req *sr)
{
    request_rec *r = sr->r;
    const char *ctype = apr_table_get(r->headers_in, "Content-Type");
    socketio_waiter *w = NULL;
    apr_status_t rv;
    struct iovec iov;
    apr_size_t len;
    char *body;
    int rc;

    if (ctype && !strcasecmp(ctype, "application/octet-stream") &&
        !(sr->eio && !strcmp(sr->eio, "3"))) {
        /* Binary bodies are Engine.IO v3 only (siod reads them for a v3
         * session): the reference closes the session and answers 400. */
        r->connection->keepalive = AP_CONN_CLOSE;
        return abort_session(sr, HTTP_BAD_REQUEST, "Bad request: binary "
                             "content is not Engine.IO v4\n");
    }
    rc = socketio_req_read_body(r, (apr_size_t)sr->max_payload, &body, &len);
    if (rc == HTTP_REQUEST_ENTITY_TOO_LARGE) {
        /* Part of the body is unread: this connection cannot be reused. */
        r->connection->keepalive = AP_CONN_CLOSE;
        socketio_log_rerror_limited(APLOG_INFO, 0, r,
                                    "mod_socketio: POST body over "
                                    "SocketIOMaxPayload (%" APR_OFF_T_FMT
                                    " bytes); closing the session",
                                    sr->max_payload);
        return abort_session(sr, HTTP_REQUEST_ENTITY_TOO_LARGE,
                             "Payload too large: over the server's "
                             "maxPayload\n");
    }
    if (rc != OK) {
        r->connection->keepalive = AP_CONN_CLOSE;
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      "mod_socketio: cannot read the POST body (%d)", rc);
        return socketio_respond(sr, rc, SOCKETIO_CT_TEXT,
                                "Bad request body\n", 17);
    }
    if ((rv = waiter_for(sr, SIO_RELAY_MAX_BODY + 65536, &w)) != APR_SUCCESS)
        return no_waiter(sr, rv);
    if (len > socketio_waiter_max_body(w)) {
        r->connection->keepalive = AP_CONN_CLOSE;
        socketio_waiter_send(w, SIO_R_ABORT, 0, HTTP_REQUEST_ENTITY_TOO_LARGE,
                             sr->sid, NULL, 0);
        return socketio_respond(sr, HTTP_REQUEST_ENTITY_TOO_LARGE,
                                SOCKETIO_CT_TEXT,
                                "Payload too large\n", 18);
    }
    iov.iov_base = body;
    iov.iov_len = len;
    return socketio_respond_relay(sr, w, SIO_R_POLL_POST, 0, &iov, len ? 1 : 0);
}
