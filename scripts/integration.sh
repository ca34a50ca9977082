#!/bin/bash
# Runs the integration suite (tests/integration/*.test.mjs, Node's test
# runner) once per httpd MPM — event, worker, prefork — and prints a summary.
# Exits nonzero if any run fails. Environment: BUILD (default <repo>/build),
# MPMS (default "event worker prefork"), SAN=1 (httpd under ASan), TESTS
# (files to run, default all).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
BUILD=${BUILD:-$repo/build}
MPMS=${MPMS:-event worker prefork}
export BUILD

for f in "$BUILD/siod" "$BUILD/mod_socketio.so"; do
    [ -e "$f" ] || { echo "integration: $f missing (run make)" >&2; exit 1; }
done
[ -d "$repo/tests/node_modules" ] || { echo "integration: run scripts/setup.sh first" >&2; exit 1; }

if [ -n "${TESTS:-}" ]; then
    read -r -a files <<<"$TESTS"
else
    files=("$repo"/tests/integration/*.test.mjs)
fi

# One test file at a time: the suite measures timeouts and descriptors.
conc=()
if node --help 2>/dev/null | grep -q -- '--test-concurrency'; then
    conc=(--test-concurrency=1)
fi

# Each failed test of a TAP file with the first lines of its error, so that
# the summary at the end of a long log says why, not only what.
failures() {
    awk '
        function flush() { if (name != "") print "    " name (why != "" ? "\n" why : ""); name = ""; why = "" }
        /^ *not ok [0-9]+ - / { flush(); name = $0; sub(/^ *not ok [0-9]+ - /, "", name); inerr = 0; n = 0; next }
        name != "" && /^ *error: / {
            line = $0; sub(/^ *error: /, "", line)
            if (line != "|-" && line != "|") { why = "        " substr(line, 1, 200); next }
            inerr = 1; match($0, /^ */); ind = RLENGTH; next
        }
        inerr { match($0, /^ */)
            if (RLENGTH <= ind && $0 !~ /^ *$/) { inerr = 0; next }
            line = $0; sub(/^ */, "", line)
            if (line != "" && n < 6) { why = why (why != "" ? "\n" : "") "        " substr(line, 1, 200); n++ }
            next }
        /^ *\.\.\.$/ { inerr = 0 }
        END { flush() }
    ' "$1"
}

mkdir -p "$BUILD/itest"
total_pass=0
total_fail=0
summary=()
rc=0
for mpm in $MPMS; do
    echo "=== integration tests, MPM $mpm"
    tap=$BUILD/itest/results-$mpm.tap
    start=$(date +%s)
    SIO_MPM=$mpm node --test "${conc[@]}" \
        --test-reporter=spec --test-reporter-destination=stdout \
        --test-reporter=tap --test-reporter-destination="$tap" \
        "${files[@]}"
    status=$?
    secs=$(( $(date +%s) - start ))
    pass=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$tap" | tail -n 1)
    fail=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$tap" | tail -n 1)
    pass=${pass:-0}
    fail=${fail:-0}
    if [ "$status" != 0 ] && [ "$fail" = 0 ]; then
        fail=1 # the runner itself failed (a file that did not load, ...)
    fi
    failed=$(failures "$tap")
    summary+=("MPM $mpm: $pass passed, $fail failed (${secs}s)${failed:+
$failed}")
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
    [ "$status" = 0 ] || rc=1
done

echo
echo "=== integration summary"
for s in "${summary[@]}"; do echo "$s"; done
echo "integration: $total_pass passed, $total_fail failed"
exit $rc
