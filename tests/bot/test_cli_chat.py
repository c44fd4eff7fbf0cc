"""`python -m bot chat` as a person uses it: a subprocess with lines on stdin, a migrated and seeded
SQLite file, the real NLU server."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import sessionmaker

from knowledge.schema import upgrade
from bot import messages
from bot.i18n import t, yen
from knowledge import prefectures
from knowledge import service as knowledge_service
from knowledge.db import make_engine, session_scope
from knowledge.loader import seed

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def database_url(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'cli.db'}"
    upgrade(url)
    db = make_engine(url)
    with session_scope(sessionmaker(bind=db)) as session:
        seed(session)
    db.dispose()
    return url


def run_chat(*args: str, stdin: str, nlu_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NLU_URL": nlu_url, "PYTHONIOENCODING": "utf-8"}
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "bot", "chat", *args], input=stdin, capture_output=True, text=True,
        encoding="utf-8", env=env, cwd=ROOT, timeout=120,
    )


def test_minimum_wage_question_then_a_numbered_button(database_url, nlu_url):
    db = make_engine(database_url)
    with sessionmaker(bind=db)() as session:
        aichi = prefectures.resolve("aichi")
        rate = knowledge_service.rate_on(session=session, prefecture=aichi, on=dt.date.today())
        more = knowledge_service.get_entry(session=session, topic="minimum_wage", lang="vi").more
    db.dispose()
    assert rate is not None and more

    result = run_chat("--lang", "vi", "--user", "cli-test-1", "--database-url", database_url,
                      stdin="lương tối thiểu ở Aichi bao nhiêu\n2\n/quit\n", nlu_url=nlu_url)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # The greeting and its numbered menu, in Vietnamese.
    assert t("vi", messages.GREETING) in out
    assert f"[1] {t('vi', messages.TOPIC_NAMES['minimum_wage'])}" in out
    # The answer: title, Aichi's rate as the engine writes it (e.g. "1.140 yên"), numbered buttons.
    answer = out.split("> lương tối thiểu ở Aichi bao nhiêu", 1)[1]
    assert f"== {t('vi', messages.TOPIC_NAMES['minimum_wage'])} ==" in answer
    assert aichi in answer and yen(rate.yen_per_hour, "vi") in answer
    assert f"[2] {t('vi', messages.BUTTON_MORE)}" in answer
    # Typing 2 pressed "Xem thêm": the longer minimum-wage text follows.
    pressed = answer.split(f"→ {t('vi', messages.BUTTON_MORE)}", 1)[1]
    assert more.strip()[:60] in pressed


def test_unknown_language_is_refused(database_url, nlu_url):
    result = run_chat("--lang", "xx", "--database-url", database_url, stdin="", nlu_url=nlu_url)
    assert result.returncode == 2
    assert "unknown language" in result.stderr


def test_a_database_without_migrations_is_refused(tmp_path, nlu_url):
    result = run_chat("--database-url", f"sqlite:///{tmp_path / 'empty.db'}", stdin="", nlu_url=nlu_url)
    assert result.returncode == 2
    assert "make migrate" in result.stderr
