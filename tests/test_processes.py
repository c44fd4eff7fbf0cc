"""Real app processes (`python -m api`) on a real database: a process killed between storing a message and
replying, and several processes sharing one trainee's messages. Telegram's and Zalo's servers are the
loopback capture servers of tests/utils; the NLU is the real Rasa server (or one that hangs).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import Direction, Message, MessageStatus
from knowledge.db import make_engine
from tests.utils.hung_server import HungServer
from tests.utils.telegram_api import FakeBotApi, visible_text
from tests.utils.zalo_api import ACCESS_TOKEN, APP_ID, APP_SECRET, OA_SECRET_KEY, REFRESH_TOKEN, ZaloCapture, event, signed

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:PROCESS"
SECRET = "process-secret"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")
FIXTURES = ROOT / "tests" / "fixtures" / "telegram"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppProcess:
    """`python -m api` on a free port, with the outbox worker tuned to react within seconds."""

    def __init__(self, database_url: str, nlu_url: str, *, bot_api: FakeBotApi, zalo: ZaloCapture,
                 nlu_timeout: float = 3.0, log: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DATABASE_URL": database_url, "APP_PORT": str(self.port), "APP_ENV": "test", "APP_LOG_LEVEL": "WARNING",
            "NLU_URL": nlu_url, "NLU_TIMEOUT": str(nlu_timeout),
            "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": SECRET, "TELEGRAM_API_BASE_URL": bot_api.base_url,
            "ZALO_APP_ID": APP_ID, "ZALO_OA_SECRET_KEY": OA_SECRET_KEY, "ZALO_APP_SECRET": APP_SECRET,
            "ZALO_ACCESS_TOKEN": ACCESS_TOKEN, "ZALO_REFRESH_TOKEN": REFRESH_TOKEN,
            "ZALO_API_BASE_URL": zalo.url, "ZALO_OAUTH_BASE_URL": zalo.url,
            "WORKER_POLL_SECONDS": "0.2", "WORKER_LEASE_SECONDS": "2", "WORKER_GRACE_SECONDS": "0.5",
            "OUTBOX_BACKOFF_SECONDS": "0.5",
        }
        self._log = log.open("ab")
        self.process = subprocess.Popen([sys.executable, "-m", "api"], cwd=ROOT, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"app exited with {self.process.returncode}; see {log}")
            try:
                if httpx.get(f"{self.url}/health", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"app did not answer /health within 60 s; see {log}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, as a crash."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        if not self._log.closed:
            self._log.close()


@contextmanager
def app_process(*args, **kwargs):
    process = AppProcess(*args, **kwargs)
    try:
        yield process
    finally:
        process.stop()


def telegram_update(chat_id: int, update_id: int, text_: str) -> dict:
    raw = (FIXTURES / "text_message.json").read_text(encoding="utf-8").replace("111111111", str(chat_id))
    data = json.loads(raw)
    data["update_id"] = update_id
    data["message"]["text"] = text_
    return data


def post_telegram(app: AppProcess, update: dict) -> httpx.Response:
    return httpx.post(f"{app.url}/channels/telegram/webhook", json=update, timeout=10,
                      headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})


def wait_for(condition, *, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def rows(database_url: str, channel: str) -> list[Message]:
    database = make_engine(database_url)
    try:
        with Session(database) as session:
            return list(session.scalars(select(Message).where(Message.channel == channel).order_by(Message.id)))
    finally:
        database.dispose()


@pytest.fixture
def bot_api():
    with FakeBotApi(TOKEN) as api:
        yield api


@pytest.fixture
def zalo_capture():
    with ZaloCapture() as capture:
        yield capture


@pytest.fixture
def hung_nlu():
    with HungServer() as server:
        yield server


@pytest.mark.nlu
def test_telegram_and_zalo_messages_survive_a_killed_process(database_url, nlu_url, bot_api, zalo_capture,
                                                              hung_nlu, tmp_path):
    chat_id = 555_000_001
    update = telegram_update(chat_id, 900_000_001, "Lương tối thiểu ở Aichi là bao nhiêu?")
    zalo_body = event("user_send_text", text="lương tối thiểu ở Aichi bao nhiêu")
    zalo_raw, zalo_headers = signed(zalo_body)
    user = zalo_body["sender"]["id"]

    # 1. A process whose NLU hangs: both messages are stored and acknowledged, then it dies mid-turn.
    doomed = AppProcess(database_url, hung_nlu.url, nlu_timeout=60, bot_api=bot_api, zalo=zalo_capture,
                        log=tmp_path / "doomed.log")
    try:
        assert post_telegram(doomed, update).status_code == 200
        response = httpx.post(f"{doomed.url}/channels/zalo/webhook", content=zalo_raw, headers=zalo_headers, timeout=10)
        assert response.status_code == 200
        wait_for(lambda: hung_nlu.accepted >= 2, what="both turns to reach the (hung) NLU")
    finally:
        doomed.kill()
    assert bot_api.messages_to(chat_id) == [] and zalo_capture.delivered(user) == []
    assert [m.status for m in rows(database_url, "telegram")] == [MessageStatus.received]
    assert [m.status for m in rows(database_url, "zalo")] == [MessageStatus.received]

    # 2. A fresh process with a working NLU: its worker finishes both, once.
    with app_process(database_url, nlu_url, bot_api=bot_api, zalo=zalo_capture, log=tmp_path / "heir.log") as heir:
        wait_for(lambda: bot_api.messages_to(chat_id) and zalo_capture.delivered(user), what="the replies")
        assert post_telegram(heir, update).status_code == 200  # Telegram redelivering meanwhile changes nothing
        time.sleep(3)  # longer than a lease and several worker ticks: nothing is sent twice
        telegram_sent = bot_api.messages_to(chat_id)
        assert len(telegram_sent) == 1 and "Aichi" in telegram_sent[0]["text"]
        assert len(zalo_capture.delivered(user)) == 1 and "Aichi" in zalo_capture.delivered(user)[0]
        health = httpx.get(f"{heir.url}/health", timeout=10).json()
        assert health["unprocessed_messages"] == 0 and health["unsent_replies"] == 0 and health["dead_messages"] == 0
    for channel in ("telegram", "zalo"):
        stored = rows(database_url, channel)
        assert [m.direction for m in stored] == [Direction.inbound, Direction.outbound]
        assert [m.status for m in stored] == [MessageStatus.processed, MessageStatus.sent]


#: Each message gets an answer whose title tells it apart, so the order of the replies shows the order of the turns.
QUESTIONS = [
    ("Công ty giữ hộ chiếu của em", "passport_confiscation"),
    ("Em muốn chuyển công ty được không", "job_transfer"),
    ("Công ty phạt tiền khi đi trễ có đúng luật không", "fines_penalties"),
    ("Em bị tai nạn lao động thì làm sao", "work_injury"),
    ("Công ty giữ hộ chiếu của em không trả", "passport_confiscation"),
    ("Em muốn chuyển việc sang công ty khác", "job_transfer"),
]


@pytest.mark.nlu
def test_one_trainees_messages_are_answered_in_order_across_two_processes(database_url, nlu_url, bot_api,
                                                                          zalo_capture, tmp_path):
    chat_id = 555_000_002
    with app_process(database_url, nlu_url, bot_api=bot_api, zalo=zalo_capture, log=tmp_path / "a.log") as a, \
            app_process(database_url, nlu_url, bot_api=bot_api, zalo=zalo_capture, log=tmp_path / "b.log") as b:
        updates = [telegram_update(chat_id, 910_000_000 + i, question) for i, (question, _) in enumerate(QUESTIONS)]
        for i, update in enumerate(updates):  # typed quickly, delivered alternately to either process
            assert post_telegram((a, b)[i % 2], update).status_code == 200
            assert post_telegram((b, a)[i % 2], update).status_code == 200  # and redelivered to the other one
        wait_for(lambda: len([m for m in rows(database_url, "telegram")
                              if m.direction == Direction.inbound and m.status == MessageStatus.processed])
                 == len(QUESTIONS), timeout=60, what="every message processed")
        wait_for(lambda: all(m.status == MessageStatus.sent for m in rows(database_url, "telegram")
                             if m.direction == Direction.outbound), timeout=30, what="every reply sent")

    stored = rows(database_url, "telegram")
    inbound = [m for m in stored if m.direction == Direction.inbound]
    outbound = [m for m in stored if m.direction == Direction.outbound]
    assert [m.text for m in inbound] == [question for question, _ in QUESTIONS]  # stored in arrival order
    # each redelivery was a duplicate, not a second turn; each turn's replies come after its message and before
    # the next message's replies: one turn at a time, in order, whichever process stored or processed it.
    answered = [m.reply_to_id for m in outbound]
    assert answered == sorted(answered) and set(answered) == {m.id for m in inbound}
    assert len({m.intent for m in inbound}) >= 3
    # …and the trainee saw them in that order.
    seen = [visible_text(m["text"]) for m in bot_api.messages_to(chat_id)]
    assert seen == [f"{m.title}\n{m.text}" if m.title else m.text for m in outbound]
