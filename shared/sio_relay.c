/* The relay protocol codec (module <-> siod): frame headers, the HELLO
 * body, the key/value lists of OPEN and UPGRADE and the WS_FANOUT body.
 * Integers are big-endian and read byte by byte (sio_be.h), so nothing
 * depends on the caller's buffer alignment. */
#include <string.h>

#include "sio_be.h"
#include "sio_relay.h"
#include "sio_sha256.h"

static int type_known(unsigned t)
{
    return (t >= SIO_R_HELLO && t <= SIO_R_API) ||
           (t >= SIO_R_RESPONSE && t <= SIO_R_WS_FANOUT);
}

/* Returns SIO_OK, SIO_AGAIN, SIO_EPROTO or SIO_ETOOBIG (see the header).
 * max_body is capped at SIO_RELAY_MAX_BODY. */
int sio_relay_parse_header(const unsigned char *buf, size_t len,
                           size_t max_body, sio_relay_frame *out)
{
    uint32_t blen;
    unsigned type;

    if (buf == NULL && len > 0)
        return SIO_EINVAL;
    if (len < SIO_RELAY_HDR_LEN)
        return SIO_AGAIN;
    blen = sio_be32_get(buf);
    type = buf[4];
    if (!type_known(type))
        return SIO_EPROTO;
    if (max_body > SIO_RELAY_MAX_BODY)
        max_body = SIO_RELAY_MAX_BODY;
    if (blen > max_body)
        return SIO_ETOOBIG;
    out->type = (uint8_t)type;
    out->flags = buf[5];
    out->status = sio_be16_get(buf + 6);
    out->conn = sio_be64_get(buf + 8);
    memcpy(out->sid, buf + 16, SIO_SID_LEN);
    out->len = blen;
    out->body = NULL;
    return SIO_OK;
}

/* Returns SIO_OK, SIO_AGAIN, SIO_EPROTO or SIO_ETOOBIG (see the header).
 * The header is validated as soon as its 36 bytes are in, so an oversized or
 * garbage frame is refused before the caller buffers its body. out->body
 * points into buf. */
int sio_relay_parse(const unsigned char *buf, size_t len, size_t max_body,
                    size_t *used, sio_relay_frame *out)
{
    sio_relay_frame h;
    int rc = sio_relay_parse_header(buf, len, max_body, &h);

    if (rc != SIO_OK)
        return rc;
    if (len - SIO_RELAY_HDR_LEN < h.len)
        return SIO_AGAIN;
    *out = h;
    out->body = buf + SIO_RELAY_HDR_LEN;
    *used = SIO_RELAY_HDR_LEN + (size_t)h.len;
    return SIO_OK;
}

/* Writes exactly SIO_RELAY_HDR_LEN bytes; f->body is not looked at. */
void sio_relay_write_header(unsigned char *hdr, const sio_relay_frame *f)
{
    sio_be32_put(hdr, f->len);
    hdr[4] = f->type;
    hdr[5] = f->flags;
    sio_be16_put(hdr + 6, f->status);
    sio_be64_put(hdr + 8, f->conn);
    memcpy(hdr + 16, f->sid, SIO_SID_LEN);
}

/* Writes SIO_RELAY_HELLO_LEN bytes, and the node field after them when
 * h->node names a tag; returns the length. */
size_t sio_relay_hello_encode(unsigned char *out, const sio_relay_hello *h)
{
    sio_be32_put(out, h->magic);
    sio_be16_put(out + 4, h->version);
    sio_be16_put(out + 6, h->caps);
    sio_be32_put(out + 8, h->pid);
    sio_be32_put(out + 12, h->max_body);
    memcpy(out + SIO_RELAY_HELLO_V1_LEN, h->nonce, SIO_RELAY_NONCE_LEN);
    if (h->node[0] == '\0')
        return SIO_RELAY_HELLO_LEN;
    memcpy(out + SIO_RELAY_HELLO_LEN, h->node, SIO_RELAY_NODE_LEN);
    return SIO_RELAY_HELLO_NODE_LEN;
}

/* Returns 1 when node[0..SIO_RELAY_NODE_LEN) is a valid tag padded with
 * NULs. */
static int node_field_ok(const unsigned char *node)
{
    size_t n = 0;

    while (n < SIO_RELAY_NODE_LEN && node[n] != 0)
        n++;
    for (size_t i = n; i < SIO_RELAY_NODE_LEN; i++) {
        if (node[i] != 0)
            return 0;
    }
    return sio_node_tag_valid((const char *)node, n);
}

/* Returns SIO_OK or SIO_EPROTO (see the header). Every caps bit is passed
 * on; the caller ignores those it does not know. */
