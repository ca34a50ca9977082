/* Acknowledgements, both ways. Awaited by the server: a single emit's
 * (one entry on the socket, with its timeout) and a broadcast's (a wait
 * that gathers every client's first answer argument until all answered,
 * left, or the timeout fired; each recipient socket holds an entry that
 * points at it). Owed to a client: the siod_ack an event that asks for one
 * hands to the application. Calls only the socket object
 * (siod_sio_socket_base.c) and the layer's bottom files. */
#include "siod_sio_int.h"
#include "core/siod_core.h"

#include <errno.h>
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
    siod_ackwait *w;                 /* a broadcast waiting for answers */
};

struct siod_ack {
    siod_socket *sock;               /* holds a reference; NULL for */
    siod_adapter_answer_fn reply;    /* another server's emit */
    void *reply_ud;
    uint64_t id;
    int sent;
    int held;
    int in_dispatch;
};

struct resp {
    char *json;                      /* the first ack argument, or "null" */
    size_t len;
    siod_bin *bins;
    unsigned nbins;
};

struct siod_ackwait {
    siod_bcast_ack_cb cb;
    void *ud;
    struct event *timer;
    unsigned servers_expected, servers_reported;
    size_t expected, received, gone;
    struct resp *resps;
    size_t nresp, resp_cap;
    siod_socket **targets;           /* with references, to forget them */
    size_t ntargets, targets_cap;
    int done;
    unsigned refs;                   /* its own, and a cluster adapter's */
};

/* ---- a socket's list of awaited acks ------------------------------------- */

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
    cb(ud, s, siod_sio_app_err(-ETIMEDOUT), NULL);
    siod_socket_unref(s);
}

/* Drops s's entry for wait w, if any (w finished without it). */
static void ackent_forget(siod_socket *s, siod_ackwait *w)
{
    for (siod_sio_ackent *e = s->acks; e != NULL; e = e->next)
        if (e->w == w) {
            ackent_unlink(e);
            ackent_free(e);
            return;
        }
}

/* ---- broadcasts with acknowledgements ------------------------------------ */

static void ackwait_free(siod_ackwait *w)
{
    for (size_t i = 0; i < w->nresp; i++) {
        free(w->resps[i].json);
        for (unsigned k = 0; k < w->resps[i].nbins; k++)
            free((void *)w->resps[i].bins[k].data);
        free(w->resps[i].bins);
    }
    free(w->resps);
    free(w->targets);
    if (w->timer != NULL)
        event_free(w->timer);
    free(w);
}

/* Ends w: the application's callback gets the answers gathered and err
 * (0, -ETIMEDOUT or -ECONNRESET: some recipients left), then w is
 * freed. */
static void ackwait_finish(siod_ackwait *w, int err)
{
    siod_sio_text t = { NULL, 0, 0 };
    siod_bin *bins = NULL;
    unsigned nbins = 0;
    int rc;

    w->done = 1;
    if (w->timer != NULL)
        event_del(w->timer);
    for (size_t i = 0; i < w->ntargets; i++) {
        ackent_forget(w->targets[i], w);
        siod_socket_unref(w->targets[i]);
    }
    w->ntargets = 0;
    for (size_t i = 0; i < w->nresp; i++)
        nbins += w->resps[i].nbins;
    if (nbins > 0 && (bins = calloc(nbins, sizeof *bins)) == NULL)
        nbins = 0;
    rc = siod_sio_text_add(&t, "[", 1);
    unsigned off = 0;
    for (size_t i = 0; i < w->nresp && rc == 0; i++) {
        const struct resp *r = &w->resps[i];
        unsigned rb = bins != NULL ? r->nbins : 0;
        if (i > 0)
            rc = siod_sio_text_add(&t, ",", 1);
        if (rc == 0)
            rc = siod_sio_text_add_renumbered(&t, r->json, r->len, rb, off);
        for (unsigned k = 0; k < rb; k++)
            bins[off + k] = r->bins[k];
        off += rb;
    }
    if (rc == 0)
        rc = siod_sio_text_add(&t, "]", 1);
    /* no memory for the answers: the callback still runs, with none */
    siod_args a = { rc == 0 ? t.p : "[]", rc == 0 ? t.len : 2,
                    bins, rc == 0 ? off : 0 };
    w->cb(w->ud, siod_sio_app_err(err), &a, rc == 0 ? w->nresp : 0);
    free(bins);
    free(t.p);
    siod_sio_ackwait_release(w);
}

static void ackwait_check(siod_ackwait *w)
{
    if (!w->done && w->servers_reported >= w->servers_expected &&
        w->received + w->gone >= w->expected)
        ackwait_finish(w, w->gone > 0 ? -ECONNRESET : 0);
}

static void ackwait_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    siod_ackwait *w = arg;
    siod_log_debug("broadcast with ack timed out: %zu of %zu answered",
                   w->received, w->expected);
    ackwait_finish(w, -ETIMEDOUT);
}

