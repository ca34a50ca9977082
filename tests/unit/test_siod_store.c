/* Unit tests for siod/sio/siod_sio_store.c, connection state recovery's
 * in-process store, on a clock of the test's own (siod_now_ms below):
 * offsets increase; a replay gives the packets after an offset, oldest
 * first, only those of its namespace that the socket's rooms select
 * (rooms, exceptions); the window and every limit drop the oldest first,
 * after which an offset or a kept socket is gone (the client is then not
 * recovered); a kept socket is taken once; the bytes accounted fall back
 * to 0. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sio/siod_sio_int.h"
#include "store_take.h"

static int64_t clock_ms = 1000000;

/* The store's clock (siod_sio_util.c's in siod). */
int64_t siod_now_ms(void)
{
    return clock_ms;
}

static const siod_sio_store_ops *ops = &siod_sio_store_mem;

/* A packet of len bytes of fill, and attachments when natts > 0. */
static siod_sio_out packet(size_t len, char fill, unsigned natts)
{
    siod_sio_out o = { siod_buf_new(len), NULL, 0 };
    CHECK(o.head != NULL);
    memset(siod_buf_data(o.head), fill, len);
    if (natts > 0) {
        o.atts = calloc(natts, sizeof *o.atts);
        CHECK(o.atts != NULL);
        for (unsigned i = 0; i < natts; i++) {
            o.atts[i] = siod_buf_new(3);
            CHECK(o.atts[i] != NULL);
        }
        o.natts = natts;
    }
    return o;
}

static void out_clear(siod_sio_out *o)
{
    siod_buf_unref(o->head);
    for (unsigned i = 0; i < o->natts; i++)
        siod_buf_unref(o->atts[i]);
    free(o->atts);
}

/* Logs a packet whose first byte is fill, to nsp, rooms and except given
 * as NULL-terminated lists; its offset into off. */
static void log_one(void *st, const char *nsp, char fill, const char **rooms,
                    const char **except, char off[SIOD_SIO_OFFSET_MAX])
{
    /* the store only reads the names */
    siod_bcast_opts o = { (char **)rooms, 0, (char **)except, 0, 0 };
    while (rooms != NULL && rooms[o.nrooms] != NULL)
        o.nrooms++;
    while (except != NULL && except[o.nexcept] != NULL)
        o.nexcept++;
    siod_sio_out p = packet(10, fill, fill == 'b' ? 2 : 0);
    ops->next_offset(st, off);
    CHECK_EQ(ops->append(st, off, nsp, &o, &p), 0);
    out_clear(&p);    /* the store holds its own references */
}

/* A socket in the rooms of a NULL-terminated list. */
static int in_list(void *ud, const char *room)
{
    for (const char **r = ud; *r != NULL; r++)
        if (strcmp(*r, room) == 0)
            return 1;
    return 0;
}

struct seen {
    char got[64];
    size_t n;
};

static struct seen seen;

static void collect(void *ud, const siod_sio_out *p)
{
    seen.got[seen.n++] = (char)siod_buf_data(p->head)[0];
    seen.got[seen.n] = '\0';
}

/* The fills of the packets replayed after off to a socket of nsp in
 * rooms, or NULL for -ENOENT. */
static const char *replay(void *st, const char *nsp, const char *off,
                          const char **rooms)
{
    seen.n = 0;
    seen.got[0] = '\0';
    ssize_t n = ops->replay(st, nsp, off, NULL, in_list, collect,
                            (void *)rooms);
    if (n < 0) {
        CHECK_EQ(n, -ENOENT);
        return NULL;
    }
    CHECK_EQ(n, seen.n);
    return seen.got;
}

static siod_sio_recovery_conf conf_of(unsigned window, size_t packets,
                                      size_t log_bytes, size_t sessions,
                                      size_t session_bytes)
{
    siod_sio_recovery_conf c = { window, 0, packets, log_bytes, sessions,
                                 session_bytes, NULL };
    return c;
}

