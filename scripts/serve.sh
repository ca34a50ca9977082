#!/bin/bash
# Runs a self-contained mod_socketio instance in the foreground: a private
# httpd (configuration generated under $BUILD/serve by scripts/httpd-conf.sh)
# and siod, which httpd starts and supervises (SIOD_MODE=managed, the
# default) or this script starts beside it (SIOD_MODE=external). Ctrl-C or SIGTERM stops both and
# leaves no process behind. Used by `make serve` and `make run`.
#
# Environment: BUILD (default <repo>/build), PORT (8080), BIND_ADDR
# (127.0.0.1), APP (siod application; siod's default when empty),
# PING_INTERVAL, PING_TIMEOUT, CONNECT_TIMEOUT (ms), MAX_PAYLOAD (bytes),
# CLOSED_BYTES (siod -R), RECOVERY (ms: siod --recovery, connection state
# recovery; off when empty), EVENT_RATE, EVENT_BURST (siod --event-rate,
# --event-burst), HANDSHAKE_RATE, HANDSHAKE_BURST (--handshake-rate,
# --handshake-burst), SCHEMAS (a directory: siod --schemas),
# CORS (origins or '*'), MPM (event|worker|prefork), TRANSPORTS, UPGRADES,
# ALLOW_EIO3=1 (SocketIOAllowEIO3 On: Socket.IO 2 clients too),
# PIN_CHILDREN=1 (SocketIOPinChildren On: each child on one CPU),
# LOGLEVEL (httpd, default info), VERBOSE=1 (siod -v), SIOD_ARGS (more siod
# options, split at spaces: limits, docs/limits.md), SAN=1 (httpd under
# ASan: LD_PRELOAD libasan), TLS_PORT (also serve https; with H2=1 over
# HTTP/2 too, WebSockets included: httpd-conf.sh), RUNDIR (default
# $BUILD/serve), and for the demo (`make run`): SITE_DIR (files for the
# document root), CLIENT_SCRIPT (socket.io.js the module serves),
# SERVE_CLIENT (On|Off), CGI=1 (PHP through php-cgi), FPM=1 (PHP through a
# private php-fpm pool, started and stopped here), HANDLERS=php (APP's
# namespace "/" answered by conf/php/APP.php through HTTP callbacks, APP
# chat by default; implies FPM=1: docs/callbacks.md), CALLBACKS (siod
# --callback specs NSP,KIND,URL split at spaces, a URL without a scheme
# relative to the handlers' /socketio-handlers/ with HANDLERS=php),
# READY_MSG (printed once everything answers). A cluster node
# (docs/cluster.md): REDIS (redis://host:port, siod --redis), REDIS_MODE
# (sharded: siod --redis-mode=sharded), REDIS_PREFIX (siod
# --redis-prefix), NODE (tag: siod --node, SocketIONode), NODE_URL (the
# URL advertised in Redis, siod --node-url; default
# http://BIND_ADDR:PORT with REDIS and NODE; 'none' advertises
# nothing), NODE_TTL (siod --node-ttl, ms), PEERS (SocketIOPeer lines:
# 'TAG=URL TAG=URL'); ADMIN_UI=1 (the Socket.IO Admin UI at /admin-ui/ and
# siod's admin application, docs/admin-ui.md) with ADMIN_HTPASSWD (a
# password file) or ADMIN_USER (admin) and ADMIN_PASSWORD (random when
# unset, printed) for a password file made here.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

BUILD=${BUILD:-$repo/build}
PORT=${PORT:-8080}
MPM=${MPM:-event}
SAN=${SAN:-0}
HTTPD=${HTTPD:-/usr/sbin/apache2}
SIOD=$BUILD/siod
RUNDIR=${RUNDIR:-$BUILD/serve}

say() { echo "serve: $*" >&2; }
die() { say "$*"; exit 1; }

