#!/bin/bash
# `make bench-cluster`: broadcasts across a two-node cluster joined by a
# private redis-server, ours (two nodes of httpd mpm_event + mod_socketio +
# siod -a bench --redis, through scripts/serve.sh) beside Node.js
# socket.io (two tests/bench/node-server.mjs --redis, the socket.io Redis
# adapter), in one run and with one load generator (build/tools/siobench,
# half the clients on each node). Measures broadcast deliveries per second
# to BCAST_CLIENTS clients, the latency a broadcast takes to the clients of
# the emitting node and of the other one (the Redis hop) under a light
# paced load, and CPU per delivery (httpd, siod, redis-server apart; node)
# from /proc. Every measurement gets a fresh redis-server and fresh nodes.
# Writes $OUT/results.jsonl and a summary (tests/bench/summary-cluster.mjs:
# $OUT/summary.txt, $OUT/results.md); leaves no process behind. See
# docs/benchmarks.md, "make bench-cluster".
#
# Environment (defaults):
#   BUILD (<repo>/build)       binaries to measure (snapshotted into $OUT/bin)
#   OUT (build/bench-cluster/<UTC timestamp>)
#   TARGETS ("event node")     event: ours; node: Node.js socket.io
#   BCAST_CLIENTS (10000; 0 skips), BCAST_SECONDS (10), BCAST_WINDOW (4):
#                 deliveries per second, broadcasts back to back with
#                 BCAST_WINDOW in flight
#   HOP_CLIENTS (200; 0 skips), HOP_RATE (20), HOP_SECONDS (10): the hop,
#                 HOP_RATE broadcasts a second one at a time (window 1),
#                 latency by node
#   ROUNDS (1)                 each scenario this many times, the targets
#                              taking turns (the summary takes the median)
#   CONNECT_RATE (2000)        connects/s while opening clients
#   PING_INTERVAL, PING_TIMEOUT (5000, 5000 ms, every node)
#   PROCS (2)                  siobench processes, an even number: process i
#                              connects to node (i mod 2) + 1
#   SRC (127.0.0.2-127.0.0.17) source addresses for the clients
#   QUICK=1                    200 clients, 3 s runs: checks the script
#   BG_QUIET (25), SETTLE_TRIES (5): before each measurement wait (1 s at a
#                 time, at most SETTLE_TRIES s) while other work keeps more
#                 than BG_QUIET % of the CPU busy
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

BUILD=${BUILD:-$repo/build}
if [ "${QUICK:-0}" = 1 ]; then
    BCAST_CLIENTS=${BCAST_CLIENTS:-200}
    BCAST_SECONDS=${BCAST_SECONDS:-3}
    HOP_CLIENTS=${HOP_CLIENTS:-50}
    HOP_SECONDS=${HOP_SECONDS:-3}
    SETTLE_TRIES=${SETTLE_TRIES:-1}
fi
TARGETS=${TARGETS:-event node}
BCAST_CLIENTS=${BCAST_CLIENTS:-10000}
BCAST_SECONDS=${BCAST_SECONDS:-10}
BCAST_WINDOW=${BCAST_WINDOW:-4}
HOP_CLIENTS=${HOP_CLIENTS:-200}
HOP_RATE=${HOP_RATE:-20}
HOP_SECONDS=${HOP_SECONDS:-10}
ROUNDS=${ROUNDS:-1}
CONNECT_RATE=${CONNECT_RATE:-2000}
PROCS=${PROCS:-2}
SRC=${SRC:-127.0.0.2-127.0.0.17}

bench_name=bench-cluster
# shellcheck source=scripts/bench-lib.sh
. "$here/bench-lib.sh"

check_targets "event node"
[ $((PROCS % 2)) = 0 ] || die "PROCS must be even (half the processes on each node)"
for c in redis-server redis-cli node curl; do
    command -v "$c" >/dev/null || die "$c missing (scripts/setup.sh)"
