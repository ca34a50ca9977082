/* permessage-deflate's compressor (RFC 7692) for WebSockets. Neither side
 * takes its compression context over from one message to the next
 * (socketio_ws_handshake.c agrees server_ and client_no_context_takeover),
 * so each message is deflated or inflated on its own and one pair of zlib
 * streams serves many connections: the reactor thread has its own, the
 * threads that hold WebSockets (prefork, worker) share one per child
 * under a mutex. No connection keeps a compression window. zlib's state
 * and the output buffers (grown to the largest message, then kept) are
 * malloc'd, as mod_deflate's are, and freed when the child exits. Calls
 * nothing else in ws/. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "httpd.h"
#include "http_log.h"
#include "apr_thread_mutex.h"

#include "sio_ws_pmd.h"
#include "socketio_ws_zlib.h"

APLOG_USE_MODULE(socketio);

#define PMD_TAIL_LEN 4

struct socketio_wsz {
    z_stream def, inf;
    int def_ok, inf_ok;
    unsigned char *buf;              /* output of the last call */
    apr_size_t cap;
    unsigned char *in;               /* an inflated message's input + tail */
    apr_size_t in_cap;
};

static socketio_wsz *reactor_z;      /* the reactor thread's */
static socketio_wsz *shared_z;       /* the WebSocket threads', locked */
static apr_thread_mutex_t *shared_lock;

static void z_free(socketio_wsz *z)
{
    if (!z)
        return;
    if (z->def_ok)
        deflateEnd(&z->def);
    if (z->inf_ok)
        inflateEnd(&z->inf);
    free(z->buf);
    free(z->in);
    free(z);
}

static apr_status_t zlib_cleanup(void *data)
{
    z_free(reactor_z);
    z_free(shared_z);
    reactor_z = shared_z = NULL;
    return APR_SUCCESS;
}

/* See socketio_ws_zlib.h. */
void socketio_wsz_child_init(apr_pool_t *pchild)
{
    if (apr_thread_mutex_create(&shared_lock, APR_THREAD_MUTEX_DEFAULT,
                                pchild) != APR_SUCCESS)
        shared_lock = NULL;
    apr_pool_cleanup_register(pchild, NULL, zlib_cleanup,
                              apr_pool_cleanup_null);
}

/* A new pair of raw streams: deflate with a 32 KB window (what a client
 * that did not limit server_max_window_bits can take), inflate with
 * any window up to 32 KB. NULL when memory runs out. */
static socketio_wsz *z_new(void)
{
    socketio_wsz *z = calloc(1, sizeof(*z));

    if (!z)
        return NULL;
    z->def_ok = deflateInit2(&z->def, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
                             -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK;
    z->inf_ok = inflateInit2(&z->inf, -MAX_WBITS) == Z_OK;
    if (!z->def_ok || !z->inf_ok) {
        z_free(z);
        return NULL;
    }
    return z;
}

/* See socketio_ws_zlib.h. */
socketio_wsz *socketio_wsz_acquire(int on_reactor)
{
    if (on_reactor) {
        if (!reactor_z)
            reactor_z = z_new();
        return reactor_z;
    }
    if (!shared_lock || apr_thread_mutex_lock(shared_lock) != APR_SUCCESS)
        return NULL;
    if (!shared_z)
        shared_z = z_new();
    if (!shared_z)
        apr_thread_mutex_unlock(shared_lock);
    return shared_z;
}

/* See socketio_ws_zlib.h. */
void socketio_wsz_release(socketio_wsz *z)
{
    if (z && z == shared_z)
        apr_thread_mutex_unlock(shared_lock);
}

/* Makes room for n bytes in *buf (capacity *cap). Returns 0 or -1. */
static int room(unsigned char **buf, apr_size_t *cap, apr_size_t n)
{
    unsigned char *bigger;
    apr_size_t c = *cap ? *cap : 4096;

    if (n <= *cap)
        return 0;
    while (c < n)
        c *= 2;
    bigger = realloc(*buf, c);
    if (!bigger)
        return -1;
    *buf = bigger;
    *cap = c;
    return 0;
}

/* See socketio_ws_zlib.h. */
int socketio_wsz_deflate(socketio_wsz *z, const void *in, apr_size_t len,
                         const unsigned char **out, apr_size_t *olen)
{
    /* deflateBound plus the sync flush's marker */
    apr_size_t need = deflateBound(&z->def, (uLong)len) + 16;
    int rc;

    if (room(&z->buf, &z->cap, need) != 0 || deflateReset(&z->def) != Z_OK)
        return -1;
    z->def.next_in = (Bytef *)in;
    z->def.avail_in = (uInt)len;
    z->def.next_out = z->buf;
    z->def.avail_out = (uInt)z->cap;
    rc = deflate(&z->def, Z_SYNC_FLUSH);
    if (rc != Z_OK || z->def.avail_in != 0 || z->def.avail_out == 0)
        return -1;
    *olen = z->cap - z->def.avail_out;
    /* the flush ends with 00 00 ff ff, which the receiver puts back */
    if (*olen < PMD_TAIL_LEN ||
        memcmp(z->buf + *olen - PMD_TAIL_LEN, SIO_WS_PMD_TAIL, PMD_TAIL_LEN))
        return -1;
    *olen -= PMD_TAIL_LEN;
    *out = z->buf;
    return 0;
}

/* See socketio_ws_zlib.h. */
int socketio_wsz_inflate(socketio_wsz *z, const void *in, apr_size_t len,
                         apr_size_t max, const unsigned char **out,
                         apr_size_t *olen)
{
    apr_size_t have = 0;
    int rc;

    if (room(&z->in, &z->in_cap, len + PMD_TAIL_LEN) != 0 ||
        inflateReset(&z->inf) != Z_OK)
        return SOCKETIO_WSZ_NOMEM;
    memcpy(z->in, in, len);
    memcpy(z->in + len, SIO_WS_PMD_TAIL, PMD_TAIL_LEN);
    z->inf.next_in = z->in;
    z->inf.avail_in = (uInt)(len + PMD_TAIL_LEN);
    for (;;) {
        /* one byte over max tells a message that is too big */
        apr_size_t want = have + 16384 > max + 1 ? max + 1 : have + 16384;

        if (want <= have || room(&z->buf, &z->cap, want) != 0)
            return want <= have ? SOCKETIO_WSZ_TOOBIG : SOCKETIO_WSZ_NOMEM;
        z->inf.next_out = z->buf + have;
        z->inf.avail_out = (uInt)(want - have);
        rc = inflate(&z->inf, Z_SYNC_FLUSH);
        have = want - z->inf.avail_out;
        if (have > max)
            return SOCKETIO_WSZ_TOOBIG;
        if (rc == Z_STREAM_END || (rc == Z_OK && z->inf.avail_in == 0 &&
                                   z->inf.avail_out > 0))
            break;
        if (rc == Z_BUF_ERROR && z->inf.avail_in == 0)
            break;
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return SOCKETIO_WSZ_BAD;
    }
    *out = z->buf;
    *olen = have;
    return 0;
}
