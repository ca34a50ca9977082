/* libFuzzer target for shared/sio_base64.c and shared/sio_utf8.c: in-place
 * and out-of-place base64 decoding agree and re-encode to canonical form;
 * UTF-8 validation gives the same answer however the input is split. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "sio_base64.h"
#include "sio_utf8.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    unsigned char *a = malloc(size + 1), *b = malloc(size + 1);
    char *enc = malloc(sio_base64_encoded_len(size) + 1);
    size_t la = 0, lb = 0, split, n;
    uint32_t st = SIO_UTF8_ACCEPT;
    int ra, rb, whole, parts;

    if (!a || !b || !enc)
        goto out;
    memcpy(a, data, size);
    ra = sio_base64_decode(a, (const char *)a, size, &la);
    rb = sio_base64_decode(b, (const char *)data, size, &lb);
    assert(ra == rb);
    if (ra == SIO_OK) {
        assert(la == lb && memcmp(a, b, la) == 0);
        assert(la <= size / 4 * 3);
        n = sio_base64_encode(enc, b, lb);
        assert(n == size);
        /* equal but for leftover bits in the last character */
        assert(size < 4 || memcmp(enc, data, size - 4) == 0);
    }

    whole = sio_utf8_valid(data, size);
    split = size ? data[0] % (size + 1) : 0;
    parts = sio_utf8_feed(&st, data, split) == SIO_OK &&
            sio_utf8_feed(&st, data + split, size - split) == SIO_OK &&
            st == SIO_UTF8_ACCEPT;
    assert(whole == parts);
    n = sio_base64_encode(enc, data, size);
    assert(n == sio_base64_encoded_len(size));
    assert(sio_utf8_valid((const unsigned char *)enc, n));
    assert(sio_base64_decode(a, enc, n, &la) == SIO_OK && la == size);
    assert(size == 0 || memcmp(a, data, size) == 0);
out:
    free(a);
    free(b);
    free(enc);
    return 0;
}
