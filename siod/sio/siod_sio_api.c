/* The HTTP emit API's operations (SIO_R_API frames from the module's
 * socketio-emit handler): emit to a namespace's sockets, rooms and
 * exceptions (with or without acks), fetch sockets, make sockets join or
 * leave rooms, disconnect them, and emit to the other servers of a
 * cluster; across the cluster unless "local" is set. A request is one
 * JSON object; the answer is {"ok":true,...} or {"ok":false,"error":...}
 * with an HTTP status. docs/emit-api.md is the contract. Uses the
 * application API, and recovery's sync (a plain emit is answered once
 * it is in recovery's log). */
#include "siod_sio_int.h"

#include <event2/event.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Waits the API allows (acks, other servers' answers): under the
 * module's SocketIOReplyTimeout (60 s by default), which bounds the HTTP
 * request. */
#define API_WAIT_DEFAULT_MS 5000
#define API_WAIT_MAX_MS 50000

/* Events a server may not emit (the reference refuses them too). */
static const char *const reserved[] = {
    "connect", "connect_error", "disconnect", "disconnecting",
    "newListener", "removeListener", NULL
};

/* One request being served. */
typedef struct api_req {
    siod_api_call *call;
    json_object *root;
    siod_nsp *nsp;
    json_object *rooms;              /* NULL, a string or an array */
    json_object *except;
    int local;                       /* this server's sockets only */
    unsigned timeout_ms;             /* acks, other servers' answers */
} api_req;

static void answer_obj(siod_api_call *call, unsigned status, json_object *o)
{
    size_t len = 0;
    const char *s = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);

    if (s == NULL) {
        static const char oom[] = "{\"ok\":false,\"error\":\"out of memory\"}";
        siod_api_answer(call, 500, oom, sizeof oom - 1);
        return;
    }
    siod_api_answer(call, status, s, len);
}

