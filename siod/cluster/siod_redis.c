/* siod's connection to Redis: two hiredis async connections on siod's
 * libevent loop, one for commands (PUBLISH, PUBSUB NUMSUB) and one for
 * subscriptions, each sending AUTH and SELECT first and counted up once a
 * PING after them is answered. In the sharded mode the commands are
 * SPUBLISH and PUBSUB SHARDNUMSUB, and the subscriber is siod's own
 * (siod_redis_ssub.c), which hiredis's async API cannot be. When either goes
 * away siod keeps running without it: publishes are counted as lost, a
 * timer reconnects with backoff (100 ms doubling to 5 s, a connect that
 * hangs given up after 2 s) and the subscriber subscribes again to every
 * channel it had. One log line when an outage starts, one when it ends
 * (with the messages lost meanwhile). */
#include "siod_cluster.h"
#include "siod_redis_int.h"
#include "core/siod_core.h"

#include <errno.h>
#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/adapters/libevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define CONNECT_TIMEOUT_MS 2000
/* Bytes of publishes handed to hiredis and not yet answered; more are
 * lost (a Redis that stalls must not grow siod's memory without bound). */
#define MAX_INFLIGHT_BYTES (64u << 20)

struct conn {
    siod_redis *r;
    redisAsyncContext *ac;           /* NULL: not connected nor connecting */
    int up;
    int is_sub;
    int64_t started_ms;
};

/* The connection's states (both hiredis connections together): the
 * first attempt, both usable, an outage (retrying), freed. Only
 * transit() changes them. */
enum siod_redis_state {
    REDIS_CONNECTING,
    REDIS_UP,
    REDIS_DOWN,
    REDIS_CLOSED
};

static const char *const state_names[] = { "connecting", "up", "down",
                                           "closed" };

/* A subscription, in a list (resubscribed in order) and an index: the
 * sharded mode's room channels may be one per socket. */
struct sub_ent {
    char *channel;
    int pattern;
    unsigned count;
    struct sub_ent *prev, *next;
};

struct sub_key {
    const char *channel;
    int pattern;
};

static int sub_eq(const void *item, const void *key)
{
    const struct sub_ent *e = item;
    const struct sub_key *k = key;
    return e->pattern == k->pattern && strcmp(e->channel, k->channel) == 0;
}

static uint64_t sub_hash(const struct sub_key *k)
{
    return siod_hash_bytes(k->channel, strlen(k->channel)) ^
           (uint64_t)k->pattern;
}

struct siod_redis {
    struct event_base *base;
    siod_redis_url url;
    char name[300];                  /* host:port, for the log */
    struct conn pub, sub;            /* sharded: sub.ac unused, ssub instead */
    siod_ssub *ssub;
    int sharded;
    struct sub_ent *subs;
    siod_hash sub_idx;               /* of subs, by (pattern, channel);
                                        the hash is seeded before the
                                        first namespace subscribes
                                        (siod_sessions_init) */
    siod_redis_msg_fn on_msg;
    void *ud;
    struct event *timer;             /* reconnection, connect timeout */
    unsigned backoff_ms;
    enum siod_redis_state state;     /* only transit() changes it */
    char why[256];                   /* why the last connection failed */
    int64_t down_ms;
    uint64_t lost, lost_before;
    siod_redis_held *held;           /* commands waiting for pub */
    size_t inflight;                 /* bytes published, not answered */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the URL ---------------------------------------------------------------- */

void siod_redis_url_clear(siod_redis_url *u)
{
    free(u->user);
    free(u->password);
    free(u->host);
    memset(u, 0, sizeof *u);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A percent-decoded copy of s[0..n) into *out; -EINVAL for a bad escape
 * or an encoded NUL. */
static int pct_dup(const char *s, size_t n, char **out)
{
    char *d = malloc(n + 1);
    size_t k = 0;
    if (d == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            d[k++] = s[i];
            continue;
        }
        if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0 ||
            (hexval(s[i + 1]) | hexval(s[i + 2])) == 0) {
            free(d);
            return -EINVAL;
        }
        d[k++] = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
        i += 2;
    }
    d[k] = '\0';
    *out = d;
    return 0;
}

