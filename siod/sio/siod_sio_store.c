/* The in-process recovery store (siod_sio_store_mem): what connection
 * state recovery keeps in memory, as the reference's SessionAwareAdapter
 * does: a log of the packets sent with an offset, and the state of the
 * sockets that left with a recoverable reason, each bounded by time (the
 * window) and by the --max-recovery-* limits, the oldest dropped first.
 * Pure bookkeeping: no socket, client or loop; siod_sio_recovery.c drives
 * it through siod_sio_store_ops, which a Redis-backed store can also
 * implement. */
#include "siod_sio_int.h"
#include "core/siod_core.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One logged packet: its offset (ms, n), when it was sent, the namespace
 * and selection it went to, and the encoded packet (references). The
 * names follow the struct: the attachment pointers, then nsp, rooms and
 * except as NUL-terminated strings one after the other. */
struct logent {
    uint64_t ms, n;
    int64_t at;
    size_t bytes;                    /* counted against the log's limit */
    siod_buf *head;
    unsigned natts;
    size_t nrooms, nexcept;
    siod_buf **atts;                 /* natts, inside this allocation */
    char *names;                     /* inside this allocation */
};

/* A saved socket, in the pid table and the list by age. */
struct saved {
    siod_sio_saved *v;
    uint64_t hash;
    size_t bytes;
    struct saved *prev, *next;
};

struct store {
    siod_sio_recovery_conf conf;
    /* the log: a ring of entries, oldest at head */
    struct logent **ring;
    size_t cap, head, len, bytes;
    uint64_t last_ms, last_n;        /* the last offset given */
    uint64_t drop_ms, drop_n;        /* the newest offset dropped */
    /* saved sockets: by pid, and oldest first */
    siod_hash by_pid;
    struct saved *oldest, *newest;
    size_t nsaved, saved_bytes;
};

void siod_sio_saved_free(siod_sio_saved *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->nrooms; i++)
        free(v->rooms[i]);
    free(v->rooms);
    free(v->nsp);
    free(v->data_json);
    free(v);
}

void siod_sio_handover_free(siod_sio_handover *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; h->sockets != NULL && i < h->nsockets; i++) {
        free(h->sockets[i].nsp);
        free(h->sockets[i].auth);
    }
    free(h->sockets);
    free(h->info);
    free(h);
}

/* ---- offsets -------------------------------------------------------------- */