/* s is sent a broadcast whose answers w gathers (w keeps a reference to
 * forget s when it finishes). Returns 0 or -ENOMEM. */
static int ackwait_target(siod_ackwait *w, siod_socket *s)
{
    if (w->ntargets == w->targets_cap) {
        size_t cap = w->targets_cap ? w->targets_cap * 2 : 16;
        siod_socket **v = realloc(w->targets, cap * sizeof *v);
        if (v == NULL)
            return -ENOMEM;
        w->targets = v;
        w->targets_cap = cap;
    }
    w->targets[w->ntargets++] = siod_socket_ref(s);
    return 0;
}

/* A client answered a broadcast ack (args: its ACK data). */
static void ackwait_answer(siod_ackwait *w, const siod_args *args)
{
    const char *json;
    size_t len;
    struct resp r = { NULL, 0, NULL, 0 };

    if (w->done)
        return;
    w->received++;
    if (w->nresp == w->resp_cap) {
        size_t cap = w->resp_cap ? w->resp_cap * 2 : 16;
        struct resp *v = realloc(w->resps, cap * sizeof *v);
        if (v == NULL)
            goto out;
        w->resps = v;
        w->resp_cap = cap;
    }
    /* the reference keeps the first argument; none is undefined -> null */
    if (siod_arg_raw(args, 0, &json, &len) != SIOD_OK) {
        json = "null";
        len = 4;
    }
    r.json = strndup(json, len);
    r.len = len;
    if (r.json == NULL)
        goto out;
    if (args->nbins > 0) {
        r.bins = calloc(args->nbins, sizeof *r.bins);
        if (r.bins == NULL)
            goto fail;
        for (unsigned k = 0; k < args->nbins; k++) {
            void *copy = malloc(args->bins[k].len ? args->bins[k].len : 1);
            if (copy == NULL)
                goto fail;
            memcpy(copy, args->bins[k].data, args->bins[k].len);
            r.bins[k].data = copy;
            r.bins[k].len = args->bins[k].len;
            r.nbins++;
        }
    }
    w->resps[w->nresp++] = r;
    goto out;
fail:
    for (unsigned k = 0; k < r.nbins; k++)
        free((void *)r.bins[k].data);
    free(r.bins);
    free(r.json);
out:
    ackwait_check(w);
}

/* A client owing an answer disconnected. */
static void ackwait_gone(siod_ackwait *w)
{
    if (w->done)
        return;
    w->gone++;
    ackwait_check(w);
}

void siod_sio_ackwait_count(siod_ackwait *w, size_t n)
{
    w->expected += n;
    w->servers_reported++;
    ackwait_check(w);
}

siod_ackwait *siod_sio_ackwait_new(siod_bcast_ack_cb cb, void *ud,
                                   unsigned servers, unsigned timeout_ms)
{
    siod_ackwait *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->cb = cb;
    w->ud = ud;
    w->refs = 1;
    w->servers_expected = servers;
    if (timeout_ms > 0) {
        struct timeval tv = { (time_t)(timeout_ms / 1000),
                              (suseconds_t)(timeout_ms % 1000) * 1000 };
        w->timer = evtimer_new(siod_sio_config()->base, ackwait_timeout_cb, w);
        if (w->timer == NULL) {
            ackwait_free(w);
            return NULL;
        }
        evtimer_add(w->timer, &tv);
    }
    return w;
}

void siod_sio_ackwait_hold(siod_ackwait *w)
{
    w->refs++;
}

void siod_sio_ackwait_release(siod_ackwait *w)
{
    if (--w->refs == 0)
        ackwait_free(w);
}

int siod_sio_ackwait_finished(const siod_ackwait *w)
{
    return w->done;
}

void siod_sio_ackwait_answer(siod_ackwait *w, const char *json, size_t len,
                             const siod_adapter_bin *bins, unsigned nbins)
{
    siod_bin small[8], *b = small;
    char *arr;

    if (w->done)
        return;
    arr = malloc(len + 3);
    if (nbins > sizeof small / sizeof small[0])
        b = malloc(nbins * sizeof *b);
    if (arr == NULL || b == NULL) {
        /* no memory to keep it: counted as an answer all the same */
        w->received++;
        ackwait_check(w);
    } else {
        arr[0] = '[';
        memcpy(arr + 1, json, len);
        arr[len + 1] = ']';
        arr[len + 2] = '\0';
        for (unsigned i = 0; i < nbins; i++)
            b[i] = (siod_bin){ bins[i].data, bins[i].len };
        siod_args a = { arr, len + 2, b, nbins };
        ackwait_answer(w, &a);
    }
    free(arr);
    if (b != small)
        free(b);
}

void siod_sio_ackwait_start(siod_ackwait *w)
{
    ackwait_check(w);   /* nobody to ask: answered at once */
}

/* ---- awaiting answers ----------------------------------------------------- */

