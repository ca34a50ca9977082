/* The client's connection side: what the rest of the layer uses of a
 * client (struct siod_sio_client in siod_sio_int.h): its Engine.IO session
 * and handshake, writing encoded packets to it, its list of sockets, and
 * its lifetime (a reference count). Decoding what the client sends is
 * siod_sio_client.c's, above every socket file. */
#include "siod_sio_int.h"
#include "core/siod_core.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>

void siod_sio_client_rx_clear(siod_sio_client *c)
{
    for (unsigned i = 0; i < c->rx_n; i++)
        free((void *)c->rx_bins[i].data);
    free(c->rx_bins);
    c->rx_bins = NULL;
    free(c->rx_text);
    c->rx_text = NULL;
    c->rx_n = c->rx_want = 0;
    c->rx_len = 0;
    c->rx_bytes = 0;
    c->rx_active = 0;
}

void siod_sio_client_unref(siod_sio_client *c)
{
    if (--c->refs > 0)
        return;
    siod_sio_client_rx_clear(c);
    if (c->connect_timer != NULL)
        event_free(c->connect_timer);
    siod_sio_hs_unref(c->hs);
    free(c);
}

siod_session *siod_sio_client_session(const siod_sio_client *c)
{
    return c->s;
}

siod_sio_hs *siod_sio_client_hs(const siod_sio_client *c)
{
    return c->hs;
}

void siod_sio_client_link(siod_sio_client *c, siod_socket *s)
{
    siod_socket **pp = &c->sockets;

    /* at the end: whatever goes over a client's sockets does so in the
     * order they connected, as Node's (a closed connection's DISCONNECTs,
     * its disconnect events); a client has a few at most */
    while (*pp != NULL)
        pp = &(*pp)->cnext;
    s->cnext = NULL;
    *pp = s;
}

void siod_sio_client_unlink(siod_sio_client *c, siod_socket *s)
{
    for (siod_socket **pp = &c->sockets; *pp != NULL; pp = &(*pp)->cnext)
        if (*pp == s) {
            *pp = s->cnext;
            s->cnext = NULL;
            return;
        }
}

void siod_sio_client_connected(siod_sio_client *c)
{
    if (c->connect_timer != NULL)
        event_del(c->connect_timer);
}

void siod_sio_client_close(siod_sio_client *c)
{
    if (c->s != NULL)
        siod_session_close(c->s, "forced close");
}

int siod_sio_client_write(siod_sio_client *c, const siod_sio_out *o,
                          unsigned flags)
{
    int rc = 0;
    unsigned sflags = (flags & SIOD_EMIT_VOLATILE) ? SIOD_SEND_VOLATILE : 0;

    if (c == NULL || c->s == NULL)
        return -EPIPE;
    if ((flags & SIOD_EMIT_VOLATILE) && !siod_session_writable(c->s)) {
        siod_log_debug("session %s: volatile packet dropped",
                       siod_session_sid(c->s));
        return 0;
    }
    c->refs++;
    /* a failed send, whatever its code, has closed the session (the layer
     * hears of it in on_close, from the loop): to this caller the socket
     * is closed, and the packet's other parts are not sent */
    if (siod_session_send_shared_ex(c->s, o->head, 0, sflags) < 0)
        rc = -EPIPE;
    for (unsigned i = 0; i < o->natts && rc == 0; i++)
        if (c->s == NULL ||
            siod_session_send_shared_ex(c->s, o->atts[i], 1, sflags) < 0)
            rc = -EPIPE;
    siod_sio_client_unref(c);
    return rc;
}
