/* Unit tests for siod/sio/siod_sio_state.c, connection state recovery's
 * state file, on a clock of the test's own: what a store keeps (packets
 * with rooms, exceptions and attachments, kept sockets with rooms and
 * data, the offset counter) comes back the same from the file, which is
 * 0600; a file cut short, changed, of another version, not ours, or older
 * than the window is refused; the new store's limits apply. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "sio/siod_sio_int.h"
#include "store_take.h"

static int64_t clock_ms = 2000000;

/* The store's and the file's clock (siod_sio_util.c's in siod). */
int64_t siod_now_ms(void)
{
    return clock_ms;
}

static const siod_sio_store_ops *ops = &siod_sio_store_mem;
static char path[64];

static siod_sio_recovery_conf conf_of(unsigned window, size_t packets)
{
    siod_sio_recovery_conf c = { window, 0, packets, 0, 0, 0, NULL };
    return c;
}

/* Logs a packet of 10 bytes of fill (2 attachments for 'b') to nsp and
 * the NULL-terminated rooms and except; its offset into off. */
static void log_one(void *st, const char *nsp, char fill, const char **rooms,
                    const char **except, char off[SIOD_SIO_OFFSET_MAX])
{
    siod_bcast_opts o = { (char **)rooms, 0, (char **)except, 0, 0 };
    siod_buf *atts[2] = { NULL, NULL };
    siod_sio_out p = { siod_buf_new(10), atts, fill == 'b' ? 2 : 0 };

    while (rooms != NULL && rooms[o.nrooms] != NULL)
        o.nrooms++;
    while (except != NULL && except[o.nexcept] != NULL)
        o.nexcept++;
    CHECK(p.head != NULL);
    memset(siod_buf_data(p.head), fill, 10);
    for (unsigned i = 0; i < p.natts; i++) {
        atts[i] = siod_buf_new(3);
        CHECK(atts[i] != NULL);
        memset(siod_buf_data(atts[i]), '0' + (int)i, 3);
    }
    ops->next_offset(st, off);
    CHECK_EQ(ops->append(st, off, nsp, &o, &p), 0);
    siod_buf_unref(p.head);
    for (unsigned i = 0; i < p.natts; i++)
        siod_buf_unref(atts[i]);
}

static int in_list(void *ud, const char *room)
{
    for (const char **r = ud; *r != NULL; r++)
        if (strcmp(*r, room) == 0)
            return 1;
    return 0;
}

static char got[64];
static size_t ngot;

/* Notes each packet's fill, and checks the attachments of 'b'. */
static void collect(void *ud, const siod_sio_out *p)
{
    char fill = (char)siod_buf_data(p->head)[0];
    CHECK_EQ(p->head->len, 10);
    CHECK_EQ(p->natts, fill == 'b' ? 2 : 0);
    for (unsigned i = 0; i < p->natts; i++)
        CHECK(p->atts[i]->len == 3 &&
              siod_buf_data(p->atts[i])[2] == '0' + i);
    got[ngot++] = fill;
    got[ngot] = '\0';
}

static const char *replay(void *st, const char *nsp, const char *off,
                          const char **rooms)
{
    ngot = 0;
    got[0] = '\0';
    return ops->replay(st, nsp, off, NULL, in_list, collect, (void *)rooms) < 0
               ? NULL : got;
}

static siod_sio_saved *saved(const char *sid, const char *pid,
                             const char *data)
{
    siod_sio_saved *v = calloc(1, sizeof *v);
    CHECK(v != NULL);
    strcpy(v->sid, sid);
    strcpy(v->pid, pid);
    v->nsp = strdup("/");
    v->rooms = calloc(2, sizeof *v->rooms);
    v->rooms[0] = strdup(sid);
    v->rooms[1] = strdup("room1");
    v->nrooms = 2;
    v->data_json = data != NULL ? strdup(data) : NULL;
    v->at = siod_now_ms();
    return v;
}

/* The offset counter's value taken between the second and the third
 * packet of write_one (a stop), and the session handed over there. */
static char stop_off[SIOD_SIO_OFFSET_MAX];
static siod_sio_handover *read_back;

static siod_sio_handover *handover_of(void)
{
    static const unsigned char info[] = "\0\x01\0\0\0\x02qab";
    siod_sio_handover *h = calloc(1, sizeof *h);

    CHECK(h != NULL);
    strcpy(h->sid, "sessionAAAAAAAAAAAAA");
    h->at = siod_now_ms();
    strcpy(h->offset, stop_off);
    h->info = malloc(sizeof info - 1);
    memcpy(h->info, info, sizeof info - 1);
    h->info_len = sizeof info - 1;
    h->sockets = calloc(2, sizeof *h->sockets);
    h->sockets[0].nsp = strdup("/");
    strcpy(h->sockets[0].pid, "pidA");
    h->sockets[0].auth = strdup("{\"token\":1}");
    h->sockets[1].nsp = strdup("/other");
    strcpy(h->sockets[1].pid, "pidB");
    h->sockets[1].auth = strdup("{}");
    h->nsockets = 2;
    return h;
}

