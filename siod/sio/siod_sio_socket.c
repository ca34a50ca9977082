/* Sockets: one client's membership of one namespace (the reference's
 * socket.ts), through its states: connecting through the namespace's
 * middleware, events to the application (catch-all, event middleware,
 * handler) with the client's acks, server emits (with acks awaited through
 * siod_sio_ack.c), and disconnects. The socket object itself (references,
 * properties, rooms) is siod_sio_socket_base.c's. */
#include "siod_sio_int.h"
#include "core/siod_core.h"
#include "sio_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_names[] = {
    "pending", "connected", "closed"
};

/* The one place a socket's state changes: logs old -> new and why at
 * debug level. */
static void transit(siod_socket *s, enum siod_sock_state to, const char *why)
{
    siod_log_debug("socket %s on %s: %s -> %s (%s)", s->id, s->nsp->name,
                   state_names[s->state], state_names[to], why);
    s->state = to;
}

static const siod_app_module *mod_of(const siod_socket *s)
{
    return s->nsp->app->mod;
}

static void *state_of(const siod_socket *s)
{
    return s->nsp->app->state;
}

/* ---- connecting ---------------------------------------------------------- */

/* Ends the pending state of s: connected (err NULL) or refused. The
 * caller holds a reference to s. Writing the answer cannot tear s or its
 * client down (a session closed by a write reaches this layer later, from
 * the loop: siod_engine.h), but the application callbacks can drop the
 * layer's reference, which is why the caller's is needed. */
/* The end of a refused socket: closed, out of its client, its rooms and
 * its namespace's count. */
static void refused_close(siod_socket *s, const char *msg)
{
    char why[160];

    snprintf(why, sizeof why, "refused: %s", msg);
    transit(s, SOCK_CLOSED, why);
    if (s->client != NULL)
        siod_sio_client_unlink(s->client, s);
    s->client = NULL;
    s->nsp->aops->del_all(s->nsp->adapter, s);
    siod_sio_nsp_check_empty(s->nsp);
    siod_socket_unref(s);
}

/* A refusal as a Socket.IO 2 client takes it: an ERROR packet (type 4)
 * whose data is the error's data if it has some, else its message as a
 * JSON string (the reference's socket._error(err.data || err.message)),
 * which the client emits as "error". */
static void refuse_v2(siod_socket *s, const siod_error *err)
{
    const char *msg = err->message != NULL ? err->message : "";
    char *data = NULL;
    siod_sio_out o;

    if (err->data != NULL &&
        sio_json_validate(err->data, strlen(err->data), SIOD_SIO_MAX_DEPTH,
                          SIO_JSON_LONE_SURROGATES, NULL) == SIO_OK)
        data = strdup(err->data);
    else
        data = siod_json_fmt("%Q", msg);
    /* without memory for the answer the client is refused unanswered */
    if (data != NULL &&
        siod_sio_encode_raw(&o, SIO_PACKET_CONNECT_ERROR, s->nsp->name,
                            s->nsp->name_len, data, strlen(data)) == 0) {
        siod_sio_client_write(s->client, &o, 0);
        siod_sio_out_clear(&o);
    }
    free(data);
    refused_close(s, msg);
}

