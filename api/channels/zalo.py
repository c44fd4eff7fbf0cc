"""Zalo OA webhook: verify the signature on the raw bytes, then parse, store, answer 200; the processing
and the sends (with their retries and token refresh) run after the answer, from the stored row, because
Zalo wants its 200 within about 2 seconds. A failure to store answers 503, so Zalo delivers it again.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request
from fastapi.responses import JSONResponse

from api.deps import EngineDep, ServicesDep
from api.limits import parse_json_object
from bot.channels import zalo
from knowledge.crypto import pseudonym

logger = logging.getLogger(__name__)

router = APIRouter(tags=["zalo"])


@router.post("/channels/zalo/webhook")
async def webhook(request: Request, services: ServicesDep, engine: EngineDep, background: BackgroundTasks):
    """One event from Zalo: anything not signed by our OA secret key is refused before it is parsed."""
    settings = services.bot_settings
    raw = await request.body()
    signature = request.headers.get("X-ZEvent-Signature")
    if zalo.is_registration_probe(raw, signature):
        return {"ok": True}
    try:
        zalo.verify_raw(raw, signature, app_id=settings.zalo_app_id,
                        oa_secret_key=settings.zalo_oa_secret_key.get_secret_value())
    except zalo.SignatureError as exc:
        logger.warning("Zalo webhook refused: %s", exc)
        raise HTTPException(status_code=401, detail="bad signature") from None
    body = parse_json_object(raw)
    if body is None:
        raise HTTPException(status_code=400, detail="body is not a JSON object")
    try:
        zalo.check_signed_fields(raw, body)
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
    try:
        stored = await engine.receive(inbound)
    except Exception:
        logger.exception("Zalo event could not be stored; asking for a redelivery")
        return JSONResponse({"ok": False}, status_code=503)
    logger.info("Zalo %s from %s stored%s", inbound.kind, pseudonym(inbound.user_id),
                " (a redelivery)" if stored.duplicate else "")
    if not stored.duplicate:
        background.add_task(engine.drain, stored.conversation_id)
    return {"ok": True}