int sio_relay_hello_decode(const unsigned char *buf, size_t len,
                           sio_relay_hello *out)
{
    uint16_t version;

    if (buf == NULL ||
        (len != SIO_RELAY_HELLO_LEN && len != SIO_RELAY_HELLO_V1_LEN &&
         len != SIO_RELAY_HELLO_NODE_LEN))
        return SIO_EPROTO;
    if (sio_be32_get(buf) != SIO_RELAY_MAGIC)
        return SIO_EPROTO;
    version = sio_be16_get(buf + 4);
    /* The nonce came with version 2: a body must match its version. */
    if ((len != SIO_RELAY_HELLO_V1_LEN) != (version >= 2))
        return SIO_EPROTO;
    if (len == SIO_RELAY_HELLO_NODE_LEN &&
        !node_field_ok(buf + SIO_RELAY_HELLO_LEN))
        return SIO_EPROTO;
    out->magic = SIO_RELAY_MAGIC;
    out->version = version;
    out->caps = sio_be16_get(buf + 6);
    out->pid = sio_be32_get(buf + 8);
    out->max_body = sio_be32_get(buf + 12);
    memset(out->nonce, 0, SIO_RELAY_NONCE_LEN);
    memset(out->node, 0, SIO_RELAY_NODE_LEN);
    if (len != SIO_RELAY_HELLO_V1_LEN)
        memcpy(out->nonce, buf + SIO_RELAY_HELLO_V1_LEN, SIO_RELAY_NONCE_LEN);
    if (len == SIO_RELAY_HELLO_NODE_LEN)
        memcpy(out->node, buf + SIO_RELAY_HELLO_LEN, SIO_RELAY_NODE_LEN);
    return SIO_OK;
}

/* Labels that keep the two roles' proofs apart (never a prefix of one
 * another, so no proof of one role is one of the other). */
static const char label_module[] = "SIOR relay v2 proof: module";
static const char label_siod[] = "SIOR relay v2 proof: siod";

/* Writes SIO_RELAY_PROOF_LEN bytes; an unknown role gets the siod label,
 * which only siod sends. */
void sio_relay_proof(const unsigned char *key, size_t key_len, int role,
                     const unsigned char *nonce_module,
                     const unsigned char *nonce_siod,
                     unsigned char out[SIO_RELAY_PROOF_LEN])
{
    const char *label = role == SIO_RELAY_ROLE_MODULE ? label_module
                                                      : label_siod;
    const void *parts[3];
    size_t lens[3];

    parts[0] = label;
    lens[0] = strlen(label) + 1;   /* the NUL ends the label */
    parts[1] = nonce_module;
    lens[1] = SIO_RELAY_NONCE_LEN;
    parts[2] = nonce_siod;
    lens[2] = SIO_RELAY_NONCE_LEN;
    sio_hmac_sha256(key, key_len, parts, lens, 3, out);
}

/* Returns 1 or 0 without an early exit. */
int sio_relay_proof_ok(const unsigned char *got, const unsigned char *expected)
{
    return sio_equal_ct(got, expected, SIO_RELAY_PROOF_LEN);
}

/* Returns SIO_OK or SIO_EPROTO (see the header). */
int sio_relay_secret_parse(const unsigned char *buf, size_t len,
                           size_t *key_len)
{
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
                       buf[len - 1] == ' ' || buf[len - 1] == '\t'))
        len--;
    if (len < SIO_RELAY_SECRET_MIN || len > SIO_RELAY_SECRET_MAX)
        return SIO_EPROTO;
    *key_len = len;
    return SIO_OK;
}

/* Writes SIO_RELAY_SECRET_GEN_LEN + 1 bytes. */
void sio_relay_secret_format(const unsigned char *raw, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < SIO_RELAY_SECRET_RAW_LEN; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[SIO_RELAY_SECRET_GEN_LEN] = '\n';
}

#define KV_HDR 6
#define KV_KEY_MAX 0xffffu
#define KV_VAL_MAX 0xffffffffu

/* Returns the bytes one pair takes. Lengths beyond what the wire can carry
 * (key > 65535, value > 4 GiB - 1) are cut, exactly as sio_relay_kv_put
 * cuts them, so the two always agree. */
size_t sio_relay_kv_size(size_t key_len, size_t val_len)
{
    if (key_len > KV_KEY_MAX)
        key_len = KV_KEY_MAX;
    if (val_len > KV_VAL_MAX)
        val_len = KV_VAL_MAX;
    return KV_HDR + key_len + val_len;
}

/* Returns the bytes written (== sio_relay_kv_size(key_len, val_len)). */
size_t sio_relay_kv_put(unsigned char *dst, const char *key, size_t key_len,
                        const char *val, size_t val_len)
{
    if (key_len > KV_KEY_MAX)
        key_len = KV_KEY_MAX;
    if (val_len > KV_VAL_MAX)
        val_len = KV_VAL_MAX;
    sio_be16_put(dst, (uint16_t)key_len);
    sio_be32_put(dst + 2, (uint32_t)val_len);
    if (key_len)
        memcpy(dst + KV_HDR, key, key_len);
    if (val_len)
        memcpy(dst + KV_HDR + key_len, val, val_len);
    return KV_HDR + key_len + val_len;
}

/* Returns SIO_OK (out points into buf), SIO_DONE when *off == len, or
 * SIO_EPROTO for a truncated pair or an offset past the end. */