int siod_sio_ack_await(siod_socket *s, uint64_t id, siod_ack_cb cb, void *ud,
                       unsigned timeout_ms)
{
    siod_sio_ackent *e = calloc(1, sizeof *e);
    if (e == NULL)
        return -ENOMEM;
    e->id = id;
    e->cb = cb;
    e->ud = ud;
    if (timeout_ms > 0) {
        struct timeval tv = { (time_t)(timeout_ms / 1000),
                              (suseconds_t)(timeout_ms % 1000) * 1000 };
        e->timer = evtimer_new(siod_sio_config()->base, ack_timeout_cb, e);
        if (e->timer == NULL) {
            free(e);
            return -ENOMEM;
        }
        evtimer_add(e->timer, &tv);
    }
    ackent_push(s, e);
    return 0;
}

int siod_sio_socket_expect(siod_socket *s, uint64_t id, siod_ackwait *w)
{
    siod_sio_ackent *e = calloc(1, sizeof *e);
    int rc;
    if (e == NULL)
        return -ENOMEM;
    e->id = id;
    e->w = w;
    rc = ackwait_target(w, s);
    if (rc < 0) {
        free(e);
        return rc;
    }
    ackent_push(s, e);
    return 0;
}

void siod_sio_acks_fail(siod_socket *s)
{
    while (s->acks != NULL) {
        siod_sio_ackent *e = s->acks;
        ackent_unlink(e);
        if (e->w != NULL) {
            siod_ackwait *w = e->w;
            ackent_free(e);
            ackwait_gone(w);
        } else {
            siod_ack_cb cb = e->cb;
            void *ud = e->ud;
            ackent_free(e);
            cb(ud, s, siod_sio_app_err(-ECONNRESET), NULL);
        }
    }
}

void siod_sio_ack_answer(siod_socket *s, const struct sio_packet *p,
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
    args = siod_sio_args_text(p, 0, &alen);
    if (args == NULL)
        return;   /* e stays: its timeout or the disconnect will report */
    siod_args a = { args, alen, nbins > 0 ? bins : NULL, nbins };
    ackent_unlink(e);
    if (e->w != NULL) {
        siod_ackwait *w = e->w;
        ackent_free(e);
        /* the last answer runs the application's callback */
        siod_socket_ref(s);
        ackwait_answer(w, &a);
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

/* ---- acks owed to the client ---------------------------------------------- */

siod_ack *siod_sio_ack_new(siod_socket *s, uint64_t id)
{
    siod_ack *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    a->sock = siod_socket_ref(s);
    a->id = id;
    a->in_dispatch = 1;
    return a;
}

siod_ack *siod_sio_ack_new_server(siod_adapter_answer_fn fn, void *ud)
{
    siod_ack *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    a->reply = fn;
    a->reply_ud = ud;
    a->in_dispatch = 1;
    return a;
}

static void ack_free(siod_ack *a)
{
    if (a->reply != NULL && !a->sent)
        a->reply(a->reply_ud, 0, NULL, 0);
    if (a->sock != NULL)
        siod_socket_unref(a->sock);
    free(a);
}

/* The answer to another server: its first argument, JSON only. */
static int ack_send_server(siod_ack *ack, const siod_args *args)
{
    struct sio_json_span v;
    const char *json = "null";
    size_t len = 4;

    if (args != NULL && args->nbins > 0)
        return -EINVAL;
    if (args != NULL && args->json != NULL) {
        size_t n = args->len ? args->len : strlen(args->json);
        if (sio_json_validate(args->json, n, SIOD_SIO_MAX_DEPTH,
                              SIO_JSON_LONE_SURROGATES, &v) != SIO_OK ||
            v.type != SIO_JSON_ARRAY)
            return -EINVAL;
        if (siod_arg_raw(args, 0, &json, &len) != SIOD_OK) {
            json = "null";
            len = 4;
        }
    }
    ack->reply(ack->reply_ud, 1, json, len);
    return 0;
}

void siod_sio_ack_dispatched(siod_ack *a)
{
    a->in_dispatch = 0;
    if (!a->held)
        ack_free(a);
}

int siod_ack_send(siod_ack *ack, const siod_args *args)
{
    siod_socket *s;
    siod_sio_out o;
    int rc;

    if (ack == NULL)
        return siod_sio_app_err(-EINVAL);
    if (ack->sent)
        return siod_sio_app_err(-EALREADY);
    s = ack->sock;
    if (s == NULL) {
        rc = ack_send_server(ack, args);
        if (rc < 0)
            return siod_sio_app_err(rc);   /* the ack may be sent again */
    } else if (s->state != SOCK_CONNECTED) {
        rc = -EPIPE;
    } else {
        rc = siod_sio_encode(&o, 1, s->nsp->name, 1, ack->id, NULL, args);
        if (rc < 0)
            return siod_sio_app_err(rc);   /* the ack may be sent again */
        rc = siod_sio_socket_write(s, &o, 0);
        siod_sio_out_clear(&o);
    }
    ack->sent = 1;
    if (ack->held) {
        ack->held = 0;
        if (!ack->in_dispatch)
            ack_free(ack);
    }
    return siod_sio_app_err(rc);
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
