/* Commands on siod's command connection to Redis whose replies are read
 * as strings: siod_redis_command fails at once while the connection is
 * not usable; siod_redis_command_held keeps the command (bounded) until
 * the connection is usable again and then sends it, in order with the
 * others held, so that connection state recovery's writes and claims
 * survive a restart of Redis or a siod started before Redis answers. */
#include "siod_cluster.h"
#include "siod_redis_int.h"
#include "core/siod_core.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of commands held past which more fail at once (Redis away a
 * long time must not grow siod's memory without bound). */
#define HELD_MAX_BYTES (32u << 20)
/* Arguments of a held command (recovery's longest, XADD, has 10). */
#define HELD_MAX_ARGS 16

struct strs_req {
    siod_redis_strs_fn fn;
    void *ud;
};

/* A held command: argc arguments, their bytes one after the other. */
struct held_cmd {
    struct held_cmd *next;
    siod_redis_strs_fn fn;
    void *ud;
    int argc;
    size_t bytes;
    size_t *lens;                    /* [argc], then the arguments */
    char data[];
};

struct siod_redis_held {
    struct held_cmd *first, *last;
    size_t bytes;
};

/* Up to this many elements of an array reply are passed on. */
#define STRS_MAX 512

static void strs_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    struct strs_req *q = priv;
    redisReply *rep = reply;
    const char *items[STRS_MAX];
    size_t lens[STRS_MAX], n = 0;

    if (rep != NULL && (rep->type == REDIS_REPLY_STRING ||
                        rep->type == REDIS_REPLY_STATUS)) {
        items[0] = rep->str;
        lens[0] = rep->len;
        q->fn(q->ud, 1, items, lens, 1);
    } else if (rep != NULL && rep->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < rep->elements && n < STRS_MAX; i++, n++) {
            redisReply *e = rep->element[i];
            int str = e->type == REDIS_REPLY_STRING;
            items[n] = str ? e->str : NULL;
            lens[n] = str ? e->len : 0;
        }
        q->fn(q->ud, 1, items, lens, n);
    } else {
        q->fn(q->ud, 0, NULL, NULL, 0);
    }
    free(q);
}

/* Sends on ac (usable); fn(ud, 0, ...) at once if it cannot. */
static void send_now(redisAsyncContext *ac, int argc, const char *const *argv,
                     const size_t *lens, siod_redis_strs_fn fn, void *ud)
{
    struct strs_req *q = malloc(sizeof *q);
    if (q == NULL) {
        fn(ud, 0, NULL, NULL, 0);
        return;
    }
    q->fn = fn;
    q->ud = ud;
    if (redisAsyncCommandArgv(ac, strs_cb, q, argc, (const char **)argv,
                              lens) != REDIS_OK) {
        free(q);
        fn(ud, 0, NULL, NULL, 0);
    }
}

/* See siod_cluster.h. */
void siod_redis_command(siod_redis *r, int argc, const char *const *argv,
                        const size_t *lens, siod_redis_strs_fn fn, void *ud)
{
    redisAsyncContext *ac = siod_redis_cmd_ctx(r);
    if (ac == NULL) {
        fn(ud, 0, NULL, NULL, 0);
        return;
    }
    send_now(ac, argc, argv, lens, fn, ud);
}

/* See siod_cluster.h. */
void siod_redis_command_held(siod_redis *r, int argc,
                             const char *const *argv, const size_t *lens,
                             siod_redis_strs_fn fn, void *ud)
{
    redisAsyncContext *ac = siod_redis_cmd_ctx(r);
    siod_redis_held *h = siod_redis_held_of(r);
    size_t bytes = 0;
    struct held_cmd *c;

    if (ac != NULL || h == NULL) {
        if (ac != NULL)
            send_now(ac, argc, argv, lens, fn, ud);
        else
            fn(ud, 0, NULL, NULL, 0);
        return;
    }
    for (int i = 0; i < argc; i++)
        bytes += lens[i];
    c = h->bytes + bytes <= HELD_MAX_BYTES && argc <= HELD_MAX_ARGS
            ? malloc(sizeof *c + (size_t)argc * sizeof(size_t) + bytes)
            : NULL;
    if (c == NULL) {
        fn(ud, 0, NULL, NULL, 0);
        return;
    }
    c->next = NULL;
    c->fn = fn;
    c->ud = ud;
    c->argc = argc;
    c->bytes = bytes;
    c->lens = (size_t *)(void *)c->data;
    char *p = c->data + (size_t)argc * sizeof(size_t);
    for (int i = 0; i < argc; i++) {
        c->lens[i] = lens[i];
        memcpy(p, argv[i], lens[i]);
        p += lens[i];
    }
    if (h->last != NULL)
        h->last->next = c;
    else
        h->first = c;
    h->last = c;
    h->bytes += bytes;
}

/* See siod_cluster.h. */
int siod_redis_cmd_ready(const siod_redis *r)
{
    return siod_redis_cmd_ctx(r) != NULL;
}

siod_redis_held *siod_redis_held_new(void)
{
    return calloc(1, sizeof(siod_redis_held));
}

/* Unlinks and returns h's first command, or NULL. */
static struct held_cmd *held_pop(siod_redis_held *h)
{
    struct held_cmd *c = h->first;
    if (c == NULL)
        return NULL;
    h->first = c->next;
    if (h->first == NULL)
        h->last = NULL;
    h->bytes -= c->bytes;
    return c;
}

void siod_redis_held_send(siod_redis_held *h, redisAsyncContext *ac)
{
    struct held_cmd *c;
    const char *argv[HELD_MAX_ARGS];

    while ((c = held_pop(h)) != NULL) {
        const char *p = c->data + (size_t)c->argc * sizeof(size_t);
        for (int i = 0; i < c->argc; i++) {
            argv[i] = p;
            p += c->lens[i];
        }
        send_now(ac, c->argc, argv, c->lens, c->fn, c->ud);
        free(c);
    }
}

void siod_redis_held_free(siod_redis_held *h)
{
    struct held_cmd *c;

    if (h == NULL)
        return;
    while ((c = held_pop(h)) != NULL) {
        c->fn(c->ud, 0, NULL, NULL, 0);
        free(c);
    }
    free(h);
}
