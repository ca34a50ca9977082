/* HTTP POSTs for the callback layer: libcurl's multi interface driven by
 * siod's libevent loop (curl_multi_socket_action from socket events and
 * one timer, as libcurl's socket callbacks ask), with a cap on transfers
 * at once (requests past it wait in order), kept-alive connections reused
 * across requests, a deadline per request that counts its wait, and a cap
 * on an answer's size. Everything runs on the loop thread. */
#include "siod_cb_int.h"
#include "core/siod_core.h"

#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct siod_cb_http_req {
    CURL *easy;                      /* NULL while waiting */
    char *url;
    char *body;
    size_t body_len;
    char *answer;
    size_t answer_len, answer_cap;
    int too_big;
    long long deadline_ms;           /* monotonic */
    siod_cb_http_done done;
    void *ud;
    char errbuf[CURL_ERROR_SIZE];
    struct siod_cb_http_req *prev, *next;   /* running or waiting list */
};

/* A socket libcurl asked us to watch. */
struct watch {
    struct event *ev;
    curl_socket_t fd;
};

static struct {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    struct event *kick;              /* runs finished and waiting requests */
    struct curl_slist *headers;
    unsigned max, running;
    struct siod_cb_http_req *run_head;
    struct siod_cb_http_req *wait_head, *wait_tail;
    int global;                      /* curl_global_init done */
} H;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void req_free(struct siod_cb_http_req *r)
{
    if (r == NULL)
        return;
    if (r->easy != NULL)
        curl_easy_cleanup(r->easy);
    free(r->url);
    free(r->body);
    free(r->answer);
    free(r);
}

static void run_unlink(struct siod_cb_http_req *r)
{
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        H.run_head = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void wait_unlink(struct siod_cb_http_req *r)
{
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        H.wait_head = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    else
        H.wait_tail = r->prev;
    r->prev = r->next = NULL;
}

static size_t on_write(char *data, size_t size, size_t n, void *ud)
{
    struct siod_cb_http_req *r = ud;
    size_t len = size * n;

    if (r->answer_len + len > SIOD_CB_MAX_ANSWER) {
        r->too_big = 1;
        return 0;                    /* aborts the transfer */
    }
    if (r->answer_len + len + 1 > r->answer_cap) {
        size_t cap = r->answer_cap ? r->answer_cap : 1024;
        while (cap < r->answer_len + len + 1)
            cap *= 2;
        char *p = realloc(r->answer, cap);
        if (p == NULL)
            return 0;
        r->answer = p;
        r->answer_cap = cap;
    }
    memcpy(r->answer + r->answer_len, data, len);
    r->answer_len += len;
    r->answer[r->answer_len] = '\0';
    return len;
}

/* Hands r to libcurl with what is left of its time. Returns 0, or
 * -ETIMEDOUT (its time ran out waiting) / -ENOMEM / -EIO. */
static int req_start(struct siod_cb_http_req *r)
{
    long long left = r->deadline_ms - now_ms();
    CURL *e;

    if (left <= 0)
        return -ETIMEDOUT;
    e = curl_easy_init();
    if (e == NULL)
        return -ENOMEM;
    r->easy = e;
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, H.headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)left);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "siod-callback/1");
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (curl_multi_add_handle(H.multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        r->easy = NULL;
        return -EIO;
    }
    r->next = H.run_head;
    r->prev = NULL;
    if (H.run_head != NULL)
        H.run_head->prev = r;
    H.run_head = r;
    H.running++;
    return 0;
}

/* Runs r's callback with a failure and frees r. */
static void req_fail(struct siod_cb_http_req *r, int code, const char *why)
{
    siod_cb_http_done done = r->done;
    void *ud = r->ud;
    req_free(r);
    done(ud, code, NULL, 0, why);
}

/* Starts waiting requests while there is room. */
static void start_waiting(void)
{
    while (H.wait_head != NULL && H.running < H.max) {
        struct siod_cb_http_req *r = H.wait_head;
        wait_unlink(r);
        int rc = req_start(r);
        if (rc < 0)
            req_fail(r, rc, rc == -ETIMEDOUT ? "timed out waiting for a "
                     "free transfer" : "could not start the transfer");
    }
}

/* Maps a finished transfer's result to a code of siod_cb_http_done. */
static int result_code(const struct siod_cb_http_req *r, CURLcode res)
{
    switch (res) {
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return -ECONNREFUSED;
    case CURLE_WRITE_ERROR:
        return r->too_big ? -EMSGSIZE : -EIO;
    default:
        return -EIO;
    }
}

/* Finishes every transfer libcurl says is done, then starts waiting
 * ones. Callbacks may post new requests. */
