"""The admin pages (`/admin`): server-rendered forms (Jinja2, autoescape), no script needed.

Every form posts the session's CSRF token (checked by api.deps.get_account). The pages call the same services
as the admin JSON API (api/admin/service.py), so both write the same versions and the same audit log.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.admin import learning, service
from api.admin.common import AdminPage, render
from api.admin.router import MAX_IMPORT_BYTES
from api.admin.schemas import EntryWrite, Source, lang_or_404
from api.deps import ServicesDep, SessionDep
from knowledge import contacts as contact_choice
from knowledge import editing, prefectures, wage_import
from knowledge.wages import revision_cycle
from knowledge import service as knowledge_service
from knowledge.intents import INTENTS, LANGUAGES
from knowledge.limits import ANSWER_LIMITS

router = APIRouter(tags=["admin"], include_in_schema=False)

LANGUAGE_NAMES = {"vi": "Tiếng Việt", "id": "Bahasa Indonesia", "tl": "Tagalog", "ja": "日本語", "en": "English"}


async def _form(request: Request) -> dict[str, list[str]]:
    """The posted form, every value of every field (Starlette parses it once: the CSRF check read it first)."""
    form = await request.form()
    out: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        out.setdefault(key, []).append(value if isinstance(value, str) else "")
    return out


def _one(form: dict[str, list[str]], key: str, default: str = "") -> str:
    return (form.get(key) or [default])[0]


def _today(services) -> dt.date:
    return services.engine.today()


def _back(url: str, message: str | None = None) -> RedirectResponse:
    joiner = "&" if "?" in url else "?"
    return RedirectResponse(url + (f"{joiner}done={quote(message)}" if message else ""), status_code=303)


# ---------------------------------------------------------------------------------------------- home
@router.get("/admin", response_class=HTMLResponse)
def home(request: Request, admin: AdminPage, session: SessionDep, services: ServicesDep) -> HTMLResponse:
    today = _today(services)
    topics = []
    for topic in knowledge_service.list_topics(session=session):
        rows = {e.lang: e for e in topic.entries}
        topics.append({"key": topic.key,
                       "title": (rows.get("en") or next(iter(rows.values()))).title if rows else topic.key,
                       "states": {lang: editing.state(rows[lang], today) if lang in rows else "missing"
                                  for lang in LANGUAGES},
                       "review_by": min((e.review_by for e in rows.values()), default=None)})
    years = sorted({w.fiscal_year for w in knowledge_service.list_wages(session=session)})
    to_check = contact_choice.unverified(knowledge_service.list_contacts(session=session))
    return render(request, "admin/home.html", account=admin, topics=topics, languages=LANGUAGES, to_check=to_check,
                  misses=learning.counts(session=session).get("new", 0), newest_year=years[-1] if years else None,
                  due_year=revision_cycle(today), today=today)


# ---------------------------------------------------------------------------------------------- the editor
def _parse_sources(text: str) -> list[Source]:
    """One source per line: publisher | title | URL | date (title, URL and date may be left empty)."""
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")] + ["", "", ""]
        try:
            out.append(Source(publisher=parts[0], title=parts[1], url=parts[2] or None, date=parts[3] or None))
        except ValueError as exc:
            message = exc.errors()[0]["msg"] if hasattr(exc, "errors") else str(exc)
            raise ValueError(f"source line {number}: {message}") from None
    return out


def _columns(session, topic: str, today: dt.date, posted: dict | None = None) -> list[dict]:
    rows = editing.topic_entries(session=session, topic=topic)
    columns = []
    for lang in LANGUAGES:
        row = rows.get(lang)
        if row is None:
            continue
        newest = editing.latest(row)
        values = {"title": newest.title, "answer": newest.answer, "more": newest.more or "",
                  "sources": editing.sources_text(newest.sources), "review_by": newest.review_by.isoformat()}
        if posted and lang in posted:
            values.update(posted[lang])
        columns.append({"lang": lang, "name": LANGUAGE_NAMES[lang], "state": editing.state(row, today),
                        "version": newest.version, "status": newest.status,
                        "published_version": row.version if row.status == "published" else None,
                        "last_reviewed": newest.last_reviewed, "author": newest.edited_by,
                        "answer_limit": ANSWER_LIMITS[lang], **values})
    return columns


def _editor(request: Request, admin, session, services, topic: str, *, status_code: int = 200,
            posted: dict | None = None, errors: list[str] = (), differences: list = (), publish_langs=(),
            done: str | None = None) -> HTMLResponse:
    return render(request, "admin/editor.html", status_code=status_code, account=admin, topic=topic,
                  columns=_columns(session, topic, _today(services), posted), errors=list(errors),
                  differences=list(differences), publish_langs=list(publish_langs), done=done)


@router.get("/admin/entries/{topic}", response_class=HTMLResponse)
def editor(topic: str, request: Request, admin: AdminPage, session: SessionDep,
           services: ServicesDep) -> HTMLResponse:
    """One topic's five languages side by side."""
    try:
        return _editor(request, admin, session, services, topic, done=request.query_params.get("done"))
    except editing.NotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None


