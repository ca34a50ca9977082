/* Sockets: one client's membership of one namespace (the reference's
 * socket.ts). Connecting through the namespace's middleware, events to the
 * application (catch-all, event middleware, handler) with the client's
 * acks, server emits with acks awaited (timeouts, failure on disconnect),
 * rooms, disconnects, and the socket half of the public API. A socket
 * object is reference-counted: the layer holds one while it is pending or
 * connected, callbacks and applications hold others. */
#include "siod_sio_int.h"
#include "core/siod_core.h"
#include "sio_json.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

struct siod_sio_ackent {
    siod_sio_ackent *prev, *next;    /* the socket's list */
    uint64_t id;
    siod_socket *sock;
    siod_ack_cb cb;                  /* a single emit's callback, or */
    void *ud;
    struct event *timer;
    siod_ackwait *w;      /* a broadcast waiting for answers */
};

struct siod_ack {
    siod_socket *sock;               /* holds a reference */
    uint64_t id;
    int sent;
    int held;
    int in_dispatch;
};

static const siod_app_module *mod_of(const siod_socket *s)
{
    return s->nsp->app->mod;
}

static void *state_of(const siod_socket *s)
{
    return s->nsp->app->state;
}

/* ---- references ---------------------------------------------------------- */

siod_socket *siod_socket_ref(siod_socket *s)
{
    s->refs++;
    return s;
}

void siod_socket_unref(siod_socket *s)
{
    if (s == NULL || --s->refs > 0)
        return;
    if (s->data_free != NULL)
        s->data_free(s->data);
    free(s->auth);
    free(s->hs_json);
    free(s->data_json);
    siod_sio_hs_unref(s->hs);
    siod_sio_nsp_unref(s->nsp);
    free(s);
}

/* ---- acks the server waits for ------------------------------------------- */

static void ackent_unlink(siod_sio_ackent *e)
{
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        e->sock->acks = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    e->prev = e->next = NULL;
}

static void ackent_push(siod_socket *s, siod_sio_ackent *e)
{
    e->sock = s;
    e->next = s->acks;
    if (s->acks != NULL)
        s->acks->prev = e;
    s->acks = e;
}

static void ackent_free(siod_sio_ackent *e)
{
    if (e->timer != NULL)
        event_free(e->timer);
    free(e);
}

static void ack_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    siod_sio_ackent *e = arg;
    siod_socket *s = siod_socket_ref(e->sock);
    siod_ack_cb cb = e->cb;
    void *ud = e->ud;

    siod_log_debug("socket %s: ack %llu timed out", s->id,
                   (unsigned long long)e->id);
    ackent_unlink(e);
    ackent_free(e);
    cb(ud, s, SIOD_ETIMEDOUT, NULL);
    siod_socket_unref(s);
}

int siod_sio_socket_expect(siod_socket *s, uint64_t id,
                           siod_ackwait *w)
{
    siod_sio_ackent *e = calloc(1, sizeof *e);
    if (e == NULL)
        return -1;
    e->id = id;
    e->w = w;
    if (siod_sio_ackwait_target(w, s) < 0) {
        free(e);
        return -1;
    }
    ackent_push(s, e);
    return 0;
}

void siod_sio_socket_forget(siod_socket *s, siod_ackwait *w)
{
    for (siod_sio_ackent *e = s->acks; e != NULL; e = e->next)
        if (e->w == w) {
            ackent_unlink(e);
            ackent_free(e);
            return;
        }
}

/* Fails every ack s awaits (s is disconnected). */
static void fail_acks(siod_socket *s)
{
    while (s->acks != NULL) {
        siod_sio_ackent *e = s->acks;
        ackent_unlink(e);
        if (e->w != NULL) {
            siod_ackwait *w = e->w;
            ackent_free(e);
            siod_sio_ackwait_gone(w);
        } else {
            siod_ack_cb cb = e->cb;
            void *ud = e->ud;
            ackent_free(e);
            cb(ud, s, SIOD_EDISCONNECTED, NULL);
        }
    }
}

/* ---- connecting ---------------------------------------------------------- */

