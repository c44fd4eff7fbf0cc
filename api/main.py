"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from itsdangerous import Signer
from sqlalchemy import text
from sqlalchemy.engine import Engine as DatabaseEngine
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from api import limits, live
from api.accounts.router import router as accounts_router
from api.admin import crud as admin_crud
from api.admin.pages import router as admin_pages_router
from api.admin.router import router as admin_router
from api.admin.stats import router as admin_stats_router
from api.accounts.service import Signers
from api.handoff.router import router as handoff_router
from api.inbox.router import router as inbox_router
from api.catalog.router import router as catalog_router
from api.channels.web import router as web_router
from api.config import ApiSettings
from api.deps import Services, ServicesDep
from bot import conversations, retention
from bot.config import BotSettings
from bot.engine import Engine
from bot.models import ChannelCredential
from bot.nlu_client import NluClient
from knowledge import crypto, editing
from knowledge.config import KnowledgeSettings
from knowledge.db import make_engine, make_session_factory
from knowledge.schema import ensure_current

logger = logging.getLogger(__name__)

PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "s3cret", "test", "password", "xxx"}


def enforce_production_secrets(settings: ApiSettings, bot_settings: BotSettings) -> None:
    """In production, refuse placeholder or short secrets (development and tests may use any)."""
    if settings.env != "production":
        return
    secrets_ = {
        "TELEGRAM_WEBHOOK_SECRET": bot_settings.telegram_webhook_secret if bot_settings.telegram_enabled else None,
        "ZALO_OA_SECRET_KEY": bot_settings.zalo_oa_secret_key if bot_settings.zalo_enabled else None,
        "ZALO_APP_SECRET": bot_settings.zalo_app_secret if bot_settings.zalo_enabled else None,
        "APP_SECRET_KEY": settings.secret_key,
    }
    for name, secret in secrets_.items():
        value = secret.get_secret_value() if secret is not None else None
        if value is not None and (value.lower() in PLACEHOLDER_SECRETS or len(value) < 16):
            raise ValueError(f"{name} looks like a placeholder: in production use a random secret of 16+ characters")
    if settings.data_key is None:
        raise ValueError("APP_DATA_KEY is not set: in production the channel credentials are encrypted at rest; "
                         f"make a key with {crypto.MAKE_KEY}")


def seal_credentials(settings: ApiSettings, session_factory: sessionmaker[Session]) -> None:
    """Encrypt the channel credentials with APP_DATA_KEY from now on, and the rows still in plain text now (written
    before the key was set). Without a key (development only) they stay in plain text, with a warning."""
    crypto.configure(settings.data_key.get_secret_value() if settings.data_key is not None else None)
    if not crypto.enabled():
        logger.warning("APP_DATA_KEY is not set: channel credentials are stored unencrypted (development only)")
        return
    with session_factory() as session:
        sealed = crypto.reseal(session, ChannelCredential.value)
    if sealed:
        logger.info("encrypted %d channel credentials stored before APP_DATA_KEY was set", sealed)


class PseudonymousAccessLog(logging.Filter):
    """uvicorn's access log with the client address as a pseudonym ("ip:3fa1c2d9"), never the address."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args and isinstance(record.args[0], str):
            host = record.args[0].rsplit(":", 1)[0]  # "host:port" (uvicorn's get_client_addr)
            record.args = (crypto.pseudonym(host, "ip") if host else "-", *record.args[1:])
        return True


def hide_client_addresses() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, PseudonymousAccessLog) for f in access.filters):
        access.addFilter(PseudonymousAccessLog())


def cookie_key(settings: ApiSettings, session_factory: sessionmaker[Session]) -> str:
    """APP_SECRET_KEY, or the random key kept in the database (made on first start, shared by all processes)."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    from sqlalchemy import select

    query = select(ChannelCredential).where(ChannelCredential.channel == "web", ChannelCredential.name == "cookie_key")
    with session_factory() as session:
        row = session.scalar(query)
        if row is None:
            session.add(ChannelCredential(channel="web", name="cookie_key", value=secrets.token_urlsafe(32)))
            try:
                session.commit()
            except IntegrityError:  # another process made it first
                session.rollback()
            row = session.scalar(query)
        return row.value


