/* Connection state recovery's store in Redis (with --redis): the packet
 * log is a stream every node appends to; each connected socket's state is
 * a key kept up to date and expiring after the window, for another node
 * or a siod restarted after a crash. A claim takes a socket and reads its
 * missed packets in one Lua script (siod_sio_store_claim.c); writes are
 * pipelined, never awaited, bounded; one line per outage. docs/cluster.md. */
#include "siod_sio_int.h"
#include "core/siod_core.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* Bytes of writes unanswered past which more are dropped (Redis slow:
 * records are written again by the next refresh; a packet is lost from
 * the log, a throttled line). */
#define MAX_INFLIGHT (16u << 20)
/* The stream lives this long past the last append. */
#define STREAM_TTL_EXTRA_MS 10000
/* A claim Redis has not answered in this long (stalled) gives a new socket
 * (checked every second); one made while the connection is down waits
 * longer for it (Redis restarted; a reconnection's backoff is up to 5 s). */
#define CLAIM_TIMEOUT_MS 2000
#define CLAIM_DOWN_WAIT_MS 10000
#define TAKE_AGAIN_MS 100           /* a take's answer lost: sent again */

/* A tracked socket: its key and the record last written. */
struct live {
    siod_socket *s;                  /* NULL once it left (still dirty) */
    char *key;
    size_t klen;
    char *rec;                       /* NULL until first written */
    size_t rlen;
    int dirty;
    struct live *prev, *next;        /* all tracked */
    struct live *dnext;              /* the dirty ones */
};

/* A take awaiting Redis (answered NULL at destroy; freed by its reply). */
struct take {
    siod_sio_taken_fn done;          /* NULL once answered */
    void *ud;
    char *nsp;
    char *key, *offset;              /* the record's, the client's */
    char *taken_key;                 /* where the script moves the record */
    uint64_t seq;                    /* appends sent before it */
    int64_t deadline;                /* answered "not in time" then */
    int sent_again;                  /* sent again once after a failure */
    struct take *prev, *next;
};

/* A packet this node logged while a take or a replay waited for it
 * (struct siod_sio_missed below says why). */
struct recent {
    uint64_t seq;
    size_t len;
    struct recent *next;
    char blob[];
};

struct rstore {
    siod_sio_recovery_conf conf;
    char *stream;                    /* <prefix>#recovery#log */
    char *kpre;                      /* <prefix>#recovery# */
    char node[17];                   /* this process, hex */
    uint64_t node_n;
    uint64_t takes_n;                /* takes begun */
    uint32_t seq;
    struct live *lives, *dirty;
    size_t nlive, live_bytes;
    struct event *flush;
    int flush_armed;
    struct take *takes;
    uint64_t appends;                /* packets sent to the stream */
    struct recent *recent, *recent_last;
    struct siod_sio_missed *holds;   /* sockets waiting for their replay */
    size_t recent_bytes;
    size_t inflight;
    int down;                        /* an outage reported, not its end */
    int appended;                    /* since the last expire tick */
    int64_t refreshed;
};

static const siod_sio_redis *rconn;   /* set by rs_create */
static struct rstore *g;
static siod_log_throttle log_drops;

/* ---- writes: pipelined, answered later ----------------------------------- */

static void mark_all_dirty(struct rstore *st);

/* One answer from Redis: an outage is reported once, its end once. */
static void note(int ok)
{
    if (g == NULL || ok == !g->down)
        return;
    g->down = !ok;
    if (!ok) {
        siod_log(SIOD_LOG_ERROR, "recovery: Redis does not answer: sockets "
                 "come back as new ones and packets are not logged until "
                 "it does");
        return;
    }
    siod_log(SIOD_LOG_INFO, "recovery: Redis answers again; the connected "
             "sockets are written again");
    mark_all_dirty(g);
}

/* A write's answer: a string or status (SET, XADD) tells whether Redis
 * answers; an integer (DEL, XTRIM, PEXPIRE) arrives as ok 0 like a
 * failure, so it tells nothing (wrote_int). */
static void wrote(void *ud, int ok, const char *const *items,
                  const size_t *lens, size_t n)
{
    if (g == NULL)
        return;
    g->inflight -= (size_t)(uintptr_t)ud;
    note(ok);
}

static void wrote_int(void *ud, int ok, const char *const *items,
                      const size_t *lens, size_t n)
{
    if (g != NULL)
        g->inflight -= (size_t)(uintptr_t)ud;
}

