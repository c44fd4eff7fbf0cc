#!/usr/bin/env bash
# Debian's chromium for the browser tests (Playwright drives it; no browser is downloaded).
exec "$(dirname "$0")/ensure_debian_package.sh" /usr/bin/chromium chromium "the browser tests"
