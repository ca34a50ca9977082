/* siobench's shared declarations: the configuration, the counters a
 * worker reports, the records of the results pipe, the memory shared by the
 * workers, one client, one worker; and the functions the files export
 * (siobench_main.c the parent, siobench_args.c the command line,
 * siobench_worker.c a worker's loop and sockets, siobench_ws.c the
 * WebSocket client, siobench_recover.c the recover mode's reconnections
 * and report, siobench_poll.c the long-polling client, siobench_cpu.c CPU
 * time from /proc, siobench_util.c clock and histograms). */
#ifndef SIOBENCH_H
#define SIOBENCH_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "sio_ws.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define NS 1000000000LL
#define MS 1000000LL

#define MAX_PROCS 64
#define MAX_WINDOW 4096        /* bcast: broadcasts in flight */
#define RING 65536             /* bcast: slots shared by all workers */
#define ACK_RING 32            /* ack: outstanding acks per client */
#define HTTP_MAX 8192          /* longest upgrade response we accept */
#define WBUF_MAX (1 << 20)     /* a client's unsent bytes before it fails */
#define RBUF_KEEP 4096         /* leftover buffers above this are freed */
#define MAX_SIZE 65536         /* largest echo payload (--size) */
#define EVENTS 1024
#define CPU_MAX 8              /* --cpu targets, the client's own included */
#define MAX_URLS 8             /* --url given several times */
#define BACK_SECS 64           /* recover: clients back per second, the
                                * last slot holding every later one */

/* WebSocket modes, then long-polling ones (IS_POLLING) */
enum mode { M_HOLD, M_BCAST, M_ACK, M_RECOVER, M_LPSESSION, M_LPHOLD, M_NMODES };
#define IS_POLLING(mode) ((mode) >= M_LPSESSION)

/* client states, in the order a handshake passes them */
enum cstate { C_IDLE, C_TCP, C_HTTP, C_EIO_OPEN, C_SIO_CONNECT, C_READY, C_DONE };

/* why a client failed (before READY) or dropped (after); lpsession: why a
 * session failed. W_STATUS: an HTTP answer other than 200; W_HANGUP: the
 * connection closed or was reset with a request unanswered. */
enum why { W_CONNECT, W_TIMEOUT, W_HTTP, W_WS, W_EIO, W_SIO, W_CLOSED, W_IO,
           W_STATUS, W_HANGUP, W_N };

/* a process tree whose CPU time is measured over the window (--cpu) */
struct cpu_target {
    char name[32];
    pid_t pid;
};

struct cfg {
    int mode;
    long clients;
    int procs;
    double duration;
    double rate;            /* hold: connects/s; bcast: bcasts/s; ack: acks/s */
    double connect_rate;    /* connects/s, 0 = as fast as max_pending allows */
    int window;
    int senders;
    long size;
    double connect_timeout;
    double retry;           /* WebSocket: seconds before a refused client
                             * tries again (0: never) */
    double timeout;
    double drain;
    int max_pending;
    size_t max_message;
    int quiet;
    char url[1024];         /* this worker's server (parent: the first) */
    char urls[MAX_URLS][1024]; /* every --url; worker i takes i % nurls */
    int nurls;
    int url_index;          /* which of them url is */
    char host[256];         /* as written in the Host header */
    char path[1024];        /* request target, with the query */
    char poll_path[1024];   /* the same for long-polling */
    struct sockaddr_storage dst;
    socklen_t dstlen;
    struct sockaddr_in *src;
    int nsrc;
    int64_t t0;
    struct cpu_target cpu[CPU_MAX];
    int ncpu;
    /* recover */
    char t0_file[1024];     /* holds the epoch, CLOCK_REALTIME ms */
    char expect[64];        /* event counted after the reconnection */
    double reconnect_delay; /* seconds, the official client's 1 */
};

/* counters a worker reports, cumulative since it started */
struct wstats {
    uint64_t attempted, established, failed, dropped, connected, pending;
    uint64_t retried;           /* refusals retried (--retry) */
    uint64_t pings, ticks, ticks_window, late, bcasts, bcast_timeouts;
    uint64_t expected, lost;
    uint64_t acks_sent, acks, acks_window, ack_lost, skipped;
    uint64_t held, alive, unpinged;
    uint64_t max_connect_us, max_lat_us;
    uint64_t max_lag_us;        /* ack: latest send behind its schedule */
    /* long-polling */
    uint64_t requests, conns, server_closes;
    uint64_t sessions, sessions_window, unfinished;
    uint64_t failk[W_N], dropk[W_N];
    /* recover: closes of ready clients, reconnection attempts and those
     * refused by an HTTP status, clients away now, holding an offset; at
     * the end, per client: back recovered or fresh (the first time), lost
     * (not back), stayed (never left: its connection was handed over),
     * served (stayed, and got --expect after the epoch); the recovered and
     * the served back within 5 s of the epoch and per second; got
     * --expect once, twice or more */
    uint64_t closes, reconnects, refused, away, offsets;
    uint64_t back, recovered, fresh, rlost, stayed, served, within_5s;
    uint64_t expect_once, expect_twice;
    uint64_t back_sec[BACK_SECS];
};