done

# ---------------------------------------------------------------- processes
redis_pid=    # the cluster's redis-server
redis_port=
rundirs=()    # our nodes' run directories
node_pids=()  # the Node.js nodes
urls=()       # the nodes' Socket.IO URLs, node 1 first

# stop_cluster: stops the nodes (stop_servers), then redis-server.
stop_cluster() {
    stop_servers
    stop_pid "$redis_pid" 5
    rundirs=() node_pids=() urls=() redis_pid=''
}

set_traps stop_cluster

# ---------------------------------------------------------------- set-up
start_run
npm_ci_bench

# start_redis TAG: a private redis-server (memory only, loopback).
start_redis() {
    local dir=$OUT/run-redis-$1
    mkdir -p "$dir"
    redis_port=$(free_port)
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$dir" --logfile "$dir/redis.log" &
    redis_pid=$!
    for _ in $(seq 100); do
        redis-cli -p "$redis_port" PING 2>/dev/null | grep -q PONG && return 0
        kill -0 "$redis_pid" 2>/dev/null || break
        sleep 0.05
    done
    die "redis-server did not answer on $redis_port ($dir/redis.log)"
}

# start_cluster TARGET TAG: redis-server and two nodes of TARGET; sets urls.
start_cluster() {
    local t=$1 tag=$2 k port n
    start_redis "$tag"
    for k in 1 2; do
        port=$(free_port)
        urls+=("http://127.0.0.1:$port/socket.io/")
        if [ "$t" = node ]; then
            node_start "$OUT/logs/node-$tag-n$k.log" "$port" --ws-only \
                --redis "redis://127.0.0.1:$redis_port"
            node_pids+=("$node_started")
            continue
        fi
        # EVENT_RATE=0: a bcast sender emits hundreds of events a second,
        # past siod's default per-socket rate.
        rundirs+=("$OUT/run-$tag-n$k")
        serve_start "$OUT/logs/serve-$tag-n$k.log" RUNDIR="$OUT/run-$tag-n$k" \
            PORT="$port" MPM=event APP=bench NODE="n$k" \
            REDIS="redis://127.0.0.1:$redis_port" EXTRA_CONF="$(extra_conf event)" \
            PING_INTERVAL="$PING_INTERVAL" PING_TIMEOUT="$PING_TIMEOUT" EVENT_RATE=0
    done
    if [ "$t" = node ]; then return 0; fi
    # both nodes registered in Redis (as scripts/cluster.sh waits)
    for _ in $(seq 200); do
        n=$(redis-cli -p "$redis_port" HLEN "socket.io#nodes" 2>/dev/null || echo 0)
        [ "$n" -ge 2 ] && return 0
        sleep 0.05
    done
    say "note: the nodes did not both register in Redis within 10 s"
}

# target_pids TARGET: every process of the running cluster (for settle).
target_pids() {
    local d
    echo "$redis_pid ${node_pids[*]}"
    for d in "${rundirs[@]}"; do echo "$(httpd_pids_in "$d") $(siod_pid_in "$d")"; done
}

# cpu_args TARGET: siobench's --cpu options: each node's httpd (its parent;
# the children count with it) and siod apart, or node; and redis-server.
cpu_args() {
    local k
    if [ "$1" = node ]; then
        for k in "${!node_pids[@]}"; do printf -- '--cpu node%d=%s ' $((k + 1)) "${node_pids[$k]}"; done
    else
        for k in "${!rundirs[@]}"; do
            printf -- '--cpu httpd%d=%s --cpu siod%d=%s ' $((k + 1)) \
                "$(cat "${rundirs[$k]}/run/httpd.pid")" $((k + 1)) "$(siod_pid_in "${rundirs[$k]}")"
        done
    fi
    printf -- '--cpu redis=%s' "$redis_pid"
}

