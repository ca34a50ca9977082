#!/bin/bash
# `make soak` (not in CI): a long run of our stack (httpd + mod_socketio +
# siod -a bench through scripts/serve.sh) under a steady crowd with
# traffic and churn, to find what grows. SOAK_CLIENTS WebSocket clients
# are held for SOAK_SECONDS and get SOAK_BCAST_RATE broadcasts a second;
# beside them, rounds of churn for the whole run: CHURN_CLIENTS clients
# connect, send acked echoes for CHURN_SECONDS and leave (kept for
# connection state recovery, with RECOVERY), then LP_CHURN long-polling
# sessions at once run back to back for as long. Every SAMPLE_SECONDS the
# RSS, open descriptors, threads and processes of httpd (parent and
# children) and of siod are written to $OUT/samples.tsv. After
# WARMUP_SECONDS the first and the last SAMPLE_WINDOW samples are compared:
# RSS and descriptors of httpd and of siod must each stay within
# TOLERANCE_PCT % (and the held crowd lose no client), else the run fails
# (exit 1). $OUT/summary.txt says which. docs/soak.md has a run's figures.
#
# Environment (defaults):
#   BUILD (<repo>/build), OUT ($BUILD/soak/<UTC time>)
#   SOAK_SECONDS (3600), SOAK_CLIENTS (10000), SOAK_BCAST_RATE (2)
#   CHURN_CLIENTS (200), CHURN_SECONDS (20), LP_CHURN (10)
#   RECOVERY (120000)         siod's --recovery window in ms (0: off)
#   SAMPLE_SECONDS (30), WARMUP_SECONDS (300, at most a fifth of the run),
#   SAMPLE_WINDOW (10), TOLERANCE_PCT (5)
#   PROCS (2), SRC (127.0.0.2-127.0.0.17) siobench processes and sources
#   MPM (event)
# `scripts/soak.sh --verdict DIR` prints the verdict of an earlier run's
# DIR/samples.tsv (with the settings of this environment) and starts nothing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
BUILD=${BUILD:-$repo/build}
bench_name=soak
# shellcheck source=scripts/bench-lib.sh
. "$here/bench-lib.sh"

SOAK_SECONDS=${SOAK_SECONDS:-3600}
SOAK_CLIENTS=${SOAK_CLIENTS:-10000}
SOAK_BCAST_RATE=${SOAK_BCAST_RATE:-2}
CHURN_CLIENTS=${CHURN_CLIENTS:-200}
CHURN_SECONDS=${CHURN_SECONDS:-20}
LP_CHURN=${LP_CHURN:-10}
RECOVERY=${RECOVERY:-120000}
SAMPLE_SECONDS=${SAMPLE_SECONDS:-30}
WARMUP_SECONDS=${WARMUP_SECONDS:-300}
[ "$WARMUP_SECONDS" -le $((SOAK_SECONDS / 5)) ] || WARMUP_SECONDS=$((SOAK_SECONDS / 5))
SAMPLE_WINDOW=${SAMPLE_WINDOW:-10}
TOLERANCE_PCT=${TOLERANCE_PCT:-5}
PROCS=${PROCS:-2}
SRC=${SRC:-127.0.0.2-127.0.0.17}
MPM=${MPM:-event}
PING_INTERVAL=${PING_INTERVAL:-10000}
PING_TIMEOUT=${PING_TIMEOUT:-20000}

