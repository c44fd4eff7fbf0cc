"""The admin JSON API, for admins only (a volunteer's token gets 403). The paths and fields are a contract:

    GET  /api/admin/entries/{topic}/{lang}            the newest version (the draft when there is one)
    PUT  /api/admin/entries/{topic}/{lang}            save a draft {"title", "answer", "more", "sources"}
    POST /api/admin/entries/{topic}/{lang}/publish    publish the draft (409 with the differences between the
                                                      languages' numbers unless {"reason": …} is given)
    GET  /api/admin/entries/{topic}/{lang}/versions   [{"version", "status", "saved_at", "author"}]
    POST /api/admin/entries/{topic}/{lang}/revert     {"version"}: that version's text, published as a new one
    POST /api/admin/wages/import?dry_run=true|false   multipart `file`: {"fiscal_year", "rows", "changes", "errors"}
    GET  /api/admin/reminders                         {"subscribers": [{"prefecture", "subscribers", "channels"}],
                                                       "runs": [{"kind", "prefecture", "sent", "waiting", …}]}
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Body, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.admin import learning, service
from api.admin.schemas import EntryAdminRead, EntryWrite, PublishBody, RevertBody, VersionRead, lang_or_404
from api.deps import CurrentAdmin, RowId, ServicesDep, SessionDep
from knowledge import editing
from knowledge import service as knowledge_service
from knowledge.intents import LANGUAGES

router = APIRouter(prefix="/api/admin", tags=["admin"])

#: A revision file is 48 short lines; anything near this is not one.
MAX_IMPORT_BYTES = 256 * 1024


def _entry(session, topic: str, lang: str):
    try:
        return editing.entry(session=session, topic=topic, lang=lang_or_404(lang))
    except editing.NotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None


class TopicState(BaseModel):
    topic: str
    languages: dict[str, str]  # lang → "published" | "draft" | "past review" | "unpublished"
    review_by: dt.date | None


@router.get("/entries", response_model=list[TopicState])
def list_topics(admin: CurrentAdmin, session: SessionDep, services: ServicesDep) -> list[TopicState]:
    """Every topic with the state of each language."""
    today = services.engine.today()
    out = []
    for topic in knowledge_service.list_topics(session=session):
        rows = {e.lang: e for e in topic.entries}
        out.append(TopicState(topic=topic.key,
                              languages={lang: editing.state(rows[lang], today) if lang in rows else "missing"
                                         for lang in LANGUAGES},
                              review_by=min((e.review_by for e in topic.entries), default=None)))
    return out


@router.get("/entries/{topic}/{lang}", response_model=EntryAdminRead)
def get_entry(topic: str, lang: str, admin: CurrentAdmin, session: SessionDep) -> EntryAdminRead:
    return service.entry_read(_entry(session, topic, lang))


@router.put("/entries/{topic}/{lang}", response_model=EntryAdminRead)
def save_draft(topic: str, lang: str, body: EntryWrite, admin: CurrentAdmin, session: SessionDep) -> EntryAdminRead:
    """Save a draft; trainees keep getting the published text until it is published."""
    _entry(session, topic, lang)
    return service.entry_read(service.save(session=session, account=admin, topic=topic, lang=lang, body=body))


@router.post("/entries/{topic}/{lang}/publish", response_model=EntryAdminRead)
def publish(topic: str, lang: str, admin: CurrentAdmin, session: SessionDep, services: ServicesDep,
            body: Annotated[PublishBody | None, Body()] = None):
    """Publish the draft: the bot answers with it from the next message on, in every app process."""
    _entry(session, topic, lang)
    try:
        row = service.publish(session=session, account=admin, topic=topic, lang=lang,
                              today=services.engine.today(), reason=body.reason if body else None)
    except editing.Inconsistent as exc:
        return JSONResponse(status_code=409, content={
            "detail": "the languages would differ in numbers or phone numbers; fix them, or publish anyway "
                      'with {"reason": "…"} (kept in the audit log)',
            "differences": [d.model_dump() for d in service.differences_read(exc.differences)],
        })
    return service.entry_read(row)


@router.get("/entries/{topic}/{lang}/versions", response_model=list[VersionRead])
def versions(topic: str, lang: str, admin: CurrentAdmin, session: SessionDep) -> list[VersionRead]:
    """Every version, the newest first."""
    return service.versions_read(_entry(session, topic, lang))


@router.get("/entries/{topic}/{lang}/diff")
def diff(topic: str, lang: str, admin: CurrentAdmin, session: SessionDep,
         a: int = Query(ge=1), b: int = Query(ge=1)) -> dict:
    """What changed from version `a` to version `b`, field by field, as runs of same/del/ins text."""
    row = _entry(session, topic, lang)
    try:
        old, new = editing.version(row, a), editing.version(row, b)
    except editing.NotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    return {"a": a, "b": b, "fields": [{"name": f.name, "changed": f.changed,
                                        "runs": [{"op": op, "text": text} for op, text in f.runs]}
                                       for f in editing.diff(old, new)]}


@router.post("/entries/{topic}/{lang}/revert", response_model=EntryAdminRead)
def revert(topic: str, lang: str, body: RevertBody, admin: CurrentAdmin, session: SessionDep,
           services: ServicesDep) -> EntryAdminRead:
    _entry(session, topic, lang)
    try:
        row = service.revert(session=session, account=admin, topic=topic, lang=lang, version=body.version,
                             today=services.engine.today())
    except editing.NotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    return service.entry_read(row)


class ReviewedBody(BaseModel):
    review_by: dt.date | None = None


@router.post("/entries/{topic}/{lang}/reviewed", response_model=EntryAdminRead)
def reviewed(topic: str, lang: str, admin: CurrentAdmin, session: SessionDep, services: ServicesDep,
             body: Annotated[ReviewedBody | None, Body()] = None) -> EntryAdminRead:
    """The published text was checked and still holds: today's review, a new review date (default a year)."""
    _entry(session, topic, lang)
    try:
        row = service.mark_reviewed(session=session, account=admin, topic=topic, lang=lang,
                                    today=services.engine.today(), review_by=body.review_by if body else None)
    except editing.EditError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    return service.entry_read(row)


