/* Relay link I/O: reads frames into a growing buffer, parses them with the
 * shared relay codec, enforces the handshake (HELLO first, right magic and
 * version, then the module's AUTH proving it holds the relay secret: the
 * checks and the secret live in siod_link_auth.c, which calls nothing
 * back) and the direction of every frame, and dispatches to the session
 * layer.
 * Output goes into an evbuffer drained by a write event. A broken link is
 * closed from the loop (a reap event), never from inside a send. Links are
 * bounded in number (--max-links) and in handshake time (5 s to a valid
 * AUTH); what a link not yet proven can repeat is logged throttled. */
#include "siod_relay.h"
#include "siod_link_auth.h"
#include "core/siod_core.h"
#include "engine/siod_engine.h"
#include "sio_relay.h"

#include <errno.h>
#include <sys/time.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_MIN_ROOM (16u * 1024u)
#define READ_INIT_CAP (64u * 1024u)
#define READ_MAX_CAP ((size_t)SIO_RELAY_HDR_LEN + SIO_RELAY_MAX_BODY + READ_INIT_CAP)
/* What a frame with a referenced body costs besides its bytes (two chains
 * and the header's reference). */
#define REF_COST 2200u
/* Shared frame bodies shorter than this are copied, not referenced. */
#define SHARED_COPY_MAX 2048u
/* At most one warning per this many seconds for links refused during the
 * handshake; the others are logged at debug and counted. */
#define REFUSE_LOG_INTERVAL 10
/* A link must have proven the relay secret (AUTH) this many seconds after
 * it was accepted, or it is closed: a process that connects and says
 * nothing holds no descriptor for long. */
#define HANDSHAKE_SECONDS 5

/* A link's states; only transit() changes them. */
enum link_state {
    L_HELLO,     /* waiting for the module's HELLO */
    L_AUTH,      /* HELLO and proof sent; waiting for the module's AUTH */
    L_READY,     /* exchanging frames */
    L_DRAINING,  /* shutdown: writing what is left, reading nothing */
    L_BROKEN     /* waiting for the reaper */
};

typedef struct siod_link {
    int fd;
    enum link_state state;
    char name[40];
    struct event *rev;
    struct event *wev;
    struct event *hs_timer;              /* HANDSHAKE_SECONDS deadline */
    struct evbuffer *out;
    unsigned char *in;
    size_t in_len, in_cap;
    siod_peer *peer;
    uid_t uid;                           /* SO_PEERCRED, for the logs */
    pid_t pid;
    siod_link_auth auth;                 /* the handshake's nonces, and
                                          * the module's HELLO */
    struct siod_link *prev, *next;       /* all links */
    struct siod_link *reap_next;
    int reap_pending;
    size_t ref_count;                    /* referenced (shared) bodies */
    int paused;                          /* input held back: output backlog */
} siod_link;

static siod_link *links;
static unsigned link_count;
static unsigned link_serial;
static siod_link *reap_list;
static struct event *reap_ev;
static void (*drain_done)(void);
/* Links at once (--max-links; 0: no bound). */
static unsigned links_max = SIOD_LINKS_MAX_DEFAULT;
/* Lines a process that may connect can repeat (the module's ready links
 * log unthrottled: their lines come once per httpd child). */
static siod_log_throttle refuse_log =
    SIOD_LOG_THROTTLE(REFUSE_LOG_INTERVAL, 1);
static siod_log_throttle unready_close_log;
static siod_log_throttle connected_log;
static siod_log_throttle over_max_log;
/* Output a link may hold (--max-link-output): past half of it the link's
 * input waits, past all of it the link is closed. */
static size_t output_max = 64u * 1024u * 1024u;
static siod_log_throttle pause_log;
static siod_log_throttle unready_transit_log;

static const char *const state_names[] = {
    "hello", "auth", "ready", "draining", "broken"
};

static void parse_input(siod_link *l);

/* The one place a link's state changes: logs old -> new and why at debug
 * level, throttled while the link has not proven the relay secret (any
 * process of an allowed uid can repeat those transitions; proving it
 * cannot be). */
