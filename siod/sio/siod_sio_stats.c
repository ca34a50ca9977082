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

/* The figures the JSON and status forms share, by their status name
 * ("SocketIO" + name; in JSON the name with a lower-case first letter). */
typedef struct figure {
    const char *name;
    unsigned long long v;
} figure;

#define N_FIGURES 26

static void figures(const siod_gauges *g, figure f[N_FIGURES])
{
    const siod_counters *c = &siod_count;
    const siod_guard_stats gs = *siod_guard_stats_get();
    const figure all[N_FIGURES] = {
        { "SessionsPolling", g->polling },
        { "SessionsUpgrading", g->upgrading },
        { "SessionsWebSocket", g->websocket },
        { "SessionsOpened", c->sessions_opened },
        { "SessionsClosed", c->sessions_closed },
        { "HandshakesRefused", c->handshakes_refused },
        { "MessagesIn", c->messages_in },
        { "MessagesOut", c->messages_out },
        { "PollOverflows", c->poll_overflows },
        { "VolatileSkipped", c->volatile_skipped },
        { "Links", g->links },
        { "LinkQueuedBytes", g->link_output_bytes },
        { "LinksOpened", c->links_opened },
        { "LinksClosed", c->links_closed },
        { "HandoversResumed", c->handovers_resumed },
        { "HandoversRefused", c->handovers_refused },
        { "RedisLost", g->redis_lost },
        { "EventsRateLimited", gs.events_dropped },
        { "SocketsFlooding", gs.sockets_flooding },
        { "HandshakesRateLimited", gs.handshakes_limited },
        { "HandshakesPerAddressRefused", gs.sessions_per_addr },
        { "PayloadsInvalid", gs.payloads_invalid },
        { "RecoveryKeptSockets", g->recovery_sockets },
        { "RecoveryBytes", g->recovery_bytes },
        { "HeapUsedBytes", g->heap_used },
        { "HeapFreeBytes", g->heap_free },
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
    const siod_counters *c = &siod_count;
    FILE *f = o->f;

    fputs("# HELP socketio_sessions Open Engine.IO sessions by transport.\n"
          "# TYPE socketio_sessions gauge\n", f);
    fprintf(f, "socketio_sessions{transport=\"polling\"} %zu\n"
            "socketio_sessions{transport=\"upgrading\"} %zu\n"
            "socketio_sessions{transport=\"websocket\"} %zu\n",
            g->polling, g->upgrading, g->websocket);
    prom(f, "sessions_opened_total", "counter", "Sessions opened.",
         c->sessions_opened);
    prom(f, "sessions_closed_total", "counter", "Sessions closed.",
         c->sessions_closed);
    prom(f, "handshakes_refused_total", "counter",
         "Handshakes refused at a limit (503, 429, 431).",
         c->handshakes_refused);
    prom(f, "messages_received_total", "counter",
         "Engine.IO messages received from clients.", c->messages_in);
    prom(f, "messages_sent_total", "counter",
         "Engine.IO messages sent to clients (one per recipient).",
         c->messages_out);
    prom(f, "poll_overflows_total", "counter",
         "Sessions closed because their polling queue was full.",
         c->poll_overflows);
    prom(f, "volatile_skipped_total", "counter",
         "Volatile packets not sent to a client that could not take them.",
         c->volatile_skipped);
    prom(f, "relay_links", "gauge", "Relay links to httpd children.",
         g->links);
    prom(f, "relay_queued_bytes", "gauge",
         "Bytes queued to httpd children.", g->link_output_bytes);
    prom(f, "relay_links_opened_total", "counter", "Relay links opened.",
         c->links_opened);
    prom(f, "relay_links_closed_total", "counter", "Relay links closed.",
         c->links_closed);
    prom(f, "handovers_resumed_total", "counter",
         "WebSocket sessions taken back from the previous siod.",
         c->handovers_resumed);
    prom(f, "handovers_refused_total", "counter",
         "WebSockets handed over that this siod did not know (closed, 1012).",
         c->handovers_refused);
    {
        const siod_guard_stats gs = *siod_guard_stats_get();

        prom(f, "events_rate_limited_total", "counter",
             "Events dropped over --event-rate.", gs.events_dropped);
        prom(f, "sockets_flooding_total", "counter",
             "Sockets disconnected for flooding.", gs.sockets_flooding);
        prom(f, "handshakes_rate_limited_total", "counter",
             "Handshakes refused over --handshake-rate (429).",
             gs.handshakes_limited);
        prom(f, "payloads_invalid_total", "counter",
             "Events refused by their schema.", gs.payloads_invalid);
    }
    prom(f, "recovery_kept_sockets", "gauge",
         "Sockets kept for connection state recovery (in-process store).",
         g->recovery_sockets);
    prom(f, "recovery_bytes", "gauge",
         "Bytes of recovery's log and kept sockets (in-process store).",
         g->recovery_bytes);
    prom(f, "siod_heap_bytes", "gauge",
         "siod's heap in use (malloc), in bytes.", g->heap_used);
    prom(f, "siod_heap_free_bytes", "gauge",
         "Free bytes inside siod's heap; given back to the system every "
         "minute when over 4 MiB and an eighth of the heap.", g->heap_free);
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
