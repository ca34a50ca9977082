/* The Socket.IO client, top of the layer: one per Engine.IO session (the
 * reference's client.ts). It decodes every message (text packets with the
 * shared codec, binary attachments gathered until the packet is whole),
 * routes packets to the socket of their namespace or connects a new one,
 * closes the session on a protocol error, and enforces connectTimeout. It
 * is also the "socketio" siod_engine_app, which starts the layer (its
 * settings, the namespaces' adapters, the applications' hooks) and stops
 * it. The client object's connection side is siod_sio_conn.c's. */
#include "siod_sio_int.h"
#include "core/siod_core.h"
#include "sio_packet.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

/* max_attachments is --max-attachments (set by sio_init). */
static struct sio_packet_opts parse_opts = {
    SIO_PACKET_DEFAULT_MAX_ATTACHMENTS, SIOD_SIO_MAX_DEPTH,
    SIO_JSON_LONE_SURROGATES,
};

/* Refusals at a limit a client can repeat: CONNECTs past
 * --max-namespaces-per-session, new dynamic namespaces past
 * --max-dynamic-namespaces. */
static siod_log_throttle refusal_log, dynamic_refusal_log;

/* The applications' start and stop (siod_sio_set_apps). */
static const siod_sio_apps *apps_ops;
static const siod_adapter_ops *adapter_ops = &siod_adapter_mem;

/* Sends a CONNECT_ERROR (or other raw packet) to c on namespace nsp. */
static void send_raw(siod_sio_client *c, int type, const char *nsp,
                     size_t nsp_len, const char *data)
{
    siod_sio_out o;
    if (siod_sio_encode_raw(&o, type, nsp, nsp_len, data,
                            data != NULL ? strlen(data) : 0) == 0)
        siod_sio_client_write(c, &o, 0);
    siod_sio_out_clear(&o);
}

/* The client broke the protocol: every socket hears about it (the
 * reference's onerror), then the connection closes. */
static void protocol_error(siod_sio_client *c, const char *why)
{
    size_t n;
    if (c->s == NULL)
        return;
    siod_log_limited(SIOD_LOG_INFO, "session %s: invalid Socket.IO packet "
                     "(%s), closing", siod_session_sid(c->s), why);
    siod_socket **v = siod_sio_client_sockets(c, &n);
    for (size_t i = 0; i < n; i++) {
        siod_sio_socket_error(v[i], why);
        siod_socket_unref(v[i]);
    }
    free(v);
    siod_sio_client_close(c);
}

static siod_socket *find_socket(siod_sio_client *c, const char *nsp,
                                size_t len)
{
    for (siod_socket *s = c->sockets; s != NULL; s = s->cnext)
        if (s->nsp->name_len == len && memcmp(s->nsp->name, nsp, len) == 0)
            return s;
    return NULL;
}

/* Returns the sockets (connected or in middleware) c has. */
static size_t socket_count(const siod_sio_client *c)
{
    size_t n = 0;
    for (const siod_socket *s = c->sockets; s != NULL; s = s->cnext)
        n++;
    return n;
}

/* One whole packet (attachments gathered) from the client. The failures
 * of what it calls stop here (the engine's on_message): it logs them. */
/* A Socket.IO 2 client's CONNECT names its query in the namespace
 * ("/admin?x=y"): connects to the namespace without it, with the query as
 * the auth object, as the reference does for these clients. Returns
 * siod_sio_socket_connect's code, or -ENOMEM. */
static int connect_v2(siod_sio_client *c, siod_nsp *nsp,
                      const struct sio_packet *p, size_t name_len)
{
    size_t qn = p->nsp_len - name_len;
    char *auth = siod_sio_query_json(p->nsp + name_len + (qn > 0),
                                     qn > 0 ? qn - 1 : 0);
    struct sio_json_span span = { auth, auth != NULL ? strlen(auth) : 0,
                                  SIO_JSON_OBJECT };
    int rc;

    if (auth == NULL)
        return -ENOMEM;
    rc = siod_sio_socket_connect(c, nsp, &span);
    free(auth);
    return rc;
}

