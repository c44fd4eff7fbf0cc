"""Web chat: a JSON endpoint and the small chat page at `/`."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from bot.schemas import Inbound, Kind

router = APIRouter(tags=["web chat"])
PAGE = Path(__file__).resolve().parent.parent / "static" / "chat.html"


class WebMessage(BaseModel):
    user_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    text: str | None = Field(default=None, max_length=20_000)
    lang: str | None = Field(default=None, max_length=16)
    #: Data of a button the user pressed (instead of text).
    payload: str | None = Field(default=None, max_length=64)
    #: A client-side id of this message: a retried POST with the same id is answered once.
    client_message_id: str | None = Field(default=None, max_length=64)


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
    handoff_id: int | None
    duplicate: bool = False


class WebResponse(BaseModel):
    replies: list[WebReply]
    meta: WebMeta


@router.post("/channels/web/messages", response_model=WebResponse)
async def post_message(body: WebMessage, request: Request) -> WebResponse:
    """One message from the web chat page; the replies come back in the response."""
    engine = request.app.state.engine
    # Client ids are only unique per browser: scope them by user for the dedupe key.
    message_id = f"{body.user_id}:{body.client_message_id}" if body.client_message_id else None
    if body.payload:
        inbound = Inbound(channel="web", user_id=body.user_id, kind=Kind.button, payload=body.payload,
                          lang=body.lang, message_id=message_id)
    else:
        inbound = Inbound(channel="web", user_id=body.user_id, kind=Kind.text, text=body.text or "",
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