/* Answers {"ok":false,"error":msg}. */
static void fail(siod_api_call *call, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(siod_api_call *call, unsigned status, const char *fmt, ...)
{
    char msg[256];
    json_object *o = json_object_new_object();
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_object_object_add(o, "ok", json_object_new_boolean(0));
    json_object_object_add(o, "error", json_object_new_string(msg));
    answer_obj(call, status, o);
    json_object_put(o);
}

/* Answers {"ok":true} plus o's members (o may be NULL); takes o. */
static void succeed(siod_api_call *call, json_object *o)
{
    json_object *r = json_object_new_object();

    json_object_object_add(r, "ok", json_object_new_boolean(1));
    if (o != NULL) {
        json_object_object_foreach(o, k, v)
            json_object_object_add(r, k, json_object_get(v));
        json_object_put(o);
    }
    answer_obj(call, 200, r);
    json_object_put(r);
}

/* Returns 1 when v is NULL, a string, or an array of strings: a list of
 * room names as the request may give one. */
static int is_room_list(json_object *v)
{
    size_t i, n;

    if (v == NULL || json_object_is_type(v, json_type_string))
        return 1;
    if (!json_object_is_type(v, json_type_array))
        return 0;
    n = json_object_array_length(v);
    for (i = 0; i < n; i++)
        if (!json_object_is_type(json_object_array_get_idx(v, i),
                                 json_type_string))
            return 0;
    return 1;
}

/* Calls add(b, room) for each room of list v (see is_room_list). */
static siod_bcast *add_rooms(siod_bcast *b, json_object *v,
                             siod_bcast *(*add)(siod_bcast *, const char *))
{
    size_t i, n;

    if (v == NULL)
        return b;
    if (json_object_is_type(v, json_type_string))
        return add(b, json_object_get_string(v));
    n = json_object_array_length(v);
    for (i = 0; i < n; i++)
        b = add(b, json_object_get_string(json_object_array_get_idx(v, i)));
    return b;
}

/* The request's selection: its namespace, narrowed by rooms and except,
 * on this server only with "local", with the request's timeout. */
static siod_bcast *selection(const api_req *q)
{
    siod_bcast *b = siod_bcast_new(q->nsp);

    b = add_rooms(b, q->rooms, siod_bcast_to);
    b = add_rooms(b, q->except, siod_bcast_except);
    if (q->local)
        b = siod_bcast_local(b);
    return siod_bcast_timeout(b, q->timeout_ms);
}

/* Answers the failure code rc of an application API call. */
static void fail_code(siod_api_call *call, int rc)
{
    unsigned status;

    switch (rc) {
    case SIOD_EINVAL:
    case SIOD_ERESERVED:
    case SIOD_ENOCLUSTER:
        status = 400;
        break;
    case SIOD_ECLUSTERDOWN:
        status = 503;
        break;
    case SIOD_ETIMEDOUT:
        status = 504;
        break;
    default:
        status = 500;
    }
    fail(call, status, "%s", siod_app_strerror(rc));
}

/* Reads member key as a boolean (absent: dflt). Returns 0, or -1 when it
 * is there and not a boolean. */
static int get_bool(json_object *o, const char *key, int dflt, int *out)
{
    json_object *v;

    *out = dflt;
    if (!json_object_object_get_ex(o, key, &v) || v == NULL)
        return 0;
    if (!json_object_is_type(v, json_type_boolean))
        return -1;
    *out = json_object_get_boolean(v);
    return 0;
}

/* ---- emit ----------------------------------------------------------------- */

/* A broadcast with acks: the answer waits for the clients' responses. */
static void ack_done(void *ud, int err, const siod_args *responses,
                     size_t count)
{
    siod_api_call *call = ud;
    json_object *o = json_object_new_object();
    json_object *arr = NULL;

    if (responses != NULL && responses->json != NULL)
        arr = json_tokener_parse(responses->json);
    json_object_object_add(o, "responses",
                           arr != NULL ? arr : json_object_new_array());
    json_object_object_add(o, "count", json_object_new_int64((int64_t)count));
    json_object_object_add(o, "timedOut",
                           json_object_new_boolean(err == SIOD_ETIMEDOUT));
    if (err != SIOD_OK && err != SIOD_ETIMEDOUT) {
        json_object_put(o);
        fail_code(call, err);
        return;
    }
    succeed(call, o);
}

/* Answers a plain emit: {"ok":true}, with "logged": false when it is not
 * known to be in recovery's log (sent to the connected clients; a client
 * away may miss it). */
static void answer_logged(siod_api_call *call, int logged)
{
    json_object *o = NULL;

    if (!logged) {
        o = json_object_new_object();
        json_object_object_add(o, "logged", json_object_new_boolean(0));
    }
    succeed(call, o);
}

/* A plain emit waiting to be in recovery's log: answered by whichever
 * comes first, the log (emit_logged, which always comes: Redis answers,
 * fails or is closed at exit) or the end of the request's wait
 * (emit_late: "logged" false); freed by emit_logged. */
struct emit_wait {
    siod_api_call *call;             /* NULL once answered */
    struct event *timer;
};

static void emit_logged(void *ud, int logged)
{
    struct emit_wait *w = ud;
    if (w->call != NULL)
        answer_logged(w->call, logged);
    if (w->timer != NULL)
        event_free(w->timer);
    free(w);
}

static void emit_late(evutil_socket_t fd, short what, void *ud)
{
    struct emit_wait *w = ud;

    answer_logged(w->call, 0);
    w->call = NULL;
}

/* Answers call once the plain emit just sent is in recovery's log, or
 * after wait_ms with "logged": false. */
static void answer_when_logged(siod_api_call *call, unsigned wait_ms)
{
    struct timeval tv = { wait_ms / 1000, (wait_ms % 1000) * 1000 };
    struct emit_wait *w;

    if (!siod_sio_recovery_on() || siod_sio_recovery_redis() == NULL) {
        succeed(call, NULL);   /* the in-process store has it already */
        return;
    }
    if ((w = calloc(1, sizeof *w)) == NULL) {
        answer_logged(call, 0);
        return;
    }
    w->call = call;
    w->timer = evtimer_new(siod_sio_config()->base, emit_late, w);
    if (w->timer != NULL)
        evtimer_add(w->timer, &tv);
    siod_sio_recovery_sync(emit_logged, w);
}

/* Returns 1 if event is one a server may not emit. */
static int is_reserved(const char *event)
{
    for (size_t i = 0; reserved[i] != NULL; i++)
        if (strcmp(event, reserved[i]) == 0)
            return 1;
    return 0;
}

/* emit (server 0) or serverSideEmit (server 1: to the other servers'
 * applications, not to clients). */
static void op_emit(api_req *q, int server)
{
    json_object *ev, *args = NULL;
    siod_args a = {0};
    int vol, ack, rc;
    siod_bcast *b;

    if (!json_object_object_get_ex(q->root, "event", &ev) ||
        !json_object_is_type(ev, json_type_string) ||
        json_object_get_string_len(ev) == 0) {
        fail(q->call, 400, "\"event\" must be a non-empty string");
        return;
    }
    if (is_reserved(json_object_get_string(ev))) {
        fail(q->call, 400, "\"%s\" is a reserved event name",
             json_object_get_string(ev));
        return;
    }
    if (json_object_object_get_ex(q->root, "args", &args) && args != NULL &&
        !json_object_is_type(args, json_type_array)) {
        fail(q->call, 400, "\"args\" must be an array");
        return;
    }
    if (get_bool(q->root, "volatile", 0, &vol) < 0 ||
        get_bool(q->root, "ack", 0, &ack) < 0) {
        fail(q->call, 400, "\"volatile\" and \"ack\" must be booleans");
        return;
    }
    if (args != NULL)
        a.json = json_object_to_json_string_length(
            args, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
            &a.len);
    if (server) {
        rc = ack ? siod_server_emit_ack(q->nsp, json_object_get_string(ev),
                                        &a, q->timeout_ms, ack_done, q->call)
                 : siod_server_emit(q->nsp, json_object_get_string(ev), &a);
        if (rc != SIOD_OK)
            fail_code(q->call, rc);
        else if (!ack)
            succeed(q->call, NULL);
        return;
    }
    b = selection(q);
    if (vol)
        b = siod_bcast_volatile(b);
    if (ack) {
        rc = siod_bcast_emit_ack(b, json_object_get_string(ev), &a, ack_done,
                                 q->call);
        if (rc == SIOD_OK)
            return;         /* ack_done answers */
    } else {
        rc = siod_bcast_emit(b, json_object_get_string(ev), &a);
        if (rc == SIOD_OK && !vol) {
            /* accepted once it is in recovery's log, if any: a siod
             * killed after the answer loses no event a client away
             * would miss */
            answer_when_logged(q->call, q->timeout_ms);
            return;
        }
        if (rc == SIOD_OK) {
            succeed(q->call, NULL);
            return;
        }
    }
    fail_code(q->call, rc);
}

/* ---- fetchSockets --------------------------------------------------------- */

/* Parses JSON text (NULL: null) into an object for the answer. */
static json_object *from_text(const char *text)
{
    return text != NULL ? json_tokener_parse(text) : NULL;
}

static void fetch_done(void *ud, int err, const siod_remote_socket *v,
                       size_t n)
{
    siod_api_call *call = ud;
    json_object *o, *list;

    if (err != SIOD_OK) {
        fail_code(call, err);
        return;
    }
    o = json_object_new_object();
    list = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        json_object *so = json_object_new_object();

        json_object_object_add(so, "id", json_object_new_string(v[i].id));
        json_object_object_add(so, "rooms", from_text(v[i].rooms));
        json_object_object_add(so, "data", from_text(v[i].data));
        json_object_object_add(so, "handshake", from_text(v[i].handshake));
        json_object_array_add(list, so);
    }
    json_object_object_add(o, "sockets", list);
    succeed(call, o);
}

