#!/usr/bin/env bash
# Install what the Krita end-to-end test needs: Debian's Krita, a virtual X server, PyQt5 (Krita's
# scripting needs it; it is only a Recommends) and the Python packages the plugin imports; and
# xwininfo (x11-utils), with which the GIMP dialog test finds the dialog on the same X server.
# Idempotent: installs only what is missing, and runs `apt-get update` at most once. Needs root
# (or sudo) on Debian/Ubuntu; elsewhere it says so and does nothing.
set -euo pipefail

packages=(krita xvfb xauth x11-utils python3-pyqt5 python3-zmq python3-msgpack)

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    echo "[setup_krita] not a Debian-like system; install Krita and Xvfb yourself" >&2
    exit 0
fi

missing=()
for pkg in "${packages[@]}"; do
    if [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" != "installed" ]; then
        missing+=("$pkg")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "[setup_krita] already installed: ${packages[*]}"
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi
echo "[setup_krita] installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Wait for the dpkg lock instead of failing when another setup script runs apt at the same time.
apt=(apt-get -q -o DPkg::Lock::Timeout=600)
"${sudo[@]}" "${apt[@]}" update
"${sudo[@]}" "${apt[@]}" install -y "${missing[@]}"
