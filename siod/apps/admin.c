/* The "admin" application: the server side of @socket.io/admin-ui on
 * "/admin" (what the package's instrument() does in Node.js), so the
 * Admin UI can watch and drive this server. It sends "config",
 * "all_sockets" (every server's), "server_stats" every 2 s, and for every
 * namespace's sockets (through the observer API) "socket_connected",
 * "socket_updated" (an upgrade), "socket_disconnected", "room_joined",
 * "room_left", "event_received" and "event_sent"; it runs the UI's "emit",
 * "join", "leave" and "_disconnect". Only clients httpd authenticated may
 * connect (REMOTE_USER): the password check is httpd's (docs/admin-ui.md).
 * Settings from the environment: SIOD_ADMIN_USERS (users allowed,
 * comma-separated; default any user httpd authenticated),
 * SIOD_ADMIN_READONLY=1, SIOD_ADMIN_MODE=production (no per-socket
 * reports), SIOD_ADMIN_SERVER_ID (default the host name). */
#include "siod_app_observe.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ADMIN_NSP "/admin"
#define STATS_MS 2000
#define CLIENT_ID_LEN 12             /* the reference shows this much */

typedef struct admin {
    siod_nsp *nsp;                   /* where the UI connects */
    char *users;                     /* ",alice,bob," or NULL: any */
    int readonly;
    int dev;                         /* per-socket reports */
    char server_id[128];
    char hostname[128];
    int64_t started;
    siod_timer *timer;
    siod_server_figures last;        /* at the last server_stats */
} admin;

/* ---- JSON text ------------------------------------------------------------ */

typedef struct text {
    char *p;
    size_t len, cap;
    int failed;
} text;

