/* What siod_redis.c (the connection) and siod_redis_cmd.c (commands read
 * as strings, and those held while the command connection is not usable)
 * share; nothing else in the layer includes it. */
#ifndef SIOD_REDIS_INT_H
#define SIOD_REDIS_INT_H

#include "siod_cluster.h"

struct redisAsyncContext;

/* Commands waiting, in order, for the command connection. */
typedef struct siod_redis_held siod_redis_held;

/* Returns an empty queue, or NULL (out of memory). */
siod_redis_held *siod_redis_held_new(void);

/* Answers every command still held with ok 0 (in order) and frees h;
 * NULL is a no-op. */
void siod_redis_held_free(siod_redis_held *h);

/* Sends every held command on ac, in order (the command connection has
 * just become usable); h stays, empty. */
void siod_redis_held_send(siod_redis_held *h, struct redisAsyncContext *ac);

/* The command connection's context while it is usable (connected, AUTH,
 * SELECT and its first PING answered), else NULL. */
struct redisAsyncContext *siod_redis_cmd_ctx(const siod_redis *r);

/* r's queue of held commands, or NULL once r is closing. */
siod_redis_held *siod_redis_held_of(const siod_redis *r);

#endif
