/* libFuzzer target for shared/sio_json.c: validates arbitrary bytes, then
 * walks whatever validated (iterators, lookups, string decode/compare) and
 * round-trips strings through the writer, trapping on any broken invariant. */
#include "sio_json.h"
#include "sio_packet.h"
#include "sio_utf8.h"

#include <stdlib.h>
#include <string.h>

#define ENSURE(c) do { if (!(c)) __builtin_trap(); } while (0)

/* Decoded string *s must re-encode to a string that decodes back to it. */
static void check_string(const struct sio_json_span *s)
{
    char *dec = malloc(s->len), *enc, *back;
    size_t dlen = 0, elen = 0, blen = 0;
    struct sio_json_span v;

    ENSURE(dec);
    ENSURE(sio_json_string_decode(s, dec, s->len, &dlen) == SIO_OK);
    ENSURE(dlen <= s->len - 2);
    ENSURE(sio_json_string_eq(s, dec, dlen));
    if (dlen > 0)
        ENSURE(!sio_json_string_eq(s, dec, dlen - 1));
    enc = malloc(sio_json_string_size(dec, dlen));
    back = malloc(dlen + 1);
    ENSURE(enc && back);
    /* Unpaired surrogates decode to U+FFFD, so the result is valid UTF-8. */
    ENSURE(sio_json_write_string(dec, dlen, enc, sio_json_string_size(dec, dlen),
                                 &elen) == SIO_OK);
    ENSURE(elen == sio_json_string_size(dec, dlen));
    ENSURE(sio_json_validate(enc, elen, 0, 0, &v) == SIO_OK);
    ENSURE(v.type == SIO_JSON_STRING && v.len == elen);
    ENSURE(sio_json_string_decode(&v, back, dlen + 1, &blen) == SIO_OK);
    ENSURE(blen == dlen && memcmp(back, dec, dlen) == 0);
    free(dec);
    free(enc);
    free(back);
}

static void walk(const struct sio_json_span *v, unsigned depth)
{
    struct sio_json_iter it;
    struct sio_json_span e, k, got;
    uint64_t n;
    char *key;
    size_t klen;
    int rc;

    ENSURE(depth <= 64);
    switch (v->type) {
    case SIO_JSON_ARRAY:
        ENSURE(sio_json_iter_init(&it, v) == SIO_OK);
        while ((rc = sio_json_array_next(&it, &e)) == SIO_OK) {
            ENSURE(e.ptr >= v->ptr && e.ptr + e.len <= v->ptr + v->len);
            walk(&e, depth + 1);
        }
        ENSURE(rc == SIO_DONE);
        break;
    case SIO_JSON_OBJECT:
        ENSURE(sio_json_iter_init(&it, v) == SIO_OK);
        while ((rc = sio_json_object_next(&it, &k, &e)) == SIO_OK) {
            ENSURE(k.type == SIO_JSON_STRING);
            walk(&k, depth + 1);
            walk(&e, depth + 1);
            key = malloc(k.len);
            ENSURE(key);
            ENSURE(sio_json_string_decode(&k, key, k.len, &klen) == SIO_OK);
            ENSURE(sio_json_object_get(v, key, klen, &got) == SIO_OK);
            ENSURE(got.ptr >= e.ptr);   /* the last duplicate wins */
            free(key);
        }
        ENSURE(rc == SIO_DONE);
        break;
    case SIO_JSON_STRING:
        check_string(v);
        break;
    case SIO_JSON_NUMBER:
        rc = sio_json_uint(v, UINT64_MAX, &n);
        ENSURE(rc == SIO_OK || rc == SIO_EPROTO || rc == SIO_ETOOBIG);
        break;
    case SIO_JSON_TRUE:
    case SIO_JSON_FALSE:
    case SIO_JSON_NULL:
        break;
    default:
        ENSURE(0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct sio_json_span v, v2;
    struct sio_placeholder ph[4];
    size_t found, len, need, i;
    char *buf;
    int rc, rc2;

    rc = sio_json_validate(s, size, 64, 0, &v);
    rc2 = sio_json_validate(s, size, 64, SIO_JSON_LONE_SURROGATES, &v2);
    ENSURE(rc <= 0 && rc2 <= 0);
    if (rc == SIO_OK)
        ENSURE(rc2 == SIO_OK && v.ptr == v2.ptr && v.len == v2.len);
    if (rc2 == SIO_OK) {
        ENSURE(v2.ptr >= s && v2.ptr + v2.len <= s + size && v2.len > 0);
        walk(&v2, 0);
        rc = sio_packet_scan_placeholders(&v2, size % 4, ph, 4, &found);
        ENSURE(rc == SIO_OK || rc == SIO_EPROTO || rc == SIO_ETOOBIG);
        for (i = 0; rc == SIO_OK && i < found && i < 4; i++) {
            ENSURE(ph[i].off + ph[i].len <= v2.len);
            ENSURE(ph[i].num < size % 4);
            ENSURE(v2.ptr[ph[i].off] == '{');
            ENSURE(v2.ptr[ph[i].off + ph[i].len - 1] == '}');
        }
    }

    /* The writer accepts exactly the valid UTF-8 inputs. */
    need = sio_json_string_size(s, size);
    buf = malloc(need);
    ENSURE(buf);
    rc = sio_json_write_string(s, size, buf, need, &len);
    ENSURE((rc == SIO_OK) == sio_utf8_valid(data, size));
    if (rc == SIO_OK) {
        ENSURE(len == need);
        ENSURE(sio_json_validate(buf, len, 0, 0, &v) == SIO_OK);
        ENSURE(v.type == SIO_JSON_STRING && sio_json_string_eq(&v, s, size));
    }
    if (need > 0)
        ENSURE(sio_json_write_string(s, size, buf, need - 1, &len)
               == SIO_ENOSPC && len == need);
    free(buf);
    return 0;
}
