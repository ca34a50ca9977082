/* Unit tests for siod/engine/siod_closed.c, the answers for recently closed
 * polling sessions: each kind answers as documented, within its grace
 * only; expired entries give their payloads back at once (siod_closed_bytes
 * falls to 0 without any further lookup); the bytes held stay within the
 * bound, older payloads going first. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/siod_closed.h"

static void sid_of(unsigned i, char sid[SIO_SID_LEN])
{
    memset(sid, 'a', SIO_SID_LEN);
    sid[0] = (char)('A' + i % 26);
    sid[1] = (char)('A' + i / 26 % 26);
    sid[2] = (char)('A' + i / 676 % 26);
}

static unsigned char *payload(size_t len, unsigned char fill)
{
    unsigned char *p = malloc(len);
    CHECK(p != NULL);
    memset(p, fill, len);
    return p;
}

static void test_answers(void)
{
    siod_closed_ring *r = siod_closed_new(8, 1000, 1u << 20);
    siod_closed_answer a;
    char s0[SIO_SID_LEN], s1[SIO_SID_LEN], s2[SIO_SID_LEN];

    CHECK(r != NULL);
    sid_of(0, s0);
    sid_of(1, s1);
    sid_of(2, s2);
    siod_closed_remember(r, s0, SIOD_CLOSED_NOOP, NULL, 0, 100);
    siod_closed_remember(r, s1, SIOD_CLOSED_PAYLOAD, payload(10, 'x'), 10,
                         100);
    CHECK_EQ(siod_closed_bytes(r), 10);
    CHECK_EQ(siod_closed_count(r), 2);
    CHECK(!siod_closed_take(r, s2, 150, &a));
    /* the noop answers once */
    CHECK(siod_closed_take(r, s0, 150, &a));
    CHECK_EQ(a.kind, SIOD_CLOSED_NOOP);
    CHECK(!siod_closed_take(r, s0, 160, &a));
    /* the payload, then the close packet within a new grace */
    CHECK(siod_closed_take(r, s1, 900, &a));
    CHECK_EQ(a.kind, SIOD_CLOSED_PAYLOAD);
    CHECK_EQ(a.len, 10);
    CHECK(a.payload != NULL && a.payload[9] == 'x');
    free(a.payload);
    CHECK_EQ(siod_closed_bytes(r), 0);
    CHECK(siod_closed_take(r, s1, 1800, &a));
    CHECK_EQ(a.kind, SIOD_CLOSED_CLOSE);
    CHECK(!siod_closed_take(r, s1, 1810, &a));
    /* past the grace nothing answers */
    siod_closed_remember(r, s2, SIOD_CLOSED_CLOSE, NULL, 0, 2000);
    CHECK(!siod_closed_take(r, s2, 3001, &a));
    siod_closed_free(r);
    siod_closed_free(NULL);
}

/* Expired entries free their payloads when expire runs, with no lookup
 * and no slot reuse; expire says when the next entry ends. */
static void test_expiry_frees(void)
{
    siod_closed_ring *r = siod_closed_new(256, 1000, SIZE_MAX);
    char sid[SIO_SID_LEN];

    CHECK(r != NULL);
    for (unsigned i = 0; i < 8; i++) {
        sid_of(i, sid);
        siod_closed_remember(r, sid, SIOD_CLOSED_PAYLOAD,
                             payload(4096, (unsigned char)i), 4096,
                             1000 + i * 100);
    }
    CHECK_EQ(siod_closed_bytes(r), 8 * 4096);
    CHECK_EQ(siod_closed_expire(r, 1500), 2000);   /* none over yet */
    CHECK_EQ(siod_closed_bytes(r), 8 * 4096);
    /* the first three ended at 2000, 2100, 2200 */
    CHECK_EQ(siod_closed_expire(r, 2250), 2300);
    CHECK_EQ(siod_closed_bytes(r), 5 * 4096);
    CHECK_EQ(siod_closed_count(r), 5);
    CHECK_EQ(siod_closed_expire(r, 10000), 0);
    CHECK_EQ(siod_closed_bytes(r), 0);
    CHECK_EQ(siod_closed_count(r), 0);
    /* answered entries go too */
    sid_of(99, sid);
    siod_closed_remember(r, sid, SIOD_CLOSED_NOOP, NULL, 0, 20000);
    siod_closed_answer a;
    CHECK(siod_closed_take(r, sid, 20001, &a));
    siod_closed_expire(r, 20002);
    CHECK_EQ(siod_closed_count(r), 0);
    siod_closed_free(r);
}

/* The bytes held never pass the bound: older payloads are dropped first
 * (their entries still answer, with the close packet), and a payload
 * larger than the bound is not kept at all. */
