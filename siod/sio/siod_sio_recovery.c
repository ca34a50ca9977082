/* Connection state recovery (the reference's connectionStateRecovery,
 * Socket.IO 4.6+): with --recovery on, every non-volatile event sent
 * without ack carries an offset as its last argument and is logged; a
 * socket that leaves with a recoverable reason is kept for the window; a
 * CONNECT whose auth has that socket's pid and the client's last offset
 * gets the same socket back (id, pid, rooms, data) and every packet it
 * missed, replayed before the CONNECT answer. The log and the kept
 * sockets live in a store (siod_sio_store_ops): siod_sio_store_mem in
 * this process, or with --redis siod_sio_store_redis, whose answer to a
 * CONNECT comes later (the CONNECT waits, as for connect middleware). With
 * a state file, a clean stop writes the in-process store there and the
 * next start reads it back (siod_sio_state.c), with the records of the
 * sessions handed over on their WebSockets (siod_sio_handover.c). */
#include "siod_sio_int.h"
#include "core/siod_core.h"
#include "sio_json.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How often the store drops what is past the window. */
#define EXPIRE_EVERY_MS 1000

static siod_sio_recovery_conf conf;
static const siod_sio_redis *redis_conn;
static const siod_sio_store_ops *store_ops;
static void *store;
static struct event *expire_timer;

/* Packets that could not be logged, kept sockets lost to memory. */
static siod_log_throttle log_failures;
/* The state file is not ours (another program's file?): never written. */
static int state_foreign;

/* Sessions handed over: at a stop, those this siod hands on (written to
 * the state file); at a start, those the previous one handed over, until
 * their WS_RESUME or the window's end. */
static siod_hash handed_by_sid;
static siod_sio_handover *handed;
static size_t handed_count;

/* Connected sockets by pid. A CONNECT that claims the pid of one still
 * connected here, on a polling session that holds no GET, comes from a
 * client whose held poll was cut (by a proxy, with a stopping httpd
 * child) without a word: siod would see that session end only at its
 * ping timeout. The client has moved to a new session, so the old socket
 * leaves now ("transport close", its state kept) and the claim finds it,
 * as it would had the client come back a few seconds later. A socket on a
 * WebSocket or a held poll is in touch with its client: a claim of its
 * pid gets a fresh socket, as the reference's would. */
static siod_hash live_by_pid;
static int tables_ready;             /* live_by_pid, claims_by_pid */

/* A take under way for a pending socket (it holds a reference). */
struct claim {
    siod_socket *s;
    void (*resume)(siod_socket *s);
    char offset[SIOD_SIO_OFFSET_MAX];
    char pid[SIO_SID_LEN + 2];
    uint64_t hash;
    int indexed;                     /* in claims_by_pid */
    struct claim *newer;             /* claims of the same pid behind it */
};

/* Claims the store has not answered yet (Redis: held while it is away),
 * by pid. A client whose CONNECT waits that long may give up its session
 * and CONNECT again on a new one with the same pid and offset: that claim
 * waits behind the first rather than asking the store again (the first
 * take removes the state, so a second would find nothing), and the
 * store's answer goes to the newest claim whose client still waits. */
static siod_hash claims_by_pid;

static int claim_eq(const void *item, const void *key)
{
    return strcmp(((const struct claim *)item)->pid, key) == 0;
}

void siod_sio_set_recovery(const siod_sio_recovery_conf *c)
{
    conf = *c;
}

void siod_sio_set_recovery_redis(const siod_sio_redis *r)
{
    redis_conn = r;
}

const siod_sio_redis *siod_sio_recovery_redis(void)
{
    return redis_conn;
}

/* A sync waiting for Redis's answer to its PING. */
struct sync {
    void (*fn)(void *ud, int logged);
    void *ud;
};

static void synced(void *ud, int ok, const char *const *items,
                   const size_t *lens, size_t n)
{
    struct sync *y = ud;
    y->fn(y->ud, ok);
    free(y);
}

void siod_sio_recovery_sync(void (*fn)(void *ud, int logged), void *ud)
{
    static const char *const ping[1] = { "PING" };
    static const size_t len[1] = { 4 };
    struct sync *y;

    /* Redis answers in order: after the PING, every append before it */
    if (store == NULL || store_ops != &siod_sio_store_redis) {
        fn(ud, store != NULL);   /* the in-process store has them */
        return;
    }
    if ((y = malloc(sizeof *y)) == NULL) {
        fn(ud, 0);
        return;
    }
    y->fn = fn;
    y->ud = ud;
    redis_conn->command(1, ping, len, synced, y);
}

