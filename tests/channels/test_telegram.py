"""The Telegram channel end to end: recorded real updates posted to our webhook, the real engine and NLU
server behind it, and a loopback server playing the Bot API (tests/utils/telegram_api.py).

Assertions are about what the trainee would see: which messages reach which chat, in what markup.
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from api.config import ApiSettings
from api.main import create_app
from bot import messages
from bot.channels import telegram as telegram_channel
from bot.config import BotSettings
from bot.i18n import t
from bot.models import Conversation, Direction, Message, MessageStatus
from bot.schemas import Button, Kind, Reply
from tests.utils.telegram_api import FakeBotApi, visible_text

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "telegram"
TOKEN = "123456:TEST"
SECRET = "s3cret"
FIXTURE_CHAT_ID = 111111111
WEBHOOK = "/channels/telegram/webhook"
#: The answers quote Aichi's FY2025 rate (¥1,140): pinned to a day it is in force, before the next revision.
TODAY = dt.date(2026, 11, 25)


_ids = itertools.count(1)


def load_update(name: str, *, chat_id: int | None = None, update_id: int | None = None,
                text: str | None = None) -> dict:
    """A recorded update from tests/fixtures/telegram/, optionally from another chat, with another id or text."""
    raw = (FIXTURES / f"{name}.json").read_text(encoding="utf-8")
    if chat_id is not None:  # the trainee's user id is her private chat's id
        raw = raw.replace(str(FIXTURE_CHAT_ID), str(chat_id))
    data = json.loads(raw)
    if update_id is not None:
        data["update_id"] = update_id
    if text is not None:
        data["message"]["text"] = text
    return data


class Chat:
    """One trainee's private chat with a fresh id: tests don't see each other's conversations."""

    def __init__(self):
        number = next(_ids)
        self.id = 200_000_000 + number
        self._update_ids = itertools.count(300_000_000 + number * 1000)

    def update(self, name: str, **changes) -> dict:
        return load_update(name, chat_id=self.id, update_id=next(self._update_ids), **changes)


@pytest.fixture
def bot_api():
    with FakeBotApi(TOKEN) as api:
        yield api


@pytest.fixture
def telegram_settings(nlu_url, bot_api) -> BotSettings:
    return BotSettings(telegram_bot_token=TOKEN, telegram_webhook_secret=SECRET,
                       telegram_api_base_url=bot_api.base_url, nlu_url=nlu_url, _env_file=None)


@pytest.fixture
async def telegram_app(engine, session_factory, telegram_settings):
    """The whole app with Telegram on, started (lifespan: getMe) on the test's transaction."""
    app = create_app(ApiSettings(_env_file=None, worker=False), bot_settings=telegram_settings, engine=engine,
                     session_factory=session_factory, today=lambda: TODAY)
    async with app.router.lifespan_context(app):
        yield app


def services(app):
    return app.state.services


class Webhook:
    """Posts updates the way Telegram does and waits for the replies to go out."""

    def __init__(self, client: httpx.AsyncClient, app):
        self.client = client
        self.app = app

    async def post(self, update, *, secret: str | None = SECRET, raw: bytes | None = None) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        body = raw if raw is not None else json.dumps(update).encode("utf-8")
        response = await self.client.post(WEBHOOK, content=body, headers=headers)
        await telegram_channel.flush(services(self.app).telegram)
        return response

    async def deliver(self, update) -> httpx.Response:
        response = await self.post(update)
        assert response.status_code == 200, response.text
        assert response.json() == {"ok": True}
        return response


@pytest.fixture
async def webhook(telegram_app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=telegram_app), base_url="http://test") as client:
        yield Webhook(client, telegram_app)


def shown(sent: list[dict]) -> str:
    """What the user reads: the messages' text after HTML parsing."""
    return "\n".join(visible_text(m["text"]) for m in sent)


def button_rows(message: dict) -> list[list[dict]]:
    return (message.get("reply_markup") or {}).get("inline_keyboard", [])


@pytest.fixture
def chat() -> Chat:
    return Chat()


