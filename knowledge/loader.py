"""Idempotent seed of the curated knowledge from the data files.

`python -m knowledge.loader` loads topics, entries, minimum wages and contacts.
Loading twice changes nothing. An entry or contact an admin edited in the database
(``edited_by`` is no longer "seed") is never overwritten by a seed.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge.intents import LANGUAGES, TOPICS
from knowledge.models import (
    SEED_EDITOR, CannedReply, Contact, Entry, EntryStatus, EntryVersion, MinimumWage, SupportHours, Topic,
)

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).parent / "data"


@dataclass
class SeedReport:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    kept_admin_edits: int = 0

    def count(self, bucket: dict[str, int], kind: str) -> None:
        bucket[kind] = bucket.get(kind, 0) + 1

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


def _read(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def load_topic_files(data_dir: Path = DATA_DIR) -> list[dict[str, Any]]:
    """The topic files, checked: every topic once, every language present."""
    docs = [_read(p) for p in sorted((data_dir / "topics").glob("*.yaml"))]
    keys = [d["topic"] for d in docs]
    unknown = sorted(set(keys) - set(TOPICS))
    if unknown:
        raise ValueError(f"topic files for unknown intents: {unknown}")
    for doc in docs:
        missing = [lang for lang in LANGUAGES if lang not in doc.get("entries", {})]
        if missing:
            raise ValueError(f"{doc['topic']}: no entry for {missing}")
    return docs


def _entry_fields(doc: dict[str, Any], lang: str) -> dict[str, Any]:
    entry = doc["entries"][lang]
    more = entry.get("more")
    return {
        "title": str(entry["title"]).strip(),
        "answer": str(entry["answer"]).strip(),
        "more": str(more).strip() if more else None,
        "sources": [{k: (str(v) if v is not None else None) for k, v in s.items()} for s in doc.get("sources", [])],
        "last_reviewed": _as_date(doc["last_reviewed"]),
        "review_by": _as_date(doc["review_by"]),
        "status": str(entry.get("status", EntryStatus.published)),
    }


def snapshot(entry: Entry) -> EntryVersion:
    """A version row holding the entry's current state."""
    return EntryVersion(
        version=entry.version,
        title=entry.title,
        answer=entry.answer,
        more=entry.more,
        sources=entry.sources,
        last_reviewed=entry.last_reviewed,
        review_by=entry.review_by,
        status=entry.status,
        edited_by=entry.edited_by,
    )


def _seed_topics(session: Session, report: SeedReport, data_dir: Path) -> None:
    for doc in load_topic_files(data_dir):
        topic = session.scalar(select(Topic).where(Topic.key == doc["topic"]))
        contact_keys = list(doc.get("contacts", []))
        unverified = [str(u) for u in doc.get("unverified", [])]
        if topic is None:
            topic = Topic(key=doc["topic"], contact_keys=contact_keys, unverified=unverified)
            session.add(topic)
            session.flush()
            report.count(report.created, "topic")
        elif topic.contact_keys != contact_keys or topic.unverified != unverified:
            topic.contact_keys, topic.unverified = contact_keys, unverified
            report.count(report.updated, "topic")
        existing = {e.lang: e for e in session.scalars(select(Entry).where(Entry.topic_id == topic.id))}
        for lang in LANGUAGES:
            fields = _entry_fields(doc, lang)
            entry = existing.get(lang)
            if entry is None:
                entry = Entry(topic_id=topic.id, lang=lang, version=1, edited_by=SEED_EDITOR, **fields)
                session.add(entry)
                session.flush()
                entry.versions.append(snapshot(entry))
                report.count(report.created, "entry")
            elif entry.edited_by != SEED_EDITOR:
                report.kept_admin_edits += 1
            elif any(getattr(entry, k) != v for k, v in fields.items()):
                for k, v in fields.items():
                    setattr(entry, k, v)
                for past in entry.versions:
                    if past.status == EntryStatus.published:
                        past.status = EntryStatus.archived
                entry.version = max((v.version for v in entry.versions), default=0) + 1
                entry.versions.append(snapshot(entry))
                report.count(report.updated, "entry")


