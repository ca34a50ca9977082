#!/bin/bash
# `make bench`: measures our stack (httpd + mod_socketio + siod -a bench)
# under mpm_event (reactor) and mpm_worker (thread per WebSocket) side by
# side with the Node.js socket.io reference server (tests/bench/
# node-server.mjs), in one run and with one load generator
# (build/tools/siobench): a hold ladder (clients held with every one
# answering pings; server memory, threads and a static page's latency at
# each step), broadcast deliveries per second and ack round trips, server
# CPU per ack and per delivery (httpd and siod apart, from /proc), ack
# latency under an open-loop rate, long-polling sessions per second and a
# crowd of polling clients each holding a GET. Writes
# $OUT/results.jsonl, a summary (tests/bench/summary.mjs) and PNG plots, and
# with UPDATE_DOCS=1 refreshes docs/bench/*.png and the generated block of
# docs/benchmarks.md. Leaves no process behind. See docs/benchmarks.md.
#
# Environment (defaults):
#   BUILD (<repo>/build)       binaries to measure (snapshotted into $OUT/bin)
#   OUT (build/bench/<UTC timestamp>)
#   TARGETS ("event worker node")
#   HOLD_STEPS ("1000 2000 5000 10000 20000 30000"; empty: none); a
#                 target's ladder stops at the first step it does not hold
#   HOLD_SECONDS (12)          hold once every client is up
#   HOLD_TOLERANCE (0)         clients a step may lose and still count as
#                              held (a count, or a fraction below 1)
#   CONNECT_RATE (2000)        connects/s while opening clients
#   PING_INTERVAL, PING_TIMEOUT (5000, 5000 ms, both servers)
#   BCAST_SIZES ("1000 10000"; empty: none), BCAST_SECONDS (10),
#   BCAST_WINDOW (4)
#   ACK_CLIENTS (200; 0 skips acks), ACK_RATE (2000), ACK_SECONDS (10),
#   ACK_SIZE (16)
#   CPU_ACK_CLIENTS (1000; 0 skips), CPU_ACK_RATE (3000), CPU_ACK_SECONDS
#                 (30): acks at a fixed rate; server CPU per ack
#   OPEN_ACK_CLIENTS (1000; 0 skips), OPEN_ACK_RATE (10000),
#   OPEN_ACK_SECONDS (10), OPEN_ACK_ROUNDS (3): open-loop ack latency, the
#                 targets taking turns each round (the summary takes the
#                 median of the rounds)
#   LP_SESSION_CONCURRENCY (100; 0 skips), LP_SESSION_SECONDS (10): whole
#                 long-polling sessions (open, CONNECT, an acked echo,
#                 close) back to back on keep-alive connections
#   LP_CROWD_CLIENTS (1000; 0 skips), LP_CROWD_SECONDS (20): polling-only
#                 clients each keeping a GET pending, with the page probe
#                 and thread counts of the hold ladder
#   PROBE_RATE (20)            static GETs per second during each hold
#   PROCS (2)                  siobench processes (hold and bcast)
#   SRC (127.0.0.2-127.0.0.17) source addresses for the clients
#   WORKER_THREADS (250), WORKER_SERVERS (48), WORKER_WS_THREADS (11500):
#                 ThreadsPerChild, ServerLimit and SocketIOWebSocketThreads
#                 of the worker target
#   QUICK=1                    HOLD_STEPS=1000, BCAST_SIZES=1000, short runs,
#                              200 clients for the CPU, open-loop and crowd
#                              runs, 50 polling sessions at once, one round
#   UPDATE_DOCS (1 for a whole run, 0 when a target or a phase is left
#                              out or QUICK=1) copy the plots to docs/bench/
#                              and rewrite the generated block of
#                              docs/benchmarks.md
#   BG_QUIET (25), SETTLE_TRIES (5): before each measurement wait (1 s at a
#                 time, at most SETTLE_TRIES s) while other work keeps more
#                 than BG_QUIET % of the CPU busy
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

