/* The Engine.IO HTTP side: validates each request exactly as the reference
 * engine.io server does (query, method, transport, Origin), answers CORS
 * preflights, and turns long-polling GETs and POSTs into relay frames whose
 * answers it writes back. WebSocket upgrades go on to
 * socketio_ws_handshake.c. The module keeps no session state: siod answers
 * for every sid. */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "http_ssl.h"
#include "apr_atomic.h"
#include "apr_lib.h"
#include "apr_strings.h"

#include "sio_relay.h"
#include "socketio_client.h"
#include "socketio_config.h"
#include "socketio_handler.h"
#include "socketio_link.h"
#include "socketio_log.h"
#include "socketio_ws.h"

APLOG_USE_MODULE(socketio);

#define CT_JSON "application/json"
#define CT_TEXT "text/plain; charset=UTF-8"
/* Initial POST buffer when the body's length is not announced. */
#define BODY_CHUNK 8192

static const char *const error_messages[] = {
    "Transport unknown", "Session ID unknown", "Bad handshake method",
    "Bad request", "Forbidden", "Unsupported protocol version"
};

/* See the header. */
void socketio_add_cors_headers(socketio_req *sr)
{
    socketio_cors_headers(&sr->cors, sr->r->headers_out);
}

/* See the header. */
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

/* See the header. */
int socketio_respond_error(socketio_req *sr, int code)
{
    const char *msg = error_messages[code];
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
                            CT_JSON, body, strlen(body));
}

/* See the header. */
int socketio_respond_frame(socketio_req *sr, const sio_relay_frame *f)
{
    if (f->type != SIO_R_RESPONSE || f->status < 200 || f->status > 599) {
        static socketio_log_throttle t;
        apr_uint32_t n;
        int level = socketio_log_level(&t, APLOG_ERR, &n);

        ap_log_rerror(APLOG_MARK, level, 0, sr->r,
                      "mod_socketio: unexpected %s (status %u) from siod%s",
                      sio_relay_type_name(f->type), (unsigned)f->status,
                      socketio_log_dropped_note(sr->r->pool, n));
        return socketio_respond(sr, HTTP_BAD_GATEWAY, CT_TEXT,
                                "Bad answer from the Socket.IO daemon\n", 37);
    }
    if (f->status == HTTP_NO_CONTENT || f->status == HTTP_NOT_MODIFIED)
        return socketio_respond(sr, f->status, NULL, NULL, 0);
    return socketio_respond(sr, f->status,
                            (f->flags & SIO_RF_JSON) ? CT_JSON : CT_TEXT,
                            (const char *)f->body, f->len);
}

/* See the header. */
int socketio_respond_unavailable(socketio_req *sr)
{
    static const char msg[] = "Socket.IO daemon unavailable\n";

    return socketio_respond(sr, HTTP_SERVICE_UNAVAILABLE, CT_TEXT, msg,
                            sizeof(msg) - 1);
}

static void send_cancel(socketio_req *sr, socketio_waiter *w)
{
    socketio_waiter_send(w, SIO_R_CANCEL, 0, 0, sr->sid, NULL, 0);
}

