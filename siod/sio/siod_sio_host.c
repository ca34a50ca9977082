/* The adapter's host: the Socket.IO layer's side of adapter/siod_adapter.h.
 * Every adapter a namespace creates gets these ops, its only way back into
 * this layer: the per-socket slot, references, the multi-send of
 * broadcasts, broadcast acks, and the socket operations of the public
 * API. */
#include "siod_sio_int.h"

_Static_assert(SIOD_ADAPTER_VOLATILE == SIOD_EMIT_VOLATILE &&
               SIOD_ADAPTER_NO_COMPRESS == SIOD_EMIT_NO_COMPRESS,
               "an adapter's flags are the host's emit flags");

static void *host_slot(const siod_socket *s)
{
    return s->aslot;
}

static void host_set_slot(siod_socket *s, void *slot)
{
    s->aslot = slot;
}

/* A broadcast's join or leave (siod_bcast_join, a cluster's remote
 * request) is the application's siod_join / siod_leave for each socket:
 * those log what the operator should see (a join past
 * --max-rooms-per-socket); nobody above waits for the result. */
static void host_join(siod_socket *s, const char *room)
{
    (void)siod_join(s, room);
}

static void host_leave(siod_socket *s, const char *room)
{
    (void)siod_leave(s, room);
}

const siod_adapter_host siod_sio_adapter_host = {
    .slot = host_slot,
    .set_slot = host_set_slot,
    .connected = siod_socket_connected,
    .ref = siod_socket_ref,
    .unref = siod_socket_unref,
    .write = siod_sio_sockets_write,
    .expect = siod_sio_socket_expect,
    .ack_count = siod_sio_ackwait_count,
    .join = host_join,
    .leave = host_leave,
    .disconnect = siod_disconnect,
};