/* Sends a write, fn wrote or (answered by an integer) wrote_int.
 * Returns 0, or -ENOBUFS (over MAX_INFLIGHT: not sent). */
static int send_cmd(int argc, const char *const *argv, const size_t *lens,
                    siod_sio_redis_fn fn)
{
    size_t bytes = 0;
    for (int i = 0; i < argc; i++)
        bytes += lens[i];
    if (g->inflight + bytes > MAX_INFLIGHT)
        return -ENOBUFS;
    g->inflight += bytes;
    rconn->command(argc, argv, lens, fn, (void *)(uintptr_t)bytes);
    return 0;
}

/* The key of pid's record on nsp: <prefix>#recovery#<nsp>#<pid>. */
static char *record_key(const struct rstore *st, const char *nsp,
                        const char *pid, size_t *len)
{
    char *k;
    int n = asprintf(&k, "%s%s#%s", st->kpre, nsp, pid);
    *len = n > 0 ? (size_t)n : 0;
    return n > 0 ? k : NULL;
}

/* ---- records ---------------------------------------------------------------- */

struct rooms_of {
    const char **v;
    size_t n, cap;
};

static void room_put(void *ud, const char *room)
{
    struct rooms_of *r = ud;
    if (r->n < r->cap)
        r->v[r->n++] = room;
}

/* The record of s as it is now (malloc'd, *len bytes), or NULL. */
static char *record_of(const struct rstore *st, siod_socket *s, size_t *len)
{
    siod_nsp *nsp = s->nsp;
    size_t n = nsp->aops->socket_rooms(nsp->adapter, s, NULL, NULL);
    struct rooms_of r = { calloc(n ? n : 1, sizeof *r.v), 0, n };
    char *rec = NULL;

    if (r.v != NULL) {
        nsp->aops->socket_rooms(nsp->adapter, s, room_put, &r);
        rec = siod_sio_blob_record(s->id, s->pid, nsp->name, st->node,
                                   s->data_json, r.v, r.n, len);
    }
    free(r.v);
    return rec;
}

static void live_free(struct live *l)
{
    free(l->key);
    free(l->rec);
    free(l);
}

static void flush_later(struct rstore *st)
{
    if (!st->flush_armed) {
        st->flush_armed = 1;
        event_active(st->flush, EV_TIMEOUT, 0);
    }
}

static void mark_dirty(struct rstore *st, struct live *l)
{
    if (l->dirty)
        return;
    l->dirty = 1;
    l->dnext = st->dirty;
    st->dirty = l;
    flush_later(st);
}

static void mark_all_dirty(struct rstore *st)
{
    for (struct live *l = st->lives; l != NULL; l = l->next)
        mark_dirty(st, l);
}

/* SET key record PX ttl. Returns as send_cmd. */
static int write_record(const char *key, size_t klen, const char *rec,
                        size_t rlen, unsigned ttl_ms)
{
    char px[24];
    int n = snprintf(px, sizeof px, "%u", ttl_ms);
    const char *argv[5] = { "SET", key, rec, "PX", px };
    size_t lens[5] = { 3, klen, rlen, 2, (size_t)n };
    return send_cmd(5, argv, lens, wrote);
}

/* A tracked record lives this long unless written again: the window and
 * the time to the next refresh. */
static unsigned refresh_ms(const struct rstore *st)
{
    unsigned r = st->conf.window_ms / 2;
    return r < 1000 ? 1000 : r > 60000 ? 60000 : r;
}

static unsigned live_ttl(const struct rstore *st)
{
    return st->conf.window_ms + refresh_ms(st);
}

/* Writes the dirty records, coalesced: each once however often it
 * changed since the last flush. */
static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rstore *st = arg;
    struct live *l = st->dirty, *keep = NULL;

    st->dirty = NULL;
    st->flush_armed = 0;
    while (l != NULL) {
        struct live *next = l->dnext;
        l->dirty = 0;
        if (l->s == NULL) {
            live_free(l);
        } else {
            size_t len;
            char *rec = record_of(st, l->s, &len);
            if (rec != NULL &&
                write_record(l->key, l->klen, rec, len, live_ttl(st)) == 0) {
                st->live_bytes += len - (l->rec != NULL ? l->rlen : 0);
                free(l->rec);
                l->rec = rec;
                l->rlen = len;
            } else {
                /* written again at the next expire tick */
                free(rec);
                l->dirty = 1;
                l->dnext = keep;
                keep = l;
            }
        }
        l = next;
    }
    while (keep != NULL) {   /* not armed again: the tick retries them */
        struct live *next = keep->dnext;
        keep->dnext = st->dirty;
        st->dirty = keep;
        keep = next;
    }
}

