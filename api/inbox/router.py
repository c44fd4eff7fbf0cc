"""The volunteer inbox pages (`/inbox`): server-rendered, Jinja2 autoescape.

Pages authenticate with the signed `inbox_session` cookie (api.deps.get_account); an anonymous visitor is
sent to the sign-in form. The pages change nothing themselves except signing in and out: their scripts call
the JSON API (`/api/handoffs…`) with the session's CSRF token, and re-fetch HTML fragments
(`/inbox/queue`, `/inbox/h/{id}/messages`) when the live stream (`/api/handoffs/stream`) says something changed.
Volunteers are shown by display name and trainees by pseudonym only: no emails, no channel user ids.
"""

from __future__ import annotations

import datetime as dt
import hmac
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from sqlalchemy import select

from api.accounts import service as accounts
from api.deps import SESSION_COOKIE, ServicesDep, SessionDep, get_account
from api.handoff import service
from bot import conversations
from api.handoff.router import handoff_read
from bot.models import Direction, HandoffOutcome, HandoffStatus, MissedMessage
from knowledge.models import Contact

router = APIRouter(tags=["inbox"], include_in_schema=False)

HERE = Path(__file__).resolve().parent.parent
SCRIPT = HERE / "static" / "inbox.js"
templates = Jinja2Templates(env=Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True))
SESSION_MAX_AGE = 12 * 3600
LOGIN = "/inbox/login"


async def page_account(request: Request, services: ServicesDep, session: SessionDep):
    """The signed-in account, or a 303 to the sign-in form (the API's 401 is for API clients)."""
    try:
        return await get_account(request, services, session)
    except HTTPException as exc:
        if exc.status_code == 401:
            raise HTTPException(status_code=303, detail="sign in first", headers={"Location": LOGIN}) from None
        raise


PageAccount = Annotated[Any, Depends(page_account)]