/* See the header. */
int socketio_respond_wait_error(socketio_req *sr, socketio_waiter *w,
                                apr_status_t rv)
{
    static const char slow[] = "Socket.IO daemon did not answer in time\n";
    static socketio_log_throttle slow_log;
    apr_uint32_t n;
    int level;

    switch (rv) {
    case APR_TIMEUP:
        send_cancel(sr, w);
        level = socketio_log_level(&slow_log, APLOG_WARNING, &n);
        ap_log_rerror(APLOG_MARK, level, 0, sr->r,
                      "mod_socketio: no answer from siod within "
                      "SocketIOReplyTimeout (%" APR_TIME_T_FMT " s)%s",
                      apr_time_sec(socketio_config_reply_timeout(sr->sconf)),
                      socketio_log_dropped_note(sr->r->pool, n));
        return socketio_respond(sr, HTTP_GATEWAY_TIME_OUT, CT_TEXT, slow,
                                sizeof(slow) - 1);
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

typedef struct info_ctx {
    unsigned char *dst;
    apr_size_t len;
} info_ctx;

static void info_put(info_ctx *ic, const char *key, size_t klen,
                     const char *val, size_t vlen)
{
    if (ic->dst)
        ic->len += sio_relay_kv_put(ic->dst + ic->len, key, klen, val, vlen);
    else
        ic->len += sio_relay_kv_size(klen, vlen);
}

static void info_puts(info_ctx *ic, const char *key, const char *val)
{
    info_put(ic, key, strlen(key), val, strlen(val));
}

/* apr_table_do callback: one "h:<lower-case name>" pair per header. */
static int info_header(void *data, const char *key, const char *val)
{
    info_ctx *ic = data;
    char name[256];
    size_t klen = strlen(key), i;

    if (klen + 2 >= sizeof(name))
        return 1;
    name[0] = 'h';
    name[1] = ':';
    for (i = 0; i < klen; i++)
        name[2 + i] = (char)apr_tolower(key[i]);
    info_put(ic, name, klen + 2, val, strlen(val));
    return 1;
}

static void info_fill(socketio_req *sr, info_ctx *ic, const char *port,
                      const char *max, const char *now)
{
    request_rec *r = sr->r;
    int upgrades = socketio_config_allow_upgrades(sr->dconf) &&
                   (socketio_config_transports(sr->dconf) &
                    SOCKETIO_T_WEBSOCKET) &&
                   sr->transport_bit == SOCKETIO_T_POLLING &&
                   socketio_ws_available(r->connection);

    info_puts(ic, "method", r->method);
    info_puts(ic, "url", r->unparsed_uri ? r->unparsed_uri : r->uri);
    info_puts(ic, "query", r->args ? r->args : "");
    info_puts(ic, "remote_addr", r->useragent_ip ? r->useragent_ip : "");
    info_puts(ic, "remote_port", port);
    info_puts(ic, "secure", ap_ssl_conn_is_ssl(r->connection) ? "1" : "0");
    if (r->user)
        info_puts(ic, "user", r->user);
    info_puts(ic, "upgrades", upgrades ? "websocket" : "");
    info_puts(ic, "max_payload", max);
    info_puts(ic, "time", now);
    apr_table_do(info_header, ic, r->headers_in, NULL);
}

/* See the header. */
unsigned char *socketio_req_info(socketio_req *sr, apr_pool_t *pool,
                                 apr_size_t *len)
{
    request_rec *r = sr->r;
    info_ctx ic = { NULL, 0 };
    const char *port, *max, *now;

    port = apr_itoa(pool, r->useragent_addr ? r->useragent_addr->port : 0);
    max = apr_off_t_toa(pool, sr->max_payload);
    now = apr_psprintf(pool, "%" APR_TIME_T_FMT,
                       apr_time_as_msec(r->request_time));
    info_fill(sr, &ic, port, max, now);
    ic.dst = apr_palloc(pool, ic.len ? ic.len : 1);
    ic.len = 0;
    info_fill(sr, &ic, port, max, now);
    *len = ic.len;
    return ic.dst;
}

/* See the header. */
int socketio_req_client_fd(conn_rec *c)
{
    apr_os_sock_t fd;
    apr_socket_t *s;

    if (c->master)
        return -1;
    s = ap_get_conn_socket(c);
    if (!s || apr_os_sock_get(&fd, s) != APR_SUCCESS)
        return -1;
    return fd;
}

/* Parses EIO, transport and sid from the query string (other parameters
 * are the application's). Returns 0, or -1 for a bad escape or a repeated
 * Engine.IO parameter. */
static int parse_query(socketio_req *sr)
{
    request_rec *r = sr->r;
    char *args, *tok, *state, *val, *eq;
    const char **slot;

    if (!r->args)
        return 0;
    args = apr_pstrdup(r->pool, r->args);
    for (tok = apr_strtok(args, "&", &state); tok;
         tok = apr_strtok(NULL, "&", &state)) {
        eq = strchr(tok, '=');
        val = tok + strlen(tok);   /* "" for a key without '=' */
        if (eq) {
            *eq = '\0';
            val = eq + 1;
        }
        if (ap_unescape_urlencoded(tok) != OK)
            return -1;
        if (!strcmp(tok, "EIO"))
            slot = &sr->eio;
        else if (!strcmp(tok, "transport"))
            slot = &sr->transport;
        else if (!strcmp(tok, "sid"))
            slot = &sr->sid;
        else
            continue;
        if (*slot || ap_unescape_urlencoded(val) != OK)
            return -1;
        *slot = val;
    }
    return 0;
}

/* Returns 1 for a request asking to switch protocols. */
static int is_upgrade(request_rec *r)
{
    const char *up = apr_table_get(r->headers_in, "Upgrade");
    const char *conn = apr_table_get(r->headers_in, "Connection");

    return up && *up && conn && ap_find_token(r->pool, conn, "upgrade");
}

/* The reference rejects an Origin with characters a header value may not
 * hold; httpd's parser lets some of them (DEL, controls) through. */
static int origin_invalid(const char *origin)
{
    const unsigned char *c;

    for (c = (const unsigned char *)origin; *c; c++) {
        if ((*c < 0x20 && *c != '\t') || *c == 0x7f)
            return 1;
    }
    return 0;
}

/* CORS preflight: 204 with the cors package's headers. */
static int preflight(socketio_req *sr)
{
    socketio_cors_preflight_headers(&sr->cors, sr->r);
    return socketio_respond(sr, HTTP_NO_CONTENT, NULL, NULL, 0);
}

/* A request from an Origin that may not use the endpoint: 403 with the
 * Engine.IO "Forbidden" error, for polling and WebSocket handshakes alike
 * (an upgrade is answered as plain HTTP and its connection closed). */
static int refuse_origin(socketio_req *sr)
{
    socketio_cors_log_refused(sr->r, sr->dconf);
    if (sr->upgrade)
        sr->r->connection->keepalive = AP_CONN_CLOSE;
    sr->upgrade = 0;
    return socketio_respond_error(sr, SOCKETIO_ERR_FORBIDDEN);
}

/* Registers a waiter for this request (r->pool). Returns it, or NULL when
 * siod is unreachable. */
static socketio_waiter *waiter_for(socketio_req *sr, apr_size_t max_queued)
{
    socketio_waiter *w = NULL;
    apr_status_t rv;

    rv = socketio_waiter_create(sr->sconf->link, sr->r->pool, max_queued, &w);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, sr->r,
                      "mod_socketio: relay link unavailable");
        return NULL;
    }
    return w;
}

