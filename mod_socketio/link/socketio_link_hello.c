/* Opening the relay link's socket (see socketio_link.c for the whole
 * link): connect to siod, HELLO each way, and the mutual proof of the
 * relay secret (AUTH), siod's first. The thread that opens the link
 * (open_mutex held); calls the descriptor helpers only. */
#include "socketio_link_int.h"

APLOG_USE_MODULE(socketio);

/* Reads exactly len bytes before deadline. Returns APR_SUCCESS, APR_EOF,
 * APR_TIMEUP or an errno status. */
static apr_status_t read_exact(int fd, unsigned char *buf, size_t len,
                               apr_time_t deadline)
{
    ssize_t n;
    apr_status_t rv;

    while (len > 0) {
        n = recv(fd, buf, len, 0);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n == 0)
            return APR_EOF;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return errno;
        if ((rv = socketio_link_wait_fd(fd, POLLIN, deadline)) != APR_SUCCESS)
            return rv;
    }
    return APR_SUCCESS;
}

/* Reads one handshake frame of type want whose body is min_len to
 * max_len bytes into buf (header included) before deadline, and nothing
 * after it. Returns APR_SUCCESS with *f parsed, or an error with *why. */
static apr_status_t read_handshake_frame(int fd, unsigned char *buf,
                                         int want, size_t min_len,
                                         size_t max_len, apr_time_t deadline,
                                         sio_relay_frame *f, const char **why)
{
    sio_relay_frame h;
    size_t used;
    apr_status_t rv;

    if ((rv = read_exact(fd, buf, SIO_RELAY_HDR_LEN, deadline))
        != APR_SUCCESS) {
        *why = rv == APR_EOF ? (want == SIO_R_HELLO
                                    ? "siod closed the link before HELLO "
                                      "(refused?)"
                                    : "siod closed the link during the "
                                      "handshake (refused?)")
                             : "no handshake answer from siod";
        return rv;
    }
    if (sio_relay_parse_header(buf, SIO_RELAY_HDR_LEN, max_len, &h) != SIO_OK
        || h.type != want || h.len < min_len) {
        *why = want == SIO_R_HELLO ? "siod's first frame is not a HELLO"
                                   : "siod's second frame is not an AUTH";
        return APR_EGENERAL;
    }
    if ((rv = read_exact(fd, buf + SIO_RELAY_HDR_LEN, h.len, deadline))
        != APR_SUCCESS) {
        *why = "truncated handshake frame from siod";
        return rv;
    }
    if (sio_relay_parse(buf, SIO_RELAY_HDR_LEN + h.len, max_len, &used, f)
        != SIO_OK) {
        *why = "malformed handshake frame from siod";
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

/* A cluster node's siod must name its node, the one SocketIONode names if
 * it is set: sessions it opens would otherwise carry no tag, or another
 * node's, and their requests would be forwarded away. Returns APR_SUCCESS
 * or APR_EGENERAL with *why (in whybuf) also logged at error, once a
 * minute per child, as a configuration error. */
static apr_status_t check_node(socketio_link *link, const sio_relay_hello *h,
                               const char **why, char *whybuf,
                               apr_size_t whylen)
{
    char node[SIO_RELAY_NODE_LEN + 1];

    if (!link->cluster)
        return APR_SUCCESS;
    memcpy(node, h->node, SIO_RELAY_NODE_LEN);
    node[SIO_RELAY_NODE_LEN] = '\0';
    if (!node[0])
        apr_snprintf(whybuf, whylen, "siod runs without --node, but "
                     "SocketIONode or SocketIOPeer make this server a "
                     "cluster node: start siod with --node=%s",
                     link->want_node[0] ? link->want_node : "TAG");
    else if (link->want_node[0] && strcmp(node, link->want_node))
        apr_snprintf(whybuf, whylen, "siod runs as node '%s' (--node) but "
                     "SocketIONode is '%s'", node, link->want_node);
    else
        return APR_SUCCESS;
    *why = whybuf;
    if (apr_time_now() - link->proof_logged_at >= LINK_PROOF_LOG_EVERY) {
        link->proof_logged_at = apr_time_now();
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, link->s,
                     "mod_socketio: relay link to %s refused: %s",
                     link->path, whybuf);
    }
    return APR_EGENERAL;
}

/* See socketio_link_int.h. */
apr_status_t socketio_link_connect(socketio_link *link, int *fdp,
                                   apr_size_t *peer_max, unsigned *peer_caps,
                                   apr_uint32_t *peer_node,
                                   const char **why, char *whybuf,
                                   apr_size_t whylen)
{
    struct sockaddr_un sun;
    unsigned char out[SIO_RELAY_HDR_LEN + SIO_RELAY_HELLO_LEN];
    unsigned char in[SIO_RELAY_HDR_LEN + SIO_RELAY_HELLO_NODE_LEN];
    unsigned char nonce[SIO_RELAY_NONCE_LEN];      /* ours */
    unsigned char peer_nonce[SIO_RELAY_NONCE_LEN]; /* siod's */
    unsigned char proof[SIO_RELAY_PROOF_LEN];
    apr_time_t deadline = apr_time_now() +
                          apr_time_from_msec(LINK_OPEN_TIMEOUT_MS);
    sio_relay_frame f;
    sio_relay_hello h;
    struct iovec iov;
    socklen_t elen;
    int fd, err;
    apr_status_t rv;

    if (!link->secret) {
        *why = "no relay secret (SocketIODaemonSecret could not be read at "
               "startup; see the error log then)";
        return APR_EGENERAL;
    }
    if ((rv = apr_generate_random_bytes(nonce, sizeof(nonce)))
        != APR_SUCCESS) {
        *why = "no random bytes for the handshake";
        return rv;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *why = "socket() failed";
        return errno;
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    apr_cpystrn(sun.sun_path, link->path, sizeof(sun.sun_path));
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        if (errno != EINPROGRESS && errno != EAGAIN && errno != EINTR) {
            rv = errno;
            *why = "connect() failed";
            goto fail;
        }
        rv = socketio_link_wait_fd(fd, POLLOUT, deadline);
        if (rv != APR_SUCCESS) {
            *why = "connect() timed out";
            goto fail;
        }
        elen = sizeof(err);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err) {
            rv = err ? err : errno;
            *why = "connect() failed";
            goto fail;
        }
    }

    memset(&f, 0, sizeof(f));
    f.type = SIO_R_HELLO;
    f.len = SIO_RELAY_HELLO_LEN;
    sio_relay_write_header(out, &f);
    memset(&h, 0, sizeof(h));
    h.magic = SIO_RELAY_MAGIC;
    h.version = SIO_RELAY_VERSION;
    h.pid = (uint32_t)getpid();
    h.max_body = SIO_RELAY_MAX_BODY;
    /* The module delivers WS_FANOUT on both the reactor and thread paths,
     * and routes by siod's node tag. */
    h.caps = SIO_RELAY_CAP_FANOUT | SIO_RELAY_CAP_NODE | SIO_RELAY_CAP_PEERS;
    /* ... and, unless SocketIOHandoverTimeout is 0, holds WebSockets
     * across a restart of siod. */
    if (link->handover)
        h.caps |= SIO_RELAY_CAP_HANDOVER;
    memcpy(h.nonce, nonce, sizeof(nonce));
    sio_relay_hello_encode(out + SIO_RELAY_HDR_LEN, &h);
    iov.iov_base = out;
    iov.iov_len = sizeof(out);
    if ((rv = socketio_link_write_all(fd, &iov, 1, deadline)) != APR_SUCCESS) {
        *why = "sending HELLO failed";
        goto fail;
    }

    /* Read exactly the two frames so nothing after them is consumed. A
     * version 1 siod's shorter HELLO still decodes, to name its version. */
    if ((rv = read_handshake_frame(fd, in, SIO_R_HELLO,
                                   SIO_RELAY_HELLO_V1_LEN,
                                   SIO_RELAY_HELLO_NODE_LEN, deadline, &f,
                                   why))
        != APR_SUCCESS)
        goto fail;
    if (sio_relay_hello_decode(f.body, f.len, &h) != SIO_OK) {
        rv = APR_EGENERAL;
        *why = "malformed HELLO from siod";
        goto fail;
    }
    if (h.version != SIO_RELAY_VERSION) {
        rv = APR_EGENERAL;
        apr_snprintf(whybuf, whylen, "siod speaks relay protocol version "
                     "%u, this module %u", (unsigned)h.version,
                     (unsigned)SIO_RELAY_VERSION);
        *why = whybuf;
        goto fail;
    }
    if ((rv = check_node(link, &h, why, whybuf, whylen)) != APR_SUCCESS)
        goto fail;
    *peer_max = h.max_body && h.max_body < SIO_RELAY_MAX_BODY
                    ? h.max_body : SIO_RELAY_MAX_BODY;
    *peer_caps = h.caps;
    *peer_node = socketio_link_pack_node(h.node);
    memcpy(peer_nonce, h.nonce, sizeof(peer_nonce));

    if ((rv = read_handshake_frame(fd, in, SIO_R_AUTH, SIO_RELAY_PROOF_LEN,
                                   SIO_RELAY_PROOF_LEN, deadline, &f, why))
        != APR_SUCCESS)
        goto fail;
    sio_relay_proof(link->secret->key, link->secret->len, SIO_RELAY_ROLE_SIOD,
                    nonce, peer_nonce, proof);
    if (!sio_relay_proof_ok(f.body, proof)) {
        rv = APR_EGENERAL;
        apr_snprintf(whybuf, whylen, "siod does not prove the relay secret "
                     "in %s (siod -k names another file, or it changed "
                     "since httpd started: restart httpd)",
                     link->secret->path);
        *why = whybuf;
        /* A configuration error, not an outage: said even while an
         * outage is already logged, once a minute per child. */
        if (apr_time_now() - link->proof_logged_at >= LINK_PROOF_LOG_EVERY) {
            link->proof_logged_at = apr_time_now();
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, link->s,
                         "mod_socketio: relay link to %s refused: %s",
                         link->path, whybuf);
        }
        goto fail;
    }

    sio_relay_proof(link->secret->key, link->secret->len,
                    SIO_RELAY_ROLE_MODULE, nonce, peer_nonce, proof);
    memset(&f, 0, sizeof(f));
    f.type = SIO_R_AUTH;
    f.len = SIO_RELAY_PROOF_LEN;
    sio_relay_write_header(in, &f);
    memcpy(in + SIO_RELAY_HDR_LEN, proof, sizeof(proof));
    iov.iov_base = in;
    iov.iov_len = SIO_RELAY_HDR_LEN + SIO_RELAY_PROOF_LEN;
    if ((rv = socketio_link_write_all(fd, &iov, 1, deadline)) != APR_SUCCESS) {
        *why = "sending AUTH failed";
        goto fail;
    }
    memset(proof, 0, sizeof(proof));
    *fdp = fd;
    return APR_SUCCESS;

fail:
    memset(proof, 0, sizeof(proof));
    close(fd);
    return rv;
}
