"""Storage of conversations and messages: store inbound, find a delivery, record replies, the outbox
(mark sent / failed / dead, what is due), per-conversation leases, handoff records, forget.

Keyword-only functions taking a Session; the caller commits, except where a function says it does.
Every process shares these rows, so every decision that two processes could race on is made in SQL:
a unique constraint for a duplicate delivery, a conditional UPDATE for a conversation's lease, and
`FOR UPDATE SKIP LOCKED` (PostgreSQL) when the worker claims due conversations.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import and_, bindparam, case, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import ratelimit, safety
from bot.i18n import DEFAULT_LANGUAGE, normalise_language
from bot.models import (
    Conversation, ConversationStatus, Direction, Handoff, HandoffEvent, HandoffReason, HandoffStatus, Message, MessageStatus,
    MissedMessage, Priority,
)
from bot.schemas import Button, Inbound, Kind, Reply
from knowledge.db import UTCDateTime, utcnow

#: Longest channel message id we store as it is; longer ones (a web client's own ids) are hashed to fit.
MAX_DELIVERY_KEY = 128
ACTIVE_HANDOFF = (HandoffStatus.waiting, HandoffStatus.claimed)


@dataclass(frozen=True)
class Stored:
    """An inbound message in the database."""

    conversation_id: int
    message_id: int
    duplicate: bool
    urgent: bool
    #: Held by the rate limits (bot/ratelimit.py): the engine still asks the NLU whether it is an emergency.
    held: bool = False


def delivery_key(channel_message_id: str | None) -> str | None:
    """The dedupe key as stored: the channel's id, or a hash of it when it does not fit the column."""
    if channel_message_id is None or len(channel_message_id) <= MAX_DELIVERY_KEY:
        return channel_message_id
    return "sha256:" + hashlib.sha256(channel_message_id.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------------------------------ conversations
def conversation_of(*, session: Session, channel: str, user_id: str) -> Conversation | None:
    return session.scalar(
        select(Conversation).where(Conversation.channel == channel, Conversation.channel_user_id == user_id)
    )


def get_or_create_conversation(*, session: Session, channel: str, user_id: str) -> Conversation:
    """The trainee's conversation on this channel, created (and committed) on first contact."""
    conversation = conversation_of(session=session, channel=channel, user_id=user_id)
    if conversation is None:
        conversation = Conversation(channel=channel, channel_user_id=user_id, slots={})
        session.add(conversation)
        try:
            session.commit()
        except IntegrityError:  # the same trainee's first message raced in through another process
            session.rollback()
            conversation = conversation_of(session=session, channel=channel, user_id=user_id)
    return conversation


# ------------------------------------------------------------------------------------------ inbound
def find_delivery(*, session: Session, channel: str, channel_message_id: str | None) -> Message | None:
    """The stored message of this channel delivery (same channel message id), if any."""
    key = delivery_key(channel_message_id)
    if key is None:
        return None
    return session.scalar(select(Message).where(Message.channel == channel, Message.channel_message_id == key))


def store_inbound(*, session: Session, inbound: Inbound, grace: dt.timedelta,
                  limiter: ratelimit.Limiter | None = None) -> Stored:
    """Store (and commit) one inbound message before anything else happens to it.

    A delivery already stored is a duplicate, whatever its state (a redelivery while the first is still
    being processed is not a second turn). `grace`: how long the worker leaves a fresh message to the
    process that stored it before picking it up itself. `limiter`: the rate limits (bot/ratelimit.py) that may
    hold the message (stored `held`, answered after its window) or leave it unanswered (`flooded`).
    """
    # One query for the trainee's conversation and this delivery in it. A first message creates the conversation
    # (no delivery can be in it yet); a delivery stored under another conversation, or raced in by another process,
    # hits the unique constraint below and is found there.
    conversation, existing = _conversation_and_delivery(session=session, channel=inbound.channel,
                                                        user_id=inbound.user_id, key=delivery_key(inbound.message_id))
    if conversation is None:
        conversation = get_or_create_conversation(session=session, channel=inbound.channel, user_id=inbound.user_id)
    if existing is not None:
        return Stored(existing.conversation_id, existing.id, True, existing.urgent)
    text = inbound.text if inbound.kind == Kind.text else inbound.payload
    urgent = inbound.kind == Kind.text and safety.danger_words(inbound.text)
    meta = {k: v for k, v in (("client_language", inbound.client_language), ("lang", inbound.lang),
                              ("attachment", inbound.attachment)) if v}
    message = Message(
        conversation_id=conversation.id,
        channel=inbound.channel,
        channel_message_id=delivery_key(inbound.message_id),
        direction=Direction.inbound,
        kind=inbound.kind,
        text=text,
        status=MessageStatus.received,
        urgent=urgent,
        meta=meta or None,
        next_attempt_at=utcnow() + grace,
    )
    session.add(message)
    if limiter is not None:  # rate limits: counted here, in the storing transaction (bot/ratelimit.py)
        verdict = limiter.inbound(session=session, conversation_id=conversation.id, urgent=urgent,
                                  button=inbound.kind == Kind.button)
        message.status, message.next_attempt_at = verdict.status, verdict.due_at or message.next_attempt_at
        if verdict.status == ratelimit.FLOODED:
            message.next_attempt_at = None
        if verdict.notify:
            session.flush()
            lang = conversation.lang or normalise_language(inbound.lang) or normalise_language(inbound.client_language)
            record_replies(session=session, conversation=conversation, reply_to=message,
                           replies=[ratelimit.slow_down(lang or DEFAULT_LANGUAGE)])
    try:
        session.commit()
    except IntegrityError:  # the same delivery raced in through another process
        session.rollback()
        existing = find_delivery(session=session, channel=inbound.channel, channel_message_id=inbound.message_id)
        if existing is None:
            raise
        return Stored(existing.conversation_id, existing.id, True, existing.urgent)
    return Stored(conversation.id, message.id, False, urgent, held=message.status == ratelimit.HELD)


_CONVERSATION_AND_DELIVERY = (
    select(Conversation, Message)
    .outerjoin(Message, and_(Message.conversation_id == Conversation.id, Message.channel == bindparam("p_channel"),
                             Message.channel_message_id == bindparam("p_key")))
    .where(Conversation.channel == bindparam("p_channel"), Conversation.channel_user_id == bindparam("p_user_id"))
)


def _conversation_and_delivery(*, session: Session, channel: str, user_id: str,
                               key: str | None) -> tuple[Conversation | None, Message | None]:
    """The trainee's conversation on this channel, and the message stored in it for this delivery key (if any)."""
    if key is None:
        return conversation_of(session=session, channel=channel, user_id=user_id), None
    row = session.execute(_CONVERSATION_AND_DELIVERY, {"p_channel": channel, "p_user_id": user_id, "p_key": key}).first()
    return (row[0], row[1]) if row is not None else (None, None)


def inbound_of(message: Message, conversation: Conversation) -> Inbound:
    """The plain inbound message a stored row was made from (what the engine processes)."""
    meta = message.meta or {}
    is_text = message.kind == Kind.text
    return Inbound(
        channel=message.channel,
        user_id=conversation.channel_user_id,
        kind=message.kind,
        text=message.text if is_text else None,
        payload=None if is_text else message.text,
        message_id=message.channel_message_id,
        client_language=meta.get("client_language"),
        lang=meta.get("lang"),
        attachment=meta.get("attachment"),
    )


# The statements of every turn are built once (with bound parameters) rather than per call: building and
# hashing a statement costs more CPU than PostgreSQL spends running it.
_WAITING = and_(Message.conversation_id == bindparam("p_conversation_id"), Message.direction == Direction.inbound,
                Message.status == MessageStatus.received)
_NEXT_RECEIVED = select(Message).where(_WAITING).order_by(Message.id).limit(1)
_NEXT_RECEIVED_WITH_CONVERSATION = (select(Message, Conversation)
                                    .join(Conversation, Conversation.id == Message.conversation_id)
                                    .where(_WAITING).order_by(Message.id).limit(1))
_MESSAGE_WITH_CONVERSATION = (select(Message, Conversation).join(Conversation, Conversation.id == Message.conversation_id)
                              .where(Message.id == bindparam("p_message_id")))


def next_received(*, session: Session, conversation_id: int) -> Message | None:
    """The oldest inbound message of the conversation still waiting to be processed."""
    return session.scalar(_NEXT_RECEIVED, {"p_conversation_id": conversation_id})


def next_received_with_conversation(*, session: Session,
                                    conversation_id: int) -> tuple[Message, Conversation] | None:
    """`next_received` and its conversation, in one query."""
    row = session.execute(_NEXT_RECEIVED_WITH_CONVERSATION, {"p_conversation_id": conversation_id}).first()
    return (row[0], row[1]) if row is not None else None


def message_with_conversation(*, session: Session, message_id: int) -> tuple[Message, Conversation] | None:
    """A stored message and its conversation, in one query (None when either is gone)."""
    row = session.execute(_MESSAGE_WITH_CONVERSATION, {"p_message_id": message_id}).first()
    return (row[0], row[1]) if row is not None else None


def mark_processed(*, message: Message, intent: str | None, confidence: float | None) -> None:
    message.status = MessageStatus.processed
    message.intent = intent
    message.confidence = confidence
    message.next_attempt_at = None
    message.attempts += 1


def record_processing_failure(*, message: Message, error: str, max_attempts: int,
                              backoff: dt.timedelta) -> bool:
    """Count a failed attempt: retry later with backoff, or give up. Returns True when the message is dead."""
    message.attempts += 1
    message.error = error[:300]
    if message.attempts >= max_attempts:
        message.status = MessageStatus.dead
        message.next_attempt_at = None
        return True
    message.next_attempt_at = utcnow() + retry_delay(message.attempts, backoff)
    return False


def retry_delay(attempts: int, base: dt.timedelta, cap: dt.timedelta = dt.timedelta(minutes=30)) -> dt.timedelta:
    """Exponential backoff: base, 2×base, 4×base … up to `cap`."""
    return min(base * (2 ** max(attempts - 1, 0)), cap)


# ------------------------------------------------------------------------------------------ outbound
def record_replies(*, session: Session, conversation: Conversation, reply_to: Message | None,
                   replies: Iterable[Reply], urgent: bool = False) -> list[Message]:
    """Store a turn's replies as `pending` (the outbox), in order."""
    rows = [
        Message(
            conversation_id=conversation.id,
            channel=conversation.channel,
            direction=Direction.outbound,
            kind=Kind.text,
            title=reply.title,
            text=reply.text,
            buttons=[{"label": b.label, "payload": b.payload} for b in reply.buttons] or None,
            status=MessageStatus.pending,
            urgent=urgent,
            reply_to_id=reply_to.id if reply_to is not None else None,
        )
        for reply in replies
    ]
    session.add_all(rows)
    session.flush()
    return rows


def author(message: Message) -> str:
    """Who wrote a stored message: the trainee, a volunteer, or the bot."""
    if message.direction == Direction.inbound:
        return "trainee"
    return "volunteer" if message.volunteer_id else "bot"


def reply_of(message: Message) -> Reply:
    """A stored reply as the plain Reply the adapters render."""
    buttons = tuple(Button(b["label"], b["payload"]) for b in (message.buttons or ()))
    return Reply(message.text or "", buttons, title=message.title)


def replies_to(*, session: Session, message_id: int) -> list[Message]:
    """The replies stored for one inbound message, in order."""
    return list(session.scalars(select(Message).where(Message.reply_to_id == message_id).order_by(Message.id)))


def _unsent():
    """A reply not yet sent: pending, or failed with a retry still to come."""
    return or_(Message.status == MessageStatus.pending,
               and_(Message.status == MessageStatus.failed, Message.next_attempt_at.is_not(None)))


_PENDING_OUTBOUND = (select(Message)
                     .where(Message.conversation_id == bindparam("p_conversation_id"),
                            Message.direction == Direction.outbound, _unsent())
                     .order_by(Message.id))


def pending_outbound(*, session: Session, conversation_id: int) -> list[Message]:
    """Replies of the conversation to send now, oldest first: pending ones, and failed ones whose retry is
    due, up to the first failed reply still waiting for its retry (the later ones wait behind it)."""
    rows = session.scalars(_PENDING_OUTBOUND, {"p_conversation_id": conversation_id})
    now, due = utcnow(), []
    for message in rows:
        if message.status == MessageStatus.failed and message.next_attempt_at > now:
            break
        if message.status == MessageStatus.pending and message.next_attempt_at is not None \
                and message.next_attempt_at > now:
            continue  # scheduled for later (a reminder spread over time, bot/reminders.py): it waits alone
        due.append(message)
    return due


def take_unsent(*, session: Session, conversation_id: int) -> list[Message]:
    """For channels that fetch their replies (web chat): the pending replies, each marked sent by exactly one
    caller (a conditional UPDATE per row), so a reply shown in a response is not pushed again by the stream."""
    due = pending_outbound(session=session, conversation_id=conversation_id)
    if not due:
        return []
    # One UPDATE … RETURNING for all of them: a row wins when its status is still the one we read.
    seen = {}
    for message in due:
        seen.setdefault(message.status, []).append(message.id)
    won = set(session.scalars(
        update(Message)
        .where(or_(*(and_(Message.id.in_(ids), Message.status == status) for status, ids in seen.items())))
        .values(status=MessageStatus.sent, attempts=Message.attempts + 1, next_attempt_at=None)
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    ))
    taken = [message for message in due if message.id in won]
    if any(m.volunteer_id for m in taken):
        delivery_changed(session=session, ids=[m.id for m in taken])
    return taken


def mark_sent(*, session: Session, ids: list[int], by_volunteer: bool = False) -> None:
    """Mark replies sent; `by_volunteer`: they are a volunteer's, whose inbox shows the delivery state."""
    if ids:
        session.execute(
            update(Message).where(Message.id.in_(ids))
            .values(status=MessageStatus.sent, attempts=Message.attempts + 1, error=None, next_attempt_at=None)
        )
        if by_volunteer:
            delivery_changed(session=session, ids=ids)


def delivery_changed(*, session: Session, ids: list[int]) -> None:
    """Volunteers watch the delivery of their own messages: tell the inbox when one changes."""
    conversation_ids = set(session.scalars(
        select(Message.conversation_id).where(Message.id.in_(ids), Message.volunteer_id.is_not(None))))
    for conversation_id in conversation_ids:
        handoff_id = session.scalar(select(Handoff.id).where(Handoff.conversation_id == conversation_id)
                                    .order_by(Handoff.id.desc()).limit(1))
        session.add(HandoffEvent(handoff_id=handoff_id, kind="message.delivery"))


def record_send_failure(*, message: Message, error: str, retryable: bool, max_attempts: int,
                        backoff: dt.timedelta) -> str:
    """Count a failed send: retry later with backoff, refuse for good, or give up (dead). Returns the status."""
    message.attempts += 1
    message.error = error[:300]
    if not retryable:
        message.status, message.next_attempt_at = MessageStatus.failed, None
    elif message.attempts >= max_attempts:
        message.status, message.next_attempt_at = MessageStatus.dead, None
    else:
        message.status = MessageStatus.failed
        message.next_attempt_at = utcnow() + retry_delay(message.attempts, backoff)
    return message.status


def buttons_before(*, session: Session, message: Message) -> int:
    """How many buttons the bot's replies since the trainee's last message showed before this reply
    (channels that number buttons count on across the replies of one turn)."""
    last_inbound = session.scalar(
        select(func.max(Message.id)).where(Message.conversation_id == message.conversation_id,
                                           Message.direction == Direction.inbound, Message.id < message.id)
    )
    rows = session.scalars(
        select(Message.buttons).where(
            Message.conversation_id == message.conversation_id, Message.direction == Direction.outbound,
            Message.id > (last_inbound or 0), Message.id < message.id,
        )
    )
    return sum(len(row or ()) for row in rows)


def offered_buttons(*, session: Session, conversation_id: int, before_message_id: int) -> list[dict[str, str]]:
    """The buttons of the bot's replies between the trainee's previous message and this one, in order."""
    previous_inbound = session.scalar(
        select(func.max(Message.id)).where(Message.conversation_id == conversation_id,
                                           Message.direction == Direction.inbound,
                                           Message.id < before_message_id)
    )
    rows = session.scalars(
        select(Message.buttons).where(
            Message.conversation_id == conversation_id, Message.direction == Direction.outbound,
            Message.id > (previous_inbound or 0), Message.id < before_message_id,
        ).order_by(Message.id)
    )
    return [button for row in rows for button in (row or [])]


# ------------------------------------------------------------------------------------------ leases
_ACQUIRE_LEASE = (
    update(Conversation)
    .where(Conversation.id == bindparam("p_conversation_id"),
           or_(Conversation.lease_until.is_(None), Conversation.lease_until < bindparam("p_now", type_=UTCDateTime),
               Conversation.lease_owner == bindparam("p_owner")))
    .values(lease_owner=bindparam("p_owner"), lease_until=bindparam("p_until", type_=UTCDateTime))
    .execution_options(synchronize_session=False)
)
_RELEASE_LEASE = (
    update(Conversation)
    .where(Conversation.id == bindparam("p_conversation_id"), Conversation.lease_owner == bindparam("p_owner"))
    .values(lease_owner=None, lease_until=None)
    .execution_options(synchronize_session=False)
)


def acquire_lease(*, session: Session, conversation_id: int, owner: str, seconds: float, commit: bool = True) -> bool:
    """Take (or renew) the conversation's lease unless another holder's lease is still running. Commits (unless
    `commit` is False: then it is part of the caller's transaction).

    One conditional UPDATE: whichever process runs it first wins, on SQLite and PostgreSQL alike.
    """
    now = utcnow()
    result = session.execute(_ACQUIRE_LEASE, {"p_conversation_id": conversation_id, "p_owner": owner, "p_now": now,
                                              "p_until": now + dt.timedelta(seconds=seconds)})
    if commit:
        session.commit()
    return result.rowcount == 1


def release_lease(*, session: Session, conversation_id: int, owner: str, commit: bool = True) -> None:
    """Give the lease back (only if we still hold it). Commits (unless `commit` is False)."""
    session.execute(_RELEASE_LEASE, {"p_conversation_id": conversation_id, "p_owner": owner})
    if commit:
        session.commit()


def _due_inbound(now: dt.datetime):
    return and_(Message.direction == Direction.inbound, Message.status == MessageStatus.received,
                Message.next_attempt_at <= now)


def _due_outbound(now: dt.datetime, channels: Iterable[str]):
    """A reply of a channel we send on that is pending, or failed and due for its retry."""
    return and_(Message.direction == Direction.outbound, Message.channel.in_(list(channels)),
                or_(and_(Message.status == MessageStatus.pending,
                         or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now)),
                    and_(Message.status == MessageStatus.failed, Message.next_attempt_at <= now)))


