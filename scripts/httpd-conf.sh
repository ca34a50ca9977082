#!/bin/bash
# Writes a private, self-contained httpd.conf (plus a tiny static site) for one
# mod_socketio instance under a runtime directory; used by scripts/serve.sh and
# the integration tests. It never reads or writes /etc/apache2.
#
# Inputs (environment):
#   RUNDIR           runtime directory (required; created; absolute or relative)
#   PORT             HTTP port (required)
#   BIND_ADDR        address to listen on (default 127.0.0.1)
#   MPM              event | worker | prefork (default event)
#   BUILD            build tree (default: <repo>/build); MODULE defaults to
#                    $BUILD/mod_socketio.so
#   MODULE           path of mod_socketio.so
#   SIOD_SOCKET      siod's Unix socket (default $RUNDIR/siod/siod.sock, or a
#                    short directory under /tmp when that path is too long or
#                    not reachable by www-data)
#   SIOD_SECRET      the relay secret file (SocketIODaemonSecret, siod -k;
#                    default $SIOD_SOCKET.secret; siod creates it)
#   CORS             SocketIOCorsOrigin value(s), e.g. '*' (default: unset)
#   MAX_PAYLOAD      SocketIOMaxPayload bytes (default: module default)
#   TRANSPORTS       SocketIOTransports value, e.g. 'polling websocket'
#   UPGRADES         SocketIOAllowUpgrades On|Off
#   ALLOW_EIO3=1     SocketIOAllowEIO3 On: serve Socket.IO 2 clients
#   PIN_CHILDREN=1   SocketIOPinChildren On: each child on one CPU
#   WS_DEFLATE=1     SocketIOWebSocketCompression On (permessage-deflate);
#                    WS_DEFLATE_MIN its threshold in bytes
#   REPLY_TIMEOUT    SocketIOReplyTimeout seconds
#   LOGLEVEL         httpd LogLevel (default warn)
#   TLS_PORT         also listen with TLS on this port; TLS_CERT / TLS_KEY
#                    (default: a self-signed pair generated in $RUNDIR/tls)
#   H2=1             with TLS_PORT: load mod_http2 and offer HTTP/2 there
#                    (Protocols h2 http/1.1) with WebSockets over HTTP/2
#                    (H2WebSockets On, RFC 8441); H2=nows: HTTP/2 without
#                    them (mod_http2 inactive under prefork)
#   CGI=1            load mod_cgi(d) and run *.php through php-cgi
#   FPM=1            run *.php through php-fpm instead (mod_proxy_fcgi to a
#                    private pool's socket); writes $RUNDIR/php-fpm.conf
#                    for the caller to start (FPM_CONF, FPM_BIN below);
#                    FPM_CHILDREN (pm.max_children, 5) and FPM_PM (pm:
#                    dynamic, or static: every child started at once and
#                    kept, for a steady load such as make bench-php)
#   STATUS=1         load mod_status: /server-status, from loopback only
#   SITE_DIR         a directory whose files are copied into the document
#                    root (over the generated ones; health.txt stays), e.g.
#                    conf/demo; a copy, so www-data can read it as root;
#                    several directories separated by ':' are copied in
#                    turn (make run adds conf/php/public, the chat's login)
#   HANDLERS_DIR     a directory of Socket.IO callback handlers (conf/php)
#                    copied to /socketio-handlers/ in the document root,
#                    which only local clients (siod) may request, but for
#                    its public/ folder, copied into the document root
#                    itself (the pages that go with them: a login); with
#                    FPM=1 or CGI=1 their PHP runs (docs/callbacks.md)
#   CLIENT_SCRIPT    socket.io.js for SocketIOClientScript (the bundle GET
#                    /socket.io/socket.io.js answers); copied with its
#                    siblings under the runtime directory when www-data
#                    cannot read it where it is
#   SERVE_CLIENT     SocketIOServeClient On|Off (default: module default)
#   SIOD_MANAGED=1   httpd starts and supervises siod (SocketIODaemon
#                    managed, SocketIODaemonPath $SIOD_BIN, default
#                    $BUILD/siod) with
#                    SIOD_MANAGED_ARGS (SocketIODaemonArgs: applications,
#                    options); else SocketIODaemon external: the caller
#                    starts siod
#   NODE             SocketIONode tag (a cluster node, docs/cluster.md); loads
#                    mod_proxy and mod_proxy_http, which forward requests
#                    for other nodes' sessions
#   PEERS            SocketIOPeer lines: 'TAG=URL TAG=URL ...' (also loads
#                    the proxy modules)
#   BALANCE          a front balancer instead of a node: 'URL URL ...',
#                    every request proxied round-robin (lbmethod byrequests,
#                    no stickiness, WebSocket upgrades tunnelled) to those
#                    nodes; no mod_socketio, no siod
#   ADMIN_UI_DIR     the Socket.IO Admin UI's built files (the ui/dist of
#                    @socket.io/admin-ui), served at /admin-ui/ beside its
#                    Socket.IO endpoint /admin-ui/socket.io/, both behind
#                    Basic authentication with ADMIN_HTPASSWD (required
#                    then; docs/admin-ui.md); both copied under the runtime
#                    directory for httpd's user
#   ADMIN_UI_ICONS   with ADMIN_UI_DIR: the @mdi/font package, served as
#                    the UI's icons in place of the CDN its index.html
#                    names (whose Google Fonts link is dropped: a fallback
#                    font), so the UI reaches nothing but this server
#   EXTRA_CONF       text appended to the configuration
#   EXTRA_CONF_FILE  file Included at the end of the configuration
#
# Output: the generated files, and on stdout shell assignments (KEY='value')
# for CONF, PIDFILE, ERROR_LOG, ACCESS_LOG, SIOD_SOCKET, SIOD_SECRET,
# SIOD_UIDS, HTDOCS,
# RUNDIR, RUN_USER, CLIENT_SCRIPT and HANDLERS_URL (with HANDLERS_DIR:
# the base URL siod's callbacks use) (and FPM_CONF, FPM_SOCKET, FPM_BIN with
# FPM=1), for the caller to eval or parse.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

