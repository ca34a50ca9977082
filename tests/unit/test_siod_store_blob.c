/* Unit tests for siod/sio/siod_sio_store_blob.c, the Redis recovery
 * store's bytes: a socket's record read back as it was written (data or
 * none, its rooms), refused for another namespace or cut short; logged
 * packets, as a claim returns them, replayed whole (head and attachments)
 * only where the socket's rooms select them, a local one only for a
 * socket of the node that sent it, another namespace's never; a list cut
 * short stops without harm. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sio/siod_sio_int.h"

/* record_read stamps the time; the store's clock in siod. */
int64_t siod_now_ms(void)
{
    return 1000;
}

static char sid[SIO_SID_LEN + 1], pid[SIO_SID_LEN + 1];

static void test_record(void)
{
    const char *rooms[] = { sid, "r1", "a room" };
    char node[17];
    size_t len;
    char *rec = siod_sio_blob_record(sid, pid, "/chat", "0badf00d",
                                     "{\"a\":1}", rooms, 3, &len);
    CHECK(rec != NULL);
    siod_sio_saved *v = siod_sio_blob_record_read(rec, len, "/chat", node);
    CHECK(v != NULL);
    CHECK(strcmp(v->sid, sid) == 0);
    CHECK(strcmp(v->pid, pid) == 0);
    CHECK(strcmp(v->nsp, "/chat") == 0);
    CHECK(strcmp(node, "0badf00d") == 0);
    CHECK(v->data_json != NULL && strcmp(v->data_json, "{\"a\":1}") == 0);
    CHECK_EQ(v->nrooms, 3);
    for (size_t i = 0; i < 3; i++)
        CHECK(strcmp(v->rooms[i], rooms[i]) == 0);
    siod_sio_saved_free(v);
    /* another namespace, cut short anywhere: not read */
    CHECK(siod_sio_blob_record_read(rec, len, "/", node) == NULL);
    for (size_t cut = 0; cut < len; cut++)
        CHECK(siod_sio_blob_record_read(rec, cut, "/chat", node) == NULL);
    /* an id with a NUL in it (after "r1" and the id's length) */
    rec[4 + 2 + 4 + 3] = '\0';
    CHECK(siod_sio_blob_record_read(rec, len, "/chat", node) == NULL);
    free(rec);
    /* no data, no rooms */
    rec = siod_sio_blob_record(sid, pid, "/", "n", NULL, NULL, 0, &len);
    CHECK(rec != NULL);
    v = siod_sio_blob_record_read(rec, len, "/", node);
    CHECK(v != NULL);
    CHECK(v->data_json == NULL);
    CHECK_EQ(v->nrooms, 0);
    siod_sio_saved_free(v);
    free(rec);
    /* a bad id length */
    rec = siod_sio_blob_record("short", pid, "/", "n", NULL, NULL, 0, &len);
    CHECK(siod_sio_blob_record_read(rec, len, "/", node) == NULL);
    free(rec);
}

/* The list a claim returns: "<len>:<blob>" for each packet. */
static struct {
    char *p;
    size_t len;
} list;

static void add_packet(const char *node, const char *nsp, char fill,
                       char **rooms, size_t nrooms, char **except,
                       size_t nexcept, unsigned flags, unsigned natts)
{
    siod_bcast_opts o = { rooms, nrooms, except, nexcept, flags };
    siod_buf *atts[2];
    siod_sio_out pkt = { siod_buf_new(5), atts, natts };
    memset(siod_buf_data(pkt.head), fill, 5);
    for (unsigned i = 0; i < natts; i++) {
        atts[i] = siod_buf_new(i + 1);
        atts[i]->bytes[0] = 'b';
        memset(siod_buf_data(atts[i]), fill, i + 1);
    }
    size_t len;
    char *blob = siod_sio_blob_packet(node, nsp, &o, &pkt, &len);
    CHECK(blob != NULL);
    char pre[24];
    int n = snprintf(pre, sizeof pre, "%zu:", len);
    list.p = realloc(list.p, list.len + (size_t)n + len);
    CHECK(list.p != NULL);
    memcpy(list.p + list.len, pre, (size_t)n);
    memcpy(list.p + list.len + n, blob, len);
    list.len += (size_t)n + len;
    free(blob);
    siod_buf_unref(pkt.head);
    for (unsigned i = 0; i < natts; i++)
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

static void collect(void *ud, const siod_sio_out *p)
{
    CHECK_EQ(p->head->len, 5);
    CHECK_EQ(p->head->bytes[0], '4');
    char fill = (char)siod_buf_data(p->head)[0];
    for (unsigned i = 0; i < p->natts; i++) {
        CHECK_EQ(p->atts[i]->len, i + 1);
        CHECK_EQ(p->atts[i]->bytes[0], 'b');
        CHECK_EQ(siod_buf_data(p->atts[i])[i], (unsigned char)fill);
    }
    got[ngot++] = fill;
    got[ngot] = '\0';
}

static const char *replay(size_t len, const char *nsp, const char *node,
                          const char **rooms)
{
    ngot = 0;
    got[0] = '\0';
    ssize_t n = siod_sio_blob_replay(list.p, len, nsp, node, in_list, collect,
                                     (void *)rooms);
    CHECK_EQ(n, (ssize_t)ngot);
    return got;
}

static void test_packets(void)
{
    static char n_r1[] = "r1", n_r2[] = "r2";
    char *r1[] = { n_r1 }, *r2[] = { n_r2 }, *me[] = { sid };
    const char *mine[] = { sid, "r1", NULL }, *other[] = { "x", NULL };

    add_packet("n1", "/", 'a', NULL, 0, NULL, 0, 0, 0);          /* all */
    add_packet("n1", "/", 'b', r1, 1, NULL, 0, 0, 2);             /* r1 */
    add_packet("n2", "/", 'c', r2, 1, NULL, 0, 0, 0);             /* r2 */
    add_packet("n2", "/", 'd', NULL, 0, r1, 1, 0, 0);             /* but r1 */
    add_packet("n1", "/", 'e', me, 1, NULL, 0, SIOD_ADAPTER_LOCAL, 1);
    add_packet("n2", "/x", 'f', NULL, 0, NULL, 0, 0, 0);          /* /x */
    add_packet("n2", "/", 'g', r1, 1, r2, 1, 0, 0);               /* r1-r2 */

    CHECK(strcmp(replay(list.len, "/", "n1", mine), "abeg") == 0);
    /* the same socket had lived on n2: n1's local emit was not for it */
    CHECK(strcmp(replay(list.len, "/", "n2", mine), "abg") == 0);
    CHECK(strcmp(replay(list.len, "/", "n1", other), "ad") == 0);
    CHECK(strcmp(replay(list.len, "/x", "n1", other), "f") == 0);
    /* cut anywhere: what is whole before the cut, nothing after */
    for (size_t cut = 0; cut < list.len; cut++) {
        replay(cut, "/", "n1", mine);
        CHECK(strncmp(got, "abeg", ngot) == 0);
    }
    free(list.p);
}

int main(void)
{
    memset(sid, 's', SIO_SID_LEN);
    memset(pid, 'p', SIO_SID_LEN);
    RUN(test_record);
    RUN(test_packets);
    DONE("test_siod_store_blob");
}
