#!/usr/bin/env bash
# Checks the layout rules of siod and mod_socketio (docs/architecture.md):
#  a. no product .c/.h (under siod/, mod_socketio/, shared/) over MAX_LINES;
#  b. every #include of a project header goes down the layer table below,
#     and only to another layer's public header(s); shared/ includes only
#     shared/ and the C library;
#  c. docs/architecture.md names every product source file by its path, and
#     every source file it names exists.
# Prints one line per problem and exits 1, or a summary line and exits 0.
# Plain bash, find, grep, sed and wc; run from anywhere: scripts/check-layers.sh
set -u
set -f                           # no globbing: the table holds a literal '*'
cd "$(dirname "$0")/.." || exit 2

MAX_LINES=800
DOC=docs/architecture.md

# The layer table. A file's layer is its folder. Columns:
#   folder | its public headers ("*": all) | what it may include: layer
#   folders (their public headers), or folder:header for that header only.
# A file may always include the headers of its own folder. Top-level
# folders (siod, mod_socketio) hold the entry points and may use every
# layer of their program, through the public headers too.
LAYERS='
siod              |                   | siod/core siod/relay siod/engine siod/adapter siod/sio siod/app shared
siod/core         | siod_core.h       | shared
siod/relay        | siod_relay.h      | siod/engine siod/core shared
siod/engine       | siod_engine.h     | siod/core shared
siod/adapter      | siod_adapter.h    | siod/core shared
siod/sio          | siod_sio.h siod_app.h | siod/engine siod/adapter siod/core shared
siod/app          | siod_app_loader.h | siod/sio siod/core shared
siod/apps         |                   | siod/sio:siod_app.h
mod_socketio      |                   | mod_socketio/http mod_socketio/ws mod_socketio/link mod_socketio/core shared
mod_socketio/http | socketio_http.h   | mod_socketio/ws mod_socketio/link mod_socketio/core shared
mod_socketio/ws   | socketio_ws.h     | mod_socketio/link mod_socketio/core shared
mod_socketio/link | socketio_link.h   | mod_socketio/core shared
mod_socketio/core | socketio_core.h   | shared
shared            | *                 |
'

# What shared/ may include with <...>: the ISO C library.
LIBC=' assert.h complex.h ctype.h errno.h fenv.h float.h inttypes.h iso646.h
limits.h locale.h math.h setjmp.h signal.h stdalign.h stdarg.h stdatomic.h
stdbool.h stddef.h stdint.h stdio.h stdlib.h stdnoreturn.h string.h tgmath.h
threads.h time.h uchar.h wchar.h wctype.h '
LIBC=" $(echo $LIBC) "

problems=0
fail() {
    echo "check-layers: $*"
    problems=$((problems + 1))
}

declare -A PUBLIC USES
while IFS='|' read -r folder pub uses; do
    folder=$(echo $folder)
    [ -n "$folder" ] || continue
    PUBLIC[$folder]=" $(echo $pub) "
    USES[$folder]=" $(echo $uses) "
done <<< "$LAYERS"

mapfile -t FILES < <(find siod mod_socketio shared -type f \
                     \( -name '*.c' -o -name '*.h' \) 2>/dev/null | sort)
if [ ${#FILES[@]} -eq 0 ]; then
    echo "check-layers: no product sources found (run from the repository)"
    exit 2
fi
declare -A IS_FILE BY_BASE
for f in "${FILES[@]}"; do
    IS_FILE[$f]=1
    b=${f##*/}
    if [ -n "${BY_BASE[$b]:-}" ]; then
        BY_BASE[$b]='?'          # ambiguous: resolved by path only
    else
        BY_BASE[$b]=$f
    fi
done

# ---- a. sizes --------------------------------------------------------------
while read -r n f; do
    [ "$f" = total ] && continue
    [ "$n" -gt "$MAX_LINES" ] &&
        fail "$f: $n lines (at most $MAX_LINES)"
done < <(wc -l "${FILES[@]}")

# ---- b. includes -----------------------------------------------------------
for f in "${FILES[@]}"; do
    d=${f%/*}
    [ -n "${USES[$d]+x}" ] ||
        fail "$f: folder $d has no row in the layer table of scripts/check-layers.sh"
done

# Finds the product file a quoted include names, as the compiler would
# with -I<the file's folder> -Isiod -Imod_socketio -Ishared; else by its
# file name alone. Sets R ("" for a header outside the product).
resolve() {
    local dir=$1 name=$2 c
    R=
    for c in "$dir/$name" "siod/$name" "mod_socketio/$name" "shared/$name"; do
        if [ -n "${IS_FILE[$c]:-}" ]; then R=$c; return; fi
    done
    c=${BY_BASE[${name##*/}]:-}
    [ "$c" != '?' ] && R=$c
}

