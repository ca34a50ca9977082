/* What the module and siod are doing, for the monitoring stack: a section
 * of mod_status's page (server-status; "SocketIO...: value" lines in its
 * ?auto form) and Prometheus text (SetHandler socketio-metrics). siod's
 * figures come from the "stats" operation of the HTTP API (an API frame,
 * docs/emit-api.md); this child adds whether its relay link is up and
 * how many WebSockets it holds for the next siod. */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "mod_status.h"
#include "apr_strings.h"

#include "sio_relay.h"
#include "socketio_http_int.h"
#include "socketio_ws.h"

APLOG_USE_MODULE(socketio);

#define METRICS_HANDLER "socketio-metrics"
#define PROMETHEUS_CT "text/plain; version=0.0.4; charset=utf-8"
/* A status page does not wait long for siod. */
#define STATS_TIMEOUT apr_time_from_sec(5)

/* Asks siod for its figures in format ("status", "prometheus"). Returns
 * the text (r->pool, NUL-terminated), or NULL when siod cannot answer. */
static const char *ask_stats(request_rec *r, const char *format)
{
    const socketio_server_conf *sc = socketio_config_server(r->server);
    socketio_waiter *w = NULL;
    socketio_frame *f = NULL;
    struct iovec iov;
    char *req, *out;

    if (!sc->link ||
        socketio_waiter_create(sc->link, r->pool, SIO_RELAY_MAX_BODY, &w)
            != APR_SUCCESS ||
        !socketio_waiter_can_api(w))
        return NULL;
    req = apr_psprintf(r->pool, "{\"op\":\"stats\",\"format\":\"%s\"}",
                       format);
    iov.iov_base = req;
    iov.iov_len = strlen(req);
    if (socketio_waiter_send(w, SIO_R_API, 0, 0, NULL, &iov, 1) != APR_SUCCESS ||
        socketio_waiter_wait(w, STATS_TIMEOUT, -1, &f) != APR_SUCCESS)
        return NULL;
    out = NULL;
    if (f->f.type == SIO_R_RESPONSE && f->f.status == HTTP_OK)
        out = apr_pstrmemdup(r->pool, (const char *)f->f.body, f->f.len);
    socketio_frame_release(f);
    return out;
}

/* 1 when this child's relay link to siod is up (opening it if need be). */
static int link_up(request_rec *r)
{
    const socketio_server_conf *sc = socketio_config_server(r->server);
    socketio_waiter *w = NULL;

    return sc->link && socketio_waiter_create(sc->link, r->pool, 65536, &w)
                           == APR_SUCCESS;
}

/* See socketio_http.h. */
int socketio_metrics_handler(request_rec *r)
{
    const char *text;

    if (r->handler == NULL || strcmp(r->handler, METRICS_HANDLER) != 0)
        return DECLINED;
    r->allowed = AP_METHOD_BIT << M_GET;
    if (r->method_number != M_GET)
        return HTTP_METHOD_NOT_ALLOWED;
    ap_set_content_type(r, PROMETHEUS_CT);
    text = ask_stats(r, "prometheus");
    ap_rprintf(r, "# HELP socketio_daemon_up 1 when siod answered this "
               "scrape.\n# TYPE socketio_daemon_up gauge\n"
               "socketio_daemon_up %d\n", text != NULL);
    if (text)
        ap_rputs(text, r);
    return OK;
}

/* Writes siod's "Key: value" lines as rows of an HTML table. */
static void status_html(request_rec *r, const char *lines)
{
    char *copy = apr_pstrdup(r->pool, lines), *last = NULL, *line;

    ap_rputs("<table>\n", r);
    for (line = apr_strtok(copy, "\n", &last); line;
         line = apr_strtok(NULL, "\n", &last)) {
        char *colon = strchr(line, ':');

        if (!colon)
            continue;
        *colon = '\0';
        ap_rprintf(r, "<tr><th style=\"text-align:left\">%s</th><td>%s</td>"
                   "</tr>\n", ap_escape_html(r->pool, line + 8),
                   ap_escape_html(r->pool, colon + 1));
    }
    ap_rputs("</table>\n", r);
}

/* See socketio_http.h. */
int socketio_status_hook(request_rec *r, int flags)
{
    const char *lines = ask_stats(r, "status");
    int up = link_up(r);

    if (flags & AP_STATUS_SHORT) {
        ap_rprintf(r, "SocketIOLinkUp: %d\nSocketIOWebSocketsHeld: %u\n"
                   "SocketIODaemonUp: %d\n", up, socketio_ws_held_now(),
                   lines != NULL);
        if (lines)
            ap_rputs(lines, r);
        return OK;
    }
    ap_rputs("<hr />\n<h2>Socket.IO (mod_socketio, siod)</h2>\n", r);
    ap_rprintf(r, "<p>This child's relay link to siod: %s; WebSockets it "
               "holds for the next siod: %u. siod: %s.</p>\n",
               up ? "up" : "down", socketio_ws_held_now(),
               lines ? "answering" : "not answering");
    if (lines)
        status_html(r, lines);
    return OK;
}
