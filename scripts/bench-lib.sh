# shellcheck shell=bash
# Shell functions shared by the benchmark scripts (scripts/bench.sh,
# scripts/bench-cluster.sh, scripts/bench-php.sh), sourced by them: process
# stops, our stack started and stopped through scripts/serve.sh, siobench's
# runs and JSON lines, the machine's CPU from /proc and the run's meta data.
#
# The sourcing script sets bench_name (the prefix of its messages and the
# name of its results' folder), here (scripts/), repo and BUILD first; OUT
# defaults to $BUILD/$bench_name/<UTC time>, RESULTS is $OUT/results.jsonl and
# SIOBENCH, once snapshot_binaries ran, siobench's copy. sb_pid holds the
# running siobench, errlog the log server_news reads; settle calls the
# script's target_pids TARGET. PING_INTERVAL and PING_TIMEOUT (both
# servers', ms) default to 5000.
# shellcheck disable=SC2154 # set by the sourcing script

OUT=${OUT:-$BUILD/$bench_name/$(date -u +%Y%m%d-%H%M%S)}
RESULTS=$OUT/results.jsonl
SETTLE_TRIES=${SETTLE_TRIES:-5}
BG_QUIET=${BG_QUIET:-25}
PING_INTERVAL=${PING_INTERVAL:-5000}
PING_TIMEOUT=${PING_TIMEOUT:-5000}
sb_pid=
errlog=
bg_cpu=0

say() { printf '%s: %s\n' "$bench_name" "$*" >&2; }
die() { say "$*"; exit 1; }

# check_targets "NAME...": dies unless every one of TARGETS is a NAME.
check_targets() {
    local t
    for t in $TARGETS; do
        case " $1 " in *" $t "*) ;; *) die "unknown target '$t' ($1)" ;; esac
    done
}

# stop_pid PID GRACE: SIGTERM, SIGKILL after GRACE seconds; reaps it.
stop_pid() {
    local pid=$1 grace=$2 i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# stop_siobench: ends a running siobench (SIGINT ends its measurement, a
# second one kills its workers), for the scripts' cleanup.
stop_siobench() {
    [ -n "$sb_pid" ] || return 0
    kill -INT "$sb_pid" 2>/dev/null || true
    sleep 0.5
    kill -INT "$sb_pid" 2>/dev/null || true
    stop_pid "$sb_pid" 5
    sb_pid=
}

# set_traps COMMAND: on exit, SIGINT and SIGTERM stop siobench, then run
# COMMAND (the script's own stops), once.
set_traps() {
    bench_stop=$1
    trap 'bench_cleanup; exit 130' INT
    trap 'bench_cleanup; exit 143' TERM
    trap bench_cleanup EXIT
}
# shellcheck disable=SC2317 # runs from the traps
bench_cleanup() {
    trap - INT TERM EXIT
    stop_siobench
    "$bench_stop"
}

# start_run: $OUT/logs and an empty $RESULTS, the binaries snapshotted, the
# open-file limit raised to the hard one (every held WebSocket is a
# descriptor: httpd's children, node and siobench inherit it).
start_run() {
    mkdir -p "$OUT/logs"
    : >"$RESULTS"
    snapshot_binaries "$BUILD"
    ulimit -n "$(ulimit -Hn)"
}

# json_str TEXT: TEXT as a JSON string.
json_str() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=$(printf '%s' "$s" | tr '\n\t\r' '   ' | tr -d '\000-\037')
    printf '"%s"' "$s"
}

load1() { cut -d' ' -f1 /proc/loadavg; }

# A free TCP port on 127.0.0.1 below the ephemeral range.
free_port() {
    local p
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null &&
           ! ss -Htan "sport = :$p" 2>/dev/null | grep -q .; then
            echo "$p"; return 0
        fi
    done
    die "no free port found"
}