BUILD=${BUILD:-$repo/build}
if [ "${QUICK:-0}" = 1 ]; then
    HOLD_STEPS=${HOLD_STEPS-1000}
    BCAST_SIZES=${BCAST_SIZES-1000}
    HOLD_SECONDS=${HOLD_SECONDS:-11}
    BCAST_SECONDS=${BCAST_SECONDS:-5}
    ACK_SECONDS=${ACK_SECONDS:-5}
    CPU_ACK_CLIENTS=${CPU_ACK_CLIENTS:-200}
    CPU_ACK_RATE=${CPU_ACK_RATE:-1000}
    CPU_ACK_SECONDS=${CPU_ACK_SECONDS:-5}
    OPEN_ACK_CLIENTS=${OPEN_ACK_CLIENTS:-200}
    OPEN_ACK_RATE=${OPEN_ACK_RATE:-2000}
    OPEN_ACK_SECONDS=${OPEN_ACK_SECONDS:-5}
    OPEN_ACK_ROUNDS=${OPEN_ACK_ROUNDS:-1}
    LP_SESSION_CONCURRENCY=${LP_SESSION_CONCURRENCY:-50}
    LP_SESSION_SECONDS=${LP_SESSION_SECONDS:-5}
    LP_CROWD_CLIENTS=${LP_CROWD_CLIENTS:-200}
    LP_CROWD_SECONDS=${LP_CROWD_SECONDS:-12}
    UPDATE_DOCS=${UPDATE_DOCS:-0}
fi
TARGETS=${TARGETS:-event worker node}
HOLD_STEPS=${HOLD_STEPS-1000 2000 5000 10000 20000 30000}
HOLD_SECONDS=${HOLD_SECONDS:-12}
HOLD_TOLERANCE=${HOLD_TOLERANCE:-0}
CONNECT_RATE=${CONNECT_RATE:-2000}
PING_INTERVAL=${PING_INTERVAL:-5000}
PING_TIMEOUT=${PING_TIMEOUT:-5000}
BCAST_SIZES=${BCAST_SIZES-1000 10000}
BCAST_SECONDS=${BCAST_SECONDS:-10}
BCAST_WINDOW=${BCAST_WINDOW:-4}
ACK_CLIENTS=${ACK_CLIENTS:-200}
ACK_RATE=${ACK_RATE:-2000}
ACK_SECONDS=${ACK_SECONDS:-10}
ACK_SIZE=${ACK_SIZE:-16}
CPU_ACK_CLIENTS=${CPU_ACK_CLIENTS:-1000}
CPU_ACK_RATE=${CPU_ACK_RATE:-3000}
CPU_ACK_SECONDS=${CPU_ACK_SECONDS:-30}
OPEN_ACK_CLIENTS=${OPEN_ACK_CLIENTS:-1000}
OPEN_ACK_RATE=${OPEN_ACK_RATE:-10000}
OPEN_ACK_SECONDS=${OPEN_ACK_SECONDS:-10}
OPEN_ACK_ROUNDS=${OPEN_ACK_ROUNDS:-3}
LP_SESSION_CONCURRENCY=${LP_SESSION_CONCURRENCY:-100}
LP_SESSION_SECONDS=${LP_SESSION_SECONDS:-10}
LP_CROWD_CLIENTS=${LP_CROWD_CLIENTS:-1000}
LP_CROWD_SECONDS=${LP_CROWD_SECONDS:-20}
PROBE_RATE=${PROBE_RATE:-20}
PROCS=${PROCS:-2}
SRC=${SRC:-127.0.0.2-127.0.0.17}
WORKER_THREADS=${WORKER_THREADS:-250}
WORKER_SERVERS=${WORKER_SERVERS:-48}
WORKER_WS_THREADS=${WORKER_WS_THREADS:-11500}
# the docs show whole runs: one that leaves out a target or a phase does
# not rewrite them unless asked (UPDATE_DOCS=1)
whole=1
[ "$TARGETS" = "event worker node" ] || whole=0
for v in "$HOLD_STEPS" "$BCAST_SIZES"; do [ -n "$v" ] || whole=0; done
for n in "$ACK_CLIENTS" "$CPU_ACK_CLIENTS" "$OPEN_ACK_CLIENTS" "$LP_SESSION_CONCURRENCY" "$LP_CROWD_CLIENTS"; do
    [ "$n" != 0 ] || whole=0
