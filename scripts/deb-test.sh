#!/bin/bash
# Checks the Debian packages `make deb` left in DEB_OUT (`make deb-test`):
# their files and control data, their maintainer scripts (syntax, and a dry
# run against stand-ins for apache2-maintscript-helper and
# deb-systemd-helper), socketio.load and socketio.conf under `apache2 -t`,
# and then the packaged module and siod themselves, extracted into a
# scratch root: a private httpd loads the module and starts that siod
# (managed), which must find its applications where the package put them,
# and answers a Socket.IO handshake, a chat event and a static page.
#
# Inputs (environment): DEB_OUT (default <repo>/build/deb), PORT (default:
# a free one). Exits 0 when every check passes; prints one line per check.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
out=${DEB_OUT:-$repo/build/deb}
HTTPD=${HTTPD:-/usr/sbin/apache2}
MODDIR=/usr/lib/apache2/modules

version=$(dpkg-parsechangelog -l "$repo/debian/changelog" -S Version)
arch=$(dpkg --print-architecture)
mod_deb=$out/libapache2-mod-socketio_${version}_${arch}.deb
siod_deb=$out/siod_${version}_${arch}.deb
for f in "$mod_deb" "$siod_deb"; do
    [ -f "$f" ] || { echo "deb-test: $f missing (make deb)" >&2; exit 1; }
done

work=$out/test
root=$work/root
rm -rf "$work"
mkdir -p "$root" "$work/ctl-mod" "$work/ctl-siod" "$work/t"
dpkg-deb -x "$mod_deb" "$root"
dpkg-deb -x "$siod_deb" "$root"
dpkg-deb -e "$mod_deb" "$work/ctl-mod"
dpkg-deb -e "$siod_deb" "$work/ctl-siod"

failures=0
# check DESCRIPTION COMMAND...: runs COMMAND, prints ok or FAIL.
check() {
    local what=$1
    shift
    if "$@"; then
        echo "ok    $what"
    else
        echo "FAIL  $what"
        failures=$((failures + 1))
    fi
}
# has FILE TEXT: FILE contains the fixed string TEXT.
has() { grep -qF -- "$2" "$1"; }
lacks() { ! grep -qF -- "$2" "$1"; }
lacks_re() { ! grep -qE -- "$2" "$1"; }

# ---- files and control data -------------------------------------------
for f in usr/lib/apache2/modules/mod_socketio.so \
         etc/apache2/mods-available/socketio.load \
         etc/apache2/mods-available/socketio.conf \
         usr/sbin/siod usr/lib/siod/apps/echo.so usr/lib/siod/apps/chat.so \
         usr/lib/siod/apps/bench.so usr/include/siod_app.h \
         lib/systemd/system/siod.service usr/share/man/man8/siod.8.gz; do
    check "packaged: /$f" test -s "$root/$f"
