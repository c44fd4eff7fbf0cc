"""One app with every channel on (web chat, Telegram against the loopback Bot API, Zalo against the loopback OA
API) on the test's database transaction (SQLite and PostgreSQL), the real NLU server behind it, and a driver per
channel that sends a trainee's text and returns what reached her."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import func, select

from api.config import ApiSettings
from api.main import create_app
from bot.channels import telegram as telegram_channel
from bot.config import BotSettings
from bot.models import Conversation, Message
from tests.hostile.telegram_html import shown_text
from tests.utils.telegram_api import FakeBotApi
from tests.utils.zalo_api import (
    ACCESS_TOKEN, APP_ID, APP_SECRET, OA_SECRET_KEY, REFRESH_TOKEN, ZaloCapture, event, signed,
)

TOKEN = "123456:TEST"
SECRET = "s3cret"
TELEGRAM_WEBHOOK = "/channels/telegram/webhook"
ZALO_WEBHOOK = "/channels/zalo/webhook"
WEB = "/channels/web/messages"
#: Pinned: the wage answers depend on the rates in force.
TODAY = dt.date(2026, 11, 25)
#: Telegram's and Zalo's text limits, in UTF-16 units (channels.md B4, A3.1).
TELEGRAM_LIMIT, ZALO_LIMIT = 4096, 2000

_numbers = itertools.count(1)


@pytest.fixture
def bot_api():
    with FakeBotApi(TOKEN) as api:
        yield api


@pytest.fixture
def zalo_api():
    with ZaloCapture() as server:
        yield server


@pytest.fixture
async def hostile_app(engine, session_factory, nlu_url, bot_api, zalo_api):
    settings = BotSettings(
        telegram_bot_token=TOKEN, telegram_webhook_secret=SECRET, telegram_api_base_url=bot_api.base_url,
        zalo_app_id=APP_ID, zalo_oa_secret_key=OA_SECRET_KEY, zalo_app_secret=APP_SECRET,
        zalo_access_token=ACCESS_TOKEN, zalo_refresh_token=REFRESH_TOKEN,
        zalo_api_base_url=zalo_api.url, zalo_oauth_base_url=zalo_api.url, nlu_url=nlu_url, _env_file=None,
    )
    app = create_app(ApiSettings(_env_file=None, worker=False), bot_settings=settings, engine=engine,
                     session_factory=session_factory, today=lambda: TODAY)
    app.state.services.zalo.retry_delays = (0.01, 0.01)
    async with app.router.lifespan_context(app):
        yield app
    await app.state.services.zalo.aclose()


@pytest.fixture
async def http(hostile_app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=hostile_app), base_url="http://test") as client:
        yield client


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Received:
    """What one message of the trainee got: the HTTP status of her channel's request and the texts she reads."""

    status: int
    texts: list[str]


class TelegramTrainee:
    """A private chat of its own; `say` posts an update like Telegram and returns the visible texts sent back."""

    channel = "telegram"

    def __init__(self, http, app, bot_api):
        self.http, self.app, self.bot_api = http, app, bot_api
        number = next(_numbers)
        self.user_id = str(400_000_000 + number)
        self._update_ids = itertools.count(500_000_000 + number * 1000)

    def update(self, text: str) -> dict:
        return {"update_id": next(self._update_ids), "message": {
            "message_id": next(_numbers), "date": int(dt.datetime.now(dt.UTC).timestamp()),
            "from": {"id": int(self.user_id), "is_bot": False, "first_name": "Lan", "language_code": "vi"},
            "chat": {"id": int(self.user_id), "first_name": "Lan", "type": "private"}, "text": text}}

    def press_update(self, payload: str) -> dict:
        user = {"id": int(self.user_id), "is_bot": False, "first_name": "Lan", "language_code": "vi"}
        return {"update_id": next(self._update_ids), "callback_query": {
            "id": f"cb{next(_numbers)}", "from": user, "chat_instance": "1", "data": payload,
            "message": {"message_id": 1, "date": 1764064801, "text": "…",
                        "from": {"id": 123456789, "is_bot": True, "first_name": "RightsBot"},
                        "chat": {"id": int(self.user_id), "type": "private"}}}}

    async def post(self, update: dict) -> Received:
        before = len(self.sent())
        response = await self.http.post(TELEGRAM_WEBHOOK, content=json.dumps(update).encode(),
                                        headers={"Content-Type": "application/json",
                                                 "X-Telegram-Bot-Api-Secret-Token": SECRET})
        await telegram_channel.flush(self.app.state.services.telegram)
        return Received(response.status_code, [shown_text(m["text"]) for m in self.sent()[before:]])

    async def say(self, text: str) -> Received:
        return await self.post(self.update(text))

    async def press(self, payload: str) -> Received:
        return await self.post(self.press_update(payload))

    def sent(self) -> list[dict]:
        """Every sendMessage to this chat, accepted or not (a refused one is a message the trainee never got)."""
        return [c.params | {"_status": c.status} for c in self.bot_api.calls_of("sendMessage", ok_only=False)
                if str(c.params.get("chat_id")) == self.user_id]


