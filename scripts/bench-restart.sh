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
# every client), plus those not recovered and an event emitted as soon as
# the new siod answers, received exactly once. Writes $OUT/result.json and
# logs; leaves no process behind. docs/benchmarks.md, "Restart of siod".
#
# Environment (defaults):
#   BUILD (<repo>/build), OUT (build/bench-restart/<UTC timestamp>)
#   CLIENTS (10000), PROCS (4 Node.js processes), CONNECT_RATE (1000/s)
#   MPM (event; worker with bench.sh's WORKER_* settings), RECOVERY
#                 (120000 ms: siod --recovery)
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
# MPM=worker: bench.sh's thread settings (extra_conf)
WORKER_THREADS=${WORKER_THREADS:-250}
WORKER_SERVERS=${WORKER_SERVERS:-48}
WORKER_WS_THREADS=${WORKER_WS_THREADS:-11500}

bench_name=bench-restart
# shellcheck source=scripts/bench-lib.sh
. "$here/bench-lib.sh"

command -v node >/dev/null || die "node missing (scripts/setup.sh)"
[ -d "$repo/tests/node_modules/socket.io-client" ] || die "socket.io-client missing (scripts/setup.sh)"
set_traps stop_servers
start_run

rundir=$OUT/run
port=$(free_port)
say "httpd ($MPM) + managed siod on port $port, $CLIENTS clients, out $OUT"
# SIOD_MODE=managed: httpd starts siod again after the SIGTERM, with the
# state file it names; no rate limit on the reconnection storm
serve_start "$OUT/logs/serve.log" RUNDIR="$rundir" PORT="$port" MPM="$MPM" APP=bench \
    EXTRA_CONF="$(extra_conf "$MPM")" RECOVERY="$RECOVERY" PING_INTERVAL="$PING_INTERVAL" \
    PING_TIMEOUT="$PING_TIMEOUT" EVENT_RATE=0 HANDSHAKE_RATE=0 SIOD_MODE=managed

URL=http://127.0.0.1:$port CLIENTS=$CLIENTS PROCS=$PROCS CONNECT_RATE=$CONNECT_RATE \
    SRC=$SRC TIMEOUT=$TIMEOUT SIOD_PID_FILE=$rundir/run/siod.pid OUT_JSON=$OUT/result.json \
    HTTPD_PID="$(cat "$rundir/run/httpd.pid")" \
    node "$repo/tests/bench/restart.mjs" 2>&1 | tee "$OUT/logs/clients.log"
[ -f "$OUT/result.json" ] || die "no result (logs in $OUT/logs)"
grep -h 'state file\|Terminated\|ended (exit' "$rundir/logs/error_log" 2>/dev/null \
    >"$OUT/logs/siod-restart.log" || true
node -e '
const r = require(process.argv[1]);
console.log(`recovered ${r.recovered} of ${r.clients} (not recovered ${r.not_recovered}, lost ${r.lost}); ` +
  `within 5 s: ${r.within_5s}; p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, max ${r.max_ms} ms; ` +
  `a new siod started ${r.siod_started_ms} ms and answered ${r.siod_back_ms} ms after the signal; ` +
  `the event emitted then reached ${r.missed_once} once, ${r.missed_twice} twice; ` +
  `CPU from the signal to the last back: ${r.cpu_machine_ms} ms in all, httpd and siod ${r.cpu_server_ms} ms, ` +
  `the clients ${r.cpu_clients_ms} ms; ` +
  `back per second: ${r.back_per_second.join(" ")}`);
' "$OUT/result.json"