done
for f in "$repo"/tests/apps/*.c; do
    n=$(basename "$f" .c)
    check "test application $n.so not packaged" test ! -e "$root/usr/lib/siod/apps/$n.so"
done
check "libapache2-mod-socketio depends on siod (= $version)" \
    has <(dpkg-deb -f "$mod_deb" Depends) "siod (= $version)"
check "libapache2-mod-socketio depends on httpd's module API" \
    has <(dpkg-deb -f "$mod_deb" Depends) "apache2-api-"
for f in socketio.load socketio.conf; do
    check "$f is a conffile" has "$work/ctl-mod/conffiles" "/etc/apache2/mods-available/$f"
done
check "the module's default SocketIODaemonPath is /usr/sbin/siod" \
    has "$root/$MODDIR/mod_socketio.so" /usr/sbin/siod
check "the module names no /usr/local siod" \
    lacks "$root/$MODDIR/mod_socketio.so" /usr/local/sbin/siod
check "socketio.conf speaks of /usr/sbin/siod" \
    has "$root/etc/apache2/mods-available/socketio.conf" "SocketIODaemonPath /usr/sbin/siod"
# the unit's ExecStart, its continued lines joined
check "siod.service runs /usr/sbin/siod with /usr/lib/siod/apps" \
    grep -qE '^ExecStart=/usr/sbin/siod .*-A /usr/lib/siod/apps' \
    <(sed -e ':a' -e '/\\$/{N;s/\\\n//;ba' -e '}' "$root/lib/systemd/system/siod.service")
check "no /usr/local siod left in the packages' configuration" \
    lacks_re <(cat "$root"/etc/apache2/mods-available/* "$root/lib/systemd/system/siod.service") \
        '/usr/local/(sbin/siod|lib/siod)'

# ---- maintainer scripts ------------------------------------------------
for s in "$work"/ctl-mod/{preinst,postinst,prerm,postrm} "$work"/ctl-siod/{preinst,postinst,prerm,postrm}; do
    [ -f "$s" ] || continue
    check "sh -n ${s#"$work"/}" sh -n "$s"
done

# A dry run: each script, its helper paths pointed at stand-ins that log
# their calls, run with dpkg's arguments for one step.
stub=$work/stub
mkdir -p "$stub/bin"
cat >"$stub/apache2-maintscript-helper" <<EOF
apache2_invoke() { echo "apache2_invoke \$*" >>"$stub/calls"; }
EOF
cat >"$stub/bin/deb-systemd-helper" <<EOF
#!/bin/sh
echo "deb-systemd-helper \$*" >>"$stub/calls"
# a fresh install: known to the package system, never enabled by hand
case "\$1" in --quiet) shift ;; esac
case "\$1" in debian-installed) exit 0 ;; was-enabled|is-enabled) exit 1 ;; esac
exit 0
EOF
for t in systemctl deb-systemd-invoke; do
    printf '#!/bin/sh\necho "%s $*" >>"%s/calls"\n' "$t" "$stub" >"$stub/bin/$t"
done
chmod +x "$stub"/bin/*
# dry SCRIPT ARGS...: the calls SCRIPT makes when dpkg runs it with ARGS.
dry() {
    local s=$1
    shift
    : >"$stub/calls"
    sed -e "s|/usr/share/apache2/apache2-maintscript-helper|$stub/apache2-maintscript-helper|g" \
        -e "s|/usr/bin/deb-systemd-helper|$stub/bin/deb-systemd-helper|g" \
        "$s" >"$stub/script"
    # never the real helpers: they would change this machine's httpd
    if grep -qE '^[^#]*/usr/(share/apache2|bin)/[a-z0-9-]*helper' "$stub/script"; then
        echo "a helper left unstubbed"
        return
    fi
    PATH=$stub/bin:$PATH sh "$stub/script" "$@" >/dev/null 2>&1 || echo "exit $?" >>"$stub/calls"
    cat "$stub/calls"
}
check "postinst configure enables the module (a2enmod socketio)" \
    has <(dry "$work/ctl-mod/postinst" configure) "apache2_invoke enmod socketio"
check "prerm remove disables the module" \
    has <(dry "$work/ctl-mod/prerm" remove) "apache2_invoke dismod socketio"
check "prerm upgrade leaves the module enabled" \
    test -z "$(dry "$work/ctl-mod/prerm" upgrade "$version")"
check "postrm purge disables the module" \
    has <(dry "$work/ctl-mod/postrm" purge) "apache2_invoke dismod socketio"
check "postrm remove does nothing more" \
    test -z "$(dry "$work/ctl-mod/postrm" remove)"
check "siod's postinst configure does not enable siod.service" \
    lacks <(dry "$work/ctl-siod/postinst" configure) "deb-systemd-helper enable"
check "siod's postinst configure records the unit's state" \
    has <(dry "$work/ctl-siod/postinst" configure) "deb-systemd-helper update-state siod.service"
check "siod's postinst configure runs without error" \
    lacks <(dry "$work/ctl-siod/postinst" configure) "exit "

# ---- socketio.load and socketio.conf under apache2 -t ------------------
# The .load file, its module path moved into the scratch root; the .conf as
# shipped, and again with every directive it shows uncommented.
sed "s|$MODDIR/mod_socketio.so|$root$MODDIR/mod_socketio.so|" \
    "$root/etc/apache2/mods-available/socketio.load" >"$work/t/socketio.load"
check "socketio.load loads the packaged module" \
    has "$work/t/socketio.load" "LoadModule socketio_module $root$MODDIR/mod_socketio.so"
sed -E 's/^([[:space:]]*)#([[:space:]]*)(SocketIO[A-Za-z]*|<\/?Location|<\/?IfModule|KeepAlive[A-Za-z]*|MaxKeepAliveRequests|AsyncRequestWorkerFactor|MaxConnectionsPerChild|SetHandler|Require)([[:space:]>]|$)/\1\2\3\4/' \
    "$root/etc/apache2/mods-available/socketio.conf" >"$work/t/socketio-all.conf"
check "the uncommented socketio.conf has a SocketIO On location" \
    grep -qE '^[[:space:]]*SocketIO On' "$work/t/socketio-all.conf"
