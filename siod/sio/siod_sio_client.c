/* The Socket.IO client: one per Engine.IO session (the reference's
 * client.ts). It decodes every message (text packets with the shared
 * codec, binary attachments gathered until the packet is whole), routes
 * packets to the socket of their namespace or connects a new one, closes
 * the session on a protocol error, and enforces connectTimeout. It is also
 * the "socketio" siod_engine_app. A client lives while its session does
 * and while a callback runs on it (a reference count). */
#include "siod_sio_int.h"
#include "core/siod_core.h"
#include "sio_packet.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

struct siod_sio_client {
    unsigned refs;
    siod_session *s;                 /* NULL once the session closed */
    struct event *connect_timer;
    siod_socket *sockets;            /* connected and pending */
    siod_sio_hs *hs;
    /* a binary packet waiting for its attachments */
    int rx_active;
    char *rx_text;
    size_t rx_len;
    unsigned rx_want, rx_n;
    siod_bin *rx_bins;               /* rx_want slots, malloc'd */
    size_t rx_bytes;                 /* text and attachments buffered */
};

static siod_engine_config layer_cfg;

/* max_attachments is --max-attachments (set by sio_init). */
static struct sio_packet_opts parse_opts = {
    SIO_PACKET_DEFAULT_MAX_ATTACHMENTS, SIOD_SIO_MAX_DEPTH,
    SIO_JSON_LONE_SURROGATES,
};

static siod_log_throttle refusal_log;

const siod_engine_config *siod_sio_config(void)
{
    return &layer_cfg;
}

static void rx_clear(siod_sio_client *c)
{
    for (unsigned i = 0; i < c->rx_n; i++)
        free((void *)c->rx_bins[i].data);
    free(c->rx_bins);
    c->rx_bins = NULL;
    free(c->rx_text);
    c->rx_text = NULL;
    c->rx_n = c->rx_want = 0;
    c->rx_len = 0;
    c->rx_bytes = 0;
    c->rx_active = 0;
}

static void client_unref(siod_sio_client *c)
{
    if (--c->refs > 0)
        return;
    rx_clear(c);
    if (c->connect_timer != NULL)
        event_free(c->connect_timer);
    siod_sio_hs_unref(c->hs);
    free(c);
}

siod_session *siod_sio_client_session(const siod_sio_client *c)
{
    return c->s;
}

siod_sio_hs *siod_sio_client_hs(const siod_sio_client *c)
{
    return c->hs;
}

void siod_sio_client_link(siod_sio_client *c, siod_socket *s)
{
    s->cnext = c->sockets;
    c->sockets = s;
}

void siod_sio_client_unlink(siod_sio_client *c, siod_socket *s)
{
    for (siod_socket **pp = &c->sockets; *pp != NULL; pp = &(*pp)->cnext)
        if (*pp == s) {
            *pp = s->cnext;
            s->cnext = NULL;
            return;
        }
}

void siod_sio_client_connected(siod_sio_client *c)
{
    if (c->connect_timer != NULL)
        event_del(c->connect_timer);
}

int siod_sio_client_write(siod_sio_client *c, const siod_sio_out *o,
                          unsigned flags)
{
    int rc = SIOD_OK;
    unsigned sflags = (flags & SIOD_EMIT_VOLATILE) ? SIOD_SEND_VOLATILE : 0;

    if (c == NULL || c->s == NULL)
        return SIOD_ECLOSED;
    if ((flags & SIOD_EMIT_VOLATILE) && !siod_session_writable(c->s)) {
        siod_log_debug("session %s: volatile packet dropped",
                       siod_session_sid(c->s));
        return SIOD_OK;
    }
    c->refs++;
    /* a failed send has closed the session: c->s is NULL from then on */
    if (siod_session_send_shared_ex(c->s, o->head, 0, sflags) < 0)
        rc = SIOD_ECLOSED;
    for (unsigned i = 0; i < o->natts && rc == SIOD_OK; i++)
        if (c->s == NULL ||
            siod_session_send_shared_ex(c->s, o->atts[i], 1, sflags) < 0)
            rc = SIOD_ECLOSED;
    client_unref(c);
    return rc;
}

/* Sends a CONNECT_ERROR (or other raw packet) to c on namespace nsp. */
static void send_raw(siod_sio_client *c, int type, const char *nsp,
                     size_t nsp_len, const char *data)
{
    siod_sio_out o;
    if (siod_sio_encode_raw(&o, type, nsp, nsp_len, data,
                            data != NULL ? strlen(data) : 0) == SIOD_OK)
        siod_sio_client_write(c, &o, 0);
    siod_sio_out_clear(&o);
}

/* Returns a snapshot of c's connected sockets, each with a reference;
 * *n is set (0 and NULL when there are none or memory runs out). */
static siod_socket **connected_sockets(siod_sio_client *c, size_t *n)
{
    size_t k = 0;
    *n = 0;
    for (siod_socket *s = c->sockets; s != NULL; s = s->cnext)
        k += s->state == SOCK_CONNECTED;
    if (k == 0)
        return NULL;
    siod_socket **v = malloc(k * sizeof *v);
    if (v == NULL)
        return NULL;
    for (siod_socket *s = c->sockets; s != NULL; s = s->cnext)
        if (s->state == SOCK_CONNECTED)
            v[(*n)++] = siod_socket_ref(s);
    return v;
}

static void close_session(siod_sio_client *c)
{
    if (c->s != NULL)
        siod_session_close(c->s, "forced close");
}

