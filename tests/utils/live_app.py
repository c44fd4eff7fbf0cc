"""Serve an app with uvicorn on a free 127.0.0.1 port in a background thread, and launch Debian's chromium
(Playwright with `executable_path`): what the browser tests share."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def serve(app) -> Iterator[str]:
    """Serve `app` (lifespan on) until the block ends; yields its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # bound here, handed to uvicorn: no race for the port
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="e2e-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive():
            pytest.fail("uvicorn stopped before it started serving the app (see the log above)")
        if time.monotonic() > deadline:
            server.should_exit = True
            pytest.fail("uvicorn did not start serving the app in 60 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@contextmanager
def chromium_browser(executable, args) -> Iterator[object]:
    if not executable.exists():  # only reached under CI (the modules are skipped elsewhere)
        pytest.fail(f"no browser at {executable}: scripts/ensure_chromium.sh installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(executable), args=args, headless=True)
        try:
            yield browser
        finally:
            browser.close()