[ -x "$SIOD" ] || die "$SIOD not built (run make)"
[ -f "$BUILD/mod_socketio.so" ] || die "$BUILD/mod_socketio.so not built (run make)"

siod_pid=
httpd_pid=
tail_pid=
fpm_pid=

# shellcheck disable=SC2317 # the functions below run from traps
# Stops a child with SIGTERM, then SIGKILL after $2 seconds, and reaps it.
stop_child() {
    local pid=$1 grace=$2 timer
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    ( sleep "$grace"; kill -KILL "$pid" 2>/dev/null ) 9>&- &
    timer=$!
    wait "$pid" 2>/dev/null || true
    kill "$timer" 2>/dev/null || true
    wait "$timer" 2>/dev/null || true
}

# shellcheck disable=SC2317 # runs from the traps
cleanup() {
    trap - INT TERM EXIT
    if [ -n "$httpd_pid" ]; then
        # httpd's own pid file names the same parent process; its children
        # leave when the parent tells them to.
        local p kids
        kids=$(pgrep -P "$httpd_pid" 2>/dev/null || true)
        p=$(cat "${PIDFILE:-/nonexistent}" 2>/dev/null || true)
        if [ -n "$p" ] && [ "$p" != "$httpd_pid" ] && kill -0 "$p" 2>/dev/null; then
            kill -TERM "$p" 2>/dev/null || true
        fi
        stop_child "$httpd_pid" 15
        # Children orphaned by a killed parent would still hold the listener.
        for p in $kids; do kill -KILL "$p" 2>/dev/null || true; done
    fi
    stop_child "$siod_pid" 10
    stop_child "$fpm_pid" 10
    stop_child "$tail_pid" 2
    if [ -n "$siod_pid$httpd_pid" ]; then say "stopped"; fi
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap 'cleanup' EXIT

# One instance per runtime directory: a second would rewrite the first's
# configuration and take over its siod socket. Only this script holds the
# lock (fd 9, closed in every child); the pid files catch orphans.
mkdir -p "$RUNDIR"
exec 9>>"$RUNDIR/.serve.lock"
if ! flock -n 9; then
    die "an instance already runs from $RUNDIR (stop it, or set RUNDIR=...)"
fi
for d in siod httpd; do
    p=$(cat "$RUNDIR/run/$d.pid" 2>/dev/null || true)
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
        die "an instance already runs from $RUNDIR ($d pid $p)"
    fi
done
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "port $PORT is already in use (set PORT=...)"
fi

# HANDLERS=php: the PHP twin of APP answers "/" (siod --callback), served
# by this httpd through php-fpm from /socketio-handlers/.
HANDLERS_DIR=
case ${HANDLERS:-} in
'') ;;
php)
    cb_app=${APP:-chat}
    [ -f "$repo/conf/php/$cb_app.php" ] || die "HANDLERS=php: no conf/php/$cb_app.php for APP=$cb_app"
    HANDLERS_DIR=$repo/conf/php
    FPM=1
    CGI=0
    ;;
*) die "HANDLERS must be php (got '$HANDLERS')" ;;
esac

# The Admin UI: the package's built files, a password file, the admin
# application beside the served one.
admin_ui_dir=
admin_ui_icons=
admin_password_shown=
if [ "${ADMIN_UI:-0}" = 1 ]; then
    admin_ui_dir=${ADMIN_UI_DIR:-$repo/tests/node_modules/@socket.io/admin-ui/ui/dist}
    admin_ui_icons=${ADMIN_UI_ICONS:-$repo/tests/node_modules/@mdi/font}
    [ "${APP:-}" != echo-engine ] || die "ADMIN_UI=1 needs Socket.IO: not APP=echo-engine"
    if [ -z "${ADMIN_HTPASSWD:-}" ]; then
        ADMIN_USER=${ADMIN_USER:-admin}
        if [ -z "${ADMIN_PASSWORD:-}" ]; then
            ADMIN_PASSWORD=$(openssl rand -hex 12)
            admin_password_shown=$ADMIN_PASSWORD
        fi
        ADMIN_HTPASSWD=$RUNDIR/admin.htpasswd
        htpasswd -B -b -c "$ADMIN_HTPASSWD" "$ADMIN_USER" "$ADMIN_PASSWORD" 2>/dev/null \
            || die "htpasswd could not write $ADMIN_HTPASSWD (apache2-utils)"
    fi