die() { echo "httpd-conf.sh: $*" >&2; exit 1; }

: "${RUNDIR:?RUNDIR is required}"
: "${PORT:?PORT is required}"
BIND_ADDR=${BIND_ADDR:-127.0.0.1}
MPM=${MPM:-event}
BUILD=${BUILD:-$repo/build}
MODULE=${MODULE:-$BUILD/mod_socketio.so}
LOGLEVEL=${LOGLEVEL:-warn}
MODDIR=/usr/lib/apache2/modules
HTTPD=${HTTPD:-/usr/sbin/apache2}

case "$MPM" in event|worker|prefork) ;; *) die "MPM must be event, worker or prefork (got '$MPM')";; esac
case "$PORT" in ''|*[!0-9]*) die "PORT must be a number (got '$PORT')";; esac
[ -x "$HTTPD" ] || die "$HTTPD not found (install apache2: scripts/setup.sh)"
[ -n "${BALANCE:-}" ] || [ -f "$MODULE" ] || die "module $MODULE not found (run make)"

mkdir -p "$RUNDIR"
RUNDIR=$(cd "$RUNDIR" && pwd)
MODULE=$(cd "$(dirname "$MODULE")" && pwd)/$(basename "$MODULE")

# As root, httpd's children run as www-data: they must reach the static site
# and siod's socket. A clone under a private home directory may not be
# traversable, and a Unix socket path must stay under ~100 bytes; in either
# case those two live in a short directory under /tmp named after RUNDIR.
if [ "$(id -u)" = 0 ]; then
    RUN_USER=www-data
    RUN_GROUP=www-data
    getent passwd "$RUN_USER" >/dev/null || die "user $RUN_USER missing"
    SIOD_UIDS=$(id -u "$RUN_USER")
else
    RUN_USER=
    RUN_GROUP=
    SIOD_UIDS=$(id -u)
fi

# as_run_user TEST-ARGS...: test(1) as httpd's user (true when not root, or
# when neither runuser nor setpriv is there to tell).
as_run_user() {
    [ -n "$RUN_USER" ] || return 0
    if command -v runuser >/dev/null 2>&1; then
        runuser -u "$RUN_USER" -- test "$@" 2>/dev/null
    elif command -v setpriv >/dev/null 2>&1; then
        setpriv --reuid="$RUN_USER" --regid="$RUN_GROUP" --clear-groups \
            test "$@" 2>/dev/null
    fi
}

