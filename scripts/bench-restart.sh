#!/bin/bash
# `make bench-restart`: how fast clients recover across a clean restart of
# siod. Runs httpd (MPM, mpm_event by default) + mod_socketio + a managed
# siod -a bench with --recovery (httpd gives it its default state file)
# through scripts/serve.sh, connects CLIENTS official socket.io-client
# sockets over WebSocket from PROCS Node.js processes (tests/bench/
# restart.mjs), gives each an offset (an event to all through the HTTP
# emit API), sends siod SIGTERM (httpd starts it again) and measures per
# client the time from the signal to its socket's reconnection with
# `recovered` true: p50, p99, max and how many within 5 s (the target:
# every client), plus those not recovered and an event emitted while they
# were away, received exactly once. Writes $OUT/result.json and logs;
# leaves no process behind. docs/benchmarks.md, "Restart of siod".
#
# Environment (defaults):
#   BUILD (<repo>/build), OUT (build/bench-restart/<UTC timestamp>)
#   CLIENTS (10000), PROCS (4 Node.js processes), CONNECT_RATE (1000/s)
#   MPM (event), RECOVERY (120000 ms: siod --recovery)
#   PING_INTERVAL (25000), PING_TIMEOUT (20000)
#   SRC (127.0.0.2-127.0.0.17: client source addresses), TIMEOUT (30 s)
#   QUICK=1: CLIENTS=200, PROCS=1 (checks the script, measures nothing)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

BUILD=${BUILD:-$repo/build}
if [ "${QUICK:-0}" = 1 ]; then
    CLIENTS=${CLIENTS:-200}
    PROCS=${PROCS:-1}
fi
CLIENTS=${CLIENTS:-10000}
PROCS=${PROCS:-4}
CONNECT_RATE=${CONNECT_RATE:-1000}
MPM=${MPM:-event}
RECOVERY=${RECOVERY:-120000}
PING_INTERVAL=${PING_INTERVAL:-25000}
PING_TIMEOUT=${PING_TIMEOUT:-20000}
SRC=${SRC-127.0.0.2-127.0.0.17}
TIMEOUT=${TIMEOUT:-30}
OUT=${OUT:-$BUILD/bench-restart/$(date -u +%Y%m%d-%H%M%S)}

say() { printf 'bench-restart: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

[ -x "$BUILD/siod" ] || die "$BUILD/siod not built (run make)"
command -v node >/dev/null || die "node missing (scripts/setup.sh)"
[ -d "$repo/tests/node_modules/socket.io-client" ] || die "socket.io-client missing (scripts/setup.sh)"
if grep -q __asan_init "$BUILD/siod" "$BUILD/mod_socketio.so" 2>/dev/null; then
    die "$BUILD is a sanitizer build: figures come from the plain build"
fi
mkdir -p "$OUT/logs"
rundir=$OUT/run

serve_pid=
# shellcheck disable=SC2317 # runs from the traps
cleanup() {
    trap - INT TERM EXIT
    if [ -n "$serve_pid" ]; then
        kill -TERM "$serve_pid" 2>/dev/null || true
        for _ in $(seq 400); do
            kill -0 "$serve_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$serve_pid" 2>/dev/null || true
        wait "$serve_pid" 2>/dev/null || true
    fi
}
trap cleanup INT TERM EXIT

port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
# mpm_event holds every WebSocket without a thread; the open-file limit
# caps clients per child (serve.sh raises it to the hard limit)
extra_conf='StartServers 3
ServerLimit 16
ThreadLimit 64
ThreadsPerChild 25
MaxRequestWorkers 400
AsyncRequestWorkerFactor 1000'
say "httpd ($MPM) + managed siod on port $port, $CLIENTS clients, out $OUT"
EXTRA_CONF=$extra_conf RUNDIR=$rundir PORT=$port MPM=$MPM APP=bench \
    RECOVERY=$RECOVERY PING_INTERVAL=$PING_INTERVAL PING_TIMEOUT=$PING_TIMEOUT \
    EVENT_RATE=0 HANDSHAKE_RATE=0 LOGLEVEL=warn BUILD=$BUILD SAN=0 SIOD_MODE=managed \
    "$here/serve.sh" >"$OUT/logs/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 600); do
    grep -q '^serve: ready' "$OUT/logs/serve.log" && break
    kill -0 "$serve_pid" 2>/dev/null || { tail -n 10 "$OUT/logs/serve.log" >&2; die "serve.sh exited"; }
    sleep 0.05
done
grep -q '^serve: ready' "$OUT/logs/serve.log" || die "the server did not start"

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
URL=http://127.0.0.1:$port CLIENTS=$CLIENTS PROCS=$PROCS CONNECT_RATE=$CONNECT_RATE \
    SRC=$SRC TIMEOUT=$TIMEOUT SIOD_PID_FILE=$rundir/run/siod.pid OUT_JSON=$OUT/result.json \
    node "$repo/tests/bench/restart.mjs" 2>&1 | tee "$OUT/logs/clients.log"
[ -f "$OUT/result.json" ] || die "no result (logs in $OUT/logs)"
grep -h 'state file\|Terminated' "$rundir/logs/siod.log" "$rundir/logs/error_log" 2>/dev/null >"$OUT/logs/siod-restart.log" || true
node -e '
const r = require(process.argv[1]);
console.log(`recovered ${r.recovered} of ${r.clients} (not recovered ${r.not_recovered}, lost ${r.lost}); ` +
  `within 5 s: ${r.within_5s}; p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, max ${r.max_ms} ms; ` +
  `a new siod started ${r.siod_started_ms} ms and answered ${r.siod_back_ms} ms after the signal; ` +
  `the event emitted then reached ${r.missed_once} once, ${r.missed_twice} twice`);
' "$OUT/result.json"