/* log-linear histogram of microseconds: exact below 128, then 64 steps per
 * power of two (about 1.6% wide). H_LAT_SENDER and H_LAT_OTHER split bcast's
 * tick latency by URL, with several --url: clients on the senders' URL (the
 * first) and on the others. */
#define HSUB 64
#define HBUCKETS (128 + 40 * HSUB)
#define HCHUNK 900
enum { H_CONNECT, H_LAT, H_LAT_SENDER, H_LAT_OTHER, H_N };

enum msgtype { MSG_STATS = 1, MSG_READY, MSG_HIST, MSG_FINAL };

/* one record on the results pipe; at most PIPE_BUF bytes, so writes from
 * several workers never interleave */
struct msg {
    uint32_t type;
    uint32_t worker;
    union {
        struct wstats st;
        struct {
            uint32_t which, start, n;
            uint32_t counts[HCHUNK];
        } h;
    } u;
};
_Static_assert(sizeof(struct msg) <= 4096, "pipe records must be atomic");

/* one broadcast in flight, in memory shared by every worker */
struct bslot {
    _Atomic uint64_t seq;
    _Atomic int64_t sent;
    _Atomic uint32_t expected;
    _Atomic uint32_t received;
};

struct shm {
    _Atomic int64_t go_at;      /* measurement start, 0 until all connected */
    _Atomic int64_t stop_at;    /* measurement end */
    _Atomic uint64_t connected[MAX_PROCS];
    struct bslot ring[RING];
    /* recover: the epoch (CLOCK_MONOTONIC ns, 0 until --t0-file is read),
     * clients ever ready, holding an offset, back after going away */
    _Atomic int64_t epoch;
    _Atomic uint64_t established, offsets, back, served;
};

/* recover: a client's flags */
enum {
    R_UP = 1,           /* was ready once */
    R_AWAY = 2,         /* lost its connection, reconnecting */
    R_BACK = 4,         /* came back after going away */
    R_RECOVERED = 8,    /* ... with the pid it had (its first time back) */
    R_OFFSET = 16       /* holds an offset */
};

struct client {
    int fd;
    uint8_t state;
    uint8_t ev_out;             /* EPOLLOUT is registered */
    uint16_t outstanding;       /* ack: echoes waiting for their ack */
    uint32_t ack_next;
    uint32_t pings;
    uint32_t rlen, rcap;        /* leftover bytes of a partial frame */
    uint32_t woff, wlen, wcap;  /* unsent bytes */
    uint32_t flen;              /* bytes of a fragmented message so far */
    int64_t t_start, t_ready, t_ping;
    unsigned char *rbuf, *wbuf, *frag;
    sio_ws_parser wp;
    char accept[32];            /* Sec-WebSocket-Accept we expect */
    /* long-polling */
    uint8_t pstep;              /* the request awaiting its answer */
    uint8_t pflags;
    uint8_t conn;               /* no connection, connecting, open */
    int64_t t_req, t_next;      /* request sent; lpsession: next session;
                                 * WebSocket --retry: next attempt */
    int64_t t_first;            /* WebSocket: the first attempt began */
    uint32_t tries;             /* WebSocket --retry: attempts refused;
                                 * recover: failed reconnections */
    char sid[48];
    /* recover */
    uint8_t rflags;             /* R_* */
    uint8_t expect_n;           /* --expect events after coming back */
    int64_t t_back;             /* came back the first time */
    int64_t t_served;           /* never left: got --expect after the epoch */
    char pid[24];               /* the server's private id of the socket */
    char offset[32];            /* the last offset received */
};

struct ackslot {
    uint32_t id;                /* 0: free */
    int64_t t;
};