@router.get("/review")
def review_list(admin: CurrentAdmin, session: SessionDep, services: ServicesDep) -> list[dict]:
    """Published entries past their review date, the oldest first."""
    return [{"topic": e.topic.key, "lang": e.lang, "title": e.title, "review_by": e.review_by,
             "last_reviewed": e.last_reviewed}
            for e in editing.review_due(session=session, today=services.engine.today())]


@router.get("/wages")
def wages_table(admin: CurrentAdmin, session: SessionDep, fiscal_year: int | None = None) -> list[dict]:
    """The minimum-wage rows (of one fiscal year), with effective dates and sources."""
    rows = knowledge_service.list_wages(session=session)
    return [{"prefecture": w.prefecture, "fiscal_year": w.fiscal_year, "yen_per_hour": w.yen_per_hour,
             "effective_from": w.effective_from, "sources": w.sources}
            for w in rows if fiscal_year is None or w.fiscal_year == fiscal_year]


@router.post("/wages/import")
async def import_wages(request: Request, admin: CurrentAdmin, session: SessionDep, services: ServicesDep,
                       file: Annotated[UploadFile, File()], dry_run: bool = True,
                       confirm_decrease: bool = False):
    """Check a revision file (`dry_run=true`, the default) or apply it in one transaction: 422 with every
    error by line when the file is not right, and then nothing is written."""
    data = await file.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise HTTPException(status_code=413, detail="a revision file is 48 lines; this one is too large")
    result = service.import_wages(session=session, account=admin, data=data, dry_run=dry_run,
                                  confirm_decrease=confirm_decrease, now=services.engine.now())
    body = result.as_dict()
    if result.errors:
        session.rollback()
        return JSONResponse(status_code=422, content=body)
    return body


@router.get("/reminders")
def reminders_state(admin: CurrentAdmin, session: SessionDep) -> dict:
    """The wage-revision reminders: subscribers per prefecture (and channel), and each send run's state
    (`sending` while some of its messages wait, else `done`), the newest first."""
    from bot import reminders

    return {"subscribers": reminders.subscribers_by_prefecture(session=session),
            "runs": [run.as_dict() for run in reminders.run_states(session=session)]}


# ---------------------------------------------------------------------------------------------- learning
class LabelBody(BaseModel):
    intent: str
    #: The text as redacted by the admin (names, phone numbers), when it changed.
    text: str | None = Field(default=None, max_length=1000)
    entities: list[dict] = Field(default_factory=list, max_length=20)


def _miss_read(row) -> dict:
    """What admins see of a missed message: never who wrote it."""
    return {"id": row.id, "lang": row.lang, "text": row.text, "reason": row.reason, "guess": row.guess,
            "confidence": row.confidence, "next_step": row.next_step, "status": row.status,
            "intent": row.intent, "entities": row.entities or [], "redacted": row.redacted,
            "suggested_redaction": learning.suggested_redaction(row.text), "at": row.created_at}


@router.get("/learning/queue")
def learning_queue(admin: CurrentAdmin, session: SessionDep, status: str = "new",
                   lang: str | None = None) -> dict:
    rows = learning.queue(session=session, status=status, lang=lang)
    return {"data": [_miss_read(r) for r in rows], "count": len(rows), "counts": learning.counts(session=session)}


@router.post("/learning/{miss_id}/label")
def learning_label(miss_id: RowId, body: LabelBody, admin: CurrentAdmin, session: SessionDep) -> dict:
    try:
        row = service.label_miss(session=session, account=admin, miss_id=miss_id, intent=body.intent,
                                 text=body.text, entities=body.entities)
    except LookupError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    except (learning.LabelError, KeyError, TypeError, ValueError) as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    return _miss_read(row)


@router.post("/learning/{miss_id}/discard")
def learning_discard(miss_id: RowId, admin: CurrentAdmin, session: SessionDep) -> dict:
    try:
        row = service.discard_miss(session=session, account=admin, miss_id=miss_id)
    except LookupError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    return _miss_read(row)


@router.post("/learning/export")
def learning_export(admin: CurrentAdmin, session: SessionDep, services: ServicesDep) -> dict:
    """Write the labelled examples into the NLU training data; `make nlu` then retrains (their hash changed)."""
    written = service.export_learning(session=session, account=admin, data_dir=services.settings.nlu_data_dir)
    return {"languages": {lang: {k: v for k, v in w.items() if k != "path"} for lang, w in written.items()},
            "retrain": any(w["changed"] for w in written.values())}


@router.get("/learning/evaluations")
def learning_evaluations(admin: CurrentAdmin, services: ServicesDep) -> dict:
    """The NLU evaluations on the held-out test set, the newest first: before and after each retrain."""
    rows = learning.evaluations(services.settings.nlu_eval_history)
    return {"data": rows, "count": len(rows)}