static void transit(siod_link *l, enum link_state to, const char *why)
{
    if (siod_log_verbose()) {
        if ((l->state == L_HELLO || l->state == L_AUTH) && to != L_READY)
            siod_log_throttled(&unready_transit_log, SIOD_LOG_DEBUG,
                               "link %s: %s -> %s (%s)", l->name,
                               state_names[l->state], state_names[to], why);
        else
            siod_log(SIOD_LOG_DEBUG, "link %s: %s -> %s (%s)", l->name,
                     state_names[l->state], state_names[to], why);
    }
    l->state = to;
}

static int link_send(void *ctx, const sio_relay_frame *f,
                     const struct iovec *iov, int iovcnt);
static int link_send_shared(void *ctx, const sio_relay_frame *f,
                            const struct iovec *pre, int npre, siod_buf *b,
                            size_t off);
static size_t link_backlog(void *ctx);

static const siod_peer_ops link_ops = { link_send, link_send_shared,
                                        link_backlog };

static void link_free(siod_link *l)
{
    if (l->prev != NULL)
        l->prev->next = l->next;
    else
        links = l->next;
    if (l->next != NULL)
        l->next->prev = l->prev;
    link_count--;
    /* the peer goes first: its sessions may still try to send (they are
     * told the link is dead, so nothing reaches this link) */
    siod_peer *p = l->peer;
    l->peer = NULL;
    siod_peer_free(p);
    if (l->rev != NULL)
        event_free(l->rev);
    if (l->wev != NULL)
        event_free(l->wev);
    if (l->hs_timer != NULL)
        event_free(l->hs_timer);
    if (l->out != NULL)
        evbuffer_free(l->out);
    if (l->fd >= 0)
        close(l->fd);
    free(l->in);
    siod_link_auth_clear(&l->auth);
    free(l);
    if (drain_done != NULL && links == NULL) {
        void (*done)(void) = drain_done;
        drain_done = NULL;
        done();
    }
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    while (reap_list != NULL) {
        siod_link *l = reap_list;
        reap_list = l->reap_next;
        link_free(l);
    }
}

/* Marks l broken and has the loop free it after the current callback;
 * logs why through t (NULL: unthrottled). */
static void link_break_via(siod_link *l, siod_log_throttle *t, int level,
                           const char *why)
{
    if (l->state == L_BROKEN)
        return;
    if (t != NULL)
        siod_log_throttled(t, level, "link %s closed: %s", l->name, why);
    else
        siod_log(level, "link %s closed: %s", l->name, why);
    transit(l, L_BROKEN, why);
    event_del(l->rev);
    event_del(l->wev);
    if (l->hs_timer != NULL)
        event_del(l->hs_timer);
    if (!l->reap_pending) {
        l->reap_pending = 1;
        l->reap_next = reap_list;
        reap_list = l;
        event_active(reap_ev, EV_WRITE, 0);
    }
}

/* link_break_via; a link that has not proven the relay secret may be any
 * process of an allowed uid, which can repeat it at will: its lines are
 * throttled. */
static void link_break(siod_link *l, int level, const char *why)
{
    link_break_via(l, l->state == L_HELLO || l->state == L_AUTH
                          ? &unready_close_log : NULL, level, why);
}

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
 * write event is armed. Returns 0, or -1 if the link was dropped. */
static int output_queued(siod_link *l)
{
    size_t mem = output_memory(l);

    if (mem > output_max) {
        char why[160];
        snprintf(why, sizeof why, "output backlog of %zu bytes over "
                 "--max-link-output %zu (module not reading); its sessions "
                 "close", mem, output_max);
        link_break(l, SIOD_LOG_ERROR, why);
        return -1;
    }
    if (!l->paused && l->state == L_READY && mem > output_max / 2) {
        l->paused = 1;
        event_del(l->rev);
        siod_log_throttled(&pause_log, SIOD_LOG_WARN, "link %s: output "
                           "backlog of %zu bytes over half of "
                           "--max-link-output; input paused", l->name, mem);
    }
    if (!event_pending(l->wev, EV_WRITE, NULL))
        event_add(l->wev, NULL);
    return 0;
}