@router.post("/admin/entries/{topic}", response_class=HTMLResponse)
async def save_or_publish(topic: str, request: Request, admin: AdminPage, session: SessionDep,
                          services: ServicesDep) -> Response:
    """Save the languages that changed as drafts; then, for "publish", publish the chosen languages' drafts
    (all of them, or one), checked together. A difference between the languages is shown, with a reason field
    to publish anyway."""
    form = await _form(request)
    try:
        rows = editing.topic_entries(session=session, topic=topic)
    except editing.NotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    action = _one(form, "action", "save")  # "save", "publish", "publish:vi"…
    posted, errors, changed = {}, [], []
    for lang, row in rows.items():
        if f"{lang}.answer" not in form:
            continue
        values = {name: _one(form, f"{lang}.{name}") for name in ("title", "answer", "more", "sources", "review_by")}
        posted[lang] = values
        newest = editing.latest(row)
        try:
            body = EntryWrite(title=values["title"], answer=values["answer"], more=values["more"] or None,
                              sources=_parse_sources(values["sources"]),
                              review_by=dt.date.fromisoformat(values["review_by"]) if values["review_by"] else None)
        except ValueError as exc:
            detail = exc.errors()[0] if hasattr(exc, "errors") else None
            where = ".".join(str(p) for p in detail["loc"]) if detail else ""
            errors.append(f"{LANGUAGE_NAMES[lang]}: {where + ': ' if where else ''}"
                          f"{detail['msg'] if detail else exc}")
            continue
        same = (body.title.strip() == newest.title and body.answer.strip() == newest.answer
                and ((body.more or "").strip() or None) == newest.more
                and editing.sources_text([s.model_dump() for s in body.sources])
                == editing.sources_text(newest.sources)
                and (body.review_by or newest.review_by) == newest.review_by)
        if not same:
            service.save(session=session, account=admin, topic=topic, lang=lang, body=body)
            changed.append(lang)
    if errors:
        session.rollback()
        return _editor(request, admin, session, services, topic, status_code=422, posted=posted, errors=errors)
    if not action.startswith("publish"):
        session.commit()
        return _back(f"/admin/entries/{topic}", f"Saved as draft: {', '.join(sorted(changed, key=LANGUAGES.index)) or 'nothing changed'}")
    langs = [action.partition(":")[2]] if ":" in action else list(rows)
    langs = [lang_or_404(lang) for lang in langs]
    reason = _one(form, "reason").strip() or None
    try:
        published = service.publish_many(session=session, account=admin, topic=topic, langs=langs,
                                          today=_today(services), reason=reason)
    except editing.Inconsistent as exc:
        session.commit()  # the drafts are kept; nothing is published
        return _editor(request, admin, session, services, topic, status_code=409, differences=exc.differences,
                       publish_langs=langs)
    session.commit()
    return _back(f"/admin/entries/{topic}",
                 f"Published: {', '.join(sorted(published, key=LANGUAGES.index)) or 'nothing (no draft)'}"
                 + (" — despite differences, reason logged" if reason and published else ""))


