/* The "testkit" application: a test-only siod app that exposes the
 * server-side Socket.IO features (rooms, broadcasts with and without acks,
 * server->client acks, volatile packets, disconnects, middleware, the
 * handshake, binary data) to the integration tests as events, on "/",
 * "/a", "/b" and the dynamic namespaces ~^/dyn-[0-9]+$.
 *
 * Events (arg0 is an options object unless said otherwise):
 *   echo (...args)            ack: the same args; no ack: emits "echo" back
 *   slow-echo {delay}         holds the ack, answers ["late"] after delay ms
 *   emit-back {event,args}    emits event with args (binary kept) to the sender
 *   bin-gen                   emits "bin" with nested server-made buffers
 *                             (and acks with them when asked)
 *   join / leave room|[rooms] ack true (false for a malformed argument)
 *   join-rc room              ack: siod_join's return code (SIOD_ELIMIT, ...)
 *   rooms                     ack: the socket's rooms
 *   to {rooms,except,event,args,exceptMe,volatile,pad}
 *                             broadcast in the namespace; ack true. pad: n
 *                             sends one string of n 'x' instead of args
 *                             (a big message from a small request)
 *   bcast-except-me {event,args}  everyone in the namespace but the sender
 *   volatile-burst {n,bcast}  n x (volatile "vol" i, then "nonvol" i), then
 *                             "burst-done" n; to the sender or (bcast) all
 *   burst {n}                 n x "b" i to the sender, then "burst-done" n
 *   server-ack {timeout,args,reportTo}
 *                             emits "ask" args with an ack; the outcome goes
 *                             as "server-ack-result" {err,args} to the sender
 *                             or to room reportTo
 *   bcast-ack {timeout,rooms,args}
 *                             broadcasts "bask" with an ack; the sender gets
 *                             "bcast-ack-result" {err,count,responses}
 *   kick-me {close}           acks, then disconnects the sender
 *   kick-room room            acks, then disconnects every socket in room
 *   whoami {headers,query}    ack: the handshake as the app sees it
 *   count                     ack: {any, errors} seen for this socket
 *   set-data value            sets socket.data (JSON) to value; ack true
 *   nsp-count [name]          ack: connected sockets of a namespace
 *   dyn-all {event,args}      emits to every dynamic /dyn-N namespace
 *   forbidden                 dropped by the event middleware; the sender
 *                             gets "mw-error" {message}
 * Connect middleware: auth {token:"bad"} is refused with "not authorized",
 * data {code:42}; auth {delay:ms[,reject:true]} decides later. Sockets in
 * room "watchers" hear "leaving" (from on_disconnecting: still in its
 * rooms) and "gone" (on_disconnect) {id,reason,rooms} of the others. */
#include "siod_app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per-socket counters. */
struct tk_sock {
    unsigned long any;
    unsigned long errors;
};

/* A growable string for building JSON from pieces. */
struct sb {
    char *p;
    size_t len, cap;
    int oom;
};

