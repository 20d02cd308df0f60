#!/usr/bin/env bash
# Build (or reuse) a Debian 13 "trixie" chroot with GIMP 3 and its Python 3 plug-in support, for
# the GIMP end-to-end test (tests/gimp/test_gimp_e2e.py). Debian 12 only has GIMP 2.10.
#
#   bash tests/editors/setup_gimp.sh      # as root (it re-runs itself with sudo otherwise)
#
# Location: $IMPASTO_GIMP_CHROOT, default /var/cache/impasto/gimp3-chroot (the test looks there
# too). Idempotent: when the chroot is complete (its stamp matches the package list) it only checks
# that gimp-console-3.0 runs and exits within a second or two. A half-built chroot is never used:
# it is built beside the target and renamed into place only once it works.
set -euo pipefail

ROOT="${IMPASTO_GIMP_CHROOT:-/var/cache/impasto/gimp3-chroot}"
PACKAGES="gimp python3 python3-gi gir1.2-gimp-3.0 python3-zmq python3-msgpack"
STAMP="$ROOT/.impasto-gimp-chroot"
WANT="trixie $PACKAGES"

say() { echo "[setup_gimp] $*"; }

works() {
    [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] &&
        chroot "$ROOT" env -i PATH=/usr/bin:/bin gimp-console-3.0 --version >/dev/null 2>&1
}

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then
        exec sudo IMPASTO_GIMP_CHROOT="$ROOT" bash "$0" "$@"
    fi
    echo "[setup_gimp] needs root (debootstrap, mount, chroot); run it as root" >&2
    exit 1
fi

mkdir -p "$(dirname "$ROOT")"
exec 9>"$ROOT.lock"
flock 9 # one builder at a time; a second caller waits and then finds the chroot ready

if works; then
    say "GIMP 3 chroot ready at $ROOT ($(chroot "$ROOT" gimp-console-3.0 --version 2>/dev/null))"
    exit 0
fi

start=$(date +%s)
BUILD="$ROOT.build"
cleanup() {
    mountpoint -q "$BUILD/proc" && umount "$BUILD/proc" || true
}
trap cleanup EXIT
cleanup
rm -rf "$BUILD"

if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap"
    apt-get -o DPkg::Lock::Timeout=600 update -q
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q debootstrap
fi

say "debootstrap trixie into $BUILD (about a minute)"
# No mirror argument: debootstrap uses its default Debian mirror.
debootstrap --variant=minbase trixie "$BUILD" >"$BUILD.log" 2>&1 || {
    tail -n 30 "$BUILD.log" >&2
    exit 1
}
mount -t proc proc "$BUILD/proc"
say "installing $PACKAGES (about a minute)"
chroot "$BUILD" apt-get update -q
chroot "$BUILD" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends $PACKAGES
chroot "$BUILD" apt-get clean
cleanup
chroot "$BUILD" env -i PATH=/usr/bin:/bin gimp-console-3.0 --version
echo "$WANT" >"$BUILD/.impasto-gimp-chroot"

if [ -d "$ROOT" ]; then
    mountpoint -q "$ROOT/proc" && umount "$ROOT/proc"
    rm -rf "$ROOT"
fi
mv "$BUILD" "$ROOT"
rm -f "$BUILD.log"
say "GIMP 3 chroot built at $ROOT in $(($(date +%s) - start)) s"
