"""Rate limits counted in the database, so that they hold across app processes.

Counting: fixed windows. One `rate_bucket` row per key and window start, incremented by one atomic statement
(`INSERT … ON CONFLICT (key, window_start) DO UPDATE SET count = rate_bucket.count + 1 RETURNING count`, on
PostgreSQL and SQLite alike): the returned count is this hit's rank in its window, whichever process made it, so
two processes sharing a flood still count one series (1, 2, 3 … and never two 9ths). Keys name the limit and its
subject: a conversation id, or a keyed hash of a client address (never the address itself).

A trainee's messages (`Limiter.inbound`, called by conversations.store_inbound in the storing transaction: the
message is always stored first, whatever the verdict). Per conversation, and on the web chat per client address
too (a browser mints a new identity by dropping its cookie; the address is the request's, `client_address`):
- up to the limit (RATE_MESSAGES per RATE_WINDOW_SECONDS): processed at once, as always;
- beyond it: stored `held`, due at the window's end. The drain takes `received` messages only, so it skips them;
  the first held message of a window gets one polite notice (in danger: call 110). They become `received` again,
  in order, when the trainee's next message opens a new window, or from the worker's tick (`release_due`), and
  are answered then;
- beyond RATE_FLOOD_FACTOR times the limit (a script, not a person): stored `flooded`: kept in the transcript
  the volunteers read, never answered.
- A message with danger words is never held nor counted: it is answered at once, ahead of held ones. A held
  message is still shown to the NLU at once (Engine.handle): when it reads an emergency, the message is released
  (`release_urgent`) and answered at once. An emergency never waits for a window; a flood beyond the factor is
  not classified (it costs the NLU nothing).

Handoffs (`handoff_allowed`, asked by the engine before it opens a new handoff a trainee asked for; an emergency
handoff never asks): at most RATE_HANDOFFS_PER_DAY new ones per conversation (re-asking after each close), and
on the web chat RATE_WEB_ADDRESS_HANDOFFS_PER_HOUR per client address. One open handoff per conversation at most
already holds (conversations.open_handoff). A refused trainee is told that the volunteers have the request and
given the numbers to call.

Sign-ins are limited apart, per email and per client address (api/accounts/service.py, `login_attempt` rows).

Expired buckets are deleted by the worker's tick, at most once a minute per process (`tick`).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot import messages, replies
from bot.config import BotSettings
from bot.i18n import t
from bot.models import Direction, Message, MessageStatus, RateBucket
from bot.schemas import Reply
from knowledge.db import UTCDateTime, utcnow

#: Message statuses of the limiter (the `status` column is a plain string): `held` waits for its window's end,
#: `flooded` is kept and never answered.
HELD = "held"
FLOODED = "flooded"

#: The client address of the request being served (set by the web chat route; copied into the engine's threads).
client_address: contextvars.ContextVar[str | None] = contextvars.ContextVar("client_address", default=None)

#: The limits' clock: the real time (the windows are real seconds between arrivals, whatever clock the engine's
#: answers use); tests pin it.
clock: Callable[[], dt.datetime] = utcnow


def current_time() -> dt.datetime:
    return clock()

#: How often one process deletes expired buckets.
PURGE_EVERY_SECONDS = 60.0
_last_purge = 0.0


@dataclass(frozen=True)
class Limit:
    """At most `count` hits per fixed window of `window`."""

    name: str
    count: int
    window: dt.timedelta


@dataclass(frozen=True)
class Verdict:
    """What to do with an inbound message: its status, when it is due (None: as usual), and whether it gets the
    slow-down notice."""

    status: str = MessageStatus.received
    due_at: dt.datetime | None = None
    notify: bool = False


PASS = Verdict()


def window_of(now: dt.datetime, window: dt.timedelta) -> tuple[dt.datetime, dt.datetime]:
    """The fixed window holding `now`: its start and end (windows are aligned on the Unix epoch)."""
    size = window.total_seconds()
    start = dt.datetime.fromtimestamp(now.timestamp() // size * size, dt.UTC)
    return start, start + window


def address_key(address: str) -> str:
    """A client address as a bucket key: its keyed pseudonym, as the logs name it (knowledge/crypto.py; every
    app process on one database shares the key)."""
    from knowledge import crypto

    return crypto.pseudonym(address, "ip")


def _upsert(dialect: str):
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(RateBucket).values(
        key=bindparam("p_key"), window_start=bindparam("p_start", type_=UTCDateTime), count=1,
        expires_at=bindparam("p_expires", type_=UTCDateTime))
    return statement.on_conflict_do_update(index_elements=[RateBucket.key, RateBucket.window_start],
                                           set_={"count": RateBucket.count + 1}).returning(RateBucket.count)


_UPSERTS = {name: _upsert(name) for name in ("postgresql", "sqlite")}


def hit(*, session: Session, limit: Limit, subject: str, now: dt.datetime) -> int:
    """Count one hit of `subject` against `limit` in the window of `now`; returns the count so far (this one
    included). Part of the caller's transaction: on PostgreSQL the bucket row stays locked until it ends."""
    start, end = window_of(now, limit.window)
    statement = _UPSERTS["postgresql" if session.get_bind().dialect.name == "postgresql" else "sqlite"]
    return session.execute(statement, {"p_key": f"{limit.name}:{subject}"[:160], "p_start": start,
                                       "p_expires": end}).scalar_one()


def over(*, session: Session, limit: Limit, subject: str, now: dt.datetime) -> bool:
    """Count one hit; True when it is beyond the limit."""
    return hit(session=session, limit=limit, subject=subject, now=now) > limit.count


