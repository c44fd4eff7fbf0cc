"""Wait until a freshly started process serves, for systemd's ExecStartPost (standard library only).

    wait_ready.py [--timeout S] URL            the app: until GET URL answers 200 (e.g. http://127.0.0.1:8101/health)
    wait_ready.py [--timeout S] --nlu BASE     a Rasa server: until GET BASE/status names a loaded model, then one
                                               warm-up parse (the first parse of a model is slow)

Exits 0 when ready, 1 after the timeout: systemd then counts the start as failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except (urllib.error.URLError, OSError):
        return 0, b""


def _nlu_loaded(base: str) -> bool:
    status, body = _get(base.rstrip("/") + "/status")
    if status != 200:
        return False
    try:
        return bool(json.loads(body).get("model_file"))
    except ValueError:
        return False


def _warm_up(base: str) -> None:
    request = urllib.request.Request(base.rstrip("/") + "/model/parse", data=b'{"text": "hello warm up"}',
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
    except (urllib.error.URLError, OSError):
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wait_ready.py")
    parser.add_argument("url")
    parser.add_argument("--nlu", action="store_true", help="URL is a Rasa server's base URL")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if args.nlu:
            if _nlu_loaded(args.url):
                _warm_up(args.url)
                return 0
        elif _get(args.url)[0] == 200:
            return 0
        time.sleep(1)
    print(f"{args.url} was not ready within {args.timeout:.0f} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
