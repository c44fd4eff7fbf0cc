"""Alembic environment: every model of the app on the one Base."""

from __future__ import annotations

from alembic import context

import knowledge.models  # noqa: F401  (registers the tables)
from knowledge.config import KnowledgeSettings
from knowledge.db import Base, make_engine

import bot.models  # noqa: F401,E402  (conversations, messages, handoffs, accounts)


target_metadata = Base.metadata


def _url() -> str:
    return context.config.attributes.get("database_url") or KnowledgeSettings().database_url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
