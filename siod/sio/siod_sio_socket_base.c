/* The socket object: one client's membership of one namespace as the rest
 * of the layer and applications use it (struct siod_socket in
 * siod_sio_int.h): its references, properties, per-socket data, rooms
 * (through its namespace's adapter) and writing packets to its client.
 * Its states and traffic are siod_sio_socket.c's, above it. A socket is
 * reference-counted: the layer holds one while it is pending or
 * connected, callbacks and applications hold others. */
#include "siod_sio_int.h"
#include "core/siod_core.h"
#include "sio_json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- references ---------------------------------------------------------- */

siod_socket *siod_socket_ref(siod_socket *s)
{
    s->refs++;
    return s;
}

void siod_socket_unref(siod_socket *s)
{
    if (s == NULL || --s->refs > 0)
        return;
    siod_sio_recovery_forget(s);
    if (s->data_free != NULL)
        s->data_free(s->data);
    free(s->auth);
    free(s->rec_offset);
    siod_sio_missed_free(s->rec_missed);
    free(s->hs_json);
    free(s->data_json);
    siod_sio_hs_unref(s->hs);
    siod_sio_nsp_unref(s->nsp);
    free(s);
}

/* ---- writing ------------------------------------------------------------- */

int siod_sio_socket_write(siod_socket *s, const siod_sio_out *o,
                          unsigned flags)
{
    if (s->state != SOCK_CONNECTED || s->client == NULL)
        return -EPIPE;
    return siod_sio_client_write(s->client, o, flags);
}

/* ---- public API: the socket ---------------------------------------------- */

const char *siod_socket_id(const siod_socket *s)
{
    return s->id;
}

int siod_socket_connected(const siod_socket *s)
{
    return s->state == SOCK_CONNECTED;
}

siod_nsp *siod_socket_nsp(const siod_socket *s)
{
    return s->nsp;
}

const char *siod_socket_transport(const siod_socket *s)
{
    siod_session *sess = s->client != NULL
                             ? siod_sio_client_session(s->client) : NULL;
    return sess != NULL ? siod_session_transport(sess) : NULL;
}

void siod_socket_set_data(siod_socket *s, void *data, void (*free_fn)(void *))
{
    if (s->data_free != NULL && s->data != data)
        s->data_free(s->data);
    s->data = data;
    s->data_free = free_fn;
}

void *siod_socket_data(const siod_socket *s)
{
    return s->data;
}

int siod_socket_set_data_json(siod_socket *s, const char *json, size_t len)
{
    char *copy = NULL;
    int rc = 0;
    if (json != NULL) {
        if (len == 0)
            len = strlen(json);
        if (sio_json_validate(json, len, SIOD_SIO_MAX_DEPTH,
                              SIO_JSON_LONE_SURROGATES, NULL) != SIO_OK)
            rc = -EINVAL;
        else if ((copy = strndup(json, len)) == NULL)
            rc = -ENOMEM;
    }
    if (rc == 0) {
        free(s->data_json);
        s->data_json = copy;
        siod_sio_store_redis_touch(s);
    }
    return siod_sio_app_err(rc);
}

const char *siod_socket_data_json(const siod_socket *s)
{
    return s->data_json;
}

/* s joins room, within --max-rooms-per-socket. Returns 0, -EINVAL,
 * -EPIPE (s is closed), -ENOMEM, or -ENOSPC at the limit with
 * why[0..cap) saying so. */
static int join_room(siod_socket *s, const char *room, char *why, size_t cap)
{
    size_t max = siod_sio_config()->max_rooms_per_socket;

    if (s == NULL || room == NULL)
        return -EINVAL;
    if (s->state == SOCK_CLOSED)
        return -EPIPE;
    const siod_adapter_ops *a = s->nsp->aops;
    if (max > 0 && !a->has(s->nsp->adapter, s, room)) {
        /* its own room (joined at connect) is not counted */
        size_t n = a->socket_rooms(s->nsp->adapter, s, NULL, NULL) -
                   (size_t)(a->has(s->nsp->adapter, s, s->id) != 0);
        if (n >= max)
            return siod_err_set(why, cap, -ENOSPC, "socket %s: join "
                                "refused: in %zu rooms on %s "
                                "(--max-rooms-per-socket)", s->id, n,
                                s->nsp->name);
    }
    return a->add(s->nsp->adapter, s, room);
}

/* A refusal at the limit is logged here, where it leaves siod: the
 * application gets only SIOD_ELIMIT (and a broadcast's join nothing). */
int siod_join(siod_socket *s, const char *room)
{
    static siod_log_throttle refusals;
    char why[256];
    /* only observers need to know whether the join changed anything */
    int was_in = siod_sio_observed() && siod_in_room(s, room);
    int rc = join_room(s, room, why, sizeof why);

    if (rc == 0)
        siod_sio_store_redis_touch(s);
    if (rc == -ENOSPC)
        siod_log_throttled(&refusals, SIOD_LOG_INFO, "%s", why);
    else if (rc == 0 && !was_in && siod_sio_observed())
        siod_sio_observe_room(s, room, 1);
    return siod_sio_app_err(rc);
}

int siod_leave(siod_socket *s, const char *room)
{
    int rc = 0;
    if (s == NULL || room == NULL)
        rc = -EINVAL;
    else if (s->state == SOCK_CLOSED)
        rc = -EPIPE;
    else {
        int was_in = siod_sio_observed() && siod_in_room(s, room);
        s->nsp->aops->del(s->nsp->adapter, s, room);
        siod_sio_store_redis_touch(s);
        if (was_in)
            siod_sio_observe_room(s, room, 0);
    }
    return siod_sio_app_err(rc);
}

int siod_in_room(const siod_socket *s, const char *room)
{
    if (s == NULL || room == NULL || s->state == SOCK_CLOSED)
        return 0;
    return s->nsp->aops->has(s->nsp->adapter, s, room);
}

size_t siod_socket_rooms(const siod_socket *s,
                         void (*fn)(void *ud, const char *room), void *ud)
{
    if (s == NULL || s->state == SOCK_CLOSED)
        return 0;
    return s->nsp->aops->socket_rooms(s->nsp->adapter, s, fn, ud);
}