static void rs_track(void *p, siod_socket *s)
{
    struct rstore *st = p;
    struct live *l = calloc(1, sizeof *l);

    if (l == NULL || (l->key = record_key(st, s->nsp->name, s->pid,
                                          &l->klen)) == NULL) {
        free(l);
        siod_log_throttled(&log_drops, SIOD_LOG_ERROR, "recovery: socket %s "
                           "not kept in Redis (out of memory)", s->id);
        return;
    }
    l->s = s;
    s->rec_live = l;
    l->next = st->lives;
    if (st->lives != NULL)
        st->lives->prev = l;
    st->lives = l;
    st->nlive++;
    mark_dirty(st, l);
}

void siod_sio_store_redis_touch(siod_socket *s)
{
    if (g != NULL && s->rec_live != NULL)
        mark_dirty(g, s->rec_live);
}

/* Stops tracking l (its socket left or the store goes). */
static void untrack(struct rstore *st, struct live *l)
{
    if (l->prev != NULL)
        l->prev->next = l->next;
    else
        st->lives = l->next;
    if (l->next != NULL)
        l->next->prev = l->prev;
    st->nlive--;
    st->live_bytes -= l->rec != NULL ? l->rlen : 0;
    l->s->rec_live = NULL;
    l->s = NULL;
    if (!l->dirty)
        live_free(l);   /* else freed by the flush */
}

static void rs_left(void *p, siod_socket *s, int kept)
{
    struct rstore *st = p;
    struct live *l = s->rec_live;

    if (l == NULL)
        return;
    if (!kept) {
        const char *argv[2] = { "DEL", l->key };
        size_t lens[2] = { 3, l->klen };
        (void)send_cmd(2, argv, lens, wrote_int);
    }
    untrack(st, l);
}

static int rs_save(void *p, siod_sio_saved *v)
{
    struct rstore *st = p;
    size_t klen, len;
    char *key = record_key(st, v->nsp, v->pid, &klen);
    char *rec = siod_sio_blob_record(v->sid, v->pid, v->nsp, st->node,
                                     v->data_json,
                                     (const char *const *)v->rooms, v->nrooms,
                                     &len);
    int rc = -ENOMEM;

    if (key != NULL && rec != NULL)
        rc = write_record(key, klen, rec, len, st->conf.window_ms);
    free(key);
    free(rec);
    siod_sio_saved_free(v);
    return rc;
}

/* ---- the packet log ------------------------------------------------------ */

static void rs_next_offset(void *p, char *buf)
{
    struct rstore *st = p;
    int64_t now = siod_now_ms();
    /* unique across the cluster: this process's random number, a count */
    snprintf(buf, SIOD_SIO_OFFSET_MAX, "%" PRIu64 "-%" PRIu64,
             (uint64_t)(now > 0 ? now : 0), st->node_n << 32 | st->seq++);
}

/* The packets a take read, held by its socket until its replay, with
 * the packets this node logs meanwhile: those reached Redis after the
 * take's script, so it did not read them, and went out while the socket
 * was not yet back in its rooms (or still waited for its middleware). */
struct siod_sio_missed {
    char node[17];                   /* where the socket lived */
    uint64_t seq;                    /* this node's appends before it */
    struct siod_sio_missed *prev, *next;  /* the store's holds */
    size_t len;
    char raw[];                      /* "<len>:<packet blob>" repeated */
};

/* Keeps blob[0..len), the st->appends-th packet, as "<len>:<blob>" while
 * a take or a socket waiting for its replay needs it (within
 * MAX_INFLIGHT; past it such a socket may miss one). */
static void keep_recent(struct rstore *st, const char *blob, size_t len)
{
    char pre[24];
    int n = snprintf(pre, sizeof pre, "%zu:", len);
    struct recent *r = st->recent_bytes + len <= MAX_INFLIGHT
                           ? malloc(sizeof *r + (size_t)n + len) : NULL;
    if (r == NULL)
        return;
    r->seq = st->appends;
    r->len = (size_t)n + len;
    r->next = NULL;
    memcpy(r->blob, pre, (size_t)n);
    memcpy(r->blob + n, blob, len);
    if (st->recent_last != NULL)
        st->recent_last->next = r;
    else
        st->recent = r;
    st->recent_last = r;
    st->recent_bytes += r->len;
}