def _render(request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
    context.setdefault("csrf", getattr(request.state, "csrf", None))
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


def _waited(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _time(at: dt.datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else ""


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form body (read here: no multipart parser needed)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {key: values[0] for key, values in parse_qs(body, keep_blank_values=True).items()}


# ---------------------------------------------------------------------------------------------- sign-in
@router.get("/inbox/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return _render(request, "inbox/login.html", email="", error=None, next=_next(request.query_params.get("next")))


def _next(target: str | None) -> str | None:
    """Where to go after signing in: a path of this app only (never another site)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


@router.post("/inbox/login", response_class=HTMLResponse)
async def login(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    form = await _form(request)
    email, password = form.get("email", ""), form.get("password", "")
    target = _next(form.get("next"))
    client = request.client.host if request.client else "?"
    try:
        account = accounts.authenticate(session=session, email=email, password=password, client=client)
    except accounts.TooManyAttempts:
        return _render(request, "inbox/login.html", status_code=429, email=email, next=target,
                       error="Too many failed sign-ins. Wait 15 minutes and try again.")
    if account is None:
        return _render(request, "inbox/login.html", status_code=401, email=email, next=target,
                       error="Wrong email or password.")
    cookie, _csrf = services.signers.session_cookie(account)
    accounts.audit(session=session, account=account, action="auth.session")
    response = RedirectResponse(target or "/inbox", status_code=303)
    response.set_cookie(SESSION_COOKIE, cookie, max_age=SESSION_MAX_AGE, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")
    return response


@router.post("/inbox/logout")
async def logout(request: Request, services: ServicesDep) -> Response:
    """Sign out (a form with the session's CSRF token); the cookie is cleared."""
    read = services.signers.read_session(request.cookies.get(SESSION_COOKIE, ""))
    if read is not None:
        given = request.headers.get("X-CSRF-Token") or (await _form(request)).get("csrf_token") or ""
        if not hmac.compare_digest(given, read[1]):
            raise HTTPException(status_code=403, detail="missing or wrong CSRF token")
    response = RedirectResponse(LOGIN, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
    return response


@router.get("/inbox/inbox.js")
def script() -> FileResponse:
    return FileResponse(SCRIPT, media_type="text/javascript", headers={"Cache-Control": "no-cache"})


# ---------------------------------------------------------------------------------------------- the queue
def _queue_rows(session, account) -> list[dict]:
    rows = service.list_for(session=session, account=account, status=None)
    names = service.volunteer_names(session=session, ids={h.volunteer_id for h in rows if h.volunteer_id})
    out = []
    for handoff in rows:
        read = handoff_read(handoff, names)
        out.append({"h": read, "waited": _waited(read.waiting_seconds),
                    "may_claim": handoff.status == HandoffStatus.waiting,
                    "may_open": service.may_read(handoff, account)})
    return out


@router.get("/inbox", response_class=HTMLResponse)
def queue_page(request: Request, account: PageAccount, session: SessionDep) -> HTMLResponse:
    return _render(request, "inbox/queue.html", account=account, rows=_queue_rows(session, account))


@router.get("/inbox/queue", response_class=HTMLResponse)
def queue_fragment(request: Request, account: PageAccount, session: SessionDep) -> HTMLResponse:
    return _render(request, "inbox/_queue.html", account=account, rows=_queue_rows(session, account))


# ---------------------------------------------------------------------------------------------- one chat
def _readable(session, public_id: str, account):
    try:
        handoff = service.get(session=session, public_id=public_id)
    except service.HandoffNotFound:
        raise HTTPException(status_code=404, detail="no such handoff") from None
    return handoff, service.may_read(handoff, account)


def _chat(session, handoff) -> dict:
    rows = service.transcript(session=session, handoff=handoff)
    names = service.names_in(session=session, handoff=handoff, rows=rows)
    queued = set(session.scalars(select(MissedMessage.message_id).where(
        MissedMessage.message_id.in_([m.id for m in rows if m.direction == Direction.inbound]))))
    messages = [{
        "id": m.id, "who": conversations.author(m), "queued": m.id in queued,
        "title": m.title, "text": m.text or "", "at": _time(m.created_at),
        "intent": m.intent if m.direction == Direction.inbound else None,
        "delivery": service.delivery(m), "volunteer": names.get(m.volunteer_id) if m.volunteer_id else None,
        "buttons": [b.get("label", "") for b in (m.buttons or [])],
    } for m in rows]
    notes = [{"text": n.text, "at": _time(n.created_at), "author": names.get(n.author_id) or "—"}
             for n in handoff.notes]
    return {"h": handoff_read(handoff, names), "messages": messages, "notes": notes}


def _forbidden(request: Request) -> HTMLResponse:
    return _render(request, "inbox/error.html", status_code=403, title="Not yours",
                   message="Only the volunteer holding this chat, or an admin, may read it.")


@router.get("/inbox/h/{public_id}", response_class=HTMLResponse)
def chat_page(public_id: str, request: Request, account: PageAccount, session: SessionDep) -> HTMLResponse:
    handoff, allowed = _readable(session, public_id, account)
    if not allowed:
        return _forbidden(request)
    accounts.audit(session=session, account=account, action="handoff.transcript_read", target=handoff.public_id)
    contacts = [{"key": c.key, "name": (c.name or {}).get("en") or next(iter((c.name or {}).values()), c.key)}
                for c in session.scalars(select(Contact).order_by(Contact.key))]
    return _render(request, "inbox/handoff.html", account=account, **_chat(session, handoff),
                   canned=service.canned_replies(session=session, handoff=handoff, account=account),
                   outcomes=list(HandoffOutcome), contacts=contacts,
                   holder=handoff.volunteer_id == account.id)


@router.get("/inbox/h/{public_id}/messages", response_class=HTMLResponse)
def chat_fragment(public_id: str, request: Request, account: PageAccount, session: SessionDep) -> HTMLResponse:
    handoff, allowed = _readable(session, public_id, account)
    if not allowed:
        return _forbidden(request)
    accounts.audit_read(session=session, account=account, target=handoff.public_id)
    return _render(request, "inbox/_messages.html", account=account, **_chat(session, handoff))