/* Reads "<ms>-<n>" (the form of a Redis stream id). Returns 0 or -EINVAL. */
static int offset_parse(const char *s, uint64_t *ms, uint64_t *n)
{
    char *end;
    if (*s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    *ms = strtoull(s, &end, 10);
    if (errno != 0 || *end != '-' || end[1] < '0' || end[1] > '9')
        return -EINVAL;
    *n = strtoull(end + 1, &end, 10);
    return errno == 0 && *end == '\0' ? 0 : -EINVAL;
}

static void mem_next_offset(void *p, char *buf)
{
    struct store *st = p;
    int64_t now = siod_now_ms();
    uint64_t ms = now > 0 ? (uint64_t)now : 0;

    /* increasing even if the clock steps back */
    if (ms <= st->last_ms) {
        ms = st->last_ms;
        st->last_n++;
    } else {
        st->last_n = 0;
    }
    st->last_ms = ms;
    snprintf(buf, SIOD_SIO_OFFSET_MAX, "%" PRIu64 "-%" PRIu64, ms,
             st->last_n);
}

/* ---- the log --------------------------------------------------------------- */

static struct logent *ent_at(const struct store *st, size_t i)
{
    return st->ring[(st->head + i) % st->cap];
}

static void ent_free(struct logent *e)
{
    siod_buf_unref(e->head);
    for (unsigned i = 0; i < e->natts; i++)
        siod_buf_unref(e->atts[i]);
    free(e);
}

static void drop_oldest_packet(struct store *st)
{
    struct logent *e = ent_at(st, 0);
    st->drop_ms = e->ms;
    st->drop_n = e->n;
    st->bytes -= e->bytes;
    st->head = (st->head + 1) % st->cap;
    st->len--;
    ent_free(e);
}

/* Drops packets past the window (sent before since) and past the
 * limits. */
static void trim_log(struct store *st, int64_t since)
{
    const siod_sio_recovery_conf *c = &st->conf;
    while (st->len > 0 &&
           (ent_at(st, 0)->at < since ||
            (c->max_packets > 0 && st->len > c->max_packets) ||
            (c->max_log_bytes > 0 && st->bytes > c->max_log_bytes)))
        drop_oldest_packet(st);
}

/* Room for one more entry in the ring. Returns 0 or -ENOMEM. */
static int ring_reserve(struct store *st)
{
    if (st->len < st->cap)
        return 0;
    size_t cap = st->cap ? st->cap * 2 : 64;
    struct logent **v = malloc(cap * sizeof *v);
    if (v == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < st->len; i++)
        v[i] = ent_at(st, i);
    free(st->ring);
    st->ring = v;
    st->cap = cap;
    st->head = 0;
    return 0;
}

static int mem_append(void *p, const char *offset, const char *nsp,
                      const siod_bcast_opts *o, const siod_sio_out *pkt)
{
    struct store *st = p;
    size_t names = strlen(nsp) + 1, bytes;
    uint64_t ms, n;

    if (offset_parse(offset, &ms, &n) < 0)
        return -EINVAL;
    for (size_t i = 0; i < o->nrooms; i++)
        names += strlen(o->rooms[i]) + 1;
    for (size_t i = 0; i < o->nexcept; i++)
        names += strlen(o->except[i]) + 1;
    size_t fixed = sizeof(struct logent) + pkt->natts * sizeof(siod_buf *);
    struct logent *e = malloc(fixed + names);
    if (e == NULL || ring_reserve(st) < 0) {
        free(e);
        return -ENOMEM;
    }
    e->ms = ms;
    e->n = n;
    e->at = siod_now_ms();
    e->natts = pkt->natts;
    e->nrooms = o->nrooms;
    e->nexcept = o->nexcept;
    e->atts = (siod_buf **)(e + 1);
    e->names = (char *)(e->atts + pkt->natts);
    bytes = fixed + names + pkt->head->len;
    e->head = siod_buf_ref(pkt->head);
    for (unsigned i = 0; i < pkt->natts; i++) {
        e->atts[i] = siod_buf_ref(pkt->atts[i]);
        bytes += pkt->atts[i]->len;
    }
    char *w = e->names;
    size_t k = strlen(nsp) + 1;
    memcpy(w, nsp, k);
    w += k;
    for (size_t i = 0; i < o->nrooms; i++, w += k)
        memcpy(w, o->rooms[i], k = strlen(o->rooms[i]) + 1);
    for (size_t i = 0; i < o->nexcept; i++, w += k)
        memcpy(w, o->except[i], k = strlen(o->except[i]) + 1);
    e->bytes = bytes;
    st->ring[(st->head + st->len) % st->cap] = e;
    st->len++;
    st->bytes += bytes;
    /* a packet over the limit alone empties the log, itself included */
    trim_log(st, e->at - (int64_t)st->conf.window_ms);
    return 0;
}

/* Returns the index of the packet logged at offset, or -1. */
static ssize_t find_offset(const struct store *st, const char *offset)
{
    uint64_t ms, n;
    size_t lo = 0, hi = st->len;

    if (offset_parse(offset, &ms, &n) < 0)
        return -1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct logent *e = ent_at(st, mid);
        if (e->ms == ms && e->n == n)
            return (ssize_t)mid;
        if (e->ms < ms || (e->ms == ms && e->n < n))
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Would a socket whose rooms in() tells have been sent e (the reference's
 * shouldIncludePacket)? Its namespace is checked by the caller. */
static int selected(const struct logent *e, int (*in)(void *, const char *),
                    void *ud)
{
    const char *r = e->names + strlen(e->names) + 1;
    int any = e->nrooms == 0;
    for (size_t i = 0; i < e->nrooms; i++, r += strlen(r) + 1)
        if (!any && in(ud, r))
            any = 1;
    if (!any)
        return 0;
    for (size_t i = 0; i < e->nexcept; i++, r += strlen(r) + 1)
        if (in(ud, r))
            return 0;
    return 1;
}

/* Calls fn for each packet of nsp from the log's index `from` on that
 * in() selects; returns how many. fn may log more packets: only those
 * there now are replayed. */
static ssize_t replay_from(struct store *st, size_t from, const char *nsp,
                           int (*in)(void *ud, const char *room),
                           void (*fn)(void *ud, const siod_sio_out *pkt),
                           void *ud)
{
    ssize_t count = 0;

    for (size_t i = from, end = st->len; i < end; i++) {
        const struct logent *e = ent_at(st, i);
        if (strcmp(e->names, nsp) != 0 || !selected(e, in, ud))
            continue;
        siod_sio_out o = { e->head, e->atts, e->natts };
        fn(ud, &o);
        count++;
    }
    return count;
}

static ssize_t mem_replay(void *p, const char *nsp, const char *offset,
                          const siod_sio_missed *m,
                          int (*in)(void *ud, const char *room),
                          void (*fn)(void *ud, const siod_sio_out *pkt),
                          void *ud)
{
    struct store *st = p;
    ssize_t at = find_offset(st, offset);

    return at < 0 ? -ENOENT : replay_from(st, (size_t)at + 1, nsp, in, fn, ud);
}

/* ---- saved sockets ------------------------------------------------------- */

static int saved_eq(const void *item, const void *key)
{
    return strcmp(((const struct saved *)item)->v->pid, key) == 0;
}

/* Unlinks s from the table and the list; returns its state. */
static siod_sio_saved *saved_unlink(struct store *st, struct saved *s)
{
    siod_sio_saved *v = s->v;
    siod_hash_remove(&st->by_pid, s->hash, v->pid);
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        st->oldest = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    else
        st->newest = s->prev;
    st->nsaved--;
    st->saved_bytes -= s->bytes;
    free(s);
    return v;
}

/* Drops saved sockets that left before since, and the oldest past the
 * limits. */
static void trim_saved(struct store *st, int64_t since)
{
    const siod_sio_recovery_conf *c = &st->conf;
    while (st->oldest != NULL &&
           (st->oldest->v->at < since ||
            (c->max_sessions > 0 && st->nsaved > c->max_sessions) ||
            (c->max_session_bytes > 0 &&
             st->saved_bytes > c->max_session_bytes)))
        siod_sio_saved_free(saved_unlink(st, st->oldest));
}

static int mem_save(void *p, siod_sio_saved *v)
{
    struct store *st = p;
    uint64_t h = siod_hash_bytes(v->pid, strlen(v->pid));
    struct saved *s = calloc(1, sizeof *s), *old;

    if (s == NULL) {
        siod_sio_saved_free(v);
        return -ENOMEM;
    }
    old = siod_hash_find(&st->by_pid, h, v->pid);
    if (old != NULL)
        siod_sio_saved_free(saved_unlink(st, old));
    if (siod_hash_insert(&st->by_pid, h, s) < 0) {
        free(s);
        siod_sio_saved_free(v);
        return -ENOMEM;
    }
    s->v = v;
    s->hash = h;
    s->bytes = sizeof *s + sizeof *v + strlen(v->nsp) + 1 +
               (v->data_json != NULL ? strlen(v->data_json) + 1 : 0) +
               v->nrooms * sizeof *v->rooms;
    for (size_t i = 0; i < v->nrooms; i++)
        s->bytes += strlen(v->rooms[i]) + 1;
    s->prev = st->newest;
    if (st->newest != NULL)
        st->newest->next = s;
    else
        st->oldest = s;
    st->newest = s;
    st->nsaved++;
    st->saved_bytes += s->bytes;
    trim_saved(st, siod_now_ms() - (int64_t)st->conf.window_ms);
    return 0;
}

/* The socket kept for pid in nsp, or NULL with *why set (one past the
 * window is dropped). */
static struct saved *kept_find(struct store *st, const char *nsp,
                               const char *pid, const char **why)
{
    uint64_t h = siod_hash_bytes(pid, strlen(pid));
    struct saved *s = siod_hash_find(&st->by_pid, h, pid);

    if (s == NULL || strcmp(s->v->nsp, nsp) != 0) {
        *why = "no state kept for its pid (never, expired or evicted)";
        return NULL;
    }
    if (s->v->at + (int64_t)st->conf.window_ms < siod_now_ms()) {
        siod_sio_saved_free(saved_unlink(st, s));
        *why = "away longer than the window";
        return NULL;
    }
    return s;
}

static siod_sio_saved *mem_take(void *p, const char *nsp, const char *pid,
                                const char *offset, const char **why)
{
    struct store *st = p;
    struct saved *s = kept_find(st, nsp, pid, why);

    if (s == NULL)
        return NULL;
    if (find_offset(st, offset) < 0) {
        *why = "its offset is no longer in the packet log";
        return NULL;
    }
    return saved_unlink(st, s);
}

/* take answers at once: the state is in this process. */
static void mem_take_now(void *p, const char *nsp, const char *pid,
                         const char *offset, siod_sio_taken_fn done, void *ud)
{
    const char *why = NULL;
    siod_sio_saved *v = mem_take(p, nsp, pid, offset, &why);
    done(ud, v, NULL, v != NULL ? NULL : why);
}

static void mem_expire(void *p, int64_t now)
{
    struct store *st = p;
    int64_t since = now - (int64_t)st->conf.window_ms;
    trim_log(st, since);
    trim_saved(st, since);
}

static void mem_stats(void *p, siod_sio_store_stats *out)
{
    struct store *st = p;
    out->packets = st->len;
    out->log_bytes = st->bytes;
    out->sessions = st->nsaved;
    out->session_bytes = st->saved_bytes;
}

static void *mem_create(const siod_sio_recovery_conf *conf)
{
    struct store *st = calloc(1, sizeof *st);
    if (st == NULL)
        return NULL;
    st->conf = *conf;
    siod_hash_init(&st->by_pid, saved_eq);
    return st;
}

static void mem_destroy(void *p)
{
    struct store *st = p;
    if (st == NULL)
        return;
    while (st->len > 0)
        drop_oldest_packet(st);
    free(st->ring);
    while (st->oldest != NULL)
        siod_sio_saved_free(saved_unlink(st, st->oldest));
    siod_hash_destroy(&st->by_pid);
    free(st);
}

const siod_sio_store_ops siod_sio_store_mem = {
    .name = "memory",
    .create = mem_create,
    .destroy = mem_destroy,
    .next_offset = mem_next_offset,
    .append = mem_append,
    .replay = mem_replay,
    .save = mem_save,
    .take = mem_take_now,
    .expire = mem_expire,
    .stats = mem_stats,
};

/* ---- the state file's edges (siod_sio_state.c) ----------------------------- */

int siod_sio_store_mem_dump(void *p, uint64_t *ms, uint64_t *n,
                            int (*packet)(void *ud, const siod_sio_logged *e),
                            int (*saved)(void *ud, const siod_sio_saved *v),
                            void *ud)
{
    struct store *st = p;
    int rc;

    *ms = st->last_ms;
    *n = st->last_n;
    for (size_t i = 0; i < st->len; i++) {
        const struct logent *e = ent_at(st, i);
        siod_sio_logged l = { e->ms, e->n, e->at, e->names, e->nrooms,
                              e->nexcept, { e->head, e->atts, e->natts } };
        if (packet != NULL && (rc = packet(ud, &l)) < 0)
            return rc;
    }
    for (const struct saved *s = st->oldest; s != NULL && saved != NULL;
         s = s->next)
        if ((rc = saved(ud, s->v)) < 0)
            return rc;
    return 0;
}

int siod_sio_store_mem_restore(void *p, const siod_sio_logged *l)
{
    struct store *st = p;
    size_t nnames = 1 + l->nrooms + l->nexcept;
    char offset[SIOD_SIO_OFFSET_MAX];
    const char **names = malloc(nnames * sizeof *names);
    int rc;

    if (names == NULL)
        return -ENOMEM;
    if (st->len > 0) {
        const struct logent *last = ent_at(st, st->len - 1);
        if (l->ms < last->ms || (l->ms == last->ms && l->n <= last->n)) {
            free(names);
            return -EINVAL;
        }
    }
    names[0] = l->names;
    for (size_t i = 1; i < nnames; i++)
        names[i] = names[i - 1] + strlen(names[i - 1]) + 1;
    /* the store only reads the names */
    siod_bcast_opts o = { (char **)names + 1, l->nrooms,
                          (char **)names + 1 + l->nrooms, l->nexcept, 0 };
    snprintf(offset, sizeof offset, "%" PRIu64 "-%" PRIu64, l->ms, l->n);
    rc = mem_append(st, offset, names[0], &o, &l->pkt);
    free(names);
    if (rc < 0)
        return rc;
    /* logged now: give it back its time, and drop it if that is past the
     * window (a limit may have dropped it already) */
    if (st->len > 0) {
        struct logent *e = st->ring[(st->head + st->len - 1) % st->cap];
        if (e->ms == l->ms && e->n == l->n)
            e->at = l->at;
    }
    trim_log(st, siod_now_ms() - (int64_t)st->conf.window_ms);
    return 0;
}

ssize_t siod_sio_store_mem_replay_after(void *p, const char *nsp,
                                        const char *offset,
                                        int (*in)(void *ud, const char *room),
                                        void (*fn)(void *ud,
                                                   const siod_sio_out *pkt),
                                        void *ud)
{
    struct store *st = p;
    uint64_t ms, n;
    size_t lo = 0, hi = st->len;

    if (offset_parse(offset, &ms, &n) < 0)
        return -EINVAL;
    if (st->drop_ms > ms || (st->drop_ms == ms && st->drop_n > n))
        return -ENOENT;         /* some of what followed it is gone */
    while (lo < hi) {           /* the first entry after the offset */
        size_t mid = lo + (hi - lo) / 2;
        const struct logent *e = ent_at(st, mid);
        if (e->ms < ms || (e->ms == ms && e->n <= n))
            lo = mid + 1;
        else
            hi = mid;
    }
    return replay_from(st, lo, nsp, in, fn, ud);
}

siod_sio_saved *siod_sio_store_mem_take_kept(void *p, const char *nsp,
                                             const char *pid,
                                             const char **why)
{
    struct store *st = p;
    struct saved *s = kept_find(st, nsp, pid, why);

    return s != NULL ? saved_unlink(st, s) : NULL;
}

void siod_sio_store_mem_restore_offset(void *p, uint64_t ms, uint64_t n)
{
    struct store *st = p;
    if (ms > st->last_ms || (ms == st->last_ms && n > st->last_n)) {
        st->last_ms = ms;
        st->last_n = n;
    }
}

void siod_sio_store_mem_figures(void *p, size_t *sockets, size_t *bytes)
{
    const struct store *st = p;
    *sockets = st->nsaved;
    *bytes = st->bytes + st->saved_bytes;
}
