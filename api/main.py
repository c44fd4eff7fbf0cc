"""The FastAPI application factory."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.catalog.router import router as catalog_router
from api.config import ApiSettings
from api.dbcheck import ensure_current
from knowledge.config import KnowledgeSettings
from knowledge.db import make_engine, make_session_factory

logger = logging.getLogger(__name__)


def create_app(
    settings: ApiSettings | None = None,
    knowledge_settings: KnowledgeSettings | None = None,
    *,
    engine=None,
) -> FastAPI:
    """Build the app; refuses to start on a database whose schema is behind the code."""
    settings = settings or ApiSettings()
    knowledge_settings = knowledge_settings or KnowledgeSettings()
    engine = engine or make_engine(knowledge_settings.database_url)
    ensure_current(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        engine.dispose()

    app = FastAPI(title="Trainee rights assistant", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)

    @app.get("/health", tags=["health"])
    def health() -> dict:
        """Liveness and the state of the database."""
        from sqlalchemy import text

        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok", "database": "ok"}

    app.include_router(catalog_router)
    return app