static void connect_finish(siod_socket *s, const siod_error *err)
{
    siod_sio_client *c = s->client;
    siod_nsp *nsp = s->nsp;
    siod_sio_out o;

    if (s->state != SOCK_PENDING || c == NULL)
        return;  /* the client left meanwhile */
    nsp->pending--;
    if (err != NULL && c->s != NULL && siod_session_eio3(c->s)) {
        refuse_v2(s, err);
        return;
    }
    if (err != NULL) {
        siod_sio_text t = { NULL, 0, 0 };
        const char *msg = err->message != NULL ? err->message : "";
        char *quoted = siod_json_fmt("{\"message\":%Q", msg);
        /* a message that is not UTF-8 cannot be JSON: sent empty */
        int rc = quoted != NULL ? siod_sio_text_add(&t, quoted, strlen(quoted))
                                : siod_sio_text_add(&t, "{\"message\":\"\"",
                                                    13);
        free(quoted);
        if (rc == 0 && err->data != NULL) {
            if (sio_json_validate(err->data, strlen(err->data),
                                  SIOD_SIO_MAX_DEPTH,
                                  SIO_JSON_LONE_SURROGATES, NULL) == SIO_OK) {
                rc = siod_sio_text_add(&t, ",\"data\":", 8);
                if (rc == 0)
                    rc = siod_sio_text_add(&t, err->data, strlen(err->data));
            } else {
                siod_log_limited(SIOD_LOG_WARN, "app %s: connect error data "
                                 "is not JSON; left out", mod_of(s)->name);
            }
        }
        if (rc == 0)
            rc = siod_sio_text_add(&t, "}", 1);
        /* without memory for the answer the client is refused unanswered */
        if (rc == 0 &&
            siod_sio_encode_raw(&o, SIO_PACKET_CONNECT_ERROR, nsp->name,
                                nsp->name_len, t.p, t.len) == 0) {
            siod_sio_client_write(c, &o, 0);
            siod_sio_out_clear(&o);
        }
        free(t.p);
        refused_close(s, msg);
        return;
    }
    transit(s, SOCK_CONNECTED, "connect accepted");
    s->nnext = nsp->sockets;
    if (nsp->sockets != NULL)
        nsp->sockets->nprev = s;
    nsp->sockets = s;
    nsp->count++;
    siod_sio_client_connected(c);
    if (nsp->aops->add(nsp->adapter, s, s->id) < 0)
        siod_log_limited(SIOD_LOG_ERROR, "socket %s: out of memory joining "
                         "its room", s->id);
    /* what it missed first, as the reference sends it */
    siod_sio_recovery_replay(s);
    siod_sio_recovery_connected(s);
    if (s->resumed)
        goto connected;         /* the client never left: no CONNECT */
    char data[96];
    /* a Socket.IO 2 client's CONNECT answer has no data */
    int n = c->s != NULL && siod_session_eio3(c->s) ? 0 :
            s->pid[0] != '\0'
                ? snprintf(data, sizeof data, "{\"sid\":\"%s\",\"pid\":\"%s\"}",
                           s->id, s->pid)
                : snprintf(data, sizeof data, "{\"sid\":\"%s\"}", s->id);
    if (siod_sio_encode_raw(&o, SIO_PACKET_CONNECT, nsp->name, nsp->name_len,
                            data, (size_t)n) == 0) {
        siod_sio_client_write(c, &o, 0);
        siod_sio_out_clear(&o);
    }
connected:
    siod_sio_observe_connection(s);
    if (s->state == SOCK_CONNECTED && mod_of(s)->on_connection != NULL) {
        siod_socket_ref(s);
        mod_of(s)->on_connection(state_of(s), s);
        siod_socket_unref(s);
    }
}

/* s (pending) is what recovery made of it: the connect middleware runs,
 * or s connects at once. */