/* Ends the pending state of s: connected (err NULL) or refused. The
 * caller holds a reference to s. Writing the answer cannot tear s or its
 * client down (a session closed by a write reaches this layer later, from
 * the loop: siod_engine.h), but the application callbacks can drop the
 * layer's reference, which is why the caller's is needed. */
static void connect_finish(siod_socket *s, const siod_error *err)
{
    siod_sio_client *c = s->client;
    siod_nsp *nsp = s->nsp;
    siod_sio_out o;

    if (s->state != SOCK_PENDING || c == NULL)
        return;  /* the client left meanwhile */
    nsp->pending--;
    if (err != NULL) {
        siod_sio_text t = { NULL, 0, 0 };
        const char *msg = err->message != NULL ? err->message : "";
        char *quoted = siod_json_fmt("{\"message\":%Q", msg);
        /* a message that is not UTF-8 cannot be JSON: sent empty */
        int rc = quoted != NULL ? siod_sio_text_add(&t, quoted, strlen(quoted))
                                : siod_sio_text_add(&t, "{\"message\":\"\"",
                                                    13);
        free(quoted);
        if (rc == SIOD_OK && err->data != NULL) {
            if (sio_json_validate(err->data, strlen(err->data),
                                  SIOD_SIO_MAX_DEPTH,
                                  SIO_JSON_LONE_SURROGATES, NULL) == SIO_OK) {
                rc = siod_sio_text_add(&t, ",\"data\":", 8);
                if (rc == SIOD_OK)
                    rc = siod_sio_text_add(&t, err->data, strlen(err->data));
            } else {
                siod_log_limited(SIOD_LOG_WARN, "app %s: connect error data "
                                 "is not JSON; left out", mod_of(s)->name);
            }
        }
        if (rc == SIOD_OK)
            rc = siod_sio_text_add(&t, "}", 1);
        siod_log_debug("socket %s: refused on %s: %s", s->id, nsp->name, msg);
        if (rc == SIOD_OK &&
            siod_sio_encode_raw(&o, SIO_PACKET_CONNECT_ERROR, nsp->name,
                                nsp->name_len, t.p, t.len) == SIOD_OK) {
            siod_sio_client_write(c, &o, 0);
            siod_sio_out_clear(&o);
        }
        free(t.p);
        s->state = SOCK_CLOSED;
        if (s->client != NULL)
            siod_sio_client_unlink(s->client, s);
        s->client = NULL;
        nsp->aops->del_all(nsp->adapter, s);
        siod_sio_nsp_check_empty(nsp);
        siod_socket_unref(s);
        return;
    }
    s->state = SOCK_CONNECTED;
    s->nnext = nsp->sockets;
    if (nsp->sockets != NULL)
        nsp->sockets->nprev = s;
    nsp->sockets = s;
    nsp->count++;
    siod_sio_client_connected(c);
    if (nsp->aops->add(nsp->adapter, s, s->id) < 0)
        siod_log_limited(SIOD_LOG_ERROR, "socket %s: out of memory joining "
                         "its room", s->id);
    char data[64];
    int n = snprintf(data, sizeof data, "{\"sid\":\"%s\"}", s->id);
    if (siod_sio_encode_raw(&o, SIO_PACKET_CONNECT, nsp->name, nsp->name_len,
                            data, (size_t)n) == SIOD_OK) {
        siod_sio_client_write(c, &o, 0);
        siod_sio_out_clear(&o);
    }
    siod_log_debug("socket %s connected to %s", s->id, nsp->name);
    if (s->state == SOCK_CONNECTED && mod_of(s)->on_connection != NULL) {
        siod_socket_ref(s);
        mod_of(s)->on_connection(state_of(s), s);
        siod_socket_unref(s);
    }
}