/* After a write: a paused link whose backlog fell under a quarter of the
 * cap reads again, starting with the frames it already holds. */
static void maybe_resume(siod_link *l)
{
    if (!l->paused || output_memory(l) > output_max / 4)
        return;
    l->paused = 0;
    if (l->state != L_READY)
        return;
    siod_log_debug("link %s: output backlog down to %zu bytes; input "
                   "resumed", l->name, output_memory(l));
    event_add(l->rev, NULL);
    parse_input(l);
}


static int link_send(void *ctx, const sio_relay_frame *f,
                     const struct iovec *iov, int iovcnt)
{
    siod_link *l = ctx;
    unsigned char hdr[SIO_RELAY_HDR_LEN];

    if (l->state != L_READY && l->state != L_DRAINING)
        return -1;
    if (f->len > l->auth.max_body) {
        siod_log_limited(SIOD_LOG_ERROR, "link %s: %s frame of %u bytes is "
                         "over the module's limit (%u); not sent", l->name,
                         sio_relay_type_name(f->type), (unsigned)f->len,
                         (unsigned)l->auth.max_body);
        return -1;
    }
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
    link_break(l, SIOD_LOG_ERROR, "out of memory queueing output");
    return -1;
}

/* Queues a handshake frame (link_send serves only ready links). Returns 0,
 * or -1 after breaking the link. */
static int handshake_send(siod_link *l, const sio_relay_frame *f,
                          const struct iovec *iov)
{
    unsigned char hdr[SIO_RELAY_HDR_LEN];

    sio_relay_write_header(hdr, f);
    if (evbuffer_add(l->out, hdr, sizeof hdr) < 0 ||
        evbuffer_add(l->out, iov->iov_base, iov->iov_len) < 0) {
        link_break(l, SIOD_LOG_ERROR, "out of memory queueing output");
        return -1;
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
 * count this takes one of) releasing it. Returns 0, or -1 after breaking
 * the link (the caller's frame is then incomplete). */
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
        link_break(l, SIOD_LOG_ERROR, "out of memory queueing output");
        return -1;
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
 * first, then references the message. */
static int link_send_shared(void *ctx, const sio_relay_frame *f,
                            const struct iovec *pre, int npre, siod_buf *b,
                            size_t off)
{
    siod_link *l = ctx;
    size_t pre_len = 0;

    if (npre < 0 || npre > SIOD_PEER_PRE_MAX)
        return -1;
    for (int i = 0; i < npre; i++)
        pre_len += pre[i].iov_len;
    if (pre_len > f->len)
        return -1;
    size_t blen = f->len - pre_len;
    if (blen < SHARED_COPY_MAX || f->len > l->auth.max_body ||
        (l->state != L_READY && l->state != L_DRAINING)) {
        /* link_send copies, or refuses and logs */
        struct iovec iov[SIOD_PEER_PRE_MAX + 1];
        for (int i = 0; i < npre; i++)
            iov[i] = pre[i];
        iov[npre].iov_base = b->bytes + off;
        iov[npre].iov_len = blen;
        return link_send(l, f, iov, npre + 1);
    }
    struct out_ref *r = malloc(sizeof *r);
    if (r == NULL) {
        link_break(l, SIOD_LOG_ERROR, "out of memory queueing output");
        return -1;
    }
    r->refs = 1;
    r->l = l;
    r->b = NULL;
    sio_relay_write_header(r->hdr, f);
    if (npre == 0) {
        if (evbuffer_add_reference(l->out, r->hdr, sizeof r->hdr,
                                   header_done, r) < 0) {
            free(r);
            link_break(l, SIOD_LOG_ERROR, "out of memory queueing output");
            return -1;
        }
    } else {
        int bad = evbuffer_expand(l->out, sizeof r->hdr + pre_len) < 0 ||
                  evbuffer_add(l->out, r->hdr, sizeof r->hdr) < 0;
        for (int i = 0; i < npre && !bad; i++)
            bad = evbuffer_add(l->out, pre[i].iov_base, pre[i].iov_len) < 0;
        r->refs = 0;   /* the header is copied: only the body holds r */
        if (bad) {
            free(r);
            link_break(l, SIOD_LOG_ERROR, "out of memory queueing output");
            return -1;
        }
    }
    if (add_body_ref(l, r, b, off, blen) < 0)
        return -1;
    return output_queued(l);
}

static size_t link_backlog(void *ctx)
{
    siod_link *l = ctx;
    return evbuffer_get_length(l->out);
}

static void write_cb(evutil_socket_t fd, short what, void *arg)
{
    siod_link *l = arg;
    while (evbuffer_get_length(l->out) > 0) {
        int n = evbuffer_write(l->out, fd);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                break;
            char why[96];
            snprintf(why, sizeof why, "write: %s", strerror(errno));
            link_break(l, SIOD_LOG_WARN, why);
            return;
        }
        if (n == 0)
            break;
    }
    if (evbuffer_get_length(l->out) == 0) {
        event_del(l->wev);
        if (l->state == L_DRAINING) {
            link_break(l, SIOD_LOG_INFO, "shutdown, output flushed");
            return;
        }
    }
    maybe_resume(l);
}

/* Closes a link that failed the handshake. A process of an allowed uid
 * can retry at will, so one warning per REFUSE_LOG_INTERVAL says who (uid
 * and pid from SO_PEERCRED), counting the others (at debug with -v). */
static void link_refuse(siod_link *l, const char *why)
{
    char msg[256];

    snprintf(msg, sizeof msg, "refused (peer uid %ld, pid %ld): %s",
             (long)l->uid, (long)l->pid, why);
    link_break_via(l, &refuse_log, SIOD_LOG_WARN, msg);
}

/* The handshake deadline: a link still without a valid AUTH is refused. */
static void handshake_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    siod_link *l = arg;

    if (l->state == L_HELLO || l->state == L_AUTH)
        link_refuse(l, l->state == L_HELLO
                           ? "no HELLO within the handshake deadline (5 s)"
                           : "no proof of the relay secret (AUTH) within the "
                             "handshake deadline (5 s)");
}