class Limiter:
    """The message limits of one engine, with its settings and clock."""

    def __init__(self, settings: BotSettings, clock: Callable[[], dt.datetime] | None = None):
        window = dt.timedelta(seconds=settings.rate_window_seconds)
        self.conversation = Limit("msg:c", settings.rate_messages, window)
        self.address = Limit("msg:ip", settings.rate_web_address_messages, window)
        self.flood_factor = settings.rate_flood_factor
        self.clock = clock or current_time

    def inbound(self, *, session: Session, conversation_id: int, urgent: bool, button: bool = False) -> Verdict:
        """Count a new (not duplicate) message of the conversation and say what to do with it. A button press is
        counted but never held (a trainee taps through the payslip check's "None" buttons faster than anyone
        types; a press costs no NLU): only a flood of them is left unanswered."""
        if urgent:
            return PASS
        now = self.clock()
        if button:
            presses = Limit("btn:c", int(self.conversation.count * self.flood_factor), self.conversation.window)
            return Verdict(status=FLOODED) if over(session=session, limit=presses, subject=str(conversation_id),
                                                   now=now) else PASS
        rank = hit(session=session, limit=self.conversation, subject=str(conversation_id), now=now)
        if rank == 1:  # a new window: what was held in earlier ones goes first, in order
            release_due(session=session, now=now, conversation_id=conversation_id)
        excess = rank / self.conversation.count
        if excess > self.flood_factor:  # a script on one conversation (an address alone never floods: a carrier's
            return Verdict(status=FLOODED)  # shared address may carry many trainees)
        address = client_address.get()
        if address is not None and self.address.count:
            excess = max(excess, hit(session=session, limit=self.address, subject=address_key(address),
                                     now=now) / self.address.count)
        if excess <= 1:
            return PASS
        # One notice per window: to the conversation's first held message (counted apart: held for its address's
        # sake, a trainee's first held message may come before its own limit).
        notice = Limit("notice:c", 1, self.conversation.window)
        first_held = hit(session=session, limit=notice, subject=str(conversation_id), now=now) == 1
        return Verdict(status=HELD, due_at=window_of(now, self.conversation.window)[1], notify=first_held)


def slow_down(lang: str) -> Reply:
    """The notice a trainee who writes too fast gets once per window."""
    return Reply(t(lang, messages.SLOW_DOWN))


def handoff_refused(session: Session, lang: str, now: dt.datetime) -> Reply:
    """Said instead of a new handoff beyond the limits: the volunteers have the request; numbers to call now."""
    contacts = replies.contacts_text(session, lang, "talk_to_human", skip=replies.EMERGENCY_NUMBERS, at=now, limit=2,
                                     lines_per_contact=1)
    text = t(lang, messages.HANDOFF_LIMIT)
    return Reply(text + "\n\n" + contacts if contacts else text)


def handoff_allowed(*, session: Session, conversation_id: int, settings: BotSettings,
                    now: dt.datetime | None = None) -> bool:
    """Count a new handoff a trainee asked for (not an emergency): False when it is beyond the conversation's
    daily limit, or beyond the hourly limit of the client address it was asked from (web chat)."""
    now = now or clock()
    per_day = Limit("handoff:c", settings.rate_handoffs_per_day, dt.timedelta(days=1))
    allowed = not over(session=session, limit=per_day, subject=str(conversation_id), now=now)
    address = client_address.get()
    if address is not None and settings.rate_web_address_handoffs_per_hour:
        per_hour = Limit("handoff:ip", settings.rate_web_address_handoffs_per_hour, dt.timedelta(hours=1))
        allowed = not over(session=session, limit=per_hour, subject=address_key(address), now=now) and allowed
    return allowed


def release_due(*, session: Session, now: dt.datetime, conversation_id: int | None = None) -> int:
    """Held messages whose window has ended become `received` (due at once); of one conversation, or of all.
    Returns how many."""
    statement = (update(Message)
                 .where(Message.status == HELD, Message.direction == Direction.inbound, Message.next_attempt_at <= now)
                 .values(status=MessageStatus.received, next_attempt_at=utcnow())
                 .execution_options(synchronize_session=False))
    if conversation_id is not None:
        statement = statement.where(Message.conversation_id == conversation_id)
    return session.execute(statement).rowcount or 0


def release_urgent(*, session: Session, message_id: int) -> bool:
    """A held message the NLU found to be an emergency: due at once, ahead of the held ones (its turn asks the
    NLU again and takes the emergency route). True when it was still held."""
    statement = (update(Message).where(Message.id == message_id, Message.status == HELD)
                 .values(status=MessageStatus.received, next_attempt_at=utcnow())
                 .execution_options(synchronize_session=False))
    return bool(session.execute(statement).rowcount)


def purge(*, session: Session, now: dt.datetime) -> int:
    """Delete the buckets whose window has ended. Returns how many."""
    return session.execute(delete(RateBucket).where(RateBucket.expires_at <= now)).rowcount or 0


def tick(*, session: Session, now: dt.datetime | None = None) -> int:
    """The worker's share: release the held messages now due (everywhere), and now and then delete expired
    buckets. Returns how many messages were released (the caller commits)."""
    global _last_purge
    now = now or clock()
    released = release_due(session=session, now=now)
    if time.monotonic() - _last_purge >= PURGE_EVERY_SECONDS:
        _last_purge = time.monotonic()
        purge(session=session, now=now)
    return released
