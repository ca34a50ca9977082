/* libFuzzer target for siod as a whole: the input is a script of relay
 * frames (HELLO, OPEN, UPGRADE, POLL_GET/POST with Engine.IO payloads,
 * WS_MSG, WS_CLOSED, CANCEL, ABORT, raw bytes) for up to three relay links
 * and any of the sessions siod created, interleaved with turns of siod's
 * libevent loop and short waits that fire its timers. The frames go
 * through real socketpairs into siod's real link code (siod_link_adopt),
 * sessions, Socket.IO layer and two applications linked in (the testkit
 * test app on "/", "/a", "/b" and ~^/dyn-[0-9]+$, chat on "/chat"). What
 * siod writes back (the "httpd side") is read and parsed, so that later
 * frames can name the session ids siod handed out. Limits and rates are
 * set small and "echo" has a payload schema, so that scripts reach them.
 *
 * Script: a sequence of ops, each an op byte then its arguments; bytes
 * past the end read as 0. See run_op for the list. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sio_relay.h"
#include "app/siod_app_loader.h"
#include "core/siod_core.h"
#include "engine/siod_engine.h"
#include "guard/siod_guard.h"
#include "relay/siod_relay.h"

/* The applications, compiled with siod_app_module_v1 renamed. */
extern const siod_app_module siod_fuzz_app_testkit;
extern const siod_app_module siod_fuzz_app_chat;

#define MAX_LINKS 3
#define MAX_SIDS 32
#define MAX_TICKS 3
/* Short enough that a few waits fire heartbeats and connectTimeout. */
#define PING_MS 4
#define CONNECT_MS 6
#define TICK_US 5000

struct hside {
    int fd;                          /* httpd's end, -1 when closed */
    unsigned char nonce[SIO_RELAY_NONCE_LEN];      /* the module's HELLO */
    unsigned char peer_nonce[SIO_RELAY_NONCE_LEN]; /* siod's HELLO */
    int got_hello;                   /* siod's HELLO arrived */
    unsigned char *in;               /* what siod wrote, not yet parsed */
    size_t in_len, in_cap;
};

static struct event_base *base;
/* The relay secret siod is given; links prove it as the module does. */
static const unsigned char fuzz_secret[32] = "fuzz-relay-secret-0123456789abcd";
static struct hside links[MAX_LINKS];
static char sids[MAX_SIDS][SIO_SID_LEN];
static size_t nsids;

/* ---- the input script ------------------------------------------------- */

struct script {
    const uint8_t *p;
    size_t n;
};

static uint8_t u8(struct script *s)
{
    if (s->n == 0)
        return 0;
    s->n--;
    return *s->p++;
}

static uint16_t u16(struct script *s)
{
    uint16_t hi = u8(s);
    return (uint16_t)(hi << 8 | u8(s));
}

/* The next len bytes of the script (fewer at its end). */
static const uint8_t *take(struct script *s, size_t len, size_t *got)
{
    const uint8_t *p = s->p;
    if (len > s->n)
        len = s->n;
    s->p += len;
    s->n -= len;
    *got = len;
    return p;
}

/* A body: a 16-bit length, then that many bytes. */
static const uint8_t *body_of(struct script *s, size_t *len)
{
    return take(s, u16(s), len);
}

/* ---- the httpd side --------------------------------------------------- */

static void remember_sid(const char *sid)
{
    static const char zero[SIO_SID_LEN];
    if (memcmp(sid, zero, SIO_SID_LEN) == 0)
        return;
    for (size_t i = 0; i < nsids; i++)
        if (memcmp(sids[i], sid, SIO_SID_LEN) == 0)
            return;
    memcpy(sids[nsids++ % MAX_SIDS], sid, SIO_SID_LEN);
    if (nsids > MAX_SIDS)
        nsids = MAX_SIDS;
}

