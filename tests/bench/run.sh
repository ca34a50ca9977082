#!/usr/bin/env bash
# Runs the standard siobench scenarios (hold, bcast, ack) against one server
# and appends each run's final JSON line, tagged with the target, to a
# results file. Without -u it starts the Node.js reference server
# (node-server.mjs) itself and stops it afterwards. See docs/benchmarks.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

usage() {
    cat <<EOF
usage: tests/bench/run.sh [-u URL] [-t NAME] [-o FILE] [SCENARIO...]
  -u URL    server to measure (default: start node-server.mjs on \$PORT)
  -t NAME   target name written into the JSON lines (default: node, or "url")
  -o FILE   JSON lines are appended here (default: build/bench/results.jsonl)
  SCENARIO  hold | bcast | ack (default: all three, in that order)
Environment (defaults): SIOBENCH (build/tools/siobench), PORT (3000),
  PROCS (2), HOLD_CLIENTS (5000), HOLD_RATE (1000), HOLD_DURATION (20),
  BCAST_CLIENTS (1000), BCAST_WINDOW (4), ACK_CLIENTS (200), ACK_RATE (2000),
  DURATION (10, bcast and ack), NODE_ARGS (extra node-server options),
  EXTRA (extra siobench options for every scenario)
EOF
}

url="" target="" out="$root/build/bench/results.jsonl"
while getopts "u:t:o:h" opt; do
    case $opt in
        u) url=$OPTARG ;;
        t) target=$OPTARG ;;
        o) out=$OPTARG ;;
        h) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(hold bcast ack)

SIOBENCH=${SIOBENCH:-$root/build/tools/siobench}
PORT=${PORT:-3000}
PROCS=${PROCS:-2}
DURATION=${DURATION:-10}
EXTRA=${EXTRA:-}

if [ ! -x "$SIOBENCH" ]; then
    echo "run.sh: $SIOBENCH missing: run 'make $(realpath --relative-to="$root" "$SIOBENCH" 2>/dev/null || echo build/tools/siobench)'" >&2
    exit 2
fi

node_pid=""
node_log=""
cleanup() {
    if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then
        kill "$node_pid" 2>/dev/null || true
        wait "$node_pid" 2>/dev/null || true
    fi
    [ -z "$node_log" ] || rm -f "$node_log"
}
trap cleanup EXIT

if [ -z "$url" ]; then
    target=${target:-node}
    if [ ! -d "$here/node_modules/socket.io" ]; then
        (cd "$here" && npm ci --no-audit --no-fund >/dev/null)
    fi
    node_log=$(mktemp)
    # shellcheck disable=SC2086
    node "$here/node-server.mjs" --port "$PORT" --ws-only ${NODE_ARGS:-} >"$node_log" 2>&1 &
    node_pid=$!
    for _ in $(seq 100); do
        grep -q '^listening' "$node_log" && break
        kill -0 "$node_pid" 2>/dev/null || { cat "$node_log" >&2; exit 1; }
        sleep 0.1
    done
    grep -q '^listening' "$node_log" || { echo "run.sh: node server did not start" >&2; exit 1; }
    url="http://127.0.0.1:$PORT/socket.io/"
fi
target=${target:-url}
mkdir -p "$(dirname "$out")"

run() {
    local name=$1 line
    shift
    echo "== $target $name: siobench $*"
    # shellcheck disable=SC2086
    "$SIOBENCH" "$@" --url "$url" $EXTRA >"$out.tmp" || true
    cat "$out.tmp"
    line=$(tail -n 1 "$out.tmp")
    rm -f "$out.tmp"
    case $line in
        "{"*) printf '{"target":"%s","scenario":"%s",%s\n' "$target" "$name" "${line#\{}" >>"$out" ;;
        *) echo "run.sh: $name gave no JSON line" >&2 ;;
    esac
}

for s in "${scenarios[@]}"; do
    case $s in
        hold)  run hold hold -n "${HOLD_CLIENTS:-5000}" --procs "$PROCS" \
                   --rate "${HOLD_RATE:-1000}" --duration "${HOLD_DURATION:-20}" -q ;;
        bcast) run bcast bcast -n "${BCAST_CLIENTS:-1000}" --procs "$PROCS" \
                   --window "${BCAST_WINDOW:-4}" --duration "$DURATION" -q ;;
        ack)   run ack ack -n "${ACK_CLIENTS:-200}" --rate "${ACK_RATE:-2000}" \
                   --duration "$DURATION" -q ;;
        *) echo "run.sh: unknown scenario '$s'" >&2; usage >&2; exit 2 ;;
    esac
done
echo "results appended to $out"