static void op_fetch(api_req *q)
{
    int rc = siod_bcast_fetch(selection(q), fetch_done, q->call);

    if (rc != SIOD_OK)
        fail_code(q->call, rc);
}

/* ---- socketsJoin / socketsLeave / disconnectSockets ----------------------- */

static void op_rooms(api_req *q, int join)
{
    json_object *v;
    size_t i, n;
    int rc = SIOD_OK;

    if (!json_object_object_get_ex(q->root, "room", &v) || v == NULL ||
        !is_room_list(v)) {
        fail(q->call, 400, "\"room\" must be a room name or an array "
             "of them");
        return;
    }
    if (json_object_is_type(v, json_type_string)) {
        rc = (join ? siod_bcast_join : siod_bcast_leave)(
            selection(q), json_object_get_string(v));
    } else {
        n = json_object_array_length(v);
        for (i = 0; i < n && rc == SIOD_OK; i++)
            rc = (join ? siod_bcast_join : siod_bcast_leave)(
                selection(q),
                json_object_get_string(json_object_array_get_idx(v, i)));
    }
    if (rc != SIOD_OK)
        fail_code(q->call, rc);
    else
        succeed(q->call, NULL);
}

static void op_disconnect(api_req *q)
{
    int close_, rc;

    if (get_bool(q->root, "close", 0, &close_) < 0) {
        fail(q->call, 400, "\"close\" must be a boolean");
        return;
    }
    rc = siod_bcast_disconnect(selection(q), close_);
    if (rc != SIOD_OK)
        fail_code(q->call, rc);
    else
        succeed(q->call, NULL);
}

