"""Rate limits that hold across app processes (bot/ratelimit.py): a flooding trainee is slowed and others are
not, danger words are never held, handoffs a trainee asks for are limited (an emergency never), sign-ins are
limited per email and client address; counted in the database, so two app instances on one database share them.

The limits' windows follow their own clock (bot.ratelimit.clock, the real time), pinned here; nothing sleeps for
a window. The messages are
commands and danger words, which never reach the NLU (the apps point it at a closed port).
"""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest
from sqlalchemy import func, select

from api.accounts import service as accounts
from api.config import ApiSettings
from api.main import create_app
from bot import handoffs, messages, ratelimit
from bot.config import BotSettings
from bot.i18n import t
from bot.models import Conversation, Direction, Handoff, HandoffStatus, Message, MessageStatus, Priority, RateBucket
from bot.schemas import Inbound
from knowledge.db import make_engine, make_session_factory
from tests.utils.chat import WebChat, text_of
from tests.utils.people import PASSWORD, create_people

#: A Tuesday, 14:00:05 in Japan (volunteers online), 5 s into a 30-second window.
START = dt.datetime(2026, 12, 1, 5, 0, 5, tzinfo=dt.UTC)
HELP = t("en", messages.HELP)
SLOW_DOWN = t("en", messages.SLOW_DOWN)
HANDOFF_LIMIT = t("en", messages.HANDOFF_LIMIT)
HANDOFF_STARTED = t("en", messages.HANDOFF_STARTED)
CALL_110_NOW = t("en", messages.CALL_110_NOW)


class Clock:
    def __init__(self, now: dt.datetime = START):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += dt.timedelta(**delta)


def settings(**limits) -> BotSettings:
    """Small limits so a test floods quickly; the NLU is a closed port (these messages never reach it)."""
    values = {"rate_messages": 3, "rate_flood_factor": 3, "rate_web_address_messages": 1000,
              "rate_handoffs_per_day": 2, "rate_web_address_handoffs_per_hour": 1000, **limits}
    return BotSettings(_env_file=None, nlu_url="http://127.0.0.1:9", nlu_timeout=0.5, **values)


def build_app(bot_settings: BotSettings, **database):
    app = create_app(ApiSettings(_env_file=None, worker=False), bot_settings=bot_settings, **database)
    app.state.services.engine.now = lambda: START  # the answers' clock (volunteers online): apart from the limits'
    return app


@pytest.fixture
def clock(monkeypatch) -> Clock:
    pinned = Clock()
    monkeypatch.setattr(ratelimit, "clock", pinned)
    return pinned


@pytest.fixture
def make_app(engine, session_factory, clock):
    """An app on the test's transaction with the given limits."""
    return lambda **limits: build_app(settings(**limits), engine=engine, session_factory=session_factory)


def cli(text: str, user: str = "flooder") -> Inbound:
    return Inbound(channel="cli", user_id=user, text=text, lang="en")


def texts(outcome) -> str:
    return "\n".join(reply.text for reply in outcome.replies)


def inbound_rows(session, user: str = "flooder") -> list[Message]:
    session.expire_all()
    return list(session.scalars(
        select(Message).join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.channel_user_id == user, Message.direction == Direction.inbound).order_by(Message.id)))


def replies_to(session, message: Message) -> list[str]:
    return list(session.scalars(select(Message.text).where(Message.reply_to_id == message.id).order_by(Message.id)))


# ---------------------------------------------------------------------------------------------- messages
async def test_a_flooding_trainee_is_held_then_answered_and_a_script_is_stored_unanswered(make_app, clock, session):
    engine = make_app().state.services.engine  # 3 per window; held up to 9; beyond: flooded
    answers = [texts(await engine.handle(cli("/help"))) for _ in range(12)]
    assert answers[:3] == [HELP] * 3
    assert answers[3] == SLOW_DOWN  # one polite notice per window, then silence
    assert answers[4:] == [""] * 8
    rows = inbound_rows(session)
    assert len(rows) == 12  # nothing is lost: every message is stored
    assert [m.status for m in rows] == [MessageStatus.processed] * 3 + [ratelimit.HELD] * 6 + [ratelimit.FLOODED] * 3

    # Someone else writing at the same time is not slowed.
    assert texts(await engine.handle(cli("/help", user="calm"))) == HELP

    # Danger words are never held: answered at once, though the window is over the limit.
    emergency = await engine.handle(cli("I want to die"))
    assert texts(emergency).startswith(CALL_110_NOW)
    assert inbound_rows(session)[-1].status == MessageStatus.processed

    # After the window, the worker answers the held messages, in order; the flooded ones stay unanswered.
    clock.advance(seconds=30)
    assert await engine.run_due() >= 1
    rows = inbound_rows(session)
    assert [m.status for m in rows[3:9]] == [MessageStatus.processed] * 6
    assert [replies_to(session, m) for m in rows[4:9]] == [[HELP]] * 5
    assert replies_to(session, rows[3]) == [SLOW_DOWN, HELP]
    assert [m.status for m in rows[9:12]] == [ratelimit.FLOODED] * 3 and all(not replies_to(session, m) for m in rows[9:12])
    await engine.handle(cli("/help"))  # a new window: answered at once again
    assert inbound_rows(session)[-1].status == MessageStatus.processed


