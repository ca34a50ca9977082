/* Relay link input: reads frames into a growing buffer, parses them with
 * the shared relay codec, enforces the handshake (HELLO first, right magic
 * and version, then the module's AUTH proving it holds the relay secret:
 * the checks and the secret live in siod_link_auth.c, which calls nothing
 * back) and the direction of every frame, and dispatches to the session
 * layer; adopts new links. Output is siod_link_output.c's, a link's
 * lifecycle siod_link_base.c's (siod_link_int.h). Links are bounded in
 * number (--max-links) and in handshake time (5 s to a valid AUTH); what a
 * link not yet proven can repeat is logged throttled. */
#include "siod_relay.h"
#include "siod_link_auth.h"
#include "siod_link_int.h"
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
#define READ_MAX_CAP ((size_t)SIO_RELAY_HDR_LEN + SIO_RELAY_MAX_BODY + \
                      READ_INIT_CAP)
/* At most one warning per this many seconds for links refused during the
 * handshake; the others are logged at debug and counted. */
#define REFUSE_LOG_INTERVAL 10
/* A link must have proven the relay secret (AUTH) this many seconds after
 * it was accepted, or it is closed: a process that connects and says
 * nothing holds no descriptor for long. */
#define HANDSHAKE_SECONDS 5

static unsigned link_serial;
/* Links at once (--max-links; 0: no bound). */
static unsigned links_max = SIOD_LINKS_MAX_DEFAULT;
/* Lines a process that may connect can repeat (the module's ready links
 * log unthrottled: their lines come once per httpd child). */
static siod_log_throttle refuse_log =
    SIOD_LOG_THROTTLE(REFUSE_LOG_INTERVAL, 1);
static siod_log_throttle connected_log;

/* Closes a link that failed the handshake. A process of an allowed uid
 * can retry at will, so one warning per REFUSE_LOG_INTERVAL says who (uid
 * and pid from SO_PEERCRED), counting the others (at debug with -v). */
static void link_refuse(siod_link *l, const char *why)
{
    char msg[256];

    snprintf(msg, sizeof msg, "refused (peer uid %ld, pid %ld): %s",
             (long)l->uid, (long)l->pid, why);
    siod_link_break_via(l, &refuse_log, SIOD_LOG_WARN, msg);
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
 * module's proof. Returns 0, or after breaking the link a refusal's code
 * (siod_link_auth_hello), siod's own failure's, or
 * siod_link_handshake_send's. */
static int handle_hello(siod_link *l, const sio_relay_frame *f)
{
    unsigned char body[SIO_RELAY_HELLO_NODE_LEN];
    unsigned char proof[SIO_RELAY_PROOF_LEN];
    size_t body_len = 0;
    char why[96];
    int rc = siod_link_auth_hello(&l->auth, f, body, &body_len, proof, why,
                                  sizeof why);

    if (rc < 0) {
        if (siod_link_auth_refused(rc))
            link_refuse(l, why);
        else
            siod_link_break(l, SIOD_LOG_ERROR, why);
        return rc;
    }
    siod_link_transit(l, L_AUTH, "HELLO answered with siod's HELLO and proof");

    sio_relay_frame r;
    memset(&r, 0, sizeof r);
    r.type = SIO_R_HELLO;
    r.len = (uint32_t)body_len;
    struct iovec iov = { body, body_len };
    rc = siod_link_handshake_send(l, &r, &iov);
    if (rc < 0)
        return rc;
    r.type = SIO_R_AUTH;
    r.len = sizeof proof;
    iov.iov_base = proof;
    iov.iov_len = sizeof proof;
    return siod_link_handshake_send(l, &r, &iov);
}

/* The module's AUTH: its proof over both nonces. Only now does the link
 * get a peer and carry sessions. Returns 0, or after breaking the link
 * siod_link_auth_check's code or -ENOMEM. */
static int handle_auth(siod_link *l, const sio_relay_frame *f)
{
    char why[96];
    int rc = siod_link_auth_check(&l->auth, f, why, sizeof why);

    if (rc < 0) {
        link_refuse(l, why);
        return rc;
    }
    /* WS_FANOUT, WS_CLOSE with SIO_RF_KEEP only to a module that said it
     * takes them */
    l->peer = siod_peer_new(&siod_link_peer_ops, l, l->name,
                            l->auth.caps & (SIO_RELAY_CAP_FANOUT |
                                            SIO_RELAY_CAP_HANDOVER),
                            l->auth.max_body);
    if (l->peer == NULL) {
        siod_link_break(l, SIOD_LOG_ERROR, "out of memory");
        return -ENOMEM;
    }
    siod_link_transit(l, L_READY, "the module proved the relay secret");
    siod_count.links_opened++;
    event_del(l->hs_timer);
    siod_link_peers_greet(l);
    siod_log(SIOD_LOG_INFO, "link %s ready (module pid %u, max body %u%s%s)",
             l->name, (unsigned)l->auth.pid, (unsigned)l->auth.max_body,
             (l->auth.caps & SIO_RELAY_CAP_FANOUT) ? ", fan-out" : "",
             (l->auth.caps & SIO_RELAY_CAP_HANDOVER) ? ", hand-over" : "");
    return 0;
}

/* Dispatches one parsed frame; body is the mutable view of f->body. The
 * boundary of the engine's frame handlers: what they return is logged
 * here, once. A frame invalid for the relay protocol (-EPROTO) breaks the
 * link; another failure (siod could not serve the request, which was
 * answered 500) is logged, throttled, and the link goes on. Returns 0, or
 * a negative code after breaking the link. */
static int dispatch(siod_link *l, const sio_relay_frame *f,
                    unsigned char *body)
{
    char why[192] = "";
    char msg[256];
    int rc;

    if (siod_log_verbose())
        siod_log(SIOD_LOG_DEBUG, "link %s: <- %s conn %llu flags %u status "
                 "%u len %u", l->name, sio_relay_type_name(f->type),
                 (unsigned long long)f->conn, (unsigned)f->flags,
                 (unsigned)f->status, (unsigned)f->len);
    if (l->state == L_HELLO) {
        if (f->type != SIO_R_HELLO) {
            link_refuse(l, "first frame is not HELLO");
            return -EPROTO;
        }
        return handle_hello(l, f);
    }
    if (l->state == L_AUTH)
        return handle_auth(l, f);
    switch (f->type) {
    case SIO_R_OPEN:
        rc = siod_session_relay_open(l->peer, f, why, sizeof why);
        break;
    case SIO_R_UPGRADE:
        rc = siod_session_relay_upgrade(l->peer, f, why, sizeof why);
        break;
    case SIO_R_POLL_GET:
        rc = siod_session_relay_poll_get(l->peer, f, why, sizeof why);
        break;
    case SIO_R_POLL_POST:
        rc = siod_session_relay_poll_post(l->peer, f, body, why, sizeof why);
        break;
    case SIO_R_CANCEL:
        rc = siod_session_relay_cancel(l->peer, f, why, sizeof why);
        break;
    case SIO_R_WS_MSG:
        rc = siod_session_relay_ws_msg(l->peer, f, why, sizeof why);
        break;
    case SIO_R_WS_CLOSED:
        rc = siod_session_relay_ws_closed(l->peer, f, why, sizeof why);
        break;
    case SIO_R_ABORT:
        rc = siod_session_relay_abort(l->peer, f, why, sizeof why);
        break;
    case SIO_R_API:
        rc = siod_session_relay_api(l->peer, f, body, why, sizeof why);
        break;
    case SIO_R_WS_RESUME:
        rc = siod_session_relay_ws_resume(l->peer, f, why, sizeof why);
        break;
    default:
        snprintf(msg, sizeof msg, "unexpected %s frame",
                 sio_relay_type_name(f->type));
        siod_link_break(l, SIOD_LOG_WARN, msg);
        return -EPROTO;
    }
    if (rc == -EPROTO) {
        snprintf(msg, sizeof msg, "invalid %s frame (%s)",
                 sio_relay_type_name(f->type), why);
        siod_link_break(l, SIOD_LOG_WARN, msg);
        return rc;
    }
    if (rc < 0)
        siod_log_limited(SIOD_LOG_ERROR, "link %s: %s", l->name, why);
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
            siod_link_break(l, SIOD_LOG_WARN, why);
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
            siod_link_break(l, SIOD_LOG_WARN, "input over the frame limit");
            return;
        }
        unsigned char *p = realloc(l->in, cap);
        if (p == NULL) {
            siod_link_break(l, SIOD_LOG_ERROR, "out of memory reading");
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
        siod_link_break(l, SIOD_LOG_WARN, why);
        return;
    }
    if (n == 0) {
        siod_link_break(l, SIOD_LOG_INFO, l->in_len > 0 ?
                   "closed by the module mid-frame" : "closed by the module");
        return;
    }
    l->in_len += (size_t)n;
    parse_input(l);
}

