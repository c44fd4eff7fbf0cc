#!/usr/bin/env bash
# Debian's chromium for the browser tests (Playwright drives it; no browser is downloaded).
# Installs the `chromium` package with apt-get when /usr/bin/chromium is missing.
set -euo pipefail
CHROMIUM=/usr/bin/chromium
[ -x "$CHROMIUM" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
else
    echo "chromium is missing and this is not root (no sudo): run 'apt-get install chromium' as root" >&2
    exit 1
fi
echo "Installing Debian's chromium for the browser tests..." >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq >&2
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium >&2
[ -x "$CHROMIUM" ] || { echo "apt-get ran but $CHROMIUM is still missing" >&2; exit 1; }