static void test_bound(void)
{
    siod_closed_ring *r = siod_closed_new(256, 1000, 10000);
    siod_closed_answer a;
    char sid[SIO_SID_LEN];

    CHECK(r != NULL);
    for (unsigned i = 0; i < 100; i++) {
        sid_of(i, sid);
        siod_closed_remember(r, sid, SIOD_CLOSED_PAYLOAD,
                             payload(3000, (unsigned char)i), 3000, 500);
        CHECK(siod_closed_bytes(r) <= 10000);
    }
    CHECK_EQ(siod_closed_bytes(r), 9000);
    CHECK_EQ(siod_closed_count(r), 100);
    /* the newest keeps its payload, the oldest answers with the close */
    sid_of(99, sid);
    CHECK(siod_closed_take(r, sid, 600, &a));
    CHECK_EQ(a.kind, SIOD_CLOSED_PAYLOAD);
    CHECK(a.payload[0] == 99);
    free(a.payload);
    sid_of(0, sid);
    CHECK(siod_closed_take(r, sid, 600, &a));
    CHECK_EQ(a.kind, SIOD_CLOSED_CLOSE);
    /* too large alone */
    sid_of(200, sid);
    siod_closed_remember(r, sid, SIOD_CLOSED_PAYLOAD, payload(10001, 1),
                         10001, 700);
    CHECK(siod_closed_bytes(r) <= 10000);
    CHECK(siod_closed_take(r, sid, 700, &a));
    CHECK_EQ(a.kind, SIOD_CLOSED_CLOSE);
    siod_closed_free(r);
    /* a bound of 0 keeps no payload */
    r = siod_closed_new(4, 1000, 0);
    CHECK(r != NULL);
    siod_closed_remember(r, sid, SIOD_CLOSED_PAYLOAD, payload(1, 1), 1, 0);
    CHECK_EQ(siod_closed_bytes(r), 0);
    siod_closed_free(r);
}

/* Slot reuse: the ring keeps its newest slots entries. */
static void test_reuse(void)
{
    siod_closed_ring *r = siod_closed_new(4, 1000, SIZE_MAX);
    siod_closed_answer a;
    char sid[SIO_SID_LEN];

    CHECK(r != NULL);
    for (unsigned i = 0; i < 6; i++) {
        sid_of(i, sid);
        siod_closed_remember(r, sid, SIOD_CLOSED_PAYLOAD, payload(5, 1), 5,
                             0);
    }
    CHECK_EQ(siod_closed_count(r), 4);
    CHECK_EQ(siod_closed_bytes(r), 20);
    sid_of(1, sid);
    CHECK(!siod_closed_take(r, sid, 10, &a));
    sid_of(5, sid);
    CHECK(siod_closed_take(r, sid, 10, &a));
    free(a.payload);
    siod_closed_free(r);
}

/* An Engine.IO 3 session's entries say so in every answer they give, and
 * only theirs. */
static void test_eio3(void)
{
    siod_closed_ring *r = siod_closed_new(4, 1000, 1u << 20);
    siod_closed_answer a;
    char s0[SIO_SID_LEN], s1[SIO_SID_LEN];

    CHECK(r != NULL);
    sid_of(0, s0);
    sid_of(1, s1);
    siod_closed_remember_v3(r, s0, SIOD_CLOSED_PAYLOAD, payload(3, 'y'), 3,
                            10);
    siod_closed_remember(r, s1, SIOD_CLOSED_NOOP, NULL, 0, 10);
    CHECK(siod_closed_take(r, s0, 20, &a));
    CHECK(a.kind == SIOD_CLOSED_PAYLOAD && a.eio3 == 1);
    free(a.payload);
    CHECK(siod_closed_take(r, s0, 30, &a));
    CHECK(a.kind == SIOD_CLOSED_CLOSE && a.eio3 == 1);
    CHECK(siod_closed_take(r, s1, 30, &a));
    CHECK(a.kind == SIOD_CLOSED_NOOP && a.eio3 == 0);
    /* a slot reused by a v4 session forgets the mark */
    for (int i = 0; i < 4; i++)
        siod_closed_remember(r, s0, SIOD_CLOSED_NOOP, NULL, 0, 40);
    CHECK(siod_closed_take(r, s0, 50, &a));
    CHECK_EQ(a.eio3, 0);
    siod_closed_free(r);
}

int main(void)
{
    RUN(test_answers);
    RUN(test_expiry_frees);
    RUN(test_bound);
    RUN(test_reuse);
    RUN(test_eio3);
    DONE("test_siod_closed");
}
