/* Requests for another node's session: a session id begins with the tag
 * of the node that owns it (siod --node), so a polling request or a
 * WebSocket upgrade that names another node's session is handed to
 * mod_proxy for that node (SocketIOPeer, or the peers siod learned
 * through Redis), the way mod_rewrite's [P] does,
 * and no balancer in front needs sticky sessions (docs/cluster.md). A
 * request a peer forwarded carries SOCKETIO_FORWARD_HEADER and is never
 * forwarded again. */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "apr_strings.h"

#include "socketio_http_int.h"

APLOG_USE_MODULE(socketio);

/* Added to a forwarded request: the tag of the node that forwarded it. */
#define SOCKETIO_FORWARD_HEADER "X-SocketIO-Forwarded"
/* r->notes key for a request whose session no node here owns. */
#define NOTE_REFUSED "socketio-forward-refused"

/* Returns the first sid= value of the query (URL-decoded, from r->pool),
 * or NULL. The handler parses the query fully and refuses repeats. */
static const char *query_sid(request_rec *r)
{
    const char *p = r->args;
    char *val;
    size_t n;

    while (p && *p) {
        if (!strncmp(p, "sid=", 4)) {
            p += 4;
            n = strcspn(p, "&");
            val = apr_pstrmemdup(r->pool, p, n);
            return ap_unescape_urlencoded(val) == OK ? val : NULL;
        }
        p = strchr(p, '&');
        if (p)
            p++;
    }
    return NULL;
}

/* This node's tag: SocketIONode, else what siod announced (which opens
 * the link if it is down). Returns NULL when neither is known. */
static const char *own_node(const socketio_server_conf *sc, char *buf)
{
    if (sc->node)
        return sc->node;
    if (sc->link && socketio_link_node(sc->link, buf))
        return buf;
    return NULL;
}

/* The base URL of the node whose tag sid begins with, or NULL: the peers
 * SocketIOPeer lists first (a configured peer wins), then those siod
 * learned through Redis (socketio_link_learned_peer), which need
 * mod_proxy_http as SocketIOPeer does (checked here: no directive tells
 * post_config that peers will be learned). */
static const char *peer_base(request_rec *r, const socketio_server_conf *sc,
                             const char *sid)
{
    const char *base = sc->peers ? apr_hash_get(sc->peers, sid,
                                                SIO_NODE_TAG_LEN)
                                 : NULL;

    if (base || !sc->link)
        return base;
    base = socketio_link_learned_peer(sc->link, sid, r->pool);
    if (base && !ap_find_linked_module("mod_proxy_http.c")) {
        socketio_log_rerror_limited(APLOG_ERR, 0, r, "mod_socketio: "
                                    "session %s belongs to node '%.*s' "
                                    "(learned through Redis), but requests "
                                    "are forwarded through mod_proxy and "
                                    "mod_proxy_http: load both", sid,
                                    SIO_NODE_TAG_LEN, sid);
        return NULL;
    }
    return base;
}

/* Hands r to mod_proxy for the peer at base (its URL, no trailing '/'):
 * the request's raw path and query follow it, a WebSocket upgrade goes as
 * ws:// (wss://), which mod_proxy_http tunnels with no worker configured.
 * Returns OK (translate_name's: r->filename is set). */
static int hand_to_proxy(request_rec *r, const char *base, const char *own)
{
    const char *up = apr_table_get(r->headers_in, "Upgrade");
    /* path and query as received (an absolute-form target re-encoded) */
    const char *target = r->unparsed_uri && r->unparsed_uri[0] == '/'
                             ? r->unparsed_uri
                             : apr_pstrcat(r->pool,
                                           ap_escape_uri(r->pool, r->uri),
                                           r->args ? "?" : "",
                                           r->args ? r->args : "", NULL);

    if (up && !ap_cstr_casecmp(up, "websocket")) {
        if (!strncasecmp(base, "https:", 6))
            base = apr_pstrcat(r->pool, "wss:", base + 6, NULL);
        else
            base = apr_pstrcat(r->pool, "ws:", base + 5, NULL);
    }
    r->filename = apr_pstrcat(r->pool, "proxy:", base, target, NULL);
    r->handler = "proxy-server";
    r->proxyreq = PROXYREQ_REVERSE;
    /* the path and query go as the client sent them */
    apr_table_setn(r->notes, "proxy-nocanon", "1");
    apr_table_set(r->headers_in, SOCKETIO_FORWARD_HEADER, own);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "mod_socketio: forwarding "
                  "to %s", r->filename + 6);
    return OK;
}

/* See socketio_http_int.h. */
int socketio_forward(request_rec *r, const socketio_server_conf *sc)
{
    char buf[SIO_NODE_TAG_LEN + 1];
    const char *sid, *own, *base, *hop;

    /* Without SocketIONode, siod's tag (own_node) says whether this is a
     * cluster node at all (it may learn its peers through Redis). */
    if (!sc->peers && !sc->node && !sc->link)
        return DECLINED;
    sid = query_sid(r);
    if (!sid || strlen(sid) != SIO_SID_LEN)
        return DECLINED;
    /* Unknown (siod unreachable, no SocketIONode): served here, which
     * answers that siod is unavailable. */
    if (!(own = own_node(sc, buf)) || !memcmp(sid, own, SIO_NODE_TAG_LEN))
        return DECLINED;
    hop = apr_table_get(r->headers_in, SOCKETIO_FORWARD_HEADER);
    if (hop) {
        /* A client sending the header only stops its own request here. */
        socketio_log_rerror_limited(APLOG_WARNING, 0, r, "mod_socketio: "
                                    "session %s belongs to node '%.*s', not "
                                    "this one ('%s'), yet node '%s' "
                                    "forwarded it here: not forwarding it "
                                    "again (do the nodes' SocketIOPeer "
                                    "lists agree?)", sid, SIO_NODE_TAG_LEN,
                                    sid, own, hop);
        apr_table_setn(r->notes, NOTE_REFUSED, "1");
        return DECLINED;
    }
    if (!(base = peer_base(r, sc, sid))) {
        socketio_log_rerror_limited(APLOG_INFO, 0, r, "mod_socketio: "
                                    "session %s names node '%.*s', which is "
                                    "neither this one ('%s') nor a "
                                    "SocketIOPeer%s", sid, SIO_NODE_TAG_LEN,
                                    sid, own, sc->link &&
                                    socketio_link_learns(sc->link)
                                    ? " nor a node siod knows through "
                                      "Redis (one that went away is "
                                      "forgotten once its entry expires)"
                                    : "");
        apr_table_setn(r->notes, NOTE_REFUSED, "1");
        return DECLINED;
    }
    return hand_to_proxy(r, base, own);
}

/* See socketio_http_int.h. */
int socketio_forward_refused(request_rec *r)
{
    return apr_table_get(r->notes, NOTE_REFUSED) != NULL;
}