/* Sends one request frame and answers with siod's reply. */
static int relay_and_answer(socketio_req *sr, socketio_waiter *w, int type,
                            int flags, const struct iovec *iov, int iovcnt)
{
    socketio_frame *f = NULL;
    apr_status_t rv;
    int status;

    rv = socketio_waiter_send(w, type, flags, 0, sr->sid, iov, iovcnt);
    if (rv != APR_SUCCESS)
        return socketio_respond_unavailable(sr);
    rv = socketio_waiter_wait(w, socketio_config_reply_timeout(sr->sconf),
                              socketio_req_client_fd(sr->r->connection), &f);
    if (rv != APR_SUCCESS)
        return socketio_respond_wait_error(sr, w, rv);
    status = socketio_respond_frame(sr, &f->f);
    socketio_frame_release(f);
    return status;
}

/* Handshake over long-polling: OPEN with the request's info. */
static int polling_open(socketio_req *sr)
{
    socketio_waiter *w = waiter_for(sr, SIO_RELAY_MAX_BODY + 65536);
    struct iovec iov;
    apr_size_t len;

    if (!w)
        return socketio_respond_unavailable(sr);
    iov.iov_base = socketio_req_info(sr, sr->r->pool, &len);
    iov.iov_len = len;
    return relay_and_answer(sr, w, SIO_R_OPEN, 0, &iov, 1);
}

