"""Queries over the curated knowledge. Keyword-only functions taking a Session."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
import weakref
from decimal import Decimal

from sqlalchemy import event, select
from sqlalchemy.orm import Session, selectinload

from knowledge import prefectures, wages
from knowledge.models import Contact, Entry, EntryStatus, MinimumWage, SupportHours, Topic

#: The embassy contacts per trainee language, for the "embassy" placeholder in a topic's contact list.
EMBASSY_NATIONALITY = {"vi": "vn", "id": "id", "tl": "ph"}


def list_topics(*, session: Session) -> list[Topic]:
    """All topics with their entries."""
    return list(session.scalars(select(Topic).options(selectinload(Topic.entries)).order_by(Topic.key)))


def get_topic(*, session: Session, key: str) -> Topic | None:
    return session.scalar(select(Topic).where(Topic.key == key).options(selectinload(Topic.entries)))


def topic_contact_keys(*, session: Session, key: str) -> list[str]:
    """The contact keys a topic shows under its answer (empty for an unknown topic)."""
    return list(session.scalar(select(Topic.contact_keys).where(Topic.key == key)) or [])


def get_entry(*, session: Session, topic: str, lang: str, published_only: bool = True) -> Entry | None:
    """The entry of a topic in a language (published only, unless asked)."""
    query = select(Entry).join(Topic).where(Topic.key == topic, Entry.lang == lang)
    if published_only:
        query = query.where(Entry.status == EntryStatus.published)
    return session.scalar(query)


def list_entries(*, session: Session, lang: str | None = None, topic: str | None = None) -> list[Entry]:
    query = select(Entry).join(Topic).order_by(Topic.key, Entry.lang)
    if lang:
        query = query.where(Entry.lang == lang)
    if topic:
        query = query.where(Topic.key == topic)
    return list(session.scalars(query))


def list_wages(*, session: Session, prefecture: str | None = None) -> list[MinimumWage]:
    query = select(MinimumWage).order_by(MinimumWage.prefecture, MinimumWage.fiscal_year)
    if prefecture:
        query = query.where(MinimumWage.prefecture == prefecture)
    return list(session.scalars(query))


def rate_on(*, session: Session, prefecture: str, on: dt.date) -> wages.MinimumRate | None:
    """The minimum wage in force in `prefecture` on `on`, flagged when our data may be outdated."""
    rows = list(
        session.scalars(
            select(MinimumWage)
            .where(MinimumWage.prefecture == prefecture)
            .order_by(MinimumWage.effective_from.desc())
        )
    )
    return _rate_in(rows, on)


def _rate_in(rows: list[MinimumWage], on: dt.date) -> wages.MinimumRate | None:
    """The rate in force on `on` among one prefecture's rows (newest effective date first)."""
    in_force = next((r for r in rows if r.effective_from <= on), None)
    if in_force is None:
        return None
    newest_year = max(r.fiscal_year for r in rows)
    return wages.MinimumRate(
        prefecture=in_force.prefecture,
        yen_per_hour=in_force.yen_per_hour,
        effective_from=in_force.effective_from,
        fiscal_year=in_force.fiscal_year,
        sources=tuple(in_force.sources or ()),
        possibly_outdated=newest_year < wages.revision_cycle(on),
    )


def check_wage(
    *,
    session: Session,
    amount: str | Decimal | None,
    period: str | wages.PayPeriod | None,
    prefecture: str | None,
    on: dt.date,
    hours_per_month: str | Decimal | None = None,
    hours_per_day: str | Decimal | None = None,
    cached: bool = False,
) -> wages.WageCheck:
    """Check pay against the minimum in force; reports what is missing instead of guessing.
    `cached`: read the rate from this process's knowledge snapshot (`snapshot`), as the bot's answers do.

    Raises wages.AmountError when the amount or hours cannot be read.
    """
    value = None if amount is None else (amount if isinstance(amount, Decimal) else wages.parse_amount(amount))
    pay_period = wages.parse_period(period) if isinstance(period, str) else period
    canonical = prefectures.resolve(prefecture) if prefecture else None
    missing = wages.missing_inputs(amount=value, period=pay_period, prefecture=canonical)
    if missing:
        return wages.WageCheck(missing=missing)
    minimum = (snapshot(session).rate_on(canonical, on) if cached
               else rate_on(session=session, prefecture=canonical, on=on))
    if minimum is None:
        return wages.WageCheck(missing=("rate",))
    return wages.evaluate(
        amount=value,
        period=pay_period,
        minimum=minimum,
        hours_per_month=None if hours_per_month is None else wages.parse_hours(hours_per_month),
        hours_per_day=None if hours_per_day is None else wages.parse_hours(hours_per_day),
    )