static void dispatch(siod_sio_client *c, const struct sio_packet *p,
                     const siod_bin *bins, unsigned nbins)
{
    int v2 = c->s != NULL && siod_session_eio3(c->s);
    size_t name_len = p->nsp_len;
    siod_socket *s;
    char why[512];
    int rc;

    if (v2 && p->type == SIO_PACKET_CONNECT) {
        const char *q = memchr(p->nsp, '?', p->nsp_len);
        if (q != NULL)
            name_len = (size_t)(q - p->nsp);
    }
    s = find_socket(c, p->nsp, name_len);
    if (s == NULL && p->type == SIO_PACKET_CONNECT) {
        siod_nsp *nsp;
        size_t max = siod_sio_config()->max_nsps_per_session;
        if (max > 0 && socket_count(c) >= max) {
            siod_log_throttled(&refusal_log, SIOD_LOG_INFO, "session %s: "
                               "CONNECT to %.*s refused: %zu namespaces "
                               "joined (--max-namespaces-per-session)",
                               siod_session_sid(c->s),
                               (int)(name_len > 200 ? 200 : name_len),
                               p->nsp, socket_count(c));
            send_raw(c, SIO_PACKET_CONNECT_ERROR, p->nsp, name_len,
                     "{\"message\":\"Too many namespaces on this "
                     "connection\"}");
            return;
        }
        rc = siod_sio_nsp_resolve(p->nsp, name_len, &nsp, why,
                                  sizeof why);
        if (rc == -ENOSPC) {
            siod_log_throttled(&dynamic_refusal_log, SIOD_LOG_WARN, "%s",
                               why);
            send_raw(c, SIO_PACKET_CONNECT_ERROR, p->nsp, name_len,
                     "{\"message\":\"Too many dynamic namespaces\"}");
            return;
        }
        if (rc < 0) {
            if (rc == -ENOENT)
                siod_log_debug("session %s: CONNECT to unknown namespace "
                               "%.*s", siod_session_sid(c->s),
                               (int)(name_len > 200 ? 200 : name_len),
                               p->nsp);
            else
                siod_log_limited(SIOD_LOG_ERROR, "%s", why);
            send_raw(c, SIO_PACKET_CONNECT_ERROR, p->nsp, name_len,
                     "{\"message\":\"Invalid namespace\"}");
            return;
        }
        rc = v2 ? connect_v2(c, nsp, p, name_len)
                : siod_sio_socket_connect(c, nsp, &p->data);
        if (rc < 0)
            siod_log_limited(SIOD_LOG_ERROR, "session %s: cannot connect to "
                             "%s: %s", siod_session_sid(c->s), nsp->name,
                             siod_strerror(rc));
        return;
    }
    if (s != NULL && s->state == SOCK_CONNECTED &&
        p->type != SIO_PACKET_CONNECT && p->type != SIO_PACKET_CONNECT_ERROR) {
        /* a reference: the application may let s go while it runs */
        siod_socket_ref(s);
        rc = siod_sio_socket_packet(s, p, bins, nbins);
        if (rc < 0)   /* -ENOMEM: the event was dropped */
            siod_log_limited(SIOD_LOG_ERROR, "socket %s: out of memory for "
                             "an event", s->id);
        siod_socket_unref(s);
        return;
    }
    /* as the reference: a packet for a namespace not joined, a second
     * CONNECT, or CONNECT_ERROR from a client closes the connection */
    siod_log_limited(SIOD_LOG_INFO, "session %s: %s for namespace %.*s in "
                     "a wrong state, closing", siod_session_sid(c->s),
                     sio_packet_type_name(p->type),
                     (int)(p->nsp_len > 200 ? 200 : p->nsp_len), p->nsp);
    siod_sio_client_close(c);
}

/* Would n more bytes take what c buffers for one binary packet past
 * --max-binary-bytes? Then that is a protocol error (c's session closes)
 * and it returns 1; else 0. */
static int binary_over(siod_sio_client *c, size_t n)
{
    size_t max = siod_sio_config()->max_binary_bytes;
    char why[128];

    if (max == 0 || (c->rx_bytes <= max && n <= max - c->rx_bytes))
        return 0;
    snprintf(why, sizeof why, "a binary packet of more than %zu bytes "
             "(--max-binary-bytes)", max);
    protocol_error(c, why);
    return 1;
}

static void on_text(siod_sio_client *c, const char *data, size_t len)
{
    struct sio_packet p;
    int rc;

    if (c->rx_active) {
        protocol_error(c, "got plaintext data when reconstructing a packet");
        return;
    }
    rc = sio_packet_parse(data, len, &parse_opts, &p);
    if (rc != SIO_OK) {
        char why[96];
        /* the codec's reason, with the option that sets the limit */
        if (rc == SIO_ETOOBIG && p.why != NULL &&
            strcmp(p.why, "too many attachments") == 0) {
            snprintf(why, sizeof why, "more than %u attachments "
                     "(--max-attachments)", parse_opts.max_attachments);
            p.why = why;
        }
        protocol_error(c, p.why != NULL ? p.why : sio_strerror(rc));
        return;
    }
    if ((p.type == SIO_PACKET_BINARY_EVENT ||
         p.type == SIO_PACKET_BINARY_ACK) && p.attachments > 0) {
        size_t found;
        if (sio_packet_scan_placeholders(&p.data, p.attachments, NULL, 0,
                                         &found) != SIO_OK) {
            protocol_error(c, "illegal attachments");
            return;
        }
        if (binary_over(c, len))
            return;
        c->rx_text = malloc(len);
        c->rx_bins = calloc(p.attachments, sizeof *c->rx_bins);
        if (c->rx_text == NULL || c->rx_bins == NULL) {
            free(c->rx_text);
            c->rx_text = NULL;
            free(c->rx_bins);
            c->rx_bins = NULL;
            protocol_error(c, "out of memory");
            return;
        }
        c->rx_bytes = len;
        memcpy(c->rx_text, data, len);
        c->rx_len = len;
        c->rx_want = p.attachments;
        c->rx_active = 1;
        return;
    }
    dispatch(c, &p, NULL, 0);
}

