#!/usr/bin/env bash
# Checks the layout rules of siod and mod_socketio (docs/architecture.md):
#  a. no product .c/.h (under siod/, mod_socketio/, shared/) over MAX_LINES;
#  b. every #include of a project header goes down the layer table below,
#     and only to another layer's public header(s); shared/ includes only
#     shared/ and the C library;
#  c. docs/architecture.md names every product source file by its path, and
#     every source file it names exists;
#  d. every C name the document writes in backticks stands where it says:
#     declared at file scope in a file named beside it (the same table
#     cell, else the cell's column header, else its row; the same
#     paragraph), or, for a name no product file declares (libevent, APR,
#     httpd, struct members), used in one; with no file named, present
#     somewhere in the sources (see the document's last section).
# Prints one line per problem and exits 1, or a summary line and exits 0.
# Plain bash, find, grep, sed, wc and awk; run from anywhere:
# scripts/check-layers.sh
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
siod              |                   | siod/core siod/guard siod/relay siod/engine siod/adapter siod/cluster siod/sio siod/app siod/callback shared
siod/core         | siod_core.h       | shared
siod/guard        | siod_guard.h      | siod/core shared
siod/relay        | siod_relay.h      | siod/engine siod/core shared
siod/engine       | siod_engine.h     | siod/guard siod/core shared
siod/adapter      | siod_adapter.h    | siod/core shared
siod/cluster      | siod_cluster.h    | siod/adapter siod/core shared
siod/sio          | siod_sio.h siod_app.h siod_app_observe.h | siod/engine siod/adapter siod/guard siod/core shared
siod/app          | siod_app_loader.h | siod/sio siod/core shared
siod/callback     | siod_callback.h   | siod/app siod/sio siod/core shared
siod/apps         |                   | siod/sio:siod_app.h siod/sio:siod_app_observe.h
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