void siod_sio_client_disconnect_all(siod_sio_client *c)
{
    size_t n;
    c->refs++;
    siod_socket **v = connected_sockets(c, &n);
    for (size_t i = 0; i < n; i++) {
        siod_disconnect(v[i], 0);
        siod_socket_unref(v[i]);
    }
    free(v);
    close_session(c);
    client_unref(c);
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
    siod_socket **v = connected_sockets(c, &n);
    for (size_t i = 0; i < n; i++) {
        siod_sio_socket_error(v[i], why);
        siod_socket_unref(v[i]);
    }
    free(v);
    close_session(c);
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

/* One whole packet (attachments gathered) from the client. */
static void dispatch(siod_sio_client *c, const struct sio_packet *p,
                     const siod_bin *bins, unsigned nbins)
{
    siod_socket *s = find_socket(c, p->nsp, p->nsp_len);

    if (s == NULL && p->type == SIO_PACKET_CONNECT) {
        siod_nsp *nsp;
        size_t max = layer_cfg.max_nsps_per_session;
        if (max > 0 && socket_count(c) >= max) {
            siod_log_throttled(&refusal_log, SIOD_LOG_INFO, "session %s: "
                               "CONNECT to %.*s refused: %zu namespaces "
                               "joined (--max-namespaces-per-session)",
                               siod_session_sid(c->s),
                               (int)(p->nsp_len > 200 ? 200 : p->nsp_len),
                               p->nsp, socket_count(c));
            send_raw(c, SIO_PACKET_CONNECT_ERROR, p->nsp, p->nsp_len,
                     "{\"message\":\"Too many namespaces on this "
                     "connection\"}");
            return;
        }
        int rc = siod_sio_nsp_resolve(p->nsp, p->nsp_len, &nsp);
        if (rc == -ENOSPC) {
            send_raw(c, SIO_PACKET_CONNECT_ERROR, p->nsp, p->nsp_len,
                     "{\"message\":\"Too many dynamic namespaces\"}");
            return;
        }
        if (rc < 0) {
            siod_log_debug("session %s: CONNECT to unknown namespace %.*s",
                           siod_session_sid(c->s),
                           (int)(p->nsp_len > 200 ? 200 : p->nsp_len),
                           p->nsp);
            send_raw(c, SIO_PACKET_CONNECT_ERROR, p->nsp, p->nsp_len,
                     "{\"message\":\"Invalid namespace\"}");
            return;
        }
        siod_sio_socket_connect(c, nsp, &p->data);
        return;
    }
    if (s != NULL && s->state == SOCK_CONNECTED &&
        p->type != SIO_PACKET_CONNECT && p->type != SIO_PACKET_CONNECT_ERROR) {
        siod_sio_socket_packet(s, p, bins, nbins);
        return;
    }
    /* as the reference: a packet for a namespace not joined, a second
     * CONNECT, or CONNECT_ERROR from a client closes the connection */
    siod_log_limited(SIOD_LOG_INFO, "session %s: %s for namespace %.*s in "
                     "a wrong state, closing", siod_session_sid(c->s),
                     sio_packet_type_name(p->type),
                     (int)(p->nsp_len > 200 ? 200 : p->nsp_len), p->nsp);
    close_session(c);
}

/* Would n more bytes take what c buffers for one binary packet past
 * --max-binary-bytes? Then that is a protocol error (c's session closes)
 * and it returns 1; else 0. */
static int binary_over(siod_sio_client *c, size_t n)
{
    size_t max = layer_cfg.max_binary_bytes;
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
                         siod_session_sid(c->s), layer_cfg.connect_timeout_ms);
        close_session(c);
    }
}

static int sio_init(const siod_engine_config *cfg, void **app)
{
    layer_cfg = *cfg;
    if (cfg->max_attachments > 0)
        parse_opts.max_attachments = cfg->max_attachments;
    *app = NULL;
    return siod_sio_apps_init() < 0 ? -EINVAL : 0;
}

static void sio_destroy(void *app)
{
    siod_sio_apps_destroy();
}

static void sio_on_open(void *app, siod_session *s)
{
    siod_sio_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        goto fail;
    c->refs = 1;
    c->s = s;
    c->hs = siod_sio_hs_new(s);
    c->connect_timer = evtimer_new(layer_cfg.base, connect_timeout_cb, c);
    if (c->hs == NULL || c->connect_timer == NULL)
        goto fail;
    struct timeval tv = { (time_t)(layer_cfg.connect_timeout_ms / 1000),
                          (suseconds_t)(layer_cfg.connect_timeout_ms % 1000) *
                              1000 };
    evtimer_add(c->connect_timer, &tv);
    siod_session_set_data(s, c);
    return;
fail:
    siod_log_limited(SIOD_LOG_ERROR, "session %s: out of memory",
                     siod_session_sid(s));
    if (c != NULL)
        client_unref(c);
    siod_session_close(s, "forced close");
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
    client_unref(c);
}

static void sio_on_close(void *app, siod_session *s, const char *reason)
{
    siod_sio_client *c = siod_session_get_data(s);
    if (c == NULL)
        return;
    siod_session_set_data(s, NULL);
    c->s = NULL;
    event_del(c->connect_timer);
    rx_clear(c);
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
    client_unref(c);
}

const siod_engine_app siod_app_socketio = {
    .name = "socketio",
    .init = sio_init,
    .on_open = sio_on_open,
    .on_message = sio_on_message,
    .on_close = sio_on_close,
    .destroy = sio_destroy,
};
