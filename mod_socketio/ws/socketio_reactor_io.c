/* The reactor's own socket I/O for the connections it adopts (see
 * socketio_reactor.c for the whole reactor), so that a message in or out
 * costs no memory of the connection's and no allocator call to the
 * system:
 * - Input: a filter just above the core input filter reads the socket
 *   itself into memory of the reactor's allocator, which keeps what it
 *   frees for the next read. The core input filter would take every read
 *   buffer (8 KB, even for a read that finds nothing) from the
 *   connection's allocator, which gives every block back at once (so that
 *   idle clients stay small; socketio_reactor_adopt.c): a map and an unmap
 *   per read. Filters above (mod_ssl, ...) still see every byte.
 * - Output: where the core output filter is the connection's only one
 *   (no TLS), rc->direct_out tells the loop to write queued frames
 *   straight to the socket (many per writev), and the WebSocket gets the
 *   direct writer (socketio_wsconn.h): the output queue writes a frame
 *   for that client alone at once while nothing is queued before it, from
 *   the bytes at hand, so a client that keeps up costs no copy and no
 *   queue memory.
 * Reactor thread only; calls the connection (socketio_wsconn.h) and no
 * other reactor file. */
#include "socketio_reactor_int.h"

APLOG_USE_MODULE(socketio);

/* Largest read: what the WebSocket reader asks for at most. */
#define IN_READ_MAX SCRATCH_SIZE

static ap_filter_rec_t *in_filter;

static void in_free(void *data)
{
    apr_bucket_free(data);
}

/* The input filter (ctx: the rconn). Until the core input filter below it
 * has been seen to hold nothing (a non-blocking READBYTES that returned
 * no data found the socket empty with nothing buffered), or after any
 * other call has gone down to it, calls pass through. Then non-blocking
 * READBYTES reads the socket directly: the bytes come in a heap bucket of
 * the reactor's memory; no data is an empty brigade, as the core filter
 * answers; the end of the stream is APR_EOF. A read that got less than it
 * asked for emptied the socket: the next ones answer no data without a
 * system call until epoll reports the socket readable again
 * (rc->in_drained, cleared by the loop; epoll is level-triggered, so
 * bytes that came meanwhile are reported at its next wait). */
static apr_status_t in_filter_func(ap_filter_t *f, apr_bucket_brigade *bb,
                                   ap_input_mode_t mode,
                                   apr_read_type_e block,
                                   apr_off_t readbytes)
{
    rconn *rc = f->ctx;
    apr_size_t n, want;
    apr_status_t rv;
    char *buf;
    int was_empty;

    if (mode != AP_MODE_READBYTES || block != APR_NONBLOCK_READ ||
        readbytes <= 0 || !rc->in_direct) {
        was_empty = APR_BRIGADE_EMPTY(bb);
        rv = ap_get_brigade(f->next, bb, mode, block, readbytes);
        rc->in_direct = mode == AP_MODE_READBYTES && rv == APR_SUCCESS &&
                        was_empty && APR_BRIGADE_EMPTY(bb);
        return rv;
    }
    if (rc->in_drained)
        return APR_SUCCESS;
    want = readbytes < IN_READ_MAX ? (apr_size_t)readbytes : IN_READ_MAX;
    buf = apr_bucket_alloc(want, rc->re->ba);
    if (!buf)
        return APR_ENOMEM;
    n = want;
    rv = apr_socket_recv(rc->csd, buf, &n);
    rc->in_drained = n < want;
    if (rv == APR_SUCCESS && n > 0) {
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_heap_create(buf, n, in_free,
                                                           f->c->bucket_alloc));
        return APR_SUCCESS;
    }
    apr_bucket_free(buf);
    if (APR_STATUS_IS_EAGAIN(rv))
        return APR_SUCCESS;
    return rv == APR_SUCCESS ? APR_EOF : rv;
}

/* The direct writer (socketio_ws_writer; ctx: the rconn): one
 * non-blocking writev, only while the filters hold nothing. */
static apr_size_t write_now(void *ctx, const struct iovec *vec, int n)
{
    rconn *rc = ctx;
    apr_size_t len = 0;
    apr_status_t rv;

    if (rc->phase != RC_WS || rc->c->data_in_output_filters ||
        rc->c->aborted)
        return 0;
    rv = apr_socket_sendv(rc->csd, vec, n, &len);
    if (rv == APR_SUCCESS)
        return len;
    if (!APR_STATUS_IS_EAGAIN(rv)) {
        socketio_ws_lost(rc->ws, rv, "write failed");
        mark_dirty(rc);
    }
    return 0;
}

/* See socketio_reactor_int.h. */
void socketio_reactor_io_register(void)
{
    in_filter = ap_register_input_filter("SOCKETIO_REACTOR_IN",
                                         in_filter_func, NULL,
                                         AP_FTYPE_NETWORK - 1);
}

/* See socketio_reactor_int.h. The input filter goes in just above the
 * core's (after any other network filter, such as mod_logio's). */
void socketio_reactor_io_adopt(rconn *rc)
{
    conn_rec *c = rc->c;
    ap_filter_t *of = c->output_filters;

    rc->in_direct = 0;
    rc->in_drained = 0;
    if (in_filter)
        ap_add_input_filter_handle(in_filter, rc, NULL, c);
    if (of && of->frec == ap_core_output_filter_handle && !of->next) {
        rc->direct_out = 1;
        rc->ws->write_now = write_now;
        rc->ws->write_ctx = rc;
    }
}
