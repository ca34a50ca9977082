/* libFuzzer target for shared/sio_packet.c: parses arbitrary bytes as a
 * Socket.IO packet, and checks that whatever parsed re-encodes to a packet
 * that parses to the same fields and that placeholders are well formed. */
#include "sio_packet.h"

#include <stdlib.h>
#include <string.h>

#define ENSURE(c) do { if (!(c)) __builtin_trap(); } while (0)

static int same(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static void check(const char *s, size_t n, const struct sio_packet_opts *opts)
{
    struct sio_packet pk, back;
    struct sio_placeholder ph[8];
    struct sio_json_span v;
    size_t need, len, found, i;
    char *buf;
    int rc;

    rc = sio_packet_parse(s, n, opts, &pk);
    ENSURE(rc <= 0);
    if (rc != SIO_OK) {
        ENSURE(pk.why != NULL);
        return;
    }
    ENSURE(pk.why == NULL && (int)pk.type >= 0 && pk.type <= 6);
    ENSURE(pk.nsp && pk.nsp_len > 0 && pk.nsp[0] == '/');
    ENSURE(!memchr(pk.nsp, ',', pk.nsp_len));
    ENSURE(!pk.has_id || pk.id <= SIO_PACKET_MAX_ID);
    if (pk.data.ptr)
        ENSURE(pk.data.ptr >= s && pk.data.ptr + pk.data.len <= s + n);
    if (pk.type == SIO_PACKET_EVENT || pk.type == SIO_PACKET_BINARY_EVENT) {
        ENSURE(pk.event.type == SIO_JSON_STRING
               || pk.event.type == SIO_JSON_NUMBER);
        if (pk.event.type == SIO_JSON_STRING)
            ENSURE(!sio_json_string_eq(&pk.event, "connect", 7)
                   && !sio_json_string_eq(&pk.event, "disconnect", 10));
    }

    need = sio_packet_encoded_size(&pk);
    buf = malloc(need);
    ENSURE(buf);
    ENSURE(sio_packet_encode(&pk, buf, need, &len) == SIO_OK && len == need);
    ENSURE(sio_packet_parse(buf, len, opts, &back) == SIO_OK);
    ENSURE(back.type == pk.type && back.attachments == pk.attachments);
    ENSURE(same(back.nsp, back.nsp_len, pk.nsp, pk.nsp_len));
    ENSURE(back.has_id == pk.has_id && back.id == pk.id);
    ENSURE(back.data.type == pk.data.type);
    ENSURE(same(back.data.ptr, back.data.len, pk.data.ptr, pk.data.len));
    ENSURE(same(back.event.ptr, back.event.len, pk.event.ptr, pk.event.len));
    if (need > 1)
        ENSURE(sio_packet_encode(&pk, buf, need - 1, &len) == SIO_ENOSPC);

    if (pk.data.ptr) {
        rc = sio_packet_scan_placeholders(&pk.data, pk.attachments, ph, 8,
                                          &found);
        ENSURE(rc == SIO_OK || rc == SIO_EPROTO || rc == SIO_ETOOBIG);
        for (i = 0; rc == SIO_OK && i < found && i < 8; i++) {
            ENSURE(ph[i].num < pk.attachments);
            ENSURE(ph[i].off + ph[i].len <= pk.data.len);
            ENSURE(sio_json_validate(pk.data.ptr + ph[i].off, ph[i].len, 64,
                                     SIO_JSON_LONE_SURROGATES, &v) == SIO_OK);
            ENSURE(v.type == SIO_JSON_OBJECT);
            ENSURE(sio_json_object_get(&v, "_placeholder", 12, &v) == SIO_OK
                   && v.type == SIO_JSON_TRUE);
            ENSURE(i == 0 || ph[i].off >= ph[i - 1].off + ph[i - 1].len);
        }
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct sio_packet_opts strict = { 3, 4, 0 };

    check((const char *)data, size, NULL);
    check((const char *)data, size, &strict);
    return 0;
}