static void sb_add(struct sb *b, const char *s)
{
    size_t n;
    if (b->oom || s == NULL) {
        b->oom = 1;
        return;
    }
    n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

/* Appends a string produced by siod_json_fmt (NULL marks the builder
 * out of memory) and frees it. */
static void sb_take(struct sb *b, char *s)
{
    sb_add(b, s);
    free(s);
}

/* ---- reading options ------------------------------------------------------ */

static int opt_raw(const siod_args *a, const char *key, const char **j,
                   size_t *n)
{
    return siod_arg_member(a, 0, key, j, n);
}

static char *opt_string(const siod_args *a, const char *key)
{
    const char *j;
    size_t n;
    if (opt_raw(a, key, &j, &n) != SIOD_OK)
        return NULL;
    return siod_json_string_dup(j, n);
}

static double opt_number(const siod_args *a, const char *key, double dflt)
{
    const char *j;
    size_t n;
    if (opt_raw(a, key, &j, &n) != SIOD_OK)
        return dflt;
    char *wrapped = siod_json_fmt("[%.*s]", (int)n, j);
    siod_args w = { wrapped, 0, NULL, 0 };
    double v = dflt;
    if (wrapped == NULL || siod_arg_number(&w, 0, &v) != SIOD_OK)
        v = dflt;
    free(wrapped);
    return v;
}

/* A non-negative whole number option, at most max (dflt when absent). */
static unsigned opt_uint(const siod_args *a, const char *key, unsigned dflt,
                         unsigned max)
{
    double v = opt_number(a, key, dflt);
    if (!(v >= 0))           /* also NaN */
        return 0;
    return v > max ? max : (unsigned)v;
}

#define MAX_MS 600000u       /* timeouts and delays: ten minutes at most */
#define MAX_BURST 100000u
#define MAX_PAD (60u * 1024u * 1024u)

static int opt_true(const siod_args *a, const char *key)
{
    const char *j;
    size_t n;
    return opt_raw(a, key, &j, &n) == SIOD_OK && n == 4 &&
           memcmp(j, "true", 4) == 0;
}

/* The "args" member as arguments sharing a's binary buffers; "[]" when
 * absent or not an array. */
static siod_args opt_args(const siod_args *a)
{
    siod_args out = { "[]", 0, NULL, 0 };
    const char *j;
    size_t n;
    if (opt_raw(a, "args", &j, &n) == SIOD_OK && n >= 2 && j[0] == '[') {
        out.json = j;
        out.len = n;
        out.bins = a->bins;
        out.nbins = a->nbins;
    }
    return out;
}

/* Calls fn for each room named by JSON text j: a string or an array of
 * strings. Returns how many names were valid, -1 if something was not. */
static int each_room(const char *j, size_t n,
                     void (*fn)(void *ud, const char *room), void *ud)
{
    int count = 0;
    if (n > 0 && j[0] == '"') {
        char *room = siod_json_string_dup(j, n);
        if (room == NULL)
            return -1;
        fn(ud, room);
        free(room);
        return 1;
    }
    siod_args list = { j, n, NULL, 0 };
    if (n == 0 || j[0] != '[')
        return -1;
    size_t k = siod_arg_count(&list);
    for (size_t i = 0; i < k; i++) {
        char *room = siod_arg_string(&list, i);
        if (room == NULL)
            return -1;
        fn(ud, room);
        free(room);
        count++;
    }
    return count;
}

static void ack_json(siod_ack *ack, const char *json)
{
    if (ack != NULL) {
        siod_args a = { json, 0, NULL, 0 };
        siod_ack_send(ack, &a);
    }
}

static void ack_bool(siod_ack *ack, int ok)
{
    ack_json(ack, ok ? "[true]" : "[false]");
}

/* ---- rooms and broadcasts -------------------------------------------------- */

struct room_op {
    siod_socket *s;
    int join;
    int failed;
};

static void room_op_one(void *ud, const char *room)
{
    struct room_op *op = ud;
    int rc = op->join ? siod_join(op->s, room) : siod_leave(op->s, room);
    if (rc != SIOD_OK)
        op->failed = 1;
}

static void room_change(siod_socket *s, const siod_args *args, siod_ack *ack,
                        int join)
{
    const char *j;
    size_t n;
    struct room_op op = { s, join, 0 };
    int ok = siod_arg_raw(args, 0, &j, &n) == SIOD_OK &&
             each_room(j, n, room_op_one, &op) > 0 && !op.failed;
    ack_bool(ack, ok);
}

static void room_list_one(void *ud, const char *room)
{
    struct sb *b = ud;
    sb_add(b, b->len > 2 ? "," : "");
    sb_take(b, siod_json_fmt("%Q", room));
}

static void rooms_event(siod_socket *s, siod_ack *ack)
{
    struct sb b = { NULL, 0, 0, 0 };
    sb_add(&b, "[[");
    siod_socket_rooms(s, room_list_one, &b);
    sb_add(&b, "]]");
    if (!b.oom)
        ack_json(ack, b.p);
    free(b.p);
}

static void bcast_to_one(void *ud, const char *room)
{
    siod_bcast_to(ud, room);
}

static void bcast_except_one(void *ud, const char *room)
{
    siod_bcast_except(ud, room);
}

/* Narrows b by the options' "rooms" and "except" members. */
static siod_bcast *narrow(siod_bcast *b, const siod_args *args)
{
    const char *j;
    size_t n;
    if (b == NULL)
        return NULL;
    if (opt_raw(args, "rooms", &j, &n) == SIOD_OK)
        each_room(j, n, bcast_to_one, b);
    if (opt_raw(args, "except", &j, &n) == SIOD_OK)
        each_room(j, n, bcast_except_one, b);
    return b;
}

static void to_event(siod_socket *s, const siod_args *args, siod_ack *ack,
                     int except_me)
{
    char *event = opt_string(args, "event");
    siod_args out = opt_args(args);
    unsigned pad = opt_uint(args, "pad", 0, MAX_PAD);
    char *padded = NULL;
    int rc = SIOD_EINVAL;

    if (pad > 0) {
        /* ["xxx...x"] */
        padded = malloc((size_t)pad + 4);
        if (padded == NULL) {
            free(event);
            event = NULL;
        } else {
            memcpy(padded, "[\"", 2);
            memset(padded + 2, 'x', pad);
            memcpy(padded + 2 + pad, "\"]", 2);
            out = (siod_args){ padded, (size_t)pad + 4, NULL, 0 };
        }
    }
    if (event != NULL) {
        siod_bcast *b = except_me || opt_true(args, "exceptMe")
                            ? siod_socket_broadcast(s)
                            : siod_bcast_new(siod_socket_nsp(s));
        b = narrow(b, args);
        if (opt_true(args, "volatile"))
            siod_bcast_volatile(b);
        rc = b != NULL ? siod_bcast_emit(b, event, &out) : SIOD_ENOMEM;
    }
    free(event);
    free(padded);
    char *res = siod_json_fmt("[%s]", rc == SIOD_OK ? "true" : "false");
    ack_json(ack, res);
    free(res);
}

static void volatile_burst(siod_socket *s, const siod_args *args,
                           siod_ack *ack)
{
    unsigned n = opt_uint(args, "n", 100, MAX_BURST);
    int bcast = opt_true(args, "bcast");
    siod_nsp *nsp = siod_socket_nsp(s);

    for (unsigned i = 0; i < n; i++) {
        char num[32];
        snprintf(num, sizeof num, "[%u]", i);
        siod_args a = { num, 0, NULL, 0 };
        if (bcast) {
            siod_bcast_emit(siod_bcast_volatile(siod_bcast_new(nsp)), "vol",
                            &a);
            siod_nsp_emit(nsp, "nonvol", &a);
        } else {
            siod_emit_opts o = { SIOD_EMIT_VOLATILE, 0, NULL, NULL };
            siod_emit_ex(s, "vol", &a, &o);
            siod_emit(s, "nonvol", &a);
        }
    }
    char done[32];
    snprintf(done, sizeof done, "[%u]", n);
    siod_args d = { done, 0, NULL, 0 };
    if (bcast)
        siod_nsp_emit(nsp, "burst-done", &d);
    else
        siod_emit(s, "burst-done", &d);
    ack_bool(ack, 1);
}

static void burst(siod_socket *s, const siod_args *args, siod_ack *ack)
{
    unsigned n = opt_uint(args, "n", 100, MAX_BURST);
    for (unsigned i = 0; i < n; i++) {
        char num[32];
        snprintf(num, sizeof num, "[%u]", i);
        siod_args a = { num, 0, NULL, 0 };
        siod_emit(s, "b", &a);
    }
    char done[32];
    snprintf(done, sizeof done, "[%u]", n);
    siod_args d = { done, 0, NULL, 0 };
    siod_emit(s, "burst-done", &d);
    ack_bool(ack, 1);
}

/* ---- acks asked by the server ------------------------------------------- */

static const char *err_name(int err)
{
    switch (err) {
    case 0: return "null";
    case SIOD_ETIMEDOUT: return "\"timeout\"";
    case SIOD_EDISCONNECTED: return "\"disconnected\"";
    default: return "\"error\"";
    }
}

struct server_ack {
    siod_socket *s;     /* reference */
    char *report_to;    /* room, or NULL: the socket itself */
};

static void server_ack_done(void *ud, siod_socket *s, int err,
                            const siod_args *res)
{
    struct server_ack *sa = ud;
    const char *rj = "[]";
    size_t rn = 2;
    if (res != NULL && res->json != NULL) {
        rj = res->json;
        rn = res->len ? res->len : strlen(res->json);
    }
    char *json = siod_json_fmt("[{\"err\":%s,\"args\":%.*s}]", err_name(err),
                               (int)rn, rj);
    if (json != NULL) {
        siod_args out = { json, 0, res != NULL ? res->bins : NULL,
                          res != NULL ? res->nbins : 0 };
        if (sa->report_to != NULL)
            siod_bcast_emit(siod_bcast_to(siod_bcast_new(siod_socket_nsp(s)),
                                          sa->report_to),
                            "server-ack-result", &out);
        else
            siod_emit(s, "server-ack-result", &out);
        free(json);
    }
    siod_socket_unref(sa->s);
    free(sa->report_to);
    free(sa);
}

static void server_ack(siod_socket *s, const siod_args *args, siod_ack *ack)
{
    struct server_ack *sa = calloc(1, sizeof *sa);
    siod_args out = opt_args(args);
    unsigned t = opt_uint(args, "timeout", 0, MAX_MS);
    int rc = SIOD_ENOMEM;

    if (sa != NULL) {
        sa->s = siod_socket_ref(s);
        sa->report_to = opt_string(args, "reportTo");
        siod_emit_opts o = { 0, t, server_ack_done, sa };
        rc = siod_emit_ex(s, "ask", &out, &o);
        if (rc != SIOD_OK) {
            siod_socket_unref(sa->s);
            free(sa->report_to);
            free(sa);
        }
    }
    ack_bool(ack, rc == SIOD_OK);
}

static void bcast_ack_done(void *ud, int err, const siod_args *responses,
                           size_t count)
{
    siod_socket *s = ud;
    const char *rj = "[]";
    size_t rn = 2;
    if (responses != NULL && responses->json != NULL) {
        rj = responses->json;
        rn = responses->len ? responses->len : strlen(responses->json);
    }
    char *json = siod_json_fmt("[{\"err\":%s,\"count\":%zu,\"responses\":%.*s}]",
                               err_name(err), count, (int)rn, rj);
    if (json != NULL) {
        siod_args out = { json, 0, responses != NULL ? responses->bins : NULL,
                          responses != NULL ? responses->nbins : 0 };
        siod_emit(s, "bcast-ack-result", &out);
        free(json);
    }
    siod_socket_unref(s);
}

static void bcast_ack(siod_socket *s, const siod_args *args, siod_ack *ack)
{
    siod_args out = opt_args(args);
    unsigned t = opt_uint(args, "timeout", 0, MAX_MS);
    siod_bcast *b = opt_true(args, "exceptMe")
                        ? siod_socket_broadcast(s)
                        : siod_bcast_new(siod_socket_nsp(s));
    b = siod_bcast_timeout(narrow(b, args), t);
    siod_socket_ref(s);
    int rc = siod_bcast_emit_ack(b, "bask", &out, bcast_ack_done, s);
    if (rc != SIOD_OK)
        siod_socket_unref(s);
    ack_bool(ack, rc == SIOD_OK);
}

/* A client's ack answered later (siod_ack_hold). */
static void slow_echo_fire(void *ud)
{
    siod_ack *ack = ud;
    siod_args a = { "[\"late\"]", 0, NULL, 0 };
    siod_ack_send(ack, &a);
}

static void slow_echo(const siod_args *args, siod_ack *ack)
{
    unsigned d = opt_uint(args, "delay", 100, MAX_MS);
    if (ack == NULL)
        return;
    siod_ack_hold(ack);
    if (siod_timer_start(d, 0, slow_echo_fire, ack) == NULL)
        siod_ack_release(ack);
}

/* ---- binary ---------------------------------------------------------------- */

static void bin_gen(siod_socket *s, siod_ack *ack)
{
    static unsigned char b0[4] = { 0x00, 0x01, 0x02, 0xff };
    static unsigned char b1[256], b2[1] = { 0x2a }, b3[3000];
    for (int i = 0; i < 256; i++)
        b1[i] = (unsigned char)i;
    for (int i = 0; i < 3000; i++)
        b3[i] = (unsigned char)(i * 7);
    siod_bin bins[4] = { { b0, sizeof b0 }, { b1, sizeof b1 },
                         { b2, sizeof b2 }, { b3, sizeof b3 } };
    static const char json[] =
        "[{\"a\":{\"_placeholder\":true,\"num\":0},"
        "\"list\":[{\"_placeholder\":true,\"num\":1},"
        "{\"deep\":{\"_placeholder\":true,\"num\":2}}],\"n\":1},"
        "{\"_placeholder\":true,\"num\":3}]";
    siod_args a = { json, 0, bins, 4 };
    if (ack != NULL)
        siod_ack_send(ack, &a);
    else
        siod_emit(s, "bin", &a);
}

/* ---- handshake ------------------------------------------------------------- */

struct kv_ctx {
    struct sb *b;
    siod_socket *s;
    int header;     /* 1: headers, 0: query */
    int n;
};

static void kv_one(void *ud, const char *name)
{
    struct kv_ctx *k = ud;
    const char *v = k->header ? siod_handshake_header(k->s, name)
                              : siod_handshake_query(k->s, name);
    sb_add(k->b, k->n++ ? "," : "");
    sb_take(k->b, v != NULL ? siod_json_fmt("%Q:%Q", name, v)
                            : siod_json_fmt("%Q:null", name));
}

static void whoami(siod_socket *s, const siod_args *args, siod_ack *ack)
{
    struct sb b = { NULL, 0, 0, 0 };
    const char *user = siod_handshake_user(s);
    const char *hs = siod_handshake_json(s);
    const char *transport = siod_socket_transport(s);
    const char *j;
    size_t n;

    if (ack == NULL)
        return;
    sb_take(&b, siod_json_fmt(
        "[{\"id\":%Q,\"nsp\":%Q,\"transport\":%Q,\"address\":%Q,"
        "\"secure\":%s,\"xdomain\":%s,\"url\":%Q,\"time\":%Q,"
        "\"issued\":%lld,\"auth\":%s,\"user\":",
        siod_socket_id(s), siod_nsp_name(siod_socket_nsp(s)),
        transport != NULL ? transport : "", siod_handshake_address(s),
        siod_handshake_secure(s) ? "true" : "false",
        siod_handshake_xdomain(s) ? "true" : "false", siod_handshake_url(s),
        siod_handshake_time(s), (long long)siod_handshake_issued(s),
        siod_handshake_auth(s)));
    sb_take(&b, user != NULL ? siod_json_fmt("%Q", user) : strdup("null"));
    for (int h = 1; h >= 0; h--) {
        struct kv_ctx k = { &b, s, h, 0 };
        sb_add(&b, h ? ",\"headers\":{" : ",\"query\":{");
        if (opt_raw(args, h ? "headers" : "query", &j, &n) == SIOD_OK)
            each_room(j, n, kv_one, &k);
        sb_add(&b, "}");
    }
    sb_add(&b, ",\"handshake\":");
    sb_add(&b, hs != NULL ? hs : "null");
    sb_add(&b, "}]");
    if (!b.oom)
        ack_json(ack, b.p);
    else
        ack_json(ack, "[null]");
    free(b.p);
}

/* ---- disconnections -------------------------------------------------------- */

static void kick_room(siod_socket *s, const siod_args *args, siod_ack *ack)
{
    char *room = siod_arg_string(args, 0);
    ack_bool(ack, room != NULL);
    if (room != NULL)
        siod_bcast_disconnect(siod_bcast_to(siod_bcast_new(siod_socket_nsp(s)),
                                            room), 0);
    free(room);
}

static void count_one(void *ud, const char *room)
{
    (*(int *)ud)++;
}

static void tell_watchers(siod_socket *s, const char *event,
                          const char *reason)
{
    int rooms = 0;
    siod_socket_rooms(s, count_one, &rooms);
    char *json = siod_json_fmt("[{\"id\":%Q,\"reason\":%Q,\"rooms\":%d}]",
                               siod_socket_id(s), reason, rooms);
    if (json == NULL)
        return;
    siod_args a = { json, 0, NULL, 0 };
    siod_bcast_emit(siod_bcast_to(siod_bcast_new(siod_socket_nsp(s)),
                                  "watchers"), event, &a);
    free(json);
}

static void tk_disconnecting(void *app, siod_socket *s, const char *reason)
{
    tell_watchers(s, "leaving", reason);
}

static void tk_disconnect(void *app, siod_socket *s, const char *reason)
{
    tell_watchers(s, "gone", reason);
}

/* ---- middleware ------------------------------------------------------------ */

struct pending {
    siod_socket *s;     /* reference */
    int reject;
};

static void pending_fire(void *ud)
{
    struct pending *p = ud;
    siod_error err = { "late no", NULL };
    siod_connect_resume(p->s, p->reject ? &err : NULL);
    siod_socket_unref(p->s);
    free(p);
}

static int tk_connect_mw(void *app, siod_socket *s, siod_error *err)
{
    char *wrapped = siod_json_fmt("[%s]", siod_handshake_auth(s));
    siod_args a = { wrapped, 0, NULL, 0 };
    char *token = wrapped != NULL ? opt_string(&a, "token") : NULL;
    unsigned delay = wrapped != NULL ? opt_uint(&a, "delay", 0, MAX_MS) : 0;
    int reject = wrapped != NULL && opt_true(&a, "reject");
    int bad = token != NULL && strcmp(token, "bad") == 0;
    int rc = SIOD_MW_NEXT;

    free(token);
    free(wrapped);
    struct tk_sock *ts = calloc(1, sizeof *ts);
    if (ts == NULL) {
        err->message = "out of memory";
        return SIOD_MW_REJECT;
    }
    siod_socket_set_data(s, ts, free);
    if (bad) {
        err->message = "not authorized";
        err->data = "{\"code\":42}";
        return SIOD_MW_REJECT;
    }
    if (delay > 0) {
        struct pending *p = malloc(sizeof *p);
        if (p == NULL) {
            err->message = "out of memory";
            return SIOD_MW_REJECT;
        }
        p->s = siod_socket_ref(s);
        p->reject = reject;
        if (siod_timer_start(delay, 0, pending_fire, p) == NULL) {
            siod_socket_unref(p->s);
            free(p);
            err->message = "out of memory";
            return SIOD_MW_REJECT;
        }
        rc = SIOD_MW_PENDING;
    }
    return rc;
}

static int tk_event_mw(void *app, siod_socket *s, const char *event,
                       const siod_args *args, siod_error *err)
{
    if (strcmp(event, "forbidden") == 0) {
        err->message = "forbidden event";
        return 1;
    }
    return 0;
}

static void tk_error(void *app, siod_socket *s, const siod_error *err)
{
    struct tk_sock *ts = siod_socket_data(s);
    if (ts != NULL)
        ts->errors++;
    if (!siod_socket_connected(s))
        return;
    char *json = siod_json_fmt("[{\"message\":%Q}]",
                               err->message != NULL ? err->message : "");
    if (json != NULL) {
        siod_args a = { json, 0, NULL, 0 };
        siod_emit(s, "mw-error", &a);
        free(json);
    }
}

static void tk_any(void *app, siod_socket *s, const char *event,
                   const siod_args *args, siod_ack *ack)
{
    struct tk_sock *ts = siod_socket_data(s);
    if (ts != NULL)
        ts->any++;
}

static void tk_connection(void *app, siod_socket *s)
{
    char *json = siod_json_fmt("[{\"id\":%Q,\"nsp\":%Q}]", siod_socket_id(s),
                               siod_nsp_name(siod_socket_nsp(s)));
    if (json == NULL)
        return;
    siod_args a = { json, 0, NULL, 0 };
    siod_emit(s, "welcome", &a);
    free(json);
}

/* ---- dispatch -------------------------------------------------------------- */

static void tk_event(void *app, siod_socket *s, const char *event,
                     const siod_args *args, siod_ack *ack)
{
    if (strcmp(event, "echo") == 0) {
        if (ack != NULL)
            siod_ack_send(ack, args);
        else
            siod_emit(s, "echo", args);
    } else if (strcmp(event, "slow-echo") == 0) {
        slow_echo(args, ack);
    } else if (strcmp(event, "emit-back") == 0) {
        char *ev = opt_string(args, "event");
        siod_args out = opt_args(args);
        /* {"nullArgs":true}: no args object at all, as siod_app.h allows */
        int rc = ev != NULL ? siod_emit(s, ev, opt_true(args, "nullArgs")
                                                   ? NULL : &out)
                            : SIOD_EINVAL;
        free(ev);
        char *res = siod_json_fmt("[%d]", rc);
        ack_json(ack, res);
        free(res);
    } else if (strcmp(event, "bin-gen") == 0) {
        bin_gen(s, ack);
    } else if (strcmp(event, "join") == 0) {
        room_change(s, args, ack, 1);
    } else if (strcmp(event, "join-rc") == 0) {
        char *room = siod_arg_string(args, 0);
        char *res = siod_json_fmt("[%d]", room != NULL ? siod_join(s, room)
                                                       : SIOD_EINVAL);
        ack_json(ack, res);
        free(res);
        free(room);
    } else if (strcmp(event, "leave") == 0) {
        room_change(s, args, ack, 0);
    } else if (strcmp(event, "rooms") == 0) {
        rooms_event(s, ack);
    } else if (strcmp(event, "to") == 0) {
        to_event(s, args, ack, 0);
    } else if (strcmp(event, "bcast-except-me") == 0) {
        to_event(s, args, ack, 1);
    } else if (strcmp(event, "volatile-burst") == 0) {
        volatile_burst(s, args, ack);
    } else if (strcmp(event, "burst") == 0) {
        burst(s, args, ack);
    } else if (strcmp(event, "server-ack") == 0) {
        server_ack(s, args, ack);
    } else if (strcmp(event, "bcast-ack") == 0) {
        bcast_ack(s, args, ack);
    } else if (strcmp(event, "kick-me") == 0) {
        ack_bool(ack, 1);
        siod_disconnect(s, opt_true(args, "close"));
    } else if (strcmp(event, "kick-room") == 0) {
        kick_room(s, args, ack);
    } else if (strcmp(event, "whoami") == 0) {
        whoami(s, args, ack);
    } else if (strcmp(event, "set-data") == 0) {
        const char *json;
        size_t len;
        ack_bool(ack, siod_arg_raw(args, 0, &json, &len) == SIOD_OK &&
                      siod_socket_set_data_json(s, json, len) == SIOD_OK);
    } else if (strcmp(event, "count") == 0) {
        struct tk_sock *ts = siod_socket_data(s);
        char *res = siod_json_fmt("[{\"any\":%lu,\"errors\":%lu}]",
                                  ts != NULL ? ts->any : 0,
                                  ts != NULL ? ts->errors : 0);
        ack_json(ack, res);
        free(res);
    } else if (strcmp(event, "nsp-count") == 0) {
        char *name = siod_arg_string(args, 0);
        siod_nsp *nsp = name != NULL ? siod_nsp_find(name) : siod_socket_nsp(s);
        char *res = nsp != NULL ? siod_json_fmt("[%zu]", siod_nsp_count(nsp))
                                : strdup("[null]");
        ack_json(ack, res);
        free(res);
        free(name);
    } else if (strcmp(event, "dyn-all") == 0) {
        char *ev = opt_string(args, "event");
        siod_args out = opt_args(args);
        siod_nsp *pat = siod_nsp_find("~^/dyn-[0-9]+$");
        int rc = ev != NULL && pat != NULL ? siod_nsp_emit(pat, ev, &out)
                                           : SIOD_EINVAL;
        free(ev);
        ack_bool(ack, rc == SIOD_OK);
    }
}

static const char *const tk_namespaces[] = { "/", "/a", "/b",
                                             "~^/dyn-[0-9]+$", NULL };

const siod_app_module siod_app_module_v1 = {
    .abi = SIOD_APP_ABI,
    .name = "testkit",
    .namespaces = tk_namespaces,
    .connect_mw = tk_connect_mw,
    .on_connection = tk_connection,
    .on_any = tk_any,
    .event_mw = tk_event_mw,
    .on_event = tk_event,
    .on_error = tk_error,
    .on_disconnecting = tk_disconnecting,
    .on_disconnect = tk_disconnect,
};
