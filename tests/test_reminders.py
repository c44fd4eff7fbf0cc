"""Wage-revision reminders (bot/reminders.py) end to end: trainees subscribe on Telegram, Zalo and the web chat; an
admin imports the revision; each subscriber gets the new rate of their prefecture in their language, within the
channel's rules (Telegram's sends spread, Zalo's 7-day window, the web chat on the next visit); on the effective
date a note with the payslip-check button; the admin sees subscribers and runs. Telegram's and Zalo's servers are
the loopback stand-ins; the clock is pinned (Japan time decides the dates).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re

import httpx
import pytest
from sqlalchemy import select, update

from api.config import ApiSettings
from api.main import create_app
from bot import messages
from bot.channels import telegram as telegram_channel
from bot.config import BotSettings
from bot.i18n import date, t, yen
from bot.models import Conversation, Message, MessageStatus, ReminderRun, WageSubscription
from bot.schemas import Inbound, Kind
from knowledge.db import utcnow
from knowledge.prefectures import display_name
from tests.channels.test_telegram import load_update
from tests.channels.test_zalo import seen
from tests.utils.chat import WebChat
from tests.utils.people import PASSWORD, bearer_headers, create_people
from tests.utils.telegram_api import FakeBotApi, visible_text
from tests.utils.wage_csv import expected_rates, revision_csv
from tests.utils.zalo_api import (
    ACCESS_TOKEN, APP_ID, APP_SECRET, OA_SECRET_KEY, REFRESH_TOKEN, ZaloCapture, event, signed,
)

TOKEN = "123456:reminder-test-token"
SECRET = "reminder-secret"
#: 2026-09-01, 10:00 in Japan: the FY2026 revision (from 1 October) is imported before it takes effect.
IMPORT_AT = dt.datetime(2026, 9, 1, 1, 0, tzinfo=dt.UTC)
#: 1 October 2026 in Japan: 07:30 (before the morning send hour), then 09:00.
EARLY = dt.datetime(2026, 9, 30, 22, 30, tzinfo=dt.UTC)
MORNING = dt.datetime(2026, 10, 1, 0, 0, tzinfo=dt.UTC)
FY2026 = expected_rates(fiscal_year=2026, raise_by=60)
_ids = itertools.count(1)


@pytest.fixture
def outside():
    with FakeBotApi(TOKEN) as bot_api, ZaloCapture() as zalo:
        yield bot_api, zalo


@pytest.fixture
async def app(engine, session_factory, outside):
    bot_api, zalo = outside
    settings = BotSettings(
        _env_file=None, nlu_url="http://127.0.0.1:9", nlu_timeout=0.5, rate_messages=100,
        telegram_bot_token=TOKEN, telegram_webhook_secret=SECRET, telegram_api_base_url=bot_api.base_url,
        zalo_app_id=APP_ID, zalo_oa_secret_key=OA_SECRET_KEY, zalo_app_secret=APP_SECRET,
        zalo_access_token=ACCESS_TOKEN, zalo_refresh_token=REFRESH_TOKEN, zalo_api_base_url=zalo.url,
        zalo_oauth_base_url=zalo.url)
    application = create_app(ApiSettings(_env_file=None, worker=False), bot_settings=settings, engine=engine,
                             session_factory=session_factory)
    bot = application.state.services.engine
    bot.now, bot.today = (lambda: IMPORT_AT), (lambda: IMPORT_AT.date())
    application.state.services.zalo.retry_delays = (0.01, 0.01)
    async with application.router.lifespan_context(application):
        yield application
    await application.state.services.zalo.aclose()


@pytest.fixture
async def client(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


@pytest.fixture
async def admin(client, session):
    people = create_people(session, admin=("admin", ["en"], "Mai"))
    session.commit()
    return (await bearer_headers(client, people))["admin"]


class Trainees:
    """Trainees writing through the real webhooks and the web chat."""

    def __init__(self, app, client, outside):
        self.app, self.client = app, client
        self.bot_api, self.zalo = outside

    async def telegram(self, chat_id: int, text: str | None = None, *, button: str | None = None) -> list[str]:
        before = len(self.bot_api.calls)
        if button is not None:
            update = load_update("callback_query", chat_id=chat_id, update_id=next(_ids) + 500_000_000)
            update["callback_query"]["data"] = button
        else:
            update = load_update("text_message", chat_id=chat_id, update_id=next(_ids) + 500_000_000, text=text)
        response = await self.client.post("/channels/telegram/webhook", json=update,
                                          headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
        assert response.status_code == 200, response.text
        await telegram_channel.flush(self.app.state.services.telegram)
        return [visible_text(c.params["text"]) for c in self.bot_api.calls[before:] if c.method == "sendMessage"]

    async def zalo_says(self, user_id: str, text: str) -> list[str]:
        before = len(self.zalo.sends(user_id))
        raw, headers = signed(event("user_send_text", text=text, user_id=user_id, msg_id=f"m{next(_ids)}"))
        response = await self.client.post("/channels/zalo/webhook", content=raw, headers=headers)
        assert response.status_code == 200, response.text
        return [seen(s) for s in self.zalo.delivered(user_id)[before:]]


@pytest.fixture
def trainees(app, client, outside):
    return Trainees(app, client, outside)


def conversation(session_factory, channel: str, user_id: str) -> Conversation:
    with session_factory() as session:
        return session.scalar(select(Conversation).where(Conversation.channel == channel,
                                                         Conversation.channel_user_id == user_id))


async def send_due(app, session_factory) -> None:
    """The worker sending what the runs queued (every conversation with pending replies, drained now)."""
    bot = app.state.services.engine
    with session_factory() as session:
        ids = set(session.scalars(select(Message.conversation_id).where(Message.status == MessageStatus.pending,
                                                                        Message.channel != "web")))
        session.execute(update(Message).where(Message.status == MessageStatus.pending)
                        .values(next_attempt_at=None))  # the spread is checked apart: send them all now
        session.commit()
    for conversation_id in ids:
        await bot.drain(conversation_id)
    await telegram_channel.flush(app.state.services.telegram)


async def import_fy2026(client, admin) -> dict:
    response = await client.post("/api/admin/wages/import?dry_run=false", headers=admin,
                                 files={"file": ("fy2026.csv", revision_csv(raise_by=60), "text/csv")})
    assert response.status_code == 200, response.text
    return response.json()


# ------------------------------------------------------------------------------------------ subscribing
async def test_remind_asks_the_prefecture_confirms_in_the_language_and_off_stops_it(trainees, session_factory):
    chat = 700_000_001
    asked = await trainees.telegram(chat, "/remind")
    assert asked == [t("vi", messages.ASK_PREFECTURE)]
    confirmed = "\n".join(await trainees.telegram(chat, "愛知"))
    assert t("vi", messages.REMIND_ON, prefecture=display_name("Aichi", "vi")) in confirmed
    assert t("vi", messages.REMIND_ZALO_WINDOW) not in confirmed  # that is for Zalo
    with session_factory() as session:
        [row] = session.scalars(select(WageSubscription))
        assert row.prefecture == "Aichi"

    await trainees.telegram(chat, "/remind Osaka")  # one prefecture: the new one replaces it
    with session_factory() as session:
        assert [r.prefecture for r in session.scalars(select(WageSubscription))] == ["Osaka"]

    stopped = await trainees.telegram(chat, "/remind off")
    assert stopped == [t("vi", messages.REMIND_OFF)]
    with session_factory() as session:
        assert session.scalars(select(WageSubscription)).all() == []


async def test_zalo_subscribers_are_told_of_the_7_day_window(trainees):
    replies = "\n".join(await trainees.zalo_says("9001", "/remind Aichi"))
    assert seen(t("vi", messages.REMIND_ZALO_WINDOW)) in replies


async def test_a_wage_answer_offers_the_reminder_and_forget_removes_it(app, session_factory):
    bot = app.state.services.engine

    async def press(payload=None, text=None):
        inbound = (Inbound(channel="cli", user_id="w1", kind=Kind.button, payload=payload, lang="id") if payload
                   else Inbound(channel="cli", user_id="w1", text=text, lang="id"))
        return (await bot.handle(inbound)).replies

    await press("topic:minimum_wage")
    answer = await press(text="Aichi")
    offered = [b.payload for r in answer for b in r.buttons]
    assert "remind:Aichi" in offered
    confirmed = await press("remind:Aichi")
    assert t("id", messages.REMIND_ON, prefecture=display_name("Aichi", "id")) in confirmed[0].text
    await press(text="/forget")
    await press("forget:yes")
    with session_factory() as session:
        assert session.scalars(select(WageSubscription)).all() == []

    more = await press("more:wage_check")  # under the longer wage-check text: the reminder asks the prefecture
    assert "remind:" in [b.payload for r in more for b in r.buttons]
    assert (await press("remind:"))[0].text == t("id", messages.ASK_PREFECTURE)
    confirmed = await press(text="大阪")
    assert t("id", messages.REMIND_ON, prefecture=display_name("Osaka", "id")) in confirmed[0].text
    with session_factory() as session:
        assert [r.prefecture for r in session.scalars(select(WageSubscription))] == ["Osaka"]


# ------------------------------------------------------------------------------------------ the import
async def test_an_import_tells_each_subscriber_their_new_rate_within_each_channels_rules(
        app, client, admin, trainees, outside, session_factory):
    bot_api, zalo = outside
    telegram_chat, zalo_recent, zalo_silent = 700_000_002, "9101", "9102"
    await trainees.telegram(telegram_chat, "/remind Aichi")
    await trainees.zalo_says(zalo_recent, "/remind Tokyo")
    await trainees.zalo_says(zalo_silent, "/remind Tokyo")
    web = WebChat(client, lang="tl")
    await web.press("lang:tl")
    await web.say("/remind Osaka")
    await trainees.telegram(700_000_003, "/remind Hokkaido")
    await trainees.telegram(700_000_003, "/remind off")  # stopped: gets nothing
    silent = conversation(session_factory, "zalo", zalo_silent)
    with session_factory() as session:  # the silent one last wrote 8 days ago
        session.execute(update(Message).where(Message.conversation_id == silent.id)
                        .values(created_at=utcnow() - dt.timedelta(days=8)))
        session.commit()
    telegram_before, zalo_before = len(bot_api.calls), len(zalo.sends())

    await import_fy2026(client, admin)
    await send_due(app, session_factory)

    got = [visible_text(c.params["text"]) for c in bot_api.calls[telegram_before:] if c.method == "sendMessage"]
    assert got == [t("vi", messages.REMIND_REVISION, prefecture=display_name("Aichi", "vi"),
                     amount=yen(FY2026["Aichi"], "vi"), date=date(dt.date(2026, 10, 1), "vi"),
                     old=yen(FY2026["Aichi"] - 60, "vi"))]
    buttons = [b["callback_data"] for row in bot_api.calls[-1].params["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == ["payslip:start", "remind:off"]
    sent = [seen(s) for s in zalo.delivered(zalo_recent)]
    assert any(seen(t("vi", messages.REMIND_REVISION, prefecture=display_name("Tokyo", "vi"),
                      amount=yen(FY2026["Tokyo"], "vi"), date=date(dt.date(2026, 10, 1), "vi"),
                      old=yen(FY2026["Tokyo"] - 60, "vi"))) in s for s in sent)
    assert zalo.delivered(zalo_silent)[-1:] != sent[-1:]  # skipped: outside Zalo's window
    assert len(zalo.sends()) == zalo_before + 1

    page = await web.client.get("/channels/web/history")  # the web chat: shown on the next visit
    texts = [m["text"] for m in page.json()["messages"]]
    expected_web = t("tl", messages.REMIND_REVISION, prefecture=display_name("Osaka", "tl"),
                     amount=yen(FY2026["Osaka"], "tl"), date=date(dt.date(2026, 10, 1), "tl"),
                     old=yen(FY2026["Osaka"] - 60, "tl"))
    assert texts[-1] == expected_web
    with session_factory() as session:
        status = session.scalar(select(Message.status).where(Message.text == expected_web))
    assert status == MessageStatus.sent  # shown: the event stream does not push it again

    state = (await client.get("/api/admin/reminders", headers=admin)).json()
    by_prefecture = {s["prefecture"]: s for s in state["subscribers"]}
    assert by_prefecture["Tokyo"] == {"prefecture": "Tokyo", "subscribers": 2, "channels": {"zalo": 2}}
    assert "Hokkaido" not in by_prefecture
    runs = {r["prefecture"]: r for r in state["runs"] if r["kind"] == "revision"}
    assert len([r for r in state["runs"] if r["kind"] == "revision"]) == 47
    tokyo = runs["Tokyo"]
    assert (tokyo["subscribers"], tokyo["sent"], tokyo["skipped"], tokyo["state"]) == (2, 1, 1, "done")
    assert (runs["Aichi"]["sent"], runs["Aichi"]["waiting"], runs["Osaka"]["sent"]) == (1, 0, 1)
    assert runs["Hokkaido"]["subscribers"] == 0

    again = len(bot_api.calls)
    await import_fy2026(client, admin)  # the same file again: nothing changed, nothing sent
    await send_due(app, session_factory)
    assert [c for c in bot_api.calls[again:] if c.method == "sendMessage"] == []


async def test_telegram_sends_are_spread_and_a_zalo_refusal_is_not_retried(
        app, client, admin, trainees, outside, session_factory):
    bot_api, zalo = outside
    chats = [700_000_010 + i for i in range(5)]
    for chat in chats:
        await trainees.telegram(chat, "/remind Kyoto")
    await trainees.zalo_says("9201", "/remind Kyoto")
    await import_fy2026(client, admin)
    with session_factory() as session:
        times = list(session.scalars(select(Message.next_attempt_at).where(
            Message.channel == "telegram", Message.status == MessageStatus.pending).order_by(Message.next_attempt_at)))
    assert len(times) == 5
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
    assert all(gap >= 1 / 20 - 1e-6 for gap in gaps), gaps  # at most 20 a second

    zalo.answer_next(200, {"error": -230, "message": "User has not interacted with the OA in the past 7 days"})
    zalo_before = len(zalo.sends())
    await send_due(app, session_factory)
    assert len(zalo.sends()) == zalo_before + 1  # tried once, not again
    await send_due(app, session_factory)
    assert len(zalo.sends()) == zalo_before + 1
    run = next(r for r in (await client.get("/api/admin/reminders", headers=admin)).json()["runs"]
               if r["prefecture"] == "Kyoto")
    assert (run["sent"], run["refused"], run["waiting"], run["state"]) == (5, 1, 0, "done")


# ------------------------------------------------------------------------------------------ the effective date
async def test_on_the_effective_date_each_subscriber_gets_one_note_in_the_morning(
        app, client, admin, trainees, outside, session_factory):
    bot_api, _ = outside
    bot = app.state.services.engine
    chat = 700_000_020
    await trainees.telegram(chat, "/remind Fukuoka")
    await import_fy2026(client, admin)
    await send_due(app, session_factory)
    before = len(bot_api.calls)

    bot.now = lambda: EARLY  # 07:30 in Japan on the day: not yet
    assert bot.plan_reminders() == 0
    bot.now = lambda: MORNING
    assert bot.plan_reminders() == 47
    assert bot.plan_reminders() == 0  # once, whichever process looks again
    await send_due(app, session_factory)
    got = [visible_text(c.params["text"]) for c in bot_api.calls[before:] if c.method == "sendMessage"]
    assert got == [t("vi", messages.REMIND_EFFECTIVE, prefecture=display_name("Fukuoka", "vi"),
                     amount=yen(FY2026["Fukuoka"], "vi"), date=date(dt.date(2026, 10, 1), "vi"))]
    pressed = "\n".join(await trainees.telegram(chat, button="payslip:start"))
    assert t("vi", messages.PAYSLIP_START) in pressed  # the note's button starts the payslip check

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as browser:
        signed_in = await browser.post("/inbox/login", data={"email": "admin@example.org", "password": PASSWORD})
        assert signed_in.status_code == 303
        page = await browser.get("/admin/reminders")
    assert page.status_code == 200
    row = re.search(r"<tr><td>Fukuoka</td><td>(\d+)</td><td>(\d+)</td>", page.text)
    assert row and row.groups() == ("1", "1")
    assert "effective date" in page.text and "new rate" in page.text
    with session_factory() as session:
        kinds = {r.kind for r in session.scalars(select(ReminderRun).where(ReminderRun.prefecture == "Fukuoka"))}
    assert kinds == {"revision", "effective"}


async def test_a_day_missed_is_caught_up_saying_since(app, client, admin, trainees, outside, session_factory):
    bot_api, _ = outside
    bot = app.state.services.engine
    await trainees.telegram(700_000_030, "/remind Nara")
    await import_fy2026(client, admin)
    await send_due(app, session_factory)
    before = len(bot_api.calls)
    bot.now = lambda: MORNING + dt.timedelta(days=2)  # the system was down on the day
    bot.plan_reminders()
    await send_due(app, session_factory)
    got = [visible_text(c.params["text"]) for c in bot_api.calls[before:] if c.method == "sendMessage"]
    assert got == [t("vi", messages.REMIND_EFFECTIVE_LATE, prefecture=display_name("Nara", "vi"),
                     amount=yen(FY2026["Nara"], "vi"), date=date(dt.date(2026, 10, 1), "vi"))]