reachable=1
if [ -n "$RUN_USER" ]; then
    chmod 0755 "$RUNDIR"
    as_run_user -x "$RUNDIR" || reachable=0
fi

wwwdir=$RUNDIR
sockdir_default=$RUNDIR/siod
if [ "$reachable" = 0 ] || [ ${#sockdir_default} -gt 90 ]; then
    tag=$(printf '%s' "$RUNDIR" | cksum | cut -d' ' -f1)
    wwwdir=/tmp/sio-$tag
    mkdir -p "$wwwdir"
    chmod 0755 "$wwwdir"
    printf '%s\n' "$wwwdir" >"$RUNDIR/.wwwdir"
    sockdir_default=$wwwdir/siod
fi
SIOD_SOCKET=${SIOD_SOCKET:-$sockdir_default/siod.sock}
sockdir=$(dirname "$SIOD_SOCKET")
# Beside the socket: readable by root (as root) or by you only, never by
# httpd's children (docs/security.md).
SIOD_SECRET=${SIOD_SECRET:-$SIOD_SOCKET.secret}
[ ${#SIOD_SOCKET} -lt 104 ] || die "socket path too long: $SIOD_SOCKET"

HTDOCS=$wwwdir/htdocs
LOGDIR=$RUNDIR/logs
site_dirs=()
if [ -n "${SITE_DIR:-}" ]; then
    IFS=: read -r -a site_dirs <<<"$SITE_DIR"
    for d in "${site_dirs[@]}"; do
        [ -d "$d" ] || die "SITE_DIR $d is not a directory"
    done
    # A fresh copy each time: files removed from the site leave with it.
    rm -rf "$HTDOCS"
fi
mkdir -p "$HTDOCS" "$LOGDIR" "$RUNDIR/run" "$sockdir"
rm -f "$RUNDIR/run/"*.pid

# Only httpd's user (and root) may enter siod's socket directory; setgid
# makes the socket siod creates there belong to that group.
if [ -n "$RUN_USER" ]; then
    chown "root:$RUN_GROUP" "$sockdir"
    chmod 2750 "$sockdir"
    chown "root:$RUN_GROUP" "$RUNDIR/run"
    chmod 0770 "$RUNDIR/run"
else
    chmod 0700 "$sockdir"
fi

# A tiny static site: it proves that ordinary pages keep working beside
# Socket.IO and gives the tests a readiness probe.
cat >"$HTDOCS/index.html" <<'EOF'
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mod_socketio</title></head>
<body><h1>mod_socketio</h1><p>This page is served by Apache httpd.
Socket.IO lives under <code>/socket.io/</code>.</p></body></html>
EOF
printf 'ok\n' >"$HTDOCS/health.txt"
if [ "${CGI:-0}" = 1 ] || [ "${FPM:-0}" = 1 ]; then
    cat >"$HTDOCS/info.php" <<'EOF'
<?php header('Content-Type: text/plain'); echo "php ok\n";
EOF
fi
if [ ${#site_dirs[@]} -gt 0 ]; then
    for d in "${site_dirs[@]}"; do
        cp -R "$d"/. "$HTDOCS"/
    done
    chmod -R u+rwX,go+rX "$HTDOCS"
fi
HANDLERS_URL=
if [ -n "${HANDLERS_DIR:-}" ]; then
    [ -d "$HANDLERS_DIR" ] || die "HANDLERS_DIR $HANDLERS_DIR is not a directory"
    rm -rf "$HTDOCS/socketio-handlers"
    mkdir -p "$HTDOCS/socketio-handlers"
    cp -R "$HANDLERS_DIR"/. "$HTDOCS/socketio-handlers"/
    rm -rf "$HTDOCS/socketio-handlers/public"
    if [ -d "$HANDLERS_DIR/public" ]; then
        cp -R "$HANDLERS_DIR/public"/. "$HTDOCS"/
    fi
    chmod -R u+rwX,go+rX "$HTDOCS"
    case $BIND_ADDR in
    0.0.0.0|'*'|::|'[::]') cb_host=127.0.0.1 ;;
    *:*) cb_host="[$BIND_ADDR]" ;;
    *) cb_host=$BIND_ADDR ;;
    esac
    HANDLERS_URL="http://$cb_host:$PORT/socketio-handlers/"
fi

# The Socket.IO client bundle the module serves: httpd's children open it,
# so as root it must be readable by www-data, or it is copied (with the
# minified builds and source maps beside it) under the runtime directory.
CLIENT_SCRIPT=${CLIENT_SCRIPT:-}
if [ -n "$CLIENT_SCRIPT" ]; then
    [ -f "$CLIENT_SCRIPT" ] || die "CLIENT_SCRIPT $CLIENT_SCRIPT not found (scripts/setup.sh installs socket.io-client)"
    CLIENT_SCRIPT=$(cd "$(dirname "$CLIENT_SCRIPT")" && pwd)/$(basename "$CLIENT_SCRIPT")
    if ! as_run_user -r "$CLIENT_SCRIPT"; then
        clientdir=$wwwdir/client
        rm -rf "$clientdir"
        mkdir -p "$clientdir"
        for f in "$(dirname "$CLIENT_SCRIPT")"/socket.io.*; do
            if [ -f "$f" ]; then cp "$f" "$clientdir/"; fi
        done
        cp "$CLIENT_SCRIPT" "$clientdir/socket.io.js"
        chmod -R go+rX "$clientdir"
        CLIENT_SCRIPT=$clientdir/socket.io.js
    fi
fi
case "${SERVE_CLIENT:-}" in
''|On|Off|on|off) ;;
*) die "SERVE_CLIENT must be On or Off (got '$SERVE_CLIENT')" ;;
esac

# The Admin UI: its files and the password file, where httpd's children
# can read them (the password file outside the document root).
ADMIN_UI_DIR=${ADMIN_UI_DIR:-}
if [ -n "$ADMIN_UI_DIR" ]; then
    [ -f "$ADMIN_UI_DIR/index.html" ] || die "ADMIN_UI_DIR $ADMIN_UI_DIR has no index.html (scripts/setup.sh installs @socket.io/admin-ui)"
    [ -f "${ADMIN_HTPASSWD:-}" ] || die "ADMIN_UI_DIR needs ADMIN_HTPASSWD, a password file (htpasswd -B)"
    rm -rf "$wwwdir/admin-ui"
    cp -R "$ADMIN_UI_DIR" "$wwwdir/admin-ui"
    if [ -n "${ADMIN_UI_ICONS:-}" ]; then
        [ -f "$ADMIN_UI_ICONS/css/materialdesignicons.min.css" ] || die "ADMIN_UI_ICONS $ADMIN_UI_ICONS is not @mdi/font"
        mkdir -p "$wwwdir/admin-ui/mdi"
        cp -R "$ADMIN_UI_ICONS/css" "$ADMIN_UI_ICONS/fonts" "$wwwdir/admin-ui/mdi/"
        sed -i -e 's#https://cdn.jsdelivr.net/npm/@mdi/font@latest/css/#mdi/css/#' \
            -e 's#<link rel="stylesheet" href="https://fonts.googleapis.com/[^>]*>##' \
            "$wwwdir/admin-ui/index.html"
    fi
    chmod -R u+rwX,go+rX "$wwwdir/admin-ui"
    cp "$ADMIN_HTPASSWD" "$wwwdir/admin-ui.htpasswd"
    if [ -n "$RUN_USER" ]; then
        chown "root:$RUN_GROUP" "$wwwdir/admin-ui.htpasswd"
        chmod 0640 "$wwwdir/admin-ui.htpasswd"
    else
        chmod 0600 "$wwwdir/admin-ui.htpasswd"
    fi
fi
# Our own mime.types keeps the instance independent of the system's.
cat >"$RUNDIR/mime.types" <<'EOF'
text/html html htm
text/plain txt
text/css css
text/javascript js mjs
application/json json map
image/png png
image/svg+xml svg
image/x-icon ico
font/woff2 woff2
font/woff woff
font/ttf ttf
application/vnd.ms-fontobject eot
EOF

# The modules compiled into httpd. Asked again a few times before giving
# up: on a loaded machine the command can fail to start (fork), and an
# empty list would be taken for "nothing compiled in".
builtin=
for _ in 1 2 3 4 5; do
    builtin=$("$HTTPD" -l 2>/dev/null || true)
    case $builtin in *core.c*) break ;; esac
    sleep 1