/* The module's HELLO: answered with siod's HELLO (a fresh nonce) and siod's
 * proof of the secret over both nonces; the link then waits for the
 * module's proof. Returns 0, or -1 after closing the link. */
static int handle_hello(siod_link *l, const sio_relay_frame *f)
{
    unsigned char body[SIO_RELAY_HELLO_LEN];
    unsigned char proof[SIO_RELAY_PROOF_LEN];
    char why[96];
    int rc = siod_link_auth_hello(&l->auth, f, body, proof, why, sizeof why);

    if (rc == SIOD_LINK_AUTH_FAILED) {
        link_break(l, SIOD_LOG_ERROR, why);
        return -1;
    }
    if (rc < 0) {
        link_refuse(l, why);
        return -1;
    }
    transit(l, L_AUTH, "HELLO answered with siod's HELLO and proof");

    sio_relay_frame r;
    memset(&r, 0, sizeof r);
    r.type = SIO_R_HELLO;
    r.len = sizeof body;
    struct iovec iov = { body, sizeof body };
    if (handshake_send(l, &r, &iov) < 0)
        return -1;
    r.type = SIO_R_AUTH;
    r.len = sizeof proof;
    iov.iov_base = proof;
    iov.iov_len = sizeof proof;
    return handshake_send(l, &r, &iov);
}

/* The module's AUTH: its proof over both nonces. Only now does the link
 * get a peer and carry sessions. Returns 0, or -1 after closing it. */
static int handle_auth(siod_link *l, const sio_relay_frame *f)
{
    char why[96];

    if (siod_link_auth_check(&l->auth, f, why, sizeof why) < 0) {
        link_refuse(l, why);
        return -1;
    }
    /* WS_FANOUT only to a module that said it takes it */
    l->peer = siod_peer_new(&link_ops, l, l->name,
                            l->auth.caps & SIO_RELAY_CAP_FANOUT,
                            l->auth.max_body);
    if (l->peer == NULL) {
        link_break(l, SIOD_LOG_ERROR, "out of memory");
        return -1;
    }
    transit(l, L_READY, "the module proved the relay secret");
    event_del(l->hs_timer);
    siod_log(SIOD_LOG_INFO, "link %s ready (module pid %u, max body %u%s)",
             l->name, (unsigned)l->auth.pid, (unsigned)l->auth.max_body,
             (l->auth.caps & SIO_RELAY_CAP_FANOUT) ? ", fan-out" : "");
    return 0;
}

