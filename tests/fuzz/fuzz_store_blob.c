/* libFuzzer target for the Redis recovery store's bytes (siod/sio/
 * siod_sio_store_blob.c), which siod reads back from Redis: arbitrary
 * bytes read as a socket's record (one that reads is written again the
 * same and reads back equal) and as the packet list a claim returns
 * (every packet replayed is whole: a head with its Engine.IO byte, its
 * attachments; the count returned is the count delivered). */
#include "sio/siod_sio_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENSURE(c) \
    do { \
        if (!(c)) { \
            fprintf(stderr, "fuzz_store_blob.c:%d: %s\n", __LINE__, #c); \
            __builtin_trap(); \
        } \
    } while (0)

int64_t siod_now_ms(void)
{
    return 1;
}

static size_t delivered;

/* Rooms that start with 'r' are the socket's. */
static int in(void *ud, const char *room)
{
    return room[0] == 'r';
}

static void fn(void *ud, const siod_sio_out *p)
{
    ENSURE(p->head != NULL);
    for (unsigned i = 0; i < p->natts; i++)
        ENSURE(p->atts[i] != NULL);
    delivered++;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char node[17];
    size_t len;
    siod_sio_saved *v = siod_sio_blob_record_read((const char *)data, size,
                                                  "/", node);
    if (v != NULL) {
        char *again = siod_sio_blob_record(v->sid, v->pid, v->nsp, node,
                                           v->data_json,
                                           (const char *const *)v->rooms,
                                           v->nrooms, &len);
        ENSURE(again != NULL);
        siod_sio_saved *w = siod_sio_blob_record_read(again, len, "/", node);
        ENSURE(w != NULL && w->nrooms == v->nrooms);
        ENSURE(strcmp(w->sid, v->sid) == 0 && strcmp(w->pid, v->pid) == 0);
        ENSURE((w->data_json == NULL) == (v->data_json == NULL));
        siod_sio_saved_free(w);
        free(again);
        siod_sio_saved_free(v);
    }
    delivered = 0;
    ssize_t n = siod_sio_blob_replay((const char *)data, size, "/", "n1", in,
                                     fn, NULL);
    ENSURE(n >= 0 && (size_t)n == delivered);
    return 0;
}