done
case $builtin in
    *core.c*) ;;
    *) die "'$HTTPD -l' did not list httpd's compiled-in modules" ;;
esac
load() { # load NAME FILE: LoadModule unless compiled in
    if printf '%s\n' "$builtin" | grep -qx "  $2.c"; then return; fi
    if [ ! -f "$MODDIR/$2.so" ]; then
        # no file: compiled in after all? Under load the first answer of
        # '$HTTPD -l' has been seen cut short; ask again before giving up.
        for _ in 1 2 3; do
            sleep 1
            if "$HTTPD" -l 2>/dev/null | grep -qx "  $2.c"; then return; fi
        done
        die "$MODDIR/$2.so missing"
    fi
    printf 'LoadModule %s_module %s/%s.so\n' "$1" "$MODDIR" "$2"
}

TLS_PORT=${TLS_PORT:-}
if [ -n "$TLS_PORT" ]; then
    if [ -z "${TLS_CERT:-}" ]; then
        TLS_CERT=$RUNDIR/tls/cert.pem
        TLS_KEY=$RUNDIR/tls/key.pem
        if [ ! -f "$TLS_CERT" ] || [ ! -f "$TLS_KEY" ]; then
            mkdir -p "$RUNDIR/tls"
            openssl req -x509 -newkey rsa:2048 -nodes -days 30 \
                -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
                -addext "basicConstraints=critical,CA:FALSE" \
                -keyout "$TLS_KEY" -out "$TLS_CERT" >/dev/null 2>&1 \
                || die "openssl could not make a test certificate"
        fi
    fi
    TLS_KEY=${TLS_KEY:-$TLS_CERT}
