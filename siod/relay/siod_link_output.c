/* A relay link's output: frames siod sends (the link's siod_peer_ops) go
 * into an evbuffer written by the flush event once the loop's current
 * callbacks are done (one write for all the frames of a pass), and by the
 * write event only while the socket would block; shared bodies by
 * reference;
 * the backlog is bounded (--max-link-output), pausing the link's input
 * past half of it. Uses siod_link_base.c to break a link, nothing else. */
#include "siod_relay.h"
#include "siod_link_int.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a frame with a referenced body costs besides its bytes (two chains
 * and the header's reference). */
#define REF_COST 2200u
/* Shared frame bodies shorter than this are copied, not referenced. */
#define SHARED_COPY_MAX 2048u

/* Output a link may hold (--max-link-output): past half of it the link's
 * input waits, past all of it the link is closed. */
static size_t output_max = 64u * 1024u * 1024u;
static siod_log_throttle pause_log;

/* Memory the pending output costs: its bytes, plus the chains of each
 * referenced body. A referenced body counts in full: its buffer may be
 * shared, but while this link's frame waits the link alone may keep it
 * alive (a broadcast that every other link has written). */
static size_t output_memory(const siod_link *l)
{
    return evbuffer_get_length(l->out) + l->ref_count * REF_COST;
}
/* Called after output was queued on l. Over output_max the link is
 * dropped (its sessions close: polls it held end, its WebSockets close,
 * the module reconnects); over half of it l's input waits (no read, no
 * frame dispatched) until writing brings the backlog under a quarter, so
 * the child that does not keep up stops adding work of its own. Else the
 * flush is scheduled (unless the write event already waits for room).
 * Returns 0, or -ENOBUFS if the link was dropped. */
static int output_queued(siod_link *l)
{
    size_t mem = output_memory(l);

    if (mem > output_max) {
        char why[160];
        snprintf(why, sizeof why, "output backlog of %zu bytes over "
                 "--max-link-output %zu (module not reading); its sessions "
                 "close", mem, output_max);
        siod_link_break(l, SIOD_LOG_ERROR, why);
        return -ENOBUFS;
    }
    if (!l->paused && l->state == L_READY && mem > output_max / 2) {
        l->paused = 1;
        event_del(l->rev);
        siod_log_throttled(&pause_log, SIOD_LOG_WARN, "link %s: output "
                           "backlog of %zu bytes over half of "
                           "--max-link-output; input paused", l->name, mem);
    }
    if (!event_pending(l->wev, EV_WRITE, NULL))
        event_active(l->fev, EV_WRITE, 0);
    return 0;
}

/* After a write: a paused link whose backlog fell under a quarter of the
 * cap reads again, starting with the frames it already holds (which the
 * caller parses: returns 1 when l so resumed, else 0). */
static int maybe_resume(siod_link *l)
{
    if (!l->paused || output_memory(l) > output_max / 4)
        return 0;
    l->paused = 0;
    if (l->state != L_READY)
        return 0;
    siod_log_debug("link %s: output backlog down to %zu bytes; input "
                   "resumed", l->name, output_memory(l));
    event_add(l->rev, NULL);
    return 1;
}

/* siod_peer_ops.send (siod_engine.h): returns 0, -EPIPE (not ready, or
 * broken), -EMSGSIZE (over the module's frame limit: nothing queued, the
 * caller reports it), or -ENOMEM / -ENOBUFS after breaking the link. */
static int link_send(void *ctx, const sio_relay_frame *f,
                     const struct iovec *iov, int iovcnt)
{
    siod_link *l = ctx;
    unsigned char hdr[SIO_RELAY_HDR_LEN];

    if (l->state != L_READY && l->state != L_DRAINING)
        return -EPIPE;
    if (f->len > l->auth.max_body)
        return -EMSGSIZE;
    sio_relay_write_header(hdr, f);
    /* room for what is copied first: after a reference chain, evbuffer_add
     * alone would allocate a new chain as large as that reference */
    size_t copied = sizeof hdr;
    for (int i = 0; i < iovcnt; i++)
        copied += iov[i].iov_len;
    if (evbuffer_expand(l->out, copied) < 0 ||
        evbuffer_add(l->out, hdr, sizeof hdr) < 0)
        goto fail;
    for (int i = 0; i < iovcnt; i++)
        if (evbuffer_add(l->out, iov[i].iov_base, iov[i].iov_len) < 0)
            goto fail;
    return output_queued(l);
fail:
    siod_link_break(l, SIOD_LOG_ERROR, "out of memory queueing output");
    return -ENOMEM;
}

/* Queues a handshake frame (link_send serves only ready links). Returns 0,
 * or -ENOMEM / -ENOBUFS after breaking the link. */
int siod_link_handshake_send(siod_link *l, const sio_relay_frame *f,
                             const struct iovec *iov)
{
    unsigned char hdr[SIO_RELAY_HDR_LEN];

    sio_relay_write_header(hdr, f);
    if (evbuffer_add(l->out, hdr, sizeof hdr) < 0 ||
        evbuffer_add(l->out, iov->iov_base, iov->iov_len) < 0) {
        siod_link_break(l, SIOD_LOG_ERROR, "out of memory queueing output");
        return -ENOMEM;
    }
    return output_queued(l);
}

/* A frame with a referenced body: its header, the buffer it holds, the
 * link that counts it; released by both chains' cleanups. */
struct out_ref {
    unsigned refs;
    siod_link *l;
    siod_buf *b;
    unsigned char hdr[SIO_RELAY_HDR_LEN];
};

static void out_ref_release(struct out_ref *r)
{
    if (--r->refs == 0)
        free(r);
}

static void header_done(const void *data, size_t len, void *arg)
{
    out_ref_release(arg);
}

