"""Conversation state and the message log, on the one Base of knowledge.db."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, Session as OrmSession, mapped_column, relationship

from knowledge.crypto import SealedText
from knowledge.db import Base, UTCDateTime, utcnow


class ConversationStatus(enum.StrEnum):
    pending = "pending"  # the bot has it
    open = "open"  # a human is needed or has it
    resolved = "resolved"


class Priority(enum.StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    urgent = "urgent"


class Direction(enum.StrEnum):
    inbound = "inbound"
    outbound = "outbound"


class MessageStatus(enum.StrEnum):
    received = "received"  # stored, not yet processed (a crash leaves it here: retryable)
    processed = "processed"
    pending = "pending"  # outbound, not yet sent
    sent = "sent"
    failed = "failed"  # outbound: will be retried at `next_attempt_at`, or refused for good when that is empty
    dead = "dead"  # gave up after the bounded number of attempts (counted on /health, logged at error)


class HandoffStatus(enum.StrEnum):
    waiting = "waiting"
    claimed = "claimed"
    closed = "closed"
    returned = "returned"


class HandoffOutcome(enum.StrEnum):
    information_given = "information_given"
    referred = "referred"
    resolved = "resolved"
    emergency_services = "emergency_services"
    no_response = "no_response"
    not_relevant = "not_relevant"


class HandoffReason(enum.StrEnum):
    asked = "asked"  # the trainee asked for a person
    misses = "misses"  # two misses in a row, then the trainee accepted the offer
    emergency = "emergency"
    offered = "offered"  # offered by the bot


class Conversation(Base):
    """One trainee on one channel: language, pending question, last topic, handoff state."""

    __tablename__ = "conversation"
    __table_args__ = (UniqueConstraint("channel", "channel_user_id", name="uq_conversation_channel_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    channel_user_id: Mapped[str] = mapped_column(String(128))
    lang: Mapped[str | None] = mapped_column(String(8), nullable=True)
    #: True when the trainee chose the language (a choice always wins over detection).
    lang_chosen: Mapped[bool] = mapped_column(default=False)
    #: The question the bot is waiting for ("prefecture", "amount", "period", "forget_confirm", "language").
    pending_slot: Mapped[str | None] = mapped_column(String(32), nullable=True)
    pending_topic: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: Slot values collected so far (amount, period, hours, prefecture).
    slots: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_topic: Mapped[str | None] = mapped_column(String(64), nullable=True)
    misses: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default=ConversationStatus.pending)
    priority: Mapped[str | None] = mapped_column(String(16), nullable=True)
    handoff_requested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Per-conversation lease: whoever holds it (a random token per drain) processes and sends this
    #: trainee's messages, one at a time and in order, in whatever process it runs.
    lease_owner: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation", cascade="all, delete-orphan", passive_deletes=True
    )
    handoffs: Mapped[list[Handoff]] = relationship(
        back_populates="conversation", cascade="all, delete-orphan", passive_deletes=True
    )


class Message(Base):
    """Every inbound message (stored before it is processed) and every reply (stored, then marked sent)."""

    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("channel", "channel_message_id", name="uq_message_channel_message_id"),
        Index("ix_message_conversation_created", "conversation_id", "created_at"),
        Index("ix_message_status_next_attempt", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    #: The channel's id of an inbound message (Telegram update_id, Zalo msg_id, web client id), for dedupe.
    channel_message_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    direction: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16), default="text")
    #: Outbound: the reply's title (shown bold where the channel can); the text is the body.
    title: Mapped[str | None] = mapped_column(String(256), nullable=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    buttons: Mapped[list[dict[str, str]] | None] = mapped_column(JSON, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    intent: Mapped[str | None] = mapped_column(String(64), nullable=True)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(String(300), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Inbound: danger words in the text (checked when it is stored). Outbound: a reply of an emergency turn.
    #: Urgent rows are processed and sent first.
    urgent: Mapped[bool] = mapped_column(default=False)
    #: When the worker may pick the row up (again): a grace period after storing, then backoff after failures.
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Outbound: the inbound message this reply answers (a retried web POST gets these again).
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"), nullable=True,
                                                    index=True)
    #: Outbound: the volunteer who wrote it (none: the bot).
    volunteer_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="SET NULL"), nullable=True)
    #: Inbound: what the channel said about the language (client language code, an explicit choice).
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")


class Handoff(Base):
    """A request for a human volunteer: its own record with a random public id (never the primary key)."""

    __tablename__ = "handoff"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    lang: Mapped[str | None] = mapped_column(String(8), nullable=True)
    reason: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=HandoffStatus.waiting)
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The volunteer account holding it (api/accounts), while claimed; kept after close for the record.
    volunteer_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="SET NULL"), nullable=True,
                                                     index=True)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    first_reply_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_volunteer_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: A contact key (knowledge.models.Contact) the trainee was referred to.
    referral: Mapped[str | None] = mapped_column(String(64), nullable=True)
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: The trainee was told their place in the queue (said once per handoff).
    queue_told: Mapped[bool] = mapped_column(default=False)

    conversation: Mapped[Conversation] = relationship(back_populates="handoffs")
    notes: Mapped[list[HandoffNote]] = relationship(cascade="all, delete-orphan", passive_deletes=True,
                                                    order_by="HandoffNote.id")


class HandoffNote(Base):
    """An internal note of the volunteers on a handoff (never shown to the trainee)."""

    __tablename__ = "handoff_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoff.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="SET NULL"), nullable=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class HandoffEvent(Base):
    """What changed on a handoff, in order: the inbox's live stream reads these rows, so any app process
    can tell any open inbox (`handoff.opened`, `handoff.claimed`, `message.created`, `message.delivery`, ...)."""

    __tablename__ = "handoff_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    handoff_id: Mapped[int | None] = mapped_column(ForeignKey("handoff.id", ondelete="CASCADE"), nullable=True,
                                                   index=True)
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


#: PostgreSQL `NOTIFY` channel rung whenever handoff events are written (api/live.py listens in each process).
HANDOFF_EVENTS_CHANNEL = "handoff_events"


@event.listens_for(OrmSession, "after_flush")
def _ring_inboxes(session: OrmSession, _flush_context) -> None:
    """On PostgreSQL, a flush that writes handoff events also sends `NOTIFY handoff_events`: delivered to every
    listening process when (and only if) the transaction commits, so open inboxes wake at once."""
    if any(isinstance(row, HandoffEvent) for row in session.new):
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"NOTIFY {HANDOFF_EVENTS_CHANNEL}")


class ChannelCredential(Base):
    """A channel's rotating credential (e.g. Zalo's OA access and refresh tokens), shared by every process."""

    __tablename__ = "channel_credential"
    __table_args__ = (UniqueConstraint("channel", "name", name="uq_channel_credential_channel_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    #: Encrypted at rest with APP_DATA_KEY (knowledge/crypto.py); plain text in Python.
    value: Mapped[str] = mapped_column(SealedText)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


# ---------------------------------------------------------------------------------------------- people
# Volunteer and admin accounts live beside the handoffs they hold (their tables are referenced by handoff
# and message rows, so every process that writes those must know them). Only api/ reads or writes them.
class Role(enum.StrEnum):
    volunteer = "volunteer"
    admin = "admin"


class Account(Base):
    __tablename__ = "account"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    #: What trainees see ("Lan has joined the chat"): never the email.
    display_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16), default=Role.volunteer)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    support_group: Mapped[str | None] = mapped_column(String(128), nullable=True)
    #: How many chats the volunteer holds at once at most.
    capacity: Mapped[int] = mapped_column(Integer, default=3)
    password_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditLog(Base):
    """Who read or changed what: every read of a transcript, every claim, release, close and account change."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="SET NULL"), nullable=True,
                                                   index=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LoginAttempt(Base):
    """A failed sign-in (by email and by client address): counted in the database, so every process sees them."""

    __tablename__ = "login_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class MissReason(enum.StrEnum):
    low_confidence = "low_confidence"  # below the threshold: answered with a clarifying question
    out_of_scope = "out_of_scope"
    volunteer = "volunteer"  # a volunteer marked it "the bot should have known this"


