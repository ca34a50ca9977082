/* The Redis recovery store's blobs (siod_sio_store_redis.c): a socket's
 * record and a logged packet as length-prefixed fields, and the packets a
 * claim read, filtered and rebuilt for a replay. Pure: bytes in, bytes
 * out, no Redis and no loop. */
#include "siod_sio_int.h"
#include "core/siod_core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct wbuf {
    char *p;
    size_t len, cap;
    int failed;
};

static void put(struct wbuf *w, const void *p, size_t n)
{
    if (w->failed)
        return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 256;
        while (cap < w->len + n)
            cap *= 2;
        char *q = realloc(w->p, cap);
        if (q == NULL) {
            w->failed = 1;
            return;
        }
        w->p = q;
        w->cap = cap;
    }
    memcpy(w->p + w->len, p, n);
    w->len += n;
}

static void put_u32(struct wbuf *w, uint32_t v)
{
    unsigned char b[4] = { v >> 24, v >> 16, v >> 8, v };
    put(w, b, 4);
}

static void put_str(struct wbuf *w, const char *s, size_t n)
{
    put_u32(w, (uint32_t)n);
    put(w, s, n);
}

struct rbuf {
    const unsigned char *p;
    size_t left;
    int bad;
};

static uint32_t get_u32(struct rbuf *r)
{
    if (r->bad || r->left < 4) {
        r->bad = 1;
        return 0;
    }
    uint32_t v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
                 (uint32_t)r->p[2] << 8 | r->p[3];
    r->p += 4;
    r->left -= 4;
    return v;
}

/* Returns the next field (not NUL-terminated), *n its bytes. */
static const char *get_str(struct rbuf *r, size_t *n)
{
    *n = get_u32(r);
    if (r->bad || r->left < *n) {
        r->bad = 1;
        *n = 0;
        return "";
    }
    const char *s = (const char *)r->p;
    r->p += *n;
    r->left -= *n;
    return s;
}

static char *get_dup(struct rbuf *r)
{
    size_t n;
    const char *s = get_str(r, &n);
    return r->bad ? NULL : strndup(s, n);
}

static int get_is(struct rbuf *r, const char *want)
{
    size_t n;
    const char *s = get_str(r, &n);
    return !r->bad && n == strlen(want) && memcmp(s, want, n) == 0;
}

char *siod_sio_blob_record(const char *sid, const char *pid,
                           const char *nsp, const char *node,
                           const char *data_json, const char *const *rooms,
                           size_t nrooms, size_t *len)
{
    struct wbuf w = { NULL, 0, 0, 0 };

    put_str(&w, "r1", 2);
    put_str(&w, sid, strlen(sid));
    put_str(&w, pid, strlen(pid));
    put_str(&w, nsp, strlen(nsp));
    put_str(&w, node, strlen(node));
    put_u32(&w, data_json != NULL);
    put_str(&w, data_json != NULL ? data_json : "",
            data_json != NULL ? strlen(data_json) : 0);
    put_u32(&w, (uint32_t)nrooms);
    for (size_t i = 0; i < nrooms; i++)
        put_str(&w, rooms[i], strlen(rooms[i]));
    if (w.failed) {
        free(w.p);
        return NULL;
    }
    *len = w.len;
    return w.p;
}

siod_sio_saved *siod_sio_blob_record_read(const char *p, size_t len,
                                          const char *nsp, char node[17])
{
    struct rbuf r = { (const unsigned char *)p, len, 0 };
    siod_sio_saved *v = calloc(1, sizeof *v);
    size_t n;
    const char *s;

    if (v == NULL || !get_is(&r, "r1"))
        goto fail;
    s = get_str(&r, &n);
    if (r.bad || n != SIO_SID_LEN || memchr(s, '\0', n) != NULL)
        goto fail;
    memcpy(v->sid, s, n);
    s = get_str(&r, &n);
    if (r.bad || n != SIO_SID_LEN || memchr(s, '\0', n) != NULL)
        goto fail;
    memcpy(v->pid, s, n);
    if (!get_is(&r, nsp))
        goto fail;
    s = get_str(&r, &n);
    if (r.bad || n >= 17)
        goto fail;
    memcpy(node, s, n);
    node[n] = '\0';
    int has_data = get_u32(&r) != 0;
    v->data_json = get_dup(&r);
    if (!has_data) {
        free(v->data_json);
        v->data_json = NULL;
    }
    uint32_t k = get_u32(&r);
    v->nsp = strdup(nsp);
    if (r.bad || v->nsp == NULL || k > r.left / 4)
        goto fail;
    v->rooms = calloc(k ? k : 1, sizeof *v->rooms);
    if (v->rooms == NULL)
        goto fail;
    for (; v->nrooms < k; v->nrooms++)
        if ((v->rooms[v->nrooms] = get_dup(&r)) == NULL)
            goto fail;
    v->at = siod_now_ms();
    return v;
fail:
    siod_sio_saved_free(v);
    return NULL;
}

