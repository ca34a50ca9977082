/* The "clusterkit" application: a test-only siod app that exposes the
 * cluster-wide API (siod_server_emit, siod_server_emit_ack, the server
 * events of other servers, siod_bcast_fetch, cluster-wide joins, leaves
 * and disconnects, broadcasts with acks, siod_bcast_local) to the
 * integration tests as events, on "/".
 *
 * Events from a client (arg0 an options object; an ack is required):
 *   join room                 ack true
 *   rooms                     ack: the socket's rooms
 *   set-data json             socket.data = json (a JSON text); ack rc
 *   server-emit {event,args}  siod_server_emit; ack {rc,text}
 *   server-emit-ack {event,args,timeout}
 *                             siod_server_emit_ack; ack {rc,text} when it
 *                             fails, else {err,text,responses,count}
 *   fetch {rooms,except,local,timeout}
 *                             siod_bcast_fetch; ack {rc,text} or
 *                             {err,text,sockets:[{id,rooms,data,query,
 *                             local}]} (rooms sorted, sockets by id)
 *   sockets-join / sockets-leave {rooms,except,local,room}
 *   disconnect-sockets {rooms,except,local,close}
 *                             ack {rc,text}
 *   to {rooms,except,local,event,args}
 *                             siod_bcast_emit; ack {rc,text}
 *   to-ack {rooms,except,local,timeout,args}
 *                             broadcasts "ask" with an ack; ack {rc,text}
 *                             or {err,text,responses,count}
 * Events from other servers: every one is sent on to this server's sockets
 * in room "listeners" as "server-event" {event,args}; "ping" is answered
 * {from:"siod",args}, "silent" is never answered. */
#include "siod_app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- options ------------------------------------------------------------------ */

static int opt_raw(const siod_args *a, const char *key, const char **j,
                   size_t *n)
{
    return siod_arg_member(a, 0, key, j, n);
}

static char *opt_string(const siod_args *a, const char *key)
{
    const char *j;
    size_t n;
    return opt_raw(a, key, &j, &n) == SIOD_OK ? siod_json_string_dup(j, n)
                                              : NULL;
}

static int opt_true(const siod_args *a, const char *key)
{
    const char *j;
    size_t n;
    return opt_raw(a, key, &j, &n) == SIOD_OK && n == 4 &&
           memcmp(j, "true", 4) == 0;
}

static unsigned opt_ms(const siod_args *a, const char *key)
{
    const char *j;
    size_t n;
    double v = 0;
    if (opt_raw(a, key, &j, &n) != SIOD_OK)
        return 0;
    char *w = siod_json_fmt("[%.*s]", (int)n, j);
    siod_args wa = { w, 0, NULL, 0 };
    if (w == NULL || siod_arg_number(&wa, 0, &v) != SIOD_OK || !(v >= 0))
        v = 0;
    free(w);
    return v > 600000 ? 600000 : (unsigned)v;
}

/* The "args" member ("[]" when absent). */
static siod_args opt_args(const siod_args *a)
{
    siod_args out = { "[]", 0, NULL, 0 };
    const char *j;
    size_t n;
    if (opt_raw(a, "args", &j, &n) == SIOD_OK && n >= 2 && j[0] == '[') {
        out.json = j;
        out.len = n;
    }
    return out;
}

/* A broadcast of s's namespace narrowed by rooms, except and local. */
static siod_bcast *selection(siod_socket *s, const siod_args *a)
{
    siod_bcast *b = siod_bcast_new(siod_socket_nsp(s));
    static const char *const keys[] = { "rooms", "except" };
    for (int k = 0; k < 2; k++) {
        const char *j;
        size_t n;
        if (opt_raw(a, keys[k], &j, &n) != SIOD_OK || j[0] != '[')
            continue;
        siod_args list = { j, n, NULL, 0 };
        for (size_t i = 0, c = siod_arg_count(&list); i < c; i++) {
            char *room = siod_arg_string(&list, i);
            if (k == 0)
                siod_bcast_to(b, room);
            else
                siod_bcast_except(b, room);
            free(room);
        }
    }
    if (opt_true(a, "local"))
        siod_bcast_local(b);
    return b;
}

static void ack_text(siod_ack *ack, char *json)
{
    siod_args a = { json != NULL ? json : "[null]", 0, NULL, 0 };
    siod_ack_send(ack, &a);
    free(json);
}

static void ack_rc(siod_ack *ack, int rc)
{
    ack_text(ack, siod_json_fmt("[{\"rc\":%d,\"text\":%Q}]", rc,
                                siod_app_strerror(rc)));
}

/* ---- answers gathered: server-side emits and broadcasts with acks ----------- */

