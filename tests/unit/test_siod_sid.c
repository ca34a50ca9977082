/* Unit tests for siod/core/siod_sid.c: session ids are 20 URL-safe characters
 * that decode to 15 random bytes, unique over many draws (across the
 * generator's batch refills), every symbol equally likely at every
 * position, and unrelated from one id to the next; with a node tag, every
 * id begins with it and the rest stays random. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sio_base64.h"
#include "core/siod_core.h"

enum { N = 200000 };

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char ids[N][SIO_SID_LEN];

static int id_eq(const void *item, const void *key)
{
    return memcmp(item, key, SIO_SID_LEN) == 0;
}

static int symbol(char c)
{
    const char *p = memchr(alphabet, c, 64);
    return p != NULL ? (int)(p - alphabet) : -1;
}

static void test_format_and_decoding(void)
{
    for (int i = 0; i < N; i++) {
        CHECK_EQ(siod_sid_generate(ids[i]), 0);
        for (int k = 0; k < SIO_SID_LEN; k++)
            CHECK(symbol(ids[i][k]) >= 0);
    }
    /* back to standard base64: exactly 15 bytes, which encode to the id */
    for (int i = 0; i < 1000; i++) {
        char std[SIO_SID_LEN], again[SIO_SID_LEN + 4];
        unsigned char raw[SIO_SID_LEN];
        size_t n = 0;
        for (int k = 0; k < SIO_SID_LEN; k++)
            std[k] = ids[i][k] == '-' ? '+' : ids[i][k] == '_' ? '/' : ids[i][k];
        CHECK_EQ(sio_base64_decode(raw, std, SIO_SID_LEN, &n), SIO_OK);
        CHECK_EQ(n, 15);
        CHECK_EQ(sio_base64_encode(again, raw, n), SIO_SID_LEN);
        CHECK(memcmp(again, std, SIO_SID_LEN) == 0);
    }
}

static void test_unique(void)
{
    siod_hash t;
    siod_hash_init(&t, id_eq);
    for (int i = 0; i < N; i++) {
        uint64_t h = siod_hash_bytes(ids[i], SIO_SID_LEN);
        CHECK(siod_hash_find(&t, h, ids[i]) == NULL);
        CHECK_EQ(siod_hash_insert(&t, h, ids[i]), 0);
    }
    CHECK_EQ(t.count, N);
    siod_hash_destroy(&t);
}

/* 120 random bits make 20 symbols of 6 bits: every symbol at every
 * position has probability 1/64 (N/64 = 3125 expected, sd about 55). */
static void test_uniform(void)
{
    static unsigned counts[SIO_SID_LEN][64];
    memset(counts, 0, sizeof counts);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < SIO_SID_LEN; k++)
            counts[k][symbol(ids[i][k])]++;
    for (int k = 0; k < SIO_SID_LEN; k++)
        for (int s = 0; s < 64; s++)
            CHECK(counts[k][s] > 2700 && counts[k][s] < 3550);
}

/* Consecutive ids share about half their bits, not a counter's prefix. */
static void test_unrelated(void)
{
    unsigned long long diff = 0;
    for (int i = 1; i < N; i++) {
        for (int k = 0; k < SIO_SID_LEN; k++)
            diff += (unsigned)__builtin_popcount(
                (unsigned)(symbol(ids[i][k]) ^ symbol(ids[i - 1][k])));
    }
    double mean = (double)diff / (N - 1);   /* 60 expected of 120 bits */
    CHECK(mean > 59.0 && mean < 61.0);
}

/* Runs last: the tag stays set. */
static void test_node_tag(void)
{
    int seen[64] = { 0 }, kinds = 0;

    CHECK_EQ(siod_sid_node()[0], '\0');
    CHECK_EQ(siod_sid_set_node("n1x"), -EINVAL);
    CHECK_EQ(siod_sid_set_node("n+"), -EINVAL);
    CHECK_EQ(siod_sid_set_node(""), -EINVAL);
    CHECK_EQ(siod_sid_node()[0], '\0');
    CHECK_EQ(siod_sid_set_node("n1"), 0);
    CHECK(strcmp(siod_sid_node(), "n1") == 0);
    for (int i = 0; i < 1000; i++) {
        CHECK_EQ(siod_sid_generate(ids[i]), 0);
        CHECK(memcmp(ids[i], "n1", 2) == 0);
        if (!seen[symbol(ids[i][2])]++)
            kinds++;
        for (int j = 0; j < i; j++)
            CHECK(memcmp(ids[i], ids[j], SIO_SID_LEN) != 0);
    }
    /* the character after the tag is as random as before */
    CHECK(kinds > 60);
}

int main(void)
{
    RUN(test_format_and_decoding);
    RUN(test_unique);
    RUN(test_uniform);
    RUN(test_unrelated);
    RUN(test_node_tag);
    DONE("test_siod_sid");
}