class MissStatus(enum.StrEnum):
    new = "new"
    labelled = "labelled"
    discarded = "discarded"


class MissedMessage(Base):
    """A trainee message the bot did not understand, waiting for an admin to label it (or discard it).

    Admins see the text (redactable), the language, the NLU's guess and what the trainee did next, never
    who wrote it: `conversation_id` is kept only so that the trainee's /forget removes the row.
    """

    __tablename__ = "missed_message"
    __table_args__ = (UniqueConstraint("message_id", name="uq_missed_message_message"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"),
                                                        nullable=True, index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id", ondelete="SET NULL"), nullable=True)
    lang: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(16))
    guess: Mapped[str | None] = mapped_column(String(64), nullable=True)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: What the trainee did next: "topic:pay", "person", "rephrased:wage_check"…
    next_step: Mapped[str | None] = mapped_column(String(80), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=MissStatus.new, index=True)
    intent: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: [{"start", "end", "entity", "value"}] over `text` as labelled.
    entities: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    redacted: Mapped[bool] = mapped_column(default=False)
    labelled_by: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="SET NULL"), nullable=True)
    labelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class RateBucket(Base):
    """A counter of one rate limit in one fixed window (e.g. a trainee's messages this minute, handoffs made from one
    address this hour), in the database so every app process counts into the same row."""

    __tablename__ = "rate_bucket"
    __table_args__ = (UniqueConstraint("key", "window_start", name="uq_rate_bucket_key_window"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "<limit name>:<hashed subject>" (never a raw identifier).
    key: Mapped[str] = mapped_column(String(160))
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    count: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


# ---------------------------------------------------------------------------------------------- retention
class KeptConversationStat(Base):
    """What the statistics need of the deleted messages (bot/retention.py): no text, no message ids.

    While the conversation lives (`conversation_id` set; deleted with it by /forget) a row carries one topic's
    weeks of its deleted messages, and the row with no topic the latest prefecture they named. When retention
    deletes the conversation its rows are folded into anonymous ones (`conversation_id` empty): the number of
    conversations that asked about `topic` in exactly these `weeks`, from `prefecture`, in `lang`.
    """

    __tablename__ = "kept_conversation_stat"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"),
                                                        nullable=True, index=True)
    topic: Mapped[str | None] = mapped_column(String(64), nullable=True)
    prefecture: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lang: Mapped[str | None] = mapped_column(String(8), nullable=True)
    #: The Mondays (Japan time) of the weeks, ISO dates separated by commas, in order.
    weeks: Mapped[str] = mapped_column(Text, default="")
    conversations: Mapped[int] = mapped_column(Integer, default=1)


class KeptHandoffStat(Base):
    """Handoffs of deleted conversations, as the statistics count them: week of the request, reason, outcome,
    language and the minutes to the claim (none: never claimed). Anonymous: no ids, no text."""

    __tablename__ = "kept_handoff_stat"

    id: Mapped[int] = mapped_column(primary_key=True)
    week: Mapped[dt.date] = mapped_column(Date, index=True)
    reason: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(32))
    lang: Mapped[str] = mapped_column(String(8))
    waited_minutes: Mapped[float | None] = mapped_column(Float, nullable=True)
    handoffs: Mapped[int] = mapped_column(Integer, default=1)


