/* Session ids: random bytes from getrandom(2), fetched in batches to keep
 * syscalls off the per-session path, encoded with the shared base64 codec
 * and mapped to the URL-safe alphabet so ids need no escaping in queries.
 * A node's ids begin with its tag (SIO_NODE_TAG_LEN characters in place of
 * random ones: 120 - 6 * SIO_NODE_TAG_LEN random bits are left, 108 with
 * two characters), keeping the 20-character shape Node's ids have. */
#include "siod_sid.h"
#include "sio_base64.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#define SID_RAW 15           /* 15 bytes -> exactly 20 base64 characters */
#define POOL_IDS 64

static unsigned char pool[SID_RAW * POOL_IDS];
static size_t pool_left;
static char node[SIO_NODE_TAG_LEN + 1];

int siod_sid_set_node(const char *tag)
{
    if (!sio_node_tag_valid(tag, strlen(tag)))
        return -EINVAL;
    memcpy(node, tag, SIO_NODE_TAG_LEN + 1);
    return 0;
}

const char *siod_sid_node(void)
{
    return node;
}

static int refill(void)
{
    size_t got = 0;
    while (got < sizeof pool) {
        ssize_t n = getrandom(pool + got, sizeof pool - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)n;
    }
    pool_left = sizeof pool;
    return 0;
}

int siod_sid_generate(char out[SIO_SID_LEN])
{
    char enc[SIO_SID_LEN + 4];

    if (pool_left < SID_RAW) {
        int rc = refill();
        if (rc < 0)
            return rc;
    }
    pool_left -= SID_RAW;
    size_t n = sio_base64_encode(enc, pool + pool_left, SID_RAW);
    /* used bytes are wiped so an id never lingers in the pool */
    memset(pool + pool_left, 0, SID_RAW);
    if (n != SIO_SID_LEN)
        return -EINVAL;
    for (size_t i = 0; i < SIO_SID_LEN; i++) {
        if (enc[i] == '+')
            enc[i] = '-';
        else if (enc[i] == '/')
            enc[i] = '_';
    }
    memcpy(out, enc, SIO_SID_LEN);
    if (node[0] != '\0')
        memcpy(out, node, SIO_NODE_TAG_LEN);
    return 0;
}