static int parse_int(const char *s, size_t n, long max, int *out)
{
    long v = 0;
    if (n == 0 || n > 9)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max)
        return -EINVAL;
    *out = (int)v;
    return 0;
}

int siod_redis_url_parse(const char *url, siod_redis_url *out, char *why,
                         size_t cap)
{
    const char *p, *at, *hend, *path;
    int rc = -EINVAL;

    memset(out, 0, sizeof *out);
    out->port = 6379;
    if (strncmp(url, "rediss://", 9) == 0) {
        siod_err_set(why, cap, -EINVAL, "%s: rediss:// (TLS) is not supported: this "
                     "build's hiredis has no TLS", url);
        return -EINVAL;
    }
    if (strncmp(url, "redis://", 8) != 0) {
        siod_err_set(why, cap, -EINVAL, "%s: expected redis://[user:password@]host"
                     "[:port][/db]", url);
        return -EINVAL;
    }
    p = url + 8;
    path = p + strcspn(p, "/?#");
    if (*path == '?' || *path == '#') {
        siod_err_set(why, cap, -EINVAL, "%s: query and fragment are not supported",
                     url);
        return -EINVAL;
    }
    at = memrchr(p, '@', (size_t)(path - p));
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon == NULL) {
            siod_err_set(why, cap, -EINVAL, "%s: expected user:password@ (or "
                         ":password@)", url);
            return -EINVAL;
        }
        if (colon > p && (rc = pct_dup(p, (size_t)(colon - p),
                                       &out->user)) < 0)
            goto bad_auth;
        if ((rc = pct_dup(colon + 1, (size_t)(at - colon - 1),
                          &out->password)) < 0)
            goto bad_auth;
        p = at + 1;
    }
    if (*p == '[') {
        hend = memchr(p, ']', (size_t)(path - p));
        if (hend == NULL)
            goto bad_host;
        out->host = strndup(p + 1, (size_t)(hend - p - 1));
        hend++;
    } else {
        hend = memchr(p, ':', (size_t)(path - p));
        if (hend == NULL)
            hend = path;
        out->host = strndup(p, (size_t)(hend - p));
    }
    if (out->host == NULL) {
        siod_redis_url_clear(out);
        return -ENOMEM;
    }
    if (out->host[0] == '\0')
        goto bad_host;
    if (hend < path) {
        if (*hend != ':' ||
            parse_int(hend + 1, (size_t)(path - hend - 1), 65535,
                      &out->port) < 0 || out->port == 0) {
            siod_err_set(why, cap, -EINVAL, "%s: bad port", url);
            siod_redis_url_clear(out);
            return -EINVAL;
        }
    }
    if (*path == '/' && path[1] != '\0' &&
        parse_int(path + 1, strlen(path + 1), 1000000, &out->db) < 0) {
        siod_err_set(why, cap, -EINVAL, "%s: bad database number", url);
        siod_redis_url_clear(out);
        return -EINVAL;
    }
    return 0;
bad_auth:
    siod_redis_url_clear(out);
    if (rc == -ENOMEM)
        return rc;
    siod_err_set(why, cap, -EINVAL, "%s: bad percent-encoding in the credentials",
                 url);
    return -EINVAL;
bad_host:
    siod_err_set(why, cap, -EINVAL, "%s: bad host", url);
    siod_redis_url_clear(out);
    return -EINVAL;
}

/* ---- connection state ------------------------------------------------------ */

static void conn_start(struct conn *c);

/* Returns 1 while c is connected or connecting. */
static int conn_open(const struct conn *c)
{
    return c->is_sub && c->r->sharded ? c->r->ssub != NULL : c->ac != NULL;
}

static void arm_timer(siod_redis *r)
{
    if (r->state == REDIS_CLOSED || evtimer_pending(r->timer, NULL))
        return;
    struct timeval tv = { r->backoff_ms / 1000,
                          (suseconds_t)(r->backoff_ms % 1000) * 1000 };
    evtimer_add(r->timer, &tv);
}

