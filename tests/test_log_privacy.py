"""Identifiers in logs are pseudonyms (knowledge/crypto.pseudonym), and no message text is logged above DEBUG:
a Telegram and a Zalo conversation, failed sign-ins, uvicorn's access log, a retention run — everything logged
at INFO or above is searched for the raw ids, addresses, emails and texts."""

from __future__ import annotations

import datetime as dt
import logging
import socket
import threading
import time

import httpx
import pytest

from knowledge.crypto import pseudonym
from tests.utils.people import create_people
from tests.utils.telegram_api import FakeBotApi
from tests.utils.zalo_api import APP_ID, APP_SECRET, OA_SECRET_KEY, ZaloCapture, event, signed

TOKEN = "123456:TEST"
SECRET = "s3cret-webhook"
CHAT_ID = 777_123_456
ZALO_USER = "8800123456789012345"
QUESTION = "Lương tối thiểu ở Aichi là bao nhiêu vậy ạ"
CLIENT_IP = "203.0.113.77"
TODAY = dt.date(2026, 11, 25)


def shown(caplog) -> list[str]:
    """Everything logged at INFO or above, as it would be printed (message and traceback)."""
    lines = []
    for record in caplog.records:
        if record.levelno >= logging.INFO:
            lines.append(record.getMessage() + (logging.Formatter().formatException(record.exc_info)
                                                if record.exc_info else ""))
    return lines


def assert_private(lines: list[str], *secrets: str) -> None:
    for secret in secrets:
        leaked = [line for line in lines if secret in line]
        assert not leaked, f"{secret!r} logged: {leaked}"