def claim_due(*, session: Session, owner: str, seconds: float, send_channels: Iterable[str],
              limit: int = 20, pending_grace: dt.timedelta = dt.timedelta(seconds=2)) -> list[int]:
    """Claim conversations with due work for this worker: a lease on each, urgent ones first. Commits.

    Due: an inbound message still `received` past its `next_attempt_at` (the grace after storing, or the
    backoff after a failure), or a reply of a channel we can send on that is pending (older than
    `pending_grace`) or failed and due for a retry. On PostgreSQL the conversation rows are locked with
    `FOR UPDATE SKIP LOCKED`, so several workers never claim the same conversation and never wait.
    """
    now = utcnow()
    channels = list(send_channels)
    due = or_(_due_inbound(now), and_(_due_outbound(now, channels), Message.created_at <= now - pending_grace))
    candidates = (
        select(Message.conversation_id)
        .where(due)
        .group_by(Message.conversation_id)
        .order_by(func.max(case((Message.urgent, 1), else_=0)).desc(), func.min(Message.id))
        .limit(limit * 2)
    )
    ordered = [row.conversation_id for row in session.execute(candidates)]
    if not ordered:
        session.rollback()
        return []
    free = (
        select(Conversation.id)
        .where(Conversation.id.in_(ordered),
               or_(Conversation.lease_until.is_(None), Conversation.lease_until < now))
        .with_for_update(skip_locked=True)
    )
    claimable = set(session.scalars(free))
    claimed = [cid for cid in ordered if cid in claimable][:limit]
    if claimed:
        session.execute(
            update(Conversation).where(Conversation.id.in_(claimed))
            .values(lease_owner=owner, lease_until=now + dt.timedelta(seconds=seconds))
            .execution_options(synchronize_session=False)
        )
    session.commit()
    return claimed