/* Drops the kept packets no take and no socket waiting needs. */
static void drop_recent(struct rstore *st)
{
    uint64_t need = UINT64_MAX;
    for (struct take *t = st->takes; t != NULL; t = t->next)
        if (t->seq < need)
            need = t->seq;
    for (siod_sio_missed *m = st->holds; m != NULL; m = m->next)
        if (m->seq < need)
            need = m->seq;
    while (st->recent != NULL && st->recent->seq <= need) {
        struct recent *r = st->recent;
        st->recent = r->next;
        st->recent_bytes -= r->len;
        free(r);
    }
    if (st->recent == NULL)
        st->recent_last = NULL;
}

/* Returns what a take read (raw[0..len)) for a socket that lived on
 * node, holding this node's packets after seq, or NULL if memory runs
 * out. */
static siod_sio_missed *missed_new(struct rstore *st, const char *node,
                                   const char *raw, size_t len, uint64_t seq)
{
    siod_sio_missed *m = malloc(sizeof *m + len + 1);
    if (m == NULL)
        return NULL;
    memcpy(m->node, node, sizeof m->node);
    m->seq = seq;
    memcpy(m->raw, raw, len);
    m->raw[len] = '\0';
    m->len = len;
    m->prev = NULL;
    m->next = st->holds;
    if (st->holds != NULL)
        st->holds->prev = m;
    st->holds = m;
    return m;
}

void siod_sio_missed_free(siod_sio_missed *m)
{
    if (m == NULL)
        return;
    if (g != NULL) {
        if (m->prev != NULL)
            m->prev->next = m->next;
        else if (g->holds == m)
            g->holds = m->next;
        if (m->next != NULL)
            m->next->prev = m->prev;
        drop_recent(g);
    }
    free(m);
}

static int rs_append(void *p, const char *offset, const char *nsp,
                     const siod_bcast_opts *o, const siod_sio_out *pkt)
{
    struct rstore *st = p;
    char maxlen[24];
    size_t len;
    char *blob = siod_sio_blob_packet(st->node, nsp, o, pkt, &len);
    int rc;

    if (blob == NULL)
        return -ENOMEM;
    if (st->conf.max_log_bytes > 0 && len > st->conf.max_log_bytes) {
        free(blob);
        return -ENOSPC;   /* over the log's bytes alone */
    }
    const char *argv[10] = { "XADD", st->stream };
    size_t lens[10] = { 4, strlen(st->stream) };
    int k = 2;
    if (st->conf.max_packets > 0) {   /* else the window's trim alone */
        argv[k] = "MAXLEN", lens[k++] = 6;
        argv[k] = "~", lens[k++] = 1;
        lens[k] = (size_t)snprintf(maxlen, sizeof maxlen, "%zu",
                                   st->conf.max_packets);
        argv[k++] = maxlen;
    }
    const char *tail[5] = { "*", "o", offset, "p", blob };
    size_t tlens[5] = { 1, 1, strlen(offset), 1, len };
    memcpy(argv + k, tail, sizeof tail);
    memcpy(lens + k, tlens, sizeof tlens);
    rc = send_cmd(k + 5, argv, lens, wrote);
    if (rc == 0) {
        st->appended = 1;
        st->appends++;
        if (st->takes != NULL || st->holds != NULL)
            keep_recent(st, blob, len);
    }
    free(blob);
    return rc;
}

static ssize_t rs_replay(void *p, const char *nsp, const char *offset,
                         const siod_sio_missed *m,
                         int (*in)(void *ud, const char *room),
                         void (*fn)(void *ud, const siod_sio_out *pkt),
                         void *ud)
{
    struct rstore *st = p;
    ssize_t n;

    if (m == NULL)
        return -ENOENT;
    n = siod_sio_blob_replay(m->raw, m->len, nsp, m->node, in, fn, ud);
    /* fn may log more: only those kept now are replayed */
    for (struct recent *r = st->recent, *end = st->recent_last;
         r != NULL; r = r == end ? NULL : r->next)
        if (r->seq > m->seq)
            n += siod_sio_blob_replay(r->blob, r->len, nsp, m->node, in, fn,
                                      ud);
    return n;
}

/* ---- claims: one script (siod_sio_claim_command) takes and replays -------- */

