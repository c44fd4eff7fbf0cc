"""The handoff lifecycle as the conversation sees it: open or raise a handoff, tell the trainee where they
stand (queue, a person joined, back to the bot), and record every change as an event for the live inbox.

Storage functions taking a Session (the caller commits); the volunteer side (claims, replies, closing)
is `api/handoff/service.py`, which uses these to speak to the trainee.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot import conversations, messages, replies
from bot.i18n import t
from bot.models import (
    Conversation, ConversationStatus, Handoff, HandoffEvent, HandoffReason, HandoffStatus, Message, Priority,
)
from bot.schemas import Button, Reply
from knowledge import service as knowledge_service
from knowledge.db import utcnow

#: A rough answer time per trainee ahead in the queue (said as "about N minutes").
MINUTES_PER_WAITING = 10


def emit(*, session: Session, handoff_id: int | None, kind: str) -> None:
    """Record a change for the inbox's live stream (read by every app process)."""
    session.add(HandoffEvent(handoff_id=handoff_id, kind=kind))


def active(*, session: Session, conversation_id: int) -> Handoff | None:
    return conversations.active_handoff(session=session, conversation_id=conversation_id)


def open_or_raise(*, session: Session, conversation: Conversation, priority: Priority,
                  reason: HandoffReason) -> Handoff:
    """Open a handoff (or raise the priority of the open one) and tell the inbox."""
    before = active(session=session, conversation_id=conversation.id)
    old_priority = before.priority if before else None
    handoff = conversations.open_handoff(session=session, conversation=conversation, priority=priority, reason=reason)
    if before is None:
        emit(session=session, handoff_id=handoff.id, kind="handoff.opened")
    elif handoff.priority != old_priority:
        emit(session=session, handoff_id=handoff.id, kind="handoff.priority")
    return handoff


def queue_notice(*, session: Session, handoff: Handoff, lang: str, now: dt.datetime) -> list[Reply]:
    """Where the trainee stands: their place and a rough wait, or when volunteers are next online (with the
    24-hour numbers). Said once per handoff."""
    handoff.queue_told = True
    if knowledge_service.support_open(session=session, lang=lang, at=now):
        ahead = session.scalar(
            select(func.count()).select_from(Handoff).where(
                Handoff.status == HandoffStatus.waiting, Handoff.lang == handoff.lang, Handoff.id != handoff.id,
                (Handoff.requested_at < handoff.requested_at) | (Handoff.priority == Priority.urgent))
        ) or 0
        position = ahead + 1
        return [Reply(t(lang, messages.QUEUE_SOON, position=position, minutes=MINUTES_PER_WAITING * position))]
    opening = knowledge_service.next_opening(session=session, lang=lang, after=now)
    if opening is None:
        return []
    text = t(lang, messages.QUEUE_OFF_HOURS, day=t(lang, messages.WEEKDAYS[opening.weekday()]),
             time=opening.strftime("%H:%M"))
    contacts = replies.contacts_text(session, lang, "emergency", skip=replies.EMERGENCY_NUMBERS, at=now, limit=2)
    return [Reply(text + ("\n\n" + contacts if contacts else ""))]


def say(*, session: Session, handoff: Handoff, items: list[Reply]) -> list[Message]:
    """Record replies to the trainee of this handoff (the outbox sends them)."""
    conversation = session.get(Conversation, handoff.conversation_id)
    return conversations.record_replies(session=session, conversation=conversation, reply_to=None, replies=items)


def rating_question(lang: str) -> Reply:
    return Reply(t(lang, messages.RATE_QUESTION), tuple(Button(str(n), f"rate:{n}") for n in range(1, 6)))


def end(*, session: Session, handoff: Handoff, status: HandoffStatus, lang: str) -> list[Reply]:
    """Close the handoff or give it back to the bot; the trainee is told and asked for a rating."""
    handoff.status = status
    handoff.closed_at = utcnow()
    conversation = session.get(Conversation, handoff.conversation_id)
    conversation.status = ConversationStatus.resolved if status == HandoffStatus.closed else ConversationStatus.pending
    emit(session=session, handoff_id=handoff.id, kind=f"handoff.{status}")
    told = [Reply(t(lang, messages.BACK_TO_BOT))]
    if handoff.volunteer_id is not None:  # someone talked to them: ask how it went
        told.append(rating_question(lang))
    return told


def rate(*, session: Session, conversation_id: int, rating: int) -> bool:
    """Store the trainee's rating on their latest ended, unrated handoff."""
    handoff = session.scalar(
        select(Handoff).where(Handoff.conversation_id == conversation_id,
                              Handoff.status.in_((HandoffStatus.closed, HandoffStatus.returned)),
                              Handoff.rating.is_(None), Handoff.volunteer_id.is_not(None))
        .order_by(Handoff.id.desc()).limit(1)
    )
    if handoff is None or not 1 <= rating <= 5:
        return False
    handoff.rating = rating
    emit(session=session, handoff_id=handoff.id, kind="handoff.rated")
    return True


def requeue_silent(*, session: Session, silence: dt.timedelta) -> list[int]:
    """Claimed handoffs whose volunteer has not written within `silence` go back to the queue; the trainees
    are told. Returns the conversation ids to drain. One conditional UPDATE per row: safe with several workers."""
    cutoff = utcnow() - silence
    silent = list(session.scalars(
        select(Handoff).where(Handoff.status == HandoffStatus.claimed,
                              func.coalesce(Handoff.last_volunteer_at, Handoff.claimed_at) < cutoff)
    ))
    conversation_ids = []
    for handoff in silent:
        done = session.execute(
            update(Handoff).where(Handoff.id == handoff.id, Handoff.status == HandoffStatus.claimed,
                                  func.coalesce(Handoff.last_volunteer_at, Handoff.claimed_at) < cutoff)
            .values(status=HandoffStatus.waiting, volunteer_id=None, claimed_at=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        if done:
            session.refresh(handoff)
            lang = session.get(Conversation, handoff.conversation_id).lang or "en"
            say(session=session, handoff=handoff, items=[Reply(t(lang, messages.QUEUE_AGAIN))])
            emit(session=session, handoff_id=handoff.id, kind="handoff.released")
            conversation_ids.append(handoff.conversation_id)
    return conversation_ids
