"""Web chat: a JSON endpoint and the small chat page at `/`.

The trainee is who their browser says: the server issues a random id in a signed, HttpOnly,
SameSite=Strict cookie on the first message, and a `user_id` in the body is ignored. A client that
keeps cookies keeps its conversation; one that doesn't starts a new one each time.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from itsdangerous import BadSignature
from pydantic import BaseModel, ConfigDict, Field

from api.deps import EngineDep, ServicesDep
from bot.schemas import Inbound, Kind

router = APIRouter(tags=["web chat"])
PAGE = Path(__file__).resolve().parent.parent / "static" / "chat.html"
COOKIE = "trainee_chat"
COOKIE_MAX_AGE = 180 * 24 * 3600


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
    outcome = await engine.handle(inbound, replied_inline=True)
    return WebResponse(
        replies=[
            WebReply(text=r.text, title=r.title, buttons=[WebButton(label=b.label, payload=b.payload) for b in r.buttons])
            for r in outcome.replies
        ],
        meta=WebMeta(lang=outcome.lang, intent=outcome.intent, confidence=outcome.confidence,
                     handoff_id=outcome.handoff_id, duplicate=outcome.duplicate),
    )


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def chat_page() -> HTMLResponse:
    return HTMLResponse(PAGE.read_text(encoding="utf-8"))
