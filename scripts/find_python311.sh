#!/usr/bin/env bash
# Print the path of a Python >= 3.11 for the app's virtual environment.
set -u
for c in python3.11 python3.12 python3.13 python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; assert sys.version_info[:2] >= (3, 11)' >/dev/null 2>&1; then
        command -v "$c"; exit 0
    fi
done
echo "Python 3.11 or newer was not found: install python3.11 (apt-get install python3.11 python3.11-venv, or pyenv install 3.11)." >&2
exit 1
