#!/bin/bash
# Runs a small cluster in the foreground (docs/cluster.md): a private
# redis-server, two nodes (httpd + siod each, scripts/serve.sh, node tags
# n1 and n2 on PORT+1 and PORT+2, sharing the Redis adapter) and a front
# httpd on PORT balancing every request round-robin over them with no
# stickiness. The nodes learn each other through Redis (LEARN=1, the
# default) or list each other with SocketIOPeer (LEARN=0). Ctrl-C or
# SIGTERM stops everything and leaves no process behind. Used by
# `make cluster` and tests/integration/cluster-set.test.mjs.
#
# Environment: BUILD (default <repo>/build), PORT (8080), RUNDIR (default
# $BUILD/cluster), APP (siod application; siod's default when empty), MPM,
# SAN, LEARN (1|0), REDIS_MODE, REDIS_PORT (default: the first free port
# from PORT+10), NODE_TTL (siod --node-ttl, ms), PING_INTERVAL,
# PING_TIMEOUT, and what serve.sh takes for the demo: SITE_DIR,
# CLIENT_SCRIPT, CGI=1; READY_MSG (printed once everything answers).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

BUILD=${BUILD:-$repo/build}
PORT=${PORT:-8080}
RUNDIR=${RUNDIR:-$BUILD/cluster}
HTTPD=${HTTPD:-/usr/sbin/apache2}
LEARN=${LEARN:-1}
SAN=${SAN:-0}

say() { echo "cluster: $*" >&2; }
die() { say "$*"; exit 1; }

case "$PORT" in ''|*[!0-9]*) die "PORT must be a number (got '$PORT')";; esac
case "$LEARN" in 0|1) ;; *) die "LEARN must be 1 or 0 (got '$LEARN')";; esac
command -v redis-server >/dev/null || die "redis-server not found (scripts/setup.sh installs it)"
command -v redis-cli >/dev/null || die "redis-cli not found (scripts/setup.sh installs it)"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

P1=$((PORT + 1))
P2=$((PORT + 2))
for p in "$PORT" "$P1" "$P2"; do
    port_busy "$p" && die "port $p is already in use (set PORT=...: the front takes PORT, the nodes PORT+1 and PORT+2)"
done
if [ -z "${REDIS_PORT:-}" ]; then
    REDIS_PORT=$((PORT + 10))
    while port_busy "$REDIS_PORT"; do REDIS_PORT=$((REDIS_PORT + 1)); done
fi
REDIS=redis://127.0.0.1:$REDIS_PORT

redis_pid=
front_pid=
node_pids=()

# shellcheck disable=SC2317 # the functions below run from traps
# Stops a child with SIGTERM (unless $3 is 'sent': a second TERM would cut
# a serve.sh short in its own cleanup), then SIGKILL after $2 seconds, and
# reaps it.
stop_child() {
    local pid=$1 grace=$2 timer
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    [ "${3:-}" = sent ] || kill -TERM "$pid" 2>/dev/null || true
    ( sleep "$grace"; kill -KILL "$pid" 2>/dev/null ) 8>&- &
    timer=$!
    wait "$pid" 2>/dev/null || true
    kill "$timer" 2>/dev/null || true
    wait "$timer" 2>/dev/null || true
}