/* ---- the request ---------------------------------------------------------- */

/* Fills q from the request's common members; answers and returns -1 when
 * one is wrong. */
static int read_common(api_req *q)
{
    json_object *v;
    const char *name = "/";

    if (json_object_object_get_ex(q->root, "nsp", &v)) {
        if (!json_object_is_type(v, json_type_string) ||
            json_object_get_string(v)[0] != '/') {
            fail(q->call, 400, "\"nsp\" must be a namespace name (\"/...\")");
            return -1;
        }
        name = json_object_get_string(v);
    }
    json_object_object_get_ex(q->root, "rooms", &q->rooms);
    json_object_object_get_ex(q->root, "except", &q->except);
    if (!is_room_list(q->rooms) || !is_room_list(q->except)) {
        fail(q->call, 400, "\"rooms\" and \"except\" must be room names or "
             "arrays of them");
        return -1;
    }
    if (get_bool(q->root, "local", 0, &q->local) < 0) {
        fail(q->call, 400, "\"local\" must be a boolean");
        return -1;
    }
    q->timeout_ms = API_WAIT_DEFAULT_MS;
    if (json_object_object_get_ex(q->root, "timeout", &v)) {
        int64_t ms = json_object_get_int64(v);

        if (!json_object_is_type(v, json_type_int) || ms < 1 ||
            ms > API_WAIT_MAX_MS) {
            fail(q->call, 400, "\"timeout\" must be 1..%d ms",
                 API_WAIT_MAX_MS);
            return -1;
        }
        q->timeout_ms = (unsigned)ms;
    }
    if ((q->nsp = siod_nsp_find(name)) == NULL) {
        fail(q->call, 404, "no namespace %.200s is served here", name);
        return -1;
    }
    return 0;
}

/* Returns 1 when body[from..len) is JSON whitespace only. */
static int only_space(const unsigned char *body, size_t len, size_t from)
{
    for (; from < len; from++)
        if (!strchr(" \t\r\n", body[from]) || body[from] == '\0')
            return 0;
    return 1;
}

void siod_sio_api(void *app, siod_api_call *call, const unsigned char *body,
                  size_t len)
{
    api_req q = { .call = call };
    json_tokener *tok = json_tokener_new();
    json_object *v;
    const char *op = "emit";

    (void)app;
    if (tok == NULL) {
        fail(call, 500, "out of memory");
        return;
    }
    q.root = json_tokener_parse_ex(tok, (const char *)body, (int)len);
    if (q.root == NULL || !only_space(body, len,
                                      json_tokener_get_parse_end(tok))) {
        fail(call, 400, "the body is not one JSON object (%s)",
             json_tokener_error_desc(json_tokener_get_error(tok)));
        goto out;
    }
    if (!json_object_is_type(q.root, json_type_object)) {
        fail(call, 400, "the body must be a JSON object");
        goto out;
    }
    if (json_object_object_get_ex(q.root, "op", &v)) {
        if (!json_object_is_type(v, json_type_string)) {
            fail(call, 400, "\"op\" must be a string");
            goto out;
        }
        op = json_object_get_string(v);
    }
    if (strcmp(op, "stats") == 0) {
        /* no namespace: siod's figures */
        if (!json_object_object_get_ex(q.root, "format", &v))
            siod_sio_stats(call, "json");
        else if (json_object_is_type(v, json_type_string))
            siod_sio_stats(call, json_object_get_string(v));
        else
            fail(call, 400, "\"format\" must be a string");
        goto out;
    }
    if (read_common(&q) < 0)
        goto out;
    if (strcmp(op, "emit") == 0)
        op_emit(&q, 0);
    else if (strcmp(op, "serverSideEmit") == 0)
        op_emit(&q, 1);
    else if (strcmp(op, "fetchSockets") == 0)
        op_fetch(&q);
    else if (strcmp(op, "socketsJoin") == 0)
        op_rooms(&q, 1);
    else if (strcmp(op, "socketsLeave") == 0)
        op_rooms(&q, 0);
    else if (strcmp(op, "disconnectSockets") == 0)
        op_disconnect(&q);
    else
        fail(call, 400, "unknown \"op\" %.64s (emit, fetchSockets, "
             "socketsJoin, socketsLeave, disconnectSockets, "
             "serverSideEmit, stats)", op);
out:
    json_object_put(q.root);
    json_tokener_free(tok);
}