includes=0
while IFS=: read -r f line text; do
    [[ $text =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*([\"\<])([^\"\>]+)[\"\>] ]] ||
        continue
    kind=${BASH_REMATCH[1]} name=${BASH_REMATCH[2]}
    d=${f%/*}
    includes=$((includes + 1))
    if [ "$kind" = '<' ]; then
        if [ "$d" = shared ] && [[ $LIBC != *" $name "* ]]; then
            fail "$f:$line: shared/ includes <$name>, not the C library"
        fi
        continue
    fi
    resolve "$d" "$name"
    if [ -z "$R" ]; then
        [ "$d" = shared ] &&
            fail "$f:$line: shared/ includes \"$name\", which is not in shared/"
        continue                 # httpd, APR, libevent: outside the product
    fi
    td=${R%/*} tb=${R##*/}
    [ "$td" = "$d" ] && continue
    if [ "$d" = shared ]; then
        fail "$f:$line: shared/ includes $R; it may include only shared/ and the C library"
        continue
    fi
    [ -n "${USES[$d]+x}" ] || continue      # reported above
    uses=${USES[$d]}
    if [[ $uses == *" $td:"* ]]; then
        [[ $uses == *" $td:$tb "* ]] && continue
        fail "$f:$line: includes $R; $d may include only$(
            for u in $uses; do [[ $u == "$td:"* ]] && printf ' %s' "${u#*:}"; done) of $td"
    elif [[ $uses == *" $td "* ]]; then
        pub=${PUBLIC[$td]:- }
        [[ $pub == *' * '* || $pub == *" $tb "* ]] && continue
        fail "$f:$line: includes $R, internal to $td (its public header:${pub% })"
    else
        fail "$f:$line: includes $R: $d may not use $td (may use:${uses% })"
    fi
done < <(grep -n -H -E '^[[:space:]]*#[[:space:]]*include' "${FILES[@]}")

# ---- c. docs/architecture.md ---------------------------------------------
if [ ! -f "$DOC" ]; then
    fail "$DOC is missing"
else
    declare -A NAMED
    # Paths (siod/engine/siod_session.c) and bare file names (sio_relay.h).
    while read -r p; do
        NAMED[$p]=1
        [ -n "${IS_FILE[$p]:-}" ] ||
            fail "$DOC names $p, which does not exist"
    done < <(grep -oE '(^|[^A-Za-z0-9_./-])(siod|mod_socketio|shared)/[A-Za-z0-9_./-]+\.[ch]([^A-Za-z0-9_]|$)' "$DOC" |
             sed -E 's/^[^a-z]//; s/[^a-z]$//' | sort -u)
    while read -r b; do
        [ -n "${BY_BASE[$b]:-}" ] ||
            fail "$DOC names $b, which is no product source file"
    done < <(grep -oE '(^|[^A-Za-z0-9_./-])(mod_socketio|siod|socketio|sio)(_[A-Za-z0-9_]+)?\.[ch]([^A-Za-z0-9_]|$)' "$DOC" |
             sed -E 's/^[^a-z]//; s/[^a-z]$//' | sort -u)
    for f in "${FILES[@]}"; do
        [ -n "${NAMED[$f]:-}" ] ||
            fail "$f is not named in $DOC"
    done
fi

if [ "$problems" -gt 0 ]; then
    echo "check-layers: $problems problem(s)"
    exit 1
fi
echo "check-layers: ok: ${#FILES[@]} source files, none over $MAX_LINES lines, $includes includes checked against the layer table, all named in $DOC"