/* Moves r to state to (why: the reason, for the log). Entering down logs
 * the outage's one line; leaving it, the line with its length and the
 * messages lost meanwhile; closing in an outage, the messages lost since. */
static void transit(siod_redis *r, enum siod_redis_state to, const char *why)
{
    enum siod_redis_state from = r->state;
    if (from == to || from == REDIS_CLOSED)
        return;
    r->state = to;
    siod_log_debug("redis %s: %s -> %s (%s)", r->name, state_names[from],
                   state_names[to], why);
    switch (to) {
    case REDIS_DOWN:
        r->down_ms = now_ms();
        r->lost_before = r->lost;
        siod_log(SIOD_LOG_WARN, "redis %s: %s: %s; local delivery goes on, "
                 "reconnecting", r->name,
                 from == REDIS_UP ? "connection lost" : "cannot connect", why);
        break;
    case REDIS_UP:
        if (from == REDIS_DOWN)
            siod_log(SIOD_LOG_INFO, "redis %s: connected again after %lld ms; "
                     "%llu messages could not be published meanwhile (lost)",
                     r->name, (long long)(now_ms() - r->down_ms),
                     (unsigned long long)(r->lost - r->lost_before));
        else
            siod_log(SIOD_LOG_INFO, "redis %s: connected", r->name);
        r->backoff_ms = BACKOFF_MIN_MS;
        evtimer_del(r->timer);
        break;
    case REDIS_CLOSED:
        if (from == REDIS_DOWN && r->lost > r->lost_before)
            siod_log(SIOD_LOG_WARN, "redis %s: %llu messages could not be "
                     "published before exit (lost)", r->name,
                     (unsigned long long)(r->lost - r->lost_before));
        break;
    case REDIS_CONNECTING:
        break;
    }
}

/* A connection failed or went away (why: the reason, unless Redis said
 * one before: a refused AUTH). */
static void went_down(siod_redis *r, const char *why)
{
    if (r->state == REDIS_CLOSED)
        return;
    transit(r, REDIS_DOWN, r->why[0] ? r->why : why);
    r->why[0] = '\0';
    arm_timer(r);
}

/* A connection is usable: with both, r is up. */
static void came_up(siod_redis *r)
{
    if (r->pub.up && r->sub.up)
        transit(r, REDIS_UP, "both connections ready");
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    siod_redis *r = arg;
    int64_t now = now_ms();
    struct conn *cs[2] = { &r->pub, &r->sub };

    for (int i = 0; i < 2; i++) {
        struct conn *c = cs[i];
        if (conn_open(c) && !c->up &&
            now - c->started_ms >= CONNECT_TIMEOUT_MS) {
            redisAsyncContext *ac = c->ac;
            c->ac = NULL;
            if (ac != NULL)
                redisAsyncFree(ac);  /* never connected: no disconnect call */
            siod_ssub_free(c->is_sub ? r->ssub : NULL);
            if (c->is_sub)
                r->ssub = NULL;
            if (r->why[0] == '\0')
                siod_err_set(r->why, sizeof r->why, 0, "connect timed out");
        }
        if (!conn_open(c))
            conn_start(c);
    }
    if (!r->pub.up || !r->sub.up) {
        r->backoff_ms = r->backoff_ms * 2 > BACKOFF_MAX_MS
                            ? BACKOFF_MAX_MS : r->backoff_ms * 2;
        arm_timer(r);
    }
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct conn *c = ac->data;
    if (c == NULL)
        return;
    if (status != REDIS_OK) {
        c->ac = NULL;                /* hiredis frees it */
        c->up = 0;
        went_down(c->r, ac->errstr);
        return;
    }
    /* up once Redis has answered the PING sent after AUTH and SELECT */
}

/* The PING after AUTH and SELECT: the connection is usable. */
static void ready_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    redisReply *rep = reply;
    struct conn *c = ac->data;
    if (rep == NULL || rep->type == REDIS_REPLY_ERROR || c == NULL ||
        c->ac != ac)
        return;
    c->up = 1;
    if (c == &c->r->pub)
        siod_redis_held_send(c->r->held, ac);
    came_up(c->r);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct conn *c = ac->data;
    if (c == NULL)
        return;
    c->ac = NULL;
    c->up = 0;
    went_down(c->r, status == REDIS_OK ? "closed" : ac->errstr);
}