class ZaloTrainee:
    channel = "zalo"

    def __init__(self, http, zalo_api):
        self.http, self.zalo_api = http, zalo_api
        self.user_id = str(700_000_000_000_000_000 + next(_numbers))

    async def post_event(self, body: dict) -> Received:
        before = len(self.zalo_api.sends(self.user_id))
        try:
            raw, headers = signed(body)
        except UnicodeEncodeError:  # a lone surrogate: JSON's \\u escape, as a forger would write it
            raw = json.dumps(body).encode()
            headers = _signature_of(raw, body)
        response = await self.http.post(ZALO_WEBHOOK, content=raw, headers=headers)
        return Received(response.status_code,
                        [c.body["message"]["text"] for c in self.zalo_api.sends(self.user_id)[before:]])

    async def say(self, text: str) -> Received:
        return await self.post_event(event("user_send_text", text=text, user_id=self.user_id))


def _signature_of(raw: bytes, body: dict) -> dict[str, str]:
    from bot.channels.zalo import expected_signature

    return {"Content-Type": "application/json", "X-ZEvent-Signature": expected_signature(
        raw, app_id=body["app_id"], timestamp=body["timestamp"], oa_secret_key=OA_SECRET_KEY)}


class WebTrainee:
    channel = "web"

    def __init__(self, app):
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        self.user_id: str | None = None

    async def post(self, body: dict) -> Received:
        response = await self.client.post(WEB, content=json.dumps({"lang": "vi", **body}).encode(),
                                          headers={"Content-Type": "application/json"})
        signed_id = self.client.cookies.get("trainee_chat")
        self.user_id = signed_id.rsplit(".", 1)[0] if signed_id else None
        if response.status_code != 200:
            return Received(response.status_code, [])
        return Received(200, [f"{r['title']}\n{r['text']}" if r["title"] else r["text"]
                              for r in response.json()["replies"]])

    async def say(self, text: str) -> Received:
        return await self.post({"text": text})

    async def press(self, payload: str) -> Received:
        return await self.post({"payload": payload})


@pytest.fixture
async def trainee(request, hostile_app, http, bot_api, zalo_api):
    """`trainee("telegram" | "zalo" | "web")`: a new trainee on that channel."""
    made = []

    def make(channel: str):
        if channel == "telegram":
            person = TelegramTrainee(http, hostile_app, bot_api)
        elif channel == "zalo":
            person = ZaloTrainee(http, zalo_api)
        else:
            person = WebTrainee(hostile_app)
        made.append(person)
        return person

    yield make
    for person in made:
        if isinstance(person, WebTrainee):
            await person.client.aclose()


def counts(session_factory) -> tuple[int, int]:
    """(conversations, messages) in the whole database."""
    with session_factory() as session:
        return (session.scalar(select(func.count()).select_from(Conversation)),
                session.scalar(select(func.count()).select_from(Message)))


def stored_texts(session_factory, channel: str, user_id: str, direction: str = "inbound") -> list[str | None]:
    with session_factory() as session:
        return list(session.scalars(
            select(Message.text).join(Conversation).where(
                Conversation.channel == channel, Conversation.channel_user_id == user_id,
                Message.direction == direction).order_by(Message.id)))
