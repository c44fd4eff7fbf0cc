"""A missing or invalid setting stops the app at start-up with a message saying which and how to fix it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run_app(env_overrides: dict[str, str]) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_overrides}
    return subprocess.run(
        [sys.executable, "-m", "api"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_invalid_database_url_is_named():
    result = _run_app({"DATABASE_URL": "mysql://nope"})
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr and "PostgreSQL" in result.stderr


def test_invalid_port_is_named():
    result = _run_app({"APP_PORT": "not-a-port"})
    assert result.returncode == 2
    assert "PORT" in result.stderr


def test_database_behind_is_refused_with_the_fix(tmp_path):
    result = _run_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}"})
    assert result.returncode == 3
    assert "make migrate" in result.stderr


def test_production_refuses_a_placeholder_webhook_secret():
    result = _run_app({"APP_ENV": "production", "TELEGRAM_BOT_TOKEN": "123:abc", "TELEGRAM_WEBHOOK_SECRET": "changeme",
                       "DATABASE_URL": "sqlite:///data/app.db"})
    assert result.returncode == 2
    assert "TELEGRAM_WEBHOOK_SECRET" in result.stderr and "placeholder" in result.stderr
