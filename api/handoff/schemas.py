"""JSON of the handoff API (field names are a contract: an outside check uses them)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from api.limits import TypedText


class HandoffRead(BaseModel):
    id: str
    status: str
    lang: str | None
    channel: str
    reason: str
    priority: str
    waiting_seconds: int
    volunteer: str | None
    trainee: str
    requested_at: dt.datetime
    claimed_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    outcome: str | None = None
    referral: str | None = None
    rating: int | None = None


class TranscriptMessage(BaseModel):
    id: int
    direction: Literal["trainee", "bot", "volunteer"]
    text: str
    at: dt.datetime
    delivery: str | None
    intent: str | None = None
    volunteer: str | None = None


class NoteRead(BaseModel):
    text: str
    at: dt.datetime
    author: str | None


class HandoffDetail(HandoffRead):
    messages: list[TranscriptMessage]
    notes: list[NoteRead]


class HandoffList(BaseModel):
    data: list[HandoffRead]
    count: int


class MessageCreate(BaseModel):
    text: TypedText = Field(min_length=1, max_length=4000)


class MessageCreated(BaseModel):
    id: int
    delivery: str


class NoteCreate(BaseModel):
    text: TypedText = Field(min_length=1, max_length=4000)


class CloseRequest(BaseModel):
    outcome: str
    referral: str | None = Field(default=None, max_length=64)


class TokenRequest(BaseModel):
    email: str = Field(max_length=254)
    password: str = Field(max_length=1000)


class TokenRead(BaseModel):
    access_token: str
    token_type: str = "bearer"