struct worker {
    const struct cfg *cfg;
    struct shm *shm;
    int id, out_fd, ep;
    long n;                     /* clients of this worker */
    long base;                  /* global index of the first */
    struct client *c;
    struct ackslot *acks;
    long next_connect;
    long rr;                    /* ack: round-robin cursor */
    uint64_t rng;
    unsigned char *scratch;
    size_t scratch_cap;
    unsigned char *obuf;
    char *text;                 /* Socket.IO packet being built */
    char *pad;                  /* echo payload */
    int64_t now, go, stop;
    int64_t pi_ns, pt_ns;       /* ping interval/timeout from the server */
    int ready_sent;
    int started;                /* lpsession: the window's sessions began */
    uint64_t issued;            /* ack: echoes issued in the window */
    /* bcast (worker 0 only) */
    uint64_t seq, bissued;
    uint64_t inflight[MAX_WINDOW];
    int ninflight;
    long sender_rr;
    struct wstats st;
    uint32_t hist[H_N][HBUCKETS];
};

/* ---- siobench_args.c ---- */

/* The name of each enum mode, as given on the command line. */
extern const char *const sb_mode_names[M_NMODES];

/* Fills cfg from the command line (the defaults, then the options, then
 * the first --url parsed); prints the usage and exits on --help, exits
 * with status 2 on a bad option. cfg must be zeroed. */
void sb_parse_args(struct cfg *cfg, int argc, char **argv);

/* Sets cfg's connect address, Host and request targets from cfg->url
 * (http://host[:port][/path]); exits with status 2 if it is bad or does
 * not resolve. */
void sb_parse_url(struct cfg *cfg);

/* ---- siobench_util.c ---- */

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t sb_mono(void);

/* Prints "siobench: " and the message to stderr and exits with status 2. */
void sb_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Adds ns (negative counts as 0) to histogram h in microseconds and raises
 * *max_us to it. */
void sb_hist_add(uint32_t *h, uint64_t *max_us, int64_t ns);

/* The q-quantile of h in milliseconds (a bucket's middle); 0 when empty. */
double sb_hist_quantile(const uint64_t *h, double q);

/* The worker's next pseudo-random number (xorshift64*). */
uint64_t sb_rnd(struct worker *w);

/* ---- siobench_poll.c ---- */

/* Starts long-polling client c (lphold) or a session of virtual client c
 * (lpsession): the handshake GET on its connection, opened if needed. */
void sb_poll_start(struct worker *w, struct client *c);

/* Handles epoll events on c's connection. */
void sb_poll_event(struct worker *w, struct client *c, uint32_t events);

/* Ends c's request or connection after an error: lphold counts c failed or
 * dropped and closes it; lpsession counts a failed session and schedules
 * the next one. why: enum why. */
void sb_poll_fail(struct worker *w, struct client *c, int why);

/* Timeouts of handshakes, requests and heartbeats; lpsession: starts the
 * sessions due (all at the window's start, later after a failure). */
void sb_poll_sweep(struct worker *w);

/* At the end: lpsession counts the sessions still under way. */
void sb_poll_finish(struct worker *w);

/* ---- siobench_cpu.c ---- */

/* CPU samples of the --cpu targets at the window's start and end (recover:
 * the epoch and the last client back) */
struct cpuwin {
    long long at_go[CPU_MAX], at_stop[CPU_MAX];
    int have_go, have_stop;
};

/* ms of CPU target i spent in cw's window; -1 when not measured. */
double sb_cpu_delta_ms(const struct cpuwin *cw, int i);

/* Prints the CPU of every target in cw's window and per op (op: what an
 * operation is, NULL for none; ops: how many the window saw): a text line
 * "CPU in the window: ...", or with json=1 the JSON fields
 * "cpu_op":..,"cpu_ms":{...},"cpu_us_per_op":{...}, (-1 where not measured). */
void sb_cpu_print(const struct cfg *cfg, const char *op, uint64_t ops,
                  const struct cpuwin *cw, int json);

/* Samples the CPU time (utime + stime + cutime + cstime, in clock ticks,
 * from /proc/<pid>/stat) of each cfg->cpu target: the process and all its
 * descendants alive now (children that ended and were reaped count through
 * their parent's cutime/cstime). ticks[i] is -1 where the process is gone. */
void sb_cpu_sample(const struct cfg *cfg, long long ticks[CPU_MAX]);

/* Clock ticks in milliseconds. */
double sb_cpu_ms(long long ticks);

/* ---- siobench_worker.c ---- */

/* Runs worker id of cfg: its share of the clients, reporting on out_fd;
 * never returns (exits the process). */
void sb_worker_main(const struct cfg *cfg, struct shm *shm, int id, int out_fd)
    __attribute__((noreturn));

/* 1 while the worker's clock is inside the measurement window. */
int sb_in_window(const struct worker *w);

/* Publishes the worker's connected count to the shared memory. */
void sb_shm_connected(struct worker *w);