done
UPDATE_DOCS=${UPDATE_DOCS:-$whole}

bench_name=bench
# shellcheck source=scripts/bench-lib.sh
. "$here/bench-lib.sh"

check_targets "event worker node"
command -v curl >/dev/null || die "curl missing"
command -v node >/dev/null || die "node missing (scripts/setup.sh)"

# ---------------------------------------------------------------- processes
node_pid=    # the Node.js reference server
probe_pid=   # the static-page probe (curl)

stop_server() {
    stop_servers
    node_pid=
}

# shellcheck disable=SC2317 # runs from the traps
stop_all() {
    if [ -n "$probe_pid" ]; then stop_pid "$probe_pid" 2; probe_pid=; fi
    stop_server
}
set_traps stop_all

# ---------------------------------------------------------------- set-up
start_run
mkdir -p "$OUT/htdocs"

# The same page for both servers (httpd gets it through SITE_DIR).
cat >"$OUT/htdocs/index.html" <<'EOF'
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bench page</title></head>
<body><h1>A static page</h1><p>Served beside Socket.IO while thousands of
WebSocket clients are held, to see whether ordinary pages stay fast.</p>
</body></html>
EOF

npm_ci_bench

# gnuplot draws the plots; installed from Debian when missing (as root or
# with password-less sudo), before anything is measured.
if ! command -v gnuplot >/dev/null; then
    sudo_cmd=
    [ "$(id -u)" = 0 ] || sudo_cmd="sudo -n"
    say "installing gnuplot-nox (Debian) for the plots"
    { $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -q gnuplot-nox ||
      { $sudo_cmd apt-get update -q && $sudo_cmd env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q gnuplot-nox; }; } >"$OUT/logs/apt.log" 2>&1 ||
        say "could not install gnuplot-nox (see $OUT/logs/apt.log): no plots"
fi

# start_run raised it to the hard limit (20,000 here)
nofile=$(ulimit -n)

# ---------------------------------------------------------------- servers
port=
url=
rundir=

# start_server TARGET [TRANSPORTS]: starts it on a free port; sets url,
# port, errlog. TRANSPORTS: ws (the default: node serves WebSocket only,
# all siobench's WebSocket modes use) or all (node serves long-polling
# too); httpd always serves both.
start_server() {
    local t=$1 tr=${2:-ws} log ws_only=--ws-only
    [ "$tr" = ws ] || ws_only=
    port=$(free_port)
    url="http://127.0.0.1:$port/socket.io/"
    if [ "$t" = node ]; then
        log=$OUT/logs/node.log
        errlog=$log
        # shellcheck disable=SC2086
        node_start "$log" "$port" $ws_only --static "$OUT/htdocs"
        node_pid=$node_started
        return 0
    fi
    rundir=$OUT/run-$t
    log=$OUT/logs/serve-$t.log
    # EVENT_RATE=0: one bcast sender emits hundreds of events a second,
    # past siod's default per-socket rate; Node.js has no such limit either.
    # SIOD_MODE=external: siod apart from httpd, so that its CPU is
    # measured on its own. (No comment line may stand inside this command:
    # it would end it there and drop every setting after it.)
    serve_start "$log" EXTRA_CONF="$(extra_conf "$t")" RUNDIR="$rundir" PORT="$port" \
        MPM="$t" APP=bench PING_INTERVAL="$PING_INTERVAL" PING_TIMEOUT="$PING_TIMEOUT" \
        EVENT_RATE=0 SITE_DIR="$OUT/htdocs"
    errlog=$rundir/logs/error_log
}

# httpd_pids: httpd's parent and children (of the running httpd target);
# siod_pid: its siod.
httpd_pids() { httpd_pids_in "$rundir"; }
siod_pid() { siod_pid_in "$rundir"; }

# cpu_args TARGET: siobench's --cpu options for the running server: httpd
# (its parent; the children count with it, see siobench --cpu) and siod
# apart, or node.
cpu_args() {
    local hp sp
    if [ "$1" = node ]; then echo "--cpu node=$node_pid"; return; fi
    hp=$(cat "$rundir/run/httpd.pid" 2>/dev/null || true)
    sp=$(siod_pid)
    [ -z "$hp" ] || printf -- '--cpu httpd=%s ' "$hp"
    [ -z "$sp" ] || printf -- '--cpu siod=%s' "$sp"
}