async def test_the_next_message_after_the_window_takes_the_held_ones_first(make_app, clock, session):
    engine = make_app(rate_messages=2).state.services.engine
    for _ in range(4):
        await engine.handle(cli("/help"))
    assert [m.status for m in inbound_rows(session)] == [MessageStatus.processed] * 2 + [ratelimit.HELD] * 2
    clock.advance(seconds=30)
    outcome = await engine.handle(cli("/language"))  # no worker tick: this message's own turn releases them
    rows = inbound_rows(session)
    assert [m.status for m in rows] == [MessageStatus.processed] * 5
    answered = [first_reply_id(session, m) for m in rows[2:]]
    assert answered == sorted(answered)  # the held ones first, in order, then the new one
    # The page gets what was waiting for it, oldest first: the held answers, then this one's.
    assert [r.text for r in outcome.replies] == [HELP, HELP, t("en", messages.CHOOSE_LANGUAGE)]


async def test_a_held_message_the_nlu_reads_as_an_emergency_is_answered_at_once(engine, session_factory, clock,
                                                                               session, nlu_url):
    """No danger word the list knows, but the NLU reads an emergency: the window does not make it wait."""
    bot_settings = settings(rate_messages=2).model_copy(update={"nlu_url": nlu_url, "nlu_timeout": 10.0})
    app = build_app(bot_settings, engine=engine, session_factory=session_factory)
    chat_engine = app.state.services.engine
    for _ in range(3):
        await chat_engine.handle(cli("/help"))
    assert inbound_rows(session)[-1].status == ratelimit.HELD  # over the limit: held
    outcome = await chat_engine.handle(cli("smoke everywhere in our dorm we are stuck"))
    assert CALL_110_NOW in texts(outcome)  # the emergency numbers now, not after the window
    rows = inbound_rows(session)
    assert rows[-1].status == MessageStatus.processed and rows[-1].intent == "emergency"
    assert rows[2].status == ratelimit.HELD  # the /help before it still waits for its window
    assert session.scalar(select(Handoff.priority).join(Conversation).where(Conversation.channel_user_id == "flooder")) \
        == Priority.urgent


def first_reply_id(session, message: Message) -> int:
    return min(session.scalars(select(Message.id).where(Message.reply_to_id == message.id)))


async def test_the_web_chat_counts_per_client_address_too(make_app, session):
    app = make_app(rate_web_address_messages=3)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        # A script dropping its cookie every time: a new identity per message, all from one address.
        bodies = [await WebChat(client, lang="en").say("/help") for _ in range(5)]
        assert [text_of(b) for b in bodies[:3]] == [HELP] * 3
        assert [text_of(b) for b in bodies[3:]] == [SLOW_DOWN] * 2  # each identity's first held message: one notice
        behind_the_same_address = WebChat(client, lang="en")
        assert [text_of(await behind_the_same_address.say("/help")) for _ in range(2)] == [SLOW_DOWN, ""]
        danger = await WebChat(client, lang="en").say("I want to die")  # never held
        assert text_of(danger).startswith(CALL_110_NOW) and danger["meta"]["handoff_id"]
    held = session.scalar(select(func.count()).select_from(Message).where(Message.status == ratelimit.HELD))
    assert held == 4


# ---------------------------------------------------------------------------------------------- handoffs
async def close(session, user: str) -> None:
    session.expire_all()
    handoff = session.scalar(select(Handoff).join(Conversation, Conversation.id == Handoff.conversation_id).where(
        Handoff.status.in_((HandoffStatus.waiting, HandoffStatus.claimed)), Conversation.channel_user_id == user))
    handoffs.end(session=session, handoff=handoff, status=HandoffStatus.closed, lang="en")
    session.commit()


def handoff_count(session, **where) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Handoff).filter_by(**where)) or 0


async def test_new_handoffs_per_conversation_are_limited_per_day_but_an_emergency_never(make_app, clock, session):
    engine = make_app(rate_messages=100).state.services.engine
    asked = texts(await engine.handle(cli("/human", user="asker")))
    assert asked.startswith(HANDOFF_STARTED)
    await engine.handle(cli("/human", user="asker"))  # asked again while it is open: the same handoff, not counted
    assert handoff_count(session) == 1
    await close(session, "asker")
    assert texts(await engine.handle(cli("/human", user="asker"))).startswith(HANDOFF_STARTED)  # the second today
    await close(session, "asker")

    refused = texts(await engine.handle(cli("/human", user="asker")))
    assert refused.startswith(HANDOFF_LIMIT) and "\n\n" in refused  # the numbers to call follow
    assert handoff_count(session) == 2 and handoff_count(session, status=HandoffStatus.waiting) == 0

    emergency = texts(await engine.handle(cli("I want to die", user="asker")))
    assert emergency.startswith(CALL_110_NOW)
    assert handoff_count(session, status=HandoffStatus.waiting, priority=Priority.urgent) == 1
    await close(session, "asker")

    clock.advance(days=1)  # the next day: asking works again
    assert texts(await engine.handle(cli("/human", user="asker"))).startswith(HANDOFF_STARTED)


