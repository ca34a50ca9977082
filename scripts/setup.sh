#!/bin/bash
# Installs what building and testing mod_socketio + siod needs on Debian 12,
# and only what is missing: Debian packages (one `apt-get update` first, only
# when something is missing) and the pinned npm packages under tests/ (`npm
# ci` only when tests/node_modules is missing or package-lock.json changed).
# Safe to run again; a run that finds everything in place takes well under 2 s.
# --browser also installs what the browser check needs (`make e2e`):
# Debian's chromium and the pinned playwright-core under tests/e2e/.
set -euo pipefail

browser=0
for arg in "$@"; do
    case "$arg" in
    --browser) browser=1 ;;
    *) echo "usage: scripts/setup.sh [--browser]" >&2; exit 2 ;;
    esac
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

PACKAGES="apache2 apache2-dev libevent-dev libjson-c-dev libhiredis-dev libmsgpack-dev zlib1g-dev
libcurl4-openssl-dev
redis-server pkg-config php-cgi php-fpm php-cli
clang libclang-rt-14-dev make gcc curl openssl nodejs npm python3 shellcheck"
if [ "$browser" = 1 ]; then
    PACKAGES="$PACKAGES chromium fonts-dejavu-core"
fi

say() { echo "setup: $*"; }

sudo_cmd=
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo_cmd=sudo
    fi
fi

# Node.js and npm may come from elsewhere than Debian (NodeSource's nodejs
# ships npm itself and conflicts with Debian's npm): working commands count.
node_ok() {
    command -v node >/dev/null 2>&1 || return 1
    local major
    major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) || return 1
    [ "${major:-0}" -ge 18 ]
}

missing=
# shellcheck disable=SC2086 # a list of names
installed=$(dpkg-query -W -f='${Package} ${Status}\n' $PACKAGES 2>/dev/null \
            | awk '$NF == "installed" { print $1 }') || true
for p in $PACKAGES; do
    case "$p" in
    nodejs) node_ok && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
    esac
    if ! printf '%s\n' "$installed" | grep -qx "$p"; then
        missing="$missing $p"
    fi
done

if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ] && [ -z "$sudo_cmd" ]; then
        say "missing Debian packages:$missing — run as root or install sudo" >&2
        exit 1
    fi
    say "installing Debian packages:$missing"
    $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get update -q
    # shellcheck disable=SC2086
    $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends $missing
    # Debian starts the system apache2 service on install (port 80,
    # /etc/apache2). Our instances use their own ports and configuration, so
    # it is left alone.
fi

node_ok || { say "Node.js >= 18 is required (found: $(node --version 2>/dev/null || echo none))" >&2; exit 1; }

# npm_ci DIR: the npm packages DIR/package-lock.json pins, unless already
# installed from that very lock file.
npm_ci() {
    local dir=$1 stamp want have
    stamp=$dir/node_modules/.setup-lock-sha256
    want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
    have=$(cat "$stamp" 2>/dev/null || true)
    if [ ! -d "$dir/node_modules" ] || [ "$want" != "$have" ]; then
        say "installing npm packages in ${dir#"$repo"/}/ (npm ci)"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
        printf '%s\n' "$want" >"$stamp"
    fi
}

# npm packages for the integration tests, pinned by tests/package-lock.json;
# among them @socket.io/admin-ui and @mdi/font, the built UI and its icons
# make serve ADMIN_UI=1 serves (docs/admin-ui.md).
npm_ci "$repo/tests"
# The browser check drives Debian's chromium with playwright-core; it never
# downloads a browser of its own.
if [ "$browser" = 1 ]; then
    npm_ci "$repo/tests/e2e"
    [ -x /usr/bin/chromium ] || { say "/usr/bin/chromium missing after install" >&2; exit 1; }
fi

if [ -z "$missing" ]; then
    say "all Debian packages present; npm packages up to date"
fi