/* AUTH and SELECT answers: an error drops the connection (retried with
 * backoff; the outage line says why). */
static void setup_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    redisReply *rep = reply;
    struct conn *c = ac->data;
    if (rep == NULL || rep->type != REDIS_REPLY_ERROR || c == NULL)
        return;
    siod_err_set(c->r->why, sizeof c->r->why, 0, "%s: %.*s", (const char *)priv,
                 (int)rep->len, rep->str);
    c->up = 0;
    redisAsyncDisconnect(ac);
}

static void sub_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    siod_redis *r = priv;
    redisReply *rep = reply;
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements < 3)
        return;
    redisReply *kind = rep->element[0];
    if (kind->type != REDIS_REPLY_STRING)
        return;
    size_t at;
    if (kind->len == 7 && memcmp(kind->str, "message", 7) == 0)
        at = 1;
    else if (kind->len == 8 && memcmp(kind->str, "pmessage", 8) == 0 &&
             rep->elements >= 4)
        at = 2;
    else
        return;
    redisReply *ch = rep->element[at], *msg = rep->element[at + 1];
    if (ch->type != REDIS_REPLY_STRING || msg->type != REDIS_REPLY_STRING)
        return;
    r->on_msg(r->ud, ch->str, ch->len, (const unsigned char *)msg->str,
              msg->len);
}

static void send_sub(struct conn *c, const struct sub_ent *e, int on)
{
    if (c->r->sharded) {
        siod_ssub_command(c->r->ssub, on ? "SSUBSCRIBE" : "SUNSUBSCRIBE",
                          e->channel);
        return;
    }
    const char *cmd = e->pattern ? (on ? "PSUBSCRIBE" : "PUNSUBSCRIBE")
                                 : (on ? "SUBSCRIBE" : "UNSUBSCRIBE");
    redisAsyncCommand(c->ac, sub_cb, c->r, "%s %b", cmd, e->channel,
                      strlen(e->channel));
}

/* The names setup_cb reports a refusal under. */
static char cmd_auth[] = "AUTH", cmd_select[] = "SELECT";

/* The sharded subscriber's reports. */
static void ssub_ready(void *ud)
{
    siod_redis *r = ud;
    r->sub.up = 1;
    came_up(r);
}

static void ssub_down(void *ud, const char *why)
{
    siod_redis *r = ud;
    r->ssub = NULL;                  /* it frees itself */
    r->sub.up = 0;
    went_down(r, why);
}

static void ssub_msg(void *ud, const char *channel, size_t chlen,
                     const unsigned char *msg, size_t len)
{
    siod_redis *r = ud;
    r->on_msg(r->ud, channel, chlen, msg, len);
}

static void ssub_start(struct conn *c)
{
    static const siod_ssub_cbs cbs = { ssub_ready, ssub_down, ssub_msg };
    siod_redis *r = c->r;
    r->ssub = siod_ssub_open(r->base, &r->url, &cbs, r, r->why,
                             sizeof r->why);
    if (r->ssub == NULL) {
        went_down(r, r->why);
        return;
    }
    for (struct sub_ent *e = r->subs; e != NULL; e = e->next)
        send_sub(c, e, 1);
}

