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

CHROOT_NAME=gimp
CHROOT_VAR=IMPASTO_GIMP_CHROOT
CHROOT_DEFAULT=/var/cache/impasto/gimp3-chroot
CHROOT_PACKAGES="gimp python3 python3-gi gir1.2-gimp-3.0 python3-zmq python3-msgpack"
CHROOT_CHECK="gimp-console-3.0 --version"
source "$(dirname "$0")/debian_chroot.sh"