static void answers_done(void *ud, int err, const siod_args *responses,
                         size_t count)
{
    siod_ack *ack = ud;
    ack_text(ack, siod_json_fmt("[{\"err\":%d,\"text\":%Q,\"responses\":"
                                "%.*s,\"count\":%zu}]", err,
                                siod_app_strerror(err), (int)responses->len,
                                responses->json, count));
}

static void server_emit_ev(siod_socket *s, const siod_args *a, siod_ack *ack,
                           int with_ack)
{
    char *event = opt_string(a, "event");
    siod_args args = opt_args(a);
    int rc;
    if (with_ack) {
        siod_ack_hold(ack);
        rc = siod_server_emit_ack(siod_socket_nsp(s), event, &args,
                                  opt_ms(a, "timeout"), answers_done, ack);
        if (rc != SIOD_OK)
            ack_rc(ack, rc);
    } else {
        ack_rc(ack, siod_server_emit(siod_socket_nsp(s), event, &args));
    }
    free(event);
}

static void to_ack_ev(siod_socket *s, const siod_args *a, siod_ack *ack)
{
    siod_bcast *b = siod_bcast_timeout(selection(s, a), opt_ms(a, "timeout"));
    siod_args args = opt_args(a);
    siod_ack_hold(ack);
    int rc = siod_bcast_emit_ack(b, "ask", &args, answers_done, ack);
    if (rc != SIOD_OK)
        ack_rc(ack, rc);
}

/* ---- fetch ------------------------------------------------------------------- */

struct item {
    char *id, *json;
};

static int item_cmp(const void *x, const void *y)
{
    return strcmp(((const struct item *)x)->id, ((const struct item *)y)->id);
}

/* The handshake's "query" member (JSON), "{}" when absent. */
static char *query_of(const char *hs)
{
    char *w = siod_json_fmt("[%s]", hs);
    siod_args wa = { w, 0, NULL, 0 };
    const char *j;
    size_t n;
    char *q = w != NULL && siod_arg_member(&wa, 0, "query", &j, &n) == SIOD_OK
                  ? siod_json_fmt("%.*s", (int)n, j)
                  : siod_json_fmt("{}");
    free(w);
    return q;
}