static void test_offsets_and_selection(void)
{
    siod_sio_recovery_conf c = conf_of(120000, 0, 0, 0, 0);
    void *st = ops->create(&c);
    char o0[SIOD_SIO_OFFSET_MAX], o1[SIOD_SIO_OFFSET_MAX],
        o2[SIOD_SIO_OFFSET_MAX], tmp[SIOD_SIO_OFFSET_MAX];
    const char *sock_a[] = { "sidA", "room1", NULL };
    const char *sock_b[] = { "sidB", "room2", NULL };
    const char *to_a[] = { "sidA", NULL };
    const char *to_r1[] = { "room1", NULL };
    const char *to_r1_r2[] = { "room1", "room2", NULL };
    const char *ex_r2[] = { "room2", NULL };

    CHECK(st != NULL);
    log_one(st, "/", 'w', to_a, NULL, o0);       /* welcome to A */
    log_one(st, "/", 'x', NULL, NULL, o1);       /* everyone */
    /* same millisecond: the counter part grows */
    CHECK(strcmp(o0, "1000000-0") == 0);
    CHECK(strcmp(o1, "1000000-1") == 0);
    clock_ms += 5;
    log_one(st, "/", 'y', to_r1, NULL, o2);      /* room1 */
    CHECK(strcmp(o2, "1000005-0") == 0);
    log_one(st, "/other", 'z', NULL, NULL, tmp); /* another namespace */
    log_one(st, "/", 'u', to_r1_r2, ex_r2, tmp); /* room1 or 2, not 2 */
    log_one(st, "/", 'b', to_a, NULL, tmp);      /* binary, to A */
    /* a clock stepping back keeps offsets increasing */
    clock_ms -= 100;
    log_one(st, "/", 'v', NULL, NULL, tmp);
    CHECK(strcmp(tmp, "1000005-4") == 0);
    clock_ms += 100;

    CHECK(strcmp(replay(st, "/", o0, sock_a), "xyubv") == 0);
    CHECK(strcmp(replay(st, "/", o0, sock_b), "xv") == 0);
    CHECK(strcmp(replay(st, "/", o1, sock_a), "yubv") == 0);
    CHECK(strcmp(replay(st, "/", o2, sock_a), "ubv") == 0);
    CHECK(strcmp(replay(st, "/", tmp, sock_a), "") == 0);
    CHECK(strcmp(replay(st, "/other", o0, sock_b), "z") == 0);
    CHECK(replay(st, "/", "1000000-9", sock_a) == NULL);
    CHECK(replay(st, "/", "not an offset", sock_a) == NULL);
    CHECK(replay(st, "/", "", sock_a) == NULL);

    siod_sio_store_stats s;
    ops->stats(st, &s);
    CHECK_EQ(s.packets, 7);
    CHECK(s.log_bytes > 7 * 10);
    ops->destroy(st);
}

static siod_sio_saved *saved(const char *sid, const char *pid,
                             const char *nsp, const char *data)
{
    siod_sio_saved *v = calloc(1, sizeof *v);
    CHECK(v != NULL);
    strcpy(v->sid, sid);
    strcpy(v->pid, pid);
    v->nsp = strdup(nsp);
    v->rooms = calloc(2, sizeof *v->rooms);
    v->rooms[0] = strdup(sid);
    v->rooms[1] = strdup("room1");
    v->nrooms = 2;
    v->data_json = data != NULL ? strdup(data) : NULL;
    v->at = siod_now_ms();
    return v;
}

static void test_sessions(void)
{
    siod_sio_recovery_conf c = conf_of(1000, 0, 0, 3, 0);
    void *st = ops->create(&c);
    char off[SIOD_SIO_OFFSET_MAX];
    const char *why = NULL;
    siod_sio_store_stats s;

    log_one(st, "/", 'w', NULL, NULL, off);
    CHECK_EQ(ops->save(st, saved("sid1", "pid1", "/", "{\"a\":1}")), 0);
    /* another namespace, an unknown pid, a bad offset: not taken */
    CHECK(store_take(ops, st, "/x", "pid1", off, &why) == NULL);
    CHECK(why != NULL);
    CHECK(store_take(ops, st, "/", "pid9", off, &why) == NULL);
    CHECK(store_take(ops, st, "/", "pid1", "1-0", &why) == NULL);
    siod_sio_saved *v = store_take(ops, st, "/", "pid1", off, &why);
    CHECK(v != NULL);
    CHECK(strcmp(v->sid, "sid1") == 0);
    CHECK_EQ(v->nrooms, 2);
    CHECK(strcmp(v->rooms[1], "room1") == 0);
    CHECK(strcmp(v->data_json, "{\"a\":1}") == 0);
    siod_sio_saved_free(v);
    /* taken once */
    CHECK(store_take(ops, st, "/", "pid1", off, &why) == NULL);

    /* the fourth kept socket pushes the oldest out */
    for (int i = 1; i <= 4; i++) {
        char sid[8], pid[8];
        snprintf(sid, sizeof sid, "s%d", i);
        snprintf(pid, sizeof pid, "p%d", i);
        CHECK_EQ(ops->save(st, saved(sid, pid, "/", NULL)), 0);
        clock_ms += 100;
    }
    ops->stats(st, &s);
    CHECK_EQ(s.sessions, 3);
    CHECK(store_take(ops, st, "/", "p1", off, &why) == NULL);
    v = store_take(ops, st, "/", "p2", off, &why);
    CHECK(v != NULL && v->data_json == NULL);
    siod_sio_saved_free(v);
    /* saved again under the same pid: one entry */
    CHECK_EQ(ops->save(st, saved("s3", "p3", "/", NULL)), 0);
    ops->stats(st, &s);
    CHECK_EQ(s.sessions, 2);

    /* past the window: the take refuses (and forgets), expire drops */
    clock_ms += 1001;
    CHECK(store_take(ops, st, "/", "p3", off, &why) == NULL);
    CHECK(strstr(why, "window") != NULL);
    ops->expire(st, clock_ms);
    ops->stats(st, &s);
    CHECK_EQ(s.sessions, 0);
    CHECK_EQ(s.session_bytes, 0);
    CHECK_EQ(s.packets, 0);
    CHECK_EQ(s.log_bytes, 0);
    ops->destroy(st);
}

