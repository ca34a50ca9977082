#!/bin/bash
# Builds the Debian packages (libapache2-mod-socketio, siod) from this tree
# into DEB_OUT and checks them with lintian; `make deb` runs it. The build
# happens in a copy of the tree under DEB_OUT/src, so debian/'s build
# products never land in the working tree; what the build needs is
# installed first when missing, as scripts/setup.sh does.
#
# Inputs (environment): DEB_OUT (default <repo>/build/deb);
# DEB_BUILD_OPTIONS (default parallel=2; nocheck skips make unit).
# Output: DEB_OUT/*.deb, *.changes, *.buildinfo, lintian.txt.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
out=${DEB_OUT:-$repo/build/deb}

say() { echo "deb: $*"; }
die() { echo "deb: $*" >&2; exit 1; }

# What dpkg-buildpackage and the checks need besides debian/control's
# Build-Depends (dpkg-checkbuilddeps then checks those).
TOOLS="dpkg-dev debhelper lintian"
BUILD_DEPS="apache2-dev libevent-dev libjson-c-dev libhiredis-dev libmsgpack-dev zlib1g-dev pkg-config"

sudo_cmd=
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then
    sudo_cmd=sudo
fi
missing=
# shellcheck disable=SC2086 # a list of names
installed=$(dpkg-query -W -f='${Package} ${Status}\n' $TOOLS $BUILD_DEPS 2>/dev/null \
            | awk '$NF == "installed" { print $1 }') || true
for p in $TOOLS $BUILD_DEPS; do
    printf '%s\n' "$installed" | grep -qx "$p" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ] && [ -z "$sudo_cmd" ]; then
        die "missing Debian packages:$missing — run as root or install sudo"
    fi
    say "installing Debian packages:$missing"
    $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get update -q
    # shellcheck disable=SC2086
    $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends $missing
fi

version=$(cd "$repo" && dpkg-parsechangelog -S Version)
src=$(cd "$repo" && dpkg-parsechangelog -S Source)
stage=$out/src
tree=$stage/$src-$version

# A copy of the tree without build products, dependencies or git data
# (DEB_OUT too, when it lies inside the tree).
rm -rf "$stage"
mkdir -p "$tree"
excludes=(--exclude=./.git --exclude=./build --exclude=./build-san
          --exclude=node_modules)
case "$out/" in
"$repo"/*) excludes+=("--exclude=./${out#"$repo"/}") ;;
esac
(cd "$repo" && tar -cf - "${excludes[@]}" .) | tar -xf - -C "$tree"

say "building $src $version in $tree"
(cd "$tree" && DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-parallel=2} \
    dpkg-buildpackage -b -us -uc) >"$out/build.log" 2>&1 || {
    tail -n 40 "$out/build.log" >&2
    die "dpkg-buildpackage failed; its log: $out/build.log"
}

rm -f "$out"/*.deb "$out"/*.changes "$out"/*.buildinfo
mv "$stage"/*.deb "$stage"/*.changes "$stage"/*.buildinfo "$out"/
rm -rf "$stage"

# lintian: no error and no warning; each tag the packages keep on purpose
# is overridden, with why, in debian/<package>.lintian-overrides.
changes=$(ls "$out"/"${src}"_"${version}"_*.changes)
# (lintian's note that it runs as root is no finding: left out.)
set +e
lintian --fail-on error,warning --display-info "$changes" 2>&1 \
    | grep -v 'running with root privileges' >"$out/lintian.txt"
status=${PIPESTATUS[0]}
set -e
if [ "$status" != 0 ]; then
    cat "$out/lintian.txt" >&2
    die "lintian found problems (above; also $out/lintian.txt)"
fi
say "lintian: $(grep -c . "$out/lintian.txt" || true) line(s) of info, no error or warning ($out/lintian.txt)"
for f in "$out"/*.deb; do say "built $f"; done
