#!/usr/bin/env bash
# Print the path of a Python 3.10 interpreter (the NLU service needs one: Rasa 3.6 supports 3.8-3.10).
# A python3.10 on PATH first, then pyenv; otherwise say what to install.
set -u
if command -v python3.10 >/dev/null 2>&1 && python3.10 -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; then
    command -v python3.10; exit 0
fi
if command -v pyenv >/dev/null 2>&1; then
    for v in 3.10.13 $(pyenv versions --bare 2>/dev/null | grep -E '^3\.10(\.|$)' | sort -rV); do
        prefix=$(pyenv prefix "$v" 2>/dev/null) || continue
        if [ -x "$prefix/bin/python3.10" ]; then echo "$prefix/bin/python3.10"; exit 0; fi
    done
fi
cat >&2 <<'MSG'
Python 3.10 was not found. The NLU service (Rasa 3.6.21) needs Python 3.10 in its own virtual environment.
Install it with one of:
  pyenv install 3.10.13                      (then run make again)
  apt-get install python3.10 python3.10-venv (where your distribution has it)
MSG
exit 1
