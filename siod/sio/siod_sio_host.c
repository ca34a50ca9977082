/* The adapter's host: the Socket.IO layer's side of adapter/siod_adapter.h.
 * Every adapter a namespace creates gets these ops, its only way back into
 * this layer: the per-socket slot, references, the multi-send of
 * broadcasts, broadcast acks, and the socket operations of the public
 * API. */
#include "siod_sio_int.h"

static void *host_slot(const siod_socket *s)
{
    return s->aslot;
}

static void host_set_slot(siod_socket *s, void *slot)
{
    s->aslot = slot;
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
    .join = siod_join,
    .leave = siod_leave,
    .disconnect = siod_disconnect,
};