/* The child is stopping while this GET is held: asks siod to release it
 * (CANCEL + SIO_RF_KEEP: the session stays, queued packets wait for the
 * client's next GET) and answers with what siod answers, or with a noop
 * if siod is silent for SocketIOPollReleaseTimeout. siod answers a GET
 * once: either that answer was already on its way (it is the one waited
 * for here) or siod answers the release with a noop. Only an answer
 * siod sent and that arrives after the wait can be lost; without the
 * wait, every answer in flight would be. Connection: close, so the
 * client's next GET reaches a child that is not stopping. */
static int release_held_get(socketio_req *sr, socketio_waiter *w)
{
    static volatile apr_uint32_t slow_logged;
    socketio_frame *f = NULL;
    apr_status_t rv;
    int status, level;

    sr->r->connection->keepalive = AP_CONN_CLOSE;
    rv = socketio_waiter_send(w, SIO_R_CANCEL, SIO_RF_KEEP, 0, sr->sid, NULL,
                              0);
    if (rv == APR_SUCCESS)
        rv = socketio_waiter_wait(w,
                                  socketio_config_poll_release_timeout(
                                      sr->sconf),
                                  socketio_req_client_fd(sr->r->connection),
                                  &f);
    if (rv == APR_SUCCESS) {
        status = socketio_respond_frame(sr, &f->f);
        socketio_frame_release(f);
        return status;
    }
    if (rv == APR_TIMEUP) {
        /* Once per child: a stopping child may hold many polls. (The
         * level is worked out first: ap_log_rerror evaluates it twice.) */
        level = apr_atomic_cas32(&slow_logged, 1, 0) == 0 ? APLOG_WARNING
                                                          : APLOG_DEBUG;
        ap_log_rerror(APLOG_MARK, level, 0, sr->r,
                      "mod_socketio: child stopping: siod did not answer the "
                      "release of a held poll within "
                      "SocketIOPollReleaseTimeout; answering a noop");
        return socketio_respond(sr, HTTP_OK, CT_TEXT, "6", 1);
    }
    if (rv == APR_ECONNABORTED) {
        sr->r->connection->aborted = 1;
        return DONE;
    }
    return socketio_respond_unavailable(sr);
}

/* A held GET: siod answers when it has packets or at the next ping, or
 * releases it when the child stops. */
static int polling_get(socketio_req *sr)
{
    socketio_waiter *w = waiter_for(sr, SIO_RELAY_MAX_BODY + 65536);
    socketio_frame *f = NULL;
    apr_status_t rv;
    int status;

    if (!w)
        return socketio_respond_unavailable(sr);
    if (!socketio_waiter_can_release(w))
        return relay_and_answer(sr, w, SIO_R_POLL_GET, 0, NULL, 0);
    rv = socketio_waiter_send(w, SIO_R_POLL_GET, 0, 0, sr->sid, NULL, 0);
    if (rv != APR_SUCCESS)
        return socketio_respond_unavailable(sr);
    rv = socketio_waiter_wait_held(w, socketio_config_reply_timeout(sr->sconf),
                                   socketio_req_client_fd(sr->r->connection),
                                   &f);
    if (rv == APR_INCOMPLETE)
        return release_held_get(sr, w);
    if (rv != APR_SUCCESS)
        return socketio_respond_wait_error(sr, w, rv);
    status = socketio_respond_frame(sr, &f->f);
    socketio_frame_release(f);
    return status;
}

/* Closes the session for a rule the module enforces, and answers. */
static int abort_session(socketio_req *sr, int status, const char *msg)
{
    socketio_waiter *w = waiter_for(sr, 65536);

    if (w)
        socketio_waiter_send(w, SIO_R_ABORT, 0, status, sr->sid, NULL, 0);
    return socketio_respond(sr, status, CT_TEXT, msg, strlen(msg));
}

/* Reads the request body into r->pool, up to limit bytes. Returns OK with
 * *body and *len, HTTP_REQUEST_ENTITY_TOO_LARGE when it is longer (not all
 * read), or another HTTP status when the body cannot be read. A body of
 * announced length is read into one buffer of that size; a chunked one
 * into a buffer that doubles up to limit + 1 bytes. */