fi

# php-fpm: a private pool whose socket httpd's children can reach, run as
# httpd's user; the caller starts the master (serve.sh does).
if [ "${FPM:-0}" = 1 ]; then
    FPM_BIN=$(ls /usr/sbin/php-fpm* 2>/dev/null | sort -V | tail -n 1)
    [ -n "$FPM_BIN" ] || die "php-fpm missing (scripts/setup.sh installs php-fpm)"
    FPM_CONF=$RUNDIR/php-fpm.conf
    FPM_PM=${FPM_PM:-dynamic}
    case $FPM_PM in
    dynamic|static) ;;
    *) die "FPM_PM must be dynamic or static (got '$FPM_PM')" ;;
    esac
    FPM_SOCKET=$wwwdir/php-fpm.sock
    {
        echo "; Generated by scripts/httpd-conf.sh for $RUNDIR — do not edit."
        echo "[global]"
        echo "pid = $RUNDIR/run/php-fpm.pid"
        echo "error_log = $LOGDIR/php-fpm.log"
        echo "daemonize = no"
        echo "[site]"
        if [ -n "$RUN_USER" ]; then
            echo "user = $RUN_USER"
            echo "group = $RUN_GROUP"
            echo "listen.owner = $RUN_USER"
            echo "listen.group = $RUN_GROUP"
        fi
        echo "listen = $FPM_SOCKET"
        echo "listen.mode = 0660"
        # Debian's pool defaults: enough workers for a page probe beside a
        # crowd of Socket.IO clients, started before the first request.
        echo "pm = $FPM_PM"
        echo "pm.max_children = ${FPM_CHILDREN:-5}"
        echo "pm.start_servers = 2"
        echo "pm.min_spare_servers = 1"
        echo "pm.max_spare_servers = 3"
    } >"$FPM_CONF"
fi

CONF=$RUNDIR/httpd.conf
PIDFILE=$RUNDIR/run/httpd.pid
ERROR_LOG=$LOGDIR/error_log
ACCESS_LOG=$LOGDIR/access_log