# sample PID...: "rss_kb pss_kb threads processes max_fds" summed over the
# PIDs (max_fds: the most descriptors any one of them has open).
sample() {
    local p rss=0 pss=0 thr=0 n=0 fds=0 r s t f
    for p in "$@"; do
        [ -r "/proc/$p/smaps_rollup" ] || continue
        read -r r s < <(awk '/^Rss:/{r=$2} /^Pss:/{s=$2} END{print r+0, s+0}' \
                         "/proc/$p/smaps_rollup" 2>/dev/null || echo "0 0")
        t=$(awk '/^Threads:/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
        f=$(find "/proc/$p/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
        rss=$((rss + r)); pss=$((pss + s)); thr=$((thr + ${t:-0})); n=$((n + 1))
        [ "$f" -le "$fds" ] || fds=$f
    done
    echo "$rss $pss $thr $n $fds"
}

# sample_target TARGET: "rss pss threads procs httpd_rss httpd_threads
# siod_rss max_fds" (node: zeros for the httpd and siod fields).
sample_target() {
    local a h s hp sp
    if [ "$1" = node ]; then
        read -r -a a <<<"$(sample "$node_pid")"
        echo "${a[0]} ${a[1]} ${a[2]} ${a[3]} 0 0 0 ${a[4]}"
        return
    fi
    hp=$(httpd_pids)
    sp=$(siod_pid)
    # shellcheck disable=SC2086
    read -r -a h <<<"$(sample $hp)"
    # shellcheck disable=SC2086
    read -r -a s <<<"$(sample $sp)"
    echo "$((h[0] + s[0])) $((h[1] + s[1])) $((h[2] + s[2])) $((h[3] + s[3])) ${h[0]} ${h[2]} ${s[0]} $((h[4] > s[4] ? h[4] : s[4]))"
}

# target_pids TARGET: the server's processes.
target_pids() {
    if [ "$1" = node ]; then echo "$node_pid"; else echo "$(httpd_pids) $(siod_pid)"; fi
}

# ---------------------------------------------------------------- runs
# percentiles FILE: "p50_ms p99_ms ok errors" of curl's "code seconds"
# lines (nearest rank).
percentiles() {
    local f=$1 n e
    e=$(awk '$1 != 200' "$f" | wc -l)
    awk '$1 == 200 { printf "%.3f\n", $2 * 1000 }' "$f" | sort -n >"$f.ms"
    n=$(wc -l <"$f.ms")
    if [ "$n" = 0 ]; then echo "0 0 0 $e"; return; fi
    echo "$(sed -n "$(( (n * 50 + 99) / 100 ))p" "$f.ms") $(sed -n "$(( (n * 99 + 99) / 100 ))p" "$f.ms") $n $e"
}

# probe_page FILE SECONDS: the static page fetched PROBE_RATE times a
# second on a new connection each, about SECONDS - 4 s long (at least 10
# fetches), curl's "code seconds" lines into FILE; stop_probe waits up to
# 5 s for it to end, then stops it.
probe_page() {
    local n=$(( PROBE_RATE * ($2 - 4) ))
    [ "$n" -ge 10 ] || n=10
    curl -s -o /dev/null -H 'Connection: close' --max-time 5 \
        --rate "$PROBE_RATE/s" -w '%{http_code} %{time_total}\n' \
        "http://127.0.0.1:$port/index.html?[1-$n]" >"$1" 2>/dev/null &
    probe_pid=$!
}
stop_probe() {
    [ -n "$probe_pid" ] || return 0
    for _ in $(seq 50); do kill -0 "$probe_pid" 2>/dev/null || break; sleep 0.1; done
    stop_pid "$probe_pid" 1
    probe_pid=
}

declare -A failed_at=()

# hold TARGET N: one step of the ladder on a fresh server; returns 1 when
# the target did not hold N clients.
hold() {
    local t=$1 n=$2 tag=hold-$1-$2 log base during probe_f pp
    local line alive held off news reason pass tol l1 rs
    log=$OUT/logs/$tag.log
    probe_f=$OUT/logs/$tag.probe
    l1=$(load1)
    start_server "$t"
    settle "$t"
    read -r -a base <<<"$(sample_target "$t")"
    off=$(log_size)
    "$SIOBENCH" hold -n "$n" --procs "$PROCS" --rate "$CONNECT_RATE" \
        --duration "$HOLD_SECONDS" --src "$SRC" --url "$url" >"$log" 2>&1 &
    sb_pid=$!
    during=()
    if siobench_wait_go "$log"; then
        sleep 1
        probe_page "$probe_f" "$HOLD_SECONDS"
        sleep $(( HOLD_SECONDS - 3 ))
        read -r -a during <<<"$(sample_target "$t")"
    fi
    finish_siobench
    line=$(json_of "$log")
    stop_probe
    [ -f "$probe_f" ] || : >"$probe_f"
    read -r -a pp <<<"$(percentiles "$probe_f")"
    news=$(server_news "$off")
    stop_server
    [ ${#during[@]} -gt 0 ] || during=(0 0 0 0 0 0 0 0)

    [ -n "$line" ] || line='{"mode":"hold","clients":'$n',"siobench":"no report"}'
    alive=$(jnum "$line" alive)
    held=$(jnum "$line" held)
    tol=$(awk -v n="$n" -v f="$HOLD_TOLERANCE" 'BEGIN{ printf "%d", (f < 1 ? n * f : f) }')
    pass=true reason=""
    if [ "$alive" -lt $((n - tol)) ]; then
        pass=false
        reason="alive $alive of $n (held $held)"
        rs=$(sed -nE 's/.*"failed":([0-9]+),"dropped":([0-9]+).*/failed \1, dropped \2/p' <<<"$line")
        [ -z "$rs" ] || reason+="; $rs"
        rs=$(grep -o '"errors":{[^}]*}' <<<"$line" | sed -E 's/"errors":\{//; s/\}//; s/"([a-z]+)":0,?//g; s/"([a-z]+)":([0-9]+),?/\1 \2 /g' || true)
        [ -z "$rs" ] || reason+="; client errors: $rs"
        if [ "${during[7]}" -ge $((nofile - 100)) ]; then
            reason+="; a server process had ${during[7]} descriptors open (limit $nofile per process)"
        fi
        [ -z "$news" ] || reason+="; server: $news"
    fi
    # per client held (all of them, unless the step failed)
    local rpc ppc per=$n
    [ "$held" -le 0 ] || per=$held
    rpc=$(awk -v a="${during[0]}" -v b="${base[0]}" -v n="$per" 'BEGIN{printf "%.2f", (a-b)/n}')
    ppc=$(awk -v a="${during[1]}" -v b="${base[1]}" -v n="$per" 'BEGIN{printf "%.2f", (a-b)/n}')
    emit "$line" "\"target\":\"$t\",\"scenario\":\"hold\",\"step\":$n,\"pass\":$pass,\"load1\":$l1" \
"\"base_rss_kb\":${base[0]},\"base_pss_kb\":${base[1]},\"base_threads\":${base[2]},\
\"rss_kb\":${during[0]},\"pss_kb\":${during[1]},\"threads\":${during[2]},\"procs_n\":${during[3]},\
\"httpd_rss_kb\":${during[4]},\"httpd_threads\":${during[5]},\"siod_rss_kb\":${during[6]},\
\"base_httpd_rss_kb\":${base[4]},\"base_siod_rss_kb\":${base[6]},\"max_fds\":${during[7]},\"bg_cpu_pct\":$bg_cpu,\
\"rss_per_client_kb\":$rpc,\"pss_per_client_kb\":$ppc,\
\"page_p50_ms\":${pp[0]},\"page_p99_ms\":${pp[1]},\"page_ok\":${pp[2]},\"page_errors\":${pp[3]},\
\"stop_reason\":$(json_str "$reason"),\"server_log\":$(json_str "$news")"
    printf 'bench: %-6s hold %6d: alive %6d  %s KB RSS/client  %s KB PSS/client  threads %s  GET p50 %s p99 %s ms%s\n' \
        "$t" "$n" "$alive" "$rpc" "$ppc" "${during[2]}" "${pp[0]}" "${pp[1]}" \
        "${reason:+  FAILED: $reason}" >&2
    [ "$pass" = true ]
}

# bcast TARGET N and ack TARGET: throughput runs on a fresh server.
bcast() {
    local t=$1 n=$2 log l1
    log=$OUT/logs/bcast-$t-$n.log
    l1=$(load1)
    start_server "$t"
    settle "$t"
    # shellcheck disable=SC2046
    run_siobench "$log" bcast "$n" --procs "$PROCS" --connect-rate "$CONNECT_RATE" \
        --window "$BCAST_WINDOW" --duration "$BCAST_SECONDS" --src "$SRC" \
        $(cpu_args "$t") --url "$url"
    stop_server
    emit "$sb_line" "\"target\":\"$t\",\"scenario\":\"bcast\",\"step\":$n,\"load1\":$l1,\"bg_cpu_pct\":$bg_cpu" \
        "\"server_log\":$(json_str "$sb_news")"
    printf 'bench: %-6s bcast %5d: %s\n' "$t" "$n" \
        "$(grep -E '^bcasts|^tick' "$log" | tr '\n' ' ')" >&2
}

ack() {
    local t=$1 log l1
    log=$OUT/logs/ack-$t.log
    l1=$(load1)
    start_server "$t"
    settle "$t"
    # shellcheck disable=SC2046
    run_siobench "$log" ack "$ACK_CLIENTS" --rate "$ACK_RATE" --size "$ACK_SIZE" \
        --duration "$ACK_SECONDS" $(cpu_args "$t") --url "$url"
    stop_server
    emit "$sb_line" "\"target\":\"$t\",\"scenario\":\"ack\",\"step\":$ACK_CLIENTS,\"load1\":$l1,\"bg_cpu_pct\":$bg_cpu" \
        "\"server_log\":$(json_str "$sb_news")"
    printf 'bench: %-6s ack: %s\n' "$t" "$(grep -E '^acks|^ack round' "$log" | tr '\n' ' ')" >&2
}

# acks_at TARGET SCENARIO CLIENTS RATE SECONDS ROUND: acks at a fixed,
# open-loop rate on a fresh server, with the server's CPU over the window
# (scenario ack-cpu: CPU per ack; ack-open: latency at a high rate).
acks_at() {
    local t=$1 sc=$2 n=$3 rate=$4 secs=$5 round=$6 log l1
    log=$OUT/logs/$sc-$t-$round.log
    l1=$(load1)
    start_server "$t"
    settle "$t"
    # shellcheck disable=SC2046
    run_siobench "$log" ack "$n" --procs "$PROCS" --connect-rate "$CONNECT_RATE" \
        --rate "$rate" --size "$ACK_SIZE" --duration "$secs" --src "$SRC" \
        $(cpu_args "$t") --url "$url"
    stop_server
    emit "$sb_line" "\"target\":\"$t\",\"scenario\":\"$sc\",\"step\":$n,\"rate\":$rate,\"round\":$round,\"load1\":$l1,\"bg_cpu_pct\":$bg_cpu" \
        "\"server_log\":$(json_str "$sb_news")"
    printf 'bench: %-6s %s %d/s over %d, round %d: %s %s\n' "$t" "$sc" "$rate" "$n" "$round" \
        "$(grep -E '^acks|^ack round' "$log" | tr '\n' ' ')" "$(cpu_line "$log")" >&2
}

# lp_session TARGET: whole long-polling sessions, LP_SESSION_CONCURRENCY
# at a time, for LP_SESSION_SECONDS on a fresh server.
lp_session() {
    local t=$1 n=$LP_SESSION_CONCURRENCY log l1
    log=$OUT/logs/lp-session-$t.log
    l1=$(load1)
    start_server "$t" all
    settle "$t"
    # shellcheck disable=SC2046
    run_siobench "$log" lpsession "$n" --procs "$PROCS" --size "$ACK_SIZE" \
        --duration "$LP_SESSION_SECONDS" --src "$SRC" $(cpu_args "$t") --url "$url"
    stop_server
    emit "$sb_line" "\"target\":\"$t\",\"scenario\":\"lp-session\",\"step\":$n,\"load1\":$l1,\"bg_cpu_pct\":$bg_cpu" \
        "\"server_log\":$(json_str "$sb_news")"
    printf 'bench: %-6s lp-session %d at once: %s%s\n' "$t" "$n" \
        "$(grep -E '^sessions|^requests|^errors' "$log" | tr '\n' ' ')" "${sb_news:+ server: $sb_news}" >&2
}

# lp_crowd TARGET: LP_CROWD_CLIENTS polling-only clients, each keeping a
# GET pending, held LP_CROWD_SECONDS on a fresh server, with the static
# page probed and the server's threads sampled as in a hold step.
lp_crowd() {
    local t=$1 n=$LP_CROWD_CLIENTS tag=lp-crowd-$1 log base during probe_f pp
    local line off news l1
    log=$OUT/logs/$tag.log
    probe_f=$OUT/logs/$tag.probe
    l1=$(load1)
    start_server "$t" all
    settle "$t"
    read -r -a base <<<"$(sample_target "$t")"
    off=$(log_size)
    # every client starts at CONNECT_RATE, none waits for another's
    # handshake; each one that stalls gives up after --connect-timeout
    "$SIOBENCH" lphold -n "$n" --procs "$PROCS" --rate "$CONNECT_RATE" \
        --max-pending "$n" --duration "$LP_CROWD_SECONDS" --src "$SRC" \
        --url "$url" >"$log" 2>&1 &
    sb_pid=$!
    during=()
    : >"$probe_f"
    if siobench_wait_go "$log"; then
        sleep 1
        probe_page "$probe_f" "$LP_CROWD_SECONDS"
        sleep $(( LP_CROWD_SECONDS > 4 ? LP_CROWD_SECONDS - 3 : 1 ))
        read -r -a during <<<"$(sample_target "$t")"
    fi
    finish_siobench
    line=$(json_of "$log")
    stop_probe
    read -r -a pp <<<"$(percentiles "$probe_f")"
    news=$(server_news "$off")
    stop_server
    [ ${#during[@]} -gt 0 ] || during=(0 0 0 0 0 0 0 0)
    [ -n "$line" ] || line='{"mode":"lphold","clients":'$n',"siobench":"no report"}'
    emit "$line" "\"target\":\"$t\",\"scenario\":\"lp-crowd\",\"step\":$n,\"load1\":$l1,\"bg_cpu_pct\":$bg_cpu" \
"\"base_threads\":${base[2]},\"base_httpd_threads\":${base[5]},\"threads\":${during[2]},\"httpd_threads\":${during[5]},\
\"procs_n\":${during[3]},\"rss_kb\":${during[0]},\"base_rss_kb\":${base[0]},\
\"page_p50_ms\":${pp[0]},\"page_p99_ms\":${pp[1]},\"page_ok\":${pp[2]},\"page_errors\":${pp[3]},\
\"server_log\":$(json_str "$news")"
    printf 'bench: %-6s lp-crowd %5d: alive %s of %d (failed %s, dropped %s)  threads %s (idle %s)  GET p50 %s p99 %s ms%s\n' \
        "$t" "$n" "$(jnum "$line" alive)" "$n" "$(jnum "$line" failed)" "$(jnum "$line" dropped)" \
        "${during[2]}" "${base[2]}" "${pp[0]}" "${pp[1]}" "${news:+  server: $news}" >&2
}

# ---------------------------------------------------------------- main
commit=$(commit_of)
cores=$(nproc)
others=$(others_running)
printf '{"scenario":"meta",%s,"other_server_processes":%d,"settings":{"targets":"%s","hold_steps":"%s","hold_seconds":%d,"connect_rate":%d,"ping_interval":%d,"ping_timeout":%d,"bcast_window":%d,"bcast_seconds":%d,"ack_clients":%d,"ack_rate":%d,"ack_seconds":%d,"cpu_ack_clients":%d,"cpu_ack_rate":%d,"cpu_ack_seconds":%d,"open_ack_clients":%d,"open_ack_rate":%d,"open_ack_seconds":%d,"open_ack_rounds":%d,"lp_session_concurrency":%d,"lp_session_seconds":%d,"lp_crowd_clients":%d,"lp_crowd_seconds":%d,"procs":%d,"probe_rate":%d,"worker":"ThreadsPerChild %d x ServerLimit %d, SocketIOWebSocketThreads %d"}}\n' \
    "$(meta_fields)" \
    "$others" "$TARGETS" "$HOLD_STEPS" "$HOLD_SECONDS" "$CONNECT_RATE" "$PING_INTERVAL" \
    "$PING_TIMEOUT" "$BCAST_WINDOW" "$BCAST_SECONDS" "$ACK_CLIENTS" "$ACK_RATE" "$ACK_SECONDS" \
    "$CPU_ACK_CLIENTS" "$CPU_ACK_RATE" "$CPU_ACK_SECONDS" "$OPEN_ACK_CLIENTS" "$OPEN_ACK_RATE" \
    "$OPEN_ACK_SECONDS" "$OPEN_ACK_ROUNDS" "$LP_SESSION_CONCURRENCY" "$LP_SESSION_SECONDS" \
    "$LP_CROWD_CLIENTS" "$LP_CROWD_SECONDS" \
    "$PROCS" "$PROBE_RATE" "$WORKER_THREADS" "$WORKER_SERVERS" "$WORKER_WS_THREADS" >>"$RESULTS"

say "results in $OUT (commit $commit, $cores cores, load $(load1), $others other server processes running)"
[ "$cores" -gt 2 ] || say "note: $cores cores shared by the servers, siobench and whatever else runs here"
t_start=$(date +%s)

# Targets take turns at each step, so all see the same background load.
for n in $HOLD_STEPS; do
    for t in $TARGETS; do
        [ -z "${failed_at[$t]:-}" ] || continue
        hold "$t" "$n" || failed_at[$t]=$n
    done
done
for n in $BCAST_SIZES; do
    for t in $TARGETS; do
        if [ -n "${failed_at[$t]:-}" ] && [ "${failed_at[$t]}" -le "$n" ]; then
            say "$t: bcast $n skipped (did not hold ${failed_at[$t]} clients)"
            continue
        fi
        bcast "$t" "$n"
    done
done
if [ "$ACK_CLIENTS" -gt 0 ]; then
    for t in $TARGETS; do ack "$t"; done
fi
if [ "$CPU_ACK_CLIENTS" -gt 0 ]; then
    for t in $TARGETS; do
        acks_at "$t" ack-cpu "$CPU_ACK_CLIENTS" "$CPU_ACK_RATE" "$CPU_ACK_SECONDS" 1
    done
fi
if [ "$OPEN_ACK_CLIENTS" -gt 0 ]; then
    for ((round = 1; round <= OPEN_ACK_ROUNDS; round++)); do
        for t in $TARGETS; do
            acks_at "$t" ack-open "$OPEN_ACK_CLIENTS" "$OPEN_ACK_RATE" "$OPEN_ACK_SECONDS" "$round"
        done
    done
fi
if [ "$LP_SESSION_CONCURRENCY" -gt 0 ]; then
    for t in $TARGETS; do lp_session "$t"; done
fi
if [ "$LP_CROWD_CLIENTS" -gt 0 ]; then
    for t in $TARGETS; do lp_crowd "$t"; done
fi

say "measured in $(( $(date +%s) - t_start )) s; load now $(load1)"
node "$repo/tests/bench/summary.mjs" "$RESULTS" "$OUT"

if [ -f "$OUT/plots.gp" ] && command -v gnuplot >/dev/null; then
    (cd "$OUT" && gnuplot plots.gp) 2>"$OUT/logs/gnuplot.log" || say "gnuplot failed (see $OUT/logs/gnuplot.log)"
fi
if [ "$UPDATE_DOCS" = 1 ]; then
    mkdir -p "$repo/docs/bench"
    for p in "$OUT"/*.png; do [ -f "$p" ] && cp "$p" "$repo/docs/bench/"; done
    node "$repo/tests/bench/summary.mjs" --docs "$repo/docs/benchmarks.md" "$OUT/results.md"
    say "docs/bench/*.png and the generated block of docs/benchmarks.md updated"
fi
say "done: $RESULTS, $OUT/results.md"