# measure TARGET SCENARIO CLIENTS RATE WINDOW SECONDS ROUND: one bcast run
# on a fresh cluster, half the clients on each node.
measure() {
    local t=$1 sc=$2 n=$3 rate=$4 win=$5 secs=$6 round=$7 tag log l1 news off2=0
    tag=$sc-$t-$round
    log=$OUT/logs/$tag.log
    l1=$(load1)
    start_cluster "$t" "$tag"
    settle "$t"
    # the servers' warnings: node 2's log apart, node 1's by run_siobench
    errlog=
    if [ "$t" != node ]; then
        errlog=${rundirs[1]}/logs/error_log
        off2=$(log_size)
        errlog=${rundirs[0]}/logs/error_log
    fi
    # shellcheck disable=SC2046
    run_siobench "$log" bcast "$n" --procs "$PROCS" --connect-rate "$CONNECT_RATE" \
        --rate "$rate" --window "$win" --duration "$secs" --src "$SRC" \
        $(cpu_args "$t") --url "${urls[0]}" --url "${urls[1]}"
    news=$sb_news
    if [ "$t" = node ]; then
        news=$(cat "$OUT/logs/node-$tag"-n[12].log | grep -F 'node-server:' | sort | uniq -c |
            head -n 3 | tr '\n' ' ' || true)
    else
        errlog=${rundirs[1]}/logs/error_log
        news+=$(server_news "$off2")
    fi
    stop_cluster
    emit "$sb_line" "\"target\":\"$t\",\"scenario\":\"$sc\",\"step\":$n,\"rate\":$rate,\"window\":$win,\"round\":$round,\"load1\":$l1,\"bg_cpu_pct\":$bg_cpu" \
        "\"server_log\":$(json_str "$news")"
    printf 'bench-cluster: %-5s %s %d clients, round %d: %s %s\n' "$t" "$sc" "$n" "$round" \
        "$(grep -E '^bcasts|^tick latency' "$log" | tr '\n' ' ')" "$(cpu_line "$log")" >&2
}

# ---------------------------------------------------------------- main
printf '{"scenario":"meta","bench":"cluster",%s,"other_server_processes":%d,"settings":{"targets":"%s","bcast_clients":%d,"bcast_seconds":%s,"bcast_window":%d,"hop_clients":%d,"hop_rate":%s,"hop_seconds":%s,"rounds":%d,"connect_rate":%d,"ping_interval":%d,"ping_timeout":%d,"procs":%d,"redis":"%s","worker":"mpm_event, StartServers 3, ThreadsPerChild 25, MaxRequestWorkers 400"}}\n' \
    "$(meta_fields)" "$(others_running)" "$TARGETS" "$BCAST_CLIENTS" "$BCAST_SECONDS" \
    "$BCAST_WINDOW" "$HOP_CLIENTS" "$HOP_RATE" "$HOP_SECONDS" "$ROUNDS" "$CONNECT_RATE" \
    "$PING_INTERVAL" "$PING_TIMEOUT" "$PROCS" "$(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')" >>"$RESULTS"
say "results in $OUT (commit $(commit_of), $(nproc) cores, load $(load1))"
t_start=$(date +%s)

for ((round = 1; round <= ROUNDS; round++)); do
    if [ "$BCAST_CLIENTS" -gt 0 ]; then
        for t in $TARGETS; do
            measure "$t" bcast "$BCAST_CLIENTS" 0 "$BCAST_WINDOW" "$BCAST_SECONDS" "$round"
        done
    fi
    if [ "$HOP_CLIENTS" -gt 0 ]; then
        for t in $TARGETS; do
            measure "$t" hop "$HOP_CLIENTS" "$HOP_RATE" 1 "$HOP_SECONDS" "$round"
        done
    fi
done

say "measured in $(( $(date +%s) - t_start )) s; load now $(load1)"
node "$repo/tests/bench/summary-cluster.mjs" "$RESULTS" "$OUT"
say "done: $RESULTS, $OUT/summary.txt, $OUT/results.md"
