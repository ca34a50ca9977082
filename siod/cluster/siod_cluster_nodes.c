/* The node registry: with --redis and --node, each siod keeps its node's
 * tag and base URL (--node-url) in the Redis hash <prefix>#nodes, renews
 * it on a heartbeat and reads the others' from the same hash, so a node's
 * module learns its peers without SocketIOPeer lines (docs/cluster.md).
 * An entry carries its expiry by Redis's clock; a node that stops
 * renewing it (crashed, cut off) is dropped by the next node that beats.
 * One Lua script per beat does the renewal, the sweep and the read at
 * once, on the one key it names. */
#include "siod_cluster_int.h"
#include "core/siod_core.h"
#include "sio_relay.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* KEYS[1] the hash; ARGV: tag, url ("": learn only), ttl ms. Each field
 * is a tag, its value "<expiry ms> <url>". Returns the live entries of
 * the other nodes as tag, url, tag, url..., led by "!", url when a live
 * entry for this tag named another URL (two nodes run with one tag). */
static const char script[] =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local prev = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if ARGV[2] ~= '' then\n"
    "  redis.call('HSET', KEYS[1], ARGV[1],\n"
    "             (now + tonumber(ARGV[3])) .. ' ' .. ARGV[2])\n"
    "end\n"
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "local out = {}\n"
    "if prev and ARGV[2] ~= '' then\n"
    "  local sp = string.find(prev, ' ', 1, true)\n"
    "  local exp = sp and tonumber(string.sub(prev, 1, sp - 1))\n"
    "  if exp and exp > now and string.sub(prev, sp + 1) ~= ARGV[2] then\n"
    "    out[1] = '!'\n"
    "    out[2] = string.sub(prev, sp + 1)\n"
    "  end\n"
    "end\n"
    "for i = 1, #all, 2 do\n"
    "  local v = all[i + 1]\n"
    "  local sp = string.find(v, ' ', 1, true)\n"
    "  local exp = sp and tonumber(string.sub(v, 1, sp - 1))\n"
    "  if not exp or exp <= now then\n"
    "    redis.call('HDEL', KEYS[1], all[i])\n"
    "  elseif all[i] ~= ARGV[1] then\n"
    "    out[#out + 1] = all[i]\n"
    "    out[#out + 1] = string.sub(v, sp + 1)\n"
    "  end\n"
    "end\n"
    "return out\n";

static struct {
    int running;
    siod_redis *r;
    char *key;                       /* <prefix>#nodes */
    char tag[SIO_NODE_TAG_LEN + 1];
    char *url;                       /* "" when not advertised */
    unsigned ttl_ms;
    char ttl[16];
    struct event *timer;
    int in_flight;                   /* a beat's script unanswered */
    siod_cluster_nodes_fn fn;
    void *ud;
    /* the last table read */
    char tags[SIO_RELAY_PEERS_MAX][SIO_NODE_TAG_LEN + 1];
    char *urls[SIO_RELAY_PEERS_MAX];
    size_t n;
    int read_once;                   /* a table was read from Redis */
} st;

/* Until Redis has answered once, beats come this often (ms). */
#define FIRST_BEAT_MS 200u

/* Hands the last table to the callback. */
static void report(void)
{
    const char *tags[SIO_RELAY_PEERS_MAX], *urls[SIO_RELAY_PEERS_MAX];

    for (size_t i = 0; i < st.n; i++) {
        tags[i] = st.tags[i];
        urls[i] = st.urls[i];
    }
    st.fn(st.ud, tags, urls, st.n);
}

/* Logs the table just read at info: who the peers are now. */
static void log_table(void)
{
    char line[1024];
    size_t len = 0;

    line[0] = '\0';
    for (size_t i = 0; i < st.n && len < sizeof line; i++)
        len += (size_t)snprintf(line + len, sizeof line - len, "%s%s %s",
                                i ? ", " : "", st.tags[i], st.urls[i]);
    siod_log(SIOD_LOG_INFO, "cluster: peers learned through Redis (%zu)%s%s",
             st.n, st.n ? ": " : "", line);
}

/* Returns 1 when tags[0..n) and urls[0..n) name the same nodes at the
 * same URLs as the last table, in any order. */
static int same_table(char tags[][SIO_NODE_TAG_LEN + 1], char *const *urls,
                      size_t n)
{
    if (n != st.n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < st.n && (strcmp(tags[i], st.tags[j]) != 0 ||
                            strcmp(urls[i], st.urls[j]) != 0))
            j++;
        if (j == st.n)
            return 0;
    }
    return 1;
}

/* The script's answer: the table replaces the last one (logged when it
 * differs). Entries that are not a tag and a base URL (something else
 * wrote the hash) are skipped. */