def list_contacts(*, session: Session) -> list[Contact]:
    return list(session.scalars(select(Contact).order_by(Contact.key)))


def contacts_for(*, session: Session, keys: list[str], lang: str) -> list[Contact]:
    """The contacts named by a topic, in order; "embassy" becomes the trainee's embassy contacts."""
    everything = {c.key: c for c in session.scalars(select(Contact))}
    chosen: list[Contact] = []
    for key in keys:
        if key == "embassy":
            nationality = EMBASSY_NATIONALITY.get(lang)
            chosen.extend(c for c in everything.values() if c.kind == "embassy" and c.nationality == nationality)
        elif key in everything:
            chosen.append(everything[key])
    return list(dict.fromkeys(chosen))


def next_rate(*, session: Session, prefecture: str, after: dt.date) -> MinimumWage | None:
    """The next minimum wage of `prefecture` that takes effect after `after` (a revision already decided), if any."""
    return session.scalar(
        select(MinimumWage)
        .where(MinimumWage.prefecture == prefecture, MinimumWage.effective_from > after)
        .order_by(MinimumWage.effective_from)
    )


def topic_contacts(*, session: Session, topic: str, lang: str) -> list[Contact]:
    """The contacts a topic shows under its answer, in order, loading only those ("embassy" → the trainee's)."""
    keys = topic_contact_keys(session=session, key=topic)
    if not keys:
        return []
    nationality = EMBASSY_NATIONALITY.get(lang)
    named = [k for k in keys if k != "embassy"]
    query = select(Contact).where(Contact.key.in_(named))
    if "embassy" in keys and nationality:
        query = select(Contact).where(
            Contact.key.in_(named) | ((Contact.kind == "embassy") & (Contact.nationality == nationality))
        )
    return _in_topic_order(keys, list(session.scalars(query.order_by(Contact.id))), nationality)


def _in_topic_order(keys: list[str], found: list[Contact], nationality: str | None) -> list[Contact]:
    """The contacts `found` in the order of the topic's `keys`, "embassy" standing for the trainee's embassies."""
    by_key = {c.key: c for c in found}
    chosen: list[Contact] = []
    for key in keys:
        if key == "embassy":
            chosen.extend(c for c in found if c.kind == "embassy" and c.nationality == nationality)
        elif key in by_key:
            chosen.append(by_key[key])
    return list(dict.fromkeys(chosen))


# ------------------------------------------------------------------------------------------ the bot's snapshot
#: The bot reads the knowledge on nearly every answer and admins change it rarely, so each process answers from a
#: read-only snapshot per database (published entries, topic contact lists, contacts, minimum wages) instead of
#: querying it each turn. An edit this process makes (the admin pages and editor, the wage import, the seed: any ORM
#: flush, or ORM UPDATE/DELETE, of a topic, entry, contact or minimum wage) drops every snapshot at once, and again
#: when that transaction commits or rolls back. An edit made by another process (another app process, raw SQL)
#: reaches trainees at the latest SNAPSHOT_SECONDS (5 s) later, when the snapshot is older than that and reloaded.
SNAPSHOT_SECONDS = 5.0
_KNOWLEDGE_MODELS = (Topic, Entry, Contact, MinimumWage)
_snapshots: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # bind (engine or connection) → Snapshot
_snapshot_lock = threading.Lock()
_generation = 0  # bumped on every drop, so a load that raced with an edit is not kept
_clock = time.monotonic


