/* The peers siod learned through Redis (siod --redis --node, the node
 * registry of docs/cluster.md): siod sends the whole table in a PEERS
 * frame at every heartbeat and when the link opens; the reading thread
 * replaces the link's copy, and request threads look a tag up in it when
 * a session is not this node's and no SocketIOPeer names its node. The
 * table is good for the ttl siod gives it: if siod stops sending (it
 * died, the link is down), the module forgets its peers then. */
#include "socketio_link_int.h"

APLOG_USE_MODULE(socketio);

/* How long a lookup waits for the table on a link that just opened. */
#define PEERS_WAIT_STEP apr_time_from_msec(2)
#define PEERS_WAIT_STEPS 100

/* See socketio_link_int.h. */
apr_status_t socketio_link_peers_init(socketio_link *link)
{
    link->peers = apr_pcalloc(link->pool, SIO_RELAY_PEERS_MAX *
                                              sizeof(*link->peers));
    return apr_thread_mutex_create(&link->peers_mutex,
                                   APR_THREAD_MUTEX_DEFAULT, link->pool);
}

/* See socketio_link_int.h. The body is checked whole before the table
 * changes. */
apr_status_t socketio_link_peers_update(socketio_link *link,
                                        const sio_relay_frame *f)
{
    uint32_t ttl_ms;
    uint16_t count;
    sio_relay_peer p;
    size_t off = 0;
    unsigned n = 0;

    if (sio_relay_peers_decode(f->body, f->len, &ttl_ms, &count) != SIO_OK)
        return APR_EGENERAL;
    apr_thread_mutex_lock(link->peers_mutex);
    while (n < SIO_RELAY_PEERS_MAX &&
           sio_relay_peer_next(f->body, f->len, &off, &p) == SIO_OK) {
        apr_cpystrn(link->peers[n].tag, p.node, sizeof(link->peers[n].tag));
        memcpy(link->peers[n].url, p.url, p.url_len);
        link->peers[n].url[p.url_len] = '\0';
        n++;
    }
    if (n != link->n_peers)
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, link->s, "mod_socketio: "
                     "%u peers learned through Redis (was %u)", n,
                     link->n_peers);
    link->n_peers = n;
    link->peers_until = apr_time_now() + apr_time_from_msec(ttl_ms);
    apr_thread_mutex_unlock(link->peers_mutex);
    apr_atomic_set32(&link->learns, 1);
    apr_atomic_set32(&link->peers_fresh, 1);
    return APR_SUCCESS;
}

/* See socketio_link.h. A siod that runs the node registry says so in its
 * HELLO (SIO_RELAY_CAP_PEERS) and sends its table right after the
 * handshake: on a link that just opened, the lookup waits a moment for it
 * (the link opens on a child's first request that needs siod). */
const char *socketio_link_learned_peer(socketio_link *link, const char *tag,
                                       apr_pool_t *p)
{
    const char *url = NULL;
    unsigned i;

    if (socketio_link_ensure_open(link) == APR_SUCCESS &&
        (link->peer_caps & SIO_RELAY_CAP_PEERS)) {
        for (i = 0; i < PEERS_WAIT_STEPS &&
                    !apr_atomic_read32(&link->peers_fresh); i++)
            apr_sleep(PEERS_WAIT_STEP);
    }
    if (!apr_atomic_read32(&link->learns))
        return NULL;
    apr_thread_mutex_lock(link->peers_mutex);
    if (apr_time_now() < link->peers_until) {
        for (i = 0; i < link->n_peers; i++) {
            if (!strncmp(link->peers[i].tag, tag, SIO_NODE_TAG_LEN) &&
                !link->peers[i].tag[SIO_NODE_TAG_LEN]) {
                url = apr_pstrdup(p, link->peers[i].url);
                break;
            }
        }
    }
    apr_thread_mutex_unlock(link->peers_mutex);
    return url;
}

/* See socketio_link.h. */
int socketio_link_learns(socketio_link *link)
{
    return apr_atomic_read32(&link->learns) != 0;
}
