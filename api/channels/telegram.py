"""Telegram webhook: `POST /channels/telegram/webhook`, and the PTB application's start and stop.

Mounted by `create_app` only when a bot token is set. Telegram signs nothing; it sends the secret
given to setWebhook in `X-Telegram-Bot-Api-Secret-Token`, and anything without it is refused (403)
before the body is read. A checked update is stored and answered 200 at once; processing and sending
run after the answer, from the stored row (a crash in between is finished by the outbox worker).
A failure to store answers 503, so Telegram delivers the update again.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, BackgroundTasks, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application

from api.deps import Services, ServicesDep
from api.limits import parse_json_object
from bot.channels import telegram as telegram_channel
from bot.config import BotSettings
from knowledge.crypto import pseudonym

logger = logging.getLogger(__name__)

router = APIRouter(tags=["telegram"])
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: What setWebhook accepts as `secret_token`.
SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")


class TelegramConfigError(ValueError):
    """The Telegram settings can't work; the message says what to set."""


def check_settings(settings: BotSettings) -> None:
    """Refuse a token without a usable webhook secret (anyone could post updates otherwise)."""
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    if not token.strip():
        raise TelegramConfigError("TELEGRAM_BOT_TOKEN is empty: set the token from @BotFather, or unset it.")
    secret = settings.telegram_webhook_secret.get_secret_value() if settings.telegram_webhook_secret else ""
    if not secret:
        raise TelegramConfigError(
            "TELEGRAM_BOT_TOKEN is set but TELEGRAM_WEBHOOK_SECRET is not. Set it to a random secret of 1-256 "
            "characters from A-Z a-z 0-9 _ - (e.g. `python -c \"import secrets; print(secrets.token_urlsafe(32))\"`)."
        )
    if not SECRET_PATTERN.fullmatch(secret):
        raise TelegramConfigError("TELEGRAM_WEBHOOK_SECRET may only hold 1-256 characters from A-Z a-z 0-9 _ -.")


def mount(app: FastAPI, services: Services) -> None:
    """Build the bot on the app's engine and add the webhook route."""
    check_settings(services.bot_settings)
    services.telegram = telegram_channel.build_application(services.bot_settings, services.engine)
    app.include_router(router)


@asynccontextmanager
async def running(services: Services) -> AsyncIterator[Application]:
    """Initialise (getMe) and start the bot for the app's lifetime; register the webhook if a URL is set."""
    application: Application = services.telegram
    settings = services.bot_settings
    async with application:  # initialize() … shutdown()
        await application.start()
        try:
            if settings.telegram_webhook_url:
                await _set_webhook(application, settings)
            yield application
        finally:
            await application.stop()


async def _set_webhook(application: Application, settings: BotSettings) -> None:
    try:
        await application.bot.set_webhook(
            settings.telegram_webhook_url,
            secret_token=settings.telegram_webhook_secret.get_secret_value(),
            allowed_updates=telegram_channel.ALLOWED_UPDATES,
        )
        logger.info("Telegram webhook registered")
    except TelegramError as exc:  # keep serving the other channels; the error says what to fix
        logger.error("setWebhook failed (%s: %s); Telegram will not deliver updates", type(exc).__name__, exc)


def _authorised(request: Request, settings: BotSettings) -> bool:
    given = request.headers.get(SECRET_HEADER)
    if given is None or settings.telegram_webhook_secret is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), settings.telegram_webhook_secret.get_secret_value().encode("utf-8"))


@router.post("/channels/telegram/webhook")
async def receive_update(request: Request, services: ServicesDep, background: BackgroundTasks) -> JSONResponse:
    """One update from Telegram: checked, stored, answered 200; processed and replied to after the answer."""
    if not _authorised(request, services.bot_settings):
        raise HTTPException(status_code=403, detail="forbidden")
    application: Application = services.telegram
    data = parse_json_object(await request.body())
    if data is None:
        raise HTTPException(status_code=400, detail="body is not a JSON object")
    try:
        update = Update.de_json(data, application.bot)
    except (TypeError, ValueError, KeyError, AttributeError, RecursionError) as exc:  # a malformed update
        logger.warning("unreadable Telegram update: %s", type(exc).__name__)
        raise HTTPException(status_code=400, detail="not a Telegram update") from None
    adapter = telegram_channel.adapter_of(application)
    try:
        stored = await adapter.store(update)
    except telegram_channel.InboundNotStored:
        logger.exception("Telegram update %s could not be stored; asking for a redelivery", update.update_id)
        return JSONResponse({"ok": False}, status_code=503)  # Telegram retries the delivery
    if stored is not None:
        chat = update.effective_chat
        logger.info("Telegram update %s from %s stored", update.update_id, pseudonym(chat.id if chat else None))
        background.add_task(adapter.answer, application.bot, update, stored)
    return JSONResponse({"ok": True})
