/* libFuzzer target for shared/sio_eio.c and shared/sio_eio3.c: iterates a
 * polling payload (decoded in place) as v4 and as v3, checks every packet
 * lies in the buffer and survives an encode/decode round trip (v3: in
 * both payload forms), and decodes the input as a WebSocket message. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "sio_eio.h"
#include "sio_eio3.h"
#include "sio_utf8.h"

static void roundtrip(const sio_eio_packet *p)
{
    size_t n = sio_eio_encoded_len(p, 1), m;
    unsigned char *enc = malloc(n ? n : 1);
    sio_eio_payload_iter it;
    sio_eio_packet q;

    if (enc == NULL)
        return;
    m = sio_eio_encode(enc, p, 1);
    assert(m == n);
    sio_eio_payload_init(&it, enc, n);
    assert(sio_eio_payload_next(&it, &q) == SIO_OK);
    assert(q.type == p->type && q.binary == p->binary && q.len == p->len);
    assert(q.len == 0 || memcmp(q.data, p->data, q.len) == 0);
    assert(sio_eio_payload_next(&it, &q) == SIO_DONE);
    free(enc);
}

/* p encoded as one v3 record in form decodes back to p. */
static void roundtrip3(const sio_eio_packet *p, int form)
{
    size_t n = sio_eio3_encoded_len(p, form), m;
    unsigned char *enc = malloc(n);
    sio_eio3_payload_iter it;
    sio_eio_packet q;

    if (enc == NULL)
        return;
    m = sio_eio3_encode(enc, p, form);
    assert(m == n);
    sio_eio3_payload_init(&it, enc, n);
    assert(sio_eio3_payload_next(&it, &q) == SIO_OK);
    assert(q.type == p->type && q.binary == p->binary && q.len == p->len);
    assert(q.len == 0 || memcmp(q.data, p->data, q.len) == 0);
    assert(sio_eio3_payload_next(&it, &q) == SIO_DONE);
    free(enc);
}

/* The input as a v3 payload. */
static void fuzz_v3(const unsigned char *data, size_t size,
                    unsigned char *buf)
{
    sio_eio3_payload_iter it;
    sio_eio_packet p;
    int rc;

    memcpy(buf, data, size);
    sio_eio3_payload_init(&it, buf, size);
    while ((rc = sio_eio3_payload_next(&it, &p)) == SIO_OK) {
        assert(p.data >= buf && p.data + p.len <= buf + size);
        assert(p.type >= SIO_EIO_OPEN && p.type <= SIO_EIO_NOOP);
        assert(!p.binary || p.type == SIO_EIO_MESSAGE);
        assert(p.binary || sio_utf8_valid(p.data, p.len));
        roundtrip3(&p, SIO_EIO3_TEXT);
        roundtrip3(&p, SIO_EIO3_BINARY);
    }
    assert(rc == SIO_DONE || rc == SIO_EPROTO);
    assert(sio_eio3_payload_next(&it, &p) == rc);
    memcpy(buf, data, size);
    rc = sio_eio3_decode_ws(buf, size, 1, &p);
    assert(rc == SIO_EPROTO || (p.binary && p.data == buf + 1));
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    unsigned char *buf = malloc(size ? size : 1);
    sio_eio_payload_iter it;
    sio_eio_packet p;
    int rc, count = 0;

    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    sio_eio_payload_init(&it, buf, size);
    while ((rc = sio_eio_payload_next(&it, &p)) == SIO_OK) {
        assert(p.data >= buf && p.data + p.len <= buf + size);
        assert(p.type >= SIO_EIO_OPEN && p.type <= SIO_EIO_NOOP);
        assert(!p.binary || p.type == SIO_EIO_MESSAGE);
        assert(p.binary || sio_utf8_valid(p.data, p.len));
        roundtrip(&p);
        count++;
    }
    assert(rc == SIO_DONE || rc == SIO_EPROTO);
    assert(sio_eio_payload_next(&it, &p) == rc);
    assert(rc != SIO_DONE || count > 0);

    memcpy(buf, data, size);
    rc = sio_eio_decode_ws(buf, size, 0, &p);
    assert(rc == SIO_OK || rc == SIO_EPROTO);
    if (rc == SIO_OK) {
        unsigned char *enc = malloc(size);

        assert(p.data == buf + 1 && p.len == size - 1 && !p.binary);
        assert(enc != NULL);
        assert(sio_eio_encode(enc, &p, 0) == size);
        assert(memcmp(enc, data, size) == 0);
        free(enc);
    }
    rc = sio_eio_decode_ws(buf, size, 1, &p);
    assert(rc == SIO_OK && p.binary && p.data == buf && p.len == size);
    fuzz_v3(data, size, buf);
    free(buf);
    return 0;
}
