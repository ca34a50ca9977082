#!/bin/bash
# `make bench-restart`: how fast clients recover across a clean restart of
# siod. Runs httpd (MPM, mpm_event by default) + mod_socketio + a managed
# siod -a bench with --recovery (httpd gives it its default state file)
# through scripts/serve.sh, connects CLIENTS WebSocket clients, gives each
# an offset (an event to all, "hello", through the HTTP emit API), sends
# siod SIGTERM (httpd starts it again) and measures per client the time
# from the signal to its reconnection with its socket recovered: p50, p99,
# max and how many within 5 s (the target: every client), plus those not
# recovered and an event ("missed") emitted as soon as the new siod
# answers, received exactly once; and the CPU from the signal to the last
# client back, httpd's and siod's and the clients' own.
#
# CLIENT=siobench (the default) plays the clients with siobench recover
# (build/tools/siobench, C, one epoll loop per process: their CPU stays
# small beside the servers'), which reconnects as socket.io-client does
# and reads the signal's time from a file the script writes; CLIENT=node
# runs official socket.io-client sockets in Node.js processes
# (tests/bench/restart.mjs), which cost about 1 ms of CPU per
# reconnection themselves. Writes $OUT/result.json and logs; leaves no
# process behind. docs/benchmarks.md, "Restart of siod".
#
# Environment (defaults):
#   BUILD (<repo>/build), OUT (build/bench-restart/<UTC timestamp>)
#   CLIENT (siobench; or node), CLIENTS (10000), PROCS (processes: 2 of
#                 siobench, 4 of Node.js), CONNECT_RATE (1000/s)
#   MPM (event; worker with bench.sh's WORKER_* settings), RECOVERY
#                 (120000 ms: siod --recovery)
#   PING_INTERVAL (25000), PING_TIMEOUT (20000)
#   SRC (127.0.0.2-127.0.0.17: client source addresses), TIMEOUT (30 s)
#   SIGNAL (TERM: siod stops and httpd starts it again; USR2: siod
#                 restarts in place, same pid; CLIENT=siobench only)
#   PIN_CHILDREN (1: SocketIOPinChildren On, each httpd child on one CPU;
#                 0: off, the module's default)
#   QUICK=1: CLIENTS=200, PROCS=1 (checks the script, measures nothing)
#   RECONNECT_DELAY (1 s: siobench's first reconnection delay, ±50 %, as
#                 the official client's)
#   HANDOVER (the module's default: WebSockets held across the restart and
#                 handed to the next siod, SocketIOHandoverTimeout 10; 0:
#                 off, every client closed with 1012 and reconnecting)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

BUILD=${BUILD:-$repo/build}
if [ "${QUICK:-0}" = 1 ]; then
    CLIENTS=${CLIENTS:-200}
    PROCS=${PROCS:-1}
fi
CLIENT=${CLIENT:-siobench}
CLIENTS=${CLIENTS:-10000}
case $CLIENT in
siobench) PROCS=${PROCS:-2} ;;
node) PROCS=${PROCS:-4} ;;
*) echo "bench-restart: CLIENT is siobench or node, not '$CLIENT'" >&2; exit 2 ;;
esac
RECONNECT_DELAY=${RECONNECT_DELAY:-1}
CONNECT_RATE=${CONNECT_RATE:-1000}
MPM=${MPM:-event}
RECOVERY=${RECOVERY:-120000}
PING_INTERVAL=${PING_INTERVAL:-25000}
PING_TIMEOUT=${PING_TIMEOUT:-20000}
SRC=${SRC-127.0.0.2-127.0.0.17}
TIMEOUT=${TIMEOUT:-30}
SIGNAL=${SIGNAL:-TERM}
PIN_CHILDREN=${PIN_CHILDREN:-1}
HANDOVER=${HANDOVER:-}
case $CLIENT:$SIGNAL in
*:TERM | siobench:USR2) ;;
*) echo "bench-restart: SIGNAL is TERM, or USR2 with CLIENT=siobench; not '$SIGNAL'" >&2; exit 2 ;;
esac
# MPM=worker: bench.sh's thread settings (extra_conf)
WORKER_THREADS=${WORKER_THREADS:-250}
WORKER_SERVERS=${WORKER_SERVERS:-48}
WORKER_WS_THREADS=${WORKER_WS_THREADS:-11500}

