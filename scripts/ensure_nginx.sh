#!/usr/bin/env bash
# Debian's nginx for the scale-out layout (`make scale`, tests/scale).
exec "$(dirname "$0")/ensure_debian_package.sh" /usr/sbin/nginx nginx "the scale-out layout"