class ScheduledJob(Base):
    """A job every app process schedules but only one runs at a time (a lease, one conditional UPDATE), and
    only as often as asked whichever process runs it (`last_run_at`). `last_result`: counts only."""

    __tablename__ = "scheduled_job"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    lease_owner: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


# ---------------------------------------------------------------------------------------------- reminders
class WageSubscription(Base):
    """A trainee who asked to be told of their prefecture's minimum-wage revision (bot/reminders.py): one
    prefecture per conversation; `/remind off` and `/forget` delete the row."""

    __tablename__ = "wage_subscription"
    __table_args__ = (UniqueConstraint("conversation_id", name="uq_wage_subscription_conversation"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    prefecture: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReminderRun(Base):
    """One send to a prefecture's subscribers: a new rate imported (`revision`) or its effective date come
    (`effective`). `key` names the rate it is about, so no run is made twice, in whatever process."""

    __tablename__ = "reminder_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    prefecture: Mapped[str] = mapped_column(String(32))
    fiscal_year: Mapped[int] = mapped_column(Integer)
    yen_per_hour: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[dt.date] = mapped_column(Date)
    #: Subscribers when the run was made (each got a send row: queued, or skipped).
    subscribers: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ReminderSend(Base):
    """One subscriber's message of a run: the outbox row that carries it, or why there is none (`skipped`)."""

    __tablename__ = "reminder_send"
    __table_args__ = (UniqueConstraint("run_id", "conversation_id", name="uq_reminder_send_run_conversation"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("reminder_run.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id", ondelete="SET NULL"), nullable=True)
    #: Why no message was queued: "zalo_window" (no message from the trainee for 7 days), else None.
    skipped: Mapped[str | None] = mapped_column(String(32), nullable=True)
