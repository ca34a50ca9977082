/* The relay protocol codec (module <-> siod): frame headers, the HELLO
 * body, the key/value lists of OPEN and UPGRADE, the WS_FANOUT body and
 * the PEERS body.
 * Integers are big-endian and read byte by byte (sio_be.h), so nothing
 * depends on the caller's buffer alignment. */
#include <string.h>

#include "sio_be.h"
#include "sio_relay.h"
#include "sio_sha256.h"

/* strncasecmp for ASCII, without the locale (shared/ uses ISO C only). */
static int strncasecmp_ascii(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return x < y ? -1 : 1;
        if (x == '\0')
            return 0;
    }
    return 0;
}

static int type_known(unsigned t)
{
    return (t >= SIO_R_HELLO && t <= SIO_R_WS_RESUME) ||
           (t >= SIO_R_RESPONSE && t <= SIO_R_PEERS);
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

static int host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

static int ipv6_char(char c)
{
    return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
           (c >= '0' && c <= '9') || c == ':' || c == '.';
}

/* See the header. */
int sio_relay_peer_url_valid(const char *url, size_t len)
{
    size_t i, start, port = 0;

    if (url == NULL || len > SIO_RELAY_PEER_URL_MAX)
        return 0;
    if (len > 7 && !strncasecmp_ascii(url, "http://", 7))
        i = 7;
    else if (len > 8 && !strncasecmp_ascii(url, "https://", 8))
        i = 8;
    else
        return 0;
    start = i;
    if (url[i] == '[') {
        for (i++; i < len && ipv6_char(url[i]); i++)
            ;
        if (i == start + 1 || i >= len || url[i] != ']')
            return 0;
        i++;
    } else {
        for (; i < len && host_char(url[i]); i++)
            ;
        if (i == start)
            return 0;
    }
    if (i == len)
        return 1;
    if (url[i] != ':' || ++i == len || len - i > 5)
        return 0;
    for (; i < len; i++) {
        if (url[i] < '0' || url[i] > '9')
            return 0;
        port = port * 10 + (size_t)(url[i] - '0');
    }
    return port >= 1 && port <= 65535;
}

size_t sio_relay_peers_head(unsigned char *out, uint32_t ttl_ms,
                            uint16_t count)
{
    sio_be32_put(out, ttl_ms);
    sio_be16_put(out + 4, count);
    return SIO_RELAY_PEERS_HEAD_LEN;
}

size_t sio_relay_peer_put(unsigned char *out, const char *node,
                          const char *url, size_t url_len)
{
    size_t n = node ? strlen(node) : 0;

    if (n > SIO_RELAY_NODE_LEN || !sio_node_tag_valid(node, n) ||
        !sio_relay_peer_url_valid(url, url_len))
        return 0;
    memset(out, 0, SIO_RELAY_NODE_LEN);
    memcpy(out, node, n);
    out[SIO_RELAY_NODE_LEN] = (unsigned char)url_len;
    memcpy(out + SIO_RELAY_NODE_LEN + 1, url, url_len);
    return SIO_RELAY_PEER_LEN(url_len);
}

int sio_relay_peer_next(const unsigned char *buf, size_t len, size_t *off,
                        sio_relay_peer *out)
{
    size_t o = *off ? *off : SIO_RELAY_PEERS_HEAD_LEN, ulen;

    if (len < SIO_RELAY_PEERS_HEAD_LEN)
        return SIO_EPROTO;
    if (o == len)
        return SIO_DONE;
    if (o > len || len - o < SIO_RELAY_NODE_LEN + 1u)
        return SIO_EPROTO;
    ulen = buf[o + SIO_RELAY_NODE_LEN];
    if (len - o - SIO_RELAY_NODE_LEN - 1u < ulen ||
        !node_field_ok(buf + o))
        return SIO_EPROTO;
    memcpy(out->node, buf + o, SIO_RELAY_NODE_LEN);
    out->node[SIO_RELAY_NODE_LEN] = '\0';
    out->url = (const char *)buf + o + SIO_RELAY_NODE_LEN + 1;
    out->url_len = ulen;
    if (!sio_relay_peer_url_valid(out->url, ulen))
        return SIO_EPROTO;
    *off = o + SIO_RELAY_PEER_LEN(ulen);
    return SIO_OK;
}

int sio_relay_peers_decode(const unsigned char *buf, size_t len,
                           uint32_t *ttl_ms, uint16_t *count)
{
    sio_relay_peer p;
    size_t off = 0;
    unsigned n = 0;
    int rc;

    if (buf == NULL || len < SIO_RELAY_PEERS_HEAD_LEN)
        return SIO_EPROTO;
    if (sio_be16_get(buf + 4) > SIO_RELAY_PEERS_MAX)
        return SIO_EPROTO;
    while ((rc = sio_relay_peer_next(buf, len, &off, &p)) == SIO_OK)
        n++;
    if (rc != SIO_DONE || n != sio_be16_get(buf + 4))
        return SIO_EPROTO;
    *ttl_ms = sio_be32_get(buf);
    *count = (uint16_t)n;
    return SIO_OK;
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
    case SIO_R_WS_RESUME: return "WS_RESUME";
    case SIO_R_RESPONSE:  return "RESPONSE";
    case SIO_R_WS_ACCEPT: return "WS_ACCEPT";
    case SIO_R_WS_SEND:   return "WS_SEND";
    case SIO_R_WS_CLOSE:  return "WS_CLOSE";
    case SIO_R_WS_FANOUT: return "WS_FANOUT";
    case SIO_R_PEERS:     return "PEERS";
    default:              return "?";
    }
}