def stored(session_factory, chat_id: int) -> list[Message]:
    with session_factory() as session:
        return list(session.scalars(
            select(Message).join(Conversation).where(
                Conversation.channel == "telegram", Conversation.channel_user_id == str(chat_id)
            ).order_by(Message.id)
        ))


def message_count(session_factory) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(Message))


# ---------------------------------------------------------------------- conversations
async def test_webhook_minimum_wage_question_in_vietnamese(chat, webhook, bot_api, session_factory):
    await webhook.deliver(chat.update("text_message"))

    sent = bot_api.messages_to(chat.id)
    assert sent, "no reply reached the chat"
    assert "1.140" in shown(sent)  # vi writes yen as "1.140 yên"
    assert "Aichi" in shown(sent)
    assert all(m["parse_mode"] == "HTML" for m in sent)
    answer = next(m for m in sent if "1.140" in m["text"])
    assert answer["text"].startswith("<b>" + html.escape(t("vi", messages.TOPIC_NAMES["minimum_wage"])) + "</b>\n")
    rows = button_rows(answer)
    assert rows and all(1 <= len(row) <= 2 for row in rows)
    assert "topic:wage_check" in [b["callback_data"] for row in rows for b in row]
    outbound = [m for m in stored(session_factory, chat.id) if m.direction == Direction.outbound]
    assert outbound and all(m.status == MessageStatus.sent for m in outbound)


async def test_webhook_start_greets_with_keyboard(chat, webhook, bot_api):
    await webhook.deliver(chat.update("start_command"))

    sent = bot_api.messages_to(chat.id)
    assert sent[0]["text"] == html.escape(t("vi", messages.GREETING), quote=False)
    rows = button_rows(sent[0])
    assert all(len(row) == 2 for row in rows[:-1]) and 1 <= len(rows[-1]) <= 2
    assert rows[0][0]["callback_data"] == "topic:minimum_wage"
    assert rows[0][0]["text"] == t("vi", messages.TOPIC_NAMES["minimum_wage"])
    assert any(b["callback_data"] == "lang:vi" for m in sent for row in button_rows(m) for b in row)


async def test_webhook_callback_query_answered_and_replied(chat, webhook, bot_api):
    await webhook.deliver(chat.update("callback_query"))

    answered = bot_api.calls_of("answerCallbackQuery")
    assert [c.params["callback_query_id"] for c in answered] == ["4382bfdwdsb323b2d9"]
    sent = bot_api.messages_to(chat.id)
    assert sent and sent[0]["text"].startswith("<b>")
    assert sent[0]["parse_mode"] == "HTML"
    assert answered[0].at <= bot_api.calls_of("sendMessage")[0].at  # the spinner stops first


async def test_webhook_sticker_and_photo_get_only_text_reply(chat, webhook, bot_api):
    await webhook.deliver(chat.update("start_command"))  # the chat's language becomes Vietnamese
    only_text = html.escape(t("vi", messages.NON_TEXT), quote=False)

    for number, name in enumerate(("sticker", "photo")):
        before = len(bot_api.messages_to(chat.id))
        await webhook.deliver(chat.update(name))
        sent = bot_api.messages_to(chat.id)[before:]
        assert [m["text"] for m in sent] == [only_text], name
        assert button_rows(sent[0])


async def test_webhook_user_markup_is_escaped(chat, webhook, bot_api):
    await webhook.deliver(chat.update("text_message", text="Lương <b>&</b> tối thiểu ở Aichi?"))

    attempts = bot_api.calls_of("sendMessage", ok_only=False)
    assert attempts and all(c.status == 200 for c in attempts)  # Telegram would refuse unescaped markup
    assert all("<b>&</b>" not in c.params["text"] for c in attempts)


async def test_deliver_escapes_user_and_admin_text(chat, telegram_app, bot_api, session_factory):
    application = services(telegram_app).telegram
    reply = Reply("You wrote: <b>&</b> 1 < 2", (Button("A & B", "menu"),), title="Q&A <i>")

    await telegram_channel.TelegramSender(application.bot).send(str(chat.id), reply)

    [message] = bot_api.messages_to(chat.id)
    assert message["text"] == "<b>Q&amp;A &lt;i&gt;</b>\nYou wrote: &lt;b&gt;&amp;&lt;/b&gt; 1 &lt; 2"
    assert visible_text(message["text"]) == "Q&A <i>\nYou wrote: <b>&</b> 1 < 2"
    assert button_rows(message) == [[{"text": "A & B", "callback_data": "menu"}]]