# syntax CONF: apache2 -t with socketio.load and CONF.
syntax() {
    cat >"$work/t/httpd.conf" <<EOF
ServerRoot "$work/t"
ServerName localhost
DefaultRuntimeDir "$work/t"
PidFile "$work/t/httpd.pid"
ErrorLog "$work/t/error.log"
Listen 127.0.0.1:8
LoadModule mpm_event_module $MODDIR/mod_mpm_event.so
LoadModule authz_core_module $MODDIR/mod_authz_core.so
LoadModule authz_host_module $MODDIR/mod_authz_host.so
Include "$work/t/socketio.load"
Include "$1"
# the packaged siod, in the scratch root (configtest runs it with --check)
SocketIODaemonPath "$root/usr/sbin/siod"
EOF
    "$HTTPD" -t -f "$work/t/httpd.conf" >"$work/t/syntax.log" 2>&1 ||
        { cat "$work/t/syntax.log" >&2; return 1; }
}
check "apache2 -t: socketio.load + socketio.conf as shipped" \
    syntax "$root/etc/apache2/mods-available/socketio.conf"
check "apache2 -t: socketio.load + socketio.conf, every directive on" \
    syntax "$work/t/socketio-all.conf"

# ---- the packaged module and siod in a private httpd -------------------
port=${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
siod_bin=$root/usr/sbin/siod
# No -A: siod must find chat.so in ../lib/siod/apps from its own place.
if ! vars=$(RUNDIR=$work/run PORT=$port MPM=event SIOD_MANAGED=1 \
             SIOD_BIN=$siod_bin SIOD_MANAGED_ARGS='-a chat' \
             MODULE=$root$MODDIR/mod_socketio.so HTTPD=$HTTPD \
             "$here/httpd-conf.sh"); then
    echo "FAIL  httpd configuration written (scripts/httpd-conf.sh)"
    exit 1
fi
eval "$vars"

httpd_pid=
stop_httpd() {
    [ -n "$httpd_pid" ] || return 0
    "$HTTPD" -f "$CONF" -k stop >/dev/null 2>&1 || kill -TERM "$httpd_pid" 2>/dev/null || true
    for _ in $(seq 300); do
        kill -0 "$httpd_pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -0 "$httpd_pid" 2>/dev/null && kill -KILL "$httpd_pid" 2>/dev/null
    httpd_pid=
}
cleanup() {
    stop_httpd
    if [ -f "$RUNDIR/.wwwdir" ]; then rm -rf "$(cat "$RUNDIR/.wwwdir")"; fi
}
trap cleanup EXIT

# siod_pids: the processes running the extracted siod.
siod_pids() {
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/exe" 2>/dev/null)" = "$siod_bin" ] && echo "${p#/proc/}"
    done
    return 0
}

"$HTTPD" -f "$CONF" -k start
for _ in $(seq 100); do
    [ -s "$PIDFILE" ] && break
    sleep 0.05
done
httpd_pid=$(cat "$PIDFILE" 2>/dev/null || true)
base=http://127.0.0.1:$port
ready=0
for _ in $(seq 200); do
    if curl -fsS -o /dev/null --max-time 1 "$base/health.txt" 2>/dev/null; then
        ready=1; break
    fi
    sleep 0.05
done
check "httpd with the packaged module starts" test "$ready" = 1
[ "$ready" = 1 ] || tail -n 20 "$ERROR_LOG" >&2

check "a static page is served" \
    has <(curl -fsS --max-time 5 "$base/index.html") "This page is served by Apache httpd."

eio=$base'/socket.io/?EIO=4&transport=polling'
hs=$(curl -fsS --max-time 10 "$eio" || true)
sid=$(printf '%s' "$hs" | sed -nE 's/^0\{"sid":"([^"]+)".*/\1/p')
check "Engine.IO handshake: open packet with a sid" test -n "$sid"
check "the managed siod runs from the package's files" test -n "$(siod_pids)"

# post BODY / poll: one long-polling request of session $sid.
post() {
    curl -fsS --max-time 10 -H 'Content-Type: text/plain;charset=UTF-8' \
        --data-raw "$1" "$eio&sid=$sid"
}
poll() { curl -fsS --max-time 35 "$eio&sid=$sid"; }
check "Socket.IO CONNECT accepted" has <(post 40) ok
check "Socket.IO CONNECT answered by the chat application" has <(poll) '40{"sid":"'
check "chat message posted" has <(post '42["chat message","from the package test"]') ok
check "chat message broadcast back by chat.so from /usr/lib/siod/apps" \
    has <(poll) '42["chat message",{"id":'

stop_httpd
check "siod stops with httpd" test -z "$(siod_pids)"

if [ "$failures" -gt 0 ]; then
    echo "deb-test: $failures check(s) failed (logs: $work)" >&2
    exit 1
fi
echo "deb-test: all checks passed ($mod_deb, $siod_deb)"
