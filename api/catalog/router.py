"""Read-only JSON API over topics, entries, minimum wages and contacts."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, HTTPException, Query

from api.catalog.schemas import (
    ContactRead,
    EntryRead,
    ListOf,
    MinimumWageRead,
    RateInForce,
    TopicRead,
    WageCheckRead,
)
from api.deps import SessionDep
from knowledge import prefectures, wages
from knowledge import service as knowledge_service
from knowledge.intents import LANGUAGES
from knowledge.models import Entry

router = APIRouter(prefix="/api", tags=["knowledge"])

LangQuery = Query(default=None, pattern="^(" + "|".join(LANGUAGES) + ")$")


def _entry_read(entry: Entry) -> EntryRead:
    return EntryRead.model_validate({**entry.__dict__, "topic": entry.topic.key})


def _rate_read(rate: wages.MinimumRate, on: dt.date) -> RateInForce:
    return RateInForce(
        prefecture=rate.prefecture,
        on=on,
        yen_per_hour=rate.yen_per_hour,
        effective_from=rate.effective_from,
        fiscal_year=rate.fiscal_year,
        possibly_outdated=rate.possibly_outdated,
        sources=list(rate.sources),
    )


def _canonical_prefecture(name: str) -> str:
    canonical = prefectures.resolve(name)
    if canonical is None:
        raise HTTPException(status_code=404, detail=f"unknown prefecture: {name[:80]!r}")
    return canonical


@router.get("/topics", response_model=ListOf[TopicRead])
def list_topics(session: SessionDep):
    """Every topic with the languages it has an entry in."""
    topics = [
        TopicRead(
            key=t.key,
            contacts=t.contact_keys,
            unverified=t.unverified,
            languages=sorted(e.lang for e in t.entries),
        )
        for t in knowledge_service.list_topics(session=session)
    ]
    return ListOf[TopicRead](data=topics, count=len(topics))


@router.get("/topics/{key}/{lang}", response_model=EntryRead)
def get_entry(key: str, lang: str, session: SessionDep):
    """The published entry of a topic in a language."""
    entry = knowledge_service.get_entry(session=session, topic=key, lang=lang)
    if entry is None:
        raise HTTPException(status_code=404, detail="no published entry for this topic and language")
    return _entry_read(entry)


@router.get("/entries", response_model=ListOf[EntryRead])
def list_entries(session: SessionDep, lang: str | None = LangQuery, topic: str | None = None):
    entries = [_entry_read(e) for e in knowledge_service.list_entries(session=session, lang=lang, topic=topic)]
    return ListOf[EntryRead](data=entries, count=len(entries))


@router.get("/wages", response_model=ListOf[MinimumWageRead])
def list_wages(session: SessionDep, prefecture: str | None = None):
    """Every minimum-wage row (optionally of one prefecture, in any spelling)."""
    canonical = _canonical_prefecture(prefecture) if prefecture else None
    rows = [MinimumWageRead.model_validate(w) for w in knowledge_service.list_wages(session=session, prefecture=canonical)]
    return ListOf[MinimumWageRead](data=rows, count=len(rows))


@router.get("/wages/{prefecture}/in-force", response_model=RateInForce)
def rate_in_force(prefecture: str, session: SessionDep, on: dt.date | None = None):
    """The minimum wage in force in a prefecture on a date (default: today)."""
    day = on or dt.date.today()
    rate = knowledge_service.rate_on(session=session, prefecture=_canonical_prefecture(prefecture), on=day)
    if rate is None:
        raise HTTPException(status_code=404, detail="no minimum wage known for that date")
    return _rate_read(rate, day)


@router.get("/wage-check", response_model=WageCheckRead)
def wage_check(
    session: SessionDep,
    amount: str | None = Query(default=None, max_length=40),
    period: str | None = Query(default=None, max_length=40),
    prefecture: str | None = Query(default=None, max_length=80),
    hours_per_month: str | None = Query(default=None, max_length=20),
    hours_per_day: str | None = Query(default=None, max_length=20),
    on: dt.date | None = None,
):
    """Is this pay at least the minimum wage? Says what is missing rather than guessing."""
    day = on or dt.date.today()
    if prefecture and prefectures.resolve(prefecture) is None:
        raise HTTPException(status_code=422, detail=f"unknown prefecture: {prefecture!r}")
    try:
        result = knowledge_service.check_wage(
            session=session,
            amount=amount,
            period=period,
            prefecture=prefecture,
            on=day,
            hours_per_month=hours_per_month,
            hours_per_day=hours_per_day,
        )
    except wages.AmountError:
        raise HTTPException(status_code=422, detail="cannot read that amount") from None
    return WageCheckRead(
        missing=list(result.missing),
        verdict=result.verdict,
        hourly_equivalent=result.hourly_equivalent,
        minimum=_rate_read(result.minimum, day) if result.minimum else None,
        shortfall_per_hour=result.shortfall_per_hour,
        shortfall_per_month=result.shortfall_per_month,
        monthly_hours=result.monthly_hours,
        assumptions=list(result.assumptions),
    )


@router.get("/contacts", response_model=ListOf[ContactRead])
def list_contacts(session: SessionDep):
    rows = [ContactRead.model_validate(c) for c in knowledge_service.list_contacts(session=session)]
    return ListOf[ContactRead](data=rows, count=len(rows))


@router.get("/prefectures/resolve")
def resolve_prefecture(q: str = Query(max_length=80)):
    """The canonical name of a prefecture written in any spelling."""
    return {"query": q, "prefecture": _canonical_prefecture(q)}