async def test_my_chat_member_blocked_sends_nothing(chat, webhook, bot_api, session_factory):
    await webhook.deliver(chat.update("my_chat_member_blocked"))

    assert bot_api.messages_to(chat.id) == []
    assert [m.kind for m in stored(session_factory, chat.id)] == [Kind.unfollow]


# ---------------------------------------------------------------------- the webhook's guard
@pytest.mark.parametrize("secret", [None, "wrong", "s3cre", "s3cret "])
async def test_webhook_forged_or_missing_secret(chat, webhook, bot_api, session_factory, secret):
    response = await webhook.post(chat.update("text_message"), secret=secret)

    assert response.status_code == 403
    assert bot_api.calls_of("sendMessage", ok_only=False) == []
    assert stored(session_factory, chat.id) == []
    with session_factory() as session:
        assert session.scalar(select(Conversation).where(Conversation.channel_user_id == str(chat.id))) is None


@pytest.mark.parametrize("raw", [b"[1, 2]", b"\"text\"", b"not json", b"{\"update_id\": \"x\", \"message\": 5}"])
async def test_webhook_rejects_body_that_is_not_an_update(webhook, bot_api, session_factory, raw):
    before = message_count(session_factory)

    response = await webhook.post(None, raw=raw)

    assert response.status_code == 400
    assert bot_api.calls_of("sendMessage", ok_only=False) == []
    assert message_count(session_factory) == before


async def test_webhook_duplicate_update_answered_once(chat, webhook, bot_api, session_factory):
    update = chat.update("start_command")
    await webhook.deliver(update)
    first = bot_api.messages_to(chat.id)

    await webhook.deliver(update)  # Telegram redelivers the same update_id

    assert bot_api.messages_to(chat.id) == first
    inbound = [m for m in stored(session_factory, chat.id) if m.direction == Direction.inbound]
    assert [m.channel_message_id for m in inbound] == [str(update["update_id"])]


async def test_webhook_store_failure_asks_telegram_to_redeliver(chat, webhook, bot_api, monkeypatch):
    async def database_down(inbound):
        raise ConnectionError("database is down")

    update = chat.update("start_command")
    monkeypatch.setattr(services(webhook.app).engine, "receive", database_down)
    response = await webhook.post(update)

    assert response.status_code == 503  # not 2xx: Telegram delivers the update again later
    assert bot_api.calls_of("sendMessage", ok_only=False) == []

    monkeypatch.undo()
    await webhook.deliver(update)  # the redelivery is answered

    assert bot_api.messages_to(chat.id)[0]["text"] == html.escape(t("vi", messages.GREETING), quote=False)


# ---------------------------------------------------------------------- sending: limits and failures
async def test_webhook_retries_after_flood_control(chat, webhook, bot_api, session_factory):
    bot_api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)

    await webhook.deliver(chat.update("start_command"))

    attempts = bot_api.calls_of("sendMessage", ok_only=False)
    assert attempts[0].status == 429 and attempts[1].status == 200
    assert attempts[1].at - attempts[0].at >= 1.0
    assert attempts[1].params["text"] == html.escape(t("vi", messages.GREETING), quote=False)
    outbound = [m for m in stored(session_factory, chat.id) if m.direction == Direction.outbound]
    assert outbound and all(m.status == MessageStatus.sent for m in outbound)


async def test_webhook_retries_server_error(chat, webhook, bot_api, session_factory):
    bot_api.fail_next("sendMessage", 502, "Bad Gateway")

    await webhook.deliver(chat.update("start_command"))

    assert bot_api.messages_to(chat.id)[0]["text"] == html.escape(t("vi", messages.GREETING), quote=False)
    assert all(m.status == MessageStatus.sent for m in stored(session_factory, chat.id) if m.direction == Direction.outbound)