void siod_sio_socket_connect(siod_sio_client *c, siod_nsp *nsp,
                             const struct sio_json_span *auth)
{
    siod_socket *s = calloc(1, sizeof *s);
    siod_session *sess = siod_sio_client_session(c);

    if (s == NULL)
        goto oom;
    s->refs = 1;
    s->state = SOCK_PENDING;
    s->nsp = siod_sio_nsp_ref(nsp);
    s->client = c;
    s->hs = siod_sio_hs_ref(siod_sio_client_hs(c));
    if (siod_sid_generate(s->id) < 0) {
        siod_socket_unref(s);
        goto oom;
    }
    s->id[SIO_SID_LEN] = '\0';
    s->auth = auth->ptr != NULL ? strndup(auth->ptr, auth->len)
                                : strdup("{}");
    if (s->auth == NULL) {
        siod_socket_unref(s);
        goto oom;
    }
    s->issued = siod_now_ms();
    siod_sio_format_time(s->issued, s->time, sizeof s->time);
    siod_sio_client_link(c, s);
    nsp->pending++;

    /* s->refs is the layer's; this call holds one more until it returns */
    siod_socket_ref(s);
    if (mod_of(s)->connect_mw == NULL) {
        connect_finish(s, NULL);
    } else {
        siod_error err = { NULL, NULL };
        int r = mod_of(s)->connect_mw(state_of(s), s, &err);
        if (r == SIOD_MW_PENDING) {
            s->mw_pending = 1;
            s->refs++;   /* released by siod_connect_resume */
        } else {
            connect_finish(s, r == SIOD_MW_REJECT ? &err : NULL);
        }
    }
    siod_socket_unref(s);
    return;
oom:
    siod_log_limited(SIOD_LOG_ERROR, "session %s: out of memory connecting "
                     "to %s", sess != NULL ? siod_session_sid(sess) : "?",
                     nsp->name);
}

void siod_sio_socket_abandon(siod_socket *s)
{
    if (s->state != SOCK_PENDING)
        return;
    s->state = SOCK_CLOSED;
    if (s->client != NULL)
        siod_sio_client_unlink(s->client, s);
    s->client = NULL;
    s->nsp->pending--;
    s->nsp->aops->del_all(s->nsp->adapter, s);
    siod_sio_nsp_check_empty(s->nsp);
    siod_socket_unref(s);
}

void siod_connect_resume(siod_socket *s, const siod_error *err)
{
    if (s == NULL || !s->mw_pending)
        return;
    s->mw_pending = 0;
    connect_finish(s, err);   /* under the reference mw_pending held */
    siod_socket_unref(s);
}

/* ---- leaving ------------------------------------------------------------- */

void siod_sio_socket_closed(siod_socket *s, const char *reason)
{
    siod_nsp *nsp = s->nsp;

    if (s->state != SOCK_CONNECTED || s->closing)
        return;
    s->closing = 1;
    siod_socket_ref(s);
    if (mod_of(s)->on_disconnecting != NULL)
        mod_of(s)->on_disconnecting(state_of(s), s, reason);
    s->state = SOCK_CLOSED;
    siod_log_debug("socket %s left %s: %s", s->id, nsp->name, reason);
    nsp->aops->del_all(nsp->adapter, s);
    if (s->nprev != NULL)
        s->nprev->nnext = s->nnext;
    else
        nsp->sockets = s->nnext;
    if (s->nnext != NULL)
        s->nnext->nprev = s->nprev;
    s->nprev = s->nnext = NULL;
    nsp->count--;
    if (s->client != NULL)
        siod_sio_client_unlink(s->client, s);
    s->client = NULL;
    fail_acks(s);
    if (mod_of(s)->on_disconnect != NULL)
        mod_of(s)->on_disconnect(state_of(s), s, reason);
    siod_sio_nsp_check_empty(nsp);
    siod_socket_unref(s);   /* the layer's */
    siod_socket_unref(s);
}

void siod_sio_socket_error(siod_socket *s, const char *why)
{
    if (mod_of(s)->on_error != NULL) {
        siod_error err = { why, NULL };
        mod_of(s)->on_error(state_of(s), s, &err);
    }
}

void siod_disconnect(siod_socket *s, int close)
{
    siod_sio_out o;

    if (s == NULL || s->state != SOCK_CONNECTED)
        return;
    if (close) {
        siod_sio_client_disconnect_all(s->client);
        return;
    }
    if (siod_sio_encode_raw(&o, SIO_PACKET_DISCONNECT, s->nsp->name,
                            s->nsp->name_len, NULL, 0) == SIOD_OK) {
        siod_sio_client_write(s->client, &o, 0);
        siod_sio_out_clear(&o);
    }
    siod_sio_socket_closed(s, "server namespace disconnect");
}

