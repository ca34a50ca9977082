/* The Engine.IO endpoint's routing: validates each request exactly as the
 * reference engine.io server does (Origin, query, method, transport),
 * answers CORS preflights and sends each request on to what serves it:
 * the client script (socketio_client.c), long-polling
 * (socketio_polling.c) or a WebSocket (socketio_upgrade.c). */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "apr_strings.h"

#include "sio_relay.h"
#include "socketio_http.h"
#include "socketio_http_int.h"

APLOG_USE_MODULE(socketio);

/* Parses EIO, transport, sid, and Engine.IO 3's b64 and j, from the query
 * string (other parameters are the application's). Returns 0, or -1 for a bad escape or a repeated
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
        else if (!strcmp(tok, "b64") || !strcmp(tok, "j")) {
            /* Engine.IO 3's; an EIO=4 application may use the names, even
             * repeated: the first counts, a bad escape leaves it unset */
            slot = tok[0] == 'b' ? &sr->b64 : &sr->jsonp;
            if (!*slot && ap_unescape_urlencoded(val) == OK)
                *slot = val;
            continue;
        } else
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

/* A request flagged by socketio_translate_name: its request_config
 * entry is this address. */
static const char not_a_file;

/* See socketio_http.h. Runs after the first <Location> walk, so it sees
 * SocketIO On set in a <Location>; one set in a <Directory> only is seen
 * by the handler, after the usual filesystem walk. */
int socketio_translate_name(request_rec *r)
{
    if (r->main || r->proxyreq ||
        !socketio_config_enabled(socketio_config_dir(r)))
        return DECLINED;
    /* Another node's session: mod_proxy maps and serves it. */
    if (socketio_forward(r, socketio_config_server(r->server)) == OK)
        return OK;
    ap_set_module_config(r->request_config, &socketio_module,
                         (void *)&not_a_file);
    return DECLINED;
}

/* See socketio_http.h. */
int socketio_map_to_storage(request_rec *r)
{
    if (ap_get_module_config(r->request_config, &socketio_module) !=
        &not_a_file)
        return DECLINED;
    /* The handler serves it whatever the filesystem holds. */
    if (!r->filename)
        r->filename = apr_pstrcat(r->pool, "socketio:", r->uri, NULL);
    return OK;
}

/* See socketio_http.h. */
int socketio_handler(request_rec *r)
{
    socketio_dir_conf *d;
    socketio_req *sr;
    const char *origin;
    int allowed, is_get, rc;

    /* r->proxyreq: mod_proxy serves it (socketio_forward) */
    if (r->main || r->proxyreq)
        return DECLINED;
    d = socketio_config_dir(r);
    if (!socketio_config_enabled(d))
        return DECLINED;

    socketio_keepalive_mark(r->connection);
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
        socketio_log_rerror_limited(APLOG_ERR, 0, r,
                                    "mod_socketio: no relay link for this "
                                    "server");
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
        if (strlen(sr->sid) != SIO_SID_LEN || socketio_forward_refused(r))
            return socketio_respond_error(sr, SOCKETIO_ERR_UNKNOWN_SID);
        if (sr->transport_bit == SOCKETIO_T_WEBSOCKET)
            return sr->upgrade ? socketio_upgrade_serve(sr)
                               : socketio_respond_error(sr,
                                     SOCKETIO_ERR_BAD_REQUEST);
        if (is_get)
            return socketio_polling_get(sr);
        if (!strcmp(r->method, "POST"))
            return socketio_polling_post(sr);
        return socketio_respond_error(sr, SOCKETIO_ERR_BAD_REQUEST);
    }

    if (!is_get)
        return socketio_respond_error(sr, SOCKETIO_ERR_BAD_HANDSHAKE_METHOD);
    if (sr->transport_bit == SOCKETIO_T_WEBSOCKET && !sr->upgrade)
        return socketio_respond_error(sr, SOCKETIO_ERR_BAD_REQUEST);
    if (sr->eio && !strcmp(sr->eio, "3")) {
        if (!socketio_config_allow_eio3(d)) {
            socketio_log_rerror_limited(APLOG_INFO, 0, r,
                                        "mod_socketio: Engine.IO 3 "
                                        "(Socket.IO 2) client refused: "
                                        "SocketIOAllowEIO3 is Off");
            return socketio_respond_error(sr,
                                          SOCKETIO_ERR_UNSUPPORTED_PROTOCOL);
        }
        /* JSONP polling (engine.io 3's "j") is not served */
        if (sr->jsonp)
            return socketio_respond_error_msg(sr, SOCKETIO_ERR_BAD_REQUEST,
                                              "JSONP polling is not "
                                              "supported: use XHR polling or "
                                              "WebSocket");
        sr->eio3 = 1;
    } else if (!sr->eio || strcmp(sr->eio, "4") != 0) {
        return socketio_respond_error(sr,
                                      SOCKETIO_ERR_UNSUPPORTED_PROTOCOL);
    }
    if (sr->transport_bit == SOCKETIO_T_WEBSOCKET)
        return socketio_upgrade_serve(sr);
    return socketio_polling_open(sr);
}
