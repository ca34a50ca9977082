#!/bin/bash
# `make bench-php`: acked events answered by PHP: our stack (httpd mpm_event
# + mod_socketio + siod) with namespace "/" served by conf/php/bench.php
# through HTTP callbacks (siod --callback, docs/callbacks.md) on a private
# php-fpm pool behind the same httpd, beside siod's C bench application
# (siod -a bench) in the same run and with the same load generator
# (build/tools/siobench ack: echoes at fixed, open-loop rates). Measures
# acks per second achieved, round-trip p50/p99, lost acks and CPU per ack
# (httpd, siod, php-fpm apart) from /proc, each rate on a fresh server.
# Writes $OUT/results.jsonl and a summary (tests/bench/summary-php.mjs:
# $OUT/summary.txt, $OUT/results.md); leaves no process behind. See
# docs/benchmarks.md, "make bench-php".
#
# Environment (defaults):
#   BUILD (<repo>/build)       binaries to measure (snapshotted into $OUT/bin)
#   OUT (build/bench-php/<UTC timestamp>)
#   TARGETS ("php c")          php: the PHP handler; c: siod -a bench
#   RATES ("500 1000 1500")    echoes per second, all clients together
#   CLIENTS (200), ACK_SECONDS (10), SIZE (16 bytes echoed), TIMEOUT (5 s:
#                 an ack later than this counts as lost)
#   ROUNDS (1)                 every rate this many times, the targets taking
#                              turns (the summary takes the median)
#   FPM_CHILDREN (8)           php-fpm's pm.max_children (pm = static: all
#                              started before the run and kept)
#   CALLBACK_REQUESTS (8)      siod --callback-requests: callbacks in flight
#                              at once (the pool's size: more only wait in
#                              php-fpm's queue)
#   CONNECT_RATE (1000)        connects/s while opening clients (each
#                              connect is a callback too)
#   PING_INTERVAL, PING_TIMEOUT (5000, 5000 ms)
#   QUICK=1                    100 clients, 300 and 600/s, 3 s: checks the
#                              script
#   BG_QUIET (25), SETTLE_TRIES (5): before each measurement wait (1 s at a
#                 time, at most SETTLE_TRIES s) while other work keeps more
#                 than BG_QUIET % of the CPU busy
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

BUILD=${BUILD:-$repo/build}
if [ "${QUICK:-0}" = 1 ]; then
    RATES=${RATES:-300 600}
    CLIENTS=${CLIENTS:-100}
    ACK_SECONDS=${ACK_SECONDS:-3}
    SETTLE_TRIES=${SETTLE_TRIES:-1}
fi
TARGETS=${TARGETS:-php c}
RATES=${RATES:-500 1000 1500}
CLIENTS=${CLIENTS:-200}
ACK_SECONDS=${ACK_SECONDS:-10}
SIZE=${SIZE:-16}
TIMEOUT=${TIMEOUT:-5}
ROUNDS=${ROUNDS:-1}
FPM_CHILDREN=${FPM_CHILDREN:-8}
CALLBACK_REQUESTS=${CALLBACK_REQUESTS:-8}
CONNECT_RATE=${CONNECT_RATE:-1000}

bench_name=bench-php
# shellcheck source=scripts/bench-lib.sh
. "$here/bench-lib.sh"

check_targets "php c"
ls /usr/sbin/php-fpm* >/dev/null 2>&1 || die "php-fpm missing (scripts/setup.sh)"
command -v curl >/dev/null || die "curl missing"

# ---------------------------------------------------------------- processes
rundir= # the running target's (httpd, siod, php-fpm)
set_traps stop_servers
start_run

# start_server TARGET TAG: httpd + siod (php: with the PHP handler on
# php-fpm) on a free port; sets port, rundir, errlog.
start_server() {
    local t=$1 tag=$2 php=()
    port=$(free_port)
    rundir=$OUT/run-$tag
    # EVENT_RATE=0: as in make bench, no per-socket event limit on either.
    if [ "$t" = php ]; then
        php=(HANDLERS=php FPM_PM=static FPM_CHILDREN="$FPM_CHILDREN"
             SIOD_ARGS="--callback-requests=$CALLBACK_REQUESTS")
    fi
    serve_start "$OUT/logs/serve-$tag.log" RUNDIR="$rundir" PORT="$port" MPM=event \
        APP=bench EXTRA_CONF="$(extra_conf event)" PING_INTERVAL="$PING_INTERVAL" \
        PING_TIMEOUT="$PING_TIMEOUT" EVENT_RATE=0 "${php[@]}"
    errlog=$rundir/logs/error_log
}

