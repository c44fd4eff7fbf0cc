#!/usr/bin/env bash
# Debian's nginx for the scale-out layout (`make scale`, tests/scale).
# Installs the `nginx` package with apt-get when /usr/sbin/nginx is missing.
set -euo pipefail
NGINX=/usr/sbin/nginx
[ -x "$NGINX" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
else
    echo "nginx is missing and this is not root (no sudo): run 'apt-get install nginx' as root" >&2
    exit 1
fi
echo "Installing Debian's nginx for the scale-out layout..." >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq >&2
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends nginx >&2
[ -x "$NGINX" ] || { echo "apt-get ran but $NGINX is still missing" >&2; exit 1; }
