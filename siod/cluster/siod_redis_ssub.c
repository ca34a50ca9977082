/* The subscriber connection of the sharded mode (SSUBSCRIBE), driven by
 * siod itself on its libevent loop: hiredis's non-blocking context writes
 * the commands and its reader parses the replies, which this file reads
 * one by one. hiredis 0.14's async API cannot carry it: it knows only
 * SUBSCRIBE's push replies, and an `smessage` reaching it aborts the
 * process. Every reply is checked before use; none can stop siod. */
#include "siod_cluster.h"
#include "core/siod_core.h"

#include <errno.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct siod_ssub {
    redisContext *rc;
    struct event *rev, *wev;
    siod_ssub_cbs cbs;
    void *ud;
    const char *setup[3];            /* the setup commands still answered,
                                        in order: "AUTH", "SELECT", "PING" */
    unsigned nsetup, next_setup;
    int connected;                   /* the TCP connect completed */
};

void siod_ssub_free(siod_ssub *c)
{
    if (c == NULL)
        return;
    if (c->rev != NULL)
        event_free(c->rev);
    if (c->wev != NULL)
        event_free(c->wev);
    if (c->rc != NULL)
        redisFree(c->rc);
    free(c);
}

/* The connection failed: the owner is told (and forgets c), then c goes. */
static void fail(siod_ssub *c, const char *why)
{
    event_del(c->rev);
    event_del(c->wev);
    c->cbs.down(c->ud, why);
    siod_ssub_free(c);
}

static int is_str(const redisReply *r, const char *s)
{
    size_t n = strlen(s);
    return r->type == REDIS_REPLY_STRING && r->len == n &&
           strncasecmp(r->str, s, n) == 0;
}

/* One reply: a setup answer (in order), a message, or a subscription's
 * confirmation. Returns 0, or -1 with why set when the connection must go
 * (a refused AUTH or SELECT). */
static int on_reply(siod_ssub *c, const redisReply *rep, char *why,
                    size_t cap)
{
    if (c->next_setup < c->nsetup) {
        const char *what = c->setup[c->next_setup++];
        if (rep->type == REDIS_REPLY_ERROR) {
            siod_err_set(why, cap, -EIO, "%s: %.*s", what, (int)rep->len,
                         rep->str);
            return -1;
        }
        if (c->next_setup == c->nsetup)
            c->cbs.ready(c->ud);
        return 0;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        /* e.g. a Redis before 7.0, which has no SSUBSCRIBE */
        siod_log_limited(SIOD_LOG_WARN, "redis: a subscription refused: %.*s",
                         (int)rep->len, rep->str);
        return 0;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 3 ||
        rep->element[0] == NULL || rep->element[1] == NULL ||
        rep->element[2] == NULL)
        return 0;
    if ((is_str(rep->element[0], "smessage") ||
         is_str(rep->element[0], "message")) &&
        rep->element[1]->type == REDIS_REPLY_STRING &&
        rep->element[2]->type == REDIS_REPLY_STRING)
        c->cbs.msg(c->ud, rep->element[1]->str, rep->element[1]->len,
                   (const unsigned char *)rep->element[2]->str,
                   rep->element[2]->len);
    return 0;                        /* (s)subscribe confirmations */
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    siod_ssub *c = arg;
    void *reply;
    char why[256];

    if (redisBufferRead(c->rc) != REDIS_OK) {
        fail(c, c->rc->errstr[0] ? c->rc->errstr : "read error");
        return;
    }
    for (;;) {
        reply = NULL;
        if (redisGetReply(c->rc, &reply) != REDIS_OK) {
            fail(c, c->rc->errstr[0] ? c->rc->errstr : "protocol error");
            return;
        }
        if (reply == NULL)
            return;
        int rc = on_reply(c, reply, why, sizeof why);
        freeReplyObject(reply);
        if (rc < 0) {
            fail(c, why);
            return;
        }
    }
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    siod_ssub *c = arg;
    int done = 0;

    if (!c->connected) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->rc->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err != 0) {
            fail(c, strerror(err));
            return;
        }
        c->connected = 1;
        c->rc->flags |= REDIS_CONNECTED;
    }
    if (redisBufferWrite(c->rc, &done) != REDIS_OK) {
        fail(c, c->rc->errstr[0] ? c->rc->errstr : "write error");
        return;
    }
    if (!done)
        event_add(c->wev, NULL);
}

static void append(siod_ssub *c, int argc, const char **argv)
{
    size_t lens[3];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    redisAppendCommandArgv(c->rc, argc, argv, lens);
}

siod_ssub *siod_ssub_open(struct event_base *base, const siod_redis_url *u,
                          const siod_ssub_cbs *cbs, void *ud, char *why,
                          size_t cap)
{
    siod_ssub *c = calloc(1, sizeof *c);
    if (c == NULL) {
        siod_err_set(why, cap, -ENOMEM, "out of memory");
        return NULL;
    }
    c->cbs = *cbs;
    c->ud = ud;
    c->rc = redisConnectNonBlock(u->host, u->port);
    if (c->rc == NULL || c->rc->err) {
        siod_err_set(why, cap, -EIO, "%s",
                     c->rc != NULL ? c->rc->errstr : "out of memory");
        siod_ssub_free(c);
        return NULL;
    }
    c->rev = event_new(base, c->rc->fd, EV_READ | EV_PERSIST, on_read, c);
    c->wev = event_new(base, c->rc->fd, EV_WRITE, on_write, c);
    if (c->rev == NULL || c->wev == NULL) {
        siod_err_set(why, cap, -ENOMEM, "out of memory");
        siod_ssub_free(c);
        return NULL;
    }
    if (u->password != NULL) {
        const char *auth[3] = { "AUTH", u->user, u->password };
        if (u->user == NULL)
            auth[1] = u->password;
        append(c, u->user != NULL ? 3 : 2, auth);
        c->setup[c->nsetup++] = "AUTH";
    }
    if (u->db != 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", u->db);
        const char *sel[2] = { "SELECT", db };
        append(c, 2, sel);
        c->setup[c->nsetup++] = "SELECT";
    }
    const char *ping[1] = { "PING" };
    append(c, 1, ping);
    c->setup[c->nsetup++] = "PING";
    event_add(c->rev, NULL);
    event_add(c->wev, NULL);         /* writable: the connect completed */
    return c;
}

void siod_ssub_command(siod_ssub *c, const char *cmd, const char *channel)
{
    const char *argv[2] = { cmd, channel };
    append(c, 2, argv);
    if (c->connected && !event_pending(c->wev, EV_WRITE, NULL))
        event_add(c->wev, NULL);
}
