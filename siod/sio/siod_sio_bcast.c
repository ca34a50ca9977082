/* Broadcasts (the reference's broadcast-operator.ts): a builder of rooms,
 * exceptions and flags; the packet is encoded once per namespace and
 * handed to the namespace's adapter, which hands the selected sockets back
 * to siod_sio_sockets_write (one multi-send). Broadcasts with an
 * acknowledgement wait for the answers through siod_sio_ack.c. A pattern
 * namespace acts on each of its live children. Also the namespace-level
 * calls of the public API. */
#include "siod_sio_int.h"
#include "core/siod_core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct siod_bcast {
    siod_nsp *nsp;                   /* holds a reference */
    siod_bcast_opts o;
    size_t rooms_cap, except_cap;
    unsigned timeout_ms;
    int failed;
};

/* ---- the builder --------------------------------------------------------- */

siod_bcast *siod_bcast_new(siod_nsp *nsp)
{
    if (nsp == NULL)
        return NULL;
    siod_bcast *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    b->nsp = siod_sio_nsp_ref(nsp);
    return b;
}

void siod_bcast_free(siod_bcast *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->o.nrooms; i++)
        free(b->o.rooms[i]);
    for (size_t i = 0; i < b->o.nexcept; i++)
        free(b->o.except[i]);
    free(b->o.rooms);
    free(b->o.except);
    siod_sio_nsp_unref(b->nsp);
    free(b);
}

static void push_room(siod_bcast *b, char ***v, size_t *n, size_t *cap,
                      const char *room)
{
    if (b->failed)
        return;
    if (room == NULL) {
        b->failed = 1;
        return;
    }
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        char **nv = realloc(*v, nc * sizeof *nv);
        if (nv == NULL) {
            b->failed = 1;
            return;
        }
        *v = nv;
        *cap = nc;
    }
    if (((*v)[*n] = strdup(room)) == NULL) {
        b->failed = 1;
        return;
    }
    (*n)++;
}

siod_bcast *siod_bcast_to(siod_bcast *b, const char *room)
{
    if (b != NULL)
        push_room(b, &b->o.rooms, &b->o.nrooms, &b->rooms_cap, room);
    return b;
}

siod_bcast *siod_bcast_except(siod_bcast *b, const char *room)
{
    if (b != NULL)
        push_room(b, &b->o.except, &b->o.nexcept, &b->except_cap, room);
    return b;
}

siod_bcast *siod_socket_broadcast(siod_socket *s)
{
    if (s == NULL)
        return NULL;
    return siod_bcast_except(siod_bcast_new(s->nsp), s->id);
}

siod_bcast *siod_bcast_volatile(siod_bcast *b)
{
    if (b != NULL)
        b->o.flags |= SIOD_EMIT_VOLATILE;
    return b;
}

siod_bcast *siod_bcast_compress(siod_bcast *b, int on)
{
    if (b != NULL) {
        if (on)
            b->o.flags &= ~SIOD_EMIT_NO_COMPRESS;
        else
            b->o.flags |= SIOD_EMIT_NO_COMPRESS;
    }
    return b;
}

siod_bcast *siod_bcast_timeout(siod_bcast *b, unsigned ms)
{
    if (b != NULL)
        b->timeout_ms = ms;
    return b;
}

siod_bcast *siod_bcast_local(siod_bcast *b)
{
    if (b != NULL)
        b->o.flags |= SIOD_ADAPTER_LOCAL;
    return b;
}

/* The namespaces a broadcast acts on: nsp itself, or a pattern's live
 * children; each with a reference. Returns the count (*out malloc'd), or
 * -ENOMEM. */
static ssize_t targets_of(siod_nsp *nsp, siod_nsp ***out)
{
    size_t n = 0, k = 0;
    if (!nsp->is_parent) {
        *out = malloc(sizeof **out);
        if (*out == NULL)
            return -ENOMEM;
        (*out)[0] = siod_sio_nsp_ref(nsp);
        return 1;
    }
    for (siod_nsp *c = nsp->children; c != NULL; c = c->sib_next)
        n++;
    *out = malloc((n ? n : 1) * sizeof **out);
    if (*out == NULL)
        return -ENOMEM;
    for (siod_nsp *c = nsp->children; c != NULL && k < n; c = c->sib_next)
        (*out)[k++] = siod_sio_nsp_ref(c);
    return (ssize_t)k;
}