char *siod_sio_blob_packet(const char *node, const char *nsp,
                           const siod_bcast_opts *o, const siod_sio_out *pkt,
                           size_t *len)
{
    struct wbuf w = { NULL, 0, 0, 0 };

    put_str(&w, "p1", 2);
    put_u32(&w, o->flags);
    put_str(&w, node, strlen(node));
    put_str(&w, nsp, strlen(nsp));
    put_u32(&w, (uint32_t)o->nrooms);
    for (size_t i = 0; i < o->nrooms; i++)
        put_str(&w, o->rooms[i], strlen(o->rooms[i]));
    put_u32(&w, (uint32_t)o->nexcept);
    for (size_t i = 0; i < o->nexcept; i++)
        put_str(&w, o->except[i], strlen(o->except[i]));
    put_u32(&w, 1 + pkt->natts);
    /* each buffer whole: its Engine.IO type byte, then the payload */
    put_str(&w, (const char *)pkt->head->bytes, pkt->head->len + 1);
    for (unsigned i = 0; i < pkt->natts; i++)
        put_str(&w, (const char *)pkt->atts[i]->bytes,
                pkt->atts[i]->len + 1);
    if (w.failed) {
        free(w.p);
        return NULL;
    }
    *len = w.len;
    return w.p;
}

/* Is the packet r (past its tag) selected for a socket of namespace nsp
 * that lived on node, whose rooms in() tells (the reference's
 * shouldIncludePacket; a local packet: only on the node that sent it)? */
static int selected(struct rbuf *r, const char *nsp, const char *node,
                    int (*in)(void *, const char *), void *ud)
{
    uint32_t flags = get_u32(r);
    int pass = get_is(r, node) || !(flags & SIOD_ADAPTER_LOCAL);

    pass = get_is(r, nsp) && pass;
    for (int except = 0; except < 2; except++) {
        uint32_t k = get_u32(r);
        int any = except || k == 0;
        for (uint32_t i = 0; i < k && !r->bad; i++) {
            size_t n;
            const char *s = get_str(r, &n);
            char *room = pass ? strndup(s, n) : NULL;
            if (room != NULL && in(ud, room))
                any = !except;
            free(room);
        }
        pass = pass && any;
    }
    return pass && !r->bad;
}

ssize_t siod_sio_blob_replay(const char *raw, size_t rawlen, const char *nsp,
                             const char *node,
                             int (*in)(void *ud, const char *room),
                             void (*fn)(void *ud, const siod_sio_out *pkt),
                             void *ud)
{
    const char *at = raw, *end = raw + rawlen;
    ssize_t count = 0;

    while (at < end) {
        size_t len = 0;
        const char *colon = at;
        while (colon < end && *colon >= '0' && *colon <= '9' &&
               len < ((size_t)1 << 40))
            len = len * 10 + (size_t)(*colon++ - '0');
        if (colon == at || colon >= end || *colon != ':' ||
            len > (size_t)(end - colon - 1))
            break;
        struct rbuf r = { (const unsigned char *)colon + 1, len, 0 };
        at = colon + 1 + len;
        if (!get_is(&r, "p1") || !selected(&r, nsp, node, in, ud))
            continue;
        uint32_t nb = get_u32(&r), made = 0;
        siod_buf **bufs = nb > 0 && nb <= r.left / 4
                              ? calloc(nb, sizeof *bufs) : NULL;
        for (; bufs != NULL && made < nb; made++) {
            size_t n;
            const char *s = get_str(&r, &n);
            if (r.bad || n == 0 || (bufs[made] = siod_buf_new(n - 1)) == NULL)
                break;
            memcpy(bufs[made]->bytes, s, n);
        }
        if (bufs != NULL && made == nb) {
            siod_sio_out o = { bufs[0], bufs + 1, nb - 1 };
            fn(ud, &o);
            count++;
        }
        for (uint32_t i = 0; i < made; i++)
            siod_buf_unref(bufs[i]);
        free(bufs);
    }
    return count;
}