int siod_sio_recovery_on(void)
{
    return store != NULL;
}

static int live_eq(const void *item, const void *key)
{
    return strcmp(((const siod_socket *)item)->pid, key) == 0;
}

/* Indexes s (connected, with its final pid) by pid; one socket a pid. */
static void live_add(siod_socket *s)
{
    uint64_t h = siod_hash_bytes(s->pid, strlen(s->pid));
    siod_socket *other;

    if (!tables_ready || s->pid[0] == '\0' || s->live)
        return;
    other = siod_hash_remove(&live_by_pid, h, s->pid);
    if (other != NULL)
        other->live = 0;
    if (siod_hash_insert(&live_by_pid, h, s) == 0)
        s->live = 1;        /* without memory it is just not found */
}

void siod_sio_recovery_forget(siod_socket *s)
{
    if (!s->live)
        return;
    s->live = 0;
    if (tables_ready)
        siod_hash_remove(&live_by_pid, siod_hash_bytes(s->pid, strlen(s->pid)),
                         s->pid);
}

/* The socket of pid still connected in s's namespace on another session
 * leaves, its state kept (see live_by_pid). */
static void take_over(siod_socket *s, const char *pid)
{
    uint64_t h = siod_hash_bytes(pid, strlen(pid));
    siod_socket *old =
        tables_ready ? siod_hash_find(&live_by_pid, h, pid) : NULL;
    siod_session *session;

    if (old == NULL || old == s || old->nsp != s->nsp ||
        old->state != SOCK_CONNECTED || old->client == NULL ||
        old->client == s->client || (session = old->client->s) == NULL ||
        !siod_session_polling_unheld(session))
        return;
    siod_log_debug("recovery: socket %s on %s: its client is back on "
                   "another session; the old one (%s, polling, no GET held) "
                   "is closed as by its transport", old->id, old->nsp->name,
                   siod_session_sid(session));
    siod_sio_socket_closed(old, "transport close");
    siod_session_close(session, "transport close");
}

static int handed_eq(const void *item, const void *key)
{
    return strcmp(((const siod_sio_handover *)item)->sid, key) == 0;
}

int siod_sio_recovery_handover_keep(siod_sio_handover *h)
{
    h->hash = siod_hash_bytes(h->sid, strlen(h->sid));
    if (siod_hash_find(&handed_by_sid, h->hash, h->sid) != NULL ||
        siod_hash_insert(&handed_by_sid, h->hash, h) < 0) {
        siod_sio_handover_free(h);
        return -ENOMEM;
    }
    h->prev = NULL;
    h->next = handed;
    if (handed != NULL)
        handed->prev = h;
    handed = h;
    handed_count++;
    return 0;
}

/* Unlinks h from the list. */
static void handed_unlink(siod_sio_handover *h)
{
    if (h->prev != NULL)
        h->prev->next = h->next;
    else
        handed = h->next;
    if (h->next != NULL)
        h->next->prev = h->prev;
    h->next = h->prev = NULL;
    handed_count--;
}

siod_sio_handover *siod_sio_recovery_handover_take(const char *sid)
{
    siod_sio_handover *h;

    h = siod_hash_remove(&handed_by_sid, siod_hash_bytes(sid, strlen(sid)),
                         sid);
    if (h != NULL)
        handed_unlink(h);
    return h;
}

/* Drops every record (at a stop: those not taken back are not handed on;
 * their clients reconnect and recover), or those older than since. */
static void handed_drop(int64_t since)
{
    siod_sio_handover *h = handed, *next;

    for (; h != NULL; h = next) {
        next = h->next;
        if (h->at >= since)
            continue;
        siod_hash_remove(&handed_by_sid, h->hash, h->sid);
        handed_unlink(h);
        siod_sio_handover_free(h);
    }
}

int siod_sio_recovery_handover_begin(char offset[SIOD_SIO_OFFSET_MAX])
{
    if (!siod_sio_recovery_persists())
        return -ENOTSUP;
    handed_drop(INT64_MAX);
    store_ops->next_offset(store, offset);
    return 0;
}