static void release_targets(siod_nsp **v, ssize_t n)
{
    for (ssize_t i = 0; i < n; i++)
        siod_sio_nsp_unref(v[i]);
    free(v);
}

/* siod_bcast_emit without the translation: 0, -EINVAL, -EPERM or
 * -ENOMEM (a builder that ran out of memory too). */
static int bcast_emit(siod_bcast *b, const char *event, const siod_args *args)
{
    siod_nsp **v = NULL;
    ssize_t n;
    int rc = 0;

    if (b == NULL)
        return -ENOMEM;
    if (b->failed || event == NULL) {
        rc = b->failed ? -ENOMEM : -EINVAL;
        siod_bcast_free(b);
        return rc;
    }
    n = targets_of(b->nsp, &v);
    if (n < 0)
        rc = (int)n;
    if (n == 0) {
        /* no child: still report a bad argument */
        siod_sio_out o;
        rc = siod_sio_encode(&o, 0, "/", 0, 0, event, args);
        siod_sio_out_clear(&o);
    }
    for (ssize_t i = 0; i < n && rc == 0; i++) {
        siod_sio_out o;
        rc = siod_sio_encode(&o, 0, v[i]->name, 0, 0, event, args);
        if (rc == 0)
            v[i]->aops->broadcast(v[i]->adapter, &o, &b->o);
        siod_sio_out_clear(&o);
    }
    release_targets(v, n);
    siod_bcast_free(b);
    return rc;
}

int siod_bcast_emit(siod_bcast *b, const char *event, const siod_args *args)
{
    return siod_sio_app_err(bcast_emit(b, event, args));
}

/* ---- writing one packet to many sockets ---------------------------------- */

size_t siod_sio_sockets_write(siod_socket *const *v, size_t n,
                              const siod_sio_out *o, unsigned flags)
{
    siod_shared_msg small[8];
    siod_shared_msg *msgs = small;
    siod_session **sess = NULL;
    size_t nmsg = 1 + (size_t)o->natts, k = 0, sent = 0;

    if (n == 0)
        return 0;
    if (nmsg > sizeof small / sizeof small[0])
        msgs = malloc(nmsg * sizeof *msgs);
    sess = msgs != NULL ? malloc(n * sizeof *sess) : NULL;
    if (sess == NULL) {
        /* no memory to gather them: one client at a time */
        for (size_t i = 0; i < n; i++)
            if (siod_sio_socket_write(v[i], o, flags) == 0)
                sent++;
        if (msgs != small)
            free(msgs);
        return sent;
    }
    msgs[0] = (siod_shared_msg){ o->head, 0 };
    for (unsigned i = 0; i < o->natts; i++)
        msgs[1 + i] = (siod_shared_msg){ o->atts[i], 1 };
    for (size_t i = 0; i < n; i++) {
        siod_session *es;
        if (v[i]->state != SOCK_CONNECTED || v[i]->client == NULL ||
            (es = siod_sio_client_session(v[i]->client)) == NULL)
            continue;
        sess[k++] = es;
    }
    /* sessions it closes stay allocated, and their sockets connected,
     * until the loop runs on_close (siod_engine.h), so sess stays valid */
    sent = siod_session_send_multi(sess, k, msgs, nmsg,
                                   (flags & SIOD_EMIT_VOLATILE)
                                       ? SIOD_SEND_VOLATILE : 0);
    free(sess);
    if (msgs != small)
        free(msgs);
    return sent;
}

/* The adapter reports nsp's servers owe a broadcast with acks of b. */
static unsigned servers_of(siod_nsp *nsp, const siod_bcast *b)
{
    if (b->o.flags & SIOD_ADAPTER_LOCAL)
        return 1;
    return nsp->aops->server_count(nsp->adapter);
}

/* siod_bcast_emit_ack without the translation: 0, -EINVAL, -EPERM or
 * -ENOMEM. */