fi

conf_vars=$(RUNDIR=$RUNDIR PORT=$PORT MPM=$MPM BUILD=$BUILD BIND_ADDR=${BIND_ADDR:-} \
        CORS=${CORS:-} MAX_PAYLOAD=${MAX_PAYLOAD:-} TRANSPORTS=${TRANSPORTS:-} \
        UPGRADES=${UPGRADES:-} ALLOW_EIO3=${ALLOW_EIO3:-0} PIN_CHILDREN=${PIN_CHILDREN:-0} LOGLEVEL=${LOGLEVEL:-info} TLS_PORT=${TLS_PORT:-} H2=${H2:-} \
        STATUS=${STATUS:-1} CGI=${CGI:-0} FPM=${FPM:-0} WS_DEFLATE=${WS_DEFLATE:-0} SITE_DIR=${SITE_DIR:-} CLIENT_SCRIPT=${CLIENT_SCRIPT:-} \
        SERVE_CLIENT=${SERVE_CLIENT:-} HANDLERS_DIR=$HANDLERS_DIR NODE=${NODE:-} PEERS=${PEERS:-} \
        ADMIN_UI_DIR=$admin_ui_dir ADMIN_UI_ICONS=$admin_ui_icons \
        ADMIN_HTPASSWD=${ADMIN_HTPASSWD:-} "$here/httpd-conf.sh") \
    || die "httpd-conf.sh failed"
eval "$conf_vars"

# siod creates the relay secret at its first start; httpd's parent reads it.
siod_args=(-s "$SIOD_SOCKET" -k "$SIOD_SECRET" -u "$SIOD_UIDS" -p "$RUNDIR/run/siod.pid")
[ -n "${PING_INTERVAL:-}" ] && siod_args+=(-i "$PING_INTERVAL")
[ -n "${PING_TIMEOUT:-}" ] && siod_args+=(-t "$PING_TIMEOUT")
[ -n "${CONNECT_TIMEOUT:-}" ] && siod_args+=(-c "$CONNECT_TIMEOUT")
[ -n "${MAX_PAYLOAD:-}" ] && siod_args+=(-m "$MAX_PAYLOAD")
[ -n "${CLOSED_BYTES:-}" ] && siod_args+=(-R "$CLOSED_BYTES")
[ -n "${RECOVERY:-}" ] && siod_args+=("--recovery=$RECOVERY")
[ -n "${EVENT_RATE:-}" ] && siod_args+=("--event-rate=$EVENT_RATE")
[ -n "${EVENT_BURST:-}" ] && siod_args+=("--event-burst=$EVENT_BURST")
[ -n "${HANDSHAKE_RATE:-}" ] && siod_args+=("--handshake-rate=$HANDSHAKE_RATE")
[ -n "${HANDSHAKE_BURST:-}" ] && siod_args+=("--handshake-burst=$HANDSHAKE_BURST")
[ -n "${SCHEMAS:-}" ] && siod_args+=("--schemas=$SCHEMAS")
[ -n "${APP:-}" ] && siod_args+=(-a "$APP")
if [ -n "$admin_ui_dir" ]; then
    # siod serves echo when given no application: kept beside admin
    [ -n "${APP:-}" ] || siod_args+=(-a echo)
    siod_args+=(-a admin)
fi
[ "${VERBOSE:-0}" = 1 ] && siod_args+=(-v)
if [ -n "$HANDLERS_DIR" ]; then
    for kind in connect event disconnect; do
        siod_args+=("--callback=/,$kind,${HANDLERS_URL}$cb_app.php")
    done
