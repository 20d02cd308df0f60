#!/usr/bin/env bash
# Build (or reuse) a Debian 13 "trixie" chroot with GIMP 3 and its Python 3 plug-in support, for
# the GIMP end-to-end test (tests/gimp/test_gimp_e2e.py). Debian 12 only has GIMP 2.10.
#
#   bash tests/editors/setup_gimp.sh      # as root (it re-runs itself with sudo otherwise)
#
# Location: $IMPASTO_GIMP_CHROOT, default /var/cache/impasto/gimp3-chroot (the test looks there
# too). About two minutes and 730 MB the first time; then it only checks that gimp-console-3.0
# runs. See debian_chroot.sh.
set -euo pipefail

ROOT="${IMPASTO_GIMP_CHROOT:-/var/cache/impasto/gimp3-chroot}"
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then
        exec sudo IMPASTO_GIMP_CHROOT="$ROOT" bash "$0" "$@"
    fi
    echo "[setup_gimp] needs root (debootstrap, mount, chroot); run it as root" >&2
    exit 1
fi

CHROOT_NAME=gimp
CHROOT_ROOT="$ROOT"
CHROOT_PACKAGES="gimp python3 python3-gi gir1.2-gimp-3.0 python3-zmq python3-msgpack"
CHROOT_CHECK="gimp-console-3.0 --version"
source "$(dirname "$0")/debian_chroot.sh"