static int bcast_emit_ack(siod_bcast *b, const char *event,
                          const siod_args *args, siod_bcast_ack_cb cb,
                          void *ud)
{
    siod_ackwait *w = NULL;
    siod_nsp **v = NULL;
    ssize_t n;
    siod_sio_out o;
    int rc;

    if (b == NULL)
        return -ENOMEM;
    if (b->failed || event == NULL || cb == NULL) {
        rc = b->failed ? -ENOMEM : -EINVAL;
        siod_bcast_free(b);
        return rc;
    }
    /* check the arguments before anything is sent */
    rc = siod_sio_encode(&o, 0, "/", 1, 0, event, args);
    siod_sio_out_clear(&o);
    if (rc < 0) {
        siod_bcast_free(b);
        return rc;
    }
    n = targets_of(b->nsp, &v);
    if (n >= 0) {
        unsigned servers = 0;
        for (ssize_t i = 0; i < n; i++)
            servers += servers_of(v[i], b);
        w = siod_sio_ackwait_new(cb, ud, servers, b->timeout_ms);
    }
    if (w == NULL) {
        if (n >= 0)
            release_targets(v, n);
        siod_bcast_free(b);
        return -ENOMEM;
    }
    /* with no target namespace, w finishes here */
    siod_sio_ackwait_start(w);
    for (ssize_t i = 0; i < n; i++) {
        uint64_t id = v[i]->next_id++;
        /* the last report may finish (and free) w; a namespace whose
         * packet cannot be encoded (memory) reports no recipient */
        if (siod_sio_encode(&o, 0, v[i]->name, 1, id, event, args) < 0) {
            for (unsigned k = servers_of(v[i], b); k > 0; k--)
                siod_sio_ackwait_count(w, 0);
            continue;
        }
        v[i]->aops->broadcast_with_ack(v[i]->adapter, &o, id, &b->o, w);
        siod_sio_out_clear(&o);
    }
    release_targets(v, n);
    siod_bcast_free(b);
    return 0;
}

int siod_bcast_emit_ack(siod_bcast *b, const char *event,
                        const siod_args *args, siod_bcast_ack_cb cb, void *ud)
{
    return siod_sio_app_err(bcast_emit_ack(b, event, args, cb, ud));
}

/* ---- acting on the selected sockets -------------------------------------- */

/* Returns -ENOTCONN if b reaches other servers and nsp's adapter cannot
 * reach them now, else 0. */
static int cluster_check(const siod_nsp *nsp, const siod_bcast *b)
{
    if ((b->o.flags & SIOD_ADAPTER_LOCAL) || nsp->aops->cluster == NULL)
        return 0;
    return nsp->aops->cluster(nsp->adapter);
}

/* Runs fn on each namespace b targets; frees b. Returns 0, -ENOMEM, or
 * -ENOTCONN (done here; some namespace's other servers not reached). */
static int for_each_nsp(siod_bcast *b,
                        void (*fn)(siod_nsp *nsp, siod_bcast *b,
                                   const char *room, int close),
                        const char *room, int close)
{
    siod_nsp **v = NULL;
    ssize_t n;
    int rc = -ENOMEM;
    if (b == NULL)
        return -ENOMEM;
    if (!b->failed && (n = targets_of(b->nsp, &v)) >= 0) {
        rc = 0;
        for (ssize_t i = 0; i < n; i++) {
            if (cluster_check(v[i], b) < 0)
                rc = -ENOTCONN;
            fn(v[i], b, room, close);
        }
        release_targets(v, n);
    }
    siod_bcast_free(b);
    return rc;
}

static void do_join(siod_nsp *nsp, siod_bcast *b, const char *room, int close)
{
    nsp->aops->add_sockets(nsp->adapter, &b->o, room);
}

static void do_leave(siod_nsp *nsp, siod_bcast *b, const char *room,
                     int close)
{
    nsp->aops->del_sockets(nsp->adapter, &b->o, room);
}

static void do_disconnect(siod_nsp *nsp, siod_bcast *b, const char *room,
                          int close)
{
    nsp->aops->disconnect_sockets(nsp->adapter, &b->o, close);
}

int siod_bcast_join(siod_bcast *b, const char *room)
{
    if (room == NULL) {
        siod_bcast_free(b);
        return SIOD_EINVAL;
    }
    return siod_sio_app_err(for_each_nsp(b, do_join, room, 0));
}

int siod_bcast_leave(siod_bcast *b, const char *room)
{
    if (room == NULL) {
        siod_bcast_free(b);
        return SIOD_EINVAL;
    }
    return siod_sio_app_err(for_each_nsp(b, do_leave, room, 0));
}

