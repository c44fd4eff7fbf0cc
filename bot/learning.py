"""Learning from what the bot missed: every message it did not understand goes to the admins' review queue.

A miss is a message below the NLU threshold (answered with a clarifying question), one the NLU read as out of
scope, or one a volunteer marks "the bot should have known this". The queue keeps the text, the language,
the NLU's guess and what the trainee did next (a topic button, a person, a rephrasing), never who wrote it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import Message, MissedMessage, MissReason, MissStatus
from knowledge.db import utcnow

#: A next step later than this after the miss is not taken as the answer to it.
NEXT_STEP_WINDOW = dt.timedelta(minutes=30)
MAX_TEXT = 1000


def record(*, session: Session, message: Message, lang: str, reason: str, guess: str | None,
           confidence: float | None) -> MissedMessage | None:
    """Queue a missed message (once per message); empty texts are not worth a label."""
    text = (message.text or "").strip()
    if not text:
        return None
    existing = session.scalar(select(MissedMessage).where(MissedMessage.message_id == message.id))
    if existing is not None:
        return existing
    row = MissedMessage(conversation_id=message.conversation_id, message_id=message.id, lang=lang,
                        text=text[:MAX_TEXT], reason=reason, guess=guess, confidence=confidence,
                        status=MissStatus.new)
    session.add(row)
    return row


def _next_step(turn) -> str | None:
    """What this message tells about the trainee's previous miss."""
    if turn.route == "button":
        action, _, arg = (turn.inbound.payload or "").partition(":")
        if action == "topic":
            return f"topic:{arg}"[:80]
        if action == "human":
            return "person"
        return None
    if turn.intent == "talk_to_human" or (turn.route == "command" and turn.text.strip().lower().startswith("/human")):
        return "person"
    if turn.route == "intent" and turn.intent:
        return f"rephrased:{turn.intent}"[:80]
    if turn.route == "unsure":
        return "missed again"
    return None


def after_turn(*, session: Session, turn, message: Message) -> None:
    """Keep the turn's prefecture for the statistics, queue a miss, and note the next step of the last miss."""
    if turn.prefecture:
        message.meta = {**(message.meta or {}), "prefecture": turn.prefecture}
    step = _next_step(turn)
    if step is not None:
        previous = session.scalar(
            select(MissedMessage)
            .where(MissedMessage.conversation_id == message.conversation_id, MissedMessage.next_step.is_(None),
                   MissedMessage.message_id != message.id, MissedMessage.created_at > utcnow() - NEXT_STEP_WINDOW)
            .order_by(MissedMessage.id.desc()).limit(1)
        )
        if previous is not None:
            previous.next_step = step
    if turn.missed:
        record(session=session, message=message, lang=turn.lang, reason=turn.missed,
               guess=turn.parse.intent if turn.parse else None,
               confidence=turn.parse.confidence if turn.parse else None)


def mark_by_volunteer(*, session: Session, message: Message, lang: str) -> MissedMessage | None:
    """A volunteer says the bot should have known this trainee message."""
    row = record(session=session, message=message, lang=lang, reason=MissReason.volunteer,
                 guess=message.intent, confidence=message.confidence)
    if row is not None and row.reason != MissReason.volunteer and row.status == MissStatus.new:
        row.reason = MissReason.volunteer
    return row