bench_name=bench-restart
# shellcheck source=scripts/bench-lib.sh
. "$here/bench-lib.sh"

command -v node >/dev/null || die "node missing (scripts/setup.sh)"
[ "$CLIENT" = siobench ] || [ -d "$repo/tests/node_modules/socket.io-client" ] ||
    die "socket.io-client missing (scripts/setup.sh)"
set_traps stop_servers
start_run

rundir=$OUT/run
port=$(free_port)
say "httpd ($MPM) + managed siod on port $port, $CLIENTS clients ($CLIENT), out $OUT"
# SIOD_MODE=managed: httpd starts siod again after the SIGTERM, with the
# state file it names; no rate limit on the reconnection storm
conf=$(extra_conf "$MPM")
[ -z "$HANDOVER" ] || conf+=$'\n'"SocketIOHandoverTimeout $HANDOVER"
serve_start "$OUT/logs/serve.log" RUNDIR="$rundir" PORT="$port" MPM="$MPM" APP=bench \
    EXTRA_CONF="$conf" RECOVERY="$RECOVERY" PING_INTERVAL="$PING_INTERVAL" \
    PING_TIMEOUT="$PING_TIMEOUT" EVENT_RATE=0 HANDSHAKE_RATE=0 SIOD_MODE=managed \
    PIN_CHILDREN="$PIN_CHILDREN"

# now_ms: CLOCK_REALTIME in ms.
now_ms() { date +%s%3N; }

# post_emit BODY: POSTs BODY to the emit API; prints the HTTP status.
post_emit() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H 'Content-Type: application/json' \
        -d "$1" "http://127.0.0.1:$port/emit" || true
}

# wait_line RE SECONDS: waits until siobench's log has a line matching RE;
# returns 1 if siobench exited or the time passed first.
wait_line() {
    local end=$((SECONDS + $2))
    until grep -q "$1" "$sblog" 2>/dev/null; do
        kill -0 "$sb_pid" 2>/dev/null && [ $SECONDS -lt $end ] || return 1
        sleep 0.05
    done
}