def _seed_wages(session: Session, report: SeedReport, data_dir: Path) -> None:
    doc = _read(data_dir / "minimum_wages.yaml")
    source_table = doc.get("sources", {})
    existing = {(w.prefecture, w.fiscal_year) for w in session.scalars(select(MinimumWage))}
    for revision in doc["revisions"]:
        year = int(revision["fiscal_year"])
        for rate in revision["rates"]:
            if (rate["prefecture"], year) in existing:
                continue
            sources = [
                {"id": sid, **{k: (str(v) if v is not None else None) for k, v in source_table.get(sid, {}).items()}}
                for sid in rate.get("sources", [])
            ]
            session.add(
                MinimumWage(
                    prefecture=rate["prefecture"],
                    fiscal_year=year,
                    yen_per_hour=int(rate["yen"]),
                    effective_from=_as_date(rate["effective_from"]),
                    sources=sources,
                )
            )
            report.count(report.created, "minimum_wage")


def _contact_fields(row: dict[str, Any]) -> dict[str, Any]:
    phones = []
    for phone in row.get("phones") or []:
        phones.append({k: (str(v) if k == "number" else v) for k, v in phone.items()})
    return {
        "kind": row["kind"],
        "name": row["name"],
        "helps_with": row.get("helps_with") or {},
        "web": row.get("web"),
        "languages": list(row.get("languages") or []),
        "nationality": row.get("nationality"),
        "phones": phones,
        "source": {k: (str(v) if v is not None else None) for k, v in (row.get("source") or {}).items()} or None,
        "verified": bool(row.get("verified", True)),
    }


def _seed_row(session: Session, report: SeedReport, kind: str, row, fields: dict[str, Any], create) -> None:
    """Add a seeded row (`create(**fields)`), keep one an admin edited, or bring a seeded one up to date."""
    if row is None:
        session.add(create(edited_by=SEED_EDITOR, **fields))
        report.count(report.created, kind)
    elif row.edited_by != SEED_EDITOR:
        report.kept_admin_edits += 1
    elif any(getattr(row, k) != v for k, v in fields.items()):
        for k, v in fields.items():
            setattr(row, k, v)
        report.count(report.updated, kind)


def _seed_contacts(session: Session, report: SeedReport, data_dir: Path) -> None:
    existing = {c.key: c for c in session.scalars(select(Contact))}
    for row in _read(data_dir / "contacts.yaml"):
        _seed_row(session, report, "contact", existing.get(row["key"]), _contact_fields(row),
                  functools.partial(Contact, key=row["key"]))


def _seed_support_hours(session: Session, report: SeedReport, data_dir: Path) -> None:
    """The groups' hours go into an empty table only: once an admin has set them, they are theirs."""
    path = data_dir / "support_hours.yaml"
    if not path.exists() or session.scalar(select(SupportHours.id).limit(1)) is not None:
        return
    for row in _read(path):
        for weekday in row["weekdays"]:
            session.add(SupportHours(lang=row["lang"], weekday=weekday, opens=row["opens"], closes=row["closes"]))
            report.count(report.created, "support_hours")


def _seed_canned_replies(session: Session, report: SeedReport, data_dir: Path) -> None:
    path = data_dir / "canned_replies.yaml"
    if not path.exists():
        return
    existing = {(c.key, c.lang): c for c in session.scalars(select(CannedReply))}
    for row in _read(path):
        for lang in LANGUAGES:
            fields = {"title": row["title"][lang].strip(), "text": row["text"][lang].strip()}
            _seed_row(session, report, "canned_reply", existing.get((row["key"], lang)), fields,
                      functools.partial(CannedReply, key=row["key"], lang=lang))


def seed(session: Session, data_dir: Path = DATA_DIR) -> SeedReport:
    """Load every data file into the database (idempotent). The caller commits."""
    report = SeedReport()
    _seed_topics(session, report, data_dir)
    _seed_wages(session, report, data_dir)
    _seed_contacts(session, report, data_dir)
    _seed_support_hours(session, report, data_dir)
    _seed_canned_replies(session, report, data_dir)
    session.flush()
    return report


def main() -> None:
    from knowledge.config import KnowledgeSettings
    from knowledge.db import make_engine, make_session_factory, session_scope

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = KnowledgeSettings()
    factory = make_session_factory(make_engine(settings.database_url))
    with session_scope(factory) as session:
        report = seed(session)
    logger.info(
        "seed done: created %s, updated %s, kept %d admin edits",
        report.created or "nothing", report.updated or "nothing", report.kept_admin_edits,
    )


if __name__ == "__main__":
    main()
