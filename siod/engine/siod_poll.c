/* The polling side of a session: its outbound queue, the payloads that
 * answer a held GET, and the answers still owed to the GETs of
 * just-closed sessions (siod_closed.c holds them). Called by
 * siod_session.c, siod_session_api.c and siod_session_relay.c; calls only
 * siod_peer.c (and siod_closed.c). */
#include "siod_closed.h"
#include "core/siod_core.h"
#include "siod_engine_int.h"
#include "sio_eio3.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A polling client that stops fetching must not grow siod without bound. */
#define QUEUE_MAX_PACKETS 4096
#define QUEUE_MAX_BYTES (8u * 1024u * 1024u)

/* Recently closed polling sessions whose next GET still has an answer
 * (siod_closed.c holds them).
 * - NOOP: the client closed with a close packet while no GET was held. Its
 *   GET and POST travel through different httpd children, so the GET that
 *   was in flight may reach siod after the close: it gets the noop it would
 *   have had had it come first.
 * - PAYLOAD / CLOSE: the server closed the session (siod_session_close)
 *   with packets still queued (a Socket.IO DISCONNECT, say). As the
 *   reference does, the queued packets go to the next GET and the close
 *   packet to the one after, so the client handles them before the close.
 * Each entry answers its GETs within a short grace, then is forgotten. */
#define CLOSED_RING 256
#define CLOSED_GRACE_MS 1000

static struct event_base *base;
static siod_closed_ring *closed;     /* answers for just-closed sessions */
static struct event *closed_timer;   /* empties its expired entries */
static size_t closed_max;            /* -R: the bytes they may hold */
static uint64_t closed_warned_ms;    /* last "payload dropped" warning */
static unsigned closed_dropped;      /* payloads dropped since then */

/* ---- outbound queue ---------------------------------------------------- */

int siod_poll_enqueue(siod_session *s, int type, int binary,
                      const void *data, size_t len, siod_buf *shared)
{
    if (s->q_count >= QUEUE_MAX_PACKETS || len > QUEUE_MAX_BYTES ||
        s->q_bytes + len > QUEUE_MAX_BYTES)
        return -ENOSPC;
    struct siod_qpkt *q = malloc(sizeof *q + (shared != NULL ? 0 : len));
    if (q == NULL)
        return -ENOMEM;
    q->next = NULL;
    q->type = type;
    q->binary = binary;
    q->len = len;
    q->ref = shared != NULL ? siod_buf_ref(shared) : NULL;
    q->ptr = shared != NULL ? siod_buf_data(shared) : q->data;
    if (shared == NULL && len > 0)
        memcpy(q->data, data, len);
    if (s->q_tail != NULL)
        s->q_tail->next = q;
    else
        s->q_head = q;
    s->q_tail = q;
    s->q_count++;
    s->q_bytes += len;
    return 0;
}

struct siod_qpkt *siod_poll_take(siod_session *s)
{
    struct siod_qpkt *q = s->q_head;
    if (q == NULL)
        return NULL;
    s->q_head = q->next;
    if (s->q_head == NULL)
        s->q_tail = NULL;
    s->q_count--;
    s->q_bytes -= q->len;
    return q;
}

void siod_poll_pkt_free(struct siod_qpkt *q)
{
    if (q == NULL)
        return;
    siod_buf_unref(q->ref);
    free(q);
}

void siod_poll_clear(siod_session *s)
{
    struct siod_qpkt *q = s->q_head;
    while (q != NULL) {
        struct siod_qpkt *next = q->next;
        siod_buf_unref(q->ref);
        free(q);
        q = next;
    }
    s->q_head = s->q_tail = NULL;
    s->q_count = 0;
    s->q_bytes = 0;
}

/* The form s's payload takes: v4 (-1: records split by the separator),
 * or a v3 form; the binary one only where allowed (bin_ok), the client
 * takes binary (no b64) and a queued packet is binary. */
static int payload_form(const siod_session *s, int with_queue, int bin_ok)
{
    if (!s->eio3)
        return -1;
    if (bin_ok && !s->b64 && with_queue) {
        for (const struct siod_qpkt *q = s->q_head; q != NULL; q = q->next)
            if (q->binary)
                return SIO_EIO3_BINARY;
    }
    return SIO_EIO3_TEXT;
}

