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
    failed=$(grep -E '^ *not ok [0-9]+ - ' "$tap" | sed -E 's/^ *not ok [0-9]+ - /    /' | sort -u)
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
