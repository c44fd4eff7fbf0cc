"""Editing the answers: drafts, publishing, history, revert, the cross-language check and review dates.

An `Entry` row always holds what trainees are answered with (its published text, or nothing while it has
never been published); every saved state is an `EntryVersion`, numbered 1, 2, 3… per entry and never
rewritten: a draft is a version newer than the published one, publishing makes it the entry's text, a
revert publishes an old version's text as a new version. Functions take a Session; the caller commits.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from knowledge.intents import LANGUAGES
from knowledge.models import Entry, EntryStatus, EntryVersion, Topic

#: A version that was published and then replaced by a newer one.
ARCHIVED = EntryStatus.archived
#: How long a review holds when the admin does not say.
REVIEW_PERIOD = dt.timedelta(days=365)
CONTENT_FIELDS = ("title", "answer", "more", "sources")


class EditError(ValueError):
    """The change cannot be made as asked (the message says why)."""


class NotFound(EditError, LookupError):
    """No such topic, language or version."""


@dataclass(frozen=True)
class Difference:
    """Where one language's numbers or phone numbers differ from the others'."""

    lang: str
    kind: str  # "numbers" | "phone numbers"
    missing: tuple[str, ...]  # what the others have and this language lacks
    extra: tuple[str, ...]  # what only this language has

    def __str__(self) -> str:
        parts = []
        if self.missing:
            parts.append("lacks " + ", ".join(self.missing))
        if self.extra:
            parts.append("has " + ", ".join(self.extra) + " the others don't")
        return f"{self.lang}: {self.kind} differ ({'; '.join(parts)})"


@dataclass
class Inconsistent(Exception):
    """Publishing would leave the five languages with different numbers or phone numbers."""

    differences: list[Difference] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(str(d) for d in self.differences)


# -------------------------------------------------------------------------------- the cross-language rule
PHONE = re.compile(r"(?:\+\d{1,3}[- ]?)?\d{2,4}-\d{2,4}-\d{3,4}|#\d{4}|(?<!\d)11[09](?!\d)")


def numbers(text: str) -> set[int]:
    """The numbers a text states ("1,121" and "1.121" are one number), phone numbers included."""
    text = re.sub(r"(?<=\d)[.,](?=\d{3}(?!\d))", "", text)
    return {int(n) for n in re.findall(r"\d+", text)}


def phones(text: str) -> set[str]:
    return set(PHONE.findall(text))


def _sort(values) -> tuple[str, ...]:
    return tuple(sorted((str(v) for v in values), key=lambda v: (len(v), v)))


def differences(texts: dict[str, str]) -> list[Difference]:
    """Languages whose numbers or phone numbers differ from the rest (the majority, English on a tie)."""
    found: list[Difference] = []
    for kind, extract in (("numbers", numbers), ("phone numbers", phones)):
        sets = {lang: frozenset(extract(text)) for lang, text in texts.items()}
        if len(set(sets.values())) <= 1:
            continue
        counts: dict[frozenset, int] = {}
        for value in sets.values():
            counts[value] = counts.get(value, 0) + 1
        reference = max(counts, key=lambda v: (counts[v], v == sets.get("en")))
        for lang in sorted(sets, key=lambda lang: LANGUAGES.index(lang) if lang in LANGUAGES else 99):
            if sets[lang] != reference:
                found.append(Difference(lang=lang, kind=kind, missing=_sort(reference - sets[lang]),
                                        extra=_sort(sets[lang] - reference)))
    return found


def _checked_text(version: Entry | EntryVersion) -> str:
    return f"{version.answer}\n{version.more or ''}"


# -------------------------------------------------------------------------------- reading
def entry(*, session: Session, topic: str, lang: str) -> Entry:
    """The entry of a topic in a language, with its versions. Raises EditError."""
    row = session.scalar(
        select(Entry).join(Topic).where(Topic.key == topic, Entry.lang == lang)
        .options(selectinload(Entry.versions), selectinload(Entry.topic))
    )
    if row is None:
        raise NotFound(f"no entry for topic {topic!r} in {lang!r}")
    return row


def topic_entries(*, session: Session, topic: str) -> dict[str, Entry]:
    rows = session.scalars(
        select(Entry).join(Topic).where(Topic.key == topic).options(selectinload(Entry.versions))
    )
    found = {e.lang: e for e in rows}
    if not found:
        raise NotFound(f"no topic {topic!r}")
    return found


def latest(row: Entry) -> EntryVersion:
    """The newest version: the draft being worked on, or the published text."""
    return max(row.versions, key=lambda v: v.version)


def draft(row: Entry) -> EntryVersion | None:
    """The unpublished draft newer than the published text, if any."""
    newest = latest(row)
    return newest if newest.status == EntryStatus.draft else None


def version(row: Entry, number: int) -> EntryVersion:
    for v in row.versions:
        if v.version == number:
            return v
    raise NotFound(f"{row.lang}: no version {number}")


def state(row: Entry, today: dt.date) -> str:
    """What the topic list shows for one language: draft, past review, published, unpublished."""
    if draft(row) is not None:
        return "draft"
    if row.status != EntryStatus.published:
        return "unpublished"
    return "past review" if row.review_by < today else "published"


# -------------------------------------------------------------------------------- writing
def _next_number(row: Entry) -> int:
    return max((v.version for v in row.versions), default=0) + 1


def _new_version(row: Entry, *, content: dict[str, Any], status: str, author: str, note: str | None,
                 last_reviewed: dt.date, review_by: dt.date) -> EntryVersion:
    new = EntryVersion(version=_next_number(row), status=status, edited_by=author, note=note,
                       last_reviewed=last_reviewed, review_by=review_by, **content)
    row.versions.append(new)
    return new


def save_draft(*, session: Session, topic: str, lang: str, title: str, answer: str, more: str | None,
               sources: list[dict[str, Any]], author: str, review_by: dt.date | None = None) -> EntryVersion:
    """Save a new draft version; trainees keep getting the published text until it is published."""
    row = entry(session=session, topic=topic, lang=lang)
    base = latest(row)
    content = {"title": title.strip(), "answer": answer.strip(), "more": (more or "").strip() or None,
               "sources": list(sources)}
    new = _new_version(row, content=content, status=EntryStatus.draft, author=author, note=None,
                       last_reviewed=base.last_reviewed, review_by=review_by or base.review_by)
    row.edited_by = author  # the seed never overwrites an entry an admin has touched
    session.flush()
    return new


def publish_check(*, session: Session, topic: str, langs: list[str]) -> list[Difference]:
    """The cross-language check for publishing `langs`: their newest versions against what the other languages
    publish now (their newest version while they have never been published)."""
    rows = topic_entries(session=session, topic=topic)
    texts = {lang: _checked_text(row if lang not in langs and row.status == EntryStatus.published else latest(row))
             for lang, row in rows.items()}
    return differences(texts)


def _make_live(row: Entry, live: EntryVersion, author: str) -> None:
    for v in row.versions:
        if v is not live and v.status == EntryStatus.published:
            v.status = ARCHIVED
    live.status = EntryStatus.published
    for name in (*CONTENT_FIELDS, "last_reviewed", "review_by"):
        setattr(row, name, getattr(live, name))
    row.version, row.status, row.edited_by = live.version, EntryStatus.published, author


def publish(*, session: Session, topic: str, lang: str, author: str, today: dt.date,
            reason: str | None = None) -> tuple[Entry, list[Difference]]:
    """Publish one language's draft (publishing is a review: last reviewed becomes today); with no draft,
    nothing changes. Raises Inconsistent when the languages would disagree on numbers or phone numbers and
    no reason is given; returns the differences published anyway (with a reason) for the audit log."""
    published, found = publish_many(session=session, topic=topic, langs=[lang], author=author, today=today,
                                    reason=reason)
    return published.get(lang) or entry(session=session, topic=topic, lang=lang), found


def publish_many(*, session: Session, topic: str, langs: list[str], author: str, today: dt.date,
                 reason: str | None = None) -> tuple[dict[str, Entry], list[Difference]]:
    """Publish the drafts of several languages of a topic together, checked together (see `publish`).
    Returns the entries that were published (languages without a draft are left out)."""
    rows = {lang: entry(session=session, topic=topic, lang=lang) for lang in langs}
    pending = {lang: draft(row) for lang, row in rows.items() if draft(row) is not None}
    if not pending:
        return {}, []
    found = publish_check(session=session, topic=topic, langs=list(pending))
    if found and not (reason or "").strip():
        raise Inconsistent(found)
    for lang, version_ in pending.items():
        version_.last_reviewed = today
        if version_.review_by <= today:
            version_.review_by = today + REVIEW_PERIOD
        version_.note = ((reason or "").strip()[:500] or None) if found else None
        _make_live(rows[lang], version_, author)
    session.flush()
    return {lang: rows[lang] for lang in pending}, found


def revert(*, session: Session, topic: str, lang: str, to: int, author: str, today: dt.date) -> Entry:
    """Publish version `to`'s text again, as a new version (history is never rewritten)."""
    row = entry(session=session, topic=topic, lang=lang)
    old = version(row, to)
    content = {name: getattr(old, name) for name in CONTENT_FIELDS}
    new = _new_version(row, content=content, status=EntryStatus.draft, author=author,
                       note=f"revert to version {to}", last_reviewed=today,
                       review_by=max(row.review_by, today + dt.timedelta(days=1)))
    _make_live(row, new, author)
    session.flush()
    return row