fi
if [ -n "${CALLBACKS:-}" ]; then
    read -r -a specs <<<"$CALLBACKS"
    for spec in "${specs[@]}"; do
        url=${spec#*,*,}
        case $url in
        http://*|https://*) ;;
        *) [ -n "$HANDLERS_URL" ] || die "CALLBACKS: $spec: a relative URL needs HANDLERS=php"
           spec=${spec%"$url"}$HANDLERS_URL$url ;;
        esac
        siod_args+=("--callback=$spec")
    done
fi
if [ -n "${NODE:-}" ]; then
    siod_args+=("--node=$NODE")
fi
if [ -n "${REDIS:-}" ]; then
    siod_args+=("--redis=$REDIS")
    case "${REDIS_MODE:-}" in
    '' | classic) ;;
    sharded) siod_args+=(--redis-mode=sharded) ;;
    *) die "REDIS_MODE must be classic or sharded (got '$REDIS_MODE')" ;;
    esac
    [ -n "${REDIS_PREFIX:-}" ] && siod_args+=("--redis-prefix=$REDIS_PREFIX")
    if [ -n "${NODE:-}" ]; then
        # the address the other nodes forward this node's sessions to
        node_url=${NODE_URL:-http://${BIND_ADDR:-127.0.0.1}:$PORT}
        [ "$node_url" = none ] || siod_args+=("--node-url=$node_url")
        [ -n "${NODE_TTL:-}" ] && siod_args+=("--node-ttl=$NODE_TTL")
    fi
elif [ -n "${REDIS_MODE:-}${REDIS_PREFIX:-}${NODE_URL:-}${NODE_TTL:-}" ]; then
    die "REDIS_MODE, REDIS_PREFIX, NODE_URL and NODE_TTL need REDIS=redis://host:port"
fi
if [ -n "${SIOD_ARGS:-}" ]; then
    read -r -a extra <<<"$SIOD_ARGS"
    siod_args+=("${extra[@]}")
fi

rm -f "$SIOD_SOCKET"
case ${SIOD_MODE:-managed} in
managed)
    # httpd starts siod, restarts it if it dies, stops it with httpd
    # (SocketIODaemon managed); the module gives -s, -k and -u itself.
    {
        echo
        echo "# scripts/serve.sh: httpd starts and supervises siod"
        echo "SocketIODaemon managed"
        echo "SocketIODaemonPath \"$SIOD\""
        printf 'SocketIODaemonArgs'
        for a in "${siod_args[@]:6}"; do
            printf ' "%s"' "$(printf '%s' "$a" | sed 's/[\\"]/\\&/g')"
        done
        echo
    } >>"$CONF"
    say "httpd will start siod: $SIOD ${siod_args[*]}"
    ;;
external)
    say "starting siod: $SIOD ${siod_args[*]}"
    # Each child gets its own session: a terminal's Ctrl-C reaches only
    # this script, which then stops httpd before siod (so httpd never sees
    # siod go).
    setsid "$SIOD" "${siod_args[@]}" 9>&- &
    siod_pid=$!
    for _ in $(seq 100); do
        [ -S "$SIOD_SOCKET" ] && break
        kill -0 "$siod_pid" 2>/dev/null || { wait "$siod_pid" || true; siod_pid=; die "siod exited at start"; }
        sleep 0.05
    done
    [ -S "$SIOD_SOCKET" ] || die "siod did not create $SIOD_SOCKET"
    ;;
*) die "SIOD_MODE must be managed or external (got '$SIOD_MODE')" ;;
esac