static void connect_claimed(siod_socket *s)
{
    siod_socket_ref(s);
    if (mod_of(s)->connect_mw == NULL ||
        (s->recovered && siod_sio_recovery_skips_middleware())) {
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
}

/* A new pending socket of client c on nsp with auth[0..len) (NULL: "{}")
 * and a new id, linked to c. Returns it (the layer's reference) or NULL
 * with *rc set. */
static siod_socket *socket_new(siod_sio_client *c, siod_nsp *nsp,
                               const char *auth, size_t len, int *rc)
{
    siod_socket *s = calloc(1, sizeof *s);

    *rc = -ENOMEM;
    if (s == NULL)
        return NULL;
    s->refs = 1;
    s->state = SOCK_PENDING;         /* the initial state */
    s->nsp = siod_sio_nsp_ref(nsp);
    s->client = c;
    s->hs = siod_sio_hs_ref(siod_sio_client_hs(c));
    *rc = siod_sid_generate(s->id);
    if (*rc < 0) {
        siod_socket_unref(s);
        return NULL;
    }
    s->id[SIO_SID_LEN] = '\0';
    s->auth = auth != NULL ? strndup(auth, len) : strdup("{}");
    if (s->auth == NULL) {
        *rc = -ENOMEM;
        siod_socket_unref(s);
        return NULL;
    }
    s->issued = siod_now_ms();
    siod_sio_format_time(s->issued, s->time, sizeof s->time);
    siod_sio_client_link(c, s);
    nsp->pending++;
    return s;
}

/* s (pending, in no room) could not connect: it goes. */
static void socket_drop(siod_socket *s, const char *why)
{
    siod_nsp *nsp = s->nsp;

    transit(s, SOCK_CLOSED, why);
    siod_sio_client_unlink(s->client, s);
    s->client = NULL;
    nsp->pending--;
    siod_sio_nsp_check_empty(nsp);
    siod_socket_unref(s);   /* the layer's */
}

int siod_sio_socket_resume(siod_sio_client *c, siod_nsp *nsp,
                           const char *auth, siod_sio_saved *v,
                           const char *offset)
{
    int rc;
    siod_socket *s = socket_new(c, nsp, auth, strlen(auth), &rc);

    if (s != NULL && (rc = siod_sio_recovery_restore(s, v, offset)) < 0)
        socket_drop(s, "no memory to take it back");
    siod_sio_saved_free(v);
    if (rc < 0)
        return rc;
    s->resumed = 1;
    siod_socket_ref(s);
    connect_finish(s, NULL);
    rc = s->state == SOCK_CONNECTED && s->recovered ? 0 : -ENOENT;
    siod_socket_unref(s);
    return rc;
}

int siod_sio_socket_connect(siod_sio_client *c, siod_nsp *nsp,
                            const struct sio_json_span *auth)
{
    int rc;
    siod_socket *s = socket_new(c, nsp, auth->ptr, auth->len, &rc);

    if (s == NULL)
        return rc;

    /* s->refs is the layer's; this call holds one more until it returns */
    siod_socket_ref(s);
    rc = siod_sio_recovery_claim(s, auth, connect_claimed);
    if (rc == 0) {
        connect_claimed(s);
    } else if (rc < 0) {        /* it joined no room */
        socket_drop(s, "no memory to connect it");
    }
    siod_socket_unref(s);
    return rc < 0 ? rc : 0;
}

void siod_sio_socket_abandon(siod_socket *s)
{
    if (s->state != SOCK_PENDING)
        return;
    transit(s, SOCK_CLOSED, "the client left during connect middleware");
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
    siod_sio_recovery_save(s, reason);
    siod_sio_observe_disconnect(s, reason);
    transit(s, SOCK_CLOSED, reason);
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
    siod_sio_acks_fail(s);
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

siod_socket **siod_sio_client_sockets(siod_sio_client *c, size_t *n)
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

/* Closes c's whole connection: every connected socket gets DISCONNECT and
 * "server namespace disconnect", then the session closes. */
static void disconnect_all(siod_sio_client *c)
{
    size_t n;
    c->refs++;
    siod_socket **v = siod_sio_client_sockets(c, &n);
    for (size_t i = 0; i < n; i++) {
        siod_disconnect(v[i], 0);
        siod_socket_unref(v[i]);
    }
    free(v);
    siod_sio_client_close(c);
    siod_sio_client_unref(c);
}

void siod_disconnect(siod_socket *s, int close)
{
    siod_sio_out o;

    if (s == NULL || s->state != SOCK_CONNECTED)
        return;
    if (close) {
        disconnect_all(s->client);
        return;
    }
    if (siod_sio_encode_raw(&o, SIO_PACKET_DISCONNECT, s->nsp->name,
                            s->nsp->name_len, NULL, 0) == 0) {
        siod_sio_client_write(s->client, &o, 0);
        siod_sio_out_clear(&o);
    }
    siod_sio_socket_closed(s, "server namespace disconnect");
}

/* ---- packets from the client --------------------------------------------- */

/* An event for the application. Returns 0, or -ENOMEM (the event is
 * dropped). */
static int on_event(siod_socket *s, const struct sio_packet *p,
                    const siod_bin *bins, unsigned nbins)
{
    const siod_app_module *m = mod_of(s);
    char small[128], *name = small;
    size_t nlen, alen;
    char *args;
    siod_ack *ack = NULL;
    int rc = 0;

    if (p->event.type == SIO_JSON_STRING) {
        if (p->event.len > sizeof small && (name = malloc(p->event.len)) ==
                                               NULL)
            return -ENOMEM;
        /* the codec validated the string: this does not fail */
        if (sio_json_string_decode(&p->event, name, p->event.len, &nlen) !=
            SIO_OK) {
            if (name != small)
                free(name);
            return 0;
        }
    } else {
        if (p->event.len >= sizeof small &&
            (name = malloc(p->event.len + 1)) == NULL)
            return -ENOMEM;
        memcpy(name, p->event.ptr, p->event.len);
        nlen = p->event.len;
    }
    name[nlen] = '\0';
    args = siod_sio_args_text(p, 1, &alen);
    if (args == NULL ||
        (p->has_id && (ack = siod_sio_ack_new(s, p->id)) == NULL)) {
        rc = -ENOMEM;
        goto out;
    }
    siod_args a = { args, alen, nbins > 0 ? bins : NULL, nbins };
    siod_socket_ref(s);
    int pass = siod_sio_guard_event(s, name, nlen, &a, ack);
    if (pass <= 0) {
        if (pass < 0)
            siod_disconnect(s, 0);
        goto done;
    }
    siod_sio_observe_event(s, name, &a, 0);
    if (m->on_any != NULL && s->state == SOCK_CONNECTED)
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
    if (ack != NULL)
        siod_sio_ack_dispatched(ack);
out:
    free(args);
    if (name != small)
        free(name);
    return rc;
}

int siod_sio_socket_packet(siod_socket *s, const struct sio_packet *p,
                           const siod_bin *bins, unsigned nbins)
{
    switch (p->type) {
    case SIO_PACKET_EVENT:
    case SIO_PACKET_BINARY_EVENT:
        return on_event(s, p, bins, nbins);
    case SIO_PACKET_ACK:
    case SIO_PACKET_BINARY_ACK:
        if (p->has_id)
            siod_sio_ack_answer(s, p, bins, nbins);
        break;
    case SIO_PACKET_DISCONNECT:
        siod_sio_socket_closed(s, "client namespace disconnect");
        break;
    default:
        break;
    }
    return 0;
}

/* ---- public API: emitting ---------------------------------------------- */

/* siod_emit_ex without the translation: 0, -EINVAL, -EPERM, -EPIPE or
 * -ENOMEM. */
static int emit(siod_socket *s, const char *event, const siod_args *args,
                const siod_emit_opts *opts)
{
    siod_sio_out o;
    unsigned flags = opts != NULL ? opts->flags : 0;
    int has_id = opts != NULL && opts->ack != NULL;
    uint64_t id = 0;
    int rc;

    if (s == NULL || event == NULL)
        return -EINVAL;
    char *own[1] = { s->id };
    siod_bcast_opts sel = { own, 1, NULL, 0, flags | SIOD_ADAPTER_LOCAL };
    if (s->state != SOCK_CONNECTED || s->client == NULL) {
        if (!s->kept || has_id || !siod_sio_recovery_on())
            return -EPIPE;
        /* left, kept for recovery: logged, and sent to the socket back
         * under its id if it is, as the reference's emit (a broadcast to
         * the socket's room) does; through the cluster, where it may
         * have come back on another node */
        sel.flags &= ~SIOD_ADAPTER_LOCAL;
        rc = siod_sio_recovery_encode(&o, s->nsp, event, args, &sel);
        if (rc == 0)
            s->nsp->aops->broadcast(s->nsp->adapter, &o, &sel);
        siod_sio_out_clear(&o);
        return rc;
    }
    if (has_id) {
        id = s->nsp->next_id;
        rc = siod_sio_encode(&o, 0, s->nsp->name, has_id, id, event, args);
    } else {
        rc = siod_sio_recovery_encode(&o, s->nsp, event, args, &sel);
    }
    if (rc < 0)
        return rc;
    if (has_id) {
        rc = siod_sio_ack_await(s, id, opts->ack, opts->ack_ud,
                                opts->timeout_ms);
        if (rc < 0) {
            siod_sio_out_clear(&o);
            return rc;
        }
        s->nsp->next_id++;
    }
    rc = siod_sio_socket_write(s, &o, flags);
    siod_sio_out_clear(&o);
    if (rc == 0)
        siod_sio_observe_event(s, event, args, 1);
    /* with an ack, the callback reports a connection that failed */
    return has_id ? 0 : rc;
}

int siod_emit_ex(siod_socket *s, const char *event, const siod_args *args,
                 const siod_emit_opts *opts)
{
    return siod_sio_app_err(emit(s, event, args, opts));
}

int siod_emit(siod_socket *s, const char *event, const siod_args *args)
{
    return siod_emit_ex(s, event, args, NULL);
}
