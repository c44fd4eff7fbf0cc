"""The volunteer side of a handoff: the queue, claims, replies, release, close, notes, the transcript.

Keyword-only functions taking a Session; the caller commits. State changes that two volunteers could
race on are one conditional UPDATE (a claim succeeds for exactly one of them, on SQLite and PostgreSQL).
What the trainee is told goes through the outbox (bot.conversations.record_replies), so it reaches their
channel or is retried.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot import conversations, handoffs, messages
from bot.i18n import t
from bot.models import (
    Account, Conversation, Direction, Handoff, HandoffEvent, HandoffNote, HandoffOutcome, HandoffStatus, Message,
    MessageStatus, Priority, Role,
)
from bot.schemas import Reply
from knowledge import service as knowledge_service
from knowledge.db import utcnow
from knowledge.service import JAPAN
from knowledge.models import CannedReply, Contact

PRIORITY_ORDER = {p: i for i, p in enumerate(reversed(list(Priority)))}  # urgent first


class HandoffNotFound(Exception):
    pass


class NotAllowed(Exception):
    """The account may not do this to this handoff."""


class Conflict(Exception):
    """The handoff is not in a state that allows this (e.g. someone else claimed it first)."""


def pseudonym(handoff: Handoff) -> str:
    """What volunteers call the trainee: stable per conversation, never a channel's user id."""
    return "Trainee " + hashlib.sha256(f"trainee:{handoff.conversation_id}".encode()).hexdigest()[:4].upper()


def get(*, session: Session, public_id: str) -> Handoff:
    handoff = session.scalar(select(Handoff).where(Handoff.public_id == public_id))
    if handoff is None:
        raise HandoffNotFound(public_id)
    return handoff


def list_for(*, session: Session, account: Account, status: str | None) -> list[Handoff]:
    """Urgent first, then oldest first; a volunteer's own languages before the others. A volunteer sees the
    queue and the chats they hold (and their own closed ones); an admin sees everything."""
    query = select(Handoff)
    if status:
        query = query.where(Handoff.status == status)
    if account.role != Role.admin:
        query = query.where((Handoff.status == HandoffStatus.waiting) | (Handoff.volunteer_id == account.id))
    rows = list(session.scalars(query))
    languages = set(account.languages or ())
    rows.sort(key=lambda h: (PRIORITY_ORDER.get(h.priority, 9), h.lang not in languages, h.requested_at))
    return rows


def may_read(handoff: Handoff, account: Account) -> bool:
    return account.role == Role.admin or handoff.volunteer_id == account.id


def _held_by(handoff: Handoff, account: Account, *, admin_too: bool) -> None:
    if handoff.status != HandoffStatus.claimed:
        raise Conflict(f"the handoff is {handoff.status}")
    if handoff.volunteer_id != account.id and not (admin_too and account.role == Role.admin):
        raise NotAllowed("only the volunteer holding it")


def _lang(session: Session, handoff: Handoff) -> str:
    conversation = session.get(Conversation, handoff.conversation_id)
    return conversation.lang or handoff.lang or "en"