/* Dispatches one parsed frame; body is the mutable view of f->body.
 * Returns 0, or -1 after breaking the link. */
static int dispatch(siod_link *l, const sio_relay_frame *f,
                    unsigned char *body)
{
    int rc;

    if (siod_log_verbose())
        siod_log(SIOD_LOG_DEBUG, "link %s: <- %s conn %llu flags %u status "
                 "%u len %u", l->name, sio_relay_type_name(f->type),
                 (unsigned long long)f->conn, (unsigned)f->flags,
                 (unsigned)f->status, (unsigned)f->len);
    if (l->state == L_HELLO) {
        if (f->type != SIO_R_HELLO) {
            link_refuse(l, "first frame is not HELLO");
            return -1;
        }
        return handle_hello(l, f);
    }
    if (l->state == L_AUTH)
        return handle_auth(l, f);
    switch (f->type) {
    case SIO_R_OPEN:
        rc = siod_session_relay_open(l->peer, f);
        break;
    case SIO_R_UPGRADE:
        rc = siod_session_relay_upgrade(l->peer, f);
        break;
    case SIO_R_POLL_GET:
        rc = siod_session_relay_poll_get(l->peer, f);
        break;
    case SIO_R_POLL_POST:
        rc = siod_session_relay_poll_post(l->peer, f, body);
        break;
    case SIO_R_CANCEL:
        rc = siod_session_relay_cancel(l->peer, f);
        break;
    case SIO_R_WS_MSG:
        rc = siod_session_relay_ws_msg(l->peer, f);
        break;
    case SIO_R_WS_CLOSED:
        rc = siod_session_relay_ws_closed(l->peer, f);
        break;
    case SIO_R_ABORT:
        rc = siod_session_relay_abort(l->peer, f);
        break;
    default: {
        char why[64];
        snprintf(why, sizeof why, "unexpected %s frame",
                 sio_relay_type_name(f->type));
        link_break(l, SIOD_LOG_WARN, why);
        return -1;
    }
    }
    if (rc < 0) {
        char why[64];
        snprintf(why, sizeof why, "invalid %s frame",
                 sio_relay_type_name(f->type));
        link_break(l, SIOD_LOG_WARN, why);
        return -1;
    }
    return 0;
}

static void parse_input(siod_link *l)
{
    size_t off = 0;
    while ((l->state == L_HELLO || l->state == L_AUTH ||
            l->state == L_READY) && !l->paused) {
        sio_relay_frame f;
        size_t used;
        int rc = sio_relay_parse(l->in + off, l->in_len - off,
                                 SIO_RELAY_MAX_BODY, &used, &f);
        if (rc == SIO_AGAIN)
            break;
        if (rc != SIO_OK) {
            char why[64];
            snprintf(why, sizeof why, "bad frame: %s", sio_strerror(rc));
            link_break(l, SIOD_LOG_WARN, why);
            return;
        }
        unsigned char *body = l->in + off + SIO_RELAY_HDR_LEN;
        off += used;
        if (dispatch(l, &f, body) < 0)
            return;
    }
    if (off > 0) {
        memmove(l->in, l->in + off, l->in_len - off);
        l->in_len -= off;
    }
    /* give back the memory of one big frame once it is handled */
    if (l->in_cap > 4 * READ_INIT_CAP && l->in_len < READ_INIT_CAP) {
        unsigned char *p = realloc(l->in, READ_INIT_CAP);
        if (p != NULL) {
            l->in = p;
            l->in_cap = READ_INIT_CAP;
        }
    }
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
    siod_link *l = arg;

    if (l->in_cap - l->in_len < READ_MIN_ROOM) {
        size_t cap = l->in_cap * 2;
        if (cap > READ_MAX_CAP)
            cap = READ_MAX_CAP;
        if (cap - l->in_len < READ_MIN_ROOM && cap == l->in_cap) {
            link_break(l, SIOD_LOG_WARN, "input over the frame limit");
            return;
        }
        unsigned char *p = realloc(l->in, cap);
        if (p == NULL) {
            link_break(l, SIOD_LOG_ERROR, "out of memory reading");
            return;
        }
        l->in = p;
        l->in_cap = cap;
    }
    ssize_t n = read(fd, l->in + l->in_len, l->in_cap - l->in_len);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        char why[96];
        snprintf(why, sizeof why, "read: %s", strerror(errno));
        link_break(l, SIOD_LOG_WARN, why);
        return;
    }
    if (n == 0) {
        link_break(l, SIOD_LOG_INFO, l->in_len > 0 ?
                   "closed by the module mid-frame" : "closed by the module");
        return;
    }
    l->in_len += (size_t)n;
    parse_input(l);
}

