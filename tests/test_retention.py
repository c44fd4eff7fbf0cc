"""Retention (bot/retention.py): transcripts older than RETENTION_DAYS go, conversations with an open handoff stay,
and the anonymous statistics of every week are the same before and after. On SQLite and PostgreSQL, with a
pinned clock."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event, func, select, text

from api.admin import stats
from bot import retention
from bot.models import (
    Conversation, Handoff, HandoffEvent, HandoffNote, HandoffStatus, KeptConversationStat, KeptHandoffStat, Message,
    MissedMessage, ScheduledJob,
)

NOW = dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
DAYS = 180
SECRET_TEXT = "chủ giữ hộ chiếu của em ZQX-7731"
USER = "zalo-user-5550123"


def clock() -> dt.datetime:
    return NOW


def ago(days: float, hours: float = 0) -> dt.datetime:
    return NOW - dt.timedelta(days=days, hours=hours)


def conversation(session, n: int, lang: str | None, *messages: tuple, touched: dt.datetime | None = None,
                 channel: str = "zalo") -> Conversation:
    """A conversation with inbound messages (intent, meta, created_at), each answered by the bot."""
    last = max((m[2] for m in messages), default=NOW)
    conv = Conversation(channel=channel, channel_user_id=f"{USER}-{n}", lang=lang, slots={"prefecture": "Aichi"},
                        created_at=min((m[2] for m in messages), default=NOW), updated_at=touched or last)
    session.add(conv)
    session.flush()
    for intent, meta, created_at in messages:
        inbound = Message(conversation_id=conv.id, channel=channel, direction="inbound", text=SECRET_TEXT,
                          status="processed", intent=intent, meta=meta, created_at=created_at)
        session.add(inbound)
        session.flush()
        session.add(Message(conversation_id=conv.id, channel=channel, direction="outbound", text="reply",
                            status="sent", reply_to_id=inbound.id, created_at=created_at + dt.timedelta(seconds=1)))
    session.flush()
    return conv


def handoff(session, conv: Conversation, n: int, *, requested: dt.datetime, status: str, waited: float | None,
            outcome: str | None = None, reason: str = "asked", note: bool = False) -> Handoff:
    claimed = requested + dt.timedelta(minutes=waited) if waited is not None else None
    row = Handoff(public_id=f"pub{n}-{conv.id}", conversation_id=conv.id, channel=conv.channel, lang=conv.lang,
                  reason=reason, priority="high", status=status, requested_at=requested, claimed_at=claimed,
                  closed_at=claimed + dt.timedelta(minutes=30) if outcome else None, outcome=outcome)
    session.add(row)
    session.flush()
    session.add(HandoffEvent(handoff_id=row.id, kind="handoff.opened", created_at=requested))
    if note:
        session.add(HandoffNote(handoff_id=row.id, text=f"note about {SECRET_TEXT}", created_at=requested))
    session.flush()
    return row


@pytest.fixture
def data(session):
    """Eight kinds of conversation around the cutoff (180 days before 2026-11-25):

    * `old`: six vi conversations from Aichi about passports, 181 and 188 days ago (two weeks: a distinct count
      over both must stay 6, not 12), each with a closed handoff (5, 10, … minutes to the claim) and a note;
    * `young`: one at 179 days (minimum wage): stays whole;
    * `held`: one 200 days old whose handoff is still waiting: stays whole;
    * `mixed`: five id conversations that named Osaka 200 days ago and ask about pay again now (the old messages
      go, the conversation stays, its recent cell still says Osaka);
    * a missed message 190 days old, and an inbox event of no handoff 190 days old.
    """
    old = []
    for n in range(6):
        conv = conversation(session, n, "vi",
                            ("passport_confiscation", {"prefecture": "Aichi"}, ago(188)),
                            ("passport_confiscation", None, ago(181)))
        handoff(session, conv, n, requested=ago(181, 1), status=HandoffStatus.closed, waited=5.0 * (n + 1),
                outcome="information_given", note=True)
        old.append(conv)
    young = conversation(session, 10, "vi", ("minimum_wage", {"prefecture": "Aichi"}, ago(179)))
    held = conversation(session, 11, "ja", ("harassment_violence", None, ago(200)))
    handoff(session, held, 11, requested=ago(200), status=HandoffStatus.waiting, waited=None, note=True)
    mixed = [conversation(session, 20 + n, "id",
                          ("unpaid_wages", {"prefecture": "Osaka"}, ago(200)),
                          ("unpaid_wages", None, ago(3)))
             for n in range(5)]
    session.add(MissedMessage(conversation_id=old[0].id, lang="vi", text=SECRET_TEXT, reason="out_of_scope",
                              created_at=ago(190)))
    session.add(MissedMessage(conversation_id=mixed[0].id, lang="id", text=SECRET_TEXT, reason="out_of_scope",
                              created_at=ago(190)))
    session.add(HandoffEvent(handoff_id=None, kind="handoff.deleted", created_at=ago(190)))
    session.commit()
    return {"old": [c.id for c in old], "young": young.id, "held": held.id, "mixed": [c.id for c in mixed]}


def snapshot(session, period: stats.Period) -> dict:
    """Every number the statistics page shows, and the raw counts under them."""
    cells = {key: len(ids) for key, ids in stats.conversation_cells(session, period).items()}
    handoffs = sorted((h.week, h.reason, h.outcome, h.lang, h.waited) for h in stats.handoff_rows(session, period))
    return {"cells": cells, "handoffs": handoffs, "report": stats.report(session, period)}


PERIODS = [
    stats.Period.of(TODAY, TODAY - dt.timedelta(days=210), TODAY),  # over the cutoff: old and recent weeks
    stats.Period.of(TODAY, TODAY - dt.timedelta(days=190), TODAY - dt.timedelta(days=181)),  # only old weeks
    stats.Period.of(TODAY, TODAY - dt.timedelta(days=210), TODAY, lang="vi"),
    stats.Period.of(TODAY, TODAY - dt.timedelta(days=210), TODAY, lang="id"),
]


def count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_old_transcripts_go_the_rest_stays_and_the_statistics_do_not_change(session, session_factory, data):
    before = [snapshot(session, period) for period in PERIODS]
    whole = before[0]
    # the numbers the test is about are really there: distinct over two weeks, kept handoffs, the recent cell
    by_topic = {t["topic"]: t["conversations"] for t in whole["report"]["conversations"]["by_topic"]}
    assert by_topic == {"passport_confiscation": 6, "minimum_wage": "<5", "harassment_violence": "<5",
                        "unpaid_wages": 5}  # six, not twelve: distinct over the two weeks
    assert whole["report"]["waiting"]["overall"]["median_minutes"] == 17.5
    recent_week = retention.week_of(ago(3))
    assert whole["cells"][(recent_week, "unpaid_wages", "Osaka", "id")] == 5

    result = retention.run(session_factory, days=DAYS, batch=7, clock=clock)
    assert (result.conversations, result.handoffs, result.complete) == (6, 6, True)
    assert result.messages == 6 * 4 + 5 * 2  # the six old ones whole, the old half of the five mixed ones
    assert (result.missed_messages, result.notes) == (2, 0)  # the old ones' notes went with their handoffs

    session.expire_all()
    assert [snapshot(session, period) for period in PERIODS] == before

    ids = data["old"]
    assert count(session, Conversation, Conversation.id.in_(ids)) == 0
    assert count(session, Message, Message.conversation_id.in_(ids)) == 0
    assert count(session, Handoff, Handoff.conversation_id.in_(ids)) == 0
    assert count(session, HandoffNote) == 1  # the held conversation's
    assert count(session, Message, Message.conversation_id == data["young"]) == 2
    assert count(session, Message, Message.conversation_id == data["held"]) == 2  # an open handoff keeps it all
    for mixed in data["mixed"]:
        assert list(session.scalars(select(Message.created_at).where(Message.conversation_id == mixed)
                                    .order_by(Message.id))) == [ago(3), ago(3) + dt.timedelta(seconds=1)]
    assert count(session, MissedMessage) == 0
    assert count(session, HandoffEvent, HandoffEvent.created_at < ago(DAYS)) == 1  # the held handoff's

    # nothing kept says who, or what was written
    rows = (session.execute(text("SELECT * FROM kept_conversation_stat")).all()
            + session.execute(text("SELECT * FROM kept_handoff_stat")).all())
    dump = repr(rows)
    assert SECRET_TEXT not in dump and USER not in dump and "pub" not in dump
    anonymous = session.execute(select(KeptConversationStat.topic, KeptConversationStat.prefecture,
                                       KeptConversationStat.lang, KeptConversationStat.weeks,
                                       KeptConversationStat.conversations)
                                .where(KeptConversationStat.conversation_id.is_(None))).all()
    assert anonymous == [("passport_confiscation", "Aichi", "vi",
                          f"{retention.week_of(ago(188)).isoformat()},{retention.week_of(ago(181)).isoformat()}", 6)]
    assert count(session, KeptHandoffStat) == 6  # six different waits

    # a second run finds nothing more, and the numbers still hold
    again = retention.run(session_factory, days=DAYS, batch=7, clock=clock)
    assert (again.conversations, again.messages) == (0, 0)
    session.expire_all()
    assert [snapshot(session, period) for period in PERIODS] == before


def test_the_young_and_the_held_go_when_their_time_comes(session, session_factory, data):
    later = lambda: NOW + dt.timedelta(days=2)  # noqa: E731  the young one is now 181 days old
    result = retention.run(session_factory, days=DAYS, clock=later)
    assert count(session, Conversation, Conversation.id == data["young"]) == 0
    assert count(session, Conversation, Conversation.id == data["held"]) == 1
    session.execute(text("UPDATE handoff SET status = 'closed' WHERE conversation_id = :id"), {"id": data["held"]})
    session.commit()
    retention.run(session_factory, days=DAYS, clock=later)
    assert count(session, Conversation, Conversation.id == data["held"]) == 0
    assert result.conversations == 7


def test_a_dry_run_counts_what_a_run_deletes_and_deletes_nothing(session, session_factory, data):
    dry = retention.run(session_factory, days=DAYS, dry_run=True, clock=clock)
    assert count(session, Message) == 2 * (6 * 2 + 1 + 1 + 5 * 2)
    real = retention.run(session_factory, days=DAYS, clock=clock)
    assert (dry.conversations, dry.messages, dry.handoffs, dry.missed_messages) == (
        real.conversations, real.messages, real.handoffs, real.missed_messages)


def test_each_transaction_deletes_at_most_the_batch(session_factory, connection, data):
    deleted_per_transaction: list[int] = []  # messages deleted by each transaction
    pending = [0]

    def on_execute(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("DELETE FROM MESSAGE ") and cursor.rowcount > 0:
            pending[0] += cursor.rowcount

    def on_commit(session):
        deleted_per_transaction.append(pending[0])
        pending[0] = 0

    event.listen(connection, "after_cursor_execute", on_execute)
    event.listen(session_factory, "after_commit", on_commit)
    try:
        result = retention.run(session_factory, days=DAYS, batch=3, clock=clock)
    finally:
        event.remove(connection, "after_cursor_execute", on_execute)
        event.remove(session_factory, "after_commit", on_commit)
    assert result.messages == 34
    # at most 3 messages per transaction (a reply left out of a batch goes with the message it answers), so
    # the 34 messages took at least 34 / 6 transactions
    assert 0 < max(deleted_per_transaction) <= 3 and len([n for n in deleted_per_transaction if n]) >= 6


def test_only_one_process_runs_it_and_once_a_day(session, session_factory, data):
    with session_factory() as other:  # another process holds the lease
        assert retention.acquire(other, owner="other-process", clock=clock)
    assert retention.run_once(session_factory, days=DAYS, clock=clock) is None
    assert count(session, Conversation, Conversation.id.in_(data["old"])) == 6
    later = lambda: NOW + dt.timedelta(seconds=retention.LEASE_SECONDS + 1)  # noqa: E731  its holder died
    result = retention.run_once(session_factory, days=DAYS, every=dt.timedelta(hours=24), clock=later)
    assert result is not None and result.conversations == 6
    job = session.get(ScheduledJob, retention.JOB)
    session.refresh(job)
    assert job.lease_owner is None and job.last_result["conversations"] == 6
    an_hour = lambda: later() + dt.timedelta(hours=1)  # noqa: E731
    assert retention.run_once(session_factory, days=DAYS, every=dt.timedelta(hours=24), clock=an_hour) is None
    a_day = lambda: later() + dt.timedelta(hours=24, seconds=1)  # noqa: E731
    assert retention.run_once(session_factory, days=DAYS, every=dt.timedelta(hours=24), clock=a_day) is not None


def test_a_conversation_forgotten_later_takes_its_kept_rows_with_it(session, session_factory, data):
    from bot import conversations

    retention.run(session_factory, days=DAYS, clock=clock)
    mixed = session.get(Conversation, data["mixed"][0])
    assert count(session, KeptConversationStat, KeptConversationStat.conversation_id == mixed.id) == 2
    conversations.forget(session=session, conversation=mixed)
    session.commit()
    assert count(session, KeptConversationStat, KeptConversationStat.conversation_id == data["mixed"][0]) == 0


def test_the_command_line_says_how_many_it_deleted(database_url, monkeypatch, capsys):
    """`python -m api retention run [--dry-run]` on a database of its own (the real clock: the data is made
    relative to now, a day from the cutoff on either side)."""
    from api.__main__ import main
    from knowledge.db import make_engine, make_session_factory

    database = make_engine(database_url)
    now = dt.datetime.now(dt.UTC)
    with make_session_factory(database)() as session:
        for n, days in enumerate((181, 181, 179)):
            conv = Conversation(channel="telegram", channel_user_id=f"{USER}-{n}", lang="vi",
                                created_at=now - dt.timedelta(days=days), updated_at=now - dt.timedelta(days=days))
            session.add(conv)
            session.flush()
            session.add(Message(conversation_id=conv.id, channel="telegram", direction="inbound", text=SECRET_TEXT,
                                status="processed", intent="minimum_wage", created_at=now - dt.timedelta(days=days)))
        session.commit()
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("RETENTION_DAYS", "180")
    assert main(["retention", "run", "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith("Would delete 2 conversations, 2 messages, 0 handoffs")
    assert main(["retention", "run"]) == 0
    assert capsys.readouterr().out.startswith("Deleted 2 conversations, 2 messages, 0 handoffs")
    with database.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM conversation")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM message")).scalar() == 1
    database.dispose()


async def test_the_app_runs_the_job_in_the_background(database_url):
    """An app process with the worker on deletes an old conversation by itself, and records the run (the real
    clock: the conversation is made 200 days before now)."""
    import asyncio

    from api.config import ApiSettings
    from api.main import create_app
    from bot.config import BotSettings
    from knowledge.config import KnowledgeSettings
    from knowledge.db import make_engine, make_session_factory

    database = make_engine(database_url)
    factory = make_session_factory(database)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=200)
    with factory() as session:
        session.add(Conversation(channel="web", channel_user_id=USER, lang="vi", created_at=long_ago,
                                 updated_at=long_ago))
        session.commit()
    app = create_app(ApiSettings(_env_file=None, worker=True), KnowledgeSettings(database_url=database_url),
                     BotSettings(nlu_url="http://127.0.0.1:9", _env_file=None), engine=database)
    async with app.router.lifespan_context(app):
        for _ in range(200):
            with factory() as session:
                if session.scalar(select(ScheduledJob.last_run_at).where(ScheduledJob.name == retention.JOB)):
                    break
            await asyncio.sleep(0.05)
    with factory() as session:
        assert count(session, Conversation) == 0
        assert session.get(ScheduledJob, retention.JOB).last_result["conversations"] == 1
    database.dispose()


def test_a_subscriber_to_the_wage_reminders_keeps_their_address_but_not_their_old_messages(session, session_factory):
    from bot import reminders
    from bot.models import WageSubscription

    subscriber = conversation(session, 900, "vi", ("minimum_wage", {"prefecture": "Aichi"}, ago(300)), touched=ago(300))
    other = conversation(session, 901, "vi", ("minimum_wage", {"prefecture": "Aichi"}, ago(300)), touched=ago(300))
    reminders.subscribe(session=session, conversation=subscriber, prefecture="Aichi")
    session.commit()
    ids = subscriber.id, other.id

    retention.run(session_factory, days=DAYS, clock=clock)
    session.expire_all()
    assert session.get(Conversation, ids[1]) is None  # no subscription: gone as before
    kept = session.get(Conversation, ids[0])  # the next revision still reaches them
    assert kept is not None and count(session, Message, Message.conversation_id == ids[0]) == 0
    assert session.scalar(select(WageSubscription.prefecture).where(WageSubscription.conversation_id == ids[0])) == "Aichi"