/* Starts connecting c; commands queue until the connection is made. */
static void conn_start(struct conn *c)
{
    siod_redis *r = c->r;
    redisAsyncContext *ac;

    c->up = 0;
    c->started_ms = now_ms();
    if (c->is_sub && r->sharded) {
        ssub_start(c);
        return;
    }
    ac = redisAsyncConnect(r->url.host, r->url.port);
    if (ac == NULL || ac->err) {
        if (ac != NULL) {
            siod_err_set(r->why, sizeof r->why, 0, "%s", ac->errstr);
            redisAsyncFree(ac);
        }
        went_down(r, "out of memory");
        return;
    }
    ac->data = c;
    if (redisLibeventAttach(ac, r->base) != REDIS_OK) {
        redisAsyncFree(ac);
        went_down(r, "cannot attach to the event loop");
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    c->ac = ac;
    if (r->url.password != NULL && r->url.user != NULL)
        redisAsyncCommand(ac, setup_cb, cmd_auth, "AUTH %s %s", r->url.user,
                          r->url.password);
    else if (r->url.password != NULL)
        redisAsyncCommand(ac, setup_cb, cmd_auth, "AUTH %s", r->url.password);
    if (r->url.db != 0)
        redisAsyncCommand(ac, setup_cb, cmd_select, "SELECT %d", r->url.db);
    redisAsyncCommand(ac, ready_cb, NULL, "PING");
    if (c->is_sub)
        for (struct sub_ent *e = r->subs; e != NULL; e = e->next)
            send_sub(c, e, 1);
}

/* ---- the API ---------------------------------------------------------------- */

siod_redis *siod_redis_open(struct event_base *base, const char *url,
                            unsigned flags, siod_redis_msg_fn on_msg,
                            void *ud, char *why, size_t cap)
{
    siod_redis *r = calloc(1, sizeof *r);
    if (r == NULL) {
        siod_err_set(why, cap, -EINVAL, "out of memory");
        return NULL;
    }
    if (siod_redis_url_parse(url, &r->url, why, cap) < 0) {
        free(r);
        return NULL;
    }
    r->timer = evtimer_new(base, timer_cb, r);
    r->held = siod_redis_held_new();
    if (r->timer == NULL || r->held == NULL) {
        if (r->timer != NULL)
            event_free(r->timer);
        siod_redis_held_free(r->held);
        siod_redis_url_clear(&r->url);
        free(r);
        siod_err_set(why, cap, -EINVAL, "out of memory");
        return NULL;
    }
    siod_hash_init(&r->sub_idx, sub_eq);
    r->base = base;
    r->sharded = (flags & SIOD_REDIS_SHARDED) != 0;
    r->on_msg = on_msg;
    r->ud = ud;
    r->backoff_ms = BACKOFF_MIN_MS;
    snprintf(r->name, sizeof r->name,
             strchr(r->url.host, ':') != NULL ? "[%s]:%d" : "%s:%d",
             r->url.host, r->url.port);
    r->pub.r = r->sub.r = r;
    r->sub.is_sub = 1;
    conn_start(&r->pub);
    conn_start(&r->sub);
    /* the connect timeout of these first attempts */
    r->backoff_ms = CONNECT_TIMEOUT_MS;
    arm_timer(r);
    r->backoff_ms = BACKOFF_MIN_MS;
    return r;
}

void siod_redis_free(siod_redis *r)
{
    if (r == NULL)
        return;
    transit(r, REDIS_CLOSED, "siod exits");
    siod_redis_held_free(r->held);   /* each answered ok 0 */
    if (r->pub.ac != NULL)
        redisAsyncFree(r->pub.ac);
    if (r->sub.ac != NULL)
        redisAsyncFree(r->sub.ac);
    siod_ssub_free(r->ssub);
    event_free(r->timer);
    siod_hash_destroy(&r->sub_idx);
    while (r->subs != NULL) {
        struct sub_ent *e = r->subs;
        r->subs = e->next;
        free(e->channel);
        free(e);
    }
    siod_redis_url_clear(&r->url);
    free(r);
}

int siod_redis_up(const siod_redis *r)
{
    return r->pub.up && r->sub.up;
}

uint64_t siod_redis_lost(const siod_redis *r)
{
    return r->lost;
}

int siod_redis_subscribe(siod_redis *r, const char *channel, int pattern)
{
    struct sub_key k = { channel, pattern };
    uint64_t h = sub_hash(&k);
    struct sub_ent *e = siod_hash_find(&r->sub_idx, h, &k);
    if (e != NULL) {
        e->count++;
        return 0;
    }
    e = calloc(1, sizeof *e);
    if (e == NULL || (e->channel = strdup(channel)) == NULL ||
        siod_hash_insert(&r->sub_idx, h, e) < 0) {
        if (e != NULL)
            free(e->channel);
        free(e);
        return -ENOMEM;
    }
    e->pattern = pattern;
    e->count = 1;
    e->next = r->subs;
    if (r->subs != NULL)
        r->subs->prev = e;
    r->subs = e;
    if (conn_open(&r->sub))
        send_sub(&r->sub, e, 1);
    return 0;
}

void siod_redis_unsubscribe(siod_redis *r, const char *channel, int pattern)
{
    struct sub_key k = { channel, pattern };
    uint64_t h = sub_hash(&k);
    struct sub_ent *e = siod_hash_find(&r->sub_idx, h, &k);
    if (e == NULL || --e->count > 0)
        return;
    siod_hash_remove(&r->sub_idx, h, &k);
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        r->subs = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    if (conn_open(&r->sub) && r->state != REDIS_CLOSED)
        send_sub(&r->sub, e, 0);
    free(e->channel);
    free(e);
}

/* One publish in flight: its size, given back when Redis answers. */
struct pub_req {
    siod_redis *r;
    size_t len;
};

static void pub_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    struct pub_req *q = priv;
    redisReply *rep = reply;
    q->r->inflight -= q->len;
    if (rep == NULL || rep->type == REDIS_REPLY_ERROR)
        q->r->lost++;
    free(q);
}