static void test_session_bytes(void)
{
    siod_sio_recovery_conf c = conf_of(60000, 0, 0, 0, 600);
    void *st = ops->create(&c);
    char big[400];
    siod_sio_store_stats s;

    memset(big, 'd', sizeof big - 1);
    big[0] = '"';
    big[sizeof big - 2] = '"';
    big[sizeof big - 1] = '\0';
    CHECK_EQ(ops->save(st, saved("s1", "p1", "/", big)), 0);
    CHECK_EQ(ops->save(st, saved("s2", "p2", "/", big)), 0);
    ops->stats(st, &s);
    CHECK_EQ(s.sessions, 1);
    CHECK(s.session_bytes <= 600);
    ops->destroy(st);
}

static void test_log_limits(void)
{
    siod_sio_recovery_conf c = conf_of(1000, 4, 0, 0, 0);
    void *st = ops->create(&c);
    char offs[8][SIOD_SIO_OFFSET_MAX];
    const char *all[] = { NULL };
    siod_sio_store_stats s;

    /* at most 4 packets: the oldest go */
    for (int i = 0; i < 6; i++)
        log_one(st, "/", (char)('a' + i), NULL, NULL, offs[i]);
    CHECK(replay(st, "/", offs[0], all) == NULL);
    CHECK(replay(st, "/", offs[1], all) == NULL);
    CHECK(strcmp(replay(st, "/", offs[2], all), "def") == 0);
    ops->stats(st, &s);
    CHECK_EQ(s.packets, 4);
    /* the window: packets older go at the next append or expire */
    clock_ms += 600;
    log_one(st, "/", 'g', NULL, NULL, offs[6]);
    clock_ms += 500;
    ops->expire(st, clock_ms);
    CHECK(replay(st, "/", offs[5], all) == NULL);
    CHECK(strcmp(replay(st, "/", offs[6], all), "") == 0);
    ops->destroy(st);

    /* bytes: a packet over the limit alone empties the log */
    c = conf_of(60000, 0, 400, 0, 0);
    st = ops->create(&c);
    log_one(st, "/", 'a', NULL, NULL, offs[0]);
    log_one(st, "/", 'b', NULL, NULL, offs[1]);
    ops->stats(st, &s);
    CHECK_EQ(s.packets, 2);
    CHECK(s.log_bytes <= 400);
    siod_bcast_opts o = { NULL, 0, NULL, 0, 0 };
    siod_sio_out p = packet(1000, 'z', 0);
    CHECK_EQ(ops->append(st, "bad", "/", &o, &p), -EINVAL);
    ops->next_offset(st, offs[2]);
    CHECK_EQ(ops->append(st, offs[2], "/", &o, &p), 0);
    out_clear(&p);
    ops->stats(st, &s);
    CHECK_EQ(s.packets, 0);
    CHECK_EQ(s.log_bytes, 0);
    CHECK(replay(st, "/", offs[2], all) == NULL);
    ops->destroy(st);
}

int main(void)
{
    RUN(test_offsets_and_selection);
    RUN(test_sessions);
    RUN(test_session_bytes);
    RUN(test_log_limits);
    DONE("test_siod_store");
}