int siod_bcast_disconnect(siod_bcast *b, int close)
{
    return siod_sio_app_err(for_each_nsp(b, do_disconnect, NULL, close));
}

size_t siod_bcast_sockets(siod_bcast *b,
                          void (*fn)(void *ud, siod_socket *s), void *ud)
{
    siod_nsp **v = NULL;
    ssize_t n;
    size_t total = 0;

    if (b == NULL)
        return 0;
    if (!b->failed && (n = targets_of(b->nsp, &v)) >= 0) {
        for (ssize_t i = 0; i < n; i++) {
            siod_socket **socks = NULL;
            ssize_t k = v[i]->aops->select(v[i]->adapter, &b->o, &socks);
            for (ssize_t j = 0; j < k; j++) {
                if (fn != NULL)
                    fn(ud, socks[j]);
                siod_socket_unref(socks[j]);
            }
            free(socks);
            total += k > 0 ? (size_t)k : 0;
        }
        release_targets(v, n);
    }
    siod_bcast_free(b);
    return total;
}

/* ---- fetching sockets across the cluster ----------------------------------- */

/* The reference adapter's requestsTimeout. */
#define FETCH_TIMEOUT_MS 5000

/* A fetch gathering the sockets of every target namespace's servers. */
struct fetch {
    siod_fetch_cb cb;
    void *ud;
    unsigned pending;                /* adapters still asking, +1 starting */
    int err;
    siod_remote_socket *v;
    char **owned;                    /* 4 per item: strings to free */
    size_t n, cap;
    siod_nsp **nsps;                 /* the targets, with references */
    ssize_t nnsps;
};

/* Adds one item (strings copied into owned where own[k] is set). */
static int fetch_add(struct fetch *f, const siod_remote_socket *r,
                     char *own[4])
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        siod_remote_socket *v = realloc(f->v, cap * sizeof *v);
        if (v != NULL)
            f->v = v;
        char **o = v != NULL ? realloc(f->owned, cap * 4 * sizeof *o) : NULL;
        if (o == NULL)
            return -ENOMEM;
        f->owned = o;
        f->cap = cap;
    }
    f->v[f->n] = *r;
    memcpy(f->owned + 4 * f->n, own, 4 * sizeof *own);
    f->n++;
    return 0;
}

static void fetch_free(struct fetch *f)
{
    for (size_t i = 0; i < f->n; i++) {
        if (f->v[i].socket != NULL)
            siod_socket_unref(f->v[i].socket);
        for (int k = 0; k < 4; k++)
            free(f->owned[4 * i + k]);
    }
    free(f->v);
    free(f->owned);
    release_targets(f->nsps, f->nnsps);
    free(f);
}

static void fetch_deliver(void *ud)
{
    struct fetch *f = ud;
    if (f->err < 0)
        f->cb(f->ud, siod_sio_app_err(f->err), NULL, 0);
    else
        f->cb(f->ud, SIOD_OK, f->v, f->n);
    fetch_free(f);
}

static void fetch_done(struct fetch *f)
{
    if (--f->pending == 0)
        fetch_deliver(f);
}

static void fetch_remote(void *ud, int err, const siod_adapter_remote *v,
                         size_t n)
{
    struct fetch *f = ud;
    if (err < 0 && f->err == 0)
        f->err = err;
    for (size_t i = 0; i < n && f->err == 0; i++) {
        char *own[4] = { strdup(v[i].id), strdup(v[i].handshake),
                         strdup(v[i].rooms), strdup(v[i].data) };
        siod_remote_socket r = { own[0], own[1], own[2], own[3], NULL };
        if (own[0] == NULL || own[1] == NULL || own[2] == NULL ||
            own[3] == NULL || fetch_add(f, &r, own) < 0) {
            for (int k = 0; k < 4; k++)
                free(own[k]);
            f->err = -ENOMEM;
        }
    }
    fetch_done(f);
}

struct rooms_text {
    siod_sio_text t;
    int failed;
};

static void rooms_text_add(void *ud, const char *room)
{
    struct rooms_text *r = ud;
    char *q = siod_json_fmt("%Q", room);
    if (q == NULL || (r->t.len > 1 && siod_sio_text_add(&r->t, ",", 1) < 0) ||
        siod_sio_text_add(&r->t, q, strlen(q)) < 0)
        r->failed = 1;
    free(q);
}