# snapshot_binaries BUILD: checks that BUILD holds a plain (not sanitizer)
# build of siod, the module, the apps and siobench, and copies them into
# $OUT/bin, so that a rebuild during the run changes nothing; SIOBENCH is
# then the copy.
snapshot_binaries() {
    local b=$1 f
    for f in tools/siobench siod mod_socketio.so apps/bench.so; do
        [ -e "$b/$f" ] || die "$b/$f missing (run make)"
    done
    if grep -q __asan_init "$b/siod" "$b/mod_socketio.so" 2>/dev/null; then
        die "$b is a sanitizer build: figures come from the plain build (without SAN=1)"
    fi
    mkdir -p "$OUT/bin/apps" "$OUT/bin/tools"
    cp "$b/siod" "$b/mod_socketio.so" "$OUT/bin/"
    cp "$b"/apps/*.so "$OUT/bin/apps/"
    cp "$b/tools/siobench" "$OUT/bin/tools/"
    # shellcheck disable=SC2034 # the sourcing script's
    SIOBENCH=$OUT/bin/tools/siobench
}

# ---------------------------------------------------------------- our stack
serve_started= # the pid of the serve.sh serve_start started last
# every server started and not stopped yet, stop_servers' list:
# "serve|PID|RUNDIR|PIDS" (PIDS: httpd's parent and siod once ready) or
# "node|PID"; an entry is added before its server is waited for, so that
# a signal during a start stops it too
servers=()

# extra_conf MPM: httpd settings per target: Apache's own defaults for the event MPM's
# threads (the generated configuration differs, so they are restated) plus
# what the reactor needs (AsyncRequestWorkerFactor raised: suspended
# WebSockets count toward a child's accept limit); worker gets threads
# enough for thread-per-WebSocket and the module's cap below them.
extra_conf() {
    case $1 in
    event) cat <<'EOF'
StartServers 3
ServerLimit 16
ThreadLimit 64
ThreadsPerChild 25
MinSpareThreads 75
MaxSpareThreads 250
MaxRequestWorkers 400
AsyncRequestWorkerFactor 1000
EOF
        ;;
    worker) cat <<EOF
StartServers 3
ServerLimit $WORKER_SERVERS
ThreadLimit $WORKER_THREADS
ThreadsPerChild $WORKER_THREADS
MinSpareThreads 75
MaxSpareThreads $((WORKER_SERVERS * WORKER_THREADS))
MaxRequestWorkers $((WORKER_SERVERS * WORKER_THREADS))
SocketIOWebSocketThreads $WORKER_WS_THREADS
EOF
        ;;
    esac
}

# wait_ready LOG PATTERN PID SECONDS WHAT: waits until one of LOG's last
# lines matches PATTERN (grep -E); dies naming WHAT, with LOG's last lines,
# if PID exits first or SECONDS pass.
wait_ready() {
    local i
    for ((i = 0; i < $4 * 20; i++)); do
        tail -n 5 "$1" | grep -qE "$2" && return 0
        kill -0 "$3" 2>/dev/null || break
        sleep 0.05
    done
    tail -n 10 "$1" >&2
    die "$5 did not get ready (log $1)"
}

# serve_start LOG VAR=VALUE...: runs scripts/serve.sh (httpd + siod apart,
# SIOD_MODE=external, so that siod's CPU is measured on its own; the
# snapshot's binaries; warnings only in the logs) with the given
# environment on top, its output appended to LOG, and waits until it is
# ready; sets serve_started. Dies if it exits or is not ready in 30 s.
# The environment names RUNDIR (stop_servers needs it).
serve_start() {
    local log=$1 a dir=''
    shift
    for a in "$@"; do case $a in RUNDIR=*) dir=${a#RUNDIR=} ;; esac; done
    [ -n "$dir" ] || die "serve_start: no RUNDIR"
    echo "=== start $(date -u +%T) $*" >>"$log"
    env BUILD="$OUT/bin" SAN=0 LOGLEVEL=warn SIOD_MODE=external "$@" \
        "$here/serve.sh" >>"$log" 2>&1 &
    serve_started=$!
    servers+=("serve|$serve_started|$dir|")
    wait_ready "$log" '^serve: ready' "$serve_started" 30 serve.sh
    servers[-1]="serve|$serve_started|$dir|$(cat "$dir/run/httpd.pid" 2>/dev/null || true) $(siod_pid_in "$dir")"
}

# httpd_pids_in RUNDIR: the parent and children of the httpd serve.sh runs
# from RUNDIR; siod_pid_in, fpm_pid_in RUNDIR: its siod and php-fpm master.
httpd_pids_in() {
    local ppid
    ppid=$(cat "$1/run/httpd.pid" 2>/dev/null) || return 0
    echo "$ppid" "$(pgrep -P "$ppid" 2>/dev/null | tr '\n' ' ')"
}
siod_pid_in() { cat "$1/run/siod.pid" 2>/dev/null || true; }
fpm_pid_in() { cat "$1/run/php-fpm.pid" 2>/dev/null || true; }

# serve_stop SERVE_PID RUNDIR [PIDS]: stops the serve.sh of RUNDIR (it stops
# httpd, then siod and php-fpm, and waits for them); were it killed itself,
# what it started (and PIDS, noted at its start) goes by pid, but only a
# process whose command line still names RUNDIR: pids recycle fast while
# thousands of threads come and go.
serve_stop() {
    local sp=$1 dir=$2 p kids
    [ -n "$sp" ] || return 0
    kids="${3:-} $(httpd_pids_in "$dir") $(siod_pid_in "$dir") $(fpm_pid_in "$dir")"
    stop_pid "$sp" 40
    for p in $kids; do
        if { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -qF "$dir"; then
            say "killing leftover server process $p"
            kill -KILL "$p" 2>/dev/null || true
        fi
    done
}

# node_start LOG PORT [OPTION...]: the Node.js reference server
# (tests/bench/node-server.mjs) on 127.0.0.1:PORT with PING_INTERVAL and
# PING_TIMEOUT and the OPTIONs, its output appended to LOG; waits until it
# listens and sets node_started. Dies if it exits or does not listen in 10 s.
node_started=
node_start() {
    local log=$1 port=$2
    shift 2
    echo "=== start $(date -u +%T) port $port $*" >>"$log"
    node "$repo/tests/bench/node-server.mjs" --port "$port" \
        --ping-interval "$PING_INTERVAL" --ping-timeout "$PING_TIMEOUT" "$@" >>"$log" 2>&1 &
    node_started=$!
    servers+=("node|$node_started")
    wait_ready "$log" "^listening 127\.0\.0\.1:$port" "$node_started" 10 "the node server"
}

# stop_servers: stops every server serve_start and node_start started
# (serve_stop, or SIGTERM to node) and forgets them.
stop_servers() {
    local e kind pid dir kids
    for e in "${servers[@]}"; do
        IFS='|' read -r kind pid dir kids <<<"$e"
        if [ "$kind" = serve ]; then serve_stop "$pid" "$dir" "$kids"; else stop_pid "$pid" 10; fi
    done
    servers=()
}

# ---------------------------------------------------------------- CPU
# cpu_ticks: "busy total" jiffies of the whole machine (/proc/stat).
cpu_ticks() { awk '/^cpu /{b=$2+$3+$4+$7+$8+$9; print b, b+$5+$6; exit}' /proc/stat; }

# proc_ticks PID...: CPU time (user + system, in clock ticks) of the PIDs.
proc_ticks() {
    local p sum=0 t
    for p in "$@"; do
        t=$({ sed 's/^.*) //' "/proc/$p/stat"; } 2>/dev/null | awk '{print $12 + $13}')
        sum=$((sum + ${t:-0}))
    done
    echo "$sum"
}

# settle TARGET: a second with the fresh server idle, repeated (up to
# SETTLE_TRIES times) while anything but this server (target_pids TARGET:
# other jobs, the kernel finishing the last run) keeps more than BG_QUIET %
# of the machine's CPU busy; sets bg_cpu to that share in the last second.
settle() {
    local a b pids s0 s1 i
    pids=$(target_pids "$1")
    for ((i = 0; i < SETTLE_TRIES; i++)); do
        read -r -a a <<<"$(cpu_ticks)"
        # shellcheck disable=SC2086
        s0=$(proc_ticks $pids)
        sleep 1
        read -r -a b <<<"$(cpu_ticks)"
        # shellcheck disable=SC2086
        s1=$(proc_ticks $pids)
        bg_cpu=$(awk -v b="$((b[0] - a[0] - (s1 - s0)))" -v t="$((b[1] - a[1]))" \
            'BEGIN{ if (b < 0) b = 0; printf "%.0f", (t > 0 ? 100 * b / t : 0) }')
        [ "$bg_cpu" -gt "$BG_QUIET" ] || break
    done
}

# server_news OFFSET: the warnings and errors logged in $errlog since byte
# OFFSET, one line, at most 400 characters; log_size: its size now.
server_news() {
    local f=$errlog
    [ -f "$f" ] || return 0
    tail -c +"$(( $1 + 1 ))" "$f" 2>/dev/null |
        grep -E '\[[a-z_]+:(warn|error|crit|alert|emerg)\]|[Ee]rror|EMFILE|refus' |
        sed -E 's/^\[[^]]*\] //; s/\[pid [^]]*\] //; s/\[client [^]]*\] //' | sort | uniq -c | sort -rn | head -n 3 |
        sed -E 's/^ *([0-9]+) (.*)$/\2 (x\1)/' | tr '\n' ' ' | cut -c1-400 || true
}
log_size() { stat -c %s "$errlog" 2>/dev/null || echo 0; }

# ---------------------------------------------------------------- siobench
# siobench_wait_go LOG: waits until siobench says every client resolved
# (or it exited); returns 1 if it exited first.
siobench_wait_go() {
    while ! grep -q '^-- ' "$1" 2>/dev/null; do
        kill -0 "$sb_pid" 2>/dev/null || return 1
        sleep 0.1
    done
}

# finish_siobench: waits for siobench (not from a subshell: only this
# shell can reap it). json_of LOG: its final JSON line, or nothing.
finish_siobench() {
    wait "$sb_pid" 2>/dev/null || true
    sb_pid=
}
json_of() { tail -n 1 "$1" | grep '^{' || true; }
# jnum LINE KEY: the number KEY has in a JSON line, 0 when absent.
jnum() { grep -o "\"$2\":[0-9.]*" <<<"$1" | head -n 1 | cut -d: -f2 | grep . || echo 0; }

# emit JSON-LINE PREFIX SUFFIX: appends {PREFIX, <siobench fields>, SUFFIX}
# to $RESULTS.
emit() {
    local line=$1 pre=$2 post=$3 body
    body=${line#\{}
    body=${body%\}}
    printf '{%s,%s%s}\n' "$pre" "$body" "${post:+,$post}" >>"$RESULTS"
}

# run_siobench LOG MODE N OPTION...: siobench MODE -n N OPTION... -q, its
# output into LOG, in the background (so that the traps can end it) and
# waited for; sets sb_line, its JSON line (a stand-in naming MODE and N if
# it gave none), and sb_news, the warnings logged in $errlog meanwhile.
run_siobench() {
    local log=$1 mode=$2 n=$3 off
    shift 3
    off=$(log_size)
    "$SIOBENCH" "$mode" -n "$n" "$@" -q >"$log" 2>&1 &
    sb_pid=$!
    finish_siobench
    sb_line=$(json_of "$log")
    [ -n "$sb_line" ] || sb_line='{"mode":"'$mode'","clients":'$n',"siobench":"no report"}'
    # shellcheck disable=SC2034 # the sourcing script's
    sb_news=$(server_news "$off")
}

# cpu_line LOG: siobench's "CPU in the window" line, without its label.
cpu_line() { sed -n 's/^CPU in the window: //p' "$1"; }

# ---------------------------------------------------------------- meta
# commit_of: the repository's commit, "+dirty" with uncommitted changes.
commit_of() {
    local c
    c=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
        c="$c+dirty"
    fi
    echo "$c"
}

# meta_fields: the JSON members (no braces) that describe the run's
# machine and software: date, commit, cpu, cores, mem_mb, kernel, httpd,
# node, socketio, nofile, load1_start.
meta_fields() {
    local cpu httpd_v sio_v
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    httpd_v=$(/usr/sbin/apache2 -v 2>/dev/null | sed -n 's/^Server version: //p')
    sio_v=$(node -p 'require(process.argv[1]).version' \
            "$repo/tests/bench/node_modules/socket.io/package.json" 2>/dev/null || echo "?")
    printf '"date":"%s","commit":"%s","cpu":%s,"cores":%d,"mem_mb":%d,"kernel":"%s","httpd":%s,"node":"%s","socketio":"%s","nofile":%d,"load1_start":%s' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(commit_of)" "$(json_str "$cpu")" "$(nproc)" \
        "$(awk '/^MemTotal:/{printf "%d", $2/1024}' /proc/meminfo)" "$(uname -r)" \
        "$(json_str "$httpd_v")" "$(node --version)" "$sio_v" "$(ulimit -n)" "$(load1)"
}

# others_running: how many server or load-generator processes run on the
# machine now (ours, other runs', other jobs'), for the record.
others_running() {
    ps -eo comm= | awk '$1 ~ /^(apache2|node|siod|siobench|redis-server|php-fpm.*)$/ {n++} END{print n+0}'
}

# npm_ci_bench: the reference server's packages (socket.io, the Redis
# adapter), installed in tests/bench when one is missing.
npm_ci_bench() {
    local m
    for m in socket.io @socket.io/redis-adapter redis; do
        if [ ! -d "$repo/tests/bench/node_modules/$m" ]; then
            say "installing the reference server's packages (npm ci in tests/bench)"
            (cd "$repo/tests/bench" && npm ci --no-audit --no-fund >/dev/null)
            return
        fi
    done
}