class Snapshot:
    """The knowledge the bot answers from, loaded in one go; rows are detached and must not be changed."""

    def __init__(self, session: Session):
        self.loaded_at = _clock()
        self.entries = {(e.topic.key, e.lang): e for e in session.scalars(
            select(Entry).where(Entry.status == EntryStatus.published).options(selectinload(Entry.topic)))}
        self.contact_keys = {key: list(keys or []) for key, keys in session.execute(select(Topic.key, Topic.contact_keys))}
        self.contacts = list(session.scalars(select(Contact).order_by(Contact.id)))
        self.rates: dict[str, list[MinimumWage]] = {}
        for row in session.scalars(select(MinimumWage).order_by(MinimumWage.effective_from.desc(), MinimumWage.id)):
            self.rates.setdefault(row.prefecture, []).append(row)

    def entry(self, topic: str, lang: str) -> Entry | None:
        """As `get_entry` (published only)."""
        return self.entries.get((topic, lang))

    def topic_contacts(self, topic: str, lang: str) -> list[Contact]:
        """As `topic_contacts`: the topic's contacts in order, "embassy" → the trainee's embassy contacts."""
        keys = self.contact_keys.get(topic) or []
        if not keys:
            return []
        nationality = EMBASSY_NATIONALITY.get(lang)
        named = {k for k in keys if k != "embassy"}
        embassies = "embassy" in keys and nationality
        found = [c for c in self.contacts
                 if c.key in named or (embassies and c.kind == "embassy" and c.nationality == nationality)]
        return _in_topic_order(keys, found, nationality)

    def rate_on(self, prefecture: str, on: dt.date) -> wages.MinimumRate | None:
        """As `rate_on`."""
        rows = self.rates.get(prefecture)
        return _rate_in(rows, on) if rows else None

    def next_rate(self, prefecture: str, after: dt.date) -> MinimumWage | None:
        """As `next_rate`."""
        later = [r for r in self.rates.get(prefecture, ()) if r.effective_from > after]
        return min(later, key=lambda r: r.effective_from) if later else None


def snapshot(session: Session) -> Snapshot:
    """This process's knowledge snapshot of the session's database, reloaded when older than SNAPSHOT_SECONDS."""
    bind = session.get_bind()
    current = _snapshots.get(bind)
    if current is not None and _clock() - current.loaded_at < SNAPSHOT_SECONDS:
        return current
    generation = _generation
    with Session(bind=bind, expire_on_commit=False) as reader:  # its own session: the rows end up detached
        fresh = Snapshot(reader)
    with _snapshot_lock:
        if generation == _generation:
            _snapshots[bind] = fresh
    return fresh


def drop_snapshots() -> None:
    """Forget every snapshot (the knowledge changed): the next answer reloads it."""
    global _generation
    with _snapshot_lock:
        _generation += 1
        _snapshots.clear()


@event.listens_for(Session, "after_flush")
def _knowledge_flushed(session: Session, _context) -> None:
    if any(isinstance(o, _KNOWLEDGE_MODELS) for o in itertools.chain(session.new, session.dirty, session.deleted)):
        session.info["knowledge_changed"] = True
        drop_snapshots()


@event.listens_for(Session, "do_orm_execute")
def _knowledge_executed(state) -> None:
    if not state.is_select and any(m.class_ in _KNOWLEDGE_MODELS for m in state.all_mappers):
        state.session.info["knowledge_changed"] = True
        drop_snapshots()


@event.listens_for(Session, "after_commit")
def _knowledge_committed(session: Session) -> None:
    if session.info.pop("knowledge_changed", False):
        drop_snapshots()


@event.listens_for(Session, "after_soft_rollback")
def _knowledge_rolled_back(session: Session, _previous) -> None:
    if session.info.pop("knowledge_changed", False):
        drop_snapshots()


JAPAN = dt.timezone(dt.timedelta(hours=9), "JST")


def minutes_of(hhmm: str) -> int:
    """Minutes after midnight of "HH:MM"."""
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def support_open(*, session: Session, lang: str, at: dt.datetime) -> bool:
    """True when volunteers answer chats in `lang` at `at` (their hours are in Japan time)."""
    local = at.astimezone(JAPAN)
    now = local.hour * 60 + local.minute
    rows = session.scalars(select(SupportHours).where(SupportHours.lang == lang,
                                                      SupportHours.weekday == local.weekday()))
    return any(minutes_of(r.opens) <= now < minutes_of(r.closes) for r in rows)


def next_opening(*, session: Session, lang: str, after: dt.datetime) -> dt.datetime | None:
    """When volunteers in `lang` are next available after `after` (Japan time), or None when no hours are set."""
    rows = list(session.scalars(select(SupportHours).where(SupportHours.lang == lang)))
    if not rows:
        return None
    local = after.astimezone(JAPAN)
    for days in range(8):
        day = (local + dt.timedelta(days=days)).date()
        starts = sorted(minutes_of(r.opens) for r in rows if r.weekday == day.weekday())
        for start in starts:
            opening = dt.datetime.combine(day, dt.time(start // 60, start % 60), tzinfo=JAPAN)
            if opening > local:
                return opening
    return None