# ---- d. the C names the document cites ----------------------------------
# One awk pass: the sources (comments and literals stripped; what stands at
# brace depth 0, and enum constants, is "declared"; everything is "used"),
# then the document's table rows and paragraphs (fenced blocks skipped).
IFS= read -r -d '' CITES_AWK <<'AWK' || true
function bad(msg) { print "check-layers: " msg; nbad++ }
# A source line without its comments and string and character literals
# (incom carries a comment over lines).
function strip(s,   out, tok, p) {
    out = ""
    while (s != "") {
        if (incom) {
            if (!(p = index(s, "*/"))) return out
            s = substr(s, p + 2); incom = 0; out = out " "
            continue
        }
        if (!match(s, /"([^"\\]|\\.)*"|'([^'\\]|\\.)*'|\/\*|\/\//)) return out s
        out = out substr(s, 1, RSTART - 1)
        tok = substr(s, RSTART, RLENGTH)
        s = substr(s, RSTART + RLENGTH)
        if (tok == "//") return out
        if (tok == "/*") incom = 1
        else out = out " "
    }
    return out
}
# Records the identifiers of code text seg: as declared in the current
# file (decl) when decl_it, as used in it (used) always.
function note(seg, decl_it,   n, i, a) {
    n = split(seg, a, /[^A-Za-z0-9_]+/)
    for (i = 1; i <= n; i++) {
        if (a[i] !~ /^[A-Za-z_]/) continue
        used[cur SUBSEP a[i]] = 1
        if (decl_it) { decl[cur SUBSEP a[i]] = 1; declared[a[i]] = 1 }
    }
}
# Declared: what stands at file scope (functions, prototypes, variables,
# types, macros, with their parameter lists) and an enum's constants.
function scan(s,   seg, c) {
    while (s != "") {
        if (match(s, /[{}]/)) {
            seg = substr(s, 1, RSTART - 1); c = substr(s, RSTART, 1)
            s = substr(s, RSTART + 1)
        } else { seg = s; c = ""; s = "" }
        note(seg, depth == 0 || (depth == 1 && inenum))
        if (depth == 0) { head = head " " seg; sub(/.*;/, "", head) }
        if (c == "{") {
            if (depth == 0)
                inenum = (head ~ /(^|[^A-Za-z0-9_])enum([^A-Za-z0-9_]|$)/)
            depth++; head = ""
        } else if (c == "}") {
            depth--; head = ""
            if (depth == 0) inenum = 0
        }
    }
}
function endfile() {
    if (cur != "" && depth != 0)
        bad(cur ": braces do not balance (depth " depth " at the end); its declarations were misread")
}
# The files text names in backticks (a path, a folder such as
# `siod/sio/`, or a file name that is unique in the product), appended to
# the space-separated list L.
function files_of(text, L,   t, span, f) {
    t = text
    while (match(t, /`[^`]+`/)) {
        span = substr(t, RSTART + 1, RLENGTH - 2)
        t = substr(t, RSTART + RLENGTH)
        if (span in isfile) f = span
        else if (span in isdir) f = span
        else if (span !~ /\// && (span in bybase) && bybase[span] != "?") f = bybase[span]
        else continue
        if (index(L " ", " " f " ") == 0) L = L " " f
    }
    return L
}
# 1 if file or folder f declares id (kind "decl") or uses it ("used").
function has(f, id, kind,   k) {
    if (f !~ /\/$/) return kind == "decl" ? ((f SUBSEP id) in decl) : ((f SUBSEP id) in used)
    for (k in isfile)
        if (index(k, f) == 1 && has(k, id, kind)) return 1
    return 0
}
function in_any(L, id, kind,   m, F, j) {
    m = split(L, F, / /)
    for (j = 1; j <= m; j++)
        if (F[j] != "" && has(F[j], id, kind)) return 1
    return 0
}
# Checks every C name text cites in backticks (`name`, `name()`,
# `name(&other)`, `name.member` / `name->member`: the name) against the
# files L: declared in one of them; a name no product file declares
# (libevent's, APR's, httpd's) used in one of them. L empty: declared or
# used somewhere in the product.
function check(text, L, line,   t, span, n, i, a, id, ok) {
    t = text
    while (match(t, /`[^`]+`/)) {
        span = substr(t, RSTART + 1, RLENGTH - 2)
        t = substr(t, RSTART + RLENGTH)
        if (span ~ /\.[ch]$/) continue
        if (span !~ /^[A-Za-z_][A-Za-z0-9_]*((\.|->)[A-Za-z_][A-Za-z0-9_]*)*(\([&* ,A-Za-z0-9_]*\))?$/)
            continue
        sub(/(\.|->)[A-Za-z0-9_.>-]*/, "", span)
        n = split(span, a, /[^A-Za-z0-9_]+/)
        for (i = 1; i <= n; i++) {
            if ((id = a[i]) == "") continue
            cited++
            if (L == "") ok = (id in declared) || in_any(allfiles, id, "used")
            else if (id in declared) ok = in_any(L, id, "decl")
            else ok = in_any(L, id, "used")
            if (!ok)
                bad(doc ":" line ": `" id "` is " (L == "" ? "in no source file" \
                    : (id in declared ? "not declared in" : "not in the code of") L))
        }
    }
}
# A table row: a cell's names against the files that cell names, else
# the files its column's header names, else those of the whole row.
function row(line,   n, c, i, R, L) {
    if (line ~ /^\|[-| :]+$/) { header = 0; return }
    sub(/^\|/, "", line); sub(/\|[ \t]*$/, "", line)
    n = split(line, c, /\|/)
    if (header) { for (i = 1; i <= n; i++) colfiles[i] = files_of(c[i], "") }
    R = ""
    for (i = 1; i <= n; i++) R = files_of(c[i], R)
    for (i = 1; i <= n; i++) {
        L = files_of(c[i], "")
        if (L == "" && !header) L = colfiles[i]
        check(c[i], L == "" ? R : L, FNR)
    }
}
function flush() {
    if (para != "") check(para, files_of(para, ""), pline)
    para = ""
}
FILENAME != doc {
    if (FILENAME != cur) {
        endfile()
        cur = FILENAME; depth = 0; incom = 0; cxx = 0; head = ""; inenum = 0
        isfile[cur] = 1; allfiles = allfiles " " cur
        d = cur; sub(/[^\/]*$/, "", d); isdir[d] = 1
        b = cur; sub(/.*\//, "", b)
        if (b in bybase) bybase[b] = "?"
        else bybase[b] = cur
    }
    # C++ guards (extern "C" {) are not scopes of C code
    if ($0 ~ /^[ \t]*#[ \t]*ifdef[ \t]+__cplusplus/) { cxx = 1; next }
    if (cxx) { if ($0 ~ /^[ \t]*#[ \t]*endif/) cxx = 0; next }
    scan(strip($0))
    next
}
FNR == 1 { endfile(); cur = "" }
/^```/ { flush(); fence = !fence; next }
fence { next }
/^\|/ { flush(); if (!intable) { intable = 1; header = 1 }; row($0); next }
{ intable = 0 }
/^[ \t]*$/ || /^#/ { flush(); next }
{ if (para == "") pline = FNR; para = para " " $0 }
END {
    flush()
    print "cited " cited
    exit nbad ? 1 : 0
}
AWK
cited=
if [ -f "$DOC" ]; then
    while IFS= read -r line; do
        case $line in
        "cited "*) cited=${line#cited } ;;
        *) echo "$line"; problems=$((problems + 1)) ;;
        esac
    done < <(awk -v doc="$DOC" "$CITES_AWK" "${FILES[@]}" "$DOC")
    [ -n "$cited" ] || fail "the check of the names in $DOC did not run (awk failed)"
fi

if [ "$problems" -gt 0 ]; then
    echo "check-layers: $problems problem(s)"
    exit 1
fi
echo "check-layers: ok: ${#FILES[@]} source files, none over $MAX_LINES lines, $includes includes checked against the layer table, all named in $DOC, $cited C names it cites found where it says"
