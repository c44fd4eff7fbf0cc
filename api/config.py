"""Settings of the HTTP app, from the environment and `.env`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="APP_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    #: "development" or "production"; production refuses placeholder secrets.
    env: str = Field(default="development", pattern="^(development|production|test)$")
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    #: Signs the web chat's identity cookie. Unset: a random key is made once and kept in the database,
    #: so every app process on that database shares it.
    secret_key: SecretStr | None = None
    #: Where reviewed examples from the learning queue are written (one `reviewed.yml` per language), and the
    #: NLU evaluation history `make nlu-eval` appends to (shown to admins before and after a retrain).
    nlu_data_dir: Path = Path(__file__).resolve().parent.parent / "nlu" / "data"
    nlu_eval_history: Path = Path(__file__).resolve().parent.parent / "nlu" / "models" / "evaluations.jsonl"
    #: Run the outbox worker in this process (retries of unprocessed messages and unsent replies).
    worker: bool = True