static size_t record_len(const sio_eio_packet *p, int form)
{
    return form < 0 ? sio_eio_encoded_len(p, 1) : sio_eio3_encoded_len(p, form);
}

/* Appends p to buf at off (with the v4 separator before all but the
 * first); returns the new offset. */
static size_t record_put(unsigned char *buf, size_t off, size_t n,
                         const sio_eio_packet *p, int form)
{
    if (form >= 0)
        return off + sio_eio3_encode(buf + off, p, form);
    if (n > 0)
        buf[off++] = SIO_EIO_SEPARATOR;
    return off + sio_eio_encode(buf + off, p, 1);
}

/* Encodes a polling payload: the queued packets (if with_queue; the queue
 * is then cleared) followed by one packet of type extra (-1: none) into
 * *out (NULL with *len 0 when there is nothing to encode). An Engine.IO 3
 * payload takes the XHR2 binary form only if bin is not NULL, and then
 * *bin tells whether it did. Returns 0 or -ENOMEM. */
int siod_poll_payload(siod_session *s, int with_queue, int extra,
                      unsigned char **out, size_t *len, int *bin)
{
    sio_eio_packet pkt;
    size_t total = 0, n = 0, off = 0;
    int form = payload_form(s, with_queue, bin != NULL);

    *out = NULL;
    if (bin != NULL)
        *bin = form == SIO_EIO3_BINARY;
    if (with_queue) {
        for (struct siod_qpkt *q = s->q_head; q != NULL; q = q->next) {
            pkt = (sio_eio_packet){ q->type, q->binary, q->ptr, q->len };
            total += record_len(&pkt, form) + (form < 0 && n++ > 0);
        }
    }
    if (extra >= 0) {
        pkt = (sio_eio_packet){ extra, 0, NULL, 0 };
        total += record_len(&pkt, form) + (form < 0 && n > 0);
    }
    *len = 0;
    if (total == 0)
        return 0;
    unsigned char *buf = malloc(total);
    if (buf == NULL)
        return -ENOMEM;
    n = 0;
    if (with_queue) {
        for (struct siod_qpkt *q = s->q_head; q != NULL; q = q->next) {
            pkt = (sio_eio_packet){ q->type, q->binary, q->ptr, q->len };
            off = record_put(buf, off, n++, &pkt, form);
        }
        siod_poll_clear(s);
    }
    if (extra >= 0) {
        pkt = (sio_eio_packet){ extra, 0, NULL, 0 };
        off = record_put(buf, off, n, &pkt, form);
    }
    *len = off;
    *out = buf;
    return 0;
}

/* Answers the held GET with the queued packets (if with_queue) followed
 * by one packet of type extra (-1: none; a noop if nothing else), and
 * forgets the GET. Returns 0, -ENOMEM or -EMSGSIZE (answered 500). */
int siod_poll_answer(siod_session *s, int with_queue, int extra, char *why,
                     size_t cap)
{
    struct siod_binding *b = s->get;
    unsigned char *buf;
    size_t len;
    int rc, bin = 0;

    if (b == NULL)
        return 0;
    if (extra < 0 && (!with_queue || s->q_head == NULL))
        extra = SIO_EIO_NOOP;
    rc = siod_poll_payload(s, with_queue, extra, &buf, &len, &bin);
    if (rc < 0) {
        siod_err_set(why, cap, rc, "out of memory answering a poll");
    } else {
        rc = siod_peer_send(b->peer, SIO_R_RESPONSE,
                            bin ? SIO_RF_BINARY : 0, 200, b->conn, s->sid,
                            buf, len, NULL, 0);
        free(buf);
        if (rc == -EMSGSIZE)
            siod_err_set(why, cap, rc, "a poll answer of %zu bytes is over "
                         "the module's frame limit (%u); not sent", len,
                         (unsigned)b->peer->max_body);
        else
            rc = 0;    /* a broken link says why itself */
    }
    if (rc < 0)
        /* the request must still end */
        siod_peer_send(b->peer, SIO_R_RESPONSE, 0, 500, b->conn, s->sid,
                       NULL, 0, NULL, 0);
    siod_binding_free(b);
    s->get = NULL;
    return rc;
}

