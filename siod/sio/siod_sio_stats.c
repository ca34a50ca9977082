/* The "stats" operation of the HTTP API: siod's counters and gauges
 * (core/siod_stats.h) and the sockets of each namespace, as JSON, as the
 * "SocketIO...: value" lines of mod_status's machine-readable page, or as
 * Prometheus text (socketio_-prefixed series with HELP and TYPE lines).
 * The module's status hook and metrics handler ask for them. */
#include "siod_sio_int.h"
#include "guard/siod_guard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum stats_format { F_JSON, F_STATUS, F_PROMETHEUS };

typedef struct stats_out {
    FILE *f;
    enum stats_format fmt;
    int first;                       /* JSON: no namespace written yet */
} stats_out;

/* Writes s as a Prometheus label value or a JSON string body: \, " and
 * control characters escaped (names come from siod's configuration). */
static void put_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '\\' || c == '"')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
}

/* One Prometheus series with its HELP and TYPE lines. */
static void prom(FILE *f, const char *name, const char *type,
                 const char *help, unsigned long long v)
{
    fprintf(f, "# HELP socketio_%s %s\n# TYPE socketio_%s %s\n"
            "socketio_%s %llu\n", name, help, name, type, name, v);
}

static void nsp_line(void *ud, const char *name, size_t sockets)
{
    stats_out *o = ud;

    switch (o->fmt) {
    case F_JSON:
        fprintf(o->f, "%s{\"name\":\"", o->first ? "" : ",");
        put_escaped(o->f, name);
        fprintf(o->f, "\",\"sockets\":%zu}", sockets);
        break;
    case F_STATUS:
        fprintf(o->f, "SocketIONamespace: %s %zu\n", name, sockets);
        break;
    case F_PROMETHEUS:
        fputs("socketio_sockets{namespace=\"", o->f);
        put_escaped(o->f, name);
        fprintf(o->f, "\"} %zu\n", sockets);
        break;
    }
    o->first = 0;
}

static const char *redis_word(int state)
{
    return state < 0 ? "off" : state ? "up" : "down";
}

/* The figures every form shows: by their status name ("SocketIO" +
 * name; in JSON the name with a lower-case first letter) and, for
 * Prometheus, their series ("socketio_" + metric; one ending "_total" is
 * a counter, the others gauges) with its help, or no metric where the
 * series has labels or depends on the cluster (written apart). */
typedef struct figure {
    const char *name;
    unsigned long long v;
    const char *metric;
    const char *help;
} figure;

#define N_FIGURES 26

static void figures(const siod_gauges *g, figure f[N_FIGURES])
{
    const siod_counters *c = &siod_count;
    const siod_guard_stats gs = *siod_guard_stats_get();
    const figure all[N_FIGURES] = {
        { "SessionsPolling", g->polling, NULL, NULL },
        { "SessionsUpgrading", g->upgrading, NULL, NULL },
        { "SessionsWebSocket", g->websocket, NULL, NULL },
        { "SessionsOpened", c->sessions_opened, "sessions_opened_total",
          "Sessions opened." },
        { "SessionsClosed", c->sessions_closed, "sessions_closed_total",
          "Sessions closed." },
        { "HandshakesRefused", c->handshakes_refused,
          "handshakes_refused_total",
          "Handshakes refused at a limit (503, 429, 431)." },
        { "MessagesIn", c->messages_in, "messages_received_total",
          "Engine.IO messages received from clients." },
        { "MessagesOut", c->messages_out, "messages_sent_total",
          "Engine.IO messages sent to clients (one per recipient)." },
        { "PollOverflows", c->poll_overflows, "poll_overflows_total",
          "Sessions closed because their polling queue was full." },
        { "VolatileSkipped", c->volatile_skipped, "volatile_skipped_total",
          "Volatile packets not sent to a client that could not take "
          "them." },
        { "Links", g->links, "relay_links", "Relay links to httpd children." },
        { "LinkQueuedBytes", g->link_output_bytes, "relay_queued_bytes",
          "Bytes queued to httpd children." },
        { "LinksOpened", c->links_opened, "relay_links_opened_total",
          "Relay links opened." },
        { "LinksClosed", c->links_closed, "relay_links_closed_total",
          "Relay links closed." },
        { "HandoversResumed", c->handovers_resumed, "handovers_resumed_total",
          "WebSocket sessions taken back from the previous siod." },
        { "HandoversRefused", c->handovers_refused, "handovers_refused_total",
          "WebSockets handed over that this siod did not know (closed, "
          "1012)." },
        { "RedisLost", g->redis_lost, NULL, NULL },
        { "EventsRateLimited", gs.events_dropped, "events_rate_limited_total",
          "Events dropped over --event-rate." },
        { "SocketsFlooding", gs.sockets_flooding, "sockets_flooding_total",
          "Sockets disconnected for flooding." },
        { "HandshakesRateLimited", gs.handshakes_limited,
          "handshakes_rate_limited_total",
          "Handshakes refused over --handshake-rate (429)." },
        { "HandshakesPerAddressRefused", gs.sessions_per_addr, NULL, NULL },
        { "PayloadsInvalid", gs.payloads_invalid, "payloads_invalid_total",
          "Events refused by their schema." },
        { "RecoveryKeptSockets", g->recovery_sockets, "recovery_kept_sockets",
          "Sockets kept for connection state recovery (in-process "
          "store)." },
        { "RecoveryBytes", g->recovery_bytes, "recovery_bytes",
          "Bytes of recovery's log and kept sockets (in-process store)." },
        { "HeapUsedBytes", g->heap_used, "siod_heap_bytes",
          "siod's heap in use (malloc), in bytes." },
        { "HeapFreeBytes", g->heap_free, "siod_heap_free_bytes",
          "Free bytes inside siod's heap; given back to the system every "
          "minute when over 4 MiB and an eighth of the heap." },
    };

    memcpy(f, all, sizeof all);
}