/* Reads what siod wrote on link i and parses its frames. */
static void drain(int i)
{
    struct hside *h = &links[i];
    for (;;) {
        if (h->fd < 0)
            return;
        if (h->in_cap - h->in_len < 65536) {
            size_t cap = h->in_cap ? h->in_cap * 2 : 131072;
            unsigned char *p = realloc(h->in, cap);
            if (p == NULL)
                abort();
            h->in = p;
            h->in_cap = cap;
        }
        ssize_t n = read(h->fd, h->in + h->in_len, h->in_cap - h->in_len);
        if (n <= 0)
            break;
        h->in_len += (size_t)n;
    }
    size_t off = 0, used;
    sio_relay_frame f;
    while (sio_relay_parse(h->in + off, h->in_len - off, SIO_RELAY_MAX_BODY,
                           &used, &f) == SIO_OK) {
        if (f.type == SIO_R_RESPONSE || f.type == SIO_R_WS_ACCEPT)
            remember_sid(f.sid);
        sio_relay_hello hh;
        if (f.type == SIO_R_HELLO &&
            sio_relay_hello_decode(f.body, f.len, &hh) == SIO_OK) {
            memcpy(h->peer_nonce, hh.nonce, SIO_RELAY_NONCE_LEN);
            h->got_hello = 1;
        }
        off += used;
    }
    memmove(h->in, h->in + off, h->in_len - off);
    h->in_len -= off;
    /* siod's output is not checked here; keep memory small */
    if (h->in_len > (1u << 20))
        h->in_len = 0;
}

/* Turns siod's loop until it has nothing left to do at once. */
static void pump(void)
{
    for (int k = 0; k < 4; k++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        for (int i = 0; i < MAX_LINKS; i++)
            drain(i);
    }
}

/* Writes bytes to link i's httpd side, turning the loop while it is full. */
static void hwrite(int i, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    int stuck = 0;
    while (len > 0 && links[i].fd >= 0) {
        ssize_t n = write(links[i].fd, p, len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            stuck = 0;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return;      /* siod dropped the link */
        if (++stuck > 64)
            return;
        pump();
    }
}

static void send_frame(int i, const sio_relay_frame *f, const void *body)
{
    unsigned char hdr[SIO_RELAY_HDR_LEN];
    sio_relay_write_header(hdr, f);
    hwrite(i, hdr, sizeof hdr);
    if (f->len > 0)
        hwrite(i, body, f->len);
}

/* Link i as seen by httpd: connected and greeted on first use. caps and
 * the module's largest body come from the script. */
static int link_get(struct script *s)
{
    int i = u8(s) % MAX_LINKS;
    if (links[i].fd >= 0)
        return i;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                   sv) < 0)
        abort();
    links[i].fd = sv[1];
    links[i].in_len = 0;
    links[i].got_hello = 0;
    if (siod_link_adopt(base, sv[0], getuid(), getpid(), NULL, 0) < 0)
        abort();
    uint8_t how = u8(s);
    static const uint32_t max_bodies[4] = { SIO_RELAY_MAX_BODY, 65536, 600,
                                            60 };
    sio_relay_hello h = { SIO_RELAY_MAGIC, SIO_RELAY_VERSION, 4242,
                          max_bodies[how & 3],
                          (how & 4) ? SIO_RELAY_CAP_FANOUT : 0, { 0 }, { 0 } };
    for (size_t k = 0; k < SIO_RELAY_NONCE_LEN; k++)
        h.nonce[k] = (unsigned char)(i * 31 + k);
    memcpy(links[i].nonce, h.nonce, SIO_RELAY_NONCE_LEN);
    unsigned char body[SIO_RELAY_HELLO_LEN];
    sio_relay_hello_encode(body, &h);
    sio_relay_frame f = { .type = SIO_R_HELLO, .len = sizeof body };
    if (how & 0x80)              /* the link's first frame is another */
        return i;
    send_frame(i, &f, body);
    /* siod answers with its HELLO and proof; the module's proof follows
     * (a wrong one when the script says so, to reach the refusal) */
    pump();
    if (!links[i].got_hello)
        return i;
    unsigned char proof[SIO_RELAY_PROOF_LEN];
    sio_relay_proof(fuzz_secret, sizeof fuzz_secret, SIO_RELAY_ROLE_MODULE,
                    links[i].nonce, links[i].peer_nonce, proof);
    if (how & 0x40)
        proof[0] ^= 1;
    sio_relay_frame a = { .type = SIO_R_AUTH, .len = sizeof proof };
    send_frame(i, &a, proof);
    return i;
}

static void close_link(int i)
{
    if (links[i].fd >= 0)
        close(links[i].fd);
    links[i].fd = -1;
    links[i].in_len = 0;
}

/* ---- frames ------------------------------------------------------------ */