static void check_done(void)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(H.multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct siod_cb_http_req *r = NULL;
        CURL *e = m->easy_handle;
        CURLcode res = m->data.result;
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&r);
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        curl_multi_remove_handle(H.multi, e);
        run_unlink(r);
        H.running--;
        siod_cb_http_done done = r->done;
        void *ud = r->ud;
        if (res == CURLE_OK) {
            done(ud, (int)status, r->answer != NULL ? r->answer : "",
                 r->answer_len, NULL);
        } else {
            const char *why = r->errbuf[0] ? r->errbuf : curl_easy_strerror(res);
            done(ud, result_code(r, res), NULL, 0, why);
        }
        req_free(r);
    }
    start_waiting();
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
    int flags = 0, running;
    if (what & EV_READ)
        flags |= CURL_CSELECT_IN;
    if (what & EV_WRITE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(H.multi, fd, flags, &running);
    check_done();
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    int running;
    curl_multi_socket_action(H.multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done();
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    check_done();
}

/* libcurl's CURLMOPT_SOCKETFUNCTION: watch fd for what it needs. */
static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp,
                     void *socketp)
{
    struct watch *w = socketp;

    if (what == CURL_POLL_REMOVE) {
        if (w != NULL) {
            event_free(w->ev);
            free(w);
            curl_multi_assign(H.multi, fd, NULL);
        }
        return 0;
    }
    short ev = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
               ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (w == NULL) {
        w = calloc(1, sizeof *w);
        if (w == NULL)
            return -1;
        w->fd = fd;
        w->ev = event_new(H.base, fd, ev, on_socket_event, NULL);
        if (w->ev == NULL) {
            free(w);
            return -1;
        }
        curl_multi_assign(H.multi, fd, w);
    } else {
        event_del(w->ev);
        event_assign(w->ev, H.base, fd, ev, on_socket_event, NULL);
    }
    return event_add(w->ev, NULL) < 0 ? -1 : 0;
}

/* libcurl's CURLMOPT_TIMERFUNCTION: one timer, -1 stops it. */
static int on_timer_change(CURLM *multi, long timeout_ms, void *userp)
{
    if (timeout_ms < 0)
        return event_del(H.timer) < 0 ? -1 : 0;
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    return evtimer_add(H.timer, &tv) < 0 ? -1 : 0;
}

int siod_cb_http_init(struct event_base *base, unsigned max_requests,
                      char *why, size_t cap)
{
    if (!H.global) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return siod_err_set(why, cap, -EIO, "libcurl did not start");
        H.global = 1;
    }
    H.base = base;
    H.max = max_requests ? max_requests : 1;
    H.multi = curl_multi_init();
    H.timer = evtimer_new(base, on_timer, NULL);
    H.kick = event_new(base, -1, 0, on_kick, NULL);
    H.headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (H.headers != NULL) {
        /* no 100-continue round trip before a large body */
        struct curl_slist *h = curl_slist_append(H.headers, "Expect:");
        if (h == NULL) {
            curl_slist_free_all(H.headers);
            H.headers = NULL;
        }
    }
    if (H.multi == NULL || H.timer == NULL || H.kick == NULL ||
        H.headers == NULL) {
        siod_cb_http_cleanup();
        return siod_err_set(why, cap, -ENOMEM, "libcurl: out of memory");
    }
    curl_multi_setopt(H.multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(H.multi, CURLMOPT_TIMERFUNCTION, on_timer_change);
    curl_multi_setopt(H.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)H.max);
    curl_multi_setopt(H.multi, CURLMOPT_MAXCONNECTS, (long)H.max);
    return 0;
}

void siod_cb_http_cleanup(void)
{
    while (H.run_head != NULL) {
        struct siod_cb_http_req *r = H.run_head;
        run_unlink(r);
        curl_multi_remove_handle(H.multi, r->easy);
        req_free(r);
    }
    while (H.wait_head != NULL) {
        struct siod_cb_http_req *r = H.wait_head;
        wait_unlink(r);
        req_free(r);
    }
    H.running = 0;
    if (H.multi != NULL)
        curl_multi_cleanup(H.multi);   /* closes the watched sockets */
    H.multi = NULL;
    if (H.timer != NULL)
        event_free(H.timer);
    if (H.kick != NULL)
        event_free(H.kick);
    H.timer = H.kick = NULL;
    curl_slist_free_all(H.headers);
    H.headers = NULL;
    if (H.global)
        curl_global_cleanup();
    H.global = 0;
}

siod_cb_http_req *siod_cb_http_post(const char *url, char *body, size_t len,
                                    unsigned timeout_ms,
                                    siod_cb_http_done done, void *ud)
{
    struct siod_cb_http_req *r = calloc(1, sizeof *r);
    if (r == NULL || (r->url = strdup(url)) == NULL) {
        free(r);
        free(body);
        return NULL;
    }
    r->body = body;
    r->body_len = len;
    r->deadline_ms = now_ms() + timeout_ms;
    r->done = done;
    r->ud = ud;
    /* always through the wait list and the loop, so that done never runs
     * inside this call */
    r->prev = H.wait_tail;
    if (H.wait_tail != NULL)
        H.wait_tail->next = r;
    else
        H.wait_head = r;
    H.wait_tail = r;
    event_active(H.kick, EV_TIMEOUT, 1);
    return r;
}

void siod_cb_http_cancel(siod_cb_http_req *r)
{
    if (r == NULL)
        return;
    if (r->easy != NULL) {
        curl_multi_remove_handle(H.multi, r->easy);
        run_unlink(r);
        H.running--;
        event_active(H.kick, EV_TIMEOUT, 1);
    } else {
        wait_unlink(r);
    }
    req_free(r);
}