# ---------------------------------------------------------------------------------------------- history
@router.get("/admin/entries/{topic}/{lang}/history", response_class=HTMLResponse)
def history(topic: str, lang: str, request: Request, admin: AdminPage, session: SessionDep) -> HTMLResponse:
    """Every version; a readable diff between any two; revert to one."""
    try:
        row = editing.entry(session=session, topic=topic, lang=lang_or_404(lang))
    except editing.NotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    numbers = sorted((v.version for v in row.versions), reverse=True)
    try:
        b = int(request.query_params.get("b") or numbers[0])
        a = int(request.query_params.get("a") or (numbers[1] if len(numbers) > 1 else numbers[0]))
        diff = editing.diff(editing.version(row, a), editing.version(row, b))
    except (ValueError, editing.NotFound):
        raise HTTPException(status_code=404, detail="no such version") from None
    return render(request, "admin/history.html", account=admin, topic=topic, lang=lang, lang_name=LANGUAGE_NAMES[lang],
                  versions=sorted(row.versions, key=lambda v: v.version, reverse=True), a=a, b=b, diff=diff,
                  published_version=row.version if row.status == "published" else None,
                  done=request.query_params.get("done"))


@router.post("/admin/entries/{topic}/{lang}/revert")
async def revert(topic: str, lang: str, request: Request, admin: AdminPage, session: SessionDep,
                 services: ServicesDep) -> Response:
    form = await _form(request)
    try:
        row = service.revert(session=session, account=admin, topic=topic, lang=lang_or_404(lang),
                             version=int(_one(form, "version", "0")), today=_today(services))
    except (ValueError, editing.NotFound) as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    session.commit()
    return _back(f"/admin/entries/{topic}/{lang}/history", f"Published version {row.version} "
                 f"(the text of version {_one(form, 'version')})")


# ---------------------------------------------------------------------------------------------- review
@router.get("/admin/review", response_class=HTMLResponse)
def review(request: Request, admin: AdminPage, session: SessionDep, services: ServicesDep) -> HTMLResponse:
    today = _today(services)
    rows = editing.review_due(session=session, today=today)
    return render(request, "admin/review.html", account=admin, rows=rows, today=today, names=LANGUAGE_NAMES,
                  done=request.query_params.get("done"), review_due=len(rows))


@router.post("/admin/entries/{topic}/{lang}/reviewed")
async def reviewed(topic: str, lang: str, request: Request, admin: AdminPage, session: SessionDep,
                   services: ServicesDep) -> Response:
    form = await _form(request)
    until = _one(form, "review_by")
    try:
        service.mark_reviewed(session=session, account=admin, topic=topic, lang=lang_or_404(lang),
                              today=_today(services), review_by=dt.date.fromisoformat(until) if until else None)
    except editing.NotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    except (editing.EditError, ValueError) as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    session.commit()
    return _back("/admin/review", f"{topic} ({lang}) marked reviewed")


# ---------------------------------------------------------------------------------------------- wages
def _wage_table(session, year: int) -> list[dict]:
    rows = knowledge_service.list_wages(session=session)
    this = {w.prefecture: w for w in rows if w.fiscal_year == year}
    before = {w.prefecture: w for w in rows if w.fiscal_year == year - 1}
    out = []
    for prefecture in prefectures.all_prefectures():
        name = prefecture.name
        row, old = this.get(name), before.get(name)
        out.append({"prefecture": name, "kanji": prefecture.kanji, "row": row,
                    "before": old.yen_per_hour if old else None,
                    "change": (row.yen_per_hour - old.yen_per_hour) if row and old else None})
    return out


@router.get("/admin/wages", response_class=HTMLResponse)
def wages(request: Request, admin: AdminPage, session: SessionDep, services: ServicesDep) -> HTMLResponse:
    """The table per fiscal year and prefecture, and the form to import a revision."""
    years = sorted({w.fiscal_year for w in knowledge_service.list_wages(session=session)})
    today = _today(services)
    due = revision_cycle(today)
    try:
        year = int(request.query_params.get("year") or (years[-1] if years else due))
    except ValueError:
        raise HTTPException(status_code=404, detail="no such fiscal year") from None
    return render(request, "admin/wages.html", account=admin, years=years, year=year, due=due,
                  rows=_wage_table(session, year), done=request.query_params.get("done"), result=None)


