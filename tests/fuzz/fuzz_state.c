/* libFuzzer target for recovery's state file reader (siod/sio/
 * siod_sio_state.c): arbitrary bytes as the records of a state file whose
 * header and checksum are right (what a file cut short or changed cannot
 * reach: the checksum stops it first), read into a store; whatever reads
 * must write back and read again to the same store (packets, sockets and
 * their bytes). */
#include "sio/siod_sio_int.h"
#include "sio_be.h"
#include "sio_sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ENSURE(c) \
    do { \
        if (!(c)) { \
            fprintf(stderr, "fuzz_state.c:%d: %s\n", __LINE__, #c); \
            __builtin_trap(); \
        } \
    } while (0)

#define NOW 1700000000000LL
#define WINDOW 120000u

/* The store's and the file's clock (siod_sio_util.c's in siod). */
int64_t siod_now_ms(void)
{
    return NOW;
}

static char in_path[64], out_path[64];

/* The files of this process, at its exit. */
static void remove_files(void)
{
    unlink(in_path);
    unlink(out_path);
}

/* Writes the header, data[0..len) and the checksum to in_path. */
static void write_file(const uint8_t *data, size_t len)
{
    unsigned char head[40], digest[SIO_SHA256_LEN];
    sio_sha256 sha;

    memcpy(head, "SIODSTAT", 8);
    sio_be32_put(head + 8, 1);
    sio_be64_put(head + 12, (uint64_t)NOW - 1000);
    sio_be32_put(head + 20, WINDOW);
    sio_be64_put(head + 24, (uint64_t)NOW);
    sio_be64_put(head + 32, 7);
    sio_sha256_init(&sha);
    sio_sha256_update(&sha, head, sizeof head);
    sio_sha256_update(&sha, data, len);
    sio_sha256_final(&sha, digest);
    int fd = open(in_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ENSURE(fd >= 0);
    ENSURE(write(fd, head, sizeof head) == (ssize_t)sizeof head);
    ENSURE(len == 0 || write(fd, data, len) == (ssize_t)len);
    ENSURE(write(fd, digest, sizeof digest) == (ssize_t)sizeof digest);
    close(fd);
}

/* The sessions handed over that a read gave, newest first. */
static siod_sio_handover *handed;
static size_t nhanded;

static int keep_handed(siod_sio_handover *h)
{
    h->next = handed;
    handed = h;
    nhanded++;
    return 0;
}

static void drop_handed(void)
{
    while (handed != NULL) {
        siod_sio_handover *h = handed;
        handed = h->next;
        siod_sio_handover_free(h);
    }
    nhanded = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    siod_sio_recovery_conf c = { WINDOW, 0, 1000, 1 << 20, 1000, 1 << 20,
                                 NULL };
    siod_sio_state_info info;
    siod_sio_store_stats a, b;
    char why[256];
    size_t packets, sockets;

    if (in_path[0] == '\0') {
        snprintf(in_path, sizeof in_path, "/tmp/fuzz_state_in.%ld",
                 (long)getpid());
        snprintf(out_path, sizeof out_path, "/tmp/fuzz_state_out.%ld",
                 (long)getpid());
        atexit(remove_files);
    }
    write_file(data, size);
    void *st = siod_sio_store_mem.create(&c);
    ENSURE(st != NULL);
    int rc = siod_sio_state_read(in_path, st, WINDOW, keep_handed, &info,
                                 why, sizeof why);
    ENSURE(rc == 0 || rc == -EPROTO || rc == -EINVAL || rc == -ENOMEM);
    if (rc == 0) {
        siod_sio_store_mem.stats(st, &a);
        ENSURE(nhanded == info.sessions);
        siod_sio_handover *first = handed;
        size_t n = nhanded;
        handed = NULL;
        nhanded = 0;
        ENSURE(siod_sio_state_write(out_path, st, WINDOW, first, &packets,
                                    &sockets, why, sizeof why) == 0);
        ENSURE(packets == a.packets && sockets == a.sessions);
        while (first != NULL) {
            siod_sio_handover *h = first;
            first = h->next;
            siod_sio_handover_free(h);
        }
        void *again = siod_sio_store_mem.create(&c);
        ENSURE(siod_sio_state_read(out_path, again, WINDOW, keep_handed,
                                   &info, why, sizeof why) == 0);
        ENSURE(nhanded == n);
        siod_sio_store_mem.stats(again, &b);
        ENSURE(a.packets == b.packets && a.log_bytes == b.log_bytes &&
               a.sessions == b.sessions && a.session_bytes == b.session_bytes);
        siod_sio_store_mem.destroy(again);
    }
    siod_sio_store_mem.destroy(st);
    drop_handed();
    return 0;
}