int sio_relay_kv_next(const unsigned char *buf, size_t len, size_t *off,
                      sio_relay_kv *out)
{
    size_t rest;
    uint64_t klen, vlen;

    if (*off == len)
        return SIO_DONE;
    if (*off > len || buf == NULL)
        return SIO_EPROTO;
    rest = len - *off;
    if (rest < KV_HDR)
        return SIO_EPROTO;
    klen = sio_be16_get(buf + *off);
    vlen = sio_be32_get(buf + *off + 2);
    if (klen + vlen > (uint64_t)(rest - KV_HDR))
        return SIO_EPROTO;
    out->key = (const char *)buf + *off + KV_HDR;
    out->key_len = (size_t)klen;
    out->val = out->key + klen;
    out->val_len = (size_t)vlen;
    *off += KV_HDR + (size_t)klen + (size_t)vlen;
    return SIO_OK;
}

/* Returns SIO_OK with the first pair named key, SIO_DONE if there is none,
 * SIO_EPROTO if the list is malformed before a match is found. */
int sio_relay_kv_find(const unsigned char *buf, size_t len, const char *key,
                      sio_relay_kv *out)
{
    size_t off = 0, klen = strlen(key);
    sio_relay_kv kv;
    int rc;

    while ((rc = sio_relay_kv_next(buf, len, &off, &kv)) == SIO_OK) {
        if (kv.key_len == klen && memcmp(kv.key, key, klen) == 0) {
            *out = kv;
            return SIO_OK;
        }
    }
    return rc;
}

size_t sio_relay_fanout_prefix_len(size_t count)
{
    return SIO_RELAY_FANOUT_COUNT_LEN + count * SIO_RELAY_FANOUT_CONN_LEN;
}

size_t sio_relay_fanout_encode(sio_relay_frame *f, unsigned char *out,
                               const uint64_t *conns, size_t count,
                               size_t msg_len, unsigned flags)
{
    size_t pre;

    if (count == 0 ||
        count > (UINT32_MAX - SIO_RELAY_FANOUT_COUNT_LEN) /
                    SIO_RELAY_FANOUT_CONN_LEN)
        return 0;
    pre = sio_relay_fanout_prefix_len(count);
    if (msg_len > UINT32_MAX - pre)
        return 0;
    memset(f, 0, sizeof *f);
    f->type = SIO_R_WS_FANOUT;
    f->flags = (uint8_t)(flags & (SIO_RF_BINARY | SIO_RF_VOLATILE));
    f->len = (uint32_t)(pre + msg_len);
    sio_be32_put(out, (uint32_t)count);
    for (size_t i = 0; i < count; i++)
        sio_be64_put(out + SIO_RELAY_FANOUT_COUNT_LEN +
                     i * SIO_RELAY_FANOUT_CONN_LEN, conns[i]);
    return pre;
}

int sio_relay_fanout_decode(const unsigned char *buf, size_t len,
                            sio_relay_fanout *out)
{
    uint32_t count;

    if (len < SIO_RELAY_FANOUT_COUNT_LEN)
        return SIO_EPROTO;
    count = sio_be32_get(buf);
    if (count > (len - SIO_RELAY_FANOUT_COUNT_LEN) / SIO_RELAY_FANOUT_CONN_LEN)
        return SIO_EPROTO;
    out->count = count;
    out->conns = buf + SIO_RELAY_FANOUT_COUNT_LEN;
    out->msg = out->conns + (size_t)count * SIO_RELAY_FANOUT_CONN_LEN;
    out->msg_len = len - sio_relay_fanout_prefix_len(count);
    return SIO_OK;
}

uint64_t sio_relay_fanout_conn(const sio_relay_fanout *fo, size_t i)
{
    return sio_be64_get(fo->conns + i * SIO_RELAY_FANOUT_CONN_LEN);
}

/* Returns a static name; "?" for a type the protocol does not define. */
const char *sio_relay_type_name(int type)
{
    switch (type) {
    case SIO_R_HELLO:     return "HELLO";
    case SIO_R_AUTH:      return "AUTH";
    case SIO_R_OPEN:      return "OPEN";
    case SIO_R_UPGRADE:   return "UPGRADE";
    case SIO_R_POLL_GET:  return "POLL_GET";
    case SIO_R_POLL_POST: return "POLL_POST";
    case SIO_R_CANCEL:    return "CANCEL";
    case SIO_R_WS_MSG:    return "WS_MSG";
    case SIO_R_WS_CLOSED: return "WS_CLOSED";
    case SIO_R_ABORT:     return "ABORT";
    case SIO_R_API:       return "API";
    case SIO_R_RESPONSE:  return "RESPONSE";
    case SIO_R_WS_ACCEPT: return "WS_ACCEPT";
    case SIO_R_WS_SEND:   return "WS_SEND";
    case SIO_R_WS_CLOSE:  return "WS_CLOSE";
    case SIO_R_WS_FANOUT: return "WS_FANOUT";
    default:              return "?";
    }
}
