"""What the browser tests share: Debian chromium per browser-test module (Playwright, `executable_path`)."""

from __future__ import annotations

import pytest

from tests.utils.live_app import CHROMIUM, LAUNCH_ARGS, chromium_browser


@pytest.fixture(scope="module")  # sync Playwright runs a loop of its own: never across async test modules
def chromium():
    with chromium_browser(CHROMIUM, LAUNCH_ARGS) as browser:
        yield browser
