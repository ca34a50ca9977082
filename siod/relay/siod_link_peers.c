/* The other nodes learned through Redis, as the PEERS frame every module
 * that takes it (SIO_RELAY_CAP_PEERS) is sent: again at each heartbeat of
 * the node registry (cluster/siod_cluster_nodes.c, wired by siod_main.c),
 * and once to each link as it becomes ready. */
#include "siod_link_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *table;     /* the last PEERS body set, or NULL */
static size_t table_len;

/* Queues the table on l (ready, its module took PEERS). A failure to
 * queue breaks the link or is over the module's limit: logged by the
 * caller's link, nothing to do here. */
static void send_table(siod_link *l)
{
    sio_relay_frame f;
    struct iovec iov = { table, table_len };

    memset(&f, 0, sizeof f);
    f.type = SIO_R_PEERS;
    f.len = (uint32_t)table_len;
    siod_link_peer_ops.send(l, &f, &iov, 1);
}

void siod_link_peers_greet(siod_link *l)
{
    if (table != NULL && (l->auth.caps & SIO_RELAY_CAP_PEERS))
        send_table(l);
}

int siod_links_set_peers(const unsigned char *body, size_t len)
{
    unsigned char *copy = malloc(len ? len : 1);

    if (copy == NULL)
        return -ENOMEM;
    memcpy(copy, body, len);
    free(table);
    table = copy;
    table_len = len;
    /* from now on every module is told a table follows the handshake */
    siod_link_auth_offer(SIO_RELAY_CAP_PEERS);
    for (siod_link *l = siod_links_head(); l != NULL; l = l->next)
        if (l->state == L_READY && (l->auth.caps & SIO_RELAY_CAP_PEERS))
            send_table(l);
    return 0;
}

void siod_links_peers_free(void)
{
    free(table);
    table = NULL;
    table_len = 0;
}
