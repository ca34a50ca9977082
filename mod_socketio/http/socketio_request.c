/* What one Engine.IO request tells siod besides its packets: the info
 * key/value body of OPEN and UPGRADE (method, URL, client address, TLS,
 * user, upgrades offered, headers), the client socket a wait for siod
 * watches for a hang-up, and a request body read whole (a POST). */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_ssl.h"
#include "apr_lib.h"
#include "apr_strings.h"

#include "sio_relay.h"
#include "socketio_http_int.h"
#include "socketio_ws.h"

/* Initial body buffer when the body's length is not announced. */
#define BODY_CHUNK 8192

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
    if (sr->eio3) {
        info_puts(ic, "eio", "3");
        if (sr->b64 && strcmp(sr->b64, "0") != 0)
            info_puts(ic, "b64", "1");
    }
    info_puts(ic, "max_payload", max);
    info_puts(ic, "time", now);
    apr_table_do(info_header, ic, r->headers_in, NULL);
}

/* See socketio_http_int.h. */
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

/* See socketio_http_int.h. */
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

/* See socketio_http_int.h. A body of announced length is read into one
 * buffer of that size; a chunked one into a buffer that doubles up to
 * limit + 1 bytes. */
int socketio_req_read_body(request_rec *r, apr_size_t limit, char **body,
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