static void body_done(const void *data, size_t len, void *arg)
{
    struct out_ref *r = arg;
    r->l->ref_count--;
    siod_buf_unref(r->b);
    r->b = NULL;
    out_ref_release(r);
}

/* Appends b->bytes[off..off + len) to l's output by reference, r (whose
 * count this takes one of) releasing it. Returns 0, or -ENOMEM after
 * breaking the link (the caller's frame is then incomplete). */
static int add_body_ref(siod_link *l, struct out_ref *r, siod_buf *b,
                        size_t off, size_t len)
{
    r->refs++;
    r->b = siod_buf_ref(b);
    if (evbuffer_add_reference(l->out, b->bytes + off, len, body_done,
                               r) < 0) {
        siod_buf_unref(b);
        r->b = NULL;
        out_ref_release(r);
        /* a header without its body: the link is unusable */
        siod_link_break(l, SIOD_LOG_ERROR, "out of memory queueing output");
        return -ENOMEM;
    }
    l->ref_count++;
    return 0;
}

/* Shared bodies: small ones are copied, larger ones are referenced, so a
 * broadcast's bytes are written from the one encoded buffer to every
 * recipient's frame. A libevent reference costs a chain of about 1 KiB,
 * and the header is referenced too (copied right after a reference chain
 * it would cost a chain sized after that one), so below SHARED_COPY_MAX a
 * copy is the cheaper of the two. A frame with a copied prefix (a
 * WS_FANOUT's conn list) copies header and prefix together into room made
 * first, then references the message. siod_peer_ops.send_shared: returns
 * as link_send does, or -EINVAL for a prefix out of range. */
static int link_send_shared(void *ctx, const sio_relay_frame *f,
                            const struct iovec *pre, int npre, siod_buf *b,
                            size_t off)
{
    siod_link *l = ctx;
    size_t pre_len = 0;

    if (npre < 0 || npre > SIOD_PEER_PRE_MAX)
        return -EINVAL;
    for (int i = 0; i < npre; i++)
        pre_len += pre[i].iov_len;
    if (pre_len > f->len)
        return -EINVAL;
    size_t blen = f->len - pre_len;
    if (blen < SHARED_COPY_MAX || f->len > l->auth.max_body ||
        (l->state != L_READY && l->state != L_DRAINING)) {
        /* link_send copies, or refuses */
        struct iovec iov[SIOD_PEER_PRE_MAX + 1];
        for (int i = 0; i < npre; i++)
            iov[i] = pre[i];
        iov[npre].iov_base = b->bytes + off;
        iov[npre].iov_len = blen;
        return link_send(l, f, iov, npre + 1);
    }
    struct out_ref *r = malloc(sizeof *r);
    if (r == NULL) {
        siod_link_break(l, SIOD_LOG_ERROR, "out of memory queueing output");
        return -ENOMEM;
    }
    r->refs = 1;
    r->l = l;
    r->b = NULL;
    sio_relay_write_header(r->hdr, f);
    if (npre == 0) {
        if (evbuffer_add_reference(l->out, r->hdr, sizeof r->hdr,
                                   header_done, r) < 0) {
            free(r);
            siod_link_break(l, SIOD_LOG_ERROR,
                            "out of memory queueing output");
            return -ENOMEM;
        }
    } else {
        int bad = evbuffer_expand(l->out, sizeof r->hdr + pre_len) < 0 ||
                  evbuffer_add(l->out, r->hdr, sizeof r->hdr) < 0;
        for (int i = 0; i < npre && !bad; i++)
            bad = evbuffer_add(l->out, pre[i].iov_base, pre[i].iov_len) < 0;
        r->refs = 0;   /* the header is copied: only the body holds r */
        if (bad) {
            free(r);
            siod_link_break(l, SIOD_LOG_ERROR,
                            "out of memory queueing output");
            return -ENOMEM;
        }
    }
    int rc = add_body_ref(l, r, b, off, blen);
    if (rc < 0)
        return rc;
    return output_queued(l);
}

static size_t link_backlog(void *ctx)
{
    siod_link *l = ctx;
    return evbuffer_get_length(l->out);
}

/* The write event's work (siod_link.c's write callback): returns 1 when
 * l's input resumed, the caller then parsing what l holds, else 0. */
int siod_link_output_write(siod_link *l, evutil_socket_t fd)
{
    while (evbuffer_get_length(l->out) > 0) {
        int n = evbuffer_write(l->out, fd);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                break;
            char why[96];
            snprintf(why, sizeof why, "write: %s", strerror(errno));
            siod_link_break(l, SIOD_LOG_WARN, why);
            return 0;
        }
        if (n == 0)
            break;
    }
    if (evbuffer_get_length(l->out) == 0) {
        event_del(l->wev);
        if (l->state == L_DRAINING) {
            siod_link_break(l, SIOD_LOG_INFO, "shutdown, output flushed");
            return 0;
        }
    }
    return maybe_resume(l);
}

/* See siod_link_int.h. */
int siod_link_output_flush(siod_link *l)
{
    int resumed;

    if (l->state == L_BROKEN || evbuffer_get_length(l->out) == 0)
        return 0;
    resumed = siod_link_output_write(l, l->fd);
    if (l->state != L_BROKEN && evbuffer_get_length(l->out) > 0 &&
        !event_pending(l->wev, EV_WRITE, NULL))
        event_add(l->wev, NULL);
    return resumed;
}

void siod_links_set_output_max(size_t bytes)
{
    output_max = bytes;
}

/* The output's side of the engine's contract (siod_peer_ops), which the
 * link registers once the module has proven the relay secret. */
const siod_peer_ops siod_link_peer_ops = { link_send, link_send_shared,
                                           link_backlog };