siod_sio_saved *siod_sio_recovery_take_kept(const char *nsp, const char *pid,
                                            const char **why)
{
    if (store == NULL || store_ops != &siod_sio_store_mem) {
        *why = "recovery's store is not this process's";
        return NULL;
    }
    return siod_sio_store_mem_take_kept(store, nsp, pid, why);
}

static void expire_cb(evutil_socket_t fd, short what, void *arg)
{
    int64_t now = siod_now_ms();

    store_ops->expire(store, now);
    if (handed != NULL)
        handed_drop(now - (int64_t)conf.window_ms);
}

/* Reads the state file a clean stop left into a new store that takes the
 * place of st's (empty) one, and removes the file: it is read once.
 * Whatever is wrong with it is logged in one line and siod starts empty. */
static void state_load(void)
{
    const char *path = conf.state_file;
    siod_sio_state_info info = { 0 };
    char why[512];
    void *fresh;
    int rc;

    if (path == NULL || store_ops != &siod_sio_store_mem)
        return;
    fresh = store_ops->create(&conf);
    rc = fresh != NULL ? siod_sio_state_read(path, fresh, conf.window_ms,
                                             siod_sio_recovery_handover_keep,
                                             &info, why, sizeof why)
                       : siod_err_set(why, sizeof why, -ENOMEM,
                                      "out of memory");
    if (rc == -ENOENT) {
        store_ops->destroy(fresh);
        return;
    }
    if (rc < 0)
        handed_drop(INT64_MAX);     /* what part of the file gave */
    if (rc < 0 && info.foreign) {
        state_foreign = 1;
        siod_log(SIOD_LOG_ERROR, "state file %s: %s; left as it is, and "
                 "not written at stop: sessions start empty and will not "
                 "survive a restart (name another file with --state-file)",
                 path, why);
    } else if (rc < 0) {
        siod_log(SIOD_LOG_WARN, "state file %s refused: %s; removed, "
                 "sessions start empty", path, why);
    } else {
        siod_log(SIOD_LOG_INFO, "state file %s: %zu kept sockets and %zu "
                 "logged packets restored, %zu sessions handed over on their "
                 "WebSockets (written %lld ms ago); removed", path,
                 info.sockets, info.packets, info.sessions,
                 (long long)info.age_ms);
        store_ops->destroy(store);
        store = fresh;
        fresh = NULL;
    }
    store_ops->destroy(fresh);
    if (!state_foreign && unlink(path) < 0 && errno != ENOENT)
        siod_log(SIOD_LOG_ERROR, "state file %s: cannot remove it: %s",
                 path, strerror(errno));
}

int siod_sio_recovery_persists(void)
{
    return store != NULL && conf.state_file != NULL && !state_foreign &&
           store_ops == &siod_sio_store_mem;
}

ssize_t siod_sio_recovery_persist(char *why, size_t cap)
{
    size_t packets = 0, sockets = 0;

    if (!siod_sio_recovery_persists())
        return 0;
    store_ops->expire(store, siod_now_ms());
    int rc = siod_sio_state_write(conf.state_file, store, conf.window_ms,
                                  handed, &packets, &sockets, why, cap);
    if (rc < 0)
        return rc;
    siod_log(SIOD_LOG_INFO, "state file %s: %zu kept sockets and %zu logged "
             "packets written for the next siod, with %zu sessions handed "
             "over on their WebSockets", conf.state_file, sockets, packets,
             handed_count);
    return (ssize_t)sockets;
}

/* The in-process store's figures with the gauges. */
static void recovery_report(siod_gauges *g)
{
    if (store != NULL && store_ops == &siod_sio_store_mem)
        siod_sio_store_mem_figures(store, &g->recovery_sockets,
                                   &g->recovery_bytes);
}