def backlog(*, session: Session) -> dict[str, int]:
    """Counts for /health: inbound waiting to be processed, replies waiting to be sent, rows given up on."""
    def count(*where) -> int:
        return session.scalar(select(func.count()).select_from(Message).where(*where)) or 0

    return {
        "unprocessed_messages": count(Message.direction == Direction.inbound, Message.status == MessageStatus.received),
        "unsent_replies": count(Message.direction == Direction.outbound, _unsent()),
        "dead_messages": count(Message.status == MessageStatus.dead),
        "undeliverable_replies": count(Message.direction == Direction.outbound, Message.status == MessageStatus.failed,
                                       Message.next_attempt_at.is_(None)),
    }


# ------------------------------------------------------------------------------------------ handoffs
def active_handoff(*, session: Session, conversation_id: int) -> Handoff | None:
    return session.scalar(
        select(Handoff).where(Handoff.conversation_id == conversation_id, Handoff.status.in_(ACTIVE_HANDOFF))
        .order_by(Handoff.id.desc()).limit(1)
    )


def open_handoff(*, session: Session, conversation: Conversation, priority: Priority, reason: HandoffReason) -> Handoff:
    """Open a handoff for the conversation, or raise the priority of the one already open."""
    order = list(Priority)
    handoff = active_handoff(session=session, conversation_id=conversation.id)
    if handoff is None:
        handoff = Handoff(public_id=secrets.token_urlsafe(12), conversation_id=conversation.id,
                          channel=conversation.channel, lang=conversation.lang, reason=reason, priority=priority,
                          status=HandoffStatus.waiting)
        session.add(handoff)
    elif order.index(Priority(handoff.priority)) < order.index(priority):
        handoff.priority, handoff.reason = priority, reason
    if conversation.status != ConversationStatus.open:
        conversation.status = ConversationStatus.open
        conversation.handoff_requested_at = utcnow()
        conversation.priority = priority
    elif conversation.priority is None or order.index(Priority(conversation.priority)) < order.index(priority):
        conversation.priority = priority
    session.flush()
    return handoff


# ------------------------------------------------------------------------------------------ forget
def forget(*, session: Session, conversation: Conversation) -> int:
    """Delete the trainee's messages, handoffs and state; returns how many messages there were."""
    count = session.scalar(select(func.count()).select_from(Message).where(Message.conversation_id == conversation.id))
    from bot import reminders

    reminders.forget(session=session, conversation_id=conversation.id)
    session.execute(delete(MissedMessage).where(MissedMessage.conversation_id == conversation.id))
    session.execute(delete(Message).where(Message.conversation_id == conversation.id))
    session.execute(delete(Handoff).where(Handoff.conversation_id == conversation.id))
    session.add(HandoffEvent(handoff_id=None, kind="handoff.deleted"))  # open inboxes drop it
    session.delete(conversation)
    return count or 0