if [ "${FPM:-0}" = 1 ]; then
    rm -f "$FPM_SOCKET"
    say "starting php-fpm: $FPM_BIN -F -y $FPM_CONF"
    setsid "$FPM_BIN" -F -y "$FPM_CONF" 9>&- &
    fpm_pid=$!
    for _ in $(seq 100); do
        [ -S "$FPM_SOCKET" ] && break
        kill -0 "$fpm_pid" 2>/dev/null || { wait "$fpm_pid" || true; fpm_pid=; die "php-fpm exited at start"; }
        sleep 0.05
    done
    [ -S "$FPM_SOCKET" ] || die "php-fpm did not create $FPM_SOCKET"
fi

: >>"$ERROR_LOG"
tail -n 0 -F "$ERROR_LOG" 2>/dev/null 9>&- &
tail_pid=$!

httpd_env=()
if [ "$SAN" = 1 ]; then
    asan=$(${CC:-gcc} -print-file-name=libasan.so)
    [ -f "$asan" ] || die "libasan.so not found via ${CC:-gcc} -print-file-name"
    httpd_env=(LD_PRELOAD="$asan" ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}")
fi
# Under mpm_event every WebSocket is a suspended connection held by the
# module's reactor: it costs no thread but one file descriptor in its child,
# so the open-file limit, not ThreadsPerChild, caps clients per child.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
say "starting httpd: $HTTPD -f $CONF -DFOREGROUND (MPM $MPM)"
setsid env "${httpd_env[@]}" "$HTTPD" -f "$CONF" -DFOREGROUND 9>&- &
httpd_pid=$!

ready=0
for _ in $(seq 200); do
    if curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/health.txt" 2>/dev/null; then
        ready=1; break
    fi
    kill -0 "$httpd_pid" 2>/dev/null || break
    sleep 0.05
done
if [ "$ready" != 1 ]; then
    say "httpd did not start; last lines of $ERROR_LOG:"
    tail -n 20 "$ERROR_LOG" >&2 || true
    exit 1
fi

if [ -z "$siod_pid" ]; then
    # the module started siod: Socket.IO answers once it listens
    for _ in $(seq 100); do
        [ -S "$SIOD_SOCKET" ] && break
        sleep 0.05
    done
    if [ ! -S "$SIOD_SOCKET" ]; then
        say "siod did not start; last lines of $ERROR_LOG:"
        tail -n 20 "$ERROR_LOG" >&2 || true
        exit 1
    fi
fi

say "ready: http://${BIND_ADDR:-127.0.0.1}:$PORT/  (Socket.IO at http://${BIND_ADDR:-127.0.0.1}:$PORT/socket.io/)"
[ -n "${TLS_PORT:-}" ] && say "       https://${BIND_ADDR:-127.0.0.1}:$TLS_PORT/ (self-signed)"
[ -n "${NODE:-}" ] && say "cluster node '$NODE'${REDIS:+, Redis $REDIS}${PEERS:+, peers $PEERS}"
say "config $CONF, logs $RUNDIR/logs/; Ctrl-C stops"
[ -n "${READY_MSG:-}" ] && say "$READY_MSG"
if [ -n "$admin_ui_dir" ]; then
    say "Admin UI: http://${BIND_ADDR:-127.0.0.1}:$PORT/admin-ui/ (user ${ADMIN_USER:-from $ADMIN_HTPASSWD}${admin_password_shown:+, password $admin_password_shown});"
    say "  connect it to server URL http://${BIND_ADDR:-127.0.0.1}:$PORT, advanced options: path /admin-ui/socket.io"
fi

# Wait for a signal, or for either child to end on its own (httpd
# restarts a siod it started itself).
set +e
if [ -n "$siod_pid" ]; then
    wait -n "$siod_pid" "$httpd_pid"
else
    wait "$httpd_pid"
fi
status=$?
set -e
if [ -n "$siod_pid" ] && ! kill -0 "$siod_pid" 2>/dev/null; then
    say "siod exited (status $status)"
else
    say "httpd exited (status $status); last lines of $ERROR_LOG:"
    tail -n 10 "$ERROR_LOG" >&2 || true
fi
exit 1
