"""The database schema: apply migrations, and check it is at the newest one (Alembic)."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parent.parent


class SchemaBehind(RuntimeError):
    """The database is missing migrations."""


def alembic_config(database_url: str | None = None) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    if database_url:
        config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str) -> None:
    """Apply every pending migration."""
    from alembic import command

    command.upgrade(alembic_config(database_url), "head")


def ensure_current(engine: Engine) -> None:
    """Raise SchemaBehind with a clear message unless the schema is at head."""
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    if current != heads:
        raise SchemaBehind(
            f"The database schema is at {sorted(current) or 'no revision'}, the code needs {sorted(heads)}. "
            "Run `make migrate` (or `.venv/bin/alembic upgrade head`) to migrate it."
        )
