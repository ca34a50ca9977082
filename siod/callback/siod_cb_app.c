/* The built-in "callback" application: a namespace's connect, events and
 * disconnect POSTed to the URLs of --callback (docs/callbacks.md) and the
 * answers applied (accept or refuse, socket data, rooms, acks, emits,
 * disconnect). Each socket has a queue: one request in flight, at most
 * --callback-queue events behind it, so a socket's events reach the
 * backend in order; a slow, failing or garbled backend costs the socket
 * an error ack or a CONNECT_ERROR (logged, throttled) and never holds
 * other sockets. Also the layer's public calls. Loop thread. */
#include "siod_cb_int.h"
#include "core/siod_core.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One callback to make. */
struct job {
    enum siod_cb_kind kind;
    char *body;                      /* connect: built at once */
    size_t body_len;
    char *event;                     /* event */
    struct json_object *args;        /* event: to send (owned) */
    siod_ack *ack;                   /* event: held, NULL if none wanted */
    struct json_object *sock;        /* disconnect: the socket as it was */
    char *reason;                    /* disconnect */
    long long sent_ms;               /* when its request left (monotonic) */
    struct job *next;
};

/* A socket's callback state (its siod_socket_set_data pointer). While it
 * has jobs it is "busy": in the busy list, holding one reference to the
 * socket, which keeps this state alive. */
struct cbsock {
    siod_socket *s;
    const siod_cb_nsp *conf;
    struct job *head, *tail;         /* waiting */
    size_t queued;                   /* waiting events */
    struct job *cur;                 /* in flight */
    siod_cb_http_req *req;
    int busy;
    struct cbsock *prev, *next;      /* busy list */
};

static struct cbsock *busy_head;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *const kind_names[SIOD_CB_KINDS] = {
    "connect", "event", "disconnect",
};

/* Why a callback gave no usable answer: a code for the client, words for
 * the log. */
struct failure {
    const char *code;                /* timeout, unreachable, http-error,
                                      * bad-answer, overloaded, no-ack */
    char message[200];
};

static void job_free(struct job *j)
{
    if (j == NULL)
        return;
    free(j->body);
    free(j->event);
    json_object_put(j->args);
    json_object_put(j->sock);
    free(j->reason);
    if (j->ack != NULL)
        siod_ack_release(j->ack);
    free(j);
}

static void cbsock_free(void *p)
{
    struct cbsock *c = p;
    while (c->head != NULL) {
        struct job *j = c->head;
        c->head = j->next;
        job_free(j);
    }
    job_free(c->cur);
    free(c);
}

/* ---- failures ------------------------------------------------------------ */

static void fail_set(struct failure *f, const char *code, const char *fmt,
                     ...) __attribute__((format(printf, 3, 4)));
static void fail_set(struct failure *f, const char *code, const char *fmt,
                     ...)
{
    va_list ap;
    f->code = code;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof f->message, fmt, ap);
    va_end(ap);
}