{
    echo "# Generated by scripts/httpd-conf.sh for $RUNDIR — do not edit."
    echo "ServerRoot \"$RUNDIR\""
    echo "DefaultRuntimeDir \"$RUNDIR/run\""
    echo "PidFile \"$PIDFILE\""
    echo "ServerName 127.0.0.1"
    echo "Listen $BIND_ADDR:$PORT"
    echo
    load "mpm_$MPM" "mod_mpm_$MPM"
    for m in unixd:mod_unixd log_config:mod_log_config authz_core:mod_authz_core \
             authz_host:mod_authz_host authn_core:mod_authn_core \
             auth_basic:mod_auth_basic authn_file:mod_authn_file \
             authz_user:mod_authz_user mime:mod_mime dir:mod_dir alias:mod_alias \
             headers:mod_headers; do
        if [ "${m%%:*}" = unixd ] && [ -z "$RUN_USER" ]; then continue; fi
        load "${m%%:*}" "${m#*:}"
    done
    if [ -n "$TLS_PORT" ]; then
        load socache_shmcb mod_socache_shmcb
        load ssl mod_ssl
        if [ -n "${H2:-}" ]; then load http2 mod_http2; fi
    fi
    [ "${STATUS:-0}" = 1 ] && load status mod_status
    if [ "${FPM:-0}" = 1 ]; then
        load proxy mod_proxy
        load proxy_fcgi mod_proxy_fcgi
    elif [ "${CGI:-0}" = 1 ]; then
        if [ "$MPM" = prefork ]; then load cgi mod_cgi; else load cgid mod_cgid; fi
        load actions mod_actions
    fi
    if [ -n "${NODE:-}${PEERS:-}${BALANCE:-}" ]; then
        load proxy mod_proxy
        load proxy_http mod_proxy_http
    fi
    if [ -n "${BALANCE:-}" ]; then
        load slotmem_shm mod_slotmem_shm
        load proxy_balancer mod_proxy_balancer
        load lbmethod_byrequests mod_lbmethod_byrequests
    else
        echo "LoadModule socketio_module \"$MODULE\""
    fi
    echo
    if [ -n "$RUN_USER" ]; then
        echo "User $RUN_USER"
        echo "Group $RUN_GROUP"
    fi
    cat <<EOF
ErrorLog "$ERROR_LOG"
LogLevel $LOGLEVEL
LogFormat "%h %l %u %t \"%r\" %>s %b %D \"%{User-Agent}i\"" sio
CustomLog "$ACCESS_LOG" sio
TypesConfig "$RUNDIR/mime.types"
Timeout 60
MaxConnectionsPerChild 0
EOF
    # Keep-alive for polling clients: each poll and post reuses the
    # connection. KeepAliveTimeout is how long an idle one stays (also
    # under mpm_event, where mod_socketio keeps its connections out of the
    # MPM's keep-alive queue, which the MPM empties whenever its workers
    # are busy: docs/scaling.md); MaxKeepAliveRequests above Apache's 100,
    # so a polling client is not made to reconnect every 50 polls (that
    # close is announced, never a cut).
    cat <<'EOF'
KeepAlive On
KeepAliveTimeout 5
MaxKeepAliveRequests 1000
EOF
    # Stable children: idle-server maintenance must not stop a child holding
    # sessions' connections while a test counts processes and descriptors.
    case "$MPM" in
    prefork)
        cat <<'EOF'
StartServers 4
MinSpareServers 2
MaxSpareServers 150
ServerLimit 150
MaxRequestWorkers 150
EOF
        ;;
    *)
        cat <<'EOF'
StartServers 2
ServerLimit 8
ThreadsPerChild 25
MinSpareThreads 1
MaxSpareThreads 200
MaxRequestWorkers 200
EOF
        # Suspended WebSockets count toward a child's connection limit
        # (ThreadsPerChild x AsyncRequestWorkerFactor): raise the factor so a
        # child accepts thousands of them (docs/scaling.md).
        [ "$MPM" = event ] && echo "AsyncRequestWorkerFactor 1000"
        ;;
    esac
    cat <<EOF

DocumentRoot "$HTDOCS"
DirectoryIndex index.html
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory "$HTDOCS">
    Options FollowSymLinks
    AllowOverride None
    Require all granted
