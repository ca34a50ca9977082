/* The HTTP emit API (SetHandler socketio-emit): a POST of one JSON object
 * asks siod to emit to a namespace's sockets, rooms and exceptions, fetch
 * sockets, make them join or leave rooms, or disconnect them; siod's JSON
 * answer is written back. httpd's own access control (Require, any auth
 * module) guards the location; the module checks method, media type and
 * size, and siod everything inside the JSON (docs/emit-api.md). */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "apr_strings.h"

#include "sio_relay.h"
#include "socketio_http_int.h"

APLOG_USE_MODULE(socketio);

#define EMIT_HANDLER "socketio-emit"

/* Answers {"ok":false,"error":msg} with status. */
static int refuse(socketio_req *sr, int status, const char *msg)
{
    const char *body = apr_pstrcat(sr->r->pool, "{\"ok\":false,\"error\":\"",
                                   msg, "\"}", NULL);

    return socketio_respond(sr, status, SOCKETIO_CT_JSON, body, strlen(body));
}

/* Returns 1 when the request's Content-Type is application/json (any
 * parameters). */
static int is_json(request_rec *r)
{
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    size_t n = sizeof SOCKETIO_CT_JSON - 1;

    return ct != NULL && strncasecmp(ct, SOCKETIO_CT_JSON, n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* Sends the body to siod as an API frame and answers with its reply. */
static int relay(socketio_req *sr, char *body, apr_size_t len)
{
    socketio_waiter *w = NULL;
    struct iovec iov;
    apr_status_t rv;

    rv = socketio_waiter_create(sr->sconf->link, sr->r->pool, len + 65536,
                                &w);
    if (socketio_fd_exhausted(rv))
        return socketio_respond_no_descriptor(sr, "an emit API request", rv);
    if (rv != APR_SUCCESS)
        return socketio_respond_unavailable(sr);
    if (!socketio_waiter_can_api(w))
        return refuse(sr, HTTP_NOT_IMPLEMENTED, "this siod takes no API "
                      "requests (an older version)");
    if (len > socketio_waiter_max_body(w))
        return refuse(sr, HTTP_REQUEST_ENTITY_TOO_LARGE, "the request is "
                      "larger than siod takes in one frame");
    iov.iov_base = body;
    iov.iov_len = len;
    return socketio_respond_relay(sr, w, SIO_R_API, 0, &iov, len ? 1 : 0);
}

/* See socketio_http.h. */
int socketio_emit_handler(request_rec *r)
{
    socketio_req *sr;
    char *body;
    apr_size_t len;
    int rc;

    if (r->handler == NULL || strcmp(r->handler, EMIT_HANDLER) != 0)
        return DECLINED;
    sr = apr_pcalloc(r->pool, sizeof(*sr));
    sr->r = r;
    sr->dconf = socketio_config_dir(r);
    sr->sconf = socketio_config_server(r->server);
    sr->max_payload = socketio_config_max_payload(sr->dconf);
    r->allowed = AP_METHOD_BIT << M_POST;
    if (r->method_number != M_POST) {
        apr_table_setn(r->headers_out, "Allow", "POST");
        return refuse(sr, HTTP_METHOD_NOT_ALLOWED, "use POST");
    }
    if (!is_json(r))
        return refuse(sr, HTTP_UNSUPPORTED_MEDIA_TYPE, "the body must be "
                      "application/json");
    rc = socketio_req_read_body(r, (apr_size_t)sr->max_payload, &body, &len);
    if (rc == HTTP_REQUEST_ENTITY_TOO_LARGE) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return refuse(sr, rc, "the body is over SocketIOMaxPayload");
    }
    if (rc != OK) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return refuse(sr, rc, "the body could not be read");
    }
    if (!sr->sconf->link) {
        socketio_log_rerror_limited(APLOG_ERR, 0, r, "mod_socketio: no relay "
                                    "link for this server (emit API)");
        return socketio_respond_unavailable(sr);
    }
    return relay(sr, body, len);
}
