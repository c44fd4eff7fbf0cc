"""Build a conversation engine outside the web app (terminal chat, Telegram polling)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine as DatabaseEngine

from bot.config import BotSettings
from bot.engine import Engine
from bot.nlu_client import NluClient
from knowledge.config import KnowledgeSettings
from knowledge.db import make_engine, make_session_factory
from knowledge.schema import ensure_current


@dataclass
class Runtime:
    engine: Engine
    nlu: NluClient
    database: DatabaseEngine
    settings: BotSettings

    async def aclose(self) -> None:
        await self.nlu.aclose()
        self.database.dispose()


def open_runtime(*, database_url: str | None = None, nlu_url: str | None = None) -> Runtime:
    """An engine on the configured (or given) database and NLU server.

    Raises knowledge.schema.SchemaBehind when the database needs migrating.
    """
    url = (KnowledgeSettings(database_url=database_url) if database_url else KnowledgeSettings()).database_url
    settings = BotSettings(nlu_url=nlu_url) if nlu_url else BotSettings()
    database = make_engine(url)
    try:
        ensure_current(database)
    except Exception:
        database.dispose()
        raise
    nlu = NluClient(settings.nlu_url, timeout=settings.nlu_timeout)
    engine = Engine(session_factory=make_session_factory(database), nlu=nlu, settings=settings)
    return Runtime(engine=engine, nlu=nlu, database=database, settings=settings)