# target_pids TARGET: the server's processes (for settle).
target_pids() { echo "$(httpd_pids_in "$rundir") $(siod_pid_in "$rundir") $(fpm_pid_in "$rundir")"; }

# cpu_args TARGET: httpd (its parent; the children count with it), siod
# and php-fpm (its master; the pool's children count with it) apart.
cpu_args() {
    printf -- '--cpu httpd=%s --cpu siod=%s' "$(cat "$rundir/run/httpd.pid")" "$(siod_pid_in "$rundir")"
    [ "$1" != php ] || printf -- ' --cpu php-fpm=%s' "$(fpm_pid_in "$rundir")"
}

# measure TARGET RATE ROUND: echoes at RATE/s over CLIENTS on a fresh server.
measure() {
    local t=$1 rate=$2 round=$3 tag log l1
    tag=$t-$rate-$round
    log=$OUT/logs/ack-$tag.log
    l1=$(load1)
    start_server "$t" "$tag"
    settle "$t"
    # shellcheck disable=SC2046
    run_siobench "$log" ack "$CLIENTS" --connect-rate "$CONNECT_RATE" --rate "$rate" \
        --size "$SIZE" --duration "$ACK_SECONDS" --timeout "$TIMEOUT" \
        $(cpu_args "$t") --url "http://127.0.0.1:$port/socket.io/"
    stop_servers
    emit "$sb_line" "\"target\":\"$t\",\"scenario\":\"ack-rate\",\"step\":$CLIENTS,\"rate\":$rate,\"round\":$round,\"load1\":$l1,\"bg_cpu_pct\":$bg_cpu" \
        "\"server_log\":$(json_str "$sb_news")"
    printf 'bench-php: %-3s %5d/s over %d, round %d: %s %s%s\n' "$t" "$rate" "$CLIENTS" "$round" \
        "$(grep -E '^acks|^ack round' "$log" | tr '\n' ' ')" "$(cpu_line "$log")" \
        "${sb_news:+ server: $sb_news}" >&2
}

# ---------------------------------------------------------------- main
printf '{"scenario":"meta","bench":"php",%s,"other_server_processes":%d,"settings":{"targets":"%s","rates":"%s","clients":%d,"seconds":%s,"size":%d,"timeout":%s,"rounds":%d,"fpm":"%s","fpm_children":%d,"fpm_pm":"static","callback_requests":%d,"connect_rate":%d,"ping_interval":%d,"ping_timeout":%d,"opcache":"%s","worker":"mpm_event, StartServers 3, ThreadsPerChild 25, MaxRequestWorkers 400"}}\n' \
    "$(meta_fields)" "$(others_running)" "$TARGETS" "$RATES" "$CLIENTS" "$ACK_SECONDS" "$SIZE" \
    "$TIMEOUT" "$ROUNDS" "$(basename "$(ls /usr/sbin/php-fpm* | sort -V | tail -n 1)")" \
    "$FPM_CHILDREN" "$CALLBACK_REQUESTS" "$CONNECT_RATE" "$PING_INTERVAL" "$PING_TIMEOUT" \
    "$("$(ls /usr/sbin/php-fpm* | sort -V | tail -n 1)" -i 2>/dev/null | sed -n 's/^opcache.enable => \([^ ]*\).*/\1/p')" >>"$RESULTS"
say "results in $OUT (commit $(commit_of), $(nproc) cores, load $(load1))"
t_start=$(date +%s)

for ((round = 1; round <= ROUNDS; round++)); do
    for rate in $RATES; do
        for t in $TARGETS; do measure "$t" "$rate" "$round"; done
    done
done

say "measured in $(( $(date +%s) - t_start )) s; load now $(load1)"
node "$repo/tests/bench/summary-php.mjs" "$RESULTS" "$OUT"
say "done: $RESULTS, $OUT/summary.txt, $OUT/results.md"