/* ---- packets from the client --------------------------------------------- */

static siod_ack *ack_new(siod_socket *s, uint64_t id)
{
    siod_ack *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    a->sock = siod_socket_ref(s);
    a->id = id;
    a->in_dispatch = 1;
    return a;
}

static void ack_free(siod_ack *a)
{
    siod_socket_unref(a->sock);
    free(a);
}

/* Copies the packet's data as the args array: without the event name for
 * an event (skip_first), NUL-terminated. Returns a malloc'd string. */
static char *args_text(const struct sio_packet *p, int skip_first,
                       size_t *len)
{
    const char *b = p->data.ptr, *e = p->data.ptr + p->data.len;
    char *out;

    if (skip_first) {
        b = p->event.ptr + p->event.len;
        while (b < e && (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n'))
            b++;
        /* b is at ',' (more arguments) or at the closing ']' */
        if (b < e && *b == ',')
            b++;
        *len = (size_t)(e - b) + 1;
        out = malloc(*len + 1);
        if (out == NULL)
            return NULL;
        out[0] = '[';
        memcpy(out + 1, b, (size_t)(e - b));
    } else {
        *len = p->data.len;
        out = malloc(*len + 1);
        if (out == NULL)
            return NULL;
        memcpy(out, b, *len);
    }
    out[*len] = '\0';
    return out;
}

static void on_event(siod_socket *s, const struct sio_packet *p,
                     const siod_bin *bins, unsigned nbins)
{
    const siod_app_module *m = mod_of(s);
    char small[128], *name = small;
    size_t nlen, alen;
    char *args;
    siod_ack *ack = NULL;

    if (p->event.type == SIO_JSON_STRING) {
        if (p->event.len > sizeof small && (name = malloc(p->event.len)) ==
                                               NULL)
            return;
        if (sio_json_string_decode(&p->event, name, p->event.len, &nlen) !=
            SIO_OK) {
            if (name != small)
                free(name);
            return;
        }
    } else {
        if (p->event.len >= sizeof small &&
            (name = malloc(p->event.len + 1)) == NULL)
            return;
        memcpy(name, p->event.ptr, p->event.len);
        nlen = p->event.len;
    }
    name[nlen] = '\0';
    args = args_text(p, 1, &alen);
    if (args == NULL || (p->has_id && (ack = ack_new(s, p->id)) == NULL)) {
        siod_log_limited(SIOD_LOG_ERROR, "socket %s: out of memory for an "
                         "event", s->id);
        goto out;
    }
    siod_args a = { args, alen, nbins > 0 ? bins : NULL, nbins };
    siod_socket_ref(s);
    if (m->on_any != NULL)
        m->on_any(state_of(s), s, name, &a, ack);
    if (s->state == SOCK_CONNECTED && m->event_mw != NULL) {
        siod_error err = { NULL, NULL };
        if (m->event_mw(state_of(s), s, name, &a, &err) != 0) {
            siod_log_debug("socket %s: event %s dropped by middleware",
                           s->id, name);
            if (m->on_error != NULL && s->state == SOCK_CONNECTED) {
                if (err.message == NULL)
                    err.message = "";
                m->on_error(state_of(s), s, &err);
            }
            goto done;
        }
    }
    if (s->state == SOCK_CONNECTED && m->on_event != NULL)
        m->on_event(state_of(s), s, name, &a, ack);
done:
    siod_socket_unref(s);
    if (ack != NULL) {
        ack->in_dispatch = 0;
        if (!ack->held)
            ack_free(ack);
    }
out:
    free(args);
    if (name != small)
        free(name);
}

static void on_ack(siod_socket *s, const struct sio_packet *p,
                   const siod_bin *bins, unsigned nbins)
{
    siod_sio_ackent *e;
    size_t alen;
    char *args;

    for (e = s->acks; e != NULL; e = e->next)
        if (e->id == p->id)
            break;
    if (e == NULL) {
        siod_log_debug("socket %s: ack %llu not awaited (ignored)", s->id,
                       (unsigned long long)p->id);
        return;
    }
    args = args_text(p, 0, &alen);
    if (args == NULL)
        return;   /* e stays: its timeout or the disconnect will report */
    siod_args a = { args, alen, nbins > 0 ? bins : NULL, nbins };
    ackent_unlink(e);
    if (e->w != NULL) {
        siod_ackwait *w = e->w;
        ackent_free(e);
        /* the last answer runs the application's callback */
        siod_socket_ref(s);
        siod_sio_ackwait_answer(w, &a);
        siod_socket_unref(s);
    } else {
        siod_ack_cb cb = e->cb;
        void *ud = e->ud;
        ackent_free(e);
        siod_socket_ref(s);
        cb(ud, s, 0, &a);
        siod_socket_unref(s);
    }
    free(args);
}

void siod_sio_socket_packet(siod_socket *s, const struct sio_packet *p,
                            const siod_bin *bins, unsigned nbins)
{
    switch (p->type) {
    case SIO_PACKET_EVENT:
    case SIO_PACKET_BINARY_EVENT:
        on_event(s, p, bins, nbins);
        break;
    case SIO_PACKET_ACK:
    case SIO_PACKET_BINARY_ACK:
        if (p->has_id)
            on_ack(s, p, bins, nbins);
        break;
    case SIO_PACKET_DISCONNECT:
        siod_sio_socket_closed(s, "client namespace disconnect");
        break;
    default:
        break;
    }
}

int siod_sio_socket_write(siod_socket *s, const siod_sio_out *o,
                          unsigned flags)
{
    if (s->state != SOCK_CONNECTED || s->client == NULL)
        return SIOD_ECLOSED;
    return siod_sio_client_write(s->client, o, flags);
}

/* ---- public API: emitting and acks --------------------------------------- */

int siod_emit_ex(siod_socket *s, const char *event, const siod_args *args,
                 const siod_emit_opts *opts)
{
    siod_sio_out o;
    siod_sio_ackent *e = NULL;
    unsigned flags = opts != NULL ? opts->flags : 0;
    int has_id = opts != NULL && opts->ack != NULL;
    uint64_t id = 0;
    int rc;

    if (s == NULL || event == NULL)
        return SIOD_EINVAL;
    if (s->state != SOCK_CONNECTED || s->client == NULL)
        return SIOD_ECLOSED;
    if (has_id)
        id = s->nsp->next_id;
    rc = siod_sio_encode(&o, 0, s->nsp->name, has_id, id, event, args);
    if (rc != SIOD_OK)
        return rc;
    if (has_id) {
        e = calloc(1, sizeof *e);
        if (e == NULL) {
            siod_sio_out_clear(&o);
            return SIOD_ENOMEM;
        }
        s->nsp->next_id++;
        e->id = id;
        e->cb = opts->ack;
        e->ud = opts->ack_ud;
        if (opts->timeout_ms > 0) {
            struct timeval tv = { (time_t)(opts->timeout_ms / 1000),
                                  (suseconds_t)(opts->timeout_ms % 1000) *
                                      1000 };
            e->timer = evtimer_new(siod_sio_config()->base, ack_timeout_cb, e);
            if (e->timer == NULL) {
                free(e);
                siod_sio_out_clear(&o);
                return SIOD_ENOMEM;
            }
            evtimer_add(e->timer, &tv);
        }
        ackent_push(s, e);
    }
    rc = siod_sio_socket_write(s, &o, flags);
    siod_sio_out_clear(&o);
    /* with an ack, the callback reports a connection that failed */
    return has_id ? SIOD_OK : rc;
}

int siod_emit(siod_socket *s, const char *event, const siod_args *args)
{
    return siod_emit_ex(s, event, args, NULL);
}

int siod_ack_send(siod_ack *ack, const siod_args *args)
{
    siod_socket *s;
    siod_sio_out o;
    int rc;

    if (ack == NULL)
        return SIOD_EINVAL;
    if (ack->sent)
        return SIOD_EALREADY;
    s = ack->sock;
    if (s->state != SOCK_CONNECTED) {
        rc = SIOD_ECLOSED;
    } else {
        rc = siod_sio_encode(&o, 1, s->nsp->name, 1, ack->id, NULL, args);
        if (rc != SIOD_OK)
            return rc;
        rc = siod_sio_socket_write(s, &o, 0);
        siod_sio_out_clear(&o);
    }
    ack->sent = 1;
    if (ack->held) {
        ack->held = 0;
        if (!ack->in_dispatch)
            ack_free(ack);
    }
    return rc;
}

siod_ack *siod_ack_hold(siod_ack *ack)
{
    if (ack != NULL)
        ack->held = 1;
    return ack;
}

void siod_ack_release(siod_ack *ack)
{
    if (ack == NULL || !ack->held)
        return;
    ack->held = 0;
    if (!ack->in_dispatch)
        ack_free(ack);
}

/* ---- public API: the socket ---------------------------------------------- */

const char *siod_socket_id(const siod_socket *s)
{
    return s->id;
}

int siod_socket_connected(const siod_socket *s)
{
    return s->state == SOCK_CONNECTED;
}

siod_nsp *siod_socket_nsp(const siod_socket *s)
{
    return s->nsp;
}

const char *siod_socket_transport(const siod_socket *s)
{
    siod_session *sess = s->client != NULL
                             ? siod_sio_client_session(s->client) : NULL;
    return sess != NULL ? siod_session_transport(sess) : NULL;
}

void siod_socket_set_data(siod_socket *s, void *data, void (*free_fn)(void *))
{
    if (s->data_free != NULL && s->data != data)
        s->data_free(s->data);
    s->data = data;
    s->data_free = free_fn;
}

void *siod_socket_data(const siod_socket *s)
{
    return s->data;
}

int siod_socket_set_data_json(siod_socket *s, const char *json, size_t len)
{
    char *copy = NULL;
    if (json != NULL) {
        if (len == 0)
            len = strlen(json);
        if (sio_json_validate(json, len, SIOD_SIO_MAX_DEPTH,
                              SIO_JSON_LONE_SURROGATES, NULL) != SIO_OK)
            return SIOD_EINVAL;
        copy = strndup(json, len);
        if (copy == NULL)
            return SIOD_ENOMEM;
    }
    free(s->data_json);
    s->data_json = copy;
    return SIOD_OK;
}

const char *siod_socket_data_json(const siod_socket *s)
{
    return s->data_json;
}

int siod_join(siod_socket *s, const char *room)
{
    static siod_log_throttle refusals;
    size_t max = siod_sio_config()->max_rooms_per_socket;

    if (s == NULL || room == NULL)
        return SIOD_EINVAL;
    if (s->state == SOCK_CLOSED)
        return SIOD_ECLOSED;
    const siod_adapter_ops *a = s->nsp->aops;
    if (max > 0 && !a->has(s->nsp->adapter, s, room)) {
        /* its own room (joined at connect) is not counted */
        size_t n = a->socket_rooms(s->nsp->adapter, s, NULL, NULL) -
                   (size_t)(a->has(s->nsp->adapter, s, s->id) != 0);
        if (n >= max) {
            siod_log_throttled(&refusals, SIOD_LOG_INFO, "socket %s: join "
                               "refused: in %zu rooms on %s "
                               "(--max-rooms-per-socket)", s->id, n,
                               s->nsp->name);
            return SIOD_ELIMIT;
        }
    }
    return a->add(s->nsp->adapter, s, room) < 0 ? SIOD_ENOMEM : SIOD_OK;
}

int siod_leave(siod_socket *s, const char *room)
{
    if (s == NULL || room == NULL)
        return SIOD_EINVAL;
    if (s->state == SOCK_CLOSED)
        return SIOD_ECLOSED;
    s->nsp->aops->del(s->nsp->adapter, s, room);
    return SIOD_OK;
}

int siod_in_room(const siod_socket *s, const char *room)
{
    if (s == NULL || room == NULL || s->state == SOCK_CLOSED)
        return 0;
    return s->nsp->aops->has(s->nsp->adapter, s, room);
}

size_t siod_socket_rooms(const siod_socket *s,
                         void (*fn)(void *ud, const char *room), void *ud)
{
    if (s == NULL || s->state == SOCK_CLOSED)
        return 0;
    return s->nsp->aops->socket_rooms(s->nsp->adapter, s, fn, ud);
}
