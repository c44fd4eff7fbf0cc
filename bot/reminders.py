"""Wage-revision reminders: a trainee subscribes to their prefecture's minimum wage and is told of its revision.

Subscribing: `/remind` (or `/remind Aichi`), or the "tell me when it changes" button under a wage answer, which
carries the prefecture. `/remind off` (or the button under a reminder) stops it; `/forget` deletes it with the rest.

Sending, as runs (`ReminderRun`), one per prefecture and rate:
  * `revision`: an admin imported a rate that takes effect later (api/admin/service.import_wages calls
    `plan_revision` in the import's own transaction: the rates and their reminders are written together or not
    at all). A rate already in force when it is imported gets no revision message, only the effective-date note;
  * `effective`: the rate's first day has come, Japan time, from SEND_HOUR on (`plan_effective`, from every app
    process's worker; a run's unique key makes it once). A day missed (the system down) is caught up for
    CATCH_UP_DAYS with "since {date}".
Each subscriber's message is a row of the outbox (a pending outbound message with no inbound it answers), so it is
sent by the worker under the conversation's lease like any reply: retried, never lost, never sent twice (one
`ReminderSend` per run and conversation, a unique pair).

Each channel's rules:
  * Telegram: the sends are spread at TELEGRAM_PER_SECOND (Bot API: about 30 messages a second in all); each
    message is scheduled (`next_attempt_at`) after the channel's last one still waiting, in whatever process;
  * Zalo: a customer-service message reaches only a user who wrote to the OA in the last 7 days
    (reference A3.4): subscribers are told so when they subscribe; one whose last message is older is skipped
    when the run is made (`skipped = "zalo_window"`), and one Zalo refuses when sending (-230/-232) is refused for
    good, not retried (bot/channels/zalo.ZaloSender). Spread at ZALO_PER_SECOND;
  * web chat: nothing can be pushed to a closed page: the message waits and the page shows it when the trainee
    next opens it (its history, api/channels/web.py) or with the reply to their next message.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import case, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import conversations, messages
from bot.i18n import DEFAULT_LANGUAGE, date, t, yen
from bot.models import (
    Conversation, Direction, Message, MessageStatus, ReminderRun, ReminderSend, WageSubscription,
)
from bot.schemas import Button, Reply
from knowledge.db import utcnow
from knowledge import prefectures
from knowledge import service as knowledge_service
from knowledge.models import MinimumWage
from knowledge.prefectures import display_name
from knowledge.wages import MinimumRate

logger = logging.getLogger(__name__)

JST = ZoneInfo("Asia/Tokyo")
#: The effective-date note goes out from this hour (Japan time) on the day: not in the night.
SEND_HOUR = 8
#: A day's notes missed (the system down) are still sent this many days later, saying "since".
CATCH_UP_DAYS = 3
TELEGRAM_PER_SECOND = 20.0
ZALO_PER_SECOND = 10.0
SPREAD = {"telegram": TELEGRAM_PER_SECOND, "zalo": ZALO_PER_SECOND}
ZALO_WINDOW = dt.timedelta(days=7)
TOPIC = "remind"
REVISION, EFFECTIVE = "revision", "effective"


def japan_today(now: dt.datetime) -> dt.date:
    return now.astimezone(JST).date()


# ------------------------------------------------------------------------------------------ subscriptions
def subscribe(*, session: Session, conversation: Conversation, prefecture: str) -> WageSubscription:
    """One prefecture per trainee: subscribing again changes it."""
    row = session.scalar(select(WageSubscription).where(WageSubscription.conversation_id == conversation.id))
    if row is None:
        row = WageSubscription(conversation_id=conversation.id, prefecture=prefecture)
        session.add(row)
    else:
        row.prefecture = prefecture
    session.flush()
    return row


def unsubscribe(*, session: Session, conversation_id: int) -> bool:
    return session.execute(delete(WageSubscription)
                           .where(WageSubscription.conversation_id == conversation_id)).rowcount > 0


def forget(*, session: Session, conversation_id: int) -> None:
    """What /forget removes here: the subscription and the record of the sends."""
    unsubscribe(session=session, conversation_id=conversation_id)
    session.execute(delete(ReminderSend).where(ReminderSend.conversation_id == conversation_id))


# ------------------------------------------------------------------------------------------ the chat
#: What `/remind <word>` understands as "off", in the five languages.
OFF_WORDS = frozenset({"off", "stop", "tắt", "matikan", "patayin", "オフ", "停止", "0"})


def start(turn) -> None:
    """`/remind [prefecture | off]`: as the button with that argument."""
    words = turn.text.strip().split(maxsplit=1)
    arg = words[1].strip() if len(words) > 1 else ""
    button(turn, "off" if arg.lower() in OFF_WORDS else arg)


def button(turn, arg: str) -> None:
    """`remind:off`, `remind:<prefecture>` (under a wage answer), or `remind:` (ask the prefecture)."""
    if arg == "off":
        return stop(turn)
    found = prefectures.resolve(arg) if arg else None
    if found:
        return confirm(turn, found)
    turn.ask("prefecture", TOPIC, Reply(turn.t(messages.ASK_PREFECTURE)))


def after_prefecture(turn) -> None:
    """The answer to "which prefecture?" asked for a subscription."""
    prefecture = (turn.conv.slots or {}).get("prefecture")
    turn.clear_slots()
    confirm(turn, prefecture)


def confirm(turn, prefecture: str) -> None:
    subscribe(session=turn.session, conversation=turn.conv, prefecture=prefecture)
    turn.prefecture = prefecture
    turn.intent = turn.intent or "minimum_wage"
    lines = [turn.t(messages.REMIND_ON, prefecture=display_name(prefecture, turn.lang))]
    upcoming = knowledge_service.next_rate(session=turn.session, prefecture=prefecture, after=japan_today(turn.now))
    if upcoming is not None:
        lines.append(turn.t(messages.REMIND_ON_UPCOMING, amount=yen(upcoming.yen_per_hour, turn.lang),
                            date=date(upcoming.effective_from, turn.lang)))
    if turn.conv.channel == "zalo":
        lines.append(turn.t(messages.REMIND_ZALO_WINDOW))
    elif turn.conv.channel == "web":
        lines.append(turn.t(messages.REMIND_WEB))
    turn.say(Reply("\n\n".join(lines), (Button(turn.t(messages.BUTTON_REMIND_OFF), "remind:off"),
                                        Button(turn.t(messages.BUTTON_TOPICS), "menu"))))


def stop(turn) -> None:
    unsubscribe(session=turn.session, conversation_id=turn.conv.id)
    turn.say(Reply(turn.t(messages.REMIND_OFF)))


# ------------------------------------------------------------------------------------------ runs
def _key(kind: str, wage: MinimumWage) -> str:
    return f"{kind}:{wage.prefecture}:{wage.fiscal_year}:{wage.yen_per_hour}:{wage.effective_from.isoformat()}"


def plan_revision(*, session: Session, wages: list[MinimumWage], now: dt.datetime) -> list[ReminderRun]:
    """After an import: a run for each imported rate that takes effect after today (Japan time)."""
    today = japan_today(now)
    return [run for wage in wages if wage.effective_from > today
            for run in [_make_run(session, REVISION, wage, now)] if run is not None]


def plan_effective(*, session: Session, now: dt.datetime) -> list[ReminderRun]:
    """The runs for rates whose first day has come (from SEND_HOUR, Japan time), each made once. Commits."""
    local = now.astimezone(JST)
    today = local.date()
    first = today - dt.timedelta(days=CATCH_UP_DAYS)
    if local.hour < SEND_HOUR:
        today = today - dt.timedelta(days=1)  # today's note waits for the morning; earlier days' still go
    wages = list(session.scalars(select(MinimumWage).where(MinimumWage.effective_from >= first,
                                                            MinimumWage.effective_from <= today)))
    made = []
    for wage in wages:
        try:
            run = _make_run(session, EFFECTIVE, wage, now)  # None: made before
            session.commit()
        except IntegrityError:  # another process made it just now (the run's unique key)
            session.rollback()
            continue
        if run is not None:
            made.append(run)
    return made


def _make_run(session: Session, kind: str, wage: MinimumWage, now: dt.datetime) -> ReminderRun | None:
    """The run and a send for each subscriber of the prefecture (queued, or skipped), or None if it exists."""
    key = _key(kind, wage)
    if session.scalar(select(ReminderRun.id).where(ReminderRun.key == key)) is not None:
        return None
    # `now` (the engine's clock) decides the dates and the wording; the outbox's times are the real clock's.
    real_now = utcnow()
    run = ReminderRun(key=key, kind=kind, prefecture=wage.prefecture, fiscal_year=wage.fiscal_year,
                      yen_per_hour=wage.yen_per_hour, effective_from=wage.effective_from, created_at=real_now)
    session.add(run)
    session.flush()
    subscribers = list(session.scalars(
        select(Conversation)
        .join(WageSubscription, WageSubscription.conversation_id == Conversation.id)
        .where(WageSubscription.prefecture == wage.prefecture)
        .order_by(WageSubscription.id)))
    # The rate until then: the one in force the day before this one starts.
    previous = (knowledge_service.rate_on(session=session, prefecture=wage.prefecture,
                                          on=wage.effective_from - dt.timedelta(days=1))
                if kind == REVISION else None)
    slots = {channel: _first_free_slot(session, channel, real_now) for channel in SPREAD}
    for conv in subscribers:
        if conv.channel == "zalo" and not _within_zalo_window(session, conv.id, real_now):
            session.add(ReminderSend(run_id=run.id, conversation_id=conv.id, skipped="zalo_window"))
            continue
        lang = conv.lang or DEFAULT_LANGUAGE
        [row] = conversations.record_replies(session=session, conversation=conv, reply_to=None,
                                             replies=[_message(kind, lang, wage, previous, now)])
        if conv.channel in slots:  # spread: each after the channel's previous one
            row.next_attempt_at = slots[conv.channel]
            slots[conv.channel] += dt.timedelta(seconds=1 / SPREAD[conv.channel])
        session.add(ReminderSend(run_id=run.id, conversation_id=conv.id, message_id=row.id))
    run.subscribers = len(subscribers)
    session.flush()
    logger.info("reminder run %s (%s, %s): %d subscribers", run.id, kind, wage.prefecture, len(subscribers))
    return run


def _first_free_slot(session: Session, channel: str, now: dt.datetime) -> dt.datetime:
    """When the next spread send of `channel` may go: after the last one still waiting (any run, any process)."""
    last = session.scalar(select(func.max(Message.next_attempt_at)).join(
        ReminderSend, ReminderSend.message_id == Message.id).where(
        Message.channel == channel, Message.status == MessageStatus.pending))
    return max(now, last + dt.timedelta(seconds=1 / SPREAD[channel])) if last is not None else now


def _within_zalo_window(session: Session, conversation_id: int, now: dt.datetime) -> bool:
    last = session.scalar(select(func.max(Message.created_at)).where(
        Message.conversation_id == conversation_id, Message.direction == Direction.inbound))
    return last is not None and last > now - ZALO_WINDOW


def _message(kind: str, lang: str, wage: MinimumWage, previous: MinimumRate | None, now: dt.datetime) -> Reply:
    values = dict(prefecture=display_name(wage.prefecture, lang), amount=yen(wage.yen_per_hour, lang),
                  date=date(wage.effective_from, lang))
    if kind == REVISION:
        text = (t(lang, messages.REMIND_REVISION, old=yen(previous.yen_per_hour, lang), **values)
                if previous is not None else t(lang, messages.REMIND_REVISION_NEW, **values))
    elif wage.effective_from == japan_today(now):
        text = t(lang, messages.REMIND_EFFECTIVE, **values)
    else:
        text = t(lang, messages.REMIND_EFFECTIVE_LATE, **values)
    return Reply(text, (Button(t(lang, messages.BUTTON_PAYSLIP), "payslip:start"),
                        Button(t(lang, messages.BUTTON_REMIND_OFF), "remind:off")))


# ------------------------------------------------------------------------------------------ the admin's view
@dataclass(frozen=True)
class RunState:
    id: int
    kind: str
    prefecture: str
    yen_per_hour: int
    effective_from: dt.date
    created_at: dt.datetime
    subscribers: int
    sent: int
    waiting: int
    refused: int  # the channel refused it for good (e.g. Zalo's 7-day window), or gave up after retries
    skipped: int  # not queued: outside Zalo's window when the run was made
    deleted: int  # the trainee deleted their data (/forget) before it went

    @property
    def state(self) -> str:
        return "sending" if self.waiting else "done"

    def as_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "prefecture": self.prefecture, "yen_per_hour": self.yen_per_hour,
                "effective_from": self.effective_from.isoformat(), "created_at": self.created_at.isoformat(),
                "subscribers": self.subscribers, "sent": self.sent, "waiting": self.waiting,
                "refused": self.refused, "skipped": self.skipped, "deleted": self.deleted, "state": self.state}


def subscribers_by_prefecture(*, session: Session) -> list[dict]:
    """[{"prefecture", "subscribers", "channels": {channel: n}}], the most subscribed first."""
    rows = session.execute(select(WageSubscription.prefecture, Conversation.channel, func.count())
                           .join(Conversation, Conversation.id == WageSubscription.conversation_id)
                           .group_by(WageSubscription.prefecture, Conversation.channel)).all()
    out: dict[str, dict] = {}
    for prefecture, channel, n in rows:
        entry = out.setdefault(prefecture, {"prefecture": prefecture, "subscribers": 0, "channels": {}})
        entry["subscribers"] += n
        entry["channels"][channel] = n
    return sorted(out.values(), key=lambda e: (-e["subscribers"], e["prefecture"]))


def run_states(*, session: Session, limit: int = 200) -> list[RunState]:
    """The newest runs first, with what became of their sends."""
    runs = list(session.scalars(select(ReminderRun).order_by(ReminderRun.id.desc()).limit(limit)))
    if not runs:
        return []
    waiting = (Message.status == MessageStatus.pending) | (
        (Message.status == MessageStatus.failed) & Message.next_attempt_at.is_not(None))
    refused = (Message.status == MessageStatus.dead) | (
        (Message.status == MessageStatus.failed) & Message.next_attempt_at.is_(None))
    counts = {row.run_id: row for row in session.execute(
        select(ReminderSend.run_id,
               func.count(ReminderSend.id).label("rows"),
               func.sum(case((Message.status == MessageStatus.sent, 1), else_=0)).label("sent"),
               func.sum(case((waiting, 1), else_=0)).label("waiting"),
               func.sum(case((refused, 1), else_=0)).label("refused"),
               func.sum(case((ReminderSend.skipped.is_not(None), 1), else_=0)).label("skipped"))
        .outerjoin(Message, Message.id == ReminderSend.message_id)
        .where(ReminderSend.run_id.in_([r.id for r in runs]))
        .group_by(ReminderSend.run_id))}
    out = []
    for run in runs:
        c = counts.get(run.id)
        rows = c.rows if c else 0
        out.append(RunState(id=run.id, kind=run.kind, prefecture=run.prefecture, yen_per_hour=run.yen_per_hour,
                            effective_from=run.effective_from, created_at=run.created_at,
                            subscribers=run.subscribers, sent=int(c.sent or 0) if c else 0,
                            waiting=int(c.waiting or 0) if c else 0, refused=int(c.refused or 0) if c else 0,
                            skipped=int(c.skipped or 0) if c else 0, deleted=max(0, run.subscribers - rows)))
    return out