static int read_body(request_rec *r, apr_size_t limit, char **body,
                     apr_size_t *len)
{
    apr_size_t cap, have = 0;
    char *buf, *bigger;
    int known, rc;
    long n;

    *body = NULL;
    *len = 0;
    if ((rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK)) != OK)
        return rc;
    if (!ap_should_client_block(r))
        return OK;
    if (r->remaining > (apr_off_t)limit)
        return HTTP_REQUEST_ENTITY_TOO_LARGE;
    known = r->remaining > 0;
    cap = known ? (apr_size_t)r->remaining : BODY_CHUNK;
    buf = apr_palloc(r->pool, cap);
    while (!known || have < cap) {
        if (have == cap) {
            if (cap > limit)
                return HTTP_REQUEST_ENTITY_TOO_LARGE;
            cap = cap * 2 > limit + 1 ? limit + 1 : cap * 2;
            bigger = apr_palloc(r->pool, cap);
            memcpy(bigger, buf, have);
            buf = bigger;
        }
        n = ap_get_client_block(r, buf + have, cap - have);
        if (n == 0)
            break;
        if (n < 0)
            return HTTP_BAD_REQUEST;
        have += (apr_size_t)n;
        if (have > limit)
            return HTTP_REQUEST_ENTITY_TOO_LARGE;
    }
    *body = buf;
    *len = have;
    return OK;
}

/* A POST of packets: the body goes to siod as is. */
static int polling_post(socketio_req *sr)
{
    request_rec *r = sr->r;
    const char *ctype = apr_table_get(r->headers_in, "Content-Type");
    socketio_waiter *w;
    struct iovec iov;
    apr_size_t len;
    char *body;
    int rc;

    if (ctype && !strcasecmp(ctype, "application/octet-stream")) {
        /* Binary bodies are Engine.IO v3 only: the reference closes the
         * session and answers 400. */
        r->connection->keepalive = AP_CONN_CLOSE;
        return abort_session(sr, HTTP_BAD_REQUEST, "Bad request: binary "
                             "content is not Engine.IO v4\n");
    }
    rc = read_body(r, (apr_size_t)sr->max_payload, &body, &len);
    if (rc == HTTP_REQUEST_ENTITY_TOO_LARGE) {
        static socketio_log_throttle too_large_log;
        apr_uint32_t n;
        int level = socketio_log_level(&too_large_log, APLOG_INFO, &n);

        /* Part of the body is unread: this connection cannot be reused. */
        r->connection->keepalive = AP_CONN_CLOSE;
        ap_log_rerror(APLOG_MARK, level, 0, r,
                      "mod_socketio: POST body over SocketIOMaxPayload (%"
                      APR_OFF_T_FMT " bytes); closing the session%s",
                      sr->max_payload, socketio_log_dropped_note(r->pool, n));
        return abort_session(sr, HTTP_REQUEST_ENTITY_TOO_LARGE,
                             "Payload too large: over the server's "
                             "maxPayload\n");
    }
    if (rc != OK) {
        r->connection->keepalive = AP_CONN_CLOSE;
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      "mod_socketio: cannot read the POST body (%d)", rc);
        return socketio_respond(sr, rc, CT_TEXT, "Bad request body\n", 17);
    }
    if (!(w = waiter_for(sr, SIO_RELAY_MAX_BODY + 65536)))
        return socketio_respond_unavailable(sr);
    if (len > socketio_waiter_max_body(w)) {
        r->connection->keepalive = AP_CONN_CLOSE;
        socketio_waiter_send(w, SIO_R_ABORT, 0, HTTP_REQUEST_ENTITY_TOO_LARGE,
                             sr->sid, NULL, 0);
        return socketio_respond(sr, HTTP_REQUEST_ENTITY_TOO_LARGE, CT_TEXT,
                                "Payload too large\n", 18);
    }
    iov.iov_base = body;
    iov.iov_len = len;
    return relay_and_answer(sr, w, SIO_R_POLL_POST, 0, &iov, len ? 1 : 0);
}