def create_app(
    settings: ApiSettings | None = None,
    knowledge_settings: KnowledgeSettings | None = None,
    bot_settings: BotSettings | None = None,
    *,
    engine: DatabaseEngine | None = None,
    session_factory: sessionmaker[Session] | None = None,
    today: Callable[[], dt.date] | None = None,
) -> FastAPI:
    """Build the app; refuses to start on a database whose schema is behind the code.

    `engine` / `session_factory`: an existing database (tests pass one bound to their transaction);
    `today`: the clock of the engine's date-dependent answers (minimum wage in force).
    """
    settings = settings or ApiSettings()
    knowledge_settings = knowledge_settings or KnowledgeSettings()
    bot_settings = bot_settings or BotSettings()
    enforce_production_secrets(settings, bot_settings)
    database = engine or make_engine(knowledge_settings.database_url)
    ensure_current(database)
    session_factory = session_factory or make_session_factory(database)
    nlu = NluClient(bot_settings.nlu_url, timeout=bot_settings.nlu_timeout, cooldown=bot_settings.nlu_cooldown_seconds)
    bot_engine = Engine(session_factory=session_factory, nlu=nlu, settings=bot_settings,
                        **({"today": today} if today else {}))
    listen_url = live.listen_url(database)  # PostgreSQL: live inbox updates by LISTEN/NOTIFY
    seal_credentials(settings, session_factory)
    key = cookie_key(settings, session_factory)
    crypto.configure_pseudonyms(key)  # identifiers in logs: a keyed hash every process on this database shares
    services = Services(settings=settings, bot_settings=bot_settings, session_factory=session_factory,
                        engine=bot_engine, nlu=nlu, signer=Signer(key, salt="web-chat"), signers=Signers.from_key(key))
    services.bell = live.Bell() if listen_url is not None else None
    telegram = None
    if bot_settings.telegram_enabled:  # Telegram webhook channel (api/channels/telegram.py)
        from api.channels import telegram

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from bot import langdetect

        loop = asyncio.get_running_loop()
        # The engine's database work runs in threads (asyncio.to_thread): WORKER_THREADS of them per process.
        loop.set_default_executor(ThreadPoolExecutor(max_workers=bot_settings.worker_threads,
                                                     thread_name_prefix="engine"))
        await asyncio.to_thread(langdetect.warm_up)
        stop = asyncio.Event()
        async with AsyncExitStack() as channels:
            if telegram is not None:
                await channels.enter_async_context(telegram.running(services))
            worker = asyncio.create_task(bot_engine.run_worker(stop=stop)) if settings.worker else None
            hide_client_addresses()  # after uvicorn set its loggers up
            # Retention: every process with the worker schedules it; one at a time runs it (bot/retention.py).
            keeper = (asyncio.create_task(retention.run_scheduled(
                session_factory, stop=stop, days=bot_settings.retention_days, batch=bot_settings.retention_batch,
                every=dt.timedelta(hours=bot_settings.retention_every_hours))) if settings.worker else None)
            # Several NLU servers: probe them every few seconds, so a dead one is skipped and a restarted one used.
            listener = (asyncio.create_task(live.Listener(listen_url, services.bell).run(stop))
                        if listen_url is not None else None)
            checks = (asyncio.create_task(nlu.run_health_checks(stop=stop, every=bot_settings.nlu_check_seconds))
                      if len(nlu.urls) > 1 else None)
            try:
                yield
            finally:
                stop.set()
                if worker is not None:
                    await worker
                if keeper is not None:
                    await keeper
                if checks is not None:
                    await checks
                if listener is not None:
                    await listener
        if services.zalo is not None:  # Zalo OA channel's HTTP client
            await services.zalo.aclose()
        await nlu.aclose()
        if engine is None:
            database.dispose()

    app = FastAPI(title="Trainee rights assistant", version="0.1.0", lifespan=lifespan)
    app.state.services = services
    limits.install(app)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def database_unavailable(request, exc: DBAPIError) -> JSONResponse:
        """The database is down or restarting: 503, so a channel delivers the message again (nothing was stored:
        a turn is one transaction) and a browser can retry; the pool reconnects by itself (a dropped connection
        invalidates the pool). A web chat identity minted for this request keeps its cookie: the message may have
        been stored under it, and the page's retry must come back as the same trainee."""
        logger.warning("database unavailable for %s %s: %s", request.method, request.url.path, type(exc).__name__)
        headers = {"Retry-After": "2"}
        cookie = getattr(request.state, "web_cookie", None)
        if cookie:
            headers["Set-Cookie"] = cookie
        return JSONResponse({"detail": "the service is restarting: try again in a moment"}, status_code=503,
                            headers=headers)

    @app.get("/health", tags=["health"])
    async def health(services: ServicesDep) -> dict:
        """Liveness, the database, the NLU server, and the outbox: waiting, unsent and dead messages."""
        def database_state() -> dict:
            with services.session_factory() as session:
                session.execute(text("SELECT 1"))
                return {**conversations.backlog(session=session),
                        "entries_past_review": editing.review_due_count(session=session,
                                                                        today=services.engine.today())}

        try:
            backlog = await asyncio.to_thread(database_state)
            database_ok = True
        except Exception:
            logger.exception("health: database check failed")
            backlog, database_ok = {}, False
        servers = await services.nlu.check_all()
        up = sum(servers.values())
        return {
            "status": "ok" if up == len(servers) and database_ok and not backlog.get("dead_messages") else "degraded",
            "database": "ok" if database_ok else "down",
            "nlu": "ok" if up else "down",
            "nlu_servers": len(servers),
            "nlu_servers_up": up,
            **backlog,
        }

    app.include_router(catalog_router)
    app.include_router(web_router)
    app.include_router(handoff_router)
    app.include_router(accounts_router)
    app.include_router(inbox_router)
    app.include_router(admin_router)
    app.include_router(admin_stats_router)
    app.include_router(admin_pages_router)
    admin_crud.mount(app, services)
    if telegram is not None:
        telegram.mount(app, services)
    if bot_settings.zalo_enabled:  # Zalo OA webhook channel (api/channels/zalo.py)
        from api.channels.zalo import router as zalo_router
        from bot.channels.zalo import ZaloClient, ZaloSender, fetch_file

        services.zalo = ZaloClient(bot_settings, session_factory=session_factory)
        bot_engine.add_sender(ZaloSender(services.zalo))
        bot_engine.fetchers["zalo"] = functools.partial(fetch_file, services.zalo.http)
        app.include_router(zalo_router)
    return app
