/* Unit tests for the rate limits of siod/guard/siod_guard_rate.c: the token
 * bucket (burst, refill, cap, a clock that stands still or steps back), the
 * per-socket verdicts with the flood rule and its window, the per-address
 * handshake buckets, and the counters. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "guard/siod_guard.h"

static void test_bucket(void)
{
    siod_guard_bucket b = { 0, 0 };
    /* full at first use: burst 3 */
    for (int i = 0; i < 3; i++)
        CHECK_EQ(siod_guard_bucket_take(&b, 10, 3, 1000), 1);
    CHECK_EQ(siod_guard_bucket_take(&b, 10, 3, 1000), 0);
    /* 10 a second: one token per 100 ms */
    CHECK_EQ(siod_guard_bucket_take(&b, 10, 3, 1050), 0);
    CHECK_EQ(siod_guard_bucket_take(&b, 10, 3, 1100), 1);
    CHECK_EQ(siod_guard_bucket_take(&b, 10, 3, 1100), 0);
    /* never more than the burst, however long it rested */
    for (int i = 0; i < 3; i++)
        CHECK_EQ(siod_guard_bucket_take(&b, 10, 3, 100000), 1);
    CHECK_EQ(siod_guard_bucket_take(&b, 10, 3, 100000), 0);
    /* a clock that steps back gives nothing */
    CHECK_EQ(siod_guard_bucket_take(&b, 10, 3, 50000), 0);
    /* rate 0: no limit */
    siod_guard_bucket z = { 0, 0 };
    for (int i = 0; i < 1000; i++)
        CHECK_EQ(siod_guard_bucket_take(&z, 0, 1, 1), 1);
    /* fractional rates: 0.5 a second */
    siod_guard_bucket h = { 0, 0 };
    CHECK_EQ(siod_guard_bucket_take(&h, 0.5, 1, 10), 1);
    CHECK_EQ(siod_guard_bucket_take(&h, 0.5, 1, 1500), 0);
    CHECK_EQ(siod_guard_bucket_take(&h, 0.5, 1, 2010), 1);
}

static void test_events(void)
{
    siod_guard_config c = { 0 };
    c.event_rate = 10;
    c.event_burst = 2;
    c.flood_drops = 3;
    c.flood_window_ms = 1000;
    siod_guard_configure(&c);
    uint64_t dropped = siod_guard_stats_get()->events_dropped;
    uint64_t flooding = siod_guard_stats_get()->sockets_flooding;

    siod_guard_socket g;
    memset(&g, 0, sizeof g);
    CHECK_EQ(siod_guard_event_at(&g, 1000), SIOD_GUARD_PASS);
    CHECK_EQ(siod_guard_event_at(&g, 1000), SIOD_GUARD_PASS);
    CHECK_EQ(siod_guard_event_at(&g, 1000), SIOD_GUARD_DROP);
    CHECK_EQ(siod_guard_event_at(&g, 1001), SIOD_GUARD_DROP);
    /* drops spread past the window start a new one */
    CHECK_EQ(siod_guard_event_at(&g, 2100), SIOD_GUARD_PASS);
    CHECK_EQ(siod_guard_event_at(&g, 2100), SIOD_GUARD_PASS);
    CHECK_EQ(siod_guard_event_at(&g, 2100), SIOD_GUARD_DROP);
    CHECK_EQ(siod_guard_event_at(&g, 2100), SIOD_GUARD_DROP);
    CHECK_EQ(siod_guard_event_at(&g, 2100), SIOD_GUARD_FLOOD);
    CHECK_EQ(siod_guard_stats_get()->events_dropped, dropped + 5);
    CHECK_EQ(siod_guard_stats_get()->sockets_flooding, flooding + 1);

    /* flood_drops 0: drops never disconnect */
    c.flood_drops = 0;
    siod_guard_configure(&c);
    memset(&g, 0, sizeof g);
    for (int i = 0; i < 2; i++)
        CHECK_EQ(siod_guard_event_at(&g, 5000), SIOD_GUARD_PASS);
    for (int i = 0; i < 100; i++)
        CHECK_EQ(siod_guard_event_at(&g, 5000), SIOD_GUARD_DROP);

    /* event_rate 0: no limit */
    c.event_rate = 0;
    siod_guard_configure(&c);
    memset(&g, 0, sizeof g);
    for (int i = 0; i < 1000; i++)
        CHECK_EQ(siod_guard_event_at(&g, 5000), SIOD_GUARD_PASS);
    /* a burst under 1 is raised to 1 */
    c.event_rate = 1;
    c.event_burst = 0;
    siod_guard_configure(&c);
    CHECK(siod_guard_config_get()->event_burst == 1);
}

static void test_handshakes(void)
{
    siod_guard_config c = { 0 };
    c.handshake_rate = 0.001;   /* no refill within the test */
    c.handshake_burst = 3;
    siod_guard_configure(&c);
    uint64_t limited = siod_guard_stats_get()->handshakes_limited;

    for (int i = 0; i < 3; i++)
        CHECK_EQ(siod_guard_handshake_at("198.51.100.1", 12, 1000), 0);
    CHECK_EQ(siod_guard_handshake_at("198.51.100.1", 12, 1000), -EBUSY);
    CHECK_EQ(siod_guard_handshake_at("198.51.100.1", 12, 1000), -EBUSY);
    /* another address has its own bucket */
    CHECK_EQ(siod_guard_handshake_at("198.51.100.2", 12, 1000), 0);
    CHECK_EQ(siod_guard_stats_get()->handshakes_limited, limited + 2);
    CHECK_EQ(siod_guard_stats_get()->addresses, 2);

    /* many addresses: the table is swept of full buckets as it grows, so
     * it never holds much more than the live ones */
    c.handshake_rate = 1000;    /* full again 1 ms after a handshake */
    siod_guard_configure(&c);
    char addr[32];
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(addr, sizeof addr, "2001:db8::%x", i);
        CHECK_EQ(siod_guard_handshake_at(addr, (size_t)n, 2000 + i), 0);
    }
    CHECK(siod_guard_stats_get()->addresses <= 2048);

    /* handshake_rate 0: no limit, nothing kept */
    siod_guard_cleanup();
    c.handshake_rate = 0;
    siod_guard_configure(&c);
    for (int i = 0; i < 100; i++)
        CHECK_EQ(siod_guard_handshake_at("198.51.100.1", 12, 1000), 0);
    CHECK_EQ(siod_guard_stats_get()->addresses, 0);
    siod_guard_cleanup();
}

static void test_counters(void)
{
    const siod_guard_stats *s = siod_guard_stats_get();
    uint64_t checked = s->payloads_checked, invalid = s->payloads_invalid;
    uint64_t acks = s->acks_refused, per_addr = s->sessions_per_addr;
    siod_guard_note_payload(1);
    siod_guard_note_payload(0);
    siod_guard_note_ack_refused();
    siod_guard_note_sessions_per_addr();
    s = siod_guard_stats_get();
    CHECK_EQ(s->payloads_checked, checked + 2);
    CHECK_EQ(s->payloads_invalid, invalid + 1);
    CHECK_EQ(s->acks_refused, acks + 1);
    CHECK_EQ(s->sessions_per_addr, per_addr + 1);
}

int main(void)
{
    RUN(test_bucket);
    RUN(test_events);
    RUN(test_handshakes);
    RUN(test_counters);
    DONE("test_siod_guard");
}