@router.post("/admin/wages/import", response_class=HTMLResponse)
async def wages_import(request: Request, admin: AdminPage, session: SessionDep, services: ServicesDep) -> Response:
    """Preview a revision file (old → new per prefecture, errors by line); "apply" writes it in one transaction."""
    form = await request.form()
    upload, carried = form.get("file"), form.get("data") or ""
    confirm = form.get("confirm_decrease") == "on"
    apply = form.get("action") == "apply"
    if upload is not None and not isinstance(upload, str) and upload.filename:
        data = await upload.read(MAX_IMPORT_BYTES + 1)
    else:
        try:
            data = base64.b64decode(str(carried), validate=True)
        except (binascii.Error, ValueError):
            data = b""
    today = _today(services)
    due = revision_cycle(today)
    years = sorted({w.fiscal_year for w in knowledge_service.list_wages(session=session)})
    if not data or len(data) > MAX_IMPORT_BYTES:
        result = wage_import.ImportResult(fiscal_year=None, rows=0, changes=[], errors=[
            wage_import.LineError(line=0, message="choose a CSV file (at most 256 KB)")])
    else:
        result = service.import_wages(session=session, account=admin, data=data, dry_run=not apply,
                                      confirm_decrease=confirm, now=services.engine.now())
    if result.errors:
        session.rollback()
    elif apply:
        session.commit()
        return _back(f"/admin/wages?year={result.fiscal_year}",
                     f"FY{result.fiscal_year} imported: {result.rows} prefectures")
    return render(request, "admin/wages.html", status_code=422 if result.errors else 200, account=admin,
                  years=years, year=result.fiscal_year or (years[-1] if years else due), due=due,
                  rows=[], done=None, result=result, data=base64.b64encode(data).decode() if data else "",
                  confirm_decrease=confirm)


# ---------------------------------------------------------------------------------------------- reminders
@router.get("/admin/reminders", response_class=HTMLResponse)
def reminders_page(request: Request, admin: AdminPage, session: SessionDep) -> HTMLResponse:
    """How many trainees subscribed per prefecture, and what became of each send run."""
    from bot import reminders

    subscribers = reminders.subscribers_by_prefecture(session=session)
    return render(request, "admin/reminders.html", account=admin, subscribers=subscribers,
                  total=sum(s["subscribers"] for s in subscribers), runs=reminders.run_states(session=session))


# ---------------------------------------------------------------------------------------------- learning
@router.get("/admin/learning", response_class=HTMLResponse)
def learning_page(request: Request, admin: AdminPage, session: SessionDep, services: ServicesDep) -> HTMLResponse:
    status = request.query_params.get("status") or "new"
    lang = request.query_params.get("lang") or None
    rows = learning.queue(session=session, status=status, lang=lang if lang in LANGUAGES else None)
    return render(request, "admin/learning.html", account=admin, rows=rows, status=status, lang=lang,
                  counts=learning.counts(session=session), intents=INTENTS, languages=LANGUAGES,
                  evaluations=learning.evaluations(services.settings.nlu_eval_history),
                  done=request.query_params.get("done"), suggest=learning.suggested_redaction)


def _entities(text: str, spec: str) -> list[dict]:
    """Entity lines "prefecture: 愛知" → spans of `text` (the first occurrence of each value)."""
    out = []
    for line in spec.splitlines():
        name, _, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not name or not value:
            continue
        start = text.find(value)
        if start < 0:
            raise learning.LabelError(f"{value!r} is not in the text")
        out.append({"start": start, "end": start + len(value), "entity": name})
    return out


@router.post("/admin/learning/{miss_id}")
async def learning_decide(miss_id: int, request: Request, admin: AdminPage, session: SessionDep) -> Response:
    form = await _form(request)
    action = _one(form, "action")
    try:
        if action == "discard":
            service.discard_miss(session=session, account=admin, miss_id=miss_id)
            message = "Discarded"
        else:
            text = _one(form, "text").strip()
            intent = _one(form, "intent")
            service.label_miss(session=session, account=admin, miss_id=miss_id, intent=intent, text=text,
                               entities=_entities(text, _one(form, "entities")))
            message = f"Labelled {intent}"
    except LookupError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    except learning.LabelError as exc:
        session.rollback()
        return _back("/admin/learning", f"Not labelled: {exc}")
    session.commit()
    return _back("/admin/learning", message)


@router.post("/admin/learning-export")
async def learning_export(request: Request, admin: AdminPage, session: SessionDep, services: ServicesDep) -> Response:
    written = service.export_learning(session=session, account=admin, data_dir=services.settings.nlu_data_dir)
    session.commit()
    changed = [lang for lang, w in written.items() if w["changed"]]
    return _back("/admin/learning", "Training data written: "
                 + ", ".join(f"{lang} {w['examples']}" for lang, w in written.items())
                 + (f". Changed: {', '.join(changed)} — run `make nlu` (then `make nlu-eval`) to retrain and "
                    "compare." if changed else ". Nothing changed."))