/* A local socket s (whose reference f takes over). */
static int fetch_local(struct fetch *f, siod_nsp *nsp, siod_socket *s)
{
    struct rooms_text r = { { NULL, 0, 0 }, 0 };
    const char *hs = siod_handshake_json(s), *data = siod_socket_data_json(s);
    char *own[4] = { NULL, NULL, NULL, NULL };

    if (siod_sio_text_add(&r.t, "[", 1) < 0)
        r.failed = 1;
    else
        nsp->aops->socket_rooms(nsp->adapter, s, rooms_text_add, &r);
    if (r.failed || hs == NULL || siod_sio_text_add(&r.t, "]", 1) < 0) {
        free(r.t.p);
        siod_socket_unref(s);
        return -ENOMEM;
    }
    own[2] = r.t.p;
    /* the application may set other data before the delivery */
    own[3] = strdup(data != NULL ? data : "{}");
    siod_remote_socket item = { s->id, hs, own[2], own[3], s };
    if (own[3] == NULL || fetch_add(f, &item, own) < 0) {
        free(own[2]);
        free(own[3]);
        siod_socket_unref(s);
        return -ENOMEM;
    }
    return 0;
}

/* siod_bcast_fetch without the translation. */
static int bcast_fetch(siod_bcast *b, siod_fetch_cb cb, void *ud)
{
    struct fetch *f;
    int rc = 0;

    if (b == NULL)
        return -ENOMEM;
    if (b->failed || cb == NULL) {
        rc = b->failed ? -ENOMEM : -EINVAL;
        siod_bcast_free(b);
        return rc;
    }
    f = calloc(1, sizeof *f);
    if (f == NULL || (f->nnsps = targets_of(b->nsp, &f->nsps)) < 0) {
        free(f);
        siod_bcast_free(b);
        return -ENOMEM;
    }
    f->cb = cb;
    f->ud = ud;
    /* the other servers cannot be asked: nothing is started */
    for (ssize_t i = 0; i < f->nnsps && rc == 0; i++)
        rc = cluster_check(f->nsps[i], b);
    for (ssize_t i = 0; i < f->nnsps && rc == 0; i++) {
        siod_nsp *nsp = f->nsps[i];
        siod_socket **socks = NULL;
        ssize_t k = nsp->aops->select(nsp->adapter, &b->o, &socks);
        if (k < 0)
            rc = (int)k;
        for (ssize_t j = 0; j < k; j++)
            if (fetch_local(f, nsp, socks[j]) < 0)
                rc = -ENOMEM;
        free(socks);
    }
    f->pending = 1;
    unsigned started = 0;
    for (ssize_t i = 0; i < f->nnsps && rc == 0; i++) {
        siod_nsp *nsp = f->nsps[i];
        if ((b->o.flags & SIOD_ADAPTER_LOCAL) || nsp->aops->fetch == NULL)
            continue;
        f->pending++;
        int r = nsp->aops->fetch(nsp->adapter, &b->o,
                                 b->timeout_ms ? b->timeout_ms
                                               : FETCH_TIMEOUT_MS,
                                 fetch_remote, f);
        if (r < 0) {
            f->pending--;
            if (started == 0)
                rc = r;              /* nothing asked yet: fail now */
            else
                f->err = r;
        } else {
            started++;
        }
    }
    siod_bcast_free(b);
    if (rc < 0) {
        fetch_free(f);
        return rc;
    }
    /* the answers come later, or nothing is awaited: delivered from the
     * loop, never from this call */
    if (--f->pending == 0 && siod_timer_start(0, 0, fetch_deliver, f) ==
                                 NULL) {
        fetch_free(f);
        return -ENOMEM;
    }
    return 0;
}

int siod_bcast_fetch(siod_bcast *b, siod_fetch_cb cb, void *ud)
{
    return siod_sio_app_err(bcast_fetch(b, cb, ud));
}

/* ---- namespaces ---------------------------------------------------------- */

int siod_nsp_emit(siod_nsp *nsp, const char *event, const siod_args *args)
{
    if (nsp == NULL)
        return siod_sio_app_err(-EINVAL);
    return siod_bcast_emit(siod_bcast_new(nsp), event, args);
}