# verdict SAMPLES: per column, the mean of the first SAMPLE_WINDOW samples
# after WARMUP_SECONDS against the mean of the last SAMPLE_WINDOW; RSS and
# descriptors must not grow by more than TOLERANCE_PCT %. When the MPM ran
# a different number of children in the two windows (a child more is its
# spare-thread logic, not growth), httpd's RSS is compared per process and
# siod's descriptors less one relay link per httpd process. Prints the table; returns 1 if something is not flat, 2 with
# too few samples.
verdict() {
    awk -F'\t' -v warm="$WARMUP_SECONDS" -v w="$SAMPLE_WINDOW" -v tol="$TOLERANCE_PCT" '
    NR == 1 { for (i = 1; i <= NF; i++) name[i] = $i; NF_ALL = NF; next }
    $1 >= warm { n++; t[n] = $1; for (i = 2; i <= NF; i++) v[n, i] = $i }
    END {
        if (n < 2 * w) { printf "too few samples after the warm-up (%d, need %d)\n", n, 2 * w; exit 2 }
        bad = 0
        # the first window starts where the MPM last changed its number of
        # processes, when that leaves two windows
        s0 = 1
        for (k = 2; k <= n; k++) if (v[k, 5] != v[k - 1, 5]) last = k
        if (last && n - last + 1 >= 2 * w) {
            s0 = last
            printf "first window from %d s, when httpd last changed its number of processes\n", t[s0]
        }
        for (i = 2; i <= NF_ALL; i++) {
            a[i] = b[i] = 0
            for (k = 0; k < w; k++) { a[i] += v[s0 + k, i]; b[i] += v[n - w + 1 + k, i] }
            a[i] /= w; b[i] /= w
        }
        for (i = 2; i <= NF_ALL; i++) {
            d = a[i] > 0 ? 100 * (b[i] - a[i]) / a[i] : 0
            note = ""
            if (name[i] == "httpd_rss_kb" && a[5] != b[5] && a[5] > 0 && b[5] > 0) {
                pa = a[i] / a[5]; pb = b[i] / b[5]
                d = 100 * (pb - pa) / pa
                note = sprintf(" (per process: %.0f -> %.0f KB, %.1f -> %.1f processes)", pa, pb, a[5], b[5])
            }
            if (name[i] == "siod_fds" && a[5] != b[5]) {
                # one relay link per httpd child
                pa = a[i] - a[5]; pb = b[i] - b[5]
                d = pa > 0 ? 100 * (pb - pa) / pa : 0
                note = sprintf(" (less one link per httpd process: %.1f -> %.1f)", pa, pb)
            }
            # growth is what a soak looks for; less is fine
            flat = (name[i] ~ /rss|fds/) ? (d <= tol ? "flat" : "NOT FLAT") : ""
            if (flat == "NOT FLAT") bad = 1
            printf "%-14s first %10.0f  last %10.0f  %+6.1f %%  %s%s\n", name[i], a[i], b[i], d, flat, note
        }
        exit bad
    }' "$1"
}

# With --verdict DIR: the verdict of an earlier run's DIR/samples.tsv only.
if [ "${1:-}" = --verdict ]; then
    verdict "$2/samples.tsv"
    exit
fi

churn_pid=
rundir=$OUT/run
stop_all() {
    if [ -n "$churn_pid" ]; then
        kill -TERM "$churn_pid" 2>/dev/null || true
        wait "$churn_pid" 2>/dev/null || true
    fi
    local s
    for s in "${servers[@]}"; do
        IFS='|' read -r _ sp dir pids <<<"$s"
        serve_stop "$sp" "$dir" "$pids"
    done
    servers=()
}
set_traps stop_all
start_run
commit=$(commit_of)             # the binaries' (start_run snapshot them)
errlog=$rundir/logs/error_log

port=$(free_port)
url=http://127.0.0.1:$port/socket.io/
say "serving on $port ($MPM), output in $OUT"
serve_start "$OUT/logs/serve.log" RUNDIR="$rundir" PORT="$port" MPM="$MPM" APP=bench \
    EVENT_RATE=0 PING_INTERVAL="$PING_INTERVAL" PING_TIMEOUT="$PING_TIMEOUT" \
    RECOVERY="$([ "$RECOVERY" -gt 0 ] && echo "$RECOVERY" || true)" \
    EXTRA_CONF="$(extra_conf "$MPM")"

