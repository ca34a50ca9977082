/* The "recoverykit" application (tests only): connection state recovery
 * (siod --recovery) as events for tests/integration/sio-recovery.test.mjs,
 * on "/" and "/other".
 *
 * On connection a socket gets "welcome" {id, recovered} (an event with an
 * offset). Events (arg0 an options object unless said otherwise):
 *   whoami          ack: {id, recovered, rooms, data, mw} (mw: the connect
 *                   middleware ran for this socket object)
 *   join room       ack true
 *   set-data value  sets socket.data (JSON); ack true
 *   later {delay, to, event, n, volatile, withAck, binary}
 *                   acks true, then after delay ms emits n events "event"
 *                   with argument i (0..n-1; binary: a buffer of bytes
 *                   i, i+1, i+2 first): to "me" (siod_emit on this
 *                   socket object, kept by reference), to "room:NAME" or
 *                   "all" (broadcasts); volatile; withAck: siod_emit_ex
 *                   with an ack (never logged)
 *   flood {n, size} n events "flood" to the sender now, each one string
 *                   of size bytes; ack true
 *   stream {every, n, to}
 *                   acks true, then emits "tick" i (0..n-1) every ms, as
 *                   later does, the last one followed by "tick-end" n
 * Connect middleware: auth {reject: true} is refused ("refused"). */
#include "siod_app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rk_sock {
    int mw;                          /* the connect middleware ran */
};

static char *opt_string(const siod_args *a, const char *key)
{
    const char *j;
    size_t n;
    if (siod_arg_member(a, 0, key, &j, &n) != SIOD_OK)
        return NULL;
    return siod_json_string_dup(j, n);
}

static unsigned opt_uint(const siod_args *a, const char *key, unsigned dflt)
{
    const char *j;
    size_t n;
    if (siod_arg_member(a, 0, key, &j, &n) != SIOD_OK || n == 0 || n > 9)
        return dflt;
    char buf[16];
    memcpy(buf, j, n);
    buf[n] = '\0';
    return (unsigned)strtoul(buf, NULL, 10);
}

static int opt_true(const siod_args *a, const char *key)
{
    const char *j;
    size_t n;
    return siod_arg_member(a, 0, key, &j, &n) == SIOD_OK && n == 4 &&
           memcmp(j, "true", 4) == 0;
}

static void ack_json(siod_ack *ack, const char *json)
{
    if (ack == NULL)
        return;
    siod_args a = { json != NULL ? json : "[null]", 0, NULL, 0 };
    siod_ack_send(ack, &a);
}

/* ---- whoami ------------------------------------------------------------- */

struct text {
    char *p;
    int n;
};

static void room_add(void *ud, const char *room)
{
    struct text *t = ud;
    char *q = siod_json_fmt("%s%s%Q", t->p != NULL ? t->p : "",
                            t->n++ ? "," : "", room);
    free(t->p);
    t->p = q;
}

static void whoami(siod_socket *s, siod_ack *ack)
{
    struct text rooms = { NULL, 0 };
    struct rk_sock *rs = siod_socket_data(s);
    const char *data = siod_socket_data_json(s);

    siod_socket_rooms(s, room_add, &rooms);
    char *res = siod_json_fmt("[{\"id\":%Q,\"recovered\":%s,\"rooms\":[%s],"
                              "\"data\":%s,\"mw\":%s}]", siod_socket_id(s),
                              siod_socket_recovered(s) ? "true" : "false",
                              rooms.p != NULL ? rooms.p : "",
                              data != NULL ? data : "null",
                              rs != NULL && rs->mw ? "true" : "false");
    ack_json(ack, res);
    free(res);
    free(rooms.p);
}

/* ---- emits later ---------------------------------------------------------- */

struct later {
    siod_socket *s;                  /* reference */
    char *event, *to;
    unsigned n;
    int vol, with_ack, binary;
    siod_timer *timer;               /* stream: repeating */
    unsigned next;                   /* stream: the next tick */
};

static void ignore_ack(void *ud, siod_socket *s, int err,
                       const siod_args *res)
{
}

/* Emits event with argument i as l says. */
static void emit_one(struct later *l, const char *event, unsigned i)
{
    char num[64];
    unsigned char bytes[3] = { (unsigned char)i, (unsigned char)(i + 1),
                               (unsigned char)(i + 2) };
    siod_bin bin = { bytes, sizeof bytes };
    snprintf(num, sizeof num, l->binary ? "[{\"_placeholder\":true,\"num\":0},%u]"
                                        : "[%u]", i);
    siod_args a = { num, 0, l->binary ? &bin : NULL, l->binary ? 1 : 0 };
    int rc;
    if (strcmp(l->to, "me") == 0) {
        siod_emit_opts o = { l->vol ? SIOD_EMIT_VOLATILE : 0, 0,
                             l->with_ack ? ignore_ack : NULL, NULL };
        rc = siod_emit_ex(l->s, event, &a, &o);
    } else {
        siod_bcast *b = siod_bcast_new(siod_socket_nsp(l->s));
        if (strncmp(l->to, "room:", 5) == 0)
            siod_bcast_to(b, l->to + 5);
        if (l->vol)
            siod_bcast_volatile(b);
        rc = siod_bcast_emit(b, event, &a);
    }
    if (rc != SIOD_OK)
        siod_app_log(SIOD_APP_LOG_INFO, "recoverykit: emit %s to %s: %s",
                     event, l->to, siod_app_strerror(rc));
}