def claim(*, session: Session, public_id: str, account: Account) -> Handoff:
    """Take a waiting handoff: exactly one of two volunteers claiming at once gets it (Conflict for the other).
    The trainee is told a person has joined, by the volunteer's display name."""
    handoff = get(session=session, public_id=public_id)
    held = session.scalar(select(func.count()).select_from(Handoff).where(
        Handoff.volunteer_id == account.id, Handoff.status == HandoffStatus.claimed)) or 0
    if held >= account.capacity:
        raise Conflict(f"you already hold {held} chats (your capacity)")
    now = utcnow()
    won = session.execute(
        update(Handoff).where(Handoff.id == handoff.id, Handoff.status == HandoffStatus.waiting)
        .values(status=HandoffStatus.claimed, volunteer_id=account.id, claimed_at=now, last_volunteer_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        raise Conflict("someone else holds it")
    session.refresh(handoff)
    lang = _lang(session, handoff)
    handoffs.say(session=session, handoff=handoff,
                 items=[Reply(t(lang, messages.VOLUNTEER_JOINED, name=account.display_name),
                              (_back_button(lang),))])
    handoffs.emit(session=session, handoff_id=handoff.id, kind="handoff.claimed")
    return handoff


def _back_button(lang: str):
    from bot.schemas import Button

    return Button(t(lang, messages.BUTTON_BACK_TO_BOT), "bot")


def post_message(*, session: Session, public_id: str, account: Account, text: str) -> Message:
    """A volunteer's reply, queued for the trainee's channel (the outbox sends or retries it)."""
    handoff = get(session=session, public_id=public_id)
    _held_by(handoff, account, admin_too=False)
    conversation = session.get(Conversation, handoff.conversation_id)
    [message] = conversations.record_replies(session=session, conversation=conversation, reply_to=None,
                                             replies=[Reply(text)])
    message.volunteer_id = account.id
    now = utcnow()
    handoff.first_reply_at = handoff.first_reply_at or now
    handoff.last_volunteer_at = now
    handoffs.emit(session=session, handoff_id=handoff.id, kind="message.created")
    return message


def release(*, session: Session, public_id: str, account: Account) -> Handoff:
    """Back to the queue; the trainee is told."""
    handoff = get(session=session, public_id=public_id)
    _held_by(handoff, account, admin_too=True)
    handoff.status, handoff.volunteer_id, handoff.claimed_at = HandoffStatus.waiting, None, None
    handoffs.say(session=session, handoff=handoff, items=[Reply(t(_lang(session, handoff), messages.QUEUE_AGAIN))])
    handoffs.emit(session=session, handoff_id=handoff.id, kind="handoff.released")
    return handoff


def close(*, session: Session, public_id: str, account: Account, outcome: str, referral: str | None) -> Handoff:
    """Close with an outcome (and a referral to an organisation of the contacts table); the trainee is told
    the bot answers again and is asked for a rating."""
    handoff = get(session=session, public_id=public_id)
    if outcome not in HandoffOutcome.__members__:
        raise ValueError(f"outcome must be one of {', '.join(HandoffOutcome)}")
    if referral and session.scalar(select(Contact.id).where(Contact.key == referral)) is None:
        raise ValueError(f"unknown referral {referral!r}: use a contact key")
    if handoff.status == HandoffStatus.waiting and account.role == Role.admin:
        pass  # an admin may close a request nobody took (e.g. not relevant)
    else:
        _held_by(handoff, account, admin_too=True)
    handoff.outcome, handoff.referral = outcome, referral or None
    told = handoffs.end(session=session, handoff=handoff, status=HandoffStatus.closed, lang=_lang(session, handoff))
    handoffs.say(session=session, handoff=handoff, items=told)
    return handoff


def add_note(*, session: Session, public_id: str, account: Account, text: str) -> HandoffNote:
    handoff = get(session=session, public_id=public_id)
    if not may_read(handoff, account):
        raise NotAllowed("only the volunteer holding it, or an admin")
    note = HandoffNote(handoff_id=handoff.id, author_id=account.id, text=text)
    session.add(note)
    handoffs.emit(session=session, handoff_id=handoff.id, kind="note.created")
    return note


def delivery(message: Message) -> str | None:
    """sent / pending / failed of a message to the trainee (None for the trainee's own)."""
    if message.direction == Direction.inbound:
        return None
    if message.status == MessageStatus.sent:
        return "sent"
    if message.status == MessageStatus.pending or (message.status == MessageStatus.failed and message.next_attempt_at):
        return "pending"
    return "failed"


def transcript(*, session: Session, handoff: Handoff) -> list[Message]:
    """The whole conversation so far: the trainee, the bot (with the intents it read) and the volunteers."""
    return list(session.scalars(
        select(Message).where(Message.conversation_id == handoff.conversation_id).order_by(Message.id)))


def names_in(*, session: Session, handoff: Handoff, rows: list[Message]) -> dict[int, str]:
    """Display names of everyone in the transcript and the notes (the holder included)."""
    ids = {m.volunteer_id for m in rows if m.volunteer_id} | {n.author_id for n in handoff.notes if n.author_id}
    if handoff.volunteer_id:
        ids.add(handoff.volunteer_id)
    return volunteer_names(session=session, ids=ids)


def volunteer_names(*, session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(select(Account.id, Account.display_name).where(Account.id.in_(ids))).all())


def canned_replies(*, session: Session, handoff: Handoff, account: Account) -> list[dict]:
    """The canned replies in the trainee's language (whatever the volunteer's), placeholders filled."""
    lang = _lang(session, handoff)
    rows = session.scalars(select(CannedReply).where(CannedReply.lang == lang).order_by(CannedReply.id))
    values = {"name": account.display_name, "minimum_wage": _minimum_wage_sentence(session, handoff, lang),
              "hotline": _hotline(session, lang)}
    return [{"key": r.key, "title": r.title, "text": _fill(r.text, values)} for r in rows]


def _fill(text: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text


def _minimum_wage_sentence(session: Session, handoff: Handoff, lang: str) -> str:
    from bot.i18n import date, yen

    from knowledge import prefectures

    conversation = session.get(Conversation, handoff.conversation_id)
    prefecture = (conversation.slots or {}).get("prefecture")
    if not prefecture:  # the last prefecture the trainee named
        texts = session.scalars(select(Message.text).where(Message.conversation_id == conversation.id,
                                                           Message.direction == Direction.inbound)
                                .order_by(Message.id.desc()).limit(50))
        prefecture = next((found for text in texts if text and (found := prefectures.find_in_text(text))), None)
    if not prefecture:
        return t(lang, messages.ASK_PREFECTURE)
    rate = knowledge_service.rate_on(session=session, prefecture=prefecture, on=dt.datetime.now(JAPAN).date())
    if rate is None:
        return t(lang, messages.ASK_PREFECTURE)
    return t(lang, messages.MINIMUM_WAGE_RATE, prefecture=prefecture, amount=yen(rate.yen_per_hour, lang),
             date=date(rate.effective_from, lang))


def _hotline(session: Session, lang: str) -> str:
    """The first verified number of the support contacts in the trainee's language."""
    from bot import replies

    for contact in knowledge_service.topic_contacts(session=session, topic="support_contacts", lang=lang):
        for phone in contact.phones:
            if phone.get("language") in (lang, None) and phone.get("verified", True):
                return replies.contact_line(contact, lang).removeprefix("• ")
    return "110 / 119"


def events_after(*, session: Session, after: int, account: Account) -> list[tuple[HandoffEvent, Handoff | None]]:
    """The live-stream events after id `after` that this account may see."""
    rows = session.execute(
        select(HandoffEvent, Handoff).outerjoin(Handoff, Handoff.id == HandoffEvent.handoff_id)
        .where(HandoffEvent.id > after).order_by(HandoffEvent.id).limit(200)
    ).all()
    visible = []
    for event, handoff in rows:
        if handoff is None or account.role == Role.admin or handoff.status == HandoffStatus.waiting \
                or handoff.volunteer_id == account.id or event.kind in ("handoff.claimed", "handoff.closed"):
            visible.append((event, handoff))
    return visible


def last_event_id(*, session: Session) -> int:
    return session.scalar(select(func.max(HandoffEvent.id))) or 0