# sample T: one line of samples.tsv.
sample() {
    local t=$1 hp sp p rss=0 fds=0 thr=0 n=0 srss=0 sfds=0
    hp=$(httpd_pids_in "$rundir")
    sp=$(siod_pid_in "$rundir")
    for p in $hp; do
        [ -r "/proc/$p/status" ] || continue
        rss=$((rss + $(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
        thr=$((thr + $(awk '/^Threads:/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
        fds=$((fds + $(find "/proc/$p/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)))
        n=$((n + 1))
    done
    if [ -n "$sp" ] && [ -r "/proc/$sp/status" ]; then
        srss=$(awk '/^VmRSS:/{print $2}' "/proc/$sp/status")
        sfds=$(find "/proc/$sp/fd" -mindepth 1 -maxdepth 1 | wc -l)
    fi
    # siod's own figures beside its RSS: what its heap holds and has free,
    # recovery's store, output queued to httpd's children (KB)
    local st
    st=$(curl -s --max-time 5 -H 'Content-Type: application/json' -d '{"op":"stats"}' \
        "http://127.0.0.1:$port/emit" || true)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$rss" "$fds" "$thr" "$n" "$srss" "$sfds" \
        $(( $(jnum "$st" heapUsedBytes) / 1024 )) $(( $(jnum "$st" heapFreeBytes) / 1024 )) \
        "$(jnum "$st" recoveryKeptSockets)" $(( $(jnum "$st" recoveryBytes) / 1024 )) \
        $(( $(jnum "$st" linkQueuedBytes) / 1024 )) >>"$OUT/samples.tsv"
}

# churn: rounds of clients that come, talk and go, until killed.
churn() {
    local i=0
    trap 'exit 0' TERM
    while :; do
        i=$((i + 1))
        "$SIOBENCH" ack -n "$CHURN_CLIENTS" --rate "$CHURN_CLIENTS" --duration "$CHURN_SECONDS" \
            --src "$SRC" --url "$url" -q >"$OUT/logs/churn-ack.log" 2>&1 || true
        [ "$LP_CHURN" -gt 0 ] &&
            { "$SIOBENCH" lpsession -n "$LP_CHURN" --duration "$CHURN_SECONDS" \
                --src "$SRC" --url "$url" -q >"$OUT/logs/churn-lp.log" 2>&1 || true; }
        tail -n 1 "$OUT/logs/churn-ack.log" >>"$OUT/logs/churn.jsonl"
        tail -n 1 "$OUT/logs/churn-lp.log" >>"$OUT/logs/churn.jsonl" 2>/dev/null || true
    done
}

printf 't_s\thttpd_rss_kb\thttpd_fds\thttpd_threads\thttpd_procs\tsiod_rss_kb\tsiod_fds\tsiod_heap_kb\tsiod_heap_free_kb\trecovery_kept\trecovery_kb\tlink_queued_kb\n' >"$OUT/samples.tsv"
"$SIOBENCH" bcast -n "$SOAK_CLIENTS" --procs "$PROCS" --rate "$SOAK_BCAST_RATE" \
    --duration "$SOAK_SECONDS" --timeout 30 --src "$SRC" --url "$url" \
    >"$OUT/logs/crowd.log" 2>&1 &
sb_pid=$!
siobench_wait_go "$OUT/logs/crowd.log" || die "the crowd did not start (see $OUT/logs/crowd.log)"
say "$SOAK_CLIENTS clients up; churn and samples every $SAMPLE_SECONDS s for $SOAK_SECONDS s"
churn &
churn_pid=$!
t0=$(date +%s)
while kill -0 "$sb_pid" 2>/dev/null; do
    sample $(( $(date +%s) - t0 ))
    sleep "$SAMPLE_SECONDS"
done
finish_siobench
kill -TERM "$churn_pid" 2>/dev/null || true
wait "$churn_pid" 2>/dev/null || true
churn_pid=
crowd=$(json_of "$OUT/logs/crowd.log")
news=$(server_news 0)

verdict "$OUT/samples.tsv" && rc=0 || rc=$?
verdict=$(verdict "$OUT/samples.tsv" || true)
dropped=$(jnum "$crowd" dropped)
connected=$(jnum "$crowd" connected)
{
    echo "soak: $(date -u +%FT%TZ), commit $commit, $SOAK_SECONDS s, $MPM"
    echo "crowd: $SOAK_CLIENTS held ($connected connected, $dropped dropped), $SOAK_BCAST_RATE broadcasts/s;" \
         "churn: $CHURN_CLIENTS clients x ${CHURN_SECONDS} s rounds, $LP_CHURN polling sessions at once;" \
         "recovery ${RECOVERY} ms"
    echo "churn rounds: $(grep -c '"mode":"ack"' "$OUT/logs/churn.jsonl" 2>/dev/null || echo 0)"
    echo "$verdict"
    echo "server warnings: ${news:-none}"
} | tee "$OUT/summary.txt" >&2
emit "$crowd" '"scenario":"soak-crowd"' "\"verdict_rc\":$rc"
[ "$rc" = 0 ] && [ "$dropped" = 0 ] && [ "$connected" = "$SOAK_CLIENTS" ] || {
    say "FAILED: not flat, or the crowd lost clients (see $OUT/summary.txt)"
    exit 1
}
say "passed: $OUT/summary.txt"