static void later_free(struct later *l)
{
    siod_socket_unref(l->s);
    free(l->event);
    free(l->to);
    free(l);
}

static void later_fire(void *ud)
{
    struct later *l = ud;
    for (unsigned i = 0; i < l->n; i++)
        emit_one(l, l->event, i);
    later_free(l);
}

static void stream_tick(void *ud)
{
    struct later *l = ud;
    emit_one(l, "tick", l->next++);
    if (l->next < l->n)
        return;
    emit_one(l, "tick-end", l->n);
    siod_timer_stop(l->timer);
    later_free(l);
}

/* later (stream 0) or stream (1). */
static void later(siod_socket *s, const siod_args *args, siod_ack *ack,
                  int stream)
{
    struct later *l = calloc(1, sizeof *l);
    if (l == NULL) {
        ack_json(ack, "[false]");
        return;
    }
    l->event = stream ? strdup("tick") : opt_string(args, "event");
    l->to = opt_string(args, "to");
    l->n = opt_uint(args, "n", 1);
    l->vol = opt_true(args, "volatile");
    l->with_ack = opt_true(args, "withAck");
    l->binary = opt_true(args, "binary");
    if (l->event != NULL && l->to != NULL && l->n > 0)
        l->timer = stream ? siod_timer_start(opt_uint(args, "every", 10), 1,
                                             stream_tick, l)
                          : siod_timer_start(opt_uint(args, "delay", 0), 0,
                                             later_fire, l);
    if (l->timer == NULL) {
        free(l->event);
        free(l->to);
        free(l);
        ack_json(ack, "[false]");
        return;
    }
    l->s = siod_socket_ref(s);
    ack_json(ack, "[true]");
}

static void flood(siod_socket *s, const siod_args *args, siod_ack *ack)
{
    unsigned n = opt_uint(args, "n", 1), size = opt_uint(args, "size", 1);
    char *json = size <= 16u * 1024u * 1024u ? malloc((size_t)size + 5)
                                             : NULL;
    if (json != NULL) {
        memcpy(json, "[\"", 2);
        memset(json + 2, 'x', size);
        memcpy(json + 2 + size, "\"]", 3);
        siod_args a = { json, (size_t)size + 4, NULL, 0 };
        for (unsigned i = 0; i < n; i++)
            siod_emit(s, "flood", &a);
    }
    ack_json(ack, json != NULL ? "[true]" : "[false]");
    free(json);
}

/* ---- callbacks -------------------------------------------------------------- */

static int rk_connect_mw(void *app, siod_socket *s, siod_error *err)
{
    char *wrapped = siod_json_fmt("[%s]", siod_handshake_auth(s));
    siod_args a = { wrapped, 0, NULL, 0 };
    int reject = wrapped != NULL && opt_true(&a, "reject");
    free(wrapped);
    struct rk_sock *rs = calloc(1, sizeof *rs);
    if (rs != NULL) {
        rs->mw = 1;
        siod_socket_set_data(s, rs, free);
    }
    if (reject) {
        err->message = "refused";
        return SIOD_MW_REJECT;
    }
    return SIOD_MW_NEXT;
}

static void rk_connection(void *app, siod_socket *s)
{
    char *json = siod_json_fmt("[{\"id\":%Q,\"recovered\":%s}]",
                               siod_socket_id(s),
                               siod_socket_recovered(s) ? "true" : "false");
    if (json == NULL)
        return;
    siod_args a = { json, 0, NULL, 0 };
    siod_emit(s, "welcome", &a);
    free(json);
}

static void rk_event(void *app, siod_socket *s, const char *event,
                     const siod_args *args, siod_ack *ack)
{
    if (strcmp(event, "whoami") == 0) {
        whoami(s, ack);
    } else if (strcmp(event, "join") == 0) {
        char *room = siod_arg_string(args, 0);
        ack_json(ack, room != NULL && siod_join(s, room) == SIOD_OK
                          ? "[true]" : "[false]");
        free(room);
    } else if (strcmp(event, "set-data") == 0) {
        const char *json;
        size_t len;
        ack_json(ack, siod_arg_raw(args, 0, &json, &len) == SIOD_OK &&
                              siod_socket_set_data_json(s, json, len) ==
                                  SIOD_OK
                          ? "[true]" : "[false]");
    } else if (strcmp(event, "later") == 0) {
        later(s, args, ack, 0);
    } else if (strcmp(event, "stream") == 0) {
        later(s, args, ack, 1);
    } else if (strcmp(event, "flood") == 0) {
        flood(s, args, ack);
    }
}

static const char *const rk_namespaces[] = { "/", "/other", NULL };

const siod_app_module siod_app_module_v1 = {
    .abi = SIOD_APP_ABI,
    .name = "recoverykit",
    .namespaces = rk_namespaces,
    .connect_mw = rk_connect_mw,
    .on_connection = rk_connection,
    .on_event = rk_event,
};
