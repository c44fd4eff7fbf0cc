"""Conversation state and the message log, on the one Base of knowledge.db."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

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
    failed = "failed"


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
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation", cascade="all, delete-orphan", passive_deletes=True
    )


class Message(Base):
    """Every inbound message (stored before it is processed) and every reply (stored, then marked sent)."""

    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("channel", "channel_message_id", name="uq_message_channel_message_id"),
        Index("ix_message_conversation_created", "conversation_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    #: The channel's id of an inbound message (Telegram update_id, Zalo msg_id, web client id), for dedupe.
    channel_message_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    direction: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16), default="text")
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    buttons: Mapped[list[dict[str, str]] | None] = mapped_column(JSON, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    intent: Mapped[str | None] = mapped_column(String(64), nullable=True)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(String(300), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")


class ChannelCredential(Base):
    """A channel's rotating credential (e.g. Zalo's OA access and refresh tokens), shared by every process."""

    __tablename__ = "channel_credential"
    __table_args__ = (UniqueConstraint("channel", "name", name="uq_channel_credential_channel_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