int siod_sio_recovery_start(char *why, size_t cap)
{
    if (conf.window_ms == 0)
        return 0;
    store_ops = redis_conn != NULL ? &siod_sio_store_redis
                                          : &siod_sio_store_mem;
    siod_hash_init(&handed_by_sid, handed_eq);
    siod_hash_init(&live_by_pid, live_eq);
    siod_hash_init(&claims_by_pid, claim_eq);
    tables_ready = 1;
    store = store_ops->create(&conf);
    expire_timer = store != NULL
                       ? event_new(siod_sio_config()->base, -1, EV_PERSIST,
                                   expire_cb, NULL)
                       : NULL;
    if (expire_timer == NULL) {
        siod_sio_recovery_stop();
        return siod_err_set(why, cap, -ENOMEM, "connection state recovery: "
                            "out of memory");
    }
    struct timeval tv = { EXPIRE_EVERY_MS / 1000,
                          (EXPIRE_EVERY_MS % 1000) * 1000 };
    event_add(expire_timer, &tv);
    state_load();
    siod_stats_add_reporter(recovery_report);
    siod_log(SIOD_LOG_INFO, "connection state recovery: window %u ms, "
             "middleware %s for recovered sockets, %s store (0: no limit): "
             "packets %zu, log bytes %zu, sockets %zu, their bytes %zu",
             conf.window_ms, conf.run_middlewares ? "runs" : "skipped",
             store_ops->name, conf.max_packets, conf.max_log_bytes,
             conf.max_sessions, conf.max_session_bytes);
    return 0;
}

void siod_sio_recovery_stop(void)
{
    handed_drop(INT64_MAX);
    siod_hash_destroy(&handed_by_sid);
    if (tables_ready) {
        siod_hash_destroy(&live_by_pid);
        siod_hash_destroy(&claims_by_pid);
    }
    tables_ready = 0;
    if (expire_timer != NULL)
        event_free(expire_timer);
    expire_timer = NULL;
    if (store != NULL)
        store_ops->destroy(store);
    store = NULL;
}

int siod_sio_recovery_skips_middleware(void)
{
    return !conf.run_middlewares;
}

/* ---- offsets on the packets sent ------------------------------------------ */

int siod_sio_recovery_encode(siod_sio_out *out, siod_nsp *nsp,
                             const char *event, const siod_args *args,
                             const siod_bcast_opts *o)
{
    char offset[SIOD_SIO_OFFSET_MAX];
    int rc;

    if (store == NULL || (o->flags & SIOD_EMIT_VOLATILE))
        return siod_sio_encode(out, 0, nsp->name, 0, 0, event, args);
    store_ops->next_offset(store, offset);
    rc = siod_sio_encode_offset(out, nsp->name, event, args, offset);
    if (rc < 0)
        return rc;
    rc = store_ops->append(store, offset, nsp->name, o, out);
    if (rc < 0)
        siod_log_throttled(&log_failures, SIOD_LOG_ERROR, "recovery: a "
                           "packet to %s not logged (%s): clients away "
                           "miss it", nsp->name, siod_strerror(rc));
    return 0;
}

/* ---- leaving: the state kept ---------------------------------------------- */

/* The reference's RECOVERABLE_DISCONNECT_REASONS. */
static int recoverable(const char *reason)
{
    static const char *const reasons[] = {
        "transport error", "transport close", "forced close", "ping timeout",
        "server shutting down", "forced server close",
    };
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (strcmp(reason, reasons[i]) == 0)
            return 1;
    return 0;
}

struct rooms_copy {
    siod_sio_saved *v;
    size_t cap;
    int failed;
};

static void room_copy(void *ud, const char *room)
{
    struct rooms_copy *r = ud;
    char *copy = r->failed ? NULL : strdup(room);
    if (copy == NULL || r->v->nrooms == r->cap) {
        free(copy);
        r->failed = 1;
        return;
    }
    r->v->rooms[r->v->nrooms++] = copy;
}

void siod_sio_recovery_save(siod_socket *s, const char *reason)
{
    siod_nsp *nsp = s->nsp;
    siod_sio_saved *v;
    int rc = -ENOMEM;

    siod_sio_recovery_forget(s);
    if (store == NULL)
        return;
    if (!recoverable(reason)) {
        if (store_ops->left != NULL)
            store_ops->left(store, s, 0);
        return;
    }
    size_t n = nsp->aops->socket_rooms(nsp->adapter, s, NULL, NULL);
    v = calloc(1, sizeof *v);
    if (v != NULL) {
        struct rooms_copy r = { v, n, 0 };
        memcpy(v->sid, s->id, sizeof v->sid);
        memcpy(v->pid, s->pid, sizeof v->pid);
        v->at = siod_now_ms();
        v->nsp = strdup(nsp->name);
        v->rooms = calloc(n ? n : 1, sizeof *v->rooms);
        if (s->data_json != NULL)
            v->data_json = strdup(s->data_json);
        if (v->rooms != NULL)
            nsp->aops->socket_rooms(nsp->adapter, s, room_copy, &r);
        if (v->nsp != NULL && v->rooms != NULL && !r.failed &&
            (s->data_json == NULL || v->data_json != NULL)) {
            rc = store_ops->save(store, v);
            v = NULL;
        }
    }
    siod_sio_saved_free(v);
    if (store_ops->left != NULL)
        store_ops->left(store, s, rc == 0);
    if (rc < 0) {
        siod_log_throttled(&log_failures, SIOD_LOG_ERROR, "recovery: socket "
                           "%s not kept (%s)", s->id, siod_strerror(rc));
        return;
    }
    s->kept = 1;
    siod_log_debug("recovery: socket %s on %s kept (%s)", s->id, nsp->name,
                   reason);
}