async def test_web_chat_handoffs_are_limited_per_client_address(make_app, session):
    app = make_app(rate_web_address_handoffs_per_hour=2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        first, second, third = [await WebChat(client, lang="en").say("/human") for _ in range(3)]  # minted identities
        assert first["meta"]["handoff_id"] and second["meta"]["handoff_id"]
        assert text_of(third).startswith(HANDOFF_LIMIT) and third["meta"]["handoff_id"] is None
        danger = await WebChat(client, lang="en").say("I want to die")
        assert danger["meta"]["handoff_id"] and text_of(danger).startswith(CALL_110_NOW)
    assert handoff_count(session) == 3


# ---------------------------------------------------------------------------------------------- buckets
def test_expired_buckets_are_deleted_by_the_worker_tick(session):
    limit = ratelimit.Limit("test", 5, dt.timedelta(seconds=30))
    assert [ratelimit.hit(session=session, limit=limit, subject="a", now=START) for _ in range(3)] == [1, 2, 3]
    ratelimit.hit(session=session, limit=limit, subject="a", now=START + dt.timedelta(seconds=30))  # the next window
    session.commit()
    ratelimit._last_purge = 0.0
    ratelimit.tick(session=session, now=START + dt.timedelta(seconds=31))
    session.commit()
    left = session.execute(select(RateBucket.key, RateBucket.count).where(RateBucket.key == "test:a")).all()
    assert left == [("test:a", 1)]


# ---------------------------------------------------------------------------------------------- across processes
@pytest.fixture
def two_apps(database_url, clock):
    """Two app instances, each with its own database engine and pool (as two processes), on one database."""
    limits = settings()
    databases = [make_engine(database_url) for _ in range(2)]
    apps = [build_app(limits, engine=db, session_factory=make_session_factory(db)) for db in databases]
    yield apps
    for db in databases:
        db.dispose()


def clients(apps):
    return [httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") for app in apps]


async def test_a_flood_split_between_two_processes_is_still_limited(two_apps):
    engines = [app.state.services.engine for app in two_apps]
    answers = [texts(await engines[n % 2].handle(cli("/help"))) for n in range(8)]
    assert answers[:3] == [HELP] * 3 and answers[3] == SLOW_DOWN and answers[4:] == [""] * 4
    # At the same time, on both: still one series (1, 2, 3 …), one notice.
    results = await asyncio.gather(*(engines[n % 2].handle(cli("/help", user="twin")) for n in range(8)))
    said = [reply.text for outcome in results for reply in outcome.replies]  # whichever response carried them
    assert sorted(said) == sorted([HELP] * 3 + [SLOW_DOWN])
    with two_apps[0].state.services.session_factory() as session:
        statuses = [m.status for m in inbound_rows(session, "twin")]
    assert statuses.count(MessageStatus.processed) == 3 and statuses.count(ratelimit.HELD) == 5


async def test_sign_in_failures_are_counted_across_processes(two_apps):
    with two_apps[0].state.services.session_factory() as session:
        create_people(session, lan=("volunteer", ["vi"], "Lan"))
    a, b = clients(two_apps)
    async with a, b:
        for n in range(5):  # wrong passwords, alternately on the form and the token route of either process
            if n % 2:
                response = await b.post("/auth/token", json={"email": "lan@example.org", "password": "wrong"})
            else:
                response = await a.post("/inbox/login", data={"email": "lan@example.org", "password": "wrong"})
            assert response.status_code == 401
        for client in (a, b):  # locked now, even with the right password, on both
            assert (await client.post("/auth/token", json={"email": "lan@example.org",
                                                          "password": PASSWORD})).status_code == 429
            form = await client.post("/inbox/login", data={"email": "lan@example.org", "password": PASSWORD})
            assert form.status_code == 429 and "Too many failed sign-ins" in form.text
        # Another account from the same address still signs in (the address allows 20 failures).
        with two_apps[1].state.services.session_factory() as session:
            create_people(session, budi=("volunteer", ["id"], "Budi"))
        assert (await b.post("/auth/token", json={"email": "budi@example.org", "password": PASSWORD})).status_code == 200


async def test_concurrent_guesses_on_two_processes_get_at_most_five_password_checks(two_apps):
    with two_apps[0].state.services.session_factory() as session:
        create_people(session, lan=("volunteer", ["vi"], "Lan"))
    a, b = clients(two_apps)
    async with a, b:
        responses = await asyncio.gather(*(
            (a, b)[n % 2].post("/auth/token", json={"email": "lan@example.org", "password": f"guess {n}"})
            for n in range(12)))
    codes = sorted(r.status_code for r in responses)
    assert codes.count(401) <= accounts.MAX_FAILURES and set(codes) <= {401, 429} and 429 in codes
