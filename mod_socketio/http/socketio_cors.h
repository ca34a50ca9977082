/* Origin policy and CORS headers of the Engine.IO endpoint: which browser
 * Origins may use it (the request's own origin always; SocketIOCorsOrigin
 * adds '*' or a list), the Access-Control-* headers an allowed request gets,
 * and the throttled log line of a refusal. Decisions only: the handler
 * writes the answers. */
#ifndef SOCKETIO_CORS_H
#define SOCKETIO_CORS_H

#include "httpd.h"

#include "socketio_core.h"

/* At most one "refused Origin" warning per child in this many seconds;
 * the others are logged at debug and counted in the next warning. */
#define SOCKETIO_CORS_LOG_INTERVAL 10

/* What an allowed request answers with; filled by socketio_cors_check and
 * owned by the request (strings from r->pool or r->headers_in). */
typedef struct socketio_cors {
    const char *allow_origin;   /* Access-Control-Allow-Origin, or NULL */
    int credentials;            /* Access-Control-Allow-Credentials: true */
    int vary;                   /* Vary: Origin (SocketIOCorsOrigin set) */
} socketio_cors;

/* Decides whether r's Origin may use the endpoint configured by d and fills
 * *out with the headers to send. Allowed: no Origin, the request's own
 * origin (scheme from ap_http_scheme, host from the Host header, the port
 * the connection came in on; X-Forwarded-* is not trusted), any origin
 * under "SocketIOCorsOrigin *", or one on the configured list. Returns 1
 * when allowed, 0 when the request must be refused (403). */
int socketio_cors_check(request_rec *r, const socketio_dir_conf *d,
                        socketio_cors *out);

/* Adds the headers *cors asks for to h (a response's headers_out). */
void socketio_cors_headers(const socketio_cors *cors, apr_table_t *h);

/* Adds the preflight headers (methods, echoed request headers) to r's
 * response when *cors allows a cross-origin request; nothing otherwise. */
void socketio_cors_preflight_headers(const socketio_cors *cors,
                                     request_rec *r);

/* Logs a refused Origin: one warning per SOCKETIO_CORS_LOG_INTERVAL per
 * child with the count of the refusals not logged since, debug lines for
 * the others. Safe from any thread. */
void socketio_cors_log_refused(request_rec *r, const socketio_dir_conf *d);

#endif