/* ---- coming back ----------------------------------------------------------- */

/* Decodes string member key of object auth into buf[0..cap) (NUL
 * terminated). Returns 1, or 0 when it is absent, no string, or too
 * long to be one of ours. */
static int auth_string(const struct sio_json_span *auth, const char *key,
                       char *buf, size_t cap)
{
    struct sio_json_span v;
    size_t n;

    if (auth->ptr == NULL || auth->type != SIO_JSON_OBJECT ||
        sio_json_object_get(auth, key, strlen(key), &v) != SIO_OK ||
        v.type != SIO_JSON_STRING ||
        sio_json_string_decode(&v, buf, cap - 1, &n) != SIO_OK)
        return 0;
    buf[n] = '\0';
    return 1;
}

/* Gives s a pid of its own: it is a new socket. Returns 0 or a negative
 * code. */
static int new_pid(siod_socket *s)
{
    int rc = siod_sid_generate(s->pid);
    s->pid[SIO_SID_LEN] = '\0';
    return rc;
}

/* s becomes the socket v kept: its id, pid, data and rooms; m (and the
 * offset) wait for its replay. Returns 0, or -ENOMEM (s unchanged). */
static int restore(siod_socket *s, siod_sio_saved *v, siod_sio_missed *m,
                   const char *offset)
{
    s->rec_offset = strdup(offset);
    if (s->rec_offset == NULL)
        return -ENOMEM;
    s->rec_missed = m;
    memcpy(s->id, v->sid, sizeof s->id);
    memcpy(s->pid, v->pid, sizeof s->pid);
    free(s->data_json);
    s->data_json = v->data_json;
    v->data_json = NULL;
    s->recovered = 1;
    /* not counted against --max-rooms-per-socket: joined within it */
    for (size_t i = 0; i < v->nrooms; i++)
        if (s->nsp->aops->add(s->nsp->adapter, s, v->rooms[i]) < 0)
            siod_log_limited(SIOD_LOG_ERROR, "recovery: socket %s: out of "
                             "memory rejoining room %s", s->id, v->rooms[i]);
    siod_log_debug("recovery: socket %s on %s restored (%zu rooms)", s->id,
                   s->nsp->name, v->nrooms);
    return 0;
}

int siod_sio_recovery_restore(siod_socket *s, siod_sio_saved *v,
                              const char *offset)
{
    return restore(s, v, NULL, offset);
}

static int claim_waiting(const struct claim *c)
{
    return c->s->state == SOCK_PENDING && c->s->client != NULL;
}

/* One claim's end: its socket restored from v (taking v and m) or, with
 * v NULL, given a new pid for why; then its connect goes on, unless its
 * client left meanwhile. */
static void claim_end(struct claim *c, siod_sio_saved *v, siod_sio_missed *m,
                      const char *why)
{
    siod_socket *s = c->s;
    int waiting = claim_waiting(c);

    if (v != NULL && waiting && restore(s, v, m, c->offset) == 0) {
        m = NULL;
    } else if (v != NULL && !waiting && store != NULL) {
        /* kept again for the client's next CONNECT (the take removed it) */
        siod_log_debug("recovery: socket %s on %s: its client left while "
                       "its state was read; kept again", v->sid, v->nsp);
        if (store_ops->save(store, v) < 0)
            siod_log_throttled(&log_failures, SIOD_LOG_ERROR, "recovery: "
                               "socket %s not kept again", v->sid);
        v = NULL;
    } else {
        if (v != NULL)
            why = "out of memory";
        if (waiting && new_pid(s) < 0)
            memcpy(s->pid, s->id, sizeof s->pid);   /* any other pid */
        if (waiting)
            siod_log_debug("recovery: socket %s on %s not recovered: %s",
                           s->id, s->nsp->name, why);
    }
    siod_sio_saved_free(v);
    siod_sio_missed_free(m);
    if (waiting)
        c->resume(s);
    siod_socket_unref(s);
    free(c);
}