def mark_reviewed(*, session: Session, topic: str, lang: str, author: str, today: dt.date,
                  review_by: dt.date | None = None) -> Entry:
    """The published text was checked and stays as it is: a new version with today's review and a new date."""
    row = entry(session=session, topic=topic, lang=lang)
    if row.status != EntryStatus.published:
        raise EditError(f"{lang}: nothing published to mark reviewed")
    if draft(row) is not None:
        raise EditError(f"{lang}: a draft is waiting; publishing it counts as the review")
    content = {name: getattr(row, name) for name in CONTENT_FIELDS}
    new = _new_version(row, content=content, status=EntryStatus.draft, author=author, note="reviewed",
                       last_reviewed=today, review_by=review_by if review_by and review_by > today
                       else today + REVIEW_PERIOD)
    _make_live(row, new, author)
    session.flush()
    return row


# -------------------------------------------------------------------------------- review dates
def review_due(*, session: Session, today: dt.date) -> list[Entry]:
    """Published entries past their review date, the oldest first."""
    return list(session.scalars(
        select(Entry).where(Entry.status == EntryStatus.published, Entry.review_by < today)
        .options(selectinload(Entry.topic)).order_by(Entry.review_by, Entry.id)
    ))


def review_due_count(*, session: Session, today: dt.date) -> int:
    return session.scalar(select(func.count(Entry.id)).where(Entry.status == EntryStatus.published,
                                                            Entry.review_by < today)) or 0


