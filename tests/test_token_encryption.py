"""Channel credentials encrypted at rest (knowledge/crypto.py, APP_DATA_KEY): the Zalo tokens and the stored
cookie key are not readable in the database, the app still refreshes and uses the Zalo tokens, rows written in
plain text before the key was set are encrypted at start-up, production refuses to start without the key."""

from __future__ import annotations

import logging

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import text

from knowledge import crypto
from tests.utils.zalo_api import (
    ACCESS_TOKEN, APP_ID, APP_SECRET, OA_SECRET_KEY, REFRESH_TOKEN, ZaloCapture, event, signed,
)

KEY = "3vW9oJkH2x6qH2Z6mS8T1qVYJ0YwFh6r5qYk1o2d3X4="
OLD_KEY = "n1Jg0m6rZzv6i0zB9pQ3pY5mFJkz4cS8yPq2bH7vW0E="
USER = "246845883529197922"
COOKIE_KEY = "a-cookie-key-stored-in-plain-text-0123456789"


@pytest.fixture(autouse=True)
def no_key_afterwards():
    yield
    crypto.configure(None)


@pytest.fixture
def capture():
    with ZaloCapture() as server:
        yield server


def make_app(engine, session_factory, capture, **api):
    from api.config import ApiSettings
    from api.main import create_app
    from bot.config import BotSettings

    settings = BotSettings(
        zalo_app_id=APP_ID, zalo_oa_secret_key=OA_SECRET_KEY, zalo_app_secret=APP_SECRET,
        zalo_access_token=ACCESS_TOKEN, zalo_refresh_token=REFRESH_TOKEN, zalo_api_base_url=capture.url,
        zalo_oauth_base_url=capture.url, nlu_url="http://127.0.0.1:9", _env_file=None,  # stickers need no NLU
    )
    app = create_app(ApiSettings(_env_file=None, worker=False, **api), bot_settings=settings, engine=engine,
                     session_factory=session_factory)
    app.state.services.zalo.retry_delays = (0.01, 0.01)
    return app


async def send_sticker(app) -> None:
    raw, headers = signed(event("user_send_sticker", user_id=USER))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.post("/channels/zalo/webhook", content=raw, headers=headers)
    assert response.status_code == 200, response.text


def raw_credentials(session_factory) -> dict[tuple[str, str], str]:
    """The rows as the database holds them (plain SQL, no decryption)."""
    with session_factory() as session:
        return {(channel, name): value for channel, name, value in
                session.execute(text("SELECT channel, name, value FROM channel_credential"))}


async def test_tokens_are_encrypted_at_rest_and_still_refreshed_and_used(engine, session_factory, capture):
    app = make_app(engine, session_factory, capture, data_key=KEY)
    await send_sticker(app)  # seeds the tokens from the settings, sends with the first access token
    rows = raw_credentials(session_factory)
    assert capture.sends(USER)[-1].headers["access_token"] == ACCESS_TOKEN
    stored = " ".join(rows.values())
    assert ACCESS_TOKEN not in stored and REFRESH_TOKEN not in stored
    assert all(value.startswith("fernet:") for value in rows.values())
    assert set(rows) == {("web", "cookie_key"), ("zalo", "access_token"), ("zalo", "refresh_token")}

    capture.expire_access_token()
    await send_sticker(app)
    (refresh,) = capture.refreshes()
    assert refresh.body["refresh_token"] == REFRESH_TOKEN  # the stored one, decrypted
    assert capture.sends(USER)[-1].headers["access_token"] == "access-token-2"
    rows = raw_credentials(session_factory)
    assert "access-token-2" not in " ".join(rows.values()) and "refresh-token-2" not in " ".join(rows.values())
    await send_sticker(app)  # the next turn reads the refreshed token back from the database
    assert capture.sends(USER)[-1].headers["access_token"] == "access-token-2" and len(capture.refreshes()) == 1
    await app.state.services.zalo.aclose()


async def test_plain_text_rows_are_encrypted_when_the_key_is_set(engine, session_factory, capture, caplog):
    with caplog.at_level(logging.WARNING, logger="api.main"):
        before = make_app(engine, session_factory, capture)  # development, no key: plain text, and a warning
    assert any("APP_DATA_KEY is not set" in r.getMessage() for r in caplog.records)
    await send_sticker(before)
    await before.state.services.zalo.aclose()
    rows = raw_credentials(session_factory)
    assert rows[("zalo", "access_token")] == ACCESS_TOKEN and rows[("zalo", "refresh_token")] == REFRESH_TOKEN
    cookie_key = rows[("web", "cookie_key")]

    after = make_app(engine, session_factory, capture, data_key=KEY)  # the key is set: encrypted at start-up
    rows = raw_credentials(session_factory)
    assert all(value.startswith("fernet:") for value in rows.values())
    assert ACCESS_TOKEN not in " ".join(rows.values()) and cookie_key not in " ".join(rows.values())
    assert after.state.services.signer.secret_keys == before.state.services.signer.secret_keys  # same cookies
    await send_sticker(after)
    assert capture.sends(USER)[-1].headers["access_token"] == ACCESS_TOKEN
    await after.state.services.zalo.aclose()


async def test_a_new_key_re_encrypts_and_the_old_one_is_then_not_needed(engine, session_factory, capture):
    old = make_app(engine, session_factory, capture, data_key=OLD_KEY)
    await send_sticker(old)
    await old.state.services.zalo.aclose()
    sealed_with_old = raw_credentials(session_factory)
    rotated = make_app(engine, session_factory, capture, data_key=f"{KEY},{OLD_KEY}")  # rotation: new first
    await rotated.state.services.zalo.aclose()
    rows = raw_credentials(session_factory)
    assert all(rows[k] != sealed_with_old[k] for k in rows)
    new_only = make_app(engine, session_factory, capture, data_key=KEY)
    await send_sticker(new_only)
    assert capture.sends(USER)[-1].headers["access_token"] == ACCESS_TOKEN
    await new_only.state.services.zalo.aclose()


async def test_encrypted_rows_without_their_key_stop_the_app_naming_the_setting(engine, session_factory, capture):
    app = make_app(engine, session_factory, capture, data_key=KEY)
    await send_sticker(app)
    await app.state.services.zalo.aclose()
    for other in ({}, {"data_key": OLD_KEY}):
        with pytest.raises(crypto.DataKeyError, match="APP_DATA_KEY"):
            make_app(engine, session_factory, capture, **other)


def test_production_refuses_to_start_without_the_key(engine, session_factory):
    from api.config import ApiSettings
    from api.main import create_app
    from bot.config import BotSettings

    def start(**api):
        return create_app(ApiSettings(_env_file=None, worker=False, env="production", secret_key="k9" * 16, **api),
                          bot_settings=BotSettings(nlu_url="http://127.0.0.1:9", _env_file=None), engine=engine,
                          session_factory=session_factory)

    with pytest.raises(ValueError, match="APP_DATA_KEY is not set"):
        start()
    assert start(data_key=KEY) is not None


def test_a_malformed_key_is_refused_at_start_up():
    from api.config import ApiSettings

    with pytest.raises(ValidationError, match="APP_DATA_KEY must be Fernet keys"):
        ApiSettings(_env_file=None, data_key="not-a-fernet-key")
