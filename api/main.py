"""The FastAPI application factory."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from api.catalog.router import router as catalog_router
from api.channels.web import router as web_router
from bot.config import BotSettings
from bot.engine import Engine
from bot.nlu_client import NluClient
from api.config import ApiSettings
from knowledge.schema import ensure_current
from knowledge.config import KnowledgeSettings
from knowledge.db import make_engine, make_session_factory

logger = logging.getLogger(__name__)


class _SessionFactoryProxy:
    """Calls whatever session factory the app holds now (tests swap in a transactional one)."""

    def __init__(self, app: FastAPI):
        self._app = app

    def __call__(self):
        return self._app.state.session_factory()


PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "s3cret", "test", "password", "xxx"}


def enforce_production_secrets(settings: ApiSettings, bot_settings: BotSettings) -> None:
    """In production, refuse placeholder or short channel secrets (development and tests may use any)."""
    if settings.env != "production":
        return
    secrets = {
        "TELEGRAM_WEBHOOK_SECRET": bot_settings.telegram_webhook_secret if bot_settings.telegram_enabled else None,
        "ZALO_OA_SECRET_KEY": bot_settings.zalo_oa_secret_key if bot_settings.zalo_enabled else None,
        "ZALO_APP_SECRET": bot_settings.zalo_app_secret if bot_settings.zalo_enabled else None,
    }
    for name, secret in secrets.items():
        value = secret.get_secret_value() if secret is not None else None
        if value is not None and (value.lower() in PLACEHOLDER_SECRETS or len(value) < 16):
            raise ValueError(f"{name} looks like a placeholder: in production use a random secret of 16+ characters")


def create_app(
    settings: ApiSettings | None = None,
    knowledge_settings: KnowledgeSettings | None = None,
    bot_settings: BotSettings | None = None,
    *,
    engine=None,
) -> FastAPI:
    """Build the app; refuses to start on a database whose schema is behind the code."""
    settings = settings or ApiSettings()
    knowledge_settings = knowledge_settings or KnowledgeSettings()
    bot_settings = bot_settings or BotSettings()
    enforce_production_secrets(settings, bot_settings)
    engine = engine or make_engine(knowledge_settings.database_url)
    ensure_current(engine)
    nlu = NluClient(bot_settings.nlu_url, timeout=bot_settings.nlu_timeout)
    telegram = None
    if bot_settings.telegram_enabled:  # Telegram webhook channel (api/channels/telegram.py)
        from api.channels import telegram

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        import asyncio

        from bot import langdetect

        await asyncio.to_thread(langdetect.warm_up)
        async with AsyncExitStack() as channels:
            if telegram is not None:
                await channels.enter_async_context(telegram.running(app))
            yield
        if getattr(app.state, "zalo", None) is not None:  # Zalo OA channel's HTTP client
            await app.state.zalo.aclose()
        await nlu.aclose()
        engine.dispose()

    app = FastAPI(title="Trainee rights assistant", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.nlu = nlu
    app.state.engine = Engine(session_factory=_SessionFactoryProxy(app), nlu=nlu, settings=bot_settings)

    @app.get("/health", tags=["health"])
    async def health() -> dict:
        """Liveness, the database, the NLU server and messages waiting to be processed."""
        from sqlalchemy import func, select, text

        from bot.models import Direction, Message, MessageStatus

        with app.state.session_factory() as session:
            session.execute(text("SELECT 1"))
            waiting = session.scalar(
                select(func.count()).select_from(Message).where(
                    Message.direction == Direction.inbound, Message.status == MessageStatus.received
                )
            )
        nlu_ok = await nlu.healthy()
        return {
            "status": "ok" if nlu_ok else "degraded",
            "database": "ok",
            "nlu": "ok" if nlu_ok else "down",
            "unprocessed_messages": waiting,
        }

    app.include_router(catalog_router)
    app.include_router(web_router)
    if telegram is not None:
        telegram.mount(app, bot_settings)
    if bot_settings.zalo_enabled:  # Zalo OA webhook channel (api/channels/zalo.py)
        from api.channels.zalo import router as zalo_router
        from bot.channels.zalo import ZaloClient

        app.state.zalo = ZaloClient(bot_settings, session_factory=app.state.engine.session_factory)
        app.include_router(zalo_router)
    return app
