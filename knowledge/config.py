"""Settings of the knowledge package (the database)."""

from __future__ import annotations

from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE_PATH = PROJECT_ROOT / "data" / "app.db"


class KnowledgeSettings(BaseSettings):
    """Where the knowledge (and the app's data) is stored."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = f"sqlite:///{DEFAULT_SQLITE_PATH}"

    @field_validator("database_url")
    @classmethod
    def _supported_url(cls, value: str) -> str:
        value = value.strip()
        if value.startswith("postgres://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgres://")
        elif value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        if not (value.startswith("sqlite") or value.startswith("postgresql+psycopg://")):
            raise ValueError(
                "DATABASE_URL must be an SQLite URL (sqlite:///path/to/file.db) "
                "or a PostgreSQL URL (postgresql://user:password@host:port/dbname)"
            )
        return value
