#!/usr/bin/env bash
# Build (or reuse) a Debian 13 "trixie" chroot with Krita 5.2, for the Krita end-to-end test's
# second run (tests/krita/test_krita_e2e.py): Krita 5.2's scripting makes transparency masks,
# 5.1's (Debian 12, setup_krita.sh) cannot, and the plugin takes a different path on each.
#
#   bash tests/editors/setup_krita_trixie.sh      # as root (it re-runs itself with sudo otherwise)
#
# Location: $IMPASTO_KRITA_CHROOT, default /var/cache/impasto/krita-trixie-chroot (the test looks
# there too). About a minute and 1.3 GB the first time; then it only checks that Krita is there.
# See debian_chroot.sh.
set -euo pipefail

CHROOT_NAME=krita_trixie
CHROOT_VAR=IMPASTO_KRITA_CHROOT
CHROOT_DEFAULT=/var/cache/impasto/krita-trixie-chroot
CHROOT_PACKAGES="krita python3 python3-pyqt5 python3-zmq python3-msgpack xvfb xauth"
CHROOT_CHECK="test -x /usr/bin/krita"
source "$(dirname "$0")/debian_chroot.sh"