static void take_unlink(struct take *t)
{
    if (g != NULL && g->takes == t)
        g->takes = t->next;
    if (t->prev != NULL)
        t->prev->next = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

static void take_send(struct take *t);
static void take_free(struct take *t)
{
    free(t->nsp);
    free(t->key);
    free(t->offset);
    free(t->taken_key);
    free(t);
}

/* Sends a take again, a moment after its connection went (not yet
 * marked down while it fails its callbacks). */
static void take_again_cb(evutil_socket_t fd, short what, void *arg)
{
    struct take *t = arg;

    if (t->done == NULL || g == NULL) {   /* answered when the store went */
        take_free(t);
        return;
    }
    t->seq = g->appends;
    take_send(t);
}

static void taken(void *ud, int ok, const char *const *items,
                  const size_t *lens, size_t n)
{
    struct take *t = ud;
    siod_sio_saved *v = NULL;
    siod_sio_missed *m = NULL;
    const char *why = "Redis does not answer";
    char node[17];

    note(ok);
    if (t->done == NULL)
        goto out;   /* answered when the store went */
    if (!ok && !t->sent_again && g != NULL) {
        /* its answer lost with the connection (or refused): once more,
         * held while Redis is away; if it ran, the record is at its key */
        struct timeval tv = { 0, TAKE_AGAIN_MS * 1000 };
        t->sent_again = 1;
        t->deadline = siod_now_ms() + CLAIM_DOWN_WAIT_MS;
        if (event_base_once(siod_sio_config()->base, -1, EV_TIMEOUT,
                            take_again_cb, t, &tv) == 0)
            return;
    }
    if (ok && n >= 1 && items[0] != NULL) {
        if (lens[0] == 4 && memcmp(items[0], "none", 4) == 0)
            why = "no state kept for its pid (never, expired or taken)";
        else if (lens[0] == 4 && memcmp(items[0], "gone", 4) == 0)
            why = "its offset is no longer in the packet log";
        else if (n == 3 && items[1] != NULL && items[2] != NULL &&
                 (v = siod_sio_blob_record_read(items[1], lens[1], t->nsp,
                                                node)) != NULL &&
                 g != NULL &&
                 (m = missed_new(g, node, items[2], lens[2], t->seq)) != NULL)
            why = NULL;
        else
            why = "its state could not be read (memory, or not ours)";
    }
    if (why != NULL) {
        siod_sio_saved_free(v);
        v = NULL;
    }
    take_unlink(t);
    if (g != NULL)
        drop_recent(g);
    t->done(t->ud, v, m, why);
out:
    take_free(t);
}

/* Sends t's claim (held by the connection while Redis is away). */
static void take_send(struct take *t)
{
    siod_sio_claim_cmd c;

    siod_sio_claim_command(&c, t->key, g->stream, t->taken_key, t->offset);
    rconn->command(SIOD_SIO_CLAIM_ARGC, c.argv, c.lens, taken, t);
}

static void rs_take(void *p, const char *nsp, const char *pid,
                    const char *offset, siod_sio_taken_fn done, void *ud)
{
    struct rstore *st = p;
    struct take *t = calloc(1, sizeof *t);
    size_t klen;

    /* the taken key is unique to this take: this process's number, a
     * count */
    if (t == NULL || (t->key = record_key(st, nsp, pid, &klen)) == NULL ||
        (t->nsp = strdup(nsp)) == NULL ||
        (t->offset = strdup(offset)) == NULL ||
        asprintf(&t->taken_key, "%staken#%s-%" PRIu64, st->kpre, st->node,
                 ++st->takes_n) < 0) {
        if (t != NULL) {
            t->taken_key = NULL;    /* asprintf leaves it undefined */
            take_free(t);
        }
        done(ud, NULL, NULL, "out of memory");
        return;
    }
    t->done = done;
    t->ud = ud;
    t->seq = st->appends;
    t->deadline = siod_now_ms() + (rconn->ready == NULL || rconn->ready()
                                       ? CLAIM_TIMEOUT_MS : CLAIM_DOWN_WAIT_MS);
    t->next = st->takes;
    if (st->takes != NULL)
        st->takes->prev = t;
    st->takes = t;
    take_send(t);
}

/* ---- the window ------------------------------------------------------------ */

/* Answers the takes Redis has left unanswered too long (one at a time:
 * an answer resumes a socket, which may take or log again). */
static void expire_takes(struct rstore *st, int64_t now)
{
    for (;;) {
        struct take *t = st->takes;
        while (t != NULL && t->deadline > now)
            t = t->next;
        if (t == NULL)
            return;
        siod_sio_taken_fn done = t->done;
        take_unlink(t);
        t->done = NULL;   /* freed by its reply, if any */
        drop_recent(st);
        note(0);
        done(t->ud, NULL, NULL, "Redis did not answer in time");
    }
}

static void rs_expire(void *p, int64_t now)
{
    struct rstore *st = p;
    char id[32], ttl[24];
    int n;

    expire_takes(st, now);

    /* entries past the window (by Redis's clock, a second's slack) */
    n = snprintf(id, sizeof id, "%" PRId64,
                 now - (int64_t)st->conf.window_ms - 1000);
    const char *trim[5] = { "XTRIM", st->stream, "MINID", "~", id };
    size_t tlens[5] = { 5, strlen(st->stream), 5, 1, (size_t)n };
    (void)send_cmd(5, trim, tlens, wrote_int);
    if (st->appended) {
        st->appended = 0;
        n = snprintf(ttl, sizeof ttl, "%u",
                     st->conf.window_ms + STREAM_TTL_EXTRA_MS);
        const char *exp[3] = { "PEXPIRE", st->stream, ttl };
        size_t elens[3] = { 7, strlen(st->stream), (size_t)n };
        (void)send_cmd(3, exp, elens, wrote_int);
    }
    /* the tracked records live on; written again whole, so that a
     * record lost (Redis restarted, an outage) comes back */
    if (now - st->refreshed >= (int64_t)refresh_ms(st)) {
        st->refreshed = now;
        for (struct live *l = st->lives; l != NULL; l = l->next)
            if (!l->dirty && (l->rec == NULL ||
                              write_record(l->key, l->klen, l->rec, l->rlen,
                                           live_ttl(st)) < 0))
                mark_dirty(st, l);
    }
    if (st->dirty != NULL)
        flush_later(st);
}

static void rs_stats(void *p, siod_sio_store_stats *out)
{
    struct rstore *st = p;
    /* the log is in Redis: only what this process holds of it */
    out->packets = 0;
    out->log_bytes = st->recent_bytes;
    out->sessions = st->nlive;
    out->session_bytes = st->live_bytes;
}

static void rs_destroy(void *p)
{
    struct rstore *st = p;

    if (st == NULL)
        return;
    /* answered now; their replies find them answered */
    while (st->takes != NULL) {
        struct take *t = st->takes;
        siod_sio_taken_fn done = t->done;
        take_unlink(t);
        t->done = NULL;
        done(t->ud, NULL, NULL, "siod is stopping");
    }
    for (siod_sio_missed *m = st->holds; m != NULL; m = m->next)
        m->prev = NULL;   /* freed by their sockets, unlinked from nothing */
    st->holds = NULL;
    drop_recent(st);
    while (st->lives != NULL)
        untrack(st, st->lives);
    for (struct live *l = st->dirty; l != NULL;) {
        struct live *next = l->dnext;
        live_free(l);
        l = next;
    }
    if (st->flush != NULL)
        event_free(st->flush);
    free(st->stream);
    free(st->kpre);
    free(st);
    g = NULL;
}

static void *rs_create(const siod_sio_recovery_conf *conf)
{
    struct rstore *st = calloc(1, sizeof *st);
    uint32_t r = 0;

    rconn = siod_sio_recovery_redis();
    if (st == NULL || rconn == NULL) {
        free(st);
        return NULL;
    }
    st->conf = *conf;
    if (asprintf(&st->stream, "%s#recovery#log", rconn->prefix) < 0)
        st->stream = NULL;
    if (asprintf(&st->kpre, "%s#recovery#", rconn->prefix) < 0)
        st->kpre = NULL;
    st->flush = event_new(siod_sio_config()->base, -1, 0, flush_cb, st);
    if (st->stream == NULL || st->kpre == NULL || st->flush == NULL)
        goto fail;
    if (getrandom(&r, sizeof r, 0) != sizeof r)
        r = (uint32_t)siod_now_ms() ^ (uint32_t)getpid();
    st->node_n = r & 0x7fffffffu;
    snprintf(st->node, sizeof st->node, "%08" PRIx32, r);
    st->refreshed = siod_now_ms();
    g = st;
    return st;
fail:
    rs_destroy(st);
    return NULL;
}

const siod_sio_store_ops siod_sio_store_redis = {
    .name = "Redis",
    .create = rs_create,
    .destroy = rs_destroy,
    .next_offset = rs_next_offset,
    .append = rs_append,
    .replay = rs_replay,
    .save = rs_save,
    .take = rs_take,
    .expire = rs_expire,
    .stats = rs_stats,
    .track = rs_track,
    .left = rs_left,
};
