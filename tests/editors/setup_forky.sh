#!/usr/bin/env bash
# Build (or reuse) one Debian "forky" chroot holding both Krita 5.3 and GIMP 3.2, for the third
# Krita run of tests/krita/test_krita_e2e.py and the second GIMP run of tests/gimp/test_gimp_e2e.py
# (Krita 5.1 is Debian 12's, Krita 5.2 and GIMP 3.0 are Debian 13's: setup_krita.sh,
# setup_krita_trixie.sh, setup_gimp.sh). One chroot for both editors: one debootstrap, one
# download of the libraries they share.
#
#   bash tests/editors/setup_forky.sh      # as root (it re-runs itself with sudo otherwise)
#
# Location: $IMPASTO_FORKY_CHROOT, default /var/cache/impasto/forky-chroot (the tests look there
# too). A few minutes and about 2 GB the first time; then it only checks that both editors are
# there. See debian_chroot.sh.
set -euo pipefail

CHROOT_NAME=forky
CHROOT_SUITE=forky
CHROOT_VAR=IMPASTO_FORKY_CHROOT
CHROOT_DEFAULT=/var/cache/impasto/forky-chroot
CHROOT_PACKAGES="krita python3 python3-pyqt5 python3-zmq python3-msgpack xvfb xauth
gimp python3-gi gir1.2-gimp-3.0"
CHROOT_CHECK="test -x /usr/bin/krita && gimp-console --version"
source "$(dirname "$0")/debian_chroot.sh"
