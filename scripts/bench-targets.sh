#!/bin/bash
# The "Socket.IO crowds never starve the site" target run: holds 20,000
# WebSocket Socket.IO clients on httpd (mpm_event, Apache's default thread
# settings) + mod_socketio + siod -a bench for HOLD_SECONDS while a static
# page and a PHP page (PHP=fpm: a php-fpm pool behind the same httpd, how
# mpm_event sites run PHP; PHP=cgi: php-cgi) are probed on new
# connections and httpd's threads are sampled every 5 s; measures memory per
# held client; tries larger crowds (short holds) to find what stops them;
# runs the Node.js reference (tests/bench/node-server.mjs) through the same
# hold and both servers through the same ack run. Writes $OUT/results.txt
# (key=value lines) and logs; leaves no process behind. docs/benchmarks.md,
# section "Target run", has the figures of one run.
#
# Environment (defaults):
#   BUILD (<repo>/build)          binaries (snapshotted into $OUT/bin)
#   OUT (/tmp/bench-targets/<UTC timestamp>)
#   PHASES ("idle hold ack node big")  idle: the pages with no client
#                                 (IDLE_SECONDS, 20); hold: 20k on ours;
#                                 ack: ours then node; node: node's hold;
#                                 big: BIG_STEPS; lpcrowd (not in the
#                                 default): LP_CLIENTS (10000) polling-only
#                                 clients each keeping a GET pending, held
#                                 HOLD_SECONDS with both pages probed
#   CLIENTS (20000), HOLD_SECONDS (120), PROCS (2), SRC (127.0.0.2-127.0.0.40)
#   NODE_CLIENTS (19950)          node's one process allows 20,000 descriptors
#   BIG_STEPS ("40000 60000"), BIG_SECONDS (30); siobench gets one process
#                                 per 19,800 clients
#   CONNECT_RATE (2000), PING_INTERVAL (10000), PING_TIMEOUT (20000)
#   PROBE_RATE (10)               GETs per second, per page
#   PHP (fpm)                     fpm | cgi: how the PHP page runs
#   ACK_CLIENTS (200), ACK_RATE (2000), ACK_SECONDS (30)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

BUILD=${BUILD:-$repo/build}
OUT=${OUT:-/tmp/bench-targets/$(date -u +%Y%m%d-%H%M%S)}
PHASES=${PHASES:-idle hold ack node big}
IDLE_SECONDS=${IDLE_SECONDS:-20}
CLIENTS=${CLIENTS:-20000}
HOLD_SECONDS=${HOLD_SECONDS:-120}
PROCS=${PROCS:-2}
SRC=${SRC:-127.0.0.2-127.0.0.40}
NODE_CLIENTS=${NODE_CLIENTS:-19950}
BIG_STEPS=${BIG_STEPS-40000 60000}
BIG_SECONDS=${BIG_SECONDS:-30}
CONNECT_RATE=${CONNECT_RATE:-2000}
PING_INTERVAL=${PING_INTERVAL:-10000}
PING_TIMEOUT=${PING_TIMEOUT:-20000}
PROBE_RATE=${PROBE_RATE:-10}
ACK_CLIENTS=${ACK_CLIENTS:-200}
ACK_RATE=${ACK_RATE:-2000}
ACK_SECONDS=${ACK_SECONDS:-30}
LP_CLIENTS=${LP_CLIENTS:-10000}
SB_MODE=hold SB_ARGS=

say() { printf 'targets: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

for f in tools/siobench siod mod_socketio.so apps/bench.so; do
    [ -e "$BUILD/$f" ] || die "$BUILD/$f missing (run make)"
done
if grep -q __asan_init "$BUILD/siod" "$BUILD/mod_socketio.so" 2>/dev/null; then
    die "$BUILD is a sanitizer build"
fi
PHP=${PHP:-fpm}
case $PHP in
fpm) php_env=(FPM=1); ls /usr/sbin/php-fpm* >/dev/null 2>&1 || die "php-fpm missing (scripts/setup.sh)" ;;
cgi) php_env=(CGI=1); [ -x /usr/lib/cgi-bin/php ] || die "php-cgi missing (/usr/lib/cgi-bin/php)" ;;
*) die "PHP must be fpm or cgi" ;;
esac