/* See the header. */
int socketio_handler(request_rec *r)
{
    socketio_dir_conf *d;
    socketio_req *sr;
    const char *origin;
    int allowed, is_get, rc;

    if (r->main)
        return DECLINED;
    d = socketio_config_dir(r);
    if (!socketio_config_enabled(d))
        return DECLINED;

    sr = apr_pcalloc(r->pool, sizeof(*sr));
    sr->r = r;
    sr->dconf = d;
    sr->sconf = socketio_config_server(r->server);
    sr->max_payload = socketio_config_max_payload(d);
    sr->upgrade = is_upgrade(r);
    allowed = socketio_cors_check(r, d, &sr->cors);
    if ((rc = socketio_client_serve(sr)) != DECLINED)
        return rc;
    /* Before anything else, as the reference's cors middleware runs first;
     * the client bundle above is a public file any page may load. */
    if (!allowed)
        return refuse_origin(sr);
    if (!sr->sconf->link) {
        static socketio_log_throttle no_link_log;
        apr_uint32_t n;
        int level = socketio_log_level(&no_link_log, APLOG_ERR, &n);

        ap_log_rerror(APLOG_MARK, level, 0, r,
                      "mod_socketio: no relay link for this server%s",
                      socketio_log_dropped_note(r->pool, n));
        return socketio_respond_unavailable(sr);
    }

    /* The cors middleware runs before Engine.IO looks at anything. */
    if (d->cors_set && r->method_number == M_OPTIONS)
        return preflight(sr);

    if (parse_query(sr) != 0)
        return socketio_respond_error(sr, SOCKETIO_ERR_BAD_REQUEST);
    if (sr->transport && !strcmp(sr->transport, "polling"))
        sr->transport_bit = SOCKETIO_T_POLLING;
    else if (sr->transport && !strcmp(sr->transport, "websocket"))
        sr->transport_bit = SOCKETIO_T_WEBSOCKET;
    if (!(sr->transport_bit & socketio_config_transports(d)))
        return socketio_respond_error(sr, SOCKETIO_ERR_UNKNOWN_TRANSPORT);
    origin = apr_table_get(r->headers_in, "Origin");
    if (origin && origin_invalid(origin))
        return socketio_respond_error(sr, SOCKETIO_ERR_BAD_REQUEST);
    /* Only a WebSocket request for the websocket transport is an upgrade;
     * any other request is answered as plain HTTP. */
    if (sr->transport_bit != SOCKETIO_T_WEBSOCKET)
        sr->upgrade = 0;
    is_get = !strcmp(r->method, "GET");

    if (sr->sid) {
        if (strlen(sr->sid) != SIO_SID_LEN)
            return socketio_respond_error(sr, SOCKETIO_ERR_UNKNOWN_SID);
        if (sr->transport_bit == SOCKETIO_T_WEBSOCKET)
            return sr->upgrade ? socketio_ws_handle(sr)
                               : socketio_respond_error(sr,
                                     SOCKETIO_ERR_BAD_REQUEST);
        if (is_get)
            return polling_get(sr);
        if (!strcmp(r->method, "POST"))
            return polling_post(sr);
        return socketio_respond_error(sr, SOCKETIO_ERR_BAD_REQUEST);
    }

    if (!is_get)
        return socketio_respond_error(sr, SOCKETIO_ERR_BAD_HANDSHAKE_METHOD);
    if (sr->transport_bit == SOCKETIO_T_WEBSOCKET && !sr->upgrade)
        return socketio_respond_error(sr, SOCKETIO_ERR_BAD_REQUEST);
    if (!sr->eio || strcmp(sr->eio, "4") != 0)
        return socketio_respond_error(sr,
                                      SOCKETIO_ERR_UNSUPPORTED_PROTOCOL);
    if (sr->transport_bit == SOCKETIO_T_WEBSOCKET)
        return socketio_ws_handle(sr);
    return polling_open(sr);
}