/* The store's answer to a take: it goes to the newest claim of the pid
 * whose client still waits, with the same offset (the packets missed are
 * counted from it); the others are not recovered. */
static void claimed(void *ud, siod_sio_saved *v, siod_sio_missed *m,
                    const char *why)
{
    struct claim *first = ud, *to = NULL;

    if (tables_ready && first->indexed)
        siod_hash_remove(&claims_by_pid, first->hash, first->pid);
    for (struct claim *c = first; c != NULL; c = c->newer)
        if (claim_waiting(c) && c->s->nsp == first->s->nsp &&
            strcmp(c->offset, first->offset) == 0)
            to = c;
    if (to == NULL)
        to = first;
    for (struct claim *c = first, *next; c != NULL; c = next) {
        next = c->newer;
        if (c != to)
            claim_end(c, NULL, NULL, "its client came back again on another "
                                     "session");
    }
    claim_end(to, v, m, why);
}

int siod_sio_recovery_claim(siod_socket *s, const struct sio_json_span *auth,
                            void (*resume)(siod_socket *s))
{
    char pid[SIO_SID_LEN + 2];
    struct claim *c;

    if (store == NULL)
        return 0;
    c = malloc(sizeof *c);
    if (c == NULL)
        return -ENOMEM;
    if (!auth_string(auth, "pid", pid, sizeof pid) ||
        !auth_string(auth, "offset", c->offset, sizeof c->offset)) {
        free(c);
        return new_pid(s);
    }
    take_over(s, pid);
    c->s = siod_socket_ref(s);
    c->resume = resume;
    c->newer = NULL;
    memcpy(c->pid, pid, sizeof c->pid);
    c->hash = siod_hash_bytes(pid, strlen(pid));
    struct claim *ahead =
        tables_ready ? siod_hash_find(&claims_by_pid, c->hash, pid) : NULL;
    if (ahead != NULL) {
        while (ahead->newer != NULL)
            ahead = ahead->newer;
        ahead->newer = c;
        siod_log_debug("recovery: socket %s on %s: its pid is claimed "
                       "already; waiting for that claim", s->id,
                       s->nsp->name);
        return 1;
    }
    /* without memory it is just not found by a second claim */
    c->indexed = tables_ready &&
                 siod_hash_insert(&claims_by_pid, c->hash, c) == 0;
    store_ops->take(store, s->nsp->name, pid, c->offset, claimed, c);
    return 1;
}

void siod_sio_recovery_connected(siod_socket *s)
{
    if (store == NULL)
        return;
    live_add(s);
    if (store_ops->track != NULL && s->pid[0] != '\0')
        store_ops->track(store, s);
}

static int in_room(void *ud, const char *room)
{
    siod_socket *s = ud;
    return s->nsp->aops->has(s->nsp->adapter, s, room);
}

static void replay_one(void *ud, const siod_sio_out *pkt)
{
    siod_socket *s = ud;
    if (s->client != NULL)
        siod_sio_client_write(s->client, pkt, 0);
}

void siod_sio_recovery_replay(siod_socket *s)
{
    if (store == NULL || !s->recovered)
        return;
    ssize_t n = s->resumed
        ? siod_sio_store_mem_replay_after(store, s->nsp->name, s->rec_offset,
                                          in_room, replay_one, s)
        : store_ops->replay(store, s->nsp->name, s->rec_offset,
                            s->rec_missed, in_room, replay_one, s);
    siod_sio_missed_free(s->rec_missed);
    s->rec_missed = NULL;
    if (n >= 0) {
        siod_log_debug("recovery: socket %s: %zd missed packets replayed",
                       s->id, n);
        return;
    }
    /* dropped while its middleware ran: the client cannot have them all */
    siod_log_debug("recovery: socket %s: its offset left the log during "
                   "connect middleware; not recovered", s->id);
    s->recovered = 0;
    if (siod_sid_generate(s->pid) < 0)
        memcpy(s->pid, s->id, sizeof s->pid);   /* any other pid */
    s->pid[SIO_SID_LEN] = '\0';
}

/* ---- public API ------------------------------------------------------------ */

int siod_socket_recovered(const siod_socket *s)
{
    return s != NULL && s->recovered;
}