/* {"code":..,"message":..} as a json-c object, or NULL. */
static struct json_object *fail_object(const struct failure *f)
{
    struct json_object *o = json_object_new_object();
    if (o == NULL)
        return NULL;
    if (json_object_object_add(o, "code",
                               json_object_new_string(f->code)) < 0 ||
        json_object_object_add(o, "message",
                               json_object_new_string(f->message)) < 0) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* The failure as JSON text, malloc'd, or NULL. */
static char *fail_json(const struct failure *f)
{
    struct json_object *o = fail_object(f);
    char *text = o != NULL ? siod_cb_json_string(o, NULL) : NULL;
    json_object_put(o);
    return text;
}

/* Answers a held ack with [{"error":{"code","message"}}]. */
static void ack_error(siod_ack **ack, const struct failure *f)
{
    struct json_object *args = json_object_new_array();
    struct json_object *e = json_object_new_object();
    struct json_object *err = fail_object(f);
    char *json = NULL;

    if (args != NULL && e != NULL && err != NULL &&
        json_object_object_add(e, "error", err) == 0) {
        err = NULL;
        if (json_object_array_add(args, e) == 0) {
            e = NULL;
            json = siod_cb_json_string(args, NULL);
        }
    }
    json_object_put(err);
    json_object_put(e);
    json_object_put(args);
    siod_args a = { json != NULL ? json : "[{\"error\":{\"code\":\"failed\"}}]",
                    0, NULL, 0 };
    int rc = siod_ack_send(*ack, &a);     /* releases it once sent */
    if (rc == SIOD_EINVAL || rc == SIOD_ENOMEM)
        siod_ack_release(*ack);           /* not sent: dropped */
    *ack = NULL;
    free(json);
}

static void log_failure(const struct cbsock *c, const struct job *j,
                        const struct failure *f)
{
    siod_log_limited(SIOD_LOG_WARN, "callback %s %s (socket %s%s%s): %s",
                     kind_names[j->kind], c->conf->url[j->kind],
                     siod_socket_id(c->s), j->event != NULL ? ", event " : "",
                     j->event != NULL ? j->event : "", f->message);
}

/* ---- applying an answer --------------------------------------------------- */

static void apply_rooms(struct cbsock *c, const siod_cb_answer *a)
{
    for (size_t i = 0; i < a->leave.n; i++)
        siod_leave(c->s, a->leave.v[i]);
    for (size_t i = 0; i < a->join.n; i++)
        if (siod_join(c->s, a->join.v[i]) == SIOD_ELIMIT)
            siod_log_limited(SIOD_LOG_WARN, "callback: socket %s: join %s: "
                             "--max-rooms-per-socket reached",
                             siod_socket_id(c->s), a->join.v[i]);
}

static void apply_data(struct cbsock *c, const siod_cb_answer *a)
{
    if (!a->has_data)
        return;
    if (strcmp(a->data, "null") == 0)
        siod_socket_set_data_json(c->s, NULL, 0);
    else
        siod_socket_set_data_json(c->s, a->data, strlen(a->data));
}

/* One emit; gone: the socket has left (self is nobody, others is all). */
static void apply_emit(struct cbsock *c, const siod_cb_emit *e, int gone)
{
    siod_args args = { e->args.json, 0, e->args.bins, e->args.nbins };
    siod_bcast *b;
    int rc;

    if (e->to == SIOD_CB_TO_SELF) {
        if (gone)
            return;
        for (size_t i = 0; i < e->except.n; i++)
            if (siod_in_room(c->s, e->except.v[i]))
                return;
        rc = siod_emit(c->s, e->event, &args);
    } else if (e->to == SIOD_CB_TO_ROOMS && e->rooms.n == 0) {
        return;                      /* no room: nobody (not everyone) */
    } else {
        b = siod_bcast_new(siod_socket_nsp(c->s));
        if (e->to == SIOD_CB_TO_OTHERS)
            b = siod_bcast_except(b, siod_socket_id(c->s));
        for (size_t i = 0; e->to == SIOD_CB_TO_ROOMS && i < e->rooms.n; i++)
            b = siod_bcast_to(b, e->rooms.v[i]);
        for (size_t i = 0; i < e->except.n; i++)
            b = siod_bcast_except(b, e->except.v[i]);
        rc = siod_bcast_emit(b, e->event, &args);
    }
    if (rc != SIOD_OK && rc != SIOD_ECLOSED)
        siod_log_limited(SIOD_LOG_WARN, "callback: socket %s: emit %s "
                         "refused (%s)", siod_socket_id(c->s), e->event,
                         rc == SIOD_ERESERVED ? "a reserved event name"
                         : rc == SIOD_EINVAL ? "bad arguments"
                                             : "out of memory");
}

static void apply_emits(struct cbsock *c, const siod_cb_answer *a, int gone)
{
    for (size_t i = 0; i < a->nemits; i++)
        apply_emit(c, &a->emits[i], gone);
}

static void apply_disconnect(struct cbsock *c, const siod_cb_answer *a)
{
    if (a->disconnect != 0)
        siod_disconnect(c->s, a->disconnect == 2);
}

static void connect_done(struct cbsock *c, const siod_cb_answer *a,
                         const struct failure *f)
{
    siod_error err = { "callback failed", NULL };
    char *data = NULL;

    if (f == NULL && a->accept == 1) {
        apply_data(c, a);
        apply_rooms(c, a);
        siod_connect_resume(c->s, NULL);
        if (siod_socket_connected(c->s)) {
            apply_emits(c, a, 0);
            apply_disconnect(c, a);
        }
        return;
    }
    if (f == NULL) {
        /* refused by the backend: its message and data */
        err.message = a->message != NULL ? a->message : "not authorized";
        err.data = a->error_data;
    } else {
        data = fail_json(f);
        err.data = data;
    }
    siod_connect_resume(c->s, &err);
    free(data);
}

static void event_done(struct cbsock *c, struct job *j,
                       const siod_cb_answer *a, const struct failure *f)
{
    if (f != NULL) {
        if (j->ack != NULL)
            ack_error(&j->ack, f);
        return;
    }
    apply_data(c, a);
    apply_rooms(c, a);
    apply_emits(c, a, !siod_socket_connected(c->s));
    if (j->ack != NULL) {
        if (a->has_ack) {
            siod_args args = { a->ack.json, 0, a->ack.bins, a->ack.nbins };
            int rc = siod_ack_send(j->ack, &args);
            if (rc == SIOD_EINVAL || rc == SIOD_ENOMEM) {
                /* not sent (it may be sent again): an error instead */
                struct failure bad;
                fail_set(&bad, "bad-answer", "the ack's arguments were "
                         "refused (%s)", rc == SIOD_EINVAL ? "not valid"
                                                         : "out of memory");
                log_failure(c, j, &bad);
                ack_error(&j->ack, &bad);
            }
            j->ack = NULL;
        } else {
            struct failure none;
            fail_set(&none, "no-ack", "the callback answered no ack");
            ack_error(&j->ack, &none);
        }
    }
    apply_disconnect(c, a);
}

/* ---- the queue -------------------------------------------------------------- */

static void pump(struct cbsock *c);

/* The end of the in-flight job: status and body as siod_cb_http_done. */
static void on_answer(void *ud, int status, const char *body, size_t len,
                      const char *why)
{
    struct cbsock *c = ud;
    struct job *j = c->cur;
    siod_cb_answer a;
    struct failure fail, *f = NULL;
    char perr[160];

    c->cur = NULL;
    c->req = NULL;
    memset(&a, 0, sizeof a);
    a.accept = -1;
    if (status == -ETIMEDOUT) {
        fail_set(&fail, "timeout", "no answer within %u ms",
                 siod_cb_settings_get()->timeout_ms);
        f = &fail;
    } else if (status == -EMSGSIZE) {
        fail_set(&fail, "bad-answer", "an answer over %u bytes",
                 SIOD_CB_MAX_ANSWER);
        f = &fail;
    } else if (status < 0) {
        fail_set(&fail, "unreachable", "%s", why != NULL ? why : "failed");
        f = &fail;
    } else if (status < 200 || status > 299) {
        fail_set(&fail, "http-error", "the callback answered HTTP %d",
                 status);
        f = &fail;
    } else if (siod_cb_answer_parse(body, len, &a, perr, sizeof perr) < 0) {
        fail_set(&fail, "bad-answer", "bad answer: %s", perr);
        f = &fail;
    } else if (j->kind == SIOD_CB_CONNECT && a.accept < 0) {
        fail_set(&fail, "bad-answer", "bad answer: no \"accept\"");
        f = &fail;
    }
    if (f != NULL)
        log_failure(c, j, f);
    else
        siod_log_debug("callback %s (socket %s%s%s): answered in %lld ms",
                       kind_names[j->kind], siod_socket_id(c->s),
                       j->event != NULL ? ", event " : "",
                       j->event != NULL ? j->event : "",
                       now_ms() - j->sent_ms);
    if (j->kind == SIOD_CB_CONNECT)
        connect_done(c, &a, f);
    else if (j->kind == SIOD_CB_EVENT)
        event_done(c, j, &a, f);
    else if (f == NULL)
        apply_emits(c, &a, 1);
    siod_cb_answer_free(&a);
    job_free(j);
    pump(c);
}

/* Removes c from the busy list and drops its reference, which may free c:
 * the last thing a caller does with c. */
static void go_idle(struct cbsock *c)
{
    siod_socket *s = c->s;
    c->busy = 0;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        busy_head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    siod_socket_unref(s);
}

/* Sends the next job if none is in flight; goes idle when none is left
 * (c may be freed then). */
static void pump(struct cbsock *c)
{
    while (c->cur == NULL && c->head != NULL) {
        struct job *j = c->head;
        char *body = NULL;
        size_t len = 0;
        c->head = j->next;
        if (c->head == NULL)
            c->tail = NULL;
        j->next = NULL;
        if (j->kind == SIOD_CB_EVENT)
            c->queued--;
        if (j->kind == SIOD_CB_CONNECT) {
            body = j->body;
            len = j->body_len;
            j->body = NULL;
        } else if (j->kind == SIOD_CB_EVENT) {
            body = siod_cb_request_event(c->s, j->event, j->args,
                                         j->ack != NULL, &len);
            j->args = NULL;
        } else {
            body = siod_cb_request_disconnect(
                siod_nsp_name(siod_socket_nsp(c->s)), j->sock, j->reason,
                &len);
            j->sock = NULL;
        }
        c->cur = j;
        j->sent_ms = now_ms();
        c->req = body != NULL
                 ? siod_cb_http_post(c->conf->url[j->kind], body, len,
                                     siod_cb_settings_get()->timeout_ms,
                                     on_answer, c)
                 : NULL;
        if (c->req == NULL) {
            struct failure f;
            fail_set(&f, "unreachable", "out of memory");
            c->cur = NULL;
            log_failure(c, j, &f);
            if (j->kind == SIOD_CB_CONNECT)
                connect_done(c, NULL, &f);
            else if (j->ack != NULL)
                ack_error(&j->ack, &f);
            job_free(j);
        }
    }
    if (c->cur == NULL && c->head == NULL && c->busy)
        go_idle(c);
}

/* Appends j to c's queue and starts it if c is idle. */
static void enqueue(struct cbsock *c, struct job *j)
{
    if (c->tail != NULL)
        c->tail->next = j;
    else
        c->head = j;
    c->tail = j;
    if (j->kind == SIOD_CB_EVENT)
        c->queued++;
    if (!c->busy) {
        c->busy = 1;
        siod_socket_ref(c->s);
        c->next = busy_head;
        if (busy_head != NULL)
            busy_head->prev = c;
        busy_head = c;
    }
    pump(c);
}

/* ---- the application's callbacks ------------------------------------------ */

static int cb_init(void **app)
{
    siod_cb_settings *st = siod_cb_settings_get();
    char why[256];

    if (st->base == NULL) {
        siod_log(SIOD_LOG_ERROR, "callback: no event loop");
        return -1;
    }
    if (siod_cb_http_init(st->base, st->max_requests, why, sizeof why) < 0) {
        siod_log(SIOD_LOG_ERROR, "callback: %s", why);
        return -1;
    }
    for (const siod_cb_nsp *e = st->nsps; e != NULL; e = e->next)
        siod_log(SIOD_LOG_INFO, "callback %s: connect %s, event %s, "
                 "disconnect %s", e->name,
                 e->url[0] ? e->url[0] : "-", e->url[1] ? e->url[1] : "-",
                 e->url[2] ? e->url[2] : "-");
    siod_log(SIOD_LOG_INFO, "callback: timeout %u ms, %u requests at once, "
             "%u events queued per socket", st->timeout_ms, st->max_requests,
             st->queue_max);
    return 0;
}

static void cb_destroy(void *app)
{
    /* every socket has left: what is still queued is dropped */
    while (busy_head != NULL) {
        struct cbsock *c = busy_head;
        siod_cb_http_cancel(c->req);
        c->req = NULL;
        if (c->cur != NULL && c->cur->kind == SIOD_CB_CONNECT) {
            siod_error err = { "server shutting down", NULL };
            siod_connect_resume(c->s, &err);
        }
        job_free(c->cur);
        c->cur = NULL;
        while (c->head != NULL) {
            struct job *j = c->head;
            c->head = j->next;
            job_free(j);
        }
        c->tail = NULL;
        go_idle(c);
    }
    siod_cb_http_cleanup();
}

static int cb_connect(void *app, siod_socket *s, siod_error *err)
{
    struct cbsock *c = calloc(1, sizeof *c);
    struct job *j;

    if (c == NULL) {
        err->message = "server busy";
        return SIOD_MW_REJECT;
    }
    c->s = s;
    c->conf = siod_cb_nsp_find(siod_nsp_name(siod_socket_nsp(s)));
    siod_socket_set_data(s, c, cbsock_free);
    if (c->conf == NULL || c->conf->url[SIOD_CB_CONNECT] == NULL)
        return SIOD_MW_NEXT;
    j = calloc(1, sizeof *j);
    if (j == NULL ||
        (j->body = siod_cb_request_connect(s, &j->body_len)) == NULL) {
        free(j);
        err->message = "server busy";
        return SIOD_MW_REJECT;
    }
    j->kind = SIOD_CB_CONNECT;
    enqueue(c, j);
    return SIOD_MW_PENDING;
}

static void cb_event(void *app, siod_socket *s, const char *event,
                     const siod_args *args, siod_ack *ack)
{
    struct cbsock *c = siod_socket_data(s);
    struct failure f;
    struct job *j;

    if (c == NULL || c->conf == NULL || c->conf->url[SIOD_CB_EVENT] == NULL) {
        fail_set(&f, "no-callback", "no event callback for %s",
                 siod_nsp_name(siod_socket_nsp(s)));
        if (ack != NULL)
            ack_error(&ack, &f);
        return;
    }
    if (c->queued >= siod_cb_settings_get()->queue_max) {
        fail_set(&f, "overloaded", "%zu events already wait for the "
                 "callback", c->queued);
        siod_log_limited(SIOD_LOG_WARN, "callback event %s (socket %s, "
                         "event %s): dropped: %s", c->conf->url[SIOD_CB_EVENT],
                         siod_socket_id(s), event, f.message);
        if (ack != NULL)
            ack_error(&ack, &f);
        return;
    }
    j = calloc(1, sizeof *j);
    if (j != NULL) {
        j->kind = SIOD_CB_EVENT;
        j->event = strdup(event);
        j->args = siod_cb_args_to_json(args->json, args->len, args->bins,
                                       args->nbins);
    }
    if (j == NULL || j->event == NULL || j->args == NULL) {
        job_free(j);
        fail_set(&f, "overloaded", "out of memory");
        if (ack != NULL)
            ack_error(&ack, &f);
        return;
    }
    j->ack = ack != NULL ? siod_ack_hold(ack) : NULL;
    enqueue(c, j);
}

static void cb_disconnecting(void *app, siod_socket *s, const char *reason)
{
    struct cbsock *c = siod_socket_data(s);
    struct job *j;

    if (c == NULL || c->conf == NULL || c->conf->url[SIOD_CB_DISCONNECT] == NULL)
        return;
    j = calloc(1, sizeof *j);
    if (j != NULL) {
        j->kind = SIOD_CB_DISCONNECT;
        j->reason = strdup(reason);
        j->sock = siod_cb_request_socket(s);     /* still in its rooms */
    }
    if (j == NULL || j->reason == NULL || j->sock == NULL) {
        job_free(j);
        siod_log_limited(SIOD_LOG_WARN, "callback disconnect (socket %s): "
                         "out of memory", siod_socket_id(s));
        return;
    }
    enqueue(c, j);
}

const siod_app_module siod_cb_module = {
    .abi = SIOD_APP_ABI,
    .name = "callback",
    .init = cb_init,
    .destroy = cb_destroy,
    .connect_mw = cb_connect,
    .on_event = cb_event,
    .on_disconnecting = cb_disconnecting,
};

/* ---- the layer's public calls ----------------------------------------------- */

int siod_callback_conf(enum siod_callback_opt opt, const char *arg)
{
    static int registered;
    const char *nsp;
    char spec[1024];
    int rc = siod_cb_conf_parse(opt, arg, &nsp);

    if (rc < 0 || nsp == NULL)
        return rc;
    if (!registered) {
        if ((rc = siod_app_loader_conf_builtin(&siod_cb_module)) < 0) {
            fprintf(stderr, "siod: --callback: %s\n", siod_strerror(rc));
            return rc;
        }
        registered = 1;
    }
    if (snprintf(spec, sizeof spec, "%s=%s", nsp, siod_cb_module.name) >=
        (int)sizeof spec) {
        fprintf(stderr, "siod: --callback: namespace name too long\n");
        return -EINVAL;
    }
    return siod_app_loader_conf_nsp(spec);
}

void siod_callback_set_loop(struct event_base *base)
{
    siod_cb_settings_get()->base = base;
}

void siod_callback_conf_free(void)
{
    siod_cb_conf_free();
}
