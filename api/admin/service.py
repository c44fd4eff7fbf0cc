"""What the admin's routes do: the editing service of knowledge/ with the admin's name and the audit log."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.accounts.service import audit
from api.admin import learning
from api.admin.schemas import DifferenceRead, EntryAdminRead, EntryWrite, VersionRead
from knowledge import editing, wage_import
from bot import reminders
from knowledge.models import Entry, EntryStatus, MinimumWage


def author(account) -> str:
    return account.display_name or account.email


def entry_read(row: Entry) -> EntryAdminRead:
    newest = editing.latest(row)
    return EntryAdminRead(
        topic=row.topic.key, lang=row.lang, title=newest.title, answer=newest.answer, more=newest.more,
        sources=list(newest.sources or []), status=newest.status, version=newest.version,
        review_by=newest.review_by, last_reviewed=newest.last_reviewed,
        published_version=row.version if row.status == EntryStatus.published else None, author=newest.edited_by,
    )


def versions_read(row: Entry) -> list[VersionRead]:
    return [VersionRead(version=v.version, status=v.status, saved_at=v.created_at, author=v.edited_by, note=v.note)
            for v in sorted(row.versions, key=lambda v: v.version, reverse=True)]


def differences_read(found: list[editing.Difference]) -> list[DifferenceRead]:
    return [DifferenceRead(lang=d.lang, kind=d.kind, missing=list(d.missing), extra=list(d.extra), message=str(d))
            for d in found]


def save(*, session: Session, account, topic: str, lang: str, body: EntryWrite) -> Entry:
    editing.save_draft(session=session, topic=topic, lang=lang, title=body.title, answer=body.answer,
                       more=body.more, sources=[s.model_dump() for s in body.sources], author=author(account),
                       review_by=body.review_by)
    audit(session=session, account=account, action="entry.draft_saved", target=f"{topic}/{lang}")
    return editing.entry(session=session, topic=topic, lang=lang)


def publish(*, session: Session, account, topic: str, lang: str, today: dt.date, reason: str | None) -> Entry:
    """Raises editing.Inconsistent (without a reason); a publish despite differences logs them with the reason."""
    published = publish_many(session=session, account=account, topic=topic, langs=[lang], today=today,
                             reason=reason)
    return published.get(lang) or editing.entry(session=session, topic=topic, lang=lang)


def revert(*, session: Session, account, topic: str, lang: str, version: int, today: dt.date) -> Entry:
    row = editing.revert(session=session, topic=topic, lang=lang, to=version, author=author(account), today=today)
    audit(session=session, account=account, action="entry.reverted", target=f"{topic}/{lang}@{row.version}",
          detail=f"text of version {version}")
    return row


def mark_reviewed(*, session: Session, account, topic: str, lang: str, today: dt.date,
                  review_by: dt.date | None = None) -> Entry:
    row = editing.mark_reviewed(session=session, topic=topic, lang=lang, author=author(account), today=today,
                                review_by=review_by)
    audit(session=session, account=account, action="entry.reviewed", target=f"{topic}/{lang}@{row.version}")
    return row


def import_wages(*, session: Session, account, data: bytes, dry_run: bool,
                 confirm_decrease: bool, now: dt.datetime | None = None) -> wage_import.ImportResult:
    """Check (and unless `dry_run`, apply) a minimum-wage revision file; an applied import is audited, and the
    subscribers of each prefecture whose rate changed to one still to come are told (bot/reminders.py), in the
    same transaction: the rates and their reminders are written together or not at all."""
    if dry_run:
        return wage_import.check(session=session, data=data, confirm_decrease=confirm_decrease)
    result = wage_import.apply(session=session, data=data, confirm_decrease=confirm_decrease)
    if result.applied:
        changed = [c.prefecture for c in result.changes if c.kind != "same"]
        rows = list(session.scalars(select(MinimumWage).where(MinimumWage.fiscal_year == result.fiscal_year,
                                                               MinimumWage.prefecture.in_(changed))))
        runs = reminders.plan_revision(session=session, wages=rows, now=now or dt.datetime.now(dt.UTC))
        audit(session=session, account=account, action="wages.imported", target=f"FY{result.fiscal_year}",
              detail=f"{result.rows} rows, {len(changed)} changed"
                     + (", decreases confirmed" if any(c.decrease for c in result.changes) else "")
                     + (f", {len(runs)} reminder runs" if runs else ""))
    return result


def publish_many(*, session: Session, account, topic: str, langs: list[str], today: dt.date,
                 reason: str | None) -> dict[str, Entry]:
    """Publish several languages' drafts together (the editor's "publish"); audited per language published."""
    rows, found = editing.publish_many(session=session, topic=topic, langs=langs, author=author(account),
                                       today=today, reason=reason)
    detail = f"published despite differences: {'; '.join(str(d) for d in found)} — reason: {reason}" if found else None
    for lang, row in rows.items():
        audit(session=session, account=account, action="entry.published", target=f"{topic}/{lang}@{row.version}",
              detail=detail)
    return rows


def label_miss(*, session: Session, account, miss_id: int, intent: str, text: str | None,
               entities: list[dict]):
    """Label a queued message (raises LookupError, learning.LabelError); audited."""
    row = learning.label(session=session, miss_id=miss_id, intent=intent, account_id=account.id, text=text,
                         entities=entities)
    audit(session=session, account=account, action="learning.labelled", target=str(miss_id), detail=intent)
    return row


def discard_miss(*, session: Session, account, miss_id: int):
    """Discard a queued message (raises LookupError); audited."""
    row = learning.discard(session=session, miss_id=miss_id, account_id=account.id)
    audit(session=session, account=account, action="learning.discarded", target=str(miss_id))
    return row


def export_learning(*, session: Session, account, data_dir) -> dict:
    """Write the labelled examples into the NLU training data; audited with the count per language."""
    written = learning.export(session=session, data_dir=data_dir)
    audit(session=session, account=account, action="learning.exported",
          detail=", ".join(f"{lang} {w['examples']}" for lang, w in written.items()))
    return written
