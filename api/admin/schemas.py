"""Shapes of the admin API (field names are a contract)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field, field_validator

from api.catalog.schemas import EntryRead
from api.limits import TypedText
from knowledge.intents import LANGUAGES


class Source(BaseModel):
    publisher: TypedText = Field(min_length=1, max_length=200)
    title: TypedText = Field(default="", max_length=300)
    url: str | None = Field(default=None, max_length=500)
    date: str | None = Field(default=None, max_length=40)

    @field_validator("url")
    @classmethod
    def _web_address(cls, value: str | None) -> str | None:
        value = (value or "").strip() or None
        if value is not None and not value.lower().startswith(("https://", "http://")):
            raise ValueError("a source URL starts with https:// or http://")
        return value


class EntryWrite(BaseModel):
    title: TypedText = Field(min_length=1, max_length=200)
    answer: TypedText = Field(min_length=1, max_length=4000)
    more: TypedText | None = Field(default=None, max_length=8000)
    sources: list[Source] = Field(default_factory=list, max_length=20)
    review_by: dt.date | None = None


class EntryAdminRead(EntryRead):
    """The newest version of an entry (the draft when there is one) and which version trainees get now."""

    published_version: int | None
    author: str


class PublishBody(BaseModel):
    reason: str | None = Field(default=None, max_length=500)


class VersionRead(BaseModel):
    version: int
    status: str
    saved_at: dt.datetime
    author: str
    note: str | None = None


class RevertBody(BaseModel):
    version: int = Field(ge=1)


class DifferenceRead(BaseModel):
    lang: str
    kind: str
    missing: list[str]
    extra: list[str]
    message: str


def lang_or_404(lang: str) -> str:
    from fastapi import HTTPException

    if lang not in LANGUAGES:
        raise HTTPException(status_code=404, detail=f"unknown language {lang[:8]!r}: one of {', '.join(LANGUAGES)}")
    return lang