static int keep_read(siod_sio_handover *h)
{
    h->next = read_back;
    read_back = h;
    return 0;
}

/* A store with 5 packets and 2 kept sockets, written to path with one
 * session handed over; off0 the first packet's offset. */
static void write_one(char off0[SIOD_SIO_OFFSET_MAX])
{
    siod_sio_recovery_conf c = conf_of(10000, 0);
    void *st = ops->create(&c);
    char tmp[SIOD_SIO_OFFSET_MAX], why[256];
    const char *to_a[] = { "sidA", NULL };
    const char *to_r[] = { "room1", "room2", NULL };
    const char *ex_r2[] = { "room2", NULL };
    size_t packets, sockets;
    struct stat sb;

    log_one(st, "/", 'w', to_a, NULL, off0);
    log_one(st, "/", 'x', NULL, NULL, tmp);
    ops->next_offset(st, stop_off);
    log_one(st, "/other", 'z', NULL, NULL, tmp);
    log_one(st, "/", 'u', to_r, ex_r2, tmp);
    log_one(st, "/", 'b', to_a, NULL, tmp);
    CHECK_EQ(ops->save(st, saved("sidA", "pidA", "{\"n\":1}")), 0);
    CHECK_EQ(ops->save(st, saved("sidB", "pidB", NULL)), 0);
    siod_sio_handover *h = handover_of();
    CHECK_EQ(siod_sio_state_write(path, st, 10000, h, &packets, &sockets,
                                  why, sizeof why), 0);
    siod_sio_handover_free(h);
    CHECK_EQ(packets, 5);
    CHECK_EQ(sockets, 2);
    CHECK_EQ(stat(path, &sb), 0);
    CHECK_EQ(sb.st_mode & 0777, 0600);
    ops->destroy(st);
}

static void test_round_trip(void)
{
    siod_sio_recovery_conf c = conf_of(10000, 0);
    char off0[SIOD_SIO_OFFSET_MAX], next[SIOD_SIO_OFFSET_MAX], why[256];
    const char *sock_a[] = { "sidA", "room1", NULL };
    const char *sock_b[] = { "sidB", "room2", NULL };
    const char *err = NULL;
    siod_sio_state_info info;

    write_one(off0);
    clock_ms += 3000;
    void *st = ops->create(&c);
    CHECK_EQ(siod_sio_state_read(path, st, 10000, keep_read, &info, why,
                                 sizeof why), 0);
    CHECK_EQ(info.packets, 5);
    CHECK_EQ(info.sockets, 2);
    CHECK_EQ(info.sessions, 1);
    CHECK_EQ(info.age_ms, 3000);
    /* the session handed over, as it was written */
    CHECK(read_back != NULL && read_back->next == NULL);
    CHECK(strcmp(read_back->sid, "sessionAAAAAAAAAAAAA") == 0);
    CHECK(strcmp(read_back->offset, stop_off) == 0);
    CHECK_EQ(read_back->info_len, 9);
    CHECK(memcmp(read_back->info, "\0\x01\0\0\0\x02qab", 9) == 0);
    CHECK_EQ(read_back->nsockets, 2);
    CHECK(strcmp(read_back->sockets[0].auth, "{\"token\":1}") == 0);
    CHECK(strcmp(read_back->sockets[1].nsp, "/other") == 0);
    CHECK(strcmp(read_back->sockets[1].pid, "pidB") == 0);
    siod_sio_handover_free(read_back);
    read_back = NULL;
    /* what followed the stop, though the stop's offset was never logged */
    ngot = 0;
    got[0] = '\0';
    CHECK_EQ(siod_sio_store_mem_replay_after(st, "/", stop_off, in_list,
                                             collect, (void *)sock_a), 2);
    CHECK(strcmp(got, "ub") == 0);
    ngot = 0;
    got[0] = '\0';
    CHECK_EQ(siod_sio_store_mem_replay_after(st, "/other", stop_off, in_list,
                                             collect, (void *)sock_b), 1);
    CHECK(strcmp(got, "z") == 0);
    /* the same selection as before the file */
    CHECK(strcmp(replay(st, "/", off0, sock_a), "xub") == 0);
    CHECK(strcmp(replay(st, "/", off0, sock_b), "x") == 0);
    CHECK(strcmp(replay(st, "/other", off0, sock_b), "z") == 0);
    /* the counter: a new offset comes after the restored ones even with
     * the clock behind them */
    clock_ms -= 10000;
    ops->next_offset(st, next);
    CHECK(strcmp(next, "2000000-6") == 0);
    clock_ms += 10000;
    siod_sio_saved *v = store_take(ops, st, "/", "pidA", off0, &err);
    CHECK(v != NULL);
    CHECK(strcmp(v->sid, "sidA") == 0);
    CHECK_EQ(v->nrooms, 2);
    CHECK(strcmp(v->rooms[1], "room1") == 0);
    CHECK(strcmp(v->data_json, "{\"n\":1}") == 0);
    CHECK_EQ(v->at, 2000000);
    siod_sio_saved_free(v);
    v = store_take(ops, st, "/", "pidB", off0, &err);
    CHECK(v != NULL && v->data_json == NULL);
    siod_sio_saved_free(v);
    ops->destroy(st);

    /* a new store's limit: the oldest packets go, the offset with them */
    c = conf_of(10000, 2);
    st = ops->create(&c);
    CHECK_EQ(siod_sio_state_read(path, st, 10000, keep_read, &info, why,
                                 sizeof why), 0);
    siod_sio_store_stats s;
    ops->stats(st, &s);
    CHECK_EQ(s.packets, 2);
    CHECK(replay(st, "/", off0, sock_a) == NULL);
    /* packets after the stop were dropped: a hand-over cannot replay */
    CHECK_EQ(siod_sio_store_mem_replay_after(st, "/", stop_off, in_list,
                                             collect, (void *)sock_a),
             -ENOENT);
    /* a kept socket comes back whatever offset its client had */
    const char *err2 = NULL;
    siod_sio_saved *k = siod_sio_store_mem_take_kept(st, "/", "pidA", &err2);
    CHECK(k != NULL && strcmp(k->sid, "sidA") == 0);
    siod_sio_saved_free(k);
    CHECK(siod_sio_store_mem_take_kept(st, "/", "pidA", &err2) == NULL);
    CHECK(err2 != NULL && strstr(err2, "no state kept") != NULL);
    ops->destroy(st);

    /* the window: a file older is refused */
    clock_ms += 8000;
    c = conf_of(10000, 0);
    st = ops->create(&c);
    CHECK_EQ(siod_sio_state_read(path, st, 10000, keep_read, &info, why,
                                 sizeof why),
             -ESTALE);
    CHECK(strstr(why, "past the window") != NULL);
    ops->destroy(st);
    unlink(path);
}