async def test_webhook_blocked_user_marks_replies_failed(chat, webhook, bot_api, session_factory):
    bot_api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")

    await webhook.deliver(chat.update("start_command"))

    assert len(bot_api.calls_of("sendMessage", ok_only=False)) == 1  # not retried, the rest not tried
    outbound = [m for m in stored(session_factory, chat.id) if m.direction == Direction.outbound]
    assert len(outbound) >= 2
    assert all(m.status == MessageStatus.failed for m in outbound)
    assert "Forbidden" in outbound[0].error


async def test_long_reply_is_split_within_telegram_limit(chat, telegram_app, bot_api):
    application = services(telegram_app).telegram
    paragraph = "Quyền lợi & nghĩa vụ <người lao động> 🇻🇳. " * 40
    text = "\n\n".join([paragraph] * 6)  # ~11,000 characters, more after escaping
    reply = Reply(text, (Button("More", "more:x"), Button("Menu", "menu")), title="Long")

    await telegram_channel.TelegramSender(application.bot).send(str(chat.id), reply)

    sent = bot_api.messages_to(chat.id)
    assert len(sent) >= 3
    assert not [c for c in bot_api.calls_of("sendMessage", ok_only=False) if c.status != 200]
    assert sent[0]["text"].startswith("<b>Long</b>\n")
    assert all("reply_markup" not in m for m in sent[:-1]) and button_rows(sent[-1])
    joined = " ".join(visible_text(m["text"]) for m in sent)
    assert joined.replace("Long\n", "", 1).split() == text.split()


# ---------------------------------------------------------------------- adapter units
@pytest.mark.parametrize(("name", "kind"), [
    ("text_message", Kind.text), ("start_command", Kind.text), ("callback_query", Kind.button),
    ("sticker", Kind.sticker), ("photo", Kind.photo), ("my_chat_member_blocked", Kind.unfollow),
])
def test_to_inbound_reads_recorded_updates(name, kind):
    from telegram import Update

    data = load_update(name)
    inbound = telegram_channel.to_inbound(Update.de_json(data, None))

    assert inbound.kind == kind
    assert inbound.channel == "telegram"
    assert inbound.user_id == str(FIXTURE_CHAT_ID)
    assert inbound.message_id == str(data["update_id"])
    if name in ("text_message", "start_command", "callback_query"):
        assert inbound.client_language == "vi"
    if kind == Kind.button:
        assert inbound.payload == "topic:passport_confiscation"


def test_split_text_counts_utf16_units():
    text = "😀" * 3000 + " " + "a" * 10
    chunks = telegram_channel.split_text(text, first_limit=4096, limit=4096)

    assert [telegram_channel.utf16_length(c) for c in chunks] == [4096, 952 * 2 + 11]  # an emoji counts 2
    assert "".join(chunks) == text  # no space to cut at: a hard cut between emoji, nothing lost


# ---------------------------------------------------------------------- configuration and start-up
async def test_startup_calls_get_me_and_registers_webhook(engine, session_factory, nlu_url, bot_api):
    settings = BotSettings(telegram_bot_token=TOKEN, telegram_webhook_secret=SECRET,
                           telegram_api_base_url=bot_api.base_url, nlu_url=nlu_url,
                           telegram_webhook_url="https://bot.example.org/channels/telegram/webhook", _env_file=None)
    app = create_app(ApiSettings(_env_file=None, worker=False), bot_settings=settings, engine=engine,
                     session_factory=session_factory)

    async with app.router.lifespan_context(app):
        pass

    assert [c.method for c in bot_api.calls][:2] == ["getMe", "setWebhook"]
    webhook = bot_api.calls_of("setWebhook")[0].params
    assert webhook["url"] == "https://bot.example.org/channels/telegram/webhook"
    assert webhook["secret_token"] == SECRET
    assert webhook["allowed_updates"] == ["message", "callback_query", "my_chat_member"]


def test_create_app_refuses_token_without_secret(engine):
    from api.channels.telegram import TelegramConfigError

    settings = BotSettings(telegram_bot_token=TOKEN, _env_file=None)
    with pytest.raises(TelegramConfigError, match="TELEGRAM_WEBHOOK_SECRET"):
        create_app(ApiSettings(_env_file=None), bot_settings=settings, engine=engine)