static void on_binary(siod_sio_client *c, const unsigned char *data,
                      size_t len)
{
    struct sio_packet p;
    siod_bin *bins;
    unsigned n;
    char *text;

    if (!c->rx_active) {
        protocol_error(c, "got binary data when not reconstructing a packet");
        return;
    }
    if (binary_over(c, len))
        return;
    void *copy = malloc(len ? len : 1);
    if (copy == NULL) {
        protocol_error(c, "out of memory");
        return;
    }
    memcpy(copy, data, len);
    c->rx_bins[c->rx_n].data = copy;
    c->rx_bins[c->rx_n++].len = len;
    c->rx_bytes += len;
    if (c->rx_n < c->rx_want)
        return;
    /* whole: take the state off the client (callbacks may decode more) */
    n = c->rx_n;
    bins = c->rx_bins;
    text = c->rx_text;
    size_t tlen = c->rx_len;
    c->rx_bins = NULL;
    c->rx_text = NULL;
    c->rx_n = c->rx_want = 0;
    c->rx_bytes = 0;
    c->rx_active = 0;
    if (sio_packet_parse(text, tlen, &parse_opts, &p) == SIO_OK)
        dispatch(c, &p, bins, n);
    for (unsigned i = 0; i < n; i++)
        free((void *)bins[i].data);
    free(bins);
    free(text);
}

/* ---- the siod_engine_app ------------------------------------------------ */

static void connect_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    siod_sio_client *c = arg;
    for (siod_socket *s = c->sockets; s != NULL; s = s->cnext)
        if (s->state == SOCK_CONNECTED)
            return;
    if (c->s != NULL) {
        siod_log_limited(SIOD_LOG_INFO, "session %s: no namespace joined "
                         "within connectTimeout (%u ms), closing",
                         siod_session_sid(c->s),
                         siod_sio_config()->connect_timeout_ms);
        siod_sio_client_close(c);
    }
}

void siod_sio_set_apps(const siod_sio_apps *ops)
{
    apps_ops = ops;
}

void siod_sio_set_adapter(const struct siod_adapter_ops *ops)
{
    adapter_ops = ops != NULL ? ops : &siod_adapter_mem;
}

/* The layer's start. A failure is logged here with its detail (which
 * namespace, which application): the engine hands main only the code,
 * which main logs as "cannot start socketio: ...". */
static int sio_init(const siod_engine_config *cfg, void **app)
{
    char why[512];
    int rc;

    siod_sio_set_config(cfg);
    if (cfg->max_attachments > 0)
        parse_opts.max_attachments = cfg->max_attachments;
    *app = NULL;
    rc = siod_sio_nsps_start(adapter_ops, &siod_sio_adapter_host, why,
                             sizeof why);
    if (rc < 0) {
        siod_log(SIOD_LOG_ERROR, "%s", why);
        return rc;
    }
    rc = siod_sio_recovery_start(why, sizeof why);
    if (rc < 0) {
        siod_log(SIOD_LOG_ERROR, "%s", why);
        return rc;
    }
    if (apps_ops != NULL) {
        rc = apps_ops->init(why, sizeof why);
        if (rc < 0) {
            siod_log(SIOD_LOG_ERROR, "%s", why);
            return rc;
        }
    }
    return 0;
}

static void sio_destroy(void *app)
{
    if (apps_ops != NULL)
        apps_ops->destroy();
    siod_sio_recovery_stop();
}

/* A Socket.IO 2 client is in the main namespace from the start, without
 * a CONNECT of its own (the reference connects it on open). Where "/" is
 * not served, nothing is sent: such a client may use other namespaces. */
static void connect_main(siod_sio_client *c)
{
    static const struct sio_json_span none = { NULL, 0, SIO_JSON_NONE };
    char why[256];
    siod_nsp *nsp;
    int rc = siod_sio_nsp_resolve("/", 1, &nsp, why, sizeof why);

    if (rc < 0) {
        siod_log_debug("session %s: no namespace \"/\" for a Socket.IO 2 "
                       "client", siod_session_sid(c->s));
        return;
    }
    rc = siod_sio_socket_connect(c, nsp, &none);
    if (rc < 0)
        siod_log_limited(SIOD_LOG_ERROR, "session %s: cannot connect to /: "
                         "%s", siod_session_sid(c->s), siod_strerror(rc));
}