/* Counts a client lost for reason why: dropped if it was_ready (had its
 * session), else failed while connecting. */
void sb_count_lost(struct worker *w, int was_ready, int why);

/* Opens c's TCP connection towards the server (non-blocking, bound to its
 * --src address if any) and registers it for EPOLLOUT; c->fd is set. Returns
 * 0, or -1 with nothing left open. */
int sb_sock_connect(struct worker *w, struct client *c);

/* Closes c and counts it as failed (before READY) or dropped (after), for
 * reason why (enum why); a closed or idle client is left alone. recover:
 * a ready or reconnecting client is handed to sb_recover_closed. */
void sb_client_close(struct worker *w, struct client *c, int why);

/* Frees c's read, write and fragment buffers and zeroes their sizes. */
void sb_client_free_buffers(struct client *c);

/* Registers (out=1) or drops interest in EPOLLOUT for c. Returns 0 or -1. */
int sb_set_out(struct worker *w, struct client *c, int out);

/* Sends what c has queued; returns 0, or -1 after closing c. */
int sb_client_flush(struct worker *w, struct client *c);

/* Sends data[0..len) now or queues it behind what waits; returns 0, or -1
 * after closing c (error, or more than WBUF_MAX waiting). */
int sb_client_send(struct worker *w, struct client *c,
                   const unsigned char *data, size_t len);

/* ---- siobench_ws.c ---- */

/* Starts client c: a TCP connect towards the server (then the upgrade). */
void sb_ws_start(struct worker *w, struct client *c);

/* c's TCP connect finished (or failed): sends the upgrade request. */
void sb_ws_connected(struct worker *w, struct client *c);

/* Reads what c's socket has and handles the whole frames in it. */
void sb_ws_readable(struct worker *w, struct client *c);

/* Sends s[0..len) as one masked text frame; returns 0 or -1 after closing c. */
int sb_ws_send_text(struct worker *w, struct client *c, const char *s,
                    size_t len);

/* ---- siobench_recover.c ---- */

/* recover, in a worker: c lost its connection (fd already closed) for
 * reason why. A ready client (unless the server disconnected its socket,
 * W_SIO) or one reconnecting schedules its next attempt after the official
 * client's delay and becomes idle; returns 1 then, 0 when c is not one of
 * those (the caller counts it failed or dropped). */
int sb_recover_closed(struct worker *w, struct client *c, int why);

/* recover: sweeps the reconnections due; returns 1 while a client is away. */
int sb_recover_sweep(struct worker *w);

/* recover: c's Engine.IO session is open: sends the Socket.IO CONNECT,
 * with {"pid","offset"} once c has a pid. Returns 0 or -1 after closing c. */
int sb_recover_send_connect(struct worker *w, struct client *c);

/* recover: the CONNECT reply s[0..n) ("0{...}") came while c was
 * connecting; c is ready. Counts its first connection or its return,
 * recovered when the reply carries the pid c had. */
void sb_recover_connected(struct worker *w, struct client *c,
                          const unsigned char *s, size_t n);

/* recover: an EVENT s[0..n) ("2[...]") for client c, ready or awaiting
 * its CONNECT reply: keeps its offset (the last argument, a string) and
 * counts --expect once c has been away. */
void sb_recover_event(struct worker *w, struct client *c,
                      const unsigned char *s, size_t n);

/* recover, at a worker's end: tallies its clients into w->st and the
 * recovery times from the epoch into w->hist[H_LAT]. */
void sb_recover_finish(struct worker *w);

/* recover, the parent's side */
struct sb_recover {
    int64_t resolved;           /* every client resolved (0: not yet) */
    int64_t epoch;              /* from --t0-file, monotonic ns */
    int64_t last_back;          /* every client back, or the timeout */
    int offsets_said, timed_out;
};

/* recover, in the parent, on each turn of its loop once every client
 * resolved (at now): says when every client holds an offset, reads the
 * epoch from --t0-file (the CPU sampled then into cw), notes when every
 * client is back or --timeout passed (the CPU sampled again). Returns the
 * time the workers stop (then --drain more), or stop unchanged. */
int64_t sb_recover_tick(struct sb_recover *r, const struct cfg *cfg,
                        struct shm *shm, struct cpuwin *cw, int64_t now,
                        int64_t stop);

/* recover: the final text lines and JSON line from the workers' totals t
 * and recovery-time histogram hist. */
void sb_recover_report(const struct cfg *cfg, const struct wstats *t,
                       const uint64_t *hist, int dead, const struct cpuwin *cw,
                       const struct sb_recover *r);

#endif