async def test_a_telegram_conversation_logs_a_pseudonym_not_the_chat_or_the_text(engine, session_factory, nlu_url,
                                                                               caplog):
    from api.config import ApiSettings
    from api.main import create_app
    from bot.config import BotSettings
    from tests.channels.test_telegram import load_update

    caplog.set_level(logging.DEBUG)
    with FakeBotApi(TOKEN) as bot_api:
        settings = BotSettings(telegram_bot_token=TOKEN, telegram_webhook_secret=SECRET,
                               telegram_api_base_url=bot_api.base_url, nlu_url=nlu_url, _env_file=None)
        app = create_app(ApiSettings(_env_file=None, worker=False), bot_settings=settings, engine=engine,
                         session_factory=session_factory, today=lambda: TODAY)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
                for n, body in enumerate(("/start", QUESTION)):
                    update = load_update("text_message", chat_id=CHAT_ID, update_id=900_000 + n, text=body)
                    response = await client.post("/channels/telegram/webhook", json=update,
                                                 headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
                    assert response.status_code == 200
        replies = [m["text"] for m in bot_api.messages_to(CHAT_ID)]
    assert len(replies) >= 2  # the conversation happened
    lines = shown(caplog)
    assert_private(lines, str(CHAT_ID), QUESTION, *(reply[:40] for reply in replies))
    assert sum(pseudonym(CHAT_ID) in line for line in lines) == 2  # one line per update, with the pseudonym


async def test_a_zalo_conversation_logs_a_pseudonym_not_the_user_or_the_text(engine, session_factory, nlu_url,
                                                                           caplog):
    from api.config import ApiSettings
    from api.main import create_app
    from bot.config import BotSettings

    caplog.set_level(logging.DEBUG)
    with ZaloCapture() as capture:
        settings = BotSettings(zalo_app_id=APP_ID, zalo_oa_secret_key=OA_SECRET_KEY, zalo_app_secret=APP_SECRET,
                               zalo_access_token="access-token-1", zalo_refresh_token="refresh-token-1",
                               zalo_api_base_url=capture.url, zalo_oauth_base_url=capture.url, nlu_url=nlu_url,
                               _env_file=None)
        app = create_app(ApiSettings(_env_file=None, worker=False), bot_settings=settings, engine=engine,
                         session_factory=session_factory, today=lambda: TODAY)
        app.state.services.zalo.retry_delays = (0.01, 0.01)
        capture.expire_access_token()  # a refresh on the way: logged too
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            raw, headers = signed(event("user_send_text", text=QUESTION, user_id=ZALO_USER))
            assert (await client.post("/channels/zalo/webhook", content=raw, headers=headers)).status_code == 200
        await app.state.services.zalo.aclose()
        replies = capture.delivered(ZALO_USER)
    assert replies
    lines = shown(caplog)
    assert_private(lines, ZALO_USER, QUESTION, "access-token-", "refresh-token-", *(r[:40] for r in replies))
    assert any(pseudonym(ZALO_USER) in line for line in lines)
    assert any("refreshed" in line for line in lines)


async def test_failed_sign_ins_log_pseudonyms_of_the_email_and_the_address(app, session, caplog):
    create_people(session, lan=("volunteer", ["vi"], "Lan"))
    caplog.set_level(logging.DEBUG)
    transport = httpx.ASGITransport(app=app, client=(CLIENT_IP, 50123))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        statuses = [(await client.post("/auth/token", json={"email": "lan@example.org", "password": "wrong!"}))
                    .status_code for _ in range(6)]
        form = await client.post("/inbox/login", data={"email": "nobody@example.org", "password": "x"})
    assert statuses == [401] * 5 + [429] and form.status_code in (200, 400, 401, 429)
    lines = shown(caplog)
    assert_private(lines, "lan@example.org", "nobody@example.org", CLIENT_IP, "wrong!")
    failed = [line for line in lines if line.startswith("sign-in failed")]
    assert failed[0] == f"sign-in failed for {pseudonym('lan@example.org', 'e')} from {pseudonym(CLIENT_IP, 'ip')}"
    assert any(line.startswith("sign-in refused") and pseudonym(CLIENT_IP, "ip") in line for line in lines)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_access_log_shows_a_pseudonym_for_the_client_address(app, caplog):
    import uvicorn

    caplog.set_level(logging.INFO)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=True))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert httpx.get(f"http://127.0.0.1:{port}/inbox/login", timeout=10).status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    access = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert access and all("127.0.0.1" not in line for line in access)
    assert any(line.startswith(pseudonym("127.0.0.1", "ip") + ' - "GET /inbox/login') for line in access)


def test_retention_logs_counts_only(session, session_factory, caplog):
    from bot import retention
    from bot.models import Conversation, Message

    long_ago = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    conv = Conversation(channel="telegram", channel_user_id=str(CHAT_ID), lang="vi", created_at=long_ago,
                        updated_at=long_ago)
    session.add(conv)
    session.flush()
    session.add(Message(conversation_id=conv.id, channel="telegram", direction="inbound", text=QUESTION,
                        status="processed", created_at=long_ago))
    session.commit()
    caplog.set_level(logging.DEBUG)
    result = retention.run(session_factory, days=180, clock=lambda: dt.datetime(2026, 11, 25, tzinfo=dt.UTC))
    assert result.conversations == 1
    lines = shown(caplog)
    assert_private(lines, str(CHAT_ID), QUESTION)
    assert any(line.startswith("retention: deleted 1 conversations, 1 messages") for line in lines)


@pytest.mark.parametrize("value", [CHAT_ID, ZALO_USER, "lan@example.org"])
def test_a_pseudonym_is_keyed_so_a_list_of_ids_does_not_give_it_back(value):
    import hashlib

    from knowledge import crypto

    crypto.configure_pseudonyms("one key")
    first = pseudonym(value)
    assert first.startswith("u:") and len(first) == 10 and first == pseudonym(value)
    assert hashlib.sha256(str(value).encode()).hexdigest()[:8] not in first  # not a plain hash of the id
    crypto.configure_pseudonyms("another key")
    assert pseudonym(value) != first
