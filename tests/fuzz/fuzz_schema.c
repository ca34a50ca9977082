/* libFuzzer target for the payload schemas of siod/guard/: the input is a
 * schema and an instance separated by the first NUL byte (no NUL: the
 * whole input is tried as both). The schema is compiled; when it compiles,
 * the instance is checked against it with two binary attachments, and a
 * failure must say why. The input is also read as a schema file's name
 * (decoded, and an event name must encode and decode back to itself). */
#include "guard/siod_guard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENSURE(c) \
    do { \
        if (!(c)) { \
            fprintf(stderr, "fuzz_schema.c:%d: %s\n", __LINE__, #c); \
            __builtin_trap(); \
        } \
    } while (0)

static void names(const char *s, size_t n)
{
    char name[256], file[800], back[256];
    int k = siod_schema_name_decode(s, n, name, sizeof name);
    ENSURE(k == -EINVAL || k == -ENAMETOOLONG || (k > 0 && (size_t)k <= n));
    if (k <= 0)
        return;
    int m = siod_schema_name_encode(name, (size_t)k, file, sizeof file);
    ENSURE(m > 0);
    int r = siod_schema_name_decode(file, (size_t)m, back, sizeof back);
    ENSURE(r == k && memcmp(back, name, (size_t)k) == 0);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    const char *text = (const char *)data;
    const char *nul = memchr(text, '\0', size);
    size_t slen = nul != NULL ? (size_t)(nul - text) : size;
    const char *inst = nul != NULL ? nul + 1 : text;
    size_t ilen = nul != NULL ? size - slen - 1 : size;
    static const size_t bins[2] = { 3, 70000 };
    siod_schema *sc = NULL;
    siod_schema_fail f;
    char why[600];

    names(text, slen < 200 ? slen : 200);
    int rc = siod_schema_compile(text, slen, &sc, why, sizeof why);
    ENSURE(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
    ENSURE((rc == 0) == (sc != NULL));
    if (rc == -EINVAL)
        ENSURE(why[0] != '\0');
    if (sc == NULL)
        return 0;
    rc = siod_schema_check(sc, inst, ilen, bins, 2, &f);
    ENSURE(rc == 0 || rc == -EINVAL || rc == -EPROTO || rc == -ENOMEM);
    if (rc == -EINVAL || rc == -EPROTO)
        ENSURE(f.why[0] != '\0');
    ENSURE(siod_schema_check(sc, inst, ilen, NULL, 0, &f) != 1);
    siod_schema_free(sc);
    return 0;
}