# shellcheck disable=SC2317 # runs from the traps
cleanup() {
    trap - INT TERM EXIT
    local p kids
    if [ -n "$front_pid" ]; then
        kids=$(pgrep -P "$front_pid" 2>/dev/null || true)
        stop_child "$front_pid" 15
        for p in $kids; do kill -KILL "$p" 2>/dev/null || true; done
    fi
    # each serve.sh stops its httpd, then its siod
    for p in "${node_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${node_pids[@]}"; do stop_child "$p" 30 sent; done
    stop_child "$redis_pid" 5
    if [ -n "$redis_pid$front_pid" ]; then say "stopped"; fi
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap 'cleanup' EXIT

mkdir -p "$RUNDIR/redis"
RUNDIR=$(cd "$RUNDIR" && pwd)
exec 8>>"$RUNDIR/.cluster.lock"
flock -n 8 || die "a cluster already runs from $RUNDIR (stop it, or set RUNDIR=...)"

# Redis: private, in memory only, loopback.
setsid redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
    --appendonly no --dir "$RUNDIR/redis" \
    --logfile "$RUNDIR/redis/redis.log" 8>&- 9>&- &
redis_pid=$!
for _ in $(seq 100); do
    redis-cli -p "$REDIS_PORT" PING 2>/dev/null | grep -q PONG && break
    kill -0 "$redis_pid" 2>/dev/null || die "redis-server exited at start ($RUNDIR/redis/redis.log)"
    sleep 0.05
done
redis-cli -p "$REDIS_PORT" PING 2>/dev/null | grep -q PONG || die "redis-server did not answer on $REDIS_PORT"
say "redis-server on 127.0.0.1:$REDIS_PORT (pid $redis_pid)"

# The nodes: n1 on PORT+1, n2 on PORT+2.
# LEARN=0: listed peers, and nothing advertised in Redis (only the adapter)
peers=
node_url=
if [ "$LEARN" = 0 ]; then
    peers="n1=http://127.0.0.1:$P1 n2=http://127.0.0.1:$P2"
    node_url=none
fi
start_node() { # TAG PORT
    local tag=$1 port=$2
    mkdir -p "$RUNDIR/$tag"
    RUNDIR=$RUNDIR/$tag PORT=$port NODE=$tag REDIS=$REDIS \
        REDIS_MODE=${REDIS_MODE:-} NODE_TTL=${NODE_TTL:-} PEERS=$peers \
        NODE_URL=$node_url \
        BUILD=$BUILD APP=${APP:-} MPM=${MPM:-event} SAN=$SAN \
        PING_INTERVAL=${PING_INTERVAL:-} PING_TIMEOUT=${PING_TIMEOUT:-} \
        SITE_DIR=${SITE_DIR:-} CLIENT_SCRIPT=${CLIENT_SCRIPT:-} CGI=${CGI:-0} \
        READY_MSG="" SIOD_MODE=external "$here/serve.sh" >"$RUNDIR/$tag/serve.log" 2>&1 8>&- &
    node_pids+=($!)
}
start_node n1 "$P1"
start_node n2 "$P2"
for port in "$P1" "$P2"; do
    ready=0
    for _ in $(seq 300); do
        if curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/health.txt" 2>/dev/null; then
            ready=1; break
        fi
        for p in "${node_pids[@]}"; do
            kill -0 "$p" 2>/dev/null || break 2
        done
        sleep 0.05
    done
    if [ "$ready" != 1 ]; then
        say "a node did not start; the last lines of its log:"
        tail -n 15 "$RUNDIR"/n*/serve.log >&2 || true
        exit 1
    fi
done

# The front: round-robin, no stickiness, WebSocket upgrades tunnelled.
conf_vars=$(RUNDIR=$RUNDIR/front PORT=$PORT MPM=${MPM:-event} BUILD=$BUILD \
    LOGLEVEL=${LOGLEVEL:-info} \
    BALANCE="http://127.0.0.1:$P1 http://127.0.0.1:$P2" "$here/httpd-conf.sh") \
    || die "httpd-conf.sh failed for the front"
front_conf=$(printf '%s\n' "$conf_vars" | sed -n "s/^CONF='\(.*\)'$/\1/p")
front_log=$(printf '%s\n' "$conf_vars" | sed -n "s/^ERROR_LOG='\(.*\)'$/\1/p")
setsid "$HTTPD" -f "$front_conf" -DFOREGROUND 8>&- 9>&- &
front_pid=$!
ready=0
for _ in $(seq 200); do
    if curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/health.txt" 2>/dev/null; then
        ready=1; break
    fi
    kill -0 "$front_pid" 2>/dev/null || break
    sleep 0.05
done
if [ "$ready" != 1 ]; then
    say "the front httpd did not start; last lines of $front_log:"
    tail -n 20 "$front_log" >&2 || true
    exit 1
fi

# Learned peers: both nodes in Redis, then one heartbeat so that each has
# read the other's entry.
if [ "$LEARN" = 1 ]; then
    for _ in $(seq 200); do
        n=$(redis-cli -p "$REDIS_PORT" HLEN "socket.io#nodes" 2>/dev/null || echo 0)
        [ "$n" -ge 2 ] && break
        sleep 0.05
    done
    [ "$n" -ge 2 ] || die "the nodes did not register in Redis (their logs: $RUNDIR/n1, $RUNDIR/n2)"
    ttl=${NODE_TTL:-10000}
    sleep "$(awk -v t="$ttl" 'BEGIN { printf "%.2f", t / 4000 + 0.3 }')"
fi

say "ready: http://127.0.0.1:$PORT/ (front: round-robin over the nodes, no stickiness)"
say "  node n1  http://127.0.0.1:$P1/   (logs $RUNDIR/n1/logs/)"
say "  node n2  http://127.0.0.1:$P2/   (logs $RUNDIR/n2/logs/)"
say "  redis    $REDIS; peers $([ "$LEARN" = 1 ] && echo "learned through Redis" || echo "listed (SocketIOPeer)")"
say "Ctrl-C stops everything"
[ -n "${READY_MSG:-}" ] && say "$READY_MSG"

# Wait for a signal, or for any child to end on its own.
set +e
wait -n "$redis_pid" "$front_pid" "${node_pids[@]}"
set -e
say "a process of the cluster exited; stopping the others"
exit 1