# run_recover: siobench recover plays the clients; the script gives them
# their offset, writes the signal's time for it and signals siod, sends
# "missed" once the new siod answers and writes $OUT/result.json from
# siobench's JSON line and its own times.
run_recover() {
    local t0file=$OUT/t0 old now started=null back=null t0 st line
    sblog=$OUT/logs/clients.log
    rm -f "$t0file"
    "$SIOBENCH" recover -n "$CLIENTS" --procs "$PROCS" --url "http://127.0.0.1:$port/socket.io/" \
        --connect-rate "$CONNECT_RATE" ${SRC:+--src "$SRC"} --t0-file "$t0file" --expect missed \
        --reconnect-delay "$RECONNECT_DELAY" --timeout "$TIMEOUT" --duration 120 --drain 1 \
        --cpu server="$httpd_pid" >"$sblog" 2>&1 &
    sb_pid=$!
    wait_line '^-- all clients resolved' 600 || die "siobench: clients not connected ($sblog)"
    grep -h '^t=' "$sblog" | tail -n 1 >&2 || true
    st=$(post_emit '{"event":"hello","args":[1]}')
    [ "$st" = 200 ] || die "the emit API answered $st, not 200"
    wait_line '^-- every client holds an offset' 30 || die "not every client holds an offset ($sblog)"
    say "$(grep -h '^-- every client' "$sblog")"
    sleep 1
    old=$(cat "$pidfile")
    # the next siod writes the pid file again (a new pid after TERM, the
    # same after USR2): remove it first, then wait for it
    rm -f "$pidfile"
    # the epoch first (written whole, then renamed), then the signal
    t0=$(now_ms)
    echo "$t0" >"$t0file.tmp" && mv "$t0file.tmp" "$t0file"
    kill -"$SIGNAL" "$old"
    say "SIG$SIGNAL to siod $old"
    # the old siod answers while it drains its links: wait for the new one
    while [ $(( $(now_ms) - t0 )) -lt $((TIMEOUT * 1000)) ]; do
        now=$(cat "$pidfile" 2>/dev/null || true)
        if [ -n "$now" ]; then started=$(( $(now_ms) - t0 )); break; fi
        sleep 0.01
    done
    while [ "$started" != null ] && [ $(( $(now_ms) - t0 )) -lt $((TIMEOUT * 1000)) ]; do
        if [ "$(post_emit '{"event":"missed","args":[2]}')" = 200 ]; then back=$(( $(now_ms) - t0 )); break; fi
        sleep 0.02
    done
    say "a new siod wrote its pid $started ms and answered $back ms after the signal"
    finish_siobench
    line=$(json_of "$sblog")
    [ -n "$line" ] || die "siobench gave no report ($sblog)"
    SB_LINE=$line STARTED=$started BACK=$back node -e '
const r = JSON.parse(process.env.SB_LINE);
const num = (v) => (v === "null" ? null : Number(v));
const out = {
  client: "siobench", clients: r.clients, connected: r.connected, helloed: r.offsets, procs: r.procs,
  siod_started_ms: num(process.env.STARTED), siod_back_ms: num(process.env.BACK),
  recovered: r.recovered, within_5s: r.within_5s, not_recovered: r.not_recovered, lost: r.lost,
  p50_ms: r.p50_ms, p99_ms: r.p99_ms, max_ms: r.max_ms,
  missed_once: r.expect_once, missed_twice: r.expect_twice,
  cpu_machine_ms: null, cpu_server_ms: r.cpu_ms.server, cpu_clients_ms: r.cpu_ms.client,
  cpu_window_ms: r.cpu_window_ms, back_per_second: r.back_per_second,
  reconnects: r.reconnects, refused: r.refused, stayed: r.stayed, served: r.served,
};
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
' >"$OUT/result.json"
}

pidfile=$rundir/run/siod.pid
httpd_pid=$(cat "$rundir/run/httpd.pid")
if [ "$CLIENT" = node ]; then
    URL=http://127.0.0.1:$port CLIENTS=$CLIENTS PROCS=$PROCS CONNECT_RATE=$CONNECT_RATE \
        SRC=$SRC TIMEOUT=$TIMEOUT SIOD_PID_FILE=$rundir/run/siod.pid OUT_JSON=$OUT/result.json \
        HTTPD_PID="$(cat "$rundir/run/httpd.pid")" \
        node "$repo/tests/bench/restart.mjs" 2>&1 | tee "$OUT/logs/clients.log"
    [ ! -f "$OUT/result.json" ] || node -e '
const fs = require("fs");
const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
fs.writeFileSync(process.argv[1], `${JSON.stringify({ client: "node", ...r }, null, 2)}\n`);
' "$OUT/result.json"
else
    run_recover
fi
[ -f "$OUT/result.json" ] || die "no result (logs in $OUT/logs)"
grep -h 'state file\|Terminated\|ended (exit' "$rundir/logs/error_log" 2>/dev/null \
    >"$OUT/logs/siod-restart.log" || true
node -e '
const r = require(process.argv[1]);
console.log(`recovered ${r.recovered} of ${r.clients} (not recovered ${r.not_recovered}, lost ${r.lost}); ` +
  (r.stayed != null ? `kept open ${r.stayed} (served ${r.served}); ` : "") +
  `within 5 s: ${r.within_5s}; p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, max ${r.max_ms} ms; ` +
  `a new siod started ${r.siod_started_ms} ms and answered ${r.siod_back_ms} ms after the signal; ` +
  `the event emitted then reached ${r.missed_once} once, ${r.missed_twice} twice; ` +
  `CPU from the signal to the last back: ${r.cpu_machine_ms} ms in all, httpd and siod ${r.cpu_server_ms} ms, ` +
  `the clients ${r.cpu_clients_ms} ms; ` +
  `back per second: ${r.back_per_second.join(" ")}`);
' "$OUT/result.json"