</Directory>
EOF
    if [ -n "${BALANCE:-}" ]; then
        # A front balancer: round-robin over the nodes, no stickiness (each
        # node forwards a request for another's session itself); the
        # readiness probe stays local.
        echo
        echo "<Proxy balancer://nodes>"
        for u in $BALANCE; do
            echo "    BalancerMember $u upgrade=websocket"
        done
        echo "    ProxySet lbmethod=byrequests"
        echo "</Proxy>"
        echo "ProxyPass /health.txt !"
        echo "ProxyPass / balancer://nodes/"
    else
    cat <<EOF

SocketIODaemonSocket "$SIOD_SOCKET"
SocketIODaemonSecret "$SIOD_SECRET"
EOF
    if [ "${PIN_CHILDREN:-0}" = 1 ]; then
        echo "# each child of a threaded MPM on one CPU (docs/directives.md)"
        echo "SocketIOPinChildren On"
    fi
    if [ "${SIOD_MANAGED:-0}" = 1 ]; then
        echo "# httpd starts siod, restarts it when it dies, stops it with httpd"
        echo "SocketIODaemon managed"
        echo "SocketIODaemonPath \"${SIOD_BIN:-$(cd "$BUILD" && pwd)/siod}\""
        [ -n "${SIOD_MANAGED_ARGS:-}" ] && echo "SocketIODaemonArgs $SIOD_MANAGED_ARGS"
    else
        echo "# siod is started by the caller (scripts/serve.sh, the tests)"
        echo "SocketIODaemon external"
    fi
    [ -n "${NODE:-}" ] && echo "SocketIONode $NODE"
    for p in ${PEERS:-}; do
        case $p in
        ?*=?*) echo "SocketIOPeer ${p%%=*} ${p#*=}" ;;
        *) die "PEERS: expected TAG=URL, got '$p'" ;;
        esac
    done
    [ -n "$CLIENT_SCRIPT" ] && echo "SocketIOClientScript \"$CLIENT_SCRIPT\""
    # a server-wide directive: outside <Location>
    [ -n "${REPLY_TIMEOUT:-}" ] && echo "SocketIOReplyTimeout $REPLY_TIMEOUT"
    cat <<EOF
<Location /socket.io/>
    SocketIO On
EOF
    [ -n "${SERVE_CLIENT:-}" ] && echo "    SocketIOServeClient $SERVE_CLIENT"
    [ -n "${TRANSPORTS:-}" ] && echo "    SocketIOTransports $TRANSPORTS"
    [ -n "${UPGRADES:-}" ] && echo "    SocketIOAllowUpgrades $UPGRADES"
    [ "${ALLOW_EIO3:-0}" = 1 ] && echo "    SocketIOAllowEIO3 On"
    [ "${WS_DEFLATE:-0}" = 1 ] && echo "    SocketIOWebSocketCompression On"
    [ -n "${WS_DEFLATE_MIN:-}" ] && echo "    SocketIOWebSocketCompressionThreshold $WS_DEFLATE_MIN"
    [ -n "${CORS:-}" ] && echo "    SocketIOCorsOrigin $CORS"
    [ -n "${MAX_PAYLOAD:-}" ] && echo "    SocketIOMaxPayload $MAX_PAYLOAD"
    echo "</Location>"
    cat <<'EOF'

# The HTTP emit API (docs/emit-api.md): POST JSON to emit to rooms, fetch
# sockets, join/leave/disconnect them. Apache's access control guards it:
# here, callers on this machine only.
<Location /emit>
    SetHandler socketio-emit
    Require ip 127.0.0.0/8 ::1
</Location>

# Prometheus metrics of mod_socketio and siod, loopback only.
<Location /metrics>
    SetHandler socketio-metrics
    Require ip 127.0.0.0/8 ::1
</Location>
EOF
    fi
    if [ -n "$ADMIN_UI_DIR" ]; then
        cat <<EOF

# The Socket.IO Admin UI (docs/admin-ui.md): its pages and, under them, a
# Socket.IO endpoint of its own where siod's admin application serves
# /admin to users httpd authenticated (it refuses sockets without one).
# The browser sends the credentials it gave for the pages to the endpoint.
Alias /admin-ui/ "$wwwdir/admin-ui/"
<Directory "$wwwdir/admin-ui">
    Require all granted