/* Sorts a JSON array of strings (rooms), returned malloc'd. */
static int str_cmp(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static char *sorted_rooms(const char *json)
{
    siod_args list = { json, 0, NULL, 0 };
    size_t n = siod_arg_count(&list), len = 3;
    char **v = calloc(n ? n : 1, sizeof *v), *out;
    for (size_t i = 0; v != NULL && i < n; i++)
        v[i] = siod_arg_string(&list, i);
    if (v == NULL)
        return NULL;
    qsort(v, n, sizeof *v, str_cmp);
    for (size_t i = 0; i < n; i++)
        len += v[i] != NULL ? 2 * strlen(v[i]) + 8 : 8;
    out = malloc(len);
    if (out != NULL) {
        size_t k = 0;
        out[k++] = '[';
        for (size_t i = 0; i < n; i++) {
            char *q = siod_json_fmt("%s%Q", i ? "," : "",
                                    v[i] != NULL ? v[i] : "");
            size_t ql = q != NULL ? strlen(q) : 0;
            if (q != NULL && k + ql + 2 <= len) {
                memcpy(out + k, q, ql);
                k += ql;
            }
            free(q);
        }
        out[k++] = ']';
        out[k] = '\0';
    }
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return out;
}

static void fetch_done(void *ud, int err, const siod_remote_socket *v,
                       size_t n)
{
    siod_ack *ack = ud;
    struct item *items = calloc(n ? n : 1, sizeof *items);
    size_t total = 64;
    char *out;

    for (size_t i = 0; items != NULL && i < n; i++) {
        char *query = query_of(v[i].handshake);
        char *rooms = sorted_rooms(v[i].rooms);
        items[i].id = strdup(v[i].id);
        items[i].json = siod_json_fmt(
            "{\"id\":%Q,\"rooms\":%s,\"data\":%s,\"query\":%s,\"local\":%s}",
            v[i].id, rooms != NULL ? rooms : "null", v[i].data,
            query != NULL ? query : "null",
            v[i].socket != NULL ? "true" : "false");
        free(query);
        free(rooms);
        total += items[i].json != NULL ? strlen(items[i].json) + 1 : 5;
    }
    if (items != NULL) {
        for (size_t i = 0; i < n; i++)
            if (items[i].id == NULL)
                items[i].id = strdup("");
        qsort(items, n, sizeof *items, item_cmp);
    }
    out = malloc(total);
    if (out != NULL && items != NULL) {
        size_t k = 0;
        k += (size_t)snprintf(out, total, "[{\"err\":%d,\"sockets\":[", err);
        for (size_t i = 0; i < n; i++) {
            const char *j = items[i].json != NULL ? items[i].json : "null";
            k += (size_t)snprintf(out + k, total - k, "%s%s", i ? "," : "", j);
        }
        snprintf(out + k, total - k, "]}]");
        ack_text(ack, out);
        out = NULL;
    } else {
        ack_rc(ack, SIOD_ENOMEM);
    }
    free(out);
    for (size_t i = 0; items != NULL && i < n; i++) {
        free(items[i].id);
        free(items[i].json);
    }
    free(items);
}

static void fetch_ev(siod_socket *s, const siod_args *a, siod_ack *ack)
{
    siod_bcast *b = siod_bcast_timeout(selection(s, a), opt_ms(a, "timeout"));
    siod_ack_hold(ack);
    int rc = siod_bcast_fetch(b, fetch_done, ack);
    if (rc != SIOD_OK)
        ack_rc(ack, rc);
}

/* ---- other servers' events ------------------------------------------------------ */

static void on_server_event(void *ud, siod_nsp *nsp, const char *event,
                            const siod_args *args, siod_ack *ack)
{
    char *note = siod_json_fmt("[{\"event\":%Q,\"args\":%.*s}]", event,
                               (int)args->len, args->json);
    siod_args na = { note, 0, NULL, 0 };
    if (note != NULL)
        siod_bcast_emit(siod_bcast_local(siod_bcast_to(siod_bcast_new(nsp),
                                                       "listeners")),
                        "server-event", &na);
    free(note);
    if (ack != NULL && strcmp(event, "ping") == 0) {
        char *res = siod_json_fmt("[{\"from\":\"siod\",\"args\":%.*s}]",
                                  (int)args->len, args->json);
        siod_args ra = { res, 0, NULL, 0 };
        if (res != NULL)
            siod_ack_send(ack, &ra);
        free(res);
    }
}

/* ---- the module --------------------------------------------------------------- */

static void rooms_one(void *ud, const char *room)
{
    char **acc = ud;
    char *next = siod_json_fmt("%s%s%Q", *acc, (*acc)[1] ? "," : "", room);
    free(*acc);
    *acc = next != NULL ? next : strdup("[");
}

static void on_event(void *app, siod_socket *s, const char *event,
                     const siod_args *a, siod_ack *ack)
{
    if (ack == NULL)
        return;
    if (strcmp(event, "join") == 0) {
        char *room = siod_arg_string(a, 0);
        ack_text(ack, siod_json_fmt("[%s]", room != NULL &&
                                    siod_join(s, room) == SIOD_OK ? "true"
                                                                  : "false"));
        free(room);
    } else if (strcmp(event, "rooms") == 0) {
        char *acc = strdup("[");
        siod_socket_rooms(s, rooms_one, &acc);
        char *res = acc != NULL ? siod_json_fmt("[%s]]", acc) : NULL;
        free(acc);
        ack_text(ack, res);
    } else if (strcmp(event, "set-data") == 0) {
        char *json = siod_arg_string(a, 0);
        ack_rc(ack, json != NULL ? siod_socket_set_data_json(s, json,
                                                             strlen(json))
                                 : SIOD_EINVAL);
        free(json);
    } else if (strcmp(event, "server-emit") == 0) {
        server_emit_ev(s, a, ack, 0);
    } else if (strcmp(event, "server-emit-ack") == 0) {
        server_emit_ev(s, a, ack, 1);
    } else if (strcmp(event, "fetch") == 0) {
        fetch_ev(s, a, ack);
    } else if (strcmp(event, "sockets-join") == 0 ||
               strcmp(event, "sockets-leave") == 0) {
        char *room = opt_string(a, "room");
        siod_bcast *b = selection(s, a);
        ack_rc(ack, event[8] == 'j' ? siod_bcast_join(b, room)
                                    : siod_bcast_leave(b, room));
        free(room);
    } else if (strcmp(event, "disconnect-sockets") == 0) {
        /* (no answer reaches a sender that is among those disconnected) */
        ack_rc(ack, siod_bcast_disconnect(selection(s, a),
                                          opt_true(a, "close")));
    } else if (strcmp(event, "to") == 0) {
        char *ev = opt_string(a, "event");
        siod_args args = opt_args(a);
        ack_rc(ack, siod_bcast_emit(selection(s, a), ev, &args));
        free(ev);
    } else if (strcmp(event, "to-ack") == 0) {
        to_ack_ev(s, a, ack);
    }
}

static int init(void **app)
{
    siod_nsp *root = siod_nsp_find("/");
    return root != NULL ? siod_nsp_on_server_event(root, on_server_event,
                                                   NULL)
                        : 0;
}

static const char *const namespaces[] = { "/", NULL };

const siod_app_module siod_app_module_v1 = {
    .abi = SIOD_APP_ABI,
    .name = "clusterkit",
    .namespaces = namespaces,
    .init = init,
    .on_event = on_event,
};
