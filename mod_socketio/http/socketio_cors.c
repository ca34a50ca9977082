/* Origin policy and CORS headers of the Engine.IO endpoint (see the header).
 * A browser sends Origin with every cross-site request and every WebSocket
 * handshake, with the victim's cookies and HTTP authentication attached;
 * refusing foreign origins here is what stops another site from driving a
 * user's session (cross-site WebSocket hijacking included). */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "apr_strings.h"
#include "apr_uri.h"

#include "socketio_core.h"
#include "socketio_cors.h"

APLOG_USE_MODULE(socketio);

#define CORS_METHODS "GET,HEAD,PUT,PATCH,POST,DELETE"
/* Longest Origin value quoted in the log. */
#define LOG_ORIGIN_MAX 200

/* Per child: one refusal warning per SOCKETIO_CORS_LOG_INTERVAL. */
static socketio_log_throttle refused_log =
    SOCKETIO_LOG_THROTTLE(SOCKETIO_CORS_LOG_INTERVAL, 1);

/* Drops the brackets of an IPv6 literal ("[::1]" -> "::1"). */
static const char *bare_host(apr_pool_t *p, const char *host)
{
    size_t len = strlen(host);

    if (len >= 2 && host[0] == '[' && host[len - 1] == ']')
        return apr_pstrmemdup(p, host + 1, len - 2);
    return host;
}

/* Returns 1 when origin names exactly the origin r was sent to: same
 * scheme, host (the Host header, as httpd parsed it) and port (the local
 * port of the connection; an origin without a port means its scheme's
 * default). Anything that is not a bare scheme://host[:port] never
 * matches. */
static int same_origin(request_rec *r, const char *origin)
{
    apr_uri_t u;
    apr_port_t want_port, port;
    const char *scheme = ap_http_scheme(r);

    if (!r->hostname || !r->connection->local_addr || !scheme)
        return 0;
    if (apr_uri_parse(r->pool, origin, &u) != APR_SUCCESS || !u.scheme ||
        !u.hostname || !*u.hostname || u.user || u.password || u.query ||
        u.fragment || (u.path && *u.path))
        return 0;
    if (strcasecmp(u.scheme, scheme) != 0)
        return 0;
    port = u.port_str ? u.port : apr_uri_port_of_scheme(u.scheme);
    want_port = r->connection->local_addr->port;
    if (!port || port != want_port)
        return 0;
    return strcasecmp(bare_host(r->pool, u.hostname),
                      bare_host(r->pool, r->hostname)) == 0;
}

static int on_list(const socketio_dir_conf *d, const char *origin)
{
    int i;

    for (i = 0; d->cors_origins && i < d->cors_origins->nelts; i++) {
        if (!strcasecmp(APR_ARRAY_IDX(d->cors_origins, i, const char *),
                        origin))
            return 1;
    }
    return 0;
}

/* See the header. */
int socketio_cors_check(request_rec *r, const socketio_dir_conf *d,
                        socketio_cors *out)
{
    const char *origin = apr_table_get(r->headers_in, "Origin");
    int creds = socketio_config_cors_credentials(d);

    memset(out, 0, sizeof(*out));
    out->vary = d->cors_set;
    if (d->cors_set && d->cors_any) {
        /* Reflecting the Origin with credentials would let every site act
         * with the user's cookies: only when the admin asks for it. */
        if (origin && creds) {
            out->allow_origin = origin;
            out->credentials = 1;
        } else {
            out->allow_origin = "*";
        }
        return 1;
    }
    if (!origin)
        return 1;
    if (d->cors_set && on_list(d, origin)) {
        out->allow_origin = origin;
        out->credentials = creds;
        return 1;
    }
    /* The site's own pages need no CORS headers. */
    return same_origin(r, origin);
}

/* See the header. */
void socketio_cors_headers(const socketio_cors *cors, apr_table_t *h)
{
    if (cors->vary)
        apr_table_mergen(h, "Vary", "Origin");
    if (cors->allow_origin)
        apr_table_setn(h, "Access-Control-Allow-Origin", cors->allow_origin);
    if (cors->credentials)
        apr_table_setn(h, "Access-Control-Allow-Credentials", "true");
}

/* See the header. */
void socketio_cors_preflight_headers(const socketio_cors *cors,
                                     request_rec *r)
{
    const char *hdrs;

    if (!cors->allow_origin)
        return;
    apr_table_setn(r->headers_out, "Access-Control-Allow-Methods",
                   CORS_METHODS);
    hdrs = apr_table_get(r->headers_in, "Access-Control-Request-Headers");
    if (hdrs) {
        apr_table_setn(r->headers_out, "Access-Control-Allow-Headers", hdrs);
        apr_table_mergen(r->headers_out, "Vary",
                         "Access-Control-Request-Headers");
    }
}

/* Returns how r's own origin reads, for the log ("https://host:port"). */
static const char *own_origin(request_rec *r)
{
    const char *scheme = ap_http_scheme(r);
    apr_port_t port = r->connection->local_addr
                          ? r->connection->local_addr->port : 0;
    const char *host = r->hostname ? r->hostname : "(no Host)";

    if (scheme && port == apr_uri_port_of_scheme(scheme))
        return apr_pstrcat(r->pool, scheme, "://", host, NULL);
    return apr_psprintf(r->pool, "%s://%s:%u", scheme ? scheme : "?", host,
                        (unsigned)port);
}

/* See the header. */
void socketio_cors_log_refused(request_rec *r, const socketio_dir_conf *d)
{
    const char *origin = apr_table_get(r->headers_in, "Origin");
    apr_size_t olen = origin ? strlen(origin) : 0;
    apr_uint32_t unlogged;
    const char *shown;

    /* The Origin is the client's: quoted escaped and cut short. */
    shown = ap_escape_logitem(r->pool,
                              apr_pstrmemdup(r->pool, origin ? origin : "",
                                             olen > LOG_ORIGIN_MAX
                                                 ? LOG_ORIGIN_MAX : olen));
    if (socketio_log_level(&refused_log, APLOG_WARNING, &unlogged) ==
        APLOG_WARNING) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      "mod_socketio: refused a request from Origin '%s%s': "
                      "not this server's origin (%s)%s; %u more refused "
                      "since the last such message", shown,
                      olen > LOG_ORIGIN_MAX ? "..." : "", own_origin(r),
                      d->cors_set ? " nor allowed by SocketIOCorsOrigin"
                                  : " and SocketIOCorsOrigin is not set",
                      unlogged);
        return;
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  "mod_socketio: refused a request from Origin '%s'", shown);
}
