#!/usr/bin/env bash
# Install one Debian package with apt-get when the program it provides is missing (nothing else is downloaded).
#   scripts/ensure_debian_package.sh PROGRAM PACKAGE WHAT   e.g. /usr/sbin/nginx nginx "the scale-out layout"
set -euo pipefail
PROGRAM=$1 PACKAGE=$2 WHAT=$3
[ -x "$PROGRAM" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
else
    echo "$PACKAGE is missing and this is not root (no sudo): run 'apt-get install $PACKAGE' as root" >&2
    exit 1
fi
echo "Installing Debian's $PACKAGE for $WHAT..." >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq >&2
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$PACKAGE" >&2
[ -x "$PROGRAM" ] || { echo "apt-get ran but $PROGRAM is still missing" >&2; exit 1; }