/* Reads path into a fresh store; returns the code, why into w. */
static int read_into_new(char *w, size_t cap, siod_sio_state_info *info)
{
    siod_sio_recovery_conf c = conf_of(10000, 0);
    void *st = ops->create(&c);
    int rc = siod_sio_state_read(path, st, 10000, keep_read, info, w, cap);
    ops->destroy(st);
    return rc;
}

static void rewrite(const unsigned char *buf, size_t len, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    CHECK(fd >= 0);
    CHECK_EQ(write(fd, buf, len), (ssize_t)len);
    fchmod(fd, mode);
    close(fd);
}

static void test_refused(void)
{
    char off0[SIOD_SIO_OFFSET_MAX], why[256];
    unsigned char buf[4096];
    siod_sio_state_info info;

    CHECK_EQ(read_into_new(why, sizeof why, &info), -ENOENT);
    write_one(off0);
    int fd = open(path, O_RDONLY);
    ssize_t len = read(fd, buf, sizeof buf);
    close(fd);
    CHECK(len > 100 && len < (ssize_t)sizeof buf);

    /* every byte changed, and every length cut short: refused */
    for (ssize_t i = 0; i < len; i++) {
        buf[i] ^= 0x20;
        rewrite(buf, (size_t)len, 0600);
        CHECK_EQ(read_into_new(why, sizeof why, &info), -EPROTO);
        CHECK(info.foreign == (i < 8));
        buf[i] ^= 0x20;
    }
    for (ssize_t n = 0; n < len; n++) {
        rewrite(buf, (size_t)n, 0600);
        CHECK_EQ(read_into_new(why, sizeof why, &info), -EPROTO);
    }
    /* another version (its checksum right or not: the version speaks) */
    buf[11] = 2;
    rewrite(buf, (size_t)len, 0600);
    CHECK_EQ(read_into_new(why, sizeof why, &info), -EPROTO);
    CHECK(strstr(why, "version 2") != NULL);
    buf[11] = 1;
    /* writable by others: not trusted */
    rewrite(buf, (size_t)len, 0622);
    CHECK_EQ(read_into_new(why, sizeof why, &info), -EPERM);
    /* intact again: read */
    rewrite(buf, (size_t)len, 0600);
    CHECK_EQ(read_into_new(why, sizeof why, &info), 0);
    CHECK_EQ(info.sockets, 2);
    unlink(path);
}

int main(void)
{
    snprintf(path, sizeof path, "/tmp/test_siod_state.%ld", (long)getpid());
    RUN(test_round_trip);
    RUN(test_refused);
    DONE("test_siod_state");
}
