/* The adapter's host: the Socket.IO layer's side of adapter/siod_adapter.h.
 * Every adapter a namespace creates gets these ops, its only way back into
 * this layer: the per-socket slot, references, the multi-send of
 * broadcasts, broadcast acks, and the socket operations of the public
 * API. */
#include "siod_sio_int.h"

#include <stdlib.h>
#include <string.h>

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

struct describe {
    siod_sio_text t;
    int failed, first;
};

static void describe_room(void *ud, const char *room)
{
    struct describe *d = ud;
    char *q = siod_json_fmt("%Q", room);
    if (q == NULL || (!d->first && siod_sio_text_add(&d->t, ",", 1) < 0) ||
        siod_sio_text_add(&d->t, q, strlen(q)) < 0)
        d->failed = 1;
    d->first = 0;
    free(q);
}

/* {"id","handshake","rooms","data"} as the reference's fetchSockets
 * answer holds a socket (data {} when the application set none, as the
 * reference's socket.data starts). */
static char *host_describe(siod_socket *s)
{
    struct describe d = { { NULL, 0, 0 }, 0, 1 };
    const char *hs = siod_handshake_json(s);
    const char *data = siod_socket_data_json(s);
    char *head = siod_json_fmt("{\"id\":%Q,\"handshake\":", s->id);

    if (head == NULL || hs == NULL) {
        free(head);
        return NULL;
    }
    d.failed = siod_sio_text_add(&d.t, head, strlen(head)) < 0 ||
               siod_sio_text_add(&d.t, hs, strlen(hs)) < 0 ||
               siod_sio_text_add(&d.t, ",\"rooms\":[", 10) < 0;
    free(head);
    if (!d.failed && s->nsp != NULL)
        s->nsp->aops->socket_rooms(s->nsp->adapter, s, describe_room, &d);
    if (d.failed ||
        siod_sio_text_add(&d.t, "],\"data\":", 9) < 0 ||
        siod_sio_text_add(&d.t, data != NULL ? data : "{}",
                          data != NULL ? strlen(data) : 2) < 0 ||
        siod_sio_text_add(&d.t, "}", 1) < 0) {
        free(d.t.p);
        return NULL;
    }
    return d.t.p;
}

/* One socket's wait for its answer to another server's broadcast. */
struct rack {
    siod_adapter_ack_fn fn;
    void *ud;
};

static void rack_cb(void *ud, siod_socket *s, int err, const siod_args *res)
{
    struct rack *r = ud;
    siod_adapter_bin small[8], *bins = small;
    const char *json;
    size_t len;

    if (err != SIOD_OK || res == NULL) {
        r->fn(r->ud, 0, NULL, 0, NULL, 0);
        free(r);
        return;
    }
    /* the reference keeps the first argument; none is undefined: null */
    if (siod_arg_raw(res, 0, &json, &len) != SIOD_OK) {
        json = "null";
        len = 4;
    }
    if (res->nbins > sizeof small / sizeof small[0])
        bins = malloc(res->nbins * sizeof *bins);
    if (bins == NULL) {
        r->fn(r->ud, 0, NULL, 0, NULL, 0);
    } else {
        for (unsigned i = 0; i < res->nbins; i++)
            bins[i] = (siod_adapter_bin){ res->bins[i].data, res->bins[i].len };
        r->fn(r->ud, 1, json, len, bins, res->nbins);
    }
    if (bins != small)
        free(bins);
    free(r);
}

/* The packet gets one ack id of nsp's for every recipient (each socket
 * awaits its own answer), as the reference's broadcastWithAck does. */
static size_t host_send_with_ack(siod_nsp *nsp, siod_socket *const *v,
                                 size_t n, const siod_sio_out *pkt,
                                 unsigned flags, unsigned timeout_ms,
                                 siod_adapter_ack_fn fn, void *ud)
{
    struct sio_packet_opts po = { pkt->natts > 0 ? pkt->natts : 1,
                                  SIOD_SIO_MAX_DEPTH,
                                  SIO_JSON_LONE_SURROGATES };
    struct sio_packet p;
    siod_sio_out out = { NULL, pkt->atts, pkt->natts };
    size_t len, sent = 0;

    if (sio_packet_parse((const char *)siod_buf_data(pkt->head),
                         pkt->head->len, &po, &p) != SIO_OK || p.has_id)
        return 0;
    p.has_id = 1;
    p.id = nsp->next_id++;
    len = sio_packet_encoded_size(&p);
    out.head = siod_buf_new(len);
    if (out.head == NULL ||
        sio_packet_encode(&p, (char *)siod_buf_data(out.head), len, &len) !=
            SIO_OK) {
        siod_buf_unref(out.head);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        struct rack *r = malloc(sizeof *r);
        if (r == NULL)
            continue;
        r->fn = fn;
        r->ud = ud;
        if (siod_sio_ack_await(v[i], p.id, rack_cb, r, timeout_ms) < 0) {
            free(r);
            continue;
        }
        /* a failed write closes the session: the wait then fails */
        (void)siod_sio_socket_write(v[i], &out, flags);
        sent++;
    }
    siod_buf_unref(out.head);            /* the attachments are pkt's */
    return sent;
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
    .ack_hold = siod_sio_ackwait_hold,
    .ack_release = siod_sio_ackwait_release,
    .ack_finished = siod_sio_ackwait_finished,
    .ack_answer = siod_sio_ackwait_answer,
    .join = host_join,
    .leave = host_leave,
    .disconnect = siod_disconnect,
    .id = siod_socket_id,
    .describe = host_describe,
    .send_with_ack = host_send_with_ack,
    .server_event = siod_sio_server_event,
};
