"""Tables of the curated knowledge."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from knowledge.db import Base, UTCDateTime, utcnow

SEED_EDITOR = "seed"


class EntryStatus(enum.StrEnum):
    draft = "draft"
    published = "published"
    #: A version that was published and then replaced (EntryVersion only).
    archived = "archived"


class Topic(Base):
    """One answerable intent."""

    __tablename__ = "topic"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    contact_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    unverified: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    entries: Mapped[list[Entry]] = relationship(back_populates="topic", cascade="all, delete-orphan")


class Entry(Base):
    """The answer to a topic in one language; every change bumps `version` and is kept in EntryVersion."""

    __tablename__ = "entry"
    __table_args__ = (UniqueConstraint("topic_id", "lang", name="uq_entry_topic_lang"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topic.id", ondelete="CASCADE"), index=True)
    lang: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(200))
    answer: Mapped[str] = mapped_column(Text)
    more: Mapped[str | None] = mapped_column(Text, nullable=True)
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    last_reviewed: Mapped[dt.date] = mapped_column(Date)
    review_by: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=EntryStatus.draft)
    version: Mapped[int] = mapped_column(Integer, default=1)
    #: "seed" while the entry is exactly what a seed file loaded; an admin's name after an edit.
    edited_by: Mapped[str] = mapped_column(String(100), default=SEED_EDITOR)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    topic: Mapped[Topic] = relationship(back_populates="entries")
    versions: Mapped[list[EntryVersion]] = relationship(
        back_populates="entry", cascade="all, delete-orphan", order_by="EntryVersion.version"
    )


class EntryVersion(Base):
    """A past (or the current) state of an entry, for comparison and revert."""

    __tablename__ = "entry_version"
    __table_args__ = (UniqueConstraint("entry_id", "version", name="uq_entry_version_entry_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entry.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    answer: Mapped[str] = mapped_column(Text)
    more: Mapped[str | None] = mapped_column(Text, nullable=True)
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    last_reviewed: Mapped[dt.date] = mapped_column(Date)
    review_by: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    edited_by: Mapped[str] = mapped_column(String(100))
    #: Why it was published despite a cross-language difference, "revert to version 3", "reviewed"…
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    entry: Mapped[Entry] = relationship(back_populates="versions")


class MinimumWage(Base):
    """A prefecture's regional minimum wage of one fiscal year."""

    __tablename__ = "minimum_wage"
    __table_args__ = (
        UniqueConstraint("prefecture", "fiscal_year", name="uq_minimum_wage_prefecture_fiscal_year"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    prefecture: Mapped[str] = mapped_column(String(32), index=True)
    fiscal_year: Mapped[int] = mapped_column(Integer)
    yen_per_hour: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[dt.date] = mapped_column(Date)
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Contact(Base):
    """An organisation a trainee can contact."""

    __tablename__ = "contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[dict[str, str]] = mapped_column(JSON)
    helps_with: Mapped[dict[str, str]] = mapped_column(JSON)
    web: Mapped[str | None] = mapped_column(String(300), nullable=True)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    nationality: Mapped[str | None] = mapped_column(String(8), nullable=True)
    phones: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    source: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    verified: Mapped[bool] = mapped_column(Boolean, default=True)
    edited_by: Mapped[str] = mapped_column(String(100), default=SEED_EDITOR)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SupportHours(Base):
    """When the volunteers of the support groups answer chats in a language (Japan time), one row per day span."""

    __tablename__ = "support_hours"

    id: Mapped[int] = mapped_column(primary_key=True)
    lang: Mapped[str] = mapped_column(String(8), index=True)
    #: 0 = Monday … 6 = Sunday.
    weekday: Mapped[int] = mapped_column(Integer)
    opens: Mapped[str] = mapped_column(String(5))  # "HH:MM"
    closes: Mapped[str] = mapped_column(String(5))  # "HH:MM", after `opens`
    group_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    edited_by: Mapped[str] = mapped_column(String(128), default=SEED_EDITOR)


class CannedReply(Base):
    """A reply a volunteer can send in one click, in each of the five languages; placeholders are filled
    from the knowledge when it is sent ({name}, {minimum_wage}, {hotline})."""

    __tablename__ = "canned_reply"
    __table_args__ = (UniqueConstraint("key", "lang", name="uq_canned_reply_key_lang"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    lang: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)
    edited_by: Mapped[str] = mapped_column(String(128), default=SEED_EDITOR)
