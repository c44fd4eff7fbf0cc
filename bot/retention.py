"""Retention: transcripts are kept `RETENTION_DAYS` (default 180), then deleted; the statistics keep their counts.

What goes, in batches of at most `RETENTION_BATCH` messages (with the replies to them) or rows per transaction
(no table is locked for long):

* the messages older than the cutoff, of every conversation that has no open handoff (waiting or claimed: a
  volunteer may need the whole transcript; it goes after the handoff is closed);
* a conversation then left without messages and not touched since the cutoff (its state: language, slots),
  with its handoffs (their notes and events) and missed messages; unless the trainee subscribed to the
  wage-revision reminders (bot/reminders.py): its row (channel, user id, language) is what a reminder needs, and
  `/remind off` or `/forget` ends it;
* missed messages (the learning queue: trainee text), volunteers' notes of closed handoffs and inbox events
  older than the cutoff. Examples already exported to the NLU data stay in those files.

**The statistics do not change** (api/admin/stats.py counts conversations per topic × prefecture × language ×
week from the messages, and handoffs from the handoff rows). Before messages are deleted, what the counts need
of them is kept in `kept_conversation_stat` on the conversation: per topic the weeks it was asked, and the
latest prefecture named. When the conversation is deleted those rows are folded into anonymous ones (no id,
no text: "3 conversations from Aichi in Vietnamese asked about pay in exactly the weeks of 4 and 11 May"), and
its handoffs into `kept_handoff_stat` (week, reason, outcome, language, minutes waited). The weeks are kept
together so that a distinct count over several weeks stays distinct.

**One process at a time, once a day.** Every app process with the worker on schedules the job; a lease row
(`scheduled_job`, one conditional UPDATE: the same on SQLite and PostgreSQL, like conversations.acquire_lease)
lets one run it, and `last_run_at` makes it run once per `RETENTION_EVERY_HOURS` whichever process does.
`python -m api retention run [--dry-run]` runs it by hand (under the same lease). Only counts are logged.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.models import (
    Conversation, Handoff, HandoffEvent, HandoffNote, HandoffOutcome, HandoffReason, HandoffStatus,
    KeptConversationStat, KeptHandoffStat, Message, MissedMessage, ScheduledJob, WageSubscription,
)
from knowledge import prefectures
from knowledge.db import utcnow
from knowledge.intents import LANGUAGES, TOPICS

logger = logging.getLogger(__name__)

JOB = "retention"
OPEN = (HandoffStatus.waiting, HandoffStatus.claimed)
LEASE_SECONDS = 300.0
Clock = Callable[[], dt.datetime]


# ------------------------------------------------------------------------------------------ statistics keys
# The keys the statistics count by (api/admin/stats.py uses these very functions, so kept and live rows agree).
JST = dt.timezone(dt.timedelta(hours=9), "JST")
UNKNOWN = "unknown"


def week_of(moment: dt.datetime) -> dt.date:
    """The Monday of the ISO week of `moment` in Japan time."""
    day = moment.astimezone(JST).date()
    return day - dt.timedelta(days=day.weekday())


def stat_lang(value: str | None) -> str:
    return value if value in LANGUAGES else UNKNOWN


def stat_reason(reason: str | None) -> str:
    return reason if reason in HandoffReason.__members__ else "other"


def stat_outcome(outcome: str | None, status: str) -> str:
    if outcome in HandoffOutcome.__members__:
        return outcome
    if status in OPEN:
        return "still_open"
    return "returned_to_bot" if status == HandoffStatus.returned else "no_outcome"


def waited_minutes(requested: dt.datetime, claimed: dt.datetime | None) -> float | None:
    return max(0.0, (claimed - requested).total_seconds() / 60) if claimed else None


def parse_weeks(weeks: str) -> list[dt.date]:
    return [dt.date.fromisoformat(w) for w in weeks.split(",") if w]


def _join_weeks(weeks) -> str:
    return ",".join(sorted({w.isoformat() if isinstance(w, dt.date) else w for w in weeks}))


# ------------------------------------------------------------------------------------------ the run
@dataclass
class Result:
    """What a run deleted (or, dry, would delete): counts only."""

    conversations: int = 0
    messages: int = 0
    handoffs: int = 0
    missed_messages: int = 0
    notes: int = 0
    events: int = 0
    dry_run: bool = False
    cutoff: str = ""
    #: False when it stopped before the end (shutdown, lost lease): then the next check runs it again.
    complete: bool = True
    def counts(self) -> dict[str, Any]:
        return asdict(self)


def _no_open_handoff():
    return ~exists().where(Handoff.conversation_id == Conversation.id, Handoff.status.in_(OPEN))


def run(session_factory: sessionmaker[Session], *, days: int, batch: int = 500, dry_run: bool = False,
        clock: Clock = utcnow, heartbeat: Callable[[], bool] | None = None) -> Result:
    """Delete what is older than `days` (see the module's docstring); `heartbeat` is called between
    transactions (renews the lease; False stops the run)."""
    cutoff = clock() - dt.timedelta(days=days)
    result = Result(dry_run=dry_run, cutoff=cutoff.isoformat())
    if dry_run:
        return _dry_run(session_factory, cutoff, result)
    known = set(prefectures.names())
    after = 0
    while True:
        with session_factory() as session:
            queue = list(session.scalars(
                select(Conversation.id).where(Conversation.id > after, _no_open_handoff())
                .order_by(Conversation.id).limit(batch)))
        if not queue:
            break
        after = queue[-1]
        while queue:
            with session_factory() as session:
                used = 0
                while queue and used < batch:
                    conversation_id = queue[0]
                    deleted, more = _clear_conversation(session, conversation_id, cutoff, batch - used, known,
                                                        result, clock)
                    used += deleted
                    if not more:
                        queue.pop(0)
                    used += 1  # at least the conversation's look-up: a transaction covers `batch` of them
                session.commit()
            if heartbeat is not None and not heartbeat():
                logger.warning("retention stopped before the end (shutting down, or the lease was lost)")
                result.complete = False
                return result
    for table, column, where, counter in (
        (MissedMessage, MissedMessage.created_at,
         [or_(MissedMessage.conversation_id.is_(None),
              ~exists().where(Handoff.conversation_id == MissedMessage.conversation_id, Handoff.status.in_(OPEN)))],
         "missed_messages"),
        (HandoffNote, HandoffNote.created_at,
         [~exists().where(Handoff.id == HandoffNote.handoff_id, Handoff.status.in_(OPEN))], "notes"),
        (HandoffEvent, HandoffEvent.created_at,
         [or_(HandoffEvent.handoff_id.is_(None),
              ~exists().where(Handoff.id == HandoffEvent.handoff_id, Handoff.status.in_(OPEN)))], "events"),
    ):
        while True:
            with session_factory() as session:
                ids = list(session.scalars(select(table.id).where(column < cutoff, *where)
                                           .order_by(table.id).limit(batch)))
                if not ids:
                    break
                session.execute(delete(table).where(table.id.in_(ids)))
                session.commit()
            setattr(result, counter, getattr(result, counter) + len(ids))
            if heartbeat is not None and not heartbeat():
                result.complete = False
                return result
    logger.info("retention: deleted %d conversations, %d messages, %d handoffs, %d missed messages, %d notes, "
                "%d events older than %d days", result.conversations, result.messages, result.handoffs,
                result.missed_messages, result.notes, result.events, days)
    return result


def _clear_conversation(session: Session, conversation_id: int, cutoff: dt.datetime, room: int,
                        known: set[str], result: Result, clock: Clock) -> tuple[int, bool]:
    """Delete up to `room` old messages of one conversation (keeping their counts), and the conversation
    when nothing is left of it. Returns (rows deleted, whether old messages remain)."""
    conversation = session.scalar(
        select(Conversation).where(Conversation.id == conversation_id).with_for_update(skip_locked=True))
    if conversation is None:  # gone, or a turn holds its row right now: next run
        return 0, False
    if session.scalar(select(exists().where(Handoff.conversation_id == conversation_id, Handoff.status.in_(OPEN)))):
        return 0, False  # a handoff was opened since the candidates were listed
    if conversation.lease_until is not None and conversation.lease_until > utcnow():
        return 0, False  # being processed: next run
    rows = session.execute(
        select(Message.id, Message.direction, Message.intent, Message.created_at, Message.meta)
        .where(Message.conversation_id == conversation_id, Message.created_at < cutoff)
        .order_by(Message.created_at, Message.id).limit(max(1, room))
    ).all()
    if rows:
        _keep_message_counts(session, conversation_id, rows, known)
        ids = [r.id for r in rows]
        # the replies to these go with them (ON DELETE CASCADE): counted too
        result.messages += session.scalar(select(func.count()).select_from(Message).where(
            Message.conversation_id == conversation_id, or_(Message.id.in_(ids), Message.reply_to_id.in_(ids)))) or 0
        session.execute(delete(Message).where(Message.id.in_(ids)))
        if len(rows) >= max(1, room):
            return len(rows), True
    left = session.scalar(select(exists().where(Message.conversation_id == conversation_id)))
    if left or conversation.updated_at >= cutoff:
        return len(rows), False
    if session.scalar(select(exists().where(WageSubscription.conversation_id == conversation_id))):
        return len(rows), False  # the trainee asked to be told of the next revision: their address stays
    handoffs, missed = _fold_conversation(session, conversation)
    result.conversations += 1
    result.handoffs += handoffs
    result.missed_messages += missed
    return len(rows) + 1 + handoffs, False


def _keep_message_counts(session: Session, conversation_id: int, rows, known: set[str]) -> None:
    """Before its messages go: per topic the weeks it was asked, and the latest prefecture named."""
    weeks: dict[str, set[dt.date]] = {}
    prefecture = None
    for row in rows:
        if row.direction == "inbound" and row.intent in TOPICS:
            weeks.setdefault(row.intent, set()).add(week_of(row.created_at))
        named = row.meta.get("prefecture") if isinstance(row.meta, dict) else None
        if named in known:
            prefecture = named  # the latest wins (rows are in order)
    if not weeks and prefecture is None:
        return
    kept = {k.topic: k for k in session.scalars(
        select(KeptConversationStat).where(KeptConversationStat.conversation_id == conversation_id))}
    for topic, topic_weeks in weeks.items():
        row = kept.get(topic)
        if row is None:
            session.add(KeptConversationStat(conversation_id=conversation_id, topic=topic,
                                             weeks=_join_weeks(topic_weeks), conversations=1))
        else:
            row.weeks = _join_weeks(set(parse_weeks(row.weeks)) | topic_weeks)
    if prefecture is not None:
        holder = kept.get(None)
        if holder is None:
            session.add(KeptConversationStat(conversation_id=conversation_id, topic=None, prefecture=prefecture,
                                             weeks="", conversations=1))
        else:
            holder.prefecture = prefecture
    session.flush()


def _fold_conversation(session: Session, conversation: Conversation) -> tuple[int, int]:
    """Move the conversation's kept counts and its handoffs into the anonymous rows, then delete it (its
    handoffs, their notes and events, its missed messages). Returns how many handoffs and missed messages it had."""
    kept = list(session.scalars(
        select(KeptConversationStat).where(KeptConversationStat.conversation_id == conversation.id)))
    prefecture = next((k.prefecture for k in kept if k.topic is None and k.prefecture), None) or UNKNOWN
    lang = stat_lang(conversation.lang)
    for row in kept:
        if row.topic is None:
            continue
        same = session.scalar(select(KeptConversationStat).where(
            KeptConversationStat.conversation_id.is_(None), KeptConversationStat.topic == row.topic,
            KeptConversationStat.prefecture == prefecture, KeptConversationStat.lang == lang,
            KeptConversationStat.weeks == row.weeks))
        if same is not None:
            same.conversations += 1
        else:
            session.add(KeptConversationStat(conversation_id=None, topic=row.topic, prefecture=prefecture, lang=lang,
                                             weeks=row.weeks, conversations=1))
    handoffs = session.execute(
        select(Handoff.reason, Handoff.outcome, Handoff.status, Handoff.lang, Handoff.requested_at,
               Handoff.claimed_at).where(Handoff.conversation_id == conversation.id)).all()
    for reason, outcome, status, handoff_lang, requested, claimed in handoffs:
        key = dict(week=week_of(requested), reason=stat_reason(reason), outcome=stat_outcome(outcome, status),
                   lang=stat_lang(handoff_lang), waited_minutes=waited_minutes(requested, claimed))
        where = [getattr(KeptHandoffStat, k) == v for k, v in key.items() if v is not None]
        if key["waited_minutes"] is None:
            where.append(KeptHandoffStat.waited_minutes.is_(None))
        same = session.scalar(select(KeptHandoffStat).where(*where))
        if same is not None:
            same.handoffs += 1
        else:
            session.add(KeptHandoffStat(**key, handoffs=1))
    session.flush()
    session.execute(delete(KeptConversationStat).where(KeptConversationStat.conversation_id == conversation.id))
    missed = session.execute(delete(MissedMessage).where(MissedMessage.conversation_id == conversation.id)).rowcount
    if handoffs:
        session.execute(delete(Handoff).where(Handoff.conversation_id == conversation.id))
        session.add(HandoffEvent(handoff_id=None, kind="handoff.deleted"))  # open inboxes drop it
    session.execute(delete(Conversation).where(Conversation.id == conversation.id))
    return len(handoffs), missed


def _dry_run(session_factory: sessionmaker[Session], cutoff: dt.datetime, result: Result) -> Result:
    """What a run would delete now (counted in SQL; nothing is written)."""
    with session_factory() as session:
        eligible = select(Conversation.id).where(_no_open_handoff())
        result.messages = session.scalar(select(func.count()).select_from(Message).where(
            Message.created_at < cutoff, Message.conversation_id.in_(eligible))) or 0
        going = select(Conversation.id).where(
            _no_open_handoff(), Conversation.updated_at < cutoff,
            ~exists().where(Message.conversation_id == Conversation.id, Message.created_at >= cutoff))
        result.conversations = session.scalar(select(func.count()).select_from(going.subquery())) or 0
        result.handoffs = session.scalar(select(func.count()).select_from(Handoff).where(
            Handoff.conversation_id.in_(going))) or 0
        result.missed_messages = session.scalar(select(func.count()).select_from(MissedMessage).where(
            or_(MissedMessage.conversation_id.in_(going),
                and_(MissedMessage.created_at < cutoff,
                     or_(MissedMessage.conversation_id.is_(None), MissedMessage.conversation_id.in_(eligible)))))) or 0
        result.notes = session.scalar(select(func.count()).select_from(HandoffNote).join(Handoff).where(
            or_(Handoff.conversation_id.in_(going),
                and_(HandoffNote.created_at < cutoff, Handoff.status.not_in(OPEN))))) or 0
        result.events = session.scalar(select(func.count()).select_from(HandoffEvent).where(
            HandoffEvent.created_at < cutoff,
            or_(HandoffEvent.handoff_id.is_(None),
                ~exists().where(Handoff.id == HandoffEvent.handoff_id, Handoff.status.in_(OPEN))))) or 0
    return result


# ------------------------------------------------------------------------------------------ one at a time
def _ensure_job(session: Session, name: str) -> None:
    if session.get(ScheduledJob, name) is None:
        try:
            session.execute(insert(ScheduledJob).values(name=name))
            session.commit()
        except IntegrityError:  # another process made it first
            session.rollback()


def acquire(session: Session, *, owner: str, seconds: float = LEASE_SECONDS, clock: Clock = utcnow,
            name: str = JOB) -> bool:
    """Take (or renew) the job's lease unless another holder's is still running. Commits."""
    _ensure_job(session, name)
    now = clock()
    taken = session.execute(
        update(ScheduledJob)
        .where(ScheduledJob.name == name,
               or_(ScheduledJob.lease_until.is_(None), ScheduledJob.lease_until < now,
                   ScheduledJob.lease_owner == owner))
        .values(lease_owner=owner, lease_until=now + dt.timedelta(seconds=seconds))
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    session.commit()
    return taken


def release(session: Session, *, owner: str, result: Result | None = None, clock: Clock = utcnow,
            name: str = JOB) -> None:
    """Give the lease back; with a result, record the run (its time and counts). Commits."""
    values: dict[str, Any] = {"lease_owner": None, "lease_until": None}
    if result is not None:
        values |= {"last_run_at": clock(), "last_result": result.counts()}
    session.execute(update(ScheduledJob).where(ScheduledJob.name == name, ScheduledJob.lease_owner == owner)
                    .values(**values).execution_options(synchronize_session=False))
    session.commit()


def is_due(session: Session, *, every: dt.timedelta, clock: Clock = utcnow, name: str = JOB) -> bool:
    last = session.scalar(select(ScheduledJob.last_run_at).where(ScheduledJob.name == name))
    return last is None or last <= clock() - every


def run_once(session_factory: sessionmaker[Session], *, days: int, batch: int = 500, dry_run: bool = False,
             every: dt.timedelta | None = None, clock: Clock = utcnow,
             stopping: Callable[[], bool] = lambda: False) -> Result | None:
    """Run under the lease: None when another process holds it (or, with `every`, when the last run, in any
    process, was less than `every` ago). A dry run takes no lease and records nothing."""
    if dry_run:
        return run(session_factory, days=days, batch=batch, dry_run=True, clock=clock)
    owner = secrets.token_hex(8)
    with session_factory() as session:
        if not acquire(session, owner=owner, clock=clock):
            return None
        if every is not None and not is_due(session, every=every, clock=clock):
            release(session, owner=owner, clock=clock)
            return None

    def heartbeat() -> bool:
        if stopping():  # the process is shutting down: the rest is for the next run
            return False
        with session_factory() as session:
            return acquire(session, owner=owner, clock=clock)

    result = None
    try:
        result = run(session_factory, days=days, batch=batch, clock=clock, heartbeat=heartbeat)
        return result
    finally:
        with session_factory() as session:
            release(session, owner=owner, result=result if result is not None and result.complete else None,
                    clock=clock)


async def run_scheduled(session_factory: sessionmaker[Session], *, stop: asyncio.Event, days: int, batch: int,
                        every: dt.timedelta, check: float = 600.0, clock: Clock = utcnow) -> None:
    """In each app process: look every `check` seconds (at most `every`) whether the job is due, and run it
    if no other process does."""
    wait = min(check, every.total_seconds())
    while not stop.is_set():
        try:
            await asyncio.to_thread(run_once, session_factory, days=days, batch=batch, every=every, clock=clock,
                                    stopping=stop.is_set)
        except Exception:
            logger.exception("retention run failed; it is tried again at the next check")
        try:
            await asyncio.wait_for(stop.wait(), timeout=wait)
        except asyncio.TimeoutError:
            pass
