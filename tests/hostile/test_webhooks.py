"""Bodies no channel sends: wrong content types, oversized, unreadable. Each gets the documented 4xx (never a 5xx),
nothing is stored and nobody is sent anything. (Forged secrets and signatures, replays, malformed JSON and deep
nesting on Telegram and Zalo are in tests/channels/.)"""

from __future__ import annotations

import json
import time

import pytest

from bot.channels.zalo import expected_signature
from tests.hostile.conftest import SECRET, TELEGRAM_WEBHOOK, WEB, ZALO_WEBHOOK, counts
from tests.utils.zalo_api import APP_ID, OA_SECRET_KEY, event, signed

TELEGRAM_HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}


def telegram_update(text: str = "lương tối thiểu ở Aichi") -> dict:
    return {"update_id": 900_000_001, "message": {
        "message_id": 1, "date": int(time.time()), "text": text,
        "from": {"id": 900001, "is_bot": False, "first_name": "Lan", "language_code": "vi"},
        "chat": {"id": 900001, "type": "private"}}}


def nothing_sent(bot_api, zalo_api) -> bool:
    return bot_api.calls_of("sendMessage", ok_only=False) == [] and zalo_api.sends() == []


@pytest.mark.parametrize(("content_type", "encode"), [
    ("text/plain", lambda body: json.dumps(body).encode()),
    ("application/x-www-form-urlencoded", lambda body: b"text=hello&lang=vi"),
    ("multipart/form-data; boundary=x", lambda body: b'--x\r\nContent-Disposition: form-data; name="text"\r\n\r\nhello\r\n--x--\r\n'),
    (None, lambda body: json.dumps(body).encode()),
])
async def test_web_chat_takes_only_json(http, session_factory, bot_api, zalo_api, content_type, encode):
    before = counts(session_factory)
    headers = {"Content-Type": content_type} if content_type else {}

    response = await http.post(WEB, content=encode({"text": "hello", "lang": "vi"}), headers=headers)

    # A cross-site form (or a "simple" text/plain fetch) can't post a message in a trainee's name.
    assert response.status_code in (415, 422), response.text
    assert counts(session_factory) == before


@pytest.mark.parametrize(("content_type", "raw", "status"), [
    ("text/plain", json.dumps(telegram_update()).encode(), 200),  # Telegram sends JSON; the label is not checked
    (None, json.dumps(telegram_update()).encode(), 200),
    ("application/x-www-form-urlencoded", b"update_id=1&message=hello", 400),
    ("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="update_id"\r\n\r\n1\r\n--x--\r\n', 400),
])
async def test_telegram_webhook_reads_the_body_whatever_its_label(http, session_factory, bot_api, content_type, raw,
                                                                 status):
    before = counts(session_factory)
    headers = TELEGRAM_HEADERS | ({"Content-Type": content_type} if content_type else {})

    response = await http.post(TELEGRAM_WEBHOOK, content=raw, headers=headers)

    assert response.status_code == status
    if status != 200:
        assert counts(session_factory) == before and bot_api.calls_of("sendMessage", ok_only=False) == []


def form_signed(raw: bytes) -> dict[str, str]:
    """A valid signature of a body that is not JSON (the two signed fields read from its bytes)."""
    from bot.channels.zalo import signed_fields

    app_id, timestamp = signed_fields(raw)
    return {"X-ZEvent-Signature": expected_signature(raw, app_id=app_id, timestamp=timestamp,
                                                     oa_secret_key=OA_SECRET_KEY)}


@pytest.mark.parametrize("content_type", ["text/plain", None, "application/x-www-form-urlencoded"])
async def test_zalo_webhook_checks_the_signature_whatever_the_label(http, session_factory, zalo_api, content_type):
    before = counts(session_factory)
    body = event("user_send_text", text="xin chào", user_id="700000000000000999")
    raw, headers = signed(body)
    headers.pop("Content-Type")
    if content_type:
        headers["Content-Type"] = content_type
    forged_raw = raw.replace("xin chào".encode(), b"tam biet")

    assert (await http.post(ZALO_WEBHOOK, content=forged_raw, headers=headers)).status_code == 401
    assert counts(session_factory) == before and zalo_api.sends() == []
    form = f"app_id={APP_ID}&timestamp={body['timestamp']}&text=hi".encode()
    refused = await http.post(ZALO_WEBHOOK, content=form, headers={**headers, **form_signed(form)})
    assert refused.status_code in (400, 401)  # signed or not, a form is not an event
    assert counts(session_factory) == before and zalo_api.sends() == []

    assert (await http.post(ZALO_WEBHOOK, content=raw, headers=headers)).status_code == 200  # the real one is in
    assert counts(session_factory)[1] > before[1] and zalo_api.sends("700000000000000999")


async def test_an_oversized_signed_zalo_event_is_413_and_not_stored(http, session_factory, zalo_api):
    before = counts(session_factory)
    raw, headers = signed(event("user_send_text", text="x" * 1_100_000))

    response = await http.post(ZALO_WEBHOOK, content=raw, headers=headers)

    assert response.status_code == 413
    assert counts(session_factory) == before and zalo_api.sends() == []


async def test_a_chunked_body_over_the_limit_is_413_too(http, session_factory, bot_api):
    before = counts(session_factory)

    async def chunks():
        update = json.dumps(telegram_update("x" * 1_100_000)).encode()
        for start in range(0, len(update), 64_000):
            yield update[start:start + 64_000]

    response = await http.post(TELEGRAM_WEBHOOK, content=chunks(), headers=TELEGRAM_HEADERS)

    assert response.status_code == 413
    assert counts(session_factory) == before and bot_api.calls_of("sendMessage", ok_only=False) == []


@pytest.mark.parametrize("raw", [
    b"{not json", b"", b"null", b"[]", b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"text": "\\ud800"}', b'{"text": 5}', b'{"text": "a", "lang": "' + b"x" * 17 + b'"}', b"\xff\xfe{}",
])
async def test_unreadable_web_chat_bodies_are_4xx_and_store_nothing(http, session_factory, raw):
    before = counts(session_factory)

    response = await http.post(WEB, content=raw, headers={"Content-Type": "application/json"})

    assert 400 <= response.status_code < 500, (raw[:30], response.status_code)
    assert counts(session_factory) == before