async def test_create_app_without_token_has_no_telegram_route(engine):
    app = create_app(ApiSettings(_env_file=None), bot_settings=BotSettings(_env_file=None), engine=engine)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.post(WEBHOOK, json=load_update("start_command"),
                                     headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})

    assert response.status_code == 404


# ---------------------------------------------------------------------- nothing left behind
def make_due(session_factory) -> None:
    """Let the backoff of every waiting row pass (the worker would pick them up a little later)."""
    import datetime as dt_

    with session_factory() as session:
        for message in session.scalars(select(Message).where(Message.next_attempt_at.is_not(None))):
            message.next_attempt_at = dt_.datetime.now(dt_.UTC) - dt_.timedelta(seconds=1)
        session.commit()


async def test_a_crash_between_store_and_reply_is_answered_once_by_the_worker(chat, webhook, bot_api,
                                                                              session_factory, monkeypatch):
    from tests.utils.faults import crash_first_turn

    crashes = crash_first_turn(monkeypatch)
    update = chat.update("text_message")
    await webhook.deliver(update)  # stored, 200: Telegram will not redeliver it
    assert crashes and bot_api.messages_to(chat.id) == []
    [inbound] = [m for m in stored(session_factory, chat.id) if m.direction == Direction.inbound]
    assert inbound.status == MessageStatus.received and inbound.attempts == 1

    await webhook.deliver(update)  # a redelivery meanwhile is a duplicate, not a second turn
    make_due(session_factory)
    engine = services(webhook.app).engine
    assert await engine.run_due() == 1

    sent = bot_api.messages_to(chat.id)
    assert sent and "1.140" in shown(sent)
    assert await engine.run_due() == 0  # nothing left, nothing sent twice
    assert bot_api.messages_to(chat.id) == sent
    statuses = {m.status for m in stored(session_factory, chat.id)}
    assert statuses == {MessageStatus.processed, MessageStatus.sent}


async def test_a_reply_that_could_not_be_sent_is_retried_then_marked_dead(chat, webhook, bot_api, session_factory):
    from bot.conversations import backlog

    for _ in range(4):  # the sender's own retries (3) are not enough
        bot_api.fail_next("sendMessage", 502, "Bad Gateway")
    await webhook.deliver(chat.update("start_command"))
    assert bot_api.messages_to(chat.id) == []
    outbound = [m for m in stored(session_factory, chat.id) if m.direction == Direction.outbound]
    assert outbound[0].status == MessageStatus.failed and outbound[0].next_attempt_at is not None
    assert all(m.status == MessageStatus.pending for m in outbound[1:])  # later replies wait their turn

    make_due(session_factory)
    await services(webhook.app).engine.run_due()
    assert bot_api.messages_to(chat.id)[0]["text"] == html.escape(t("vi", messages.GREETING), quote=False)
    assert all(m.status == MessageStatus.sent for m in stored(session_factory, chat.id) if m.direction == Direction.outbound)

    # A chat whose replies never go out: after the last attempt the row is dead, and /health counts it.
    other = Chat()
    engine = services(webhook.app).engine
    max_attempts = 2
    engine.settings = engine.settings.model_copy(update={"outbox_max_attempts": max_attempts})
    for _ in range(4 * max_attempts):
        bot_api.fail_next("sendMessage", 502, "Bad Gateway")
    await webhook.deliver(other.update("start_command"))
    for _ in range(max_attempts):
        make_due(session_factory)
        await services(webhook.app).engine.run_due()
    first = [m for m in stored(session_factory, other.id) if m.direction == Direction.outbound][0]
    assert first.status == MessageStatus.dead and first.attempts == max_attempts
    with session_factory() as session:
        assert backlog(session=session)["dead_messages"] >= 1
    health = (await webhook.client.get("/health")).json()
    assert health["dead_messages"] >= 1 and health["status"] == "degraded"