int siod_link_adopt(struct event_base *base, int fd, uid_t uid, pid_t pid)
{
    if (links_max > 0 && link_count >= links_max) {
        siod_log_throttled(&over_max_log, SIOD_LOG_WARN, "refused a "
                           "connection from uid %ld (pid %ld): %u links open "
                           "(--max-links)", (long)uid, (long)pid, link_count);
        close(fd);
        return -1;
    }
    siod_link *l = calloc(1, sizeof *l);
    if (l == NULL) {
        close(fd);
        return -1;
    }
    l->fd = fd;
    l->state = L_HELLO;                  /* the initial state */
    l->uid = uid;
    l->pid = pid;
    snprintf(l->name, sizeof l->name, "%u(pid %ld)", ++link_serial,
             (long)pid);
    if (reap_ev == NULL)
        reap_ev = event_new(base, -1, 0, reap_cb, NULL);
    l->in = malloc(READ_INIT_CAP);
    l->in_cap = READ_INIT_CAP;
    l->out = evbuffer_new();
    l->rev = event_new(base, fd, EV_READ | EV_PERSIST, read_cb, l);
    l->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, write_cb, l);
    l->hs_timer = evtimer_new(base, handshake_timeout_cb, l);
    struct timeval deadline = { HANDSHAKE_SECONDS, 0 };
    if (reap_ev == NULL || l->in == NULL || l->out == NULL ||
        l->rev == NULL || l->wev == NULL || l->hs_timer == NULL ||
        event_add(l->rev, NULL) < 0 ||
        evtimer_add(l->hs_timer, &deadline) < 0) {
        siod_log_limited(SIOD_LOG_ERROR, "link %s: out of memory", l->name);
        transit(l, L_BROKEN, "out of memory");
        l->next = links;
        if (links != NULL)
            links->prev = l;
        links = l;
        link_count++;
        link_free(l);
        return -1;
    }
    l->next = links;
    if (links != NULL)
        links->prev = l;
    links = l;
    link_count++;
    siod_log_throttled(&connected_log, SIOD_LOG_INFO, "link %s connected "
                       "(uid %ld)", l->name, (long)uid);
    return 0;
}

void siod_links_drain(void (*done)(void))
{
    drain_done = done;
    for (siod_link *l = links; l != NULL; l = l->next) {
        if (l->state == L_BROKEN)
            continue;
        if (l->state == L_HELLO || l->state == L_AUTH) {
            link_break(l, SIOD_LOG_INFO, "shutdown");
            continue;
        }
        transit(l, L_DRAINING, "shutdown");
        event_del(l->rev);
        if (evbuffer_get_length(l->out) == 0)
            link_break(l, SIOD_LOG_INFO, "shutdown");
    }
    if (links == NULL && drain_done != NULL) {
        drain_done = NULL;
        done();
    }
}

void siod_links_free_all(void)
{
    drain_done = NULL;
    reap_list = NULL;
    while (links != NULL)
        link_free(links);
    if (reap_ev != NULL) {
        event_free(reap_ev);
        reap_ev = NULL;
    }
}

unsigned siod_links_count(void)
{
    return link_count;
}

void siod_links_set_output_max(size_t bytes)
{
    output_max = bytes;
}

void siod_links_set_max(unsigned n)
{
    links_max = n;
}
