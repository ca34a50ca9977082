/* The relay link's handshake (siod_link_auth.h): the relay secret set at
 * startup, siod's answer to a module's HELLO, and the check of the
 * module's proof of the secret. No I/O: siod_link.c sends what this
 * writes and refuses the link when this says so. */
#include "siod_relay.h"
#include "siod_link_auth.h"
#include "core/siod_core.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* Capability bits siod_link_auth_offer adds to siod's HELLO. */
static uint16_t offered_caps;

/* The relay secret (siod_link_set_secret); no link is accepted without. */
static unsigned char secret[SIO_RELAY_SECRET_MAX];
static size_t secret_len;

int siod_link_set_secret(const unsigned char *key, size_t len)
{
    if (len < SIO_RELAY_SECRET_MIN || len > sizeof secret)
        return -EINVAL;
    memcpy(secret, key, len);
    secret_len = len;
    return 0;
}

/* Fills buf with n random bytes; returns 0 or getrandom's -errno. */
static int random_bytes(unsigned char *buf, size_t n)
{
    while (n > 0) {
        ssize_t got = getrandom(buf, n, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return errno ? -errno : -EIO;
        buf += got;
        n -= (size_t)got;
    }
    return 0;
}

int siod_link_auth_refused(int rc)
{
    return rc == -EPROTO || rc == -EPROTONOSUPPORT || rc == -EACCES;
}

int siod_link_auth_hello(siod_link_auth *a, const sio_relay_frame *f,
                         unsigned char hello[SIO_RELAY_HELLO_NODE_LEN],
                         size_t *hello_len,
                         unsigned char proof[SIO_RELAY_PROOF_LEN],
                         char *why, size_t cap)
{
    sio_relay_hello h;
    int rc;

    if (sio_relay_hello_decode(f->body, f->len, &h) != SIO_OK)
        return siod_err_set(why, cap, -EPROTO, "invalid HELLO");
    if (h.version != SIO_RELAY_VERSION)
        return siod_err_set(why, cap, -EPROTONOSUPPORT,
                            "relay version %u, expected %u",
                            (unsigned)h.version,
                            (unsigned)SIO_RELAY_VERSION);
    if (secret_len == 0)
        return siod_err_set(why, cap, -EACCES, "siod has no relay secret");
    rc = random_bytes(a->nonce_siod, sizeof a->nonce_siod);
    if (rc < 0)
        return siod_err_set(why, cap, rc, "no random bytes for the "
                            "handshake: %s", siod_strerror(rc));
    memcpy(a->nonce_module, h.nonce, sizeof a->nonce_module);
    a->max_body = h.max_body < SIO_RELAY_MAX_BODY ? h.max_body
                                                   : SIO_RELAY_MAX_BODY;
    a->caps = h.caps;
    a->pid = h.pid;

    /* siod takes the release of a held GET (CANCEL + SIO_RF_KEEP), and
     * says whether a PEERS table follows the handshake */
    h.magic = SIO_RELAY_MAGIC;
    h.version = SIO_RELAY_VERSION;
    h.caps = (uint16_t)(SIO_RELAY_CAP_RELEASE | SIO_RELAY_CAP_API |
                        SIO_RELAY_CAP_HANDOVER |
                        offered_caps);
    h.pid = (uint32_t)getpid();
    h.max_body = SIO_RELAY_MAX_BODY;
    memcpy(h.nonce, a->nonce_siod, sizeof h.nonce);
    /* the node tag, to a module that takes it (SIO_RELAY_CAP_NODE) */
    memset(h.node, 0, sizeof h.node);
    if (a->caps & SIO_RELAY_CAP_NODE)
        memcpy(h.node, siod_sid_node(), strlen(siod_sid_node()));
    *hello_len = sio_relay_hello_encode(hello, &h);
    sio_relay_proof(secret, secret_len, SIO_RELAY_ROLE_SIOD, a->nonce_module,
                    a->nonce_siod, proof);
    return 0;
}

void siod_link_auth_offer(uint16_t caps)
{
    offered_caps = caps;
}

int siod_link_auth_check(const siod_link_auth *a, const sio_relay_frame *f,
                         char *why, size_t cap)
{
    unsigned char want[SIO_RELAY_PROOF_LEN];
    int ok;

    if (f->type != SIO_R_AUTH || f->len != SIO_RELAY_PROOF_LEN)
        return siod_err_set(why, cap, -EPROTO, "%s frame before a proof of "
                            "the relay secret (AUTH)",
                            sio_relay_type_name(f->type));
    sio_relay_proof(secret, secret_len, SIO_RELAY_ROLE_MODULE,
                    a->nonce_module, a->nonce_siod, want);
    ok = sio_relay_proof_ok(f->body, want);
    memset(want, 0, sizeof want);
    if (!ok)
        return siod_err_set(why, cap, -EACCES, "wrong proof of the relay "
                            "secret (AUTH)");
    return 0;
}

void siod_link_auth_clear(siod_link_auth *a)
{
    memset(a, 0, sizeof *a);
}
