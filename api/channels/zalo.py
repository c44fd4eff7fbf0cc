"""Zalo OA webhook: verify, store and process the event, answer 200, send the replies in the background.

The event is stored and processed before the answer (so a 200 means it is in the database); the sends,
with their retries and token refresh, run after it, because Zalo wants its 200 within 2 seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request

from bot.channels import zalo
from bot.schemas import Inbound, Kind

logger = logging.getLogger(__name__)

router = APIRouter(tags=["zalo"])


@router.post("/channels/zalo/webhook")
async def webhook(request: Request, background: BackgroundTasks) -> dict:
    """One event from Zalo: anything not signed by our OA secret key is refused before it is read."""
    client: zalo.ZaloClient = request.app.state.zalo
    settings = client.settings
    raw = await request.body()
    signature = request.headers.get("X-ZEvent-Signature")
    if zalo.is_registration_probe(raw, signature):
        return {"ok": True}
    if not signature:
        raise HTTPException(status_code=401, detail="missing signature")
    try:
        body = json.loads(raw)
    except ValueError:
        raise HTTPException(status_code=400, detail="body is not JSON") from None
    if not isinstance(body, dict):
        raise HTTPException(status_code=400, detail="body is not a JSON object")
    try:
        zalo.verify_signature(raw, body, signature, app_id=settings.zalo_app_id,
                              oa_secret_key=settings.zalo_oa_secret_key.get_secret_value())
        zalo.check_timestamp(body)
    except zalo.SignatureError as exc:
        logger.warning("Zalo webhook refused: %s", exc)
        raise HTTPException(status_code=401, detail="bad signature") from None
    except zalo.StaleEvent as exc:
        logger.warning("Zalo webhook refused: %s", exc)
        raise HTTPException(status_code=403, detail="event outside the replay window") from None

    inbound = zalo.parse_event(body)
    if inbound is None:
        return {"ok": True}
    engine = request.app.state.engine
    if inbound.kind == Kind.text:
        payload = await asyncio.to_thread(_choice, engine, inbound)
        if payload:
            inbound = Inbound(channel=inbound.channel, user_id=inbound.user_id, kind=Kind.button, payload=payload,
                              message_id=inbound.message_id, sent_at=inbound.sent_at)
    outcome = await engine.handle(inbound)
    if not outcome.duplicate and outcome.replies:
        background.add_task(client.deliver, engine, inbound.user_id, outcome)
    return {"ok": True}


def _choice(engine, inbound: Inbound) -> str | None:
    with engine.session_factory() as session:
        return zalo.choice_payload(session, inbound.user_id, inbound.text)