</Directory>
<Location /admin-ui/>
    AuthType Basic
    AuthName "Socket.IO Admin UI"
    AuthUserFile "$wwwdir/admin-ui.htpasswd"
    Require valid-user
</Location>
<Location /admin-ui/socket.io/>
    SocketIO On
</Location>
EOF
    fi
    if [ "${STATUS:-0}" = 1 ]; then
        cat <<'EOF'

# Apache's scoreboard (BusyWorkers, IdleWorkers, connections), loopback only.
<Location /server-status>
    SetHandler server-status
    Require ip 127.0.0.0/8 ::1
</Location>
EOF
    fi
    if [ -n "$HANDLERS_URL" ]; then
        cat <<'EOF'

# Socket.IO callback handlers: siod's to call, nobody else's.
<Location /socketio-handlers/>
    Require local
</Location>
EOF
    fi
    if [ "${FPM:-0}" = 1 ]; then
        cat <<EOF

# PHP through php-fpm (a private pool, $FPM_CONF): how an mpm_event site
# runs PHP, with no process start per request.
<FilesMatch "\\.php\$">
    SetHandler "proxy:unix:$FPM_SOCKET|fcgi://localhost"
</FilesMatch>
EOF
    elif [ "${CGI:-0}" = 1 ]; then
        cat <<'EOF'

# PHP through Debian's php-cgi (mod_actions + mod_cgi/mod_cgid).
ScriptAlias /cgi-bin/ /usr/lib/cgi-bin/
<Directory /usr/lib/cgi-bin>
    Options +ExecCGI
    Require all granted
</Directory>
Action php-script /cgi-bin/php virtual
AddHandler php-script .php
EOF
        # mod_cgid's socket defaults to DefaultRuntimeDir, which www-data
        # cannot reach (or whose path is too long) when wwwdir moved to /tmp.
        if [ "$MPM" != prefork ] && [ "$wwwdir" != "$RUNDIR" ]; then
            echo "ScriptSock \"$wwwdir/cgisock\""
        fi
    fi
    if [ -n "$TLS_PORT" ]; then
        cat <<EOF

Listen $BIND_ADDR:$TLS_PORT
SSLSessionCache "shmcb:$RUNDIR/run/ssl_scache(512000)"
<VirtualHost $BIND_ADDR:$TLS_PORT>
    SSLEngine on
    SSLCertificateFile "$TLS_CERT"
    SSLCertificateKeyFile "$TLS_KEY"
EOF
        if [ -n "${H2:-}" ]; then
            echo "    Protocols h2 http/1.1"
            if [ "$H2" = nows ]; then echo "    H2WebSockets Off"
            else echo "    H2WebSockets On"; fi
        fi
        echo "</VirtualHost>"
    fi
    if [ -n "${EXTRA_CONF:-}" ]; then
        printf '\n# EXTRA_CONF\n%s\n' "$EXTRA_CONF"
    fi
    if [ -n "${EXTRA_CONF_FILE:-}" ]; then
        printf '\nInclude "%s"\n' "$(cd "$(dirname "$EXTRA_CONF_FILE")" && pwd)/$(basename "$EXTRA_CONF_FILE")"
    fi
} >"$CONF.tmp"
mv "$CONF.tmp" "$CONF"

q() { printf "%s='%s'\n" "$1" "$2"; }
q CONF "$CONF"
q PIDFILE "$PIDFILE"
q ERROR_LOG "$ERROR_LOG"
q ACCESS_LOG "$ACCESS_LOG"
q SIOD_SOCKET "$SIOD_SOCKET"
q SIOD_SECRET "$SIOD_SECRET"
q SIOD_UIDS "$SIOD_UIDS"
q HTDOCS "$HTDOCS"
q RUNDIR "$RUNDIR"
q RUN_USER "$RUN_USER"
q CLIENT_SCRIPT "$CLIENT_SCRIPT"
q HANDLERS_URL "$HANDLERS_URL"
if [ "${FPM:-0}" = 1 ]; then
    q FPM_CONF "$FPM_CONF"
    q FPM_SOCKET "$FPM_SOCKET"
    q FPM_BIN "$FPM_BIN"
fi