async def test_deeply_nested_update_with_the_right_secret_is_400(webhook, bot_api, session_factory):
    before = message_count(session_factory)
    response = await webhook.post(None, raw=b'{"update_id": 1, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert response.status_code == 400
    response = await webhook.post(None, raw=b"{" + b'"a": "' + b"x" * 1_100_000 + b'"}')
    assert response.status_code == 413
    assert message_count(session_factory) == before and bot_api.calls_of("sendMessage", ok_only=False) == []


# ---------------------------------------------------------------------- a volunteer takes the chat
async def test_a_volunteer_answers_on_telegram_and_the_bot_comes_back(chat, webhook, bot_api, session_factory):
    from api.accounts import service as accounts

    with session_factory() as session:
        accounts.create(session=session, email="lan@example.org", password="correct horse battery",
                        role="volunteer", languages=["vi"], name="Lan")
        session.commit()
    token = (await webhook.client.post("/auth/token", json={"email": "lan@example.org",
                                                            "password": "correct horse battery"})).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}

    await webhook.deliver(chat.update("text_message", text="/human"))
    [handoff] = (await webhook.client.get("/api/handoffs?status=waiting", headers=headers)).json()["data"]
    assert handoff["channel"] == "telegram" and str(chat.id) not in str(handoff)

    assert (await webhook.client.post(f"/api/handoffs/{handoff['id']}/claim", headers=headers)).status_code == 200
    joined = bot_api.messages_to(chat.id)[-1]
    assert visible_text(joined["text"]) == t("vi", messages.VOLUNTEER_JOINED, name="Lan")
    before = len(bot_api.messages_to(chat.id))
    await webhook.deliver(chat.update("text_message", text="Lương tối thiểu ở Aichi là bao nhiêu?"))
    assert len(bot_api.messages_to(chat.id)) == before  # while claimed the bot sends nothing of its own

    reply = "Chào em <3, lương tối thiểu ở Aichi là 1.140 yên/giờ & em nên giữ phiếu lương."
    sent = await webhook.client.post(f"/api/handoffs/{handoff['id']}/messages", headers=headers, json={"text": reply})
    assert sent.status_code == 200
    assert visible_text(bot_api.messages_to(chat.id)[-1]["text"]) == reply  # escaped for Telegram HTML, shown as is
    detail = (await webhook.client.get(f"/api/handoffs/{handoff['id']}", headers=headers)).json()
    assert [m["delivery"] for m in detail["messages"] if m["direction"] == "volunteer"] == ["sent"]

    closed = await webhook.client.post(f"/api/handoffs/{handoff['id']}/close", headers=headers,
                                       json={"outcome": "information_given"})
    assert closed.status_code == 200
    last = bot_api.messages_to(chat.id)[-2:]
    assert visible_text(last[0]["text"]) == t("vi", messages.BACK_TO_BOT)
    assert [b["callback_data"] for row in button_rows(last[1]) for b in row] == [f"rate:{n}" for n in range(1, 6)]
    await webhook.deliver(chat.update("text_message", text="Lương tối thiểu ở Aichi là bao nhiêu?"))
    assert "1.140" in shown(bot_api.messages_to(chat.id)[-2:])  # the bot answers again


async def test_urgent_handoffs_are_announced_to_the_volunteers_group_when_configured(chat, webhook, bot_api):
    engine = services(webhook.app).engine
    group = "-1001234567890"
    await webhook.deliver(chat.update("text_message", text="cứu em với, nó đang đánh em"))
    assert [c for c in bot_api.calls_of("sendMessage") if str(c.params.get("chat_id")) == group] == []  # off by default

    engine.settings = engine.settings.model_copy(update={"handoff_notify_telegram_chat": group,
                                                         "inbox_public_url": "https://help.example.org"})
    other = Chat()
    await webhook.deliver(other.update("text_message", text="cứu em với, nó đang đánh em"))
    [notice] = [c.params for c in bot_api.calls_of("sendMessage") if str(c.params.get("chat_id")) == group]
    assert "Urgent handoff: language vi, reason emergency" in notice["text"]
    assert "https://help.example.org/inbox/h/" in notice["text"] and str(other.id) not in notice["text"]
    first_to_trainee = next(c for c in bot_api.calls_of("sendMessage") if c.params.get("chat_id") == other.id)
    to_group = next(c for c in bot_api.calls_of("sendMessage") if str(c.params.get("chat_id")) == group)
    assert "110" in visible_text(first_to_trainee.params["text"]) and first_to_trainee.at <= to_group.at  # trainee first
