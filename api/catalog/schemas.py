"""Read-only JSON shapes of the knowledge API."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict


class EntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    topic: str
    lang: str
    title: str
    answer: str
    more: str | None
    sources: list[dict[str, Any]]
    last_reviewed: dt.date
    review_by: dt.date
    status: str
    version: int


class TopicRead(BaseModel):
    key: str
    contacts: list[str]
    unverified: list[str]
    languages: list[str]


T = TypeVar("T")


class ListOf(BaseModel, Generic[T]):
    data: list[T]
    count: int


class MinimumWageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    prefecture: str
    fiscal_year: int
    yen_per_hour: int
    effective_from: dt.date
    sources: list[dict[str, Any]]


class RateInForce(BaseModel):
    prefecture: str
    on: dt.date
    yen_per_hour: int
    effective_from: dt.date
    fiscal_year: int
    possibly_outdated: bool
    sources: list[dict[str, Any]]


class WageCheckRead(BaseModel):
    missing: list[str]
    verdict: str | None = None
    hourly_equivalent: Decimal | None = None
    minimum: RateInForce | None = None
    shortfall_per_hour: Decimal | None = None
    shortfall_per_month: Decimal | None = None
    monthly_hours: Decimal | None = None
    assumptions: list[str] = []


class ContactRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key: str
    kind: str
    name: dict[str, str]
    helps_with: dict[str, str]
    web: str | None
    languages: list[str]
    nationality: str | None
    phones: list[dict[str, Any]]
    source: dict[str, Any] | None
    verified: bool
