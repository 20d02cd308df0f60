#!/usr/bin/env bash
# Build (or reuse) a Debian chroot holding editors newer than Debian 12 packages, for the editor
# end-to-end tests. Sourced by setup_gimp.sh, setup_krita_trixie.sh (Debian 13 "trixie") and
# setup_forky.sh (Debian "forky"), which set:
#
#   CHROOT_SUITE     the Debian suite (codename) to bootstrap; trixie when unset
#   CHROOT_VAR       the environment variable that names the chroot's folder
#   CHROOT_DEFAULT   its folder when that variable is unset
#   CHROOT_PACKAGES  what to install in it (space-separated)
#   CHROOT_CHECK     a shell command run inside (env -i PATH=/usr/bin:/bin) that proves it works
#   CHROOT_NAME      for messages and the stamp file
#
# Idempotent: when the chroot is complete (its stamp matches the package list) it only runs the
# check. A half-built chroot is never used: it is built beside the target and renamed into place
# only once the check passes. Needs root: the calling script re-runs itself with sudo.
set -euo pipefail

say() { echo "[setup_${CHROOT_NAME}] $*"; }

CHROOT_ROOT="${!CHROOT_VAR:-$CHROOT_DEFAULT}"
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then
        exec sudo "$CHROOT_VAR=$CHROOT_ROOT" bash "$0" "$@"
    fi
    say "needs root (debootstrap, mount, chroot); run it as root" >&2
    exit 1
fi

CHROOT_SUITE="${CHROOT_SUITE:-trixie}"
STAMP="$CHROOT_ROOT/.impasto-${CHROOT_NAME}-chroot"
WANT="$CHROOT_SUITE $CHROOT_PACKAGES"

works() {
    [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] &&
        chroot "$CHROOT_ROOT" env -i PATH=/usr/bin:/bin sh -c "$CHROOT_CHECK" >/dev/null 2>&1
}

mkdir -p "$(dirname "$CHROOT_ROOT")"
exec 9>"$CHROOT_ROOT.lock"
flock 9 # one builder at a time; a second caller waits and then finds the chroot ready

if works; then
    say "chroot ready at $CHROOT_ROOT"
    exit 0
fi

start=$(date +%s)
BUILD="$CHROOT_ROOT.build"
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

# A debootstrap older than the suite has no script of that name: every Debian suite since
# bookworm bootstraps with the "sid" one.
script=()
if [ ! -e "/usr/share/debootstrap/scripts/$CHROOT_SUITE" ]; then
    script=(sid)
fi
say "debootstrap $CHROOT_SUITE into $BUILD (about a minute)"
# An empty mirror argument: debootstrap uses its default Debian mirror.
debootstrap --variant=minbase "$CHROOT_SUITE" "$BUILD" "" "${script[@]}" >"$BUILD.log" 2>&1 || {
    tail -n 30 "$BUILD.log" >&2
    exit 1
}
mount -t proc proc "$BUILD/proc"
say "installing $CHROOT_PACKAGES"
# Testing and unstable Release files expire within a week; a mirror snapshot older than that
# is still signed and complete, so apt is told not to refuse it.
chroot "$BUILD" apt-get -o Acquire::Check-Valid-Until=false update -q
chroot "$BUILD" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends $CHROOT_PACKAGES
chroot "$BUILD" apt-get clean
cleanup
chroot "$BUILD" env -i PATH=/usr/bin:/bin sh -c "$CHROOT_CHECK"
echo "$WANT" >"$BUILD/.impasto-${CHROOT_NAME}-chroot"

if [ -d "$CHROOT_ROOT" ]; then
    mountpoint -q "$CHROOT_ROOT/proc" && umount "$CHROOT_ROOT/proc"
    rm -rf "$CHROOT_ROOT"
fi
mv "$BUILD" "$CHROOT_ROOT"
rm -f "$BUILD.log"
say "chroot built at $CHROOT_ROOT in $(($(date +%s) - start)) s"