static void put(text *t, const char *s, size_t n)
{
    if (t->failed)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *p = realloc(t->p, cap);
        if (p == NULL) {
            t->failed = 1;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void puts_(text *t, const char *s)
{
    put(t, s, strlen(s));
}

/* Appends printf's fmt with its arguments (at most 511 bytes). */
static void putf(text *t, const char *fmt, ...)
{
    va_list ap;
    char buf[512];

    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf)
        t->failed = 1;
    else
        put(t, buf, (size_t)n);
}

/* Appends s as a JSON string (NULL: null). */
static void putq(text *t, const char *s)
{
    if (s == NULL) {
        puts_(t, "null");
        return;
    }
    char *q = siod_json_fmt("%Q", s);
    if (q == NULL)
        t->failed = 1;
    else
        puts_(t, q);
    free(q);
}

/* Appends the time now as JavaScript's Date turns into JSON. */
static void put_now(text *t)
{
    int64_t ms = siod_now_ms();
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    char buf[40];

    gmtime_r(&sec, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    putf(t, "\"%s.%03dZ\"", buf, (int)(ms % 1000));
}

/* Emits event with the JSON array t to every socket of the admin
 * namespace but except (NULL: none); frees t. */
static void send_admins(admin *a, const char *event, text *t,
                        siod_socket *except)
{
    if (!t->failed && a->nsp != NULL) {
        siod_bcast *b = siod_bcast_new(a->nsp);
        if (except != NULL)
            b = siod_bcast_except(b, siod_socket_id(except));
        siod_args args = { t->p, t->len, NULL, 0 };
        siod_bcast_emit(b, event, &args);
    }
    free(t->p);
}

/* ---- a socket as the UI shows it ------------------------------------------ */

static void put_room(void *ud, const char *room)
{
    text *t = ud;
    if (t->failed)
        return;
    if (t->p[t->len - 1] != '[')
        puts_(t, ",");
    putq(t, room);
}

/* Appends member key of the handshake object hs[0] as "key":value. */
static void put_member(text *t, const siod_args *hs, const char *key)
{
    const char *json;
    size_t len;

    if (siod_arg_member(hs, 0, key, &json, &len) != SIOD_OK)
        return;
    putf(t, ",\"%s\":", key);
    put(t, json, len);
}

/* The reference's serialize(): id, clientId, transport, nsp, data, the
 * handshake without auth (it holds credentials), rooms. */
static void put_socket(text *t, siod_socket *s)
{
    const char *client = siod_socket_client_id(s);
    const char *data = siod_socket_data_json(s);
    const char *addr = siod_handshake_header(s, "cf-connecting-ip");
    const char *hs_json = siod_handshake_json(s);
    char *wrapped = hs_json != NULL ? siod_json_fmt("[%s]", hs_json) : NULL;

    if (addr == NULL)
        addr = siod_handshake_header(s, "x-forwarded-for");
    if (addr == NULL)
        addr = siod_handshake_address(s);
    puts_(t, "{\"id\":");
    putq(t, siod_socket_id(s));
    puts_(t, ",\"clientId\":");
    if (client != NULL)
        putf(t, "\"%.*s\"", CLIENT_ID_LEN, client);
    else
        puts_(t, "null");
    puts_(t, ",\"transport\":");
    putq(t, siod_socket_transport(s));
    puts_(t, ",\"nsp\":");
    putq(t, siod_nsp_name(siod_socket_nsp(s)));
    puts_(t, ",\"data\":");
    puts_(t, data != NULL ? data : "{}");
    puts_(t, ",\"handshake\":{\"address\":");
    putq(t, addr);
    if (wrapped != NULL) {
        siod_args hs = { wrapped, strlen(wrapped), NULL, 0 };
        static const char *const keys[] = { "headers", "query", "issued",
                                            "secure", "time", "url",
                                            "xdomain", NULL };
        for (size_t i = 0; keys[i] != NULL; i++)
            put_member(t, &hs, keys[i]);
    }
    free(wrapped);
    puts_(t, "},\"rooms\":[");
    siod_socket_rooms(s, put_room, t);
    puts_(t, "]}");
}

/* ---- what happens on every namespace (development mode) ------------------- */

/* [nsp, x, id, date] for the reports that have that shape. */
static void report(admin *a, const char *event, siod_socket *s,
                   const char *x, siod_socket *except)
{
    text t = { 0 };
    puts_(&t, "[");
    putq(&t, siod_nsp_name(siod_socket_nsp(s)));
    puts_(&t, ",");
    putq(&t, x);
    puts_(&t, ",");
    putq(&t, siod_socket_id(s));
    puts_(&t, ",");
    put_now(&t);
    puts_(&t, "]");
    send_admins(a, event, &t, except);
}

static void obs_connection(void *ud, siod_socket *s)
{
    text t = { 0 };
    puts_(&t, "[");
    put_socket(&t, s);
    puts_(&t, ",");
    put_now(&t);
    puts_(&t, "]");
    send_admins(ud, "socket_connected", &t, NULL);
}

struct rooms {
    char **v;
    size_t n;
};

static void collect_room(void *ud, const char *room)
{
    struct rooms *r = ud;
    char **v = realloc(r->v, (r->n + 1) * sizeof *v);
    if (v == NULL)
        return;
    r->v = v;
    if ((v[r->n] = strdup(room)) != NULL)
        r->n++;
}

/* The reference reports the disconnection, then each room left. An admin
 * socket that leaves is not sent its own. */
static void obs_disconnect(void *ud, siod_socket *s, const char *reason)
{
    admin *a = ud;
    siod_socket *except = siod_socket_nsp(s) == a->nsp ? s : NULL;
    struct rooms r = { NULL, 0 };
    text t = { 0 };

    siod_socket_rooms(s, collect_room, &r);
    puts_(&t, "[");
    putq(&t, siod_nsp_name(siod_socket_nsp(s)));
    puts_(&t, ",");
    putq(&t, siod_socket_id(s));
    puts_(&t, ",");
    putq(&t, reason);
    puts_(&t, ",");
    put_now(&t);
    puts_(&t, "]");
    send_admins(a, "socket_disconnected", &t, except);
    for (size_t i = 0; i < r.n; i++) {
        report(a, "room_left", s, r.v[i], except);
        free(r.v[i]);
    }
    free(r.v);
}

static void obs_join(void *ud, siod_socket *s, const char *room)
{
    report(ud, "room_joined", s, room, NULL);
}

static void obs_leave(void *ud, siod_socket *s, const char *room)
{
    report(ud, "room_left", s, room, NULL);
}

/* [nsp, id, [event, ...args], date]; the admin namespace's own traffic
 * is not reported. */
static void traffic(admin *a, const char *what, siod_socket *s,
                    const char *event, const siod_args *args)
{
    text t = { 0 };
    size_t n = siod_arg_count(args);

    if (siod_socket_nsp(s) == a->nsp)
        return;
    puts_(&t, "[");
    putq(&t, siod_nsp_name(siod_socket_nsp(s)));
    puts_(&t, ",");
    putq(&t, siod_socket_id(s));
    puts_(&t, ",[");
    putq(&t, event);
    for (size_t i = 0; i < n; i++) {
        const char *json;
        size_t len;
        if (siod_arg_raw(args, i, &json, &len) == SIOD_OK) {
            puts_(&t, ",");
            put(&t, json, len);
        }
    }
    puts_(&t, "],");
    put_now(&t);
    puts_(&t, "]");
    if (!t.failed && a->nsp != NULL) {
        /* binary arguments travel on as the UI's reference sends them */
        siod_args out = { t.p, t.len, args->bins, args->nbins };
        siod_bcast_emit(siod_bcast_new(a->nsp), what, &out);
    }
    free(t.p);
}

static void obs_event(void *ud, siod_socket *s, const char *event,
                      const siod_args *args)
{
    traffic(ud, "event_received", s, event, args);
}

static void obs_emit(void *ud, siod_socket *s, const char *event,
                     const siod_args *args)
{
    traffic(ud, "event_sent", s, event, args);
}

/* The reference's socket_updated after an upgrade: {id, nsp, transport}. */
static void obs_upgrade(void *ud, siod_socket *s)
{
    text t = { 0 };
    puts_(&t, "[{\"id\":");
    putq(&t, siod_socket_id(s));
    puts_(&t, ",\"nsp\":");
    putq(&t, siod_nsp_name(siod_socket_nsp(s)));
    puts_(&t, ",\"transport\":");
    putq(&t, siod_socket_transport(s));
    puts_(&t, "}]");
    send_admins(ud, "socket_updated", &t, NULL);
}

static const siod_observer admin_observer = {
    .on_connection = obs_connection,
    .on_disconnect = obs_disconnect,
    .on_join = obs_join,
    .on_leave = obs_leave,
    .on_event = obs_event,
    .on_emit = obs_emit,
    .on_upgrade = obs_upgrade,
};

/* ---- server_stats ---------------------------------------------------------- */

struct nsp_list {
    text *t;
    int first;
};

static void put_nsp(void *ud, siod_nsp *nsp)
{
    struct nsp_list *l = ud;
    puts_(l->t, l->first ? "{\"name\":" : ",{\"name\":");
    putq(l->t, siod_nsp_name(nsp));
    putf(l->t, ",\"socketsCount\":%zu}", siod_nsp_count(nsp));
    l->first = 0;
}

/* One aggregated event: count of type in the second now (ms). */
static void put_aggregated(text *t, int *first, int64_t second,
                           const char *type, uint64_t count)
{
    if (count == 0)
        return;
    putf(t, "%s{\"timestamp\":%lld,\"type\":\"%s\",\"count\":%llu}",
         *first ? "" : ",", (long long)second, type,
         (unsigned long long)count);
    *first = 0;
}

/* [{serverId, hostname, pid, uptime, clientsCount, pollingClientsCount,
 * aggregatedEvents, namespaces}]; aggregatedEvents counts what happened
 * since the last one (new sessions, closed ones, messages in and out). */
static void put_stats(admin *a, text *t)
{
    siod_server_figures f;
    int64_t now = siod_now_ms();
    int first = 1;

    siod_server_figures_get(&f);
    puts_(t, "[{\"serverId\":");
    putq(t, a->server_id);
    puts_(t, ",\"hostname\":");
    putq(t, a->hostname);
    putf(t, ",\"pid\":%ld,\"uptime\":%.3f,\"clientsCount\":%zu,"
         "\"pollingClientsCount\":%zu,\"aggregatedEvents\":[",
         (long)getpid(), (double)(now - a->started) / 1000.0, f.clients,
         f.polling);
    now -= now % 1000;
    put_aggregated(t, &first, now, "rawConnection",
                   f.sessions_opened - a->last.sessions_opened);
    put_aggregated(t, &first, now, "rawDisconnection",
                   f.sessions_closed - a->last.sessions_closed);
    put_aggregated(t, &first, now, "packetsIn",
                   f.messages_in - a->last.messages_in);
    put_aggregated(t, &first, now, "packetsOut",
                   f.messages_out - a->last.messages_out);
    a->last = f;
    puts_(t, "],\"namespaces\":[");
    struct nsp_list l = { t, 1 };
    siod_nsp_each(put_nsp, &l);
    puts_(t, "]}]");
}

static void stats_tick(void *ud)
{
    admin *a = ud;
    text t = { 0 };

    if (a->nsp == NULL)
        return;
    put_stats(a, &t);
    send_admins(a, "server_stats", &t, NULL);
}

/* ---- the admin namespace ---------------------------------------------------- */

static int user_allowed(const admin *a, const char *user)
{
    if (user == NULL || *user == '\0')
        return 0;
    if (a->users == NULL)
        return 1;
    size_t n = strlen(user);
    for (const char *p = a->users + 1; (p = strstr(p, user)) != NULL; p++)
        if (p[-1] == ',' && p[n] == ',')
            return 1;
    return 0;
}

/* The reference refuses with "invalid credentials", which the UI names. */
static int admin_connect_mw(void *app, siod_socket *s, siod_error *err)
{
    admin *a = app;

    if (!user_allowed(a, siod_handshake_user(s))) {
        err->message = "invalid credentials";
        return SIOD_MW_REJECT;
    }
    if (a->nsp == NULL)
        a->nsp = siod_socket_nsp(s);
    return SIOD_MW_NEXT;
}

static void emit_text(siod_socket *s, const char *event, text *t)
{
    if (!t->failed) {
        siod_args args = { t->p, t->len, NULL, 0 };
        siod_emit(s, event, &args);
    }
    free(t->p);
}

/* all_sockets: every namespace's sockets on every server (the reference's
 * fetchSockets), gathered by one fetch per namespace and sent to the new
 * admin once the last has answered. */
struct listing {
    siod_socket *to;                 /* the admin (a reference) */
    text t;
    int first;
    size_t pending;                  /* fetches not answered yet */
};

struct listing_nsp {
    struct listing *l;
    char *nsp;
};

/* Appends "key":value of member key of the JSON object obj, or null. */
static void put_field(text *t, const char *key, const char *obj, const char *member)
{
    char *wrapped = obj != NULL ? siod_json_fmt("[%s]", obj) : NULL;
    const char *json;
    size_t len;
    siod_args a = { wrapped, wrapped != NULL ? strlen(wrapped) : 0, NULL, 0 };

    putf(t, ",\"%s\":", key);
    if (wrapped != NULL &&
        siod_arg_member(&a, 0, member, &json, &len) == SIOD_OK)
        put(t, json, len);
    else
        puts_(t, "null");
    free(wrapped);
}

/* Another server's socket as the reference serializes it; its clientId and
 * transport come from data._admin, where the reference keeps them. */
static void put_remote(text *t, const siod_remote_socket *r, const char *nsp)
{
    char *admin_data = NULL, *hs_json = siod_json_fmt("[%s]", r->handshake);
    char *data = siod_json_fmt("[%s]", r->data);
    siod_args d = { data, data != NULL ? strlen(data) : 0, NULL, 0 };
    siod_args hs = { hs_json, hs_json != NULL ? strlen(hs_json) : 0, NULL, 0 };
    static const char *const keys[] = { "headers", "query", "issued",
                                        "secure", "time", "url", "xdomain",
                                        NULL };
    const char *json;
    size_t len;

    if (data != NULL &&
        siod_arg_member(&d, 0, "_admin", &json, &len) == SIOD_OK)
        admin_data = strndup(json, len);
    puts_(t, "{\"id\":");
    putq(t, r->id);
    put_field(t, "clientId", admin_data, "clientId");
    put_field(t, "transport", admin_data, "transport");
    puts_(t, ",\"nsp\":");
    putq(t, nsp);
    puts_(t, ",\"data\":");
    puts_(t, r->data);
    puts_(t, ",\"handshake\":{\"address\":");
    if (hs_json != NULL &&
        siod_arg_member(&hs, 0, "address", &json, &len) == SIOD_OK)
        put(t, json, len);
    else
        puts_(t, "null");
    for (size_t i = 0; hs_json != NULL && keys[i] != NULL; i++)
        put_member(t, &hs, keys[i]);
    puts_(t, "},\"rooms\":");
    puts_(t, r->rooms);
    puts_(t, "}");
    free(admin_data);
    free(hs_json);
    free(data);
}

static void listing_done(struct listing *l)
{
    puts_(&l->t, "]]");
    if (siod_socket_connected(l->to))
        emit_text(l->to, "all_sockets", &l->t);
    else
        free(l->t.p);
    siod_socket_unref(l->to);
    free(l);
}

/* One namespace's sockets; a failed fetch (a server that did not answer)
 * leaves that namespace out. */
static void listed(void *ud, int err, const siod_remote_socket *v, size_t n)
{
    struct listing_nsp *ln = ud;
    struct listing *l = ln->l;

    for (size_t i = 0; err == SIOD_OK && i < n; i++) {
        if (!l->first)
            puts_(&l->t, ",");
        if (v[i].socket != NULL)
            put_socket(&l->t, v[i].socket);
        else
            put_remote(&l->t, &v[i], ln->nsp);
        l->first = 0;
    }
    free(ln->nsp);
    free(ln);
    if (--l->pending == 0)
        listing_done(l);
}

static void fetch_nsp(void *ud, siod_nsp *nsp)
{
    struct listing *l = ud;
    struct listing_nsp *ln = malloc(sizeof *ln);
    siod_bcast *b = siod_bcast_new(nsp);
    int rc;

    if (ln == NULL || (ln->nsp = strdup(siod_nsp_name(nsp))) == NULL) {
        free(ln);
        siod_bcast_free(b);
        return;
    }
    ln->l = l;
    /* Redis out of reach: this server's sockets at least */
    rc = siod_bcast_fetch(b, listed, ln);
    if (rc == SIOD_ECLUSTERDOWN)
        rc = siod_bcast_fetch(siod_bcast_local(siod_bcast_new(nsp)), listed,
                              ln);
    if (rc == SIOD_OK) {
        l->pending++;
    } else {
        free(ln->nsp);
        free(ln);
    }
}

static void list_sockets(siod_socket *to)
{
    struct listing *l = calloc(1, sizeof *l);

    if (l == NULL)
        return;
    l->to = siod_socket_ref(to);
    l->first = 1;
    l->pending = 1;                  /* until every fetch is asked */
    puts_(&l->t, "[[");
    siod_nsp_each(fetch_nsp, l);
    if (--l->pending == 0)
        listing_done(l);
}

static void admin_connection(void *app, siod_socket *s)
{
    admin *a = app;
    text t = { 0 };

    puts_(&t, "[{\"supportedFeatures\":[");
    if (!a->readonly)
        puts_(&t, "\"EMIT\",\"JOIN\",\"LEAVE\",\"DISCONNECT\",\"MJOIN\","
                  "\"MLEAVE\",\"MDISCONNECT\",");
    puts_(&t, a->dev ? "\"AGGREGATED_EVENTS\",\"ALL_EVENTS\"]}]"
                     : "\"AGGREGATED_EVENTS\"]}]");
    emit_text(s, "config", &t);
    if (a->dev)
        list_sockets(s);
    /* the UI lists this server at once, not 2 s later; the counts since
     * the last report stay for everyone's next one */
    siod_server_figures keep = a->last;
    text st = { 0 };
    put_stats(a, &st);
    a->last = keep;
    emit_text(s, "server_stats", &st);
}

/* Argument i as a string (NULL if it is not one: a missing filter). */
static char *arg_str(const siod_args *args, size_t i)
{
    return siod_arg_type(args, i) == SIOD_JSON_STRING
               ? siod_arg_string(args, i) : NULL;
}

/* The sockets of namespace name (those in room filter when set), or NULL
 * when there is no such namespace. */
static siod_bcast *select_sockets(const char *name, const char *filter)
{
    siod_nsp *nsp = name != NULL ? siod_nsp_find(name) : NULL;
    if (nsp == NULL)
        return NULL;
    siod_bcast *b = siod_bcast_new(nsp);
    return filter != NULL ? siod_bcast_to(b, filter) : b;
}

/* "emit" (nsp, filter, event, ...args): the event to those sockets. */
static void command_emit(const siod_args *args, char *nsp, char *filter)
{
    char *event = arg_str(args, 2);
    text t = { 0 };

    puts_(&t, "[");
    for (size_t i = 3; i < siod_arg_count(args); i++) {
        const char *json;
        size_t len;
        if (siod_arg_raw(args, i, &json, &len) == SIOD_OK) {
            if (i > 3)
                puts_(&t, ",");
            put(&t, json, len);
        }
    }
    puts_(&t, "]");
    siod_bcast *b = event != NULL && !t.failed ? select_sockets(nsp, filter)
                                               : NULL;
    if (b != NULL) {
        siod_args out = { t.p, t.len, args->bins, args->nbins };
        int rc = siod_bcast_emit(b, event, &out);
        if (rc != SIOD_OK)
            siod_app_log(SIOD_APP_LOG_INFO, "admin: emit %s to %s: %s",
                         event, nsp, siod_app_strerror(rc));
    }
    free(t.p);
    free(event);
}

static void admin_event(void *app, siod_socket *s, const char *event,
                        const siod_args *args, siod_ack *ack)
{
    admin *a = app;
    char *nsp, *filter;

    if (a->readonly)
        return;
    nsp = arg_str(args, 0);
    if (strcmp(event, "emit") == 0) {
        filter = arg_str(args, 1);
        command_emit(args, nsp, filter);
    } else if (strcmp(event, "join") == 0 || strcmp(event, "leave") == 0) {
        char *room = arg_str(args, 1);
        siod_bcast *b;
        filter = arg_str(args, 2);
        if (room != NULL && (b = select_sockets(nsp, filter)) != NULL) {
            if (event[0] == 'j')
                siod_bcast_join(b, room);
            else
                siod_bcast_leave(b, room);
        }
        free(room);
    } else if (strcmp(event, "_disconnect") == 0) {
        siod_bcast *b;
        filter = arg_str(args, 2);
        if ((b = select_sockets(nsp, filter)) != NULL)
            siod_bcast_disconnect(b, siod_arg_type(args, 1) ==
                                         SIOD_JSON_TRUE);
    } else {
        filter = NULL;
    }
    free(filter);
    free(nsp);
}

/* ---- start and stop ------------------------------------------------------- */

static int admin_init(void **app)
{
    admin *a = calloc(1, sizeof *a);
    const char *users = getenv("SIOD_ADMIN_USERS");
    const char *ro = getenv("SIOD_ADMIN_READONLY");
    const char *mode = getenv("SIOD_ADMIN_MODE");
    const char *id = getenv("SIOD_ADMIN_SERVER_ID");

    if (a == NULL)
        return 1;
    if (users != NULL && *users != '\0') {
        a->users = malloc(strlen(users) + 3);
        if (a->users == NULL) {
            free(a);
            return 1;
        }
        sprintf(a->users, ",%s,", users);
    }
    a->readonly = ro != NULL && strcmp(ro, "1") == 0;
    a->dev = mode == NULL || strcmp(mode, "production") != 0;
    if (gethostname(a->hostname, sizeof a->hostname) != 0)
        strcpy(a->hostname, "localhost");
    a->hostname[sizeof a->hostname - 1] = '\0';
    snprintf(a->server_id, sizeof a->server_id, "%s",
             id != NULL && *id != '\0' ? id : a->hostname);
    a->started = siod_now_ms();
    siod_server_figures_get(&a->last);
    a->nsp = siod_nsp_find(ADMIN_NSP);
    a->timer = siod_timer_start(STATS_MS, 1, stats_tick, a);
    if (a->timer == NULL || (a->dev &&
                             siod_observe(&admin_observer, a) != SIOD_OK)) {
        siod_timer_stop(a->timer);
        free(a->users);
        free(a);
        return 1;
    }
    siod_app_log(SIOD_APP_LOG_INFO, "admin: Admin UI protocol on %s (%s%s)",
                 a->nsp != NULL ? siod_nsp_name(a->nsp) : ADMIN_NSP,
                 a->dev ? "development" : "production",
                 a->readonly ? ", read-only" : "");
    *app = a;
    return 0;
}

static void admin_destroy(void *app)
{
    admin *a = app;

    siod_unobserve(&admin_observer, a);
    siod_timer_stop(a->timer);
    free(a->users);
    free(a);
}

static const char *const admin_namespaces[] = { ADMIN_NSP, NULL };

const siod_app_module siod_app_module_v1 = {
    .abi = SIOD_APP_ABI,
    .name = "admin",
    .namespaces = admin_namespaces,
    .init = admin_init,
    .destroy = admin_destroy,
    .connect_mw = admin_connect_mw,
    .on_connection = admin_connection,
    .on_event = admin_event,
};