static void write_json(stats_out *o, const siod_gauges *g)
{
    figure f[N_FIGURES];

    figures(g, f);
    fputs("{\"ok\":true", o->f);
    for (size_t i = 0; i < N_FIGURES; i++)
        fprintf(o->f, ",\"%c%s\":%llu", f[i].name[0] + ('a' - 'A'),
                f[i].name + 1, f[i].v);
    fprintf(o->f, ",\"redis\":\"%s\",\"namespaces\":[",
            redis_word(g->redis));
    siod_sio_nsps_each(nsp_line, o);
    fputs("]}", o->f);
}

static void write_status(stats_out *o, const siod_gauges *g)
{
    figure f[N_FIGURES];

    figures(g, f);
    for (size_t i = 0; i < N_FIGURES; i++)
        fprintf(o->f, "SocketIO%s: %llu\n", f[i].name, f[i].v);
    fprintf(o->f, "SocketIORedis: %s\n", redis_word(g->redis));
    siod_sio_nsps_each(nsp_line, o);
}

static void write_prometheus(stats_out *o, const siod_gauges *g)
{
    FILE *f = o->f;
    figure fig[N_FIGURES];
    size_t n;

    fputs("# HELP socketio_sessions Open Engine.IO sessions by transport.\n"
          "# TYPE socketio_sessions gauge\n", f);
    fprintf(f, "socketio_sessions{transport=\"polling\"} %zu\n"
            "socketio_sessions{transport=\"upgrading\"} %zu\n"
            "socketio_sessions{transport=\"websocket\"} %zu\n",
            g->polling, g->upgrading, g->websocket);
    figures(g, fig);
    for (size_t i = 0; i < N_FIGURES; i++) {
        if (fig[i].metric == NULL)
            continue;
        n = strlen(fig[i].metric);
        prom(f, fig[i].metric,
             n > 6 && !strcmp(fig[i].metric + n - 6, "_total") ? "counter"
                                                             : "gauge",
             fig[i].help, fig[i].v);
    }
    if (g->redis >= 0) {
        prom(f, "redis_up", "gauge", "1 while the cluster's Redis is up.",
             (unsigned long long)g->redis);
        prom(f, "redis_lost_total", "counter",
             "Cluster messages that could not be published.", g->redis_lost);
    }
    fputs("# HELP socketio_sockets Connected sockets by namespace.\n"
          "# TYPE socketio_sockets gauge\n", f);
    siod_sio_nsps_each(nsp_line, o);
}

/* See siod_sio_int.h. */
void siod_sio_stats(siod_api_call *call, const char *format)
{
    stats_out o = { .first = 1 };
    siod_gauges g;
    char *buf = NULL;
    size_t len = 0;

    if (!strcmp(format, "json"))
        o.fmt = F_JSON;
    else if (!strcmp(format, "status"))
        o.fmt = F_STATUS;
    else if (!strcmp(format, "prometheus"))
        o.fmt = F_PROMETHEUS;
    else {
        static const char bad[] = "{\"ok\":false,\"error\":\"\\\"format\\\" "
                                  "must be json, status or prometheus\"}";
        siod_api_answer(call, 400, bad, sizeof bad - 1);
        return;
    }
    if ((o.f = open_memstream(&buf, &len)) == NULL) {
        static const char oom[] = "{\"ok\":false,\"error\":\"out of memory\"}";
        siod_api_answer(call, 500, oom, sizeof oom - 1);
        return;
    }
    siod_stats_gauges(&g);
    if (o.fmt == F_JSON)
        write_json(&o, &g);
    else if (o.fmt == F_STATUS)
        write_status(&o, &g);
    else
        write_prometheus(&o, &g);
    if (fclose(o.f) != 0 || buf == NULL) {
        free(buf);
        static const char oom[] = "{\"ok\":false,\"error\":\"out of memory\"}";
        siod_api_answer(call, 500, oom, sizeof oom - 1);
        return;
    }
    if (o.fmt == F_JSON)
        siod_api_answer(call, 200, buf, len);
    else
        siod_api_answer_text(call, 200, buf, len);
    free(buf);
}
