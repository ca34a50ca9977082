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
            servers += v[i]->aops->server_count(v[i]->adapter);
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
            for (unsigned k = v[i]->aops->server_count(v[i]->adapter); k > 0;
                 k--)
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

static void for_each_nsp(siod_bcast *b,
                         void (*fn)(siod_nsp *nsp, siod_bcast *b,
                                    const char *room, int close),
                         const char *room, int close)
{
    siod_nsp **v = NULL;
    ssize_t n;
    if (b == NULL)
        return;
    if (!b->failed && (n = targets_of(b->nsp, &v)) >= 0) {
        for (ssize_t i = 0; i < n; i++)
            fn(v[i], b, room, close);
        release_targets(v, n);
    }
    siod_bcast_free(b);
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

void siod_bcast_join(siod_bcast *b, const char *room)
{
    if (room == NULL) {
        siod_bcast_free(b);
        return;
    }
    for_each_nsp(b, do_join, room, 0);
}

void siod_bcast_leave(siod_bcast *b, const char *room)
{
    if (room == NULL) {
        siod_bcast_free(b);
        return;
    }
    for_each_nsp(b, do_leave, room, 0);
}

void siod_bcast_disconnect(siod_bcast *b, int close)
{
    for_each_nsp(b, do_disconnect, NULL, close);
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

/* ---- namespaces ---------------------------------------------------------- */

int siod_nsp_emit(siod_nsp *nsp, const char *event, const siod_args *args)
{
    if (nsp == NULL)
        return siod_sio_app_err(-EINVAL);
    return siod_bcast_emit(siod_bcast_new(nsp), event, args);
}