# -------------------------------------------------------------------------------- diff
@dataclass(frozen=True)
class FieldDiff:
    """One field of two versions, as runs of ("same" | "del" | "ins", text)."""

    name: str
    changed: bool
    runs: tuple[tuple[str, str], ...]


def sources_text(sources: list[dict[str, Any]] | None) -> str:
    """Sources as the editor shows them: one per line, "publisher | title | URL | date"."""
    return "\n".join(" | ".join(str(s.get(k) or "") for k in ("publisher", "title", "url", "date"))
                     for s in sources or [])


_CJK = "\u3000-\u30ff\u3400-\u9fff\uff00-\uffef"
_TOKENS = re.compile(rf"\s+|[{_CJK}]|[^\s{_CJK}]+")


def _runs(old: str, new: str) -> tuple[tuple[str, str], ...]:
    """A word-level diff: words and whitespace are tokens, and Japanese (written without spaces) one character
    each; neighbouring runs of the same kind are joined."""
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    runs: list[list[str]] = []

    def add(op: str, text: str) -> None:
        if runs and runs[-1][0] == op:
            runs[-1][1] += text
        else:
            runs.append([op, text])

    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            add("same", "".join(a[i1:i2]))
            continue
        if i2 > i1:
            add("del", "".join(a[i1:i2]))
        if j2 > j1:
            add("ins", "".join(b[j1:j2]))
    return tuple((op, text) for op, text in runs)


def diff(old: EntryVersion, new: EntryVersion) -> list[FieldDiff]:
    """What changed from `old` to `new`, field by field."""
    out = []
    for name in CONTENT_FIELDS:
        if name == "sources":
            a, b = sources_text(old.sources), sources_text(new.sources)
        else:
            a, b = getattr(old, name) or "", getattr(new, name) or ""
        out.append(FieldDiff(name=name, changed=a != b, runs=_runs(a, b)))
    return out