/* The client of session s, its data from now on; NULL if memory runs
 * out. */
static siod_sio_client *client_new(siod_session *s)
{
    const siod_engine_config *cfg = siod_sio_config();
    siod_sio_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->refs = 1;
    c->s = s;
    c->hs = siod_sio_hs_new(s);
    c->connect_timer = evtimer_new(cfg->base, connect_timeout_cb, c);
    if (c->hs == NULL || c->connect_timer == NULL) {
        siod_sio_client_unref(c);
        return NULL;
    }
    siod_session_set_data(s, c);
    return c;
}

static void sio_on_open(void *app, siod_session *s)
{
    const siod_engine_config *cfg = siod_sio_config();
    siod_sio_client *c = client_new(s);
    if (c == NULL) {
        siod_log_limited(SIOD_LOG_ERROR, "session %s: out of memory",
                         siod_session_sid(s));
        siod_session_close(s, "forced close");
        return;
    }
    struct timeval tv = { (time_t)(cfg->connect_timeout_ms / 1000),
                          (suseconds_t)(cfg->connect_timeout_ms % 1000) *
                              1000 };
    evtimer_add(c->connect_timer, &tv);
    if (siod_session_eio3(s))
        connect_main(c);
}

/* A WebSocket the previous siod handed over: its session opens again
 * under its id, its sockets come back (siod_sio_handover.c). A session
 * this siod was not handed is refused (the client reconnects); one whose
 * sockets cannot all come back is closed at once ("transport close":
 * those that came back are kept again, and the client recovers them). */
static int sio_on_resume(void *app, const siod_resume *r, const char *sid)
{
    siod_sio_handover *h = siod_sio_recovery_handover_take(sid);
    siod_sio_client *c;
    siod_session *s;
    char why[256] = "out of memory";
    int rc;

    if (h == NULL)
        return -ENOENT;
    s = siod_session_resume(r, h->info, h->info_len, &rc);
    if (s == NULL) {
        siod_sio_handover_free(h);
        return rc;
    }
    c = client_new(s);
    rc = c != NULL ? siod_sio_handover_restore(c, h, why, sizeof why)
                   : -ENOMEM;
    siod_sio_handover_free(h);
    if (rc < 0) {
        siod_log_limited(SIOD_LOG_WARN, "session %s taken back but closed: "
                         "%s; its client reconnects", sid, why);
        siod_session_close(s, "transport close");
        return 0;
    }
    siod_log_debug("session %s taken back on its WebSocket", sid);
    return 0;
}

static void sio_on_message(void *app, siod_session *s,
                           const unsigned char *data, size_t len, int binary)
{
    siod_sio_client *c = siod_session_get_data(s);
    if (c == NULL || c->s == NULL)
        return;
    c->refs++;
    if (binary)
        on_binary(c, data, len);
    else
        on_text(c, (const char *)data, len);
    siod_sio_client_unref(c);
}

static void sio_on_close(void *app, siod_session *s, const char *reason)
{
    siod_sio_client *c = siod_session_get_data(s);
    if (c == NULL)
        return;
    siod_sio_handover_record(c, s);
    siod_session_set_data(s, NULL);
    c->s = NULL;
    event_del(c->connect_timer);
    siod_sio_client_rx_clear(c);
    while (c->sockets != NULL) {
        siod_socket *k = c->sockets;
        c->sockets = k->cnext;
        k->cnext = NULL;
        /* k may be inside its on_disconnecting: it must not come back to
         * this client, which may be freed below */
        k->client = NULL;
        if (k->state == SOCK_CONNECTED)
            siod_sio_socket_closed(k, reason);
        else
            siod_sio_socket_abandon(k);
    }
    siod_sio_client_unref(c);
}

/* The session moved to WebSocket: the observers hear it of each of its
 * sockets (the reference's socket_updated). */
static void sio_on_upgrade(void *app, siod_session *s)
{
    siod_sio_client *c = siod_session_get_data(s);
    size_t n;

    if (c == NULL || c->s == NULL || !siod_sio_observed())
        return;
    c->refs++;
    siod_socket **v = siod_sio_client_sockets(c, &n);
    for (size_t i = 0; i < n; i++) {
        siod_sio_observe_upgrade(v[i]);
        siod_socket_unref(v[i]);
    }
    free(v);
    siod_sio_client_unref(c);
}

const siod_engine_app siod_app_socketio = {
    .name = "socketio",
    .init = sio_init,
    .on_open = sio_on_open,
    .on_message = sio_on_message,
    .on_close = sio_on_close,
    .destroy = sio_destroy,
    .on_api = siod_sio_api,
    .on_upgrade = sio_on_upgrade,
    .on_resume = sio_on_resume,
};