void siod_redis_publish(siod_redis *r, const char *channel, size_t chlen,
                        const void *msg, size_t len)
{
    struct pub_req *q;
    if (!r->pub.up) {
        r->lost++;
        return;
    }
    if (r->inflight + len > MAX_INFLIGHT_BYTES ||
        (q = malloc(sizeof *q)) == NULL) {
        r->lost++;
        siod_log_limited(SIOD_LOG_WARN, "redis %s: %zu bytes of publishes "
                         "unanswered: a message dropped (lost)", r->name,
                         r->inflight);
        return;
    }
    q->r = r;
    q->len = len + chlen;
    if (redisAsyncCommand(r->pub.ac, pub_cb, q, "%s %b %b",
                          r->sharded ? "SPUBLISH" : "PUBLISH", channel,
                          chlen, msg, len) != REDIS_OK) {
        free(q);
        r->lost++;
        return;
    }
    r->inflight += q->len;
}

struct numsub_req {
    siod_redis_int_fn fn;
    void *ud;
};

static void numsub_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    struct numsub_req *q = priv;
    redisReply *rep = reply;
    if (rep != NULL && rep->type == REDIS_REPLY_ARRAY &&
        rep->elements == 2 && rep->element[1]->type == REDIS_REPLY_INTEGER)
        q->fn(q->ud, 1, rep->element[1]->integer);
    else
        q->fn(q->ud, 0, 0);
    free(q);
}

void siod_redis_numsub(siod_redis *r, const char *channel,
                       siod_redis_int_fn fn, void *ud)
{
    struct numsub_req *q = r->pub.up ? malloc(sizeof *q) : NULL;
    if (q == NULL) {
        fn(ud, 0, 0);
        return;
    }
    q->fn = fn;
    q->ud = ud;
    if (redisAsyncCommand(r->pub.ac, numsub_cb, q, "PUBSUB %s %s",
                          r->sharded ? "SHARDNUMSUB" : "NUMSUB",
                          channel) != REDIS_OK) {
        free(q);
        fn(ud, 0, 0);
    }
}

/* See siod_cluster.h. */
void siod_redis_state(const siod_redis *r, int *up, uint64_t *lost)
{
    *up = r != NULL && siod_redis_up(r);
    *lost = r != NULL ? r->lost : 0;
}

/* See siod_redis_int.h. */
struct redisAsyncContext *siod_redis_cmd_ctx(const siod_redis *r)
{
    return r->pub.up ? r->pub.ac : NULL;
}

/* See siod_redis_int.h. */
siod_redis_held *siod_redis_held_of(const siod_redis *r)
{
    return r->state == REDIS_CLOSED ? NULL : r->held;
}
