"""Web chat: a JSON endpoint and the small chat page at `/`.

The trainee is who their browser says: the server issues a random id in a signed, HttpOnly,
SameSite=Strict cookie when the page opens (its history request) or on the first message, and a `user_id` in the
body is ignored. A client that keeps cookies keeps its conversation; one that doesn't starts a new one each time.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import asyncio
import json
import logging

from fastapi import APIRouter, File, HTTPException, Request, Response, UploadFile
from fastapi.responses import HTMLResponse
from itsdangerous import BadSignature
from pydantic import BaseModel, ConfigDict, Field

from sqlalchemy.exc import DBAPIError
from sse_starlette.sse import EventSourceResponse

from api.deps import EngineDep, ServicesDep
from bot import conversations, ratelimit
from bot.schemas import Inbound, Kind

logger = logging.getLogger(__name__)
router = APIRouter(tags=["web chat"])
PAGE = Path(__file__).resolve().parent.parent / "static" / "chat.html"
COOKIE = "trainee_chat"
COOKIE_MAX_AGE = 180 * 24 * 3600
#: How often an open page's stream looks for replies to push.
PUSH_POLL_SECONDS = 0.5
#: After a database error, the event stream waits this long before it looks again (it stays open).
PUSH_RETRY_SECONDS = 1.0


class WebMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")  # an old page's `user_id` is ignored, not trusted

    text: str | None = Field(default=None, max_length=20_000)
    lang: str | None = Field(default=None, max_length=16)
    #: Data of a button the user pressed (instead of text).
    payload: str | None = Field(default=None, max_length=64)
    #: A client-side id of this message: a retried POST with the same id gets the same replies.
    client_message_id: str | None = Field(default=None, max_length=200)


class WebButton(BaseModel):
    label: str
    payload: str


class WebReply(BaseModel):
    text: str
    title: str | None = None
    buttons: list[WebButton] = []


class WebMeta(BaseModel):
    lang: str
    intent: str | None
    confidence: float | None
    #: The open handoff's public id (random, opaque), or null.
    handoff_id: str | None
    duplicate: bool = False


class WebResponse(BaseModel):
    replies: list[WebReply]
    meta: WebMeta


def web_user(request: Request, response: Response, services) -> str:
    """The id in the signed cookie, or a new one (set on this response)."""
    signed = request.cookies.get(COOKIE)
    if signed:
        try:
            return services.signer.unsign(signed).decode("ascii")
        except (BadSignature, UnicodeDecodeError):
            pass  # forged or from another key: a new trainee
    user_id = "w" + secrets.token_urlsafe(18)
    response.set_cookie(COOKIE, services.signer.sign(user_id).decode("ascii"), max_age=COOKIE_MAX_AGE,
                        httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/")
    request.state.web_cookie = response.headers["set-cookie"]  # an error response keeps it too (api/main.py)
    return user_id


@router.post("/channels/web/messages", response_model=WebResponse)
async def post_message(body: WebMessage, request: Request, response: Response, engine: EngineDep,
                       services: ServicesDep) -> WebResponse:
    """One message from the web chat page; the replies come back in the response."""
    user_id = web_user(request, response, services)
    # Client ids are only unique per browser: scope them by user for the dedupe key.
    message_id = f"{user_id}:{body.client_message_id}" if body.client_message_id else None
    if body.payload:
        inbound = Inbound(channel="web", user_id=user_id, kind=Kind.button, payload=body.payload,
                          lang=body.lang, message_id=message_id)
    else:
        inbound = Inbound(channel="web", user_id=user_id, kind=Kind.text, text=body.text or "",
                          lang=body.lang, message_id=message_id)
    return _response(await _handle(engine, request, inbound))


#: The largest upload read (a phone photo of a payslip is 1–5 MB; a PDF less).
MAX_UPLOAD_BYTES = 10 * 1024 * 1024


@router.post("/channels/web/uploads", response_model=WebResponse)
async def post_upload(request: Request, response: Response, engine: EngineDep, services: ServicesDep,
                      file: UploadFile = File(...)) -> WebResponse:
    """A photo or PDF of a payslip from the web chat page (multipart field `file`), read in memory and never
    stored; the replies come back as for a message (what was read, to confirm)."""
    user_id = web_user(request, response, services)
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(status_code=413, detail="the file is larger than 10 MB")
    key = secrets.token_urlsafe(12)
    kind = Kind.file if (file.content_type or "").endswith("pdf") else Kind.photo
    inbound = Inbound(channel="web", user_id=user_id, kind=kind, attachment=key, message_id=f"{user_id}:upload:{key}",
                      lang=request.query_params.get("lang"))
    engine.uploads[key] = (data, file.content_type)
    try:
        outcome = await _handle(engine, request, inbound)
    finally:
        engine.uploads.pop(key, None)  # read or not, the bytes go now
    return _response(outcome)


async def _handle(engine, request: Request, inbound: Inbound):
    """The engine's turn for a web chat request, answered inline. Rate limits count per client address too (a
    browser mints identities by dropping its cookie): bot/ratelimit.py."""
    address = ratelimit.client_address.set(request.client.host if request.client else None)
    try:
        return await engine.handle(inbound, replied_inline=True)
    finally:
        ratelimit.client_address.reset(address)


def _response(outcome) -> WebResponse:
    return WebResponse(
        replies=[
            WebReply(text=r.text, title=r.title, buttons=[WebButton(label=b.label, payload=b.payload) for b in r.buttons])
            for r in outcome.replies
        ],
        meta=WebMeta(lang=outcome.lang, intent=outcome.intent, confidence=outcome.confidence,
                     handoff_id=outcome.handoff_id, duplicate=outcome.duplicate),
    )


def _web_user_of(request: Request, services) -> str | None:
    signed = request.cookies.get(COOKIE)
    if not signed:
        return None
    try:
        return services.signer.unsign(signed).decode("ascii")
    except (BadSignature, UnicodeDecodeError):
        return None


def _replies_json(rows) -> list[dict]:
    return [WebReply(text=m.text or "", title=m.title,
                     buttons=[WebButton(**b) for b in (m.buttons or [])]).model_dump() for m in rows]


@router.get("/channels/web/events")
async def events(request: Request, services: ServicesDep):
    """Server-sent events for this browser's conversation: replies that arrive without a message of the
    trainee's (a volunteer writing, a volunteer joining or leaving). Each is pushed to one open page only."""
    user_id = _web_user_of(request, services)
    if user_id is None:
        raise HTTPException(status_code=401, detail="no web chat identity yet: send a message first")

    def take() -> list[dict]:
        with services.session_factory() as session:
            conversation = conversations.conversation_of(session=session, channel="web", user_id=user_id)
            if conversation is None:
                return []
            rows = conversations.take_unsent(session=session, conversation_id=conversation.id)
            session.commit()
            return _replies_json(rows)

    async def stream():
        while True:
            try:
                replies = await asyncio.to_thread(take)
            except DBAPIError as exc:  # the database restarting: the page stays open, what waits is taken later
                logger.warning("web chat events: the database is unavailable (%s); retrying", type(exc).__name__)
                await asyncio.sleep(PUSH_RETRY_SECONDS)
                continue
            if replies:
                yield {"event": "replies", "data": json.dumps({"replies": replies})}
            await asyncio.sleep(PUSH_POLL_SECONDS)

    return EventSourceResponse(stream(), ping=15)