/* ---- answers for just-closed sessions ---------------------------------- */

static uint64_t loop_now_ms(void)
{
    struct timeval tv;
    event_base_gettimeofday_cached(base, &tv);
    return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

/* Runs the ring's expiry at the loop's ms time next (an entry's end). */
static void closed_arm(uint64_t now, uint64_t next)
{
    /* +1: an entry ends once the clock is past its time */
    uint64_t ms = next > now ? next - now + 1 : 1;
    struct timeval tv = { (time_t)(ms / 1000),
                          (suseconds_t)(ms % 1000) * 1000 };
    evtimer_add(closed_timer, &tv);
}

/* Frees what expired entries hold as soon as they expire, whatever the
 * traffic (a slot was otherwise emptied only when reused). */
static void closed_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    uint64_t now = loop_now_ms();
    uint64_t next = siod_closed_expire(closed, now);
    siod_log_debug("closed sessions: %zu answers held, %zu bytes",
                   siod_closed_count(closed),
                   siod_closed_bytes(closed));
    if (next != 0)
        closed_arm(now, next);
}

/* Remembers s; takes ownership of payload (may be NULL). */
void siod_poll_closed_remember(const siod_session *s,
                               enum siod_closed_kind kind,
                               unsigned char *payload, size_t len)
{
    uint64_t now = loop_now_ms();
    unsigned dropped = s->eio3
        ? siod_closed_remember_v3(closed, s->sid, kind, payload, len, now)
        : siod_closed_remember(closed, s->sid, kind, payload, len, now);
    if (dropped > 0) {
        /* one line per 10 s at most: a client can cause this at will */
        closed_dropped += dropped;
        if (closed_warned_ms == 0 || now - closed_warned_ms >= 10000) {
            siod_log(SIOD_LOG_WARN, "closed sessions: %u queued payload(s) "
                     "dropped to keep within -R %zu bytes (their clients get "
                     "the close packet alone)", closed_dropped,
                     closed_max);
            closed_warned_ms = now;
            closed_dropped = 0;
        }
    }
    if (!evtimer_pending(closed_timer, NULL))
        closed_arm(now, now + CLOSED_GRACE_MS);
}

/* Answers a GET for a session that is no longer registered if the ring
 * remembers it. Returns 1 if it did, 0 if sid is simply unknown, or
 * -EMSGSIZE (why set) for a payload over the module's frame limit. */
int siod_poll_closed_answer(siod_peer *p, const sio_relay_frame *f,
                            char *why, size_t cap)
{
    siod_closed_answer a;
    int rc;

    if (!siod_closed_take(closed, f->sid, loop_now_ms(), &a))
        return 0;
    switch (a.kind) {
    case SIOD_CLOSED_NOOP:
        siod_peer_respond_str(p, f, 200, 0, a.eio3 ? "1:6" : "6");
        break;
    case SIOD_CLOSED_PAYLOAD:
        rc = siod_peer_respond(p, f, 200, 0, (const char *)a.payload, a.len);
        free(a.payload);
        if (rc == -EMSGSIZE)
            return siod_err_set(why, cap, rc, "the %zu-byte answer of a "
                                "closed session is over the module's frame "
                                "limit (%u); not sent", a.len,
                                (unsigned)p->max_body);
        break;
    case SIOD_CLOSED_CLOSE:
        siod_peer_respond_str(p, f, 200, 0, a.eio3 ? "1:1" : "1");
        break;
    }
    return 1;
}

int siod_poll_init(struct event_base *b, size_t closed_max_bytes)
{
    base = b;
    closed_max = closed_max_bytes;
    closed_warned_ms = 0;
    closed_dropped = 0;
    closed = siod_closed_new(CLOSED_RING, CLOSED_GRACE_MS, closed_max_bytes);
    closed_timer = evtimer_new(b, closed_timer_cb, NULL);
    if (closed == NULL || closed_timer == NULL)
        return -ENOMEM;
    return 0;
}

void siod_poll_cleanup(void)
{
    siod_closed_free(closed);
    closed = NULL;
    if (closed_timer != NULL)
        event_free(closed_timer);
    closed_timer = NULL;
}