mkdir -p "$OUT/bin/apps" "$OUT/bin/tools" "$OUT/htdocs" "$OUT/logs"
cp "$BUILD/siod" "$BUILD/mod_socketio.so" "$OUT/bin/"
cp "$BUILD"/apps/*.so "$OUT/bin/apps/"
cp "$BUILD/tools/siobench" "$OUT/bin/tools/"
SIOBENCH=$OUT/bin/tools/siobench
RES=$OUT/results.txt
: >"$RES"
echo "php=$PHP" >>"$RES"
cat >"$OUT/htdocs/index.html" <<'EOF'
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bench page</title></head>
<body><h1>A static page</h1><p>Served beside Socket.IO while thousands of
WebSocket clients are held, to see whether ordinary pages stay fast.</p>
</body></html>
EOF
ulimit -n "$(ulimit -Hn)"

# ---------------------------------------------------------------- processes
serve_pid='' node_pid='' sb_pid='' sampler_pid='' probe_pids='' rundir='' port=''
stop_pid() { # PID GRACE
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < $2 * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
httpd_pids() {
    local p
    p=$(cat "$rundir/run/httpd.pid" 2>/dev/null) || return 0
    echo "$p $(pgrep -P "$p" 2>/dev/null | tr '\n' ' ')"
}
siod_pid() { cat "$rundir/run/siod.pid" 2>/dev/null || true; }
stop_server() {
    local p kids
    if [ -n "$serve_pid" ]; then
        kids="$(httpd_pids) $(siod_pid)"
        stop_pid "$serve_pid" 40
        serve_pid=
        for p in $kids; do
            if { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -qF "$rundir"; then
                kill -KILL "$p" 2>/dev/null || true
            fi
        done
    fi
    if [ -n "$node_pid" ]; then stop_pid "$node_pid" 10; node_pid=; fi
}
stop_probes() {
    local p
    for p in $probe_pids $sampler_pid; do stop_pid "$p" 2; done
    probe_pids='' sampler_pid=''
}
# shellcheck disable=SC2317
cleanup() {
    trap - INT TERM EXIT
    stop_probes
    if [ -n "$sb_pid" ]; then
        kill -INT "$sb_pid" 2>/dev/null || true; sleep 0.5
        kill -INT "$sb_pid" 2>/dev/null || true
        stop_pid "$sb_pid" 5; sb_pid=
    fi
    stop_server
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT

free_port() {
    local p
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
    done
    die "no free port"
}

# start_event NAME: httpd (mpm_event, Apache's default threads) + siod.
start_event() {
    local log=$OUT/logs/serve-$1.log i
    port=$(free_port)
    rundir=$OUT/run-$1
    EXTRA_CONF=$(printf '%s\n' 'StartServers 3' 'ServerLimit 16' 'ThreadLimit 64' \
        'ThreadsPerChild 25' 'MinSpareThreads 75' 'MaxSpareThreads 250' \
        'MaxRequestWorkers 400' 'AsyncRequestWorkerFactor 1000') \
    env "${php_env[@]}" RUNDIR=$rundir PORT=$port MPM=event APP=bench LOGLEVEL=warn EVENT_RATE=0 \
        PING_INTERVAL=$PING_INTERVAL PING_TIMEOUT=$PING_TIMEOUT \
        BUILD=$OUT/bin SITE_DIR=$OUT/htdocs SAN=0 SIOD_MODE=external "$here/serve.sh" >"$log" 2>&1 &
    serve_pid=$!
    for ((i = 0; i < 600; i++)); do
        grep -q '^serve: ready' "$log" && break
        kill -0 "$serve_pid" 2>/dev/null || { tail "$log" >&2; die "serve.sh exited"; }
        sleep 0.05
    done
    grep -q '^serve: ready' "$log" || die "httpd did not start"
    curl -fsS -o /dev/null "http://127.0.0.1:$port/info.php" || die "info.php does not answer"
}
start_node() {
    local log=$OUT/logs/node.log i
    port=$(free_port)
    node "$repo/tests/bench/node-server.mjs" --port "$port" --ws-only \
        --ping-interval "$PING_INTERVAL" --ping-timeout "$PING_TIMEOUT" \
        --static "$OUT/htdocs" >"$log" 2>&1 &
    node_pid=$!
    for ((i = 0; i < 200; i++)); do
        grep -q '^listening' "$log" && break
        kill -0 "$node_pid" 2>/dev/null || die "node exited"
        sleep 0.05
    done
}

# sample PID...: "rss_kb pss_kb threads procs max_fds"
sample() {
    local p rss=0 pss=0 thr=0 n=0 fds=0 r s t f
    for p in "$@"; do
        [ -r "/proc/$p/smaps_rollup" ] || continue
        read -r r s < <(awk '/^Rss:/{r=$2} /^Pss:/{s=$2} END{print r+0, s+0}' "/proc/$p/smaps_rollup" 2>/dev/null || echo "0 0")
        t=$(awk '/^Threads:/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
        f=$(find "/proc/$p/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
        rss=$((rss + r)); pss=$((pss + s)); thr=$((thr + ${t:-0})); n=$((n + 1))
        [ "$f" -le "$fds" ] || fds=$f
    done
    echo "$rss $pss $thr $n $fds"
}
# sampler FILE PIDS-COMMAND: every 5 s "secs threads procs max_fds rss"
# (httpd's processes only, or node).
sampler() {
    local f=$1 t0=$SECONDS a
    shift
    trap - INT TERM EXIT
    while :; do
        # shellcheck disable=SC2046
        read -r -a a <<<"$(sample $("$@"))"
        [ "${a[3]:-0}" -gt 0 ] && echo "$((SECONDS - t0)) ${a[2]} ${a[3]} ${a[4]} ${a[0]}" >>"$f"
        sleep 5
    done
}
node_pids() { echo "$node_pid"; }

# probe NAME URL COUNT: COUNT GETs at PROBE_RATE/s, new connection each.
probe() {
    curl -s -o /dev/null -H 'Connection: close' --max-time 5 --rate "$PROBE_RATE/s" \
        -w '%{http_code} %{time_total}\n' "$2?[1-$3]" >"$OUT/logs/$1.probe" 2>/dev/null &
    probe_pids="$probe_pids $!"
}
# pstats FILE: "n p50 p99 max errors" (ms; nearest rank over the 200s).
pstats() {
    local f=$1 n e
    e=$(awk '$1 != 200' "$f" | wc -l)
    awk '$1 == 200 { printf "%.3f\n", $2 * 1000 }' "$f" | sort -n >"$f.ms"
    n=$(wc -l <"$f.ms")
    [ "$n" -gt 0 ] || { echo "0 0 0 0 $e"; return; }
    echo "$n $(sed -n "$(( (n * 50 + 99) / 100 ))p" "$f.ms") $(sed -n "$(( (n * 99 + 99) / 100 ))p" "$f.ms") $(tail -n 1 "$f.ms") $e"
}
json_of() { tail -n 1 "$1" | grep '^{' || true; }
jnum() { grep -o "\"$2\":[0-9.]*" <<<"$1" | head -n 1 | cut -d: -f2 | grep . || echo 0; }
put() { echo "$1=$2" >>"$RES"; say "$1=$2"; }
wait_go() { # LOG: siobench resolved every client
    while ! grep -q '^-- ' "$1" 2>/dev/null; do
        kill -0 "$sb_pid" 2>/dev/null || return 1
        sleep 0.2
    done
}
fin_sb() { wait "$sb_pid" 2>/dev/null || true; sb_pid=; }

# hold_run TAG TARGET N PROCS SECONDS PAGES: one hold, with probes and
# samples; PAGES "static php" or "static".
hold_run() {
    local tag=$1 t=$2 n=$3 procs=$4 secs=$5 pages=$6 log idle=() end=() hp line pg k pc
    local pidf=httpd_all spf=httpd_pids
    [ "$t" = node ] && pidf=node_pids spf=node_pids
    log=$OUT/logs/$tag.log
    if [ "$t" = node ]; then start_node; else start_event "$tag"; fi
    sleep 2
    # shellcheck disable=SC2046
    read -r -a idle <<<"$(sample $($pidf))"
    put "$tag.idle" "rss_kb=${idle[0]} pss_kb=${idle[1]} threads=${idle[2]} procs=${idle[3]}"
    # shellcheck disable=SC2046
    [ "$t" = node ] || put "$tag.idle_httpd_threads" "$(sample $(httpd_pids) | cut -d' ' -f3)"
    sampler "$OUT/logs/$tag.threads" "$spf" &
    sampler_pid=$!
    # shellcheck disable=SC2086
    "$SIOBENCH" "$SB_MODE" -n "$n" --procs "$procs" --rate "$CONNECT_RATE" --duration "$secs" \
        $SB_ARGS --src "$SRC" --url "http://127.0.0.1:$port/socket.io/" >"$log" 2>&1 &
    sb_pid=$!
    if wait_go "$log"; then
        pc=$(( PROBE_RATE * (secs - 2) ))
        for pg in $pages; do
            case $pg in
            static) probe "$tag-static" "http://127.0.0.1:$port/index.html" "$pc" ;;
            php) probe "$tag-php" "http://127.0.0.1:$port/info.php" "$pc" ;;
            esac
        done
        sleep $(( secs - 4 ))
        # shellcheck disable=SC2046
        read -r -a end <<<"$(sample $($pidf))"
        if [ "$t" != node ]; then
            # shellcheck disable=SC2046
            put "$tag.end_httpd" "$(sample $(httpd_pids))"
            # shellcheck disable=SC2046
            put "$tag.end_siod" "$(sample $(siod_pid))"
            for k in $(httpd_pids); do
                echo "pid $k $(grep 'open files' "/proc/$k/limits" 2>/dev/null | tr -s ' ') fds $(find "/proc/$k/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l) user $(stat -c %U "/proc/$k")"
            done >"$OUT/logs/$tag.children"
        fi
    fi
    fin_sb
    sleep 2
    stop_probes
    line=$(json_of "$log")
    put "$tag.siobench" "$line"
    put "$tag.end" "rss_kb=${end[0]:-0} pss_kb=${end[1]:-0} threads=${end[2]:-0} procs=${end[3]:-0} max_fds=${end[4]:-0}"
    hp=$(jnum "$line" held)
    if [ "${hp:-0}" -gt 0 ] && [ -n "${end[0]:-}" ]; then
        put "$tag.per_client_kb" "$(awk -v a="${end[0]}" -v b="${idle[0]}" -v c="${end[1]}" -v d="${idle[1]}" -v n="$hp" \
            'BEGIN{printf "rss=%.1f pss=%.1f", (a-b)/n, (c-d)/n}')"
    fi
    put "$tag.threads_every_5s" "$(awk '{printf "%s%s", s, $2; s=","}' "$OUT/logs/$tag.threads")"
    put "$tag.procs_every_5s" "$(awk '{printf "%s%s", s, $3; s=","}' "$OUT/logs/$tag.threads")"
    for pg in $pages; do
        [ -f "$OUT/logs/$tag-$pg.probe" ] && put "$tag.$pg" "n/p50/p99/max/err $(pstats "$OUT/logs/$tag-$pg.probe")"
    done
    if [ "$t" != node ]; then
        put "$tag.server_news" "$(grep -E ':(warn|error|crit)\]' "$rundir/logs/error_log" 2>/dev/null |
            sed -E 's/^\[[^]]*\] //; s/\[pid [^]]*\] //; s/\[client [^]]*\] //' | sort | uniq -c | sort -rn | head -n 4 | tr '\n' '|' | cut -c1-600)"
    else
        put "$tag.node_log_tail" "$(tail -n 3 "$OUT/logs/node.log" | tr '\n' '|')"
    fi
    stop_server
}
httpd_all() { echo "$(httpd_pids) $(siod_pid)"; }

# idle_run: the two pages on the idle server (no client), IDLE_SECONDS.
idle_run() {
    local pg n=$(( PROBE_RATE * IDLE_SECONDS ))
    start_event idle
    sleep 2
    probe idle-static "http://127.0.0.1:$port/index.html" "$n"
    probe idle-php "http://127.0.0.1:$port/info.php" "$n"
    sleep $(( IDLE_SECONDS + 3 ))
    stop_probes
    for pg in static php; do put "idle.$pg" "n/p50/p99/max/err $(pstats "$OUT/logs/idle-$pg.probe")"; done
    stop_server
}

ack_run() { # TAG TARGET
    local log=$OUT/logs/$1.log
    if [ "$2" = node ]; then start_node; else start_event "$1"; fi
    sleep 1
    "$SIOBENCH" ack -n "$ACK_CLIENTS" --rate "$ACK_RATE" --duration "$ACK_SECONDS" -q \
        --url "http://127.0.0.1:$port/socket.io/" >"$log" 2>&1 &
    sb_pid=$!
    fin_sb
    put "$1.siobench" "$(json_of "$log")"
    stop_server
}

put meta "date=$(date -u +%FT%TZ) commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null) build=$BUILD nproc=$(nproc) nofile=$(ulimit -n) ping=${PING_INTERVAL}/${PING_TIMEOUT}"
put uptime_start "$(uptime)"
for ph in $PHASES; do
    case $ph in
    idle) idle_run ;;
    hold) hold_run "event-$CLIENTS" event "$CLIENTS" "$PROCS" "$HOLD_SECONDS" "static php" ;;
    lpcrowd)
        SB_MODE=lphold SB_ARGS="--max-pending $LP_CLIENTS" \
            hold_run "lpcrowd-event-$LP_CLIENTS" event "$LP_CLIENTS" "$PROCS" "$HOLD_SECONDS" "static php" ;;
    ack) ack_run ack-event event; ack_run ack-node node ;;
    node) hold_run "node-$NODE_CLIENTS" node "$NODE_CLIENTS" "$PROCS" "$HOLD_SECONDS" "static" ;;
    big)
        for n in $BIG_STEPS; do
            put "uptime_before_$n" "$(uptime)"
            hold_run "event-$n" event "$n" "$(( (n + 19799) / 19800 ))" "$BIG_SECONDS" "static php"
        done ;;
    *) die "unknown phase $ph" ;;
    esac
done
put uptime_end "$(uptime)"
say "results in $RES"