static void pick_sid(struct script *s, char out[SIO_SID_LEN])
{
    uint8_t b = u8(s);
    if (b < 240 && nsids > 0)
        memcpy(out, sids[b % nsids], SIO_SID_LEN);
    else if (b & 1)
        memset(out, 'A', SIO_SID_LEN);
    else
        memset(out, 0, SIO_SID_LEN);
}

/* A handshake info list like the module's, or (flag) the script's bytes. */
static size_t info_of(struct script *s, unsigned char *buf, size_t cap)
{
    static const char *const kv[][2] = {
        { "remote_addr", "192.0.2.1" },
        { "url", "/socket.io/?EIO=4&transport=polling&x=%41+b" },
        { "query", "EIO=4&transport=polling&token=abc&x=%zz" },
        { "h:cookie", "a=b" },
        { "h:user-agent", "fuzz" },
        { "upgrades", "websocket" },
        { "secure", "1" },
        { "user", "alice" },
        { "max_payload", "100000" },
        { "eio", "3" },          /* an Engine.IO 3 client (Socket.IO 2) */
        { "b64", "1" },
    };
    uint16_t mask = u16(s);
    size_t len = 0;
    if (mask & 0x8000) {
        size_t n;
        const uint8_t *p = body_of(s, &n);
        if (n > cap)
            n = cap;
        memcpy(buf, p, n);
        return n;
    }
    for (size_t k = 0; k < sizeof kv / sizeof kv[0]; k++) {
        if (!(mask & (1u << k)) && k != 0)
            continue;
        size_t kl = strlen(kv[k][0]), vl = strlen(kv[k][1]);
        if (len + sio_relay_kv_size(kl, vl) > cap)
            break;
        len += sio_relay_kv_put(buf + len, kv[k][0], kl, kv[k][1], vl);
    }
    return len;
}

/* Runs one op of the script. Returns 0 at its end. */
static int run_op(struct script *s, int *ticks)
{
    unsigned char info[1024];
    sio_relay_frame f;
    const uint8_t *body = NULL;
    size_t len = 0;
    int i;

    if (s->n == 0)
        return 0;
    memset(&f, 0, sizeof f);
    switch (u8(s) % 14) {
    case 0:   /* OPEN (polling, or websocket with flag) */
        i = link_get(s);
        f.type = SIO_R_OPEN;
        f.flags = u8(s) & SIO_RF_WEBSOCKET;
        f.conn = u8(s) % 16;
        len = info_of(s, info, sizeof info);
        f.len = (uint32_t)len;
        send_frame(i, &f, info);
        break;
    case 1:   /* POLL_GET */
        i = link_get(s);
        f.type = SIO_R_POLL_GET;
        f.conn = u8(s) % 16;
        pick_sid(s, f.sid);
        send_frame(i, &f, NULL);
        break;
    case 2:   /* POLL_POST: an Engine.IO payload */
    case 3:
        i = link_get(s);
        f.type = SIO_R_POLL_POST;
        f.conn = u8(s) % 16;
        pick_sid(s, f.sid);
        body = body_of(s, &len);
        f.len = (uint32_t)len;
        send_frame(i, &f, body);
        break;
    case 4:   /* UPGRADE */
        i = link_get(s);
        f.type = SIO_R_UPGRADE;
        f.conn = u8(s) % 16;
        pick_sid(s, f.sid);
        len = info_of(s, info, sizeof info);
        f.len = (uint32_t)len;
        send_frame(i, &f, info);
        break;
    case 5:   /* WS_MSG: one WebSocket message */
    case 6:
        i = link_get(s);
        f.type = SIO_R_WS_MSG;
        f.flags = u8(s) & SIO_RF_BINARY;
        f.conn = u8(s) % 16;
        pick_sid(s, f.sid);
        body = body_of(s, &len);
        f.len = (uint32_t)len;
        send_frame(i, &f, body);
        break;
    case 7:   /* WS_CLOSED */
        i = link_get(s);
        f.type = SIO_R_WS_CLOSED;
        f.conn = u8(s) % 16;
        f.status = 1006;
        send_frame(i, &f, NULL);
        break;
    case 8:   /* CANCEL, or (SIO_RF_KEEP) the release of a held GET */
        i = link_get(s);
        f.type = SIO_R_CANCEL;
        f.conn = u8(s) % 16;
        f.flags = u8(s) & SIO_RF_KEEP;
        pick_sid(s, f.sid);
        send_frame(i, &f, NULL);
        break;
    case 9:   /* ABORT */
        i = link_get(s);
        f.type = SIO_R_ABORT;
        f.status = 413;
        pick_sid(s, f.sid);
        send_frame(i, &f, NULL);
        break;
    case 10:  /* raw bytes on a link (garbage, another type, a split frame) */
        i = link_get(s);
        body = body_of(s, &len);
        hwrite(i, body, len);
        break;
    case 11:  /* httpd's child goes away */
        close_link(u8(s) % MAX_LINKS);
        break;
    case 12:  /* time passes: timers fire */
        if (*ticks < MAX_TICKS) {
            (*ticks)++;
            usleep(TICK_US);
        }
        break;
    default:  /* just turn the loop */
        break;
    }
    pump();
    return 1;
}

