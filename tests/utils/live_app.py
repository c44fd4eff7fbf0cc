"""What the browser tests share: the app served by uvicorn on a free 127.0.0.1 port in a background thread,
and Debian's chromium (Playwright with `executable_path`; `scripts/ensure_chromium.sh` installs it, `make test`
runs that). Without /usr/bin/chromium the browser tests are skipped on a developer's machine and fail under CI."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import sessionmaker


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


CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def browser_marks() -> list:
    """The marks of a browser test module: e2e, nlu, and a skip outside CI when there is no browser."""
    marks = [pytest.mark.e2e, pytest.mark.nlu]
    if not CHROMIUM.exists() and not os.environ.get("CI"):
        marks.append(pytest.mark.skip(
            reason=f"no browser at {CHROMIUM}: run scripts/ensure_chromium.sh (or `make test`) to install Debian's chromium"
        ))
    return marks


@dataclass
class LiveApp:
    url: str
    db: object  # the SQLAlchemy engine of the app's database, to read the expected answers

    def session(self):
        return sessionmaker(bind=self.db)()


@contextmanager
def live_app_on(db, nlu_url: str, today=None) -> Iterator[LiveApp]:
    """The whole app on database engine `db`, served by uvicorn on a free 127.0.0.1 port (disposes `db` after);
    `today`: the engine's clock (a callable), for tests that depend on the date."""
    from api.config import ApiSettings
    from api.main import create_app
    from bot.config import BotSettings

    app = create_app(ApiSettings(_env_file=None), bot_settings=BotSettings(nlu_url=nlu_url, _env_file=None), engine=db,
                     today=today)
    try:
        with serve(app) as url:
            yield LiveApp(url=url, db=db)
    finally:
        db.dispose()