static void beat_cb(void *ud, int ok, const char *const *items,
                    const size_t *lens, size_t n)
{
    char tags[SIO_RELAY_PEERS_MAX][SIO_NODE_TAG_LEN + 1];
    char *urls[SIO_RELAY_PEERS_MAX];
    size_t k = 0;
    int changed;

    if (!st.running)
        return;
    st.in_flight = 0;
    if (!ok) {
        report();
        return;
    }
    for (size_t i = 0; i + 1 < n && k < SIO_RELAY_PEERS_MAX; i += 2) {
        if (i == 0 && items[0] != NULL && lens[0] == 1 && items[0][0] == '!') {
            siod_log_limited(SIOD_LOG_ERROR, "cluster: another node "
                             "advertises tag '%s' at %.*s: two nodes run with "
                             "--node=%s, and their sessions are forwarded to "
                             "either", st.tag, items[1] ? (int)lens[1] : 0,
                             items[1] ? items[1] : "", st.tag);
            continue;
        }
        if (items[i] == NULL || items[i + 1] == NULL ||
            !sio_node_tag_valid(items[i], lens[i]) ||
            !sio_relay_peer_url_valid(items[i + 1], lens[i + 1])) {
            siod_log_limited(SIOD_LOG_WARN, "cluster: %s holds an entry "
                             "that is not a node tag and a base URL: "
                             "skipped", st.key);
            continue;
        }
        if ((urls[k] = strndup(items[i + 1], lens[i + 1])) == NULL)
            break;
        memcpy(tags[k], items[i], SIO_NODE_TAG_LEN);
        tags[k][SIO_NODE_TAG_LEN] = '\0';
        k++;
    }
    if (n / 2 > SIO_RELAY_PEERS_MAX)
        siod_log_limited(SIOD_LOG_WARN, "cluster: %zu nodes in %s: only "
                         "%u are learned", n / 2, st.key,
                         SIO_RELAY_PEERS_MAX);
    changed = !st.read_once || !same_table(tags, urls, k);
    for (size_t i = 0; i < st.n; i++)
        free(st.urls[i]);
    memcpy(st.tags, tags, sizeof tags[0] * k);
    memcpy(st.urls, urls, sizeof urls[0] * k);
    st.n = k;
    st.read_once = 1;
    if (changed)
        log_table();
    report();
}

/* The heartbeat: renews this node's entry and reads the table; while
 * Redis is down (or the last beat is unanswered) the last table goes out
 * again, so the modules keep it. */
static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    const char *argv[7] = { "EVAL", script, "1", st.key, st.tag, st.url,
                            st.ttl };
    size_t lens[7] = { 4, sizeof script - 1, 1, strlen(st.key),
                       strlen(st.tag), strlen(st.url), strlen(st.ttl) };
    unsigned next = st.read_once || st.ttl_ms / 4 < FIRST_BEAT_MS
                        ? st.ttl_ms / 4 : FIRST_BEAT_MS;
    struct timeval tv = { next / 1000, (next % 1000) * 1000 };

    evtimer_add(st.timer, &tv);
    if (st.in_flight || !siod_redis_up(st.r)) {
        report();
        return;
    }
    st.in_flight = 1;
    siod_redis_command(st.r, 7, argv, lens, beat_cb, NULL);
}

int siod_cluster_nodes_start(struct event_base *base, const char *tag,
                             const char *url, unsigned ttl_ms,
                             siod_cluster_nodes_fn fn, void *ud, char *why,
                             size_t cap)
{
    size_t plen = strlen(siod_cluster_g.prefix);

    memset(&st, 0, sizeof st);
    st.r = siod_cluster_g.r;
    st.key = malloc(plen + sizeof "#nodes");
    st.url = strdup(url != NULL ? url : "");
    st.timer = evtimer_new(base, timer_cb, NULL);
    if (st.r == NULL || st.key == NULL || st.url == NULL ||
        st.timer == NULL) {
        free(st.key);
        free(st.url);
        if (st.timer != NULL)
            event_free(st.timer);
        memset(&st, 0, sizeof st);
        return siod_err_set(why, cap, -ENOMEM, "out of memory");
    }
    memcpy(st.key, siod_cluster_g.prefix, plen);
    memcpy(st.key + plen, "#nodes", sizeof "#nodes");
    snprintf(st.tag, sizeof st.tag, "%s", tag);
    st.ttl_ms = ttl_ms;
    snprintf(st.ttl, sizeof st.ttl, "%u", ttl_ms);
    st.fn = fn;
    st.ud = ud;
    st.running = 1;
    /* the first beat as soon as the loop runs; until Redis has answered,
     * every FIRST_BEAT_MS */
    event_active(st.timer, EV_TIMEOUT, 0);
    return 0;
}

static void left_cb(void *ud, int ok, const char *const *items,
                    const size_t *lens, size_t n)
{
}

void siod_cluster_nodes_stop(void)
{
    if (!st.running)
        return;
    if (st.url[0] != '\0' && siod_redis_up(st.r)) {
        /* best effort: the entry expires anyway */
        const char *argv[3] = { "HDEL", st.key, st.tag };
        size_t lens[3] = { 4, strlen(st.key), strlen(st.tag) };
        siod_redis_command(st.r, 3, argv, lens, left_cb, NULL);
    }
    event_free(st.timer);
    for (size_t i = 0; i < st.n; i++)
        free(st.urls[i]);
    free(st.key);
    free(st.url);
    memset(&st, 0, sizeof st);
}