/* ---- libFuzzer --------------------------------------------------------- */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static siod_engine_config cfg;

    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < MAX_LINKS; i++)
        links[i].fd = -1;
    /* debug lines too, formatted and thrown away */
    if (siod_log_open("/dev/null", 1) < 0)
        abort();
    if (siod_app_loader_conf_builtin(&siod_fuzz_app_testkit) < 0 ||
        siod_app_loader_conf_builtin(&siod_fuzz_app_chat) < 0 ||
        siod_app_loader_conf_app("testkit") < 0 ||
        siod_app_loader_conf_nsp("/chat=chat") < 0 ||
        siod_app_loader_load() < 0)
        abort();
    base = event_base_new();
    if (base == NULL || siod_link_set_secret(fuzz_secret,
                                             sizeof fuzz_secret) < 0)
        abort();
    cfg.ping_interval_ms = PING_MS;
    cfg.ping_timeout_ms = PING_MS;
    cfg.connect_timeout_ms = CONNECT_MS;
    cfg.max_payload = 100000;
    cfg.closed_max_bytes = 64 * 1024;
    /* small limits, so that scripts reach them */
    cfg.max_sessions = 12;
    cfg.max_sessions_per_addr = 8;
    cfg.max_handshake_bytes = 4096;
    cfg.max_rooms_per_socket = 4;
    cfg.max_dynamic_nsps = 3;
    cfg.max_nsps_per_session = 3;
    cfg.max_attachments = 4;
    cfg.max_binary_bytes = 64 * 1024;
    siod_links_set_output_max(1024 * 1024);
    /* connection state recovery on, with a short window and small bounds:
     * offsets on events, sockets kept and dropped, CONNECTs with pids */
    static const siod_sio_recovery_conf rec = { 20, 0, 64, 16 * 1024, 8,
                                                4096 };
    siod_sio_set_recovery(&rec);
    /* small rates, so that scripts reach them (drops, error acks, a
     * flooding socket disconnected inside its event), and a schema for
     * "echo" that some of its arguments fail */
    siod_guard_config g = { 0 };
    g.event_rate = 50;
    g.event_burst = 8;
    g.flood_drops = 6;
    g.flood_window_ms = 1000;
    g.handshake_rate = 20;
    g.handshake_burst = 6;
    siod_guard_configure(&g);
    char dir[] = "/tmp/fuzz-siod-schemas-XXXXXX", path[64], why[600];
    if (mkdtemp(dir) == NULL)
        abort();
    snprintf(path, sizeof path, "%s/echo.json", dir);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        abort();
    fputs("{\"maxItems\":3,\"items\":{\"type\":[\"string\",\"number\","
          "\"object\",\"binary\"],\"maxLength\":8,"
          "\"properties\":{\"a\":{\"items\":{\"type\":\"boolean\"}}}}}", f);
    fclose(f);
    int n = siod_schemas_load(dir, why, sizeof why);
    unlink(path);
    rmdir(dir);
    if (n != 1)
        abort();
    if (siod_sessions_init(base, &cfg, &siod_app_socketio) < 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct script s = { data, size };
    int ticks = 0;

    nsids = 0;
    while (run_op(&s, &ticks))
        ;
    /* every link goes away, every session closes: the next input starts
     * from an empty siod (timers applications left keep running) */
    for (int i = 0; i < MAX_LINKS; i++)
        close_link(i);
    for (int k = 0; k < 16 && siod_links_count() > 0; k++)
        pump();
    siod_sessions_close_all("server shutting down", 1001);
    pump();
    if (siod_links_count() != 0 || siod_sessions_count() != 0)
        abort();
    return 0;
}