@router.get("/channels/web/history")
def history(request: Request, response: Response, services: ServicesDep) -> dict:
    """The conversation so far (the last 100 messages), which the page asks for when it opens. A page without an
    identity gets one here (an empty history), before its first message: a reply written after that message's
    response was lost (a process killed, a database restart) still reaches the page."""
    user_id = _web_user_of(request, services)
    if user_id is None:
        web_user(request, response, services)
        return {"messages": []}
    from sqlalchemy import select

    from bot.models import Direction, Message

    with services.session_factory() as session:
        conversation = conversations.conversation_of(session=session, channel="web", user_id=user_id)
        if conversation is None:
            return {"messages": []}
        # What waited for the page (a volunteer's message, a wage-revision reminder) is shown now: it counts as
        # sent, so the event stream does not push it again.
        conversations.take_unsent(session=session, conversation_id=conversation.id)
        session.commit()
        rows = list(session.scalars(select(Message).where(Message.conversation_id == conversation.id)
                                    .order_by(Message.id.desc()).limit(100)))[::-1]
        return {"messages": [
            {"from": conversations.author(m),
             "text": m.text or "", "title": m.title, "buttons": m.buttons or []}
            for m in rows if m.kind == "text" or m.direction == Direction.outbound
        ]}


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def chat_page() -> HTMLResponse:
    return HTMLResponse(PAGE.read_text(encoding="utf-8"))
