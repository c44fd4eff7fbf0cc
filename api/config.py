"""Settings of the HTTP app, from the environment and `.env`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from knowledge import crypto


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
    #: Encrypts the channel credentials at rest (Zalo tokens, the stored cookie key): one Fernet key, or several
    #: separated by commas (the first encrypts; all decrypt, for rotation). Required in production; unset in
    #: development: stored in plain text, with a warning (knowledge/crypto.py).
    data_key: SecretStr | None = None
    #: Where reviewed examples from the learning queue are written (one `reviewed.yml` per language), and the
    #: NLU evaluation history `make nlu-eval` appends to (shown to admins before and after a retrain).
    nlu_data_dir: Path = Path(__file__).resolve().parent.parent / "nlu" / "data"
    nlu_eval_history: Path = Path(__file__).resolve().parent.parent / "nlu" / "models" / "evaluations.jsonl"
    #: Run the outbox worker in this process (retries of unprocessed messages and unsent replies).
    worker: bool = True

    @field_validator("data_key")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip():
            crypto.parse_keys(value.get_secret_value())  # a DataKeyError (ValueError) names the setting
            return value
        return None