static void write_cb(evutil_socket_t fd, short what, void *arg)
{
    siod_link *l = arg;

    if (siod_link_output_write(l, fd))
        parse_input(l);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    siod_link *l = arg;

    if (siod_link_output_flush(l))
        parse_input(l);
}

int siod_link_adopt(struct event_base *base, int fd, uid_t uid, pid_t pid,
                    char *why, size_t cap)
{
    if (links_max > 0 && siod_links_count() >= links_max) {
        close(fd);
        return siod_err_set(why, cap, -EMFILE, "%u links open (--max-links)",
                            siod_links_count());
    }
    siod_link *l = calloc(1, sizeof *l);
    if (l == NULL) {
        close(fd);
        return siod_err_set(why, cap, -ENOMEM, "out of memory");
    }
    l->fd = fd;
    l->state = L_HELLO;                  /* the initial state */
    l->uid = uid;
    l->pid = pid;
    snprintf(l->name, sizeof l->name, "%u(pid %ld)", ++link_serial,
             (long)pid);
    struct event *reaper = siod_link_reaper(base);
    l->in = malloc(READ_INIT_CAP);
    l->in_cap = READ_INIT_CAP;
    l->out = evbuffer_new();
    l->rev = event_new(base, fd, EV_READ | EV_PERSIST, read_cb, l);
    l->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, write_cb, l);
    l->fev = event_new(base, -1, 0, flush_cb, l);
    l->hs_timer = evtimer_new(base, handshake_timeout_cb, l);
    struct timeval deadline = { HANDSHAKE_SECONDS, 0 };
    if (reaper == NULL || l->in == NULL || l->out == NULL ||
        l->rev == NULL || l->wev == NULL || l->fev == NULL ||
        l->hs_timer == NULL ||
        event_add(l->rev, NULL) < 0 ||
        evtimer_add(l->hs_timer, &deadline) < 0) {
        siod_err_set(why, cap, -ENOMEM, "out of memory");
        siod_link_transit(l, L_BROKEN, "out of memory");
        siod_link_insert(l);
        siod_link_free(l);
        return -ENOMEM;
    }
    siod_link_insert(l);
    siod_log_throttled(&connected_log, SIOD_LOG_INFO, "link %s connected "
                       "(uid %ld)", l->name, (long)uid);
    return 0;
}

void siod_links_set_max(unsigned n)
{
    links_max = n;
}
