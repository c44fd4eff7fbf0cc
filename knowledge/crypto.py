"""Secrets at rest and identifiers in logs.

**Encryption at rest** (`SealedText`): a column of this type is stored as `fernet:<token>`, encrypted with
the data key (`APP_DATA_KEY`: one Fernet key, or several separated by commas — the first encrypts, every one
decrypts, so a key can be rotated), and read back as plain text. Reading a value stored before a key was set
(no `fernet:` prefix) gives it as it is; `reseal` rewrites such rows encrypted (the app does it at start-up),
and any write of the row encrypts it anyway. Without a key nothing is derived: values are written in plain
text (development and tests only, with a warning at start-up; production refuses to start without the key,
api/main.py), and an encrypted value cannot be read (`DataKeyError`, naming the setting).

**Pseudonyms** (`pseudonym`): a keyed hash of an identifier for log lines ("u:3fa1c2d9" instead of a Telegram
chat id, "e:…" for an email, "ip:…" for a client address). The key is secret (the app derives it from its
cookie key, which every process on one database shares, so one trainee has one pseudonym in every process's
log), so the ids cannot be recovered by hashing a list of candidate ids. Before it is configured a random
key of this process is used: still not reversible, only not comparable across processes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text, select, type_coerce, update
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

PREFIX = "fernet:"
SETTING = "APP_DATA_KEY"
MAKE_KEY = "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"


class DataKeyError(ValueError):
    """The data key is missing, malformed, or not the one the stored values were encrypted with."""


_keys: MultiFernet | None = None
_first: Fernet | None = None  # the key that encrypts
_log_key: bytes = secrets.token_bytes(32)


# ------------------------------------------------------------------------------------------ the data key
def parse_keys(value: str) -> MultiFernet:
    """`APP_DATA_KEY` as keys: comma-separated Fernet keys (`Fernet.generate_key()`), the first one encrypts."""
    return MultiFernet(_fernets(value))


def _fernets(value: str) -> list[Fernet]:
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if not parts:
        raise DataKeyError(f"{SETTING} is empty")
    try:
        return [Fernet(part.encode("ascii")) for part in parts]
    except (ValueError, UnicodeEncodeError):
        raise DataKeyError(f"{SETTING} must be Fernet keys (32 url-safe base64 bytes each; make one with {MAKE_KEY})"
                           ) from None


def configure(keys: str | None) -> None:
    """Use these keys (None: none, values are written in plain text) from now on, in this process."""
    global _keys, _first
    fernets = _fernets(keys) if keys else []
    _keys, _first = (MultiFernet(fernets), fernets[0]) if fernets else (None, None)


def enabled() -> bool:
    return _keys is not None


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def is_sealed(stored: str | None) -> bool:
    return stored is not None and stored.startswith(PREFIX)


def seal(value: str) -> str:
    """The value as stored: encrypted when a key is configured, else as it is."""
    if _keys is None or is_sealed(value):
        return value
    return PREFIX + _keys.encrypt(value.encode("utf-8")).decode("ascii")


def unseal(stored: str) -> str:
    """The stored value as plain text. Raises DataKeyError for an encrypted value without the right key."""
    if not is_sealed(stored):
        return stored
    if _keys is None:
        raise DataKeyError(f"a stored credential is encrypted but {SETTING} is not set: set the key it was "
                           "encrypted with")
    try:
        return _keys.decrypt(stored[len(PREFIX):].encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise DataKeyError(f"a stored credential was encrypted with another key: add that key to {SETTING}"
                           ) from None


class SealedText(TypeDecorator):
    """Text encrypted at rest with the data key (see the module's docstring); plain text in Python."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else seal(value)

    def process_result_value(self, value, dialect):
        return None if value is None else unseal(value)


def reseal(session: Session, column) -> int:
    """Encrypt the plain-text values of a `SealedText` column (rows written before the key was set, or
    after a key rotation: values of an older key are encrypted again with the first). Commits; returns
    how many rows were rewritten. Without a key it does nothing."""
    if _keys is None:
        return 0
    table = column.class_.__table__
    key = table.primary_key.columns.values()[0]
    raw = type_coerce(column, Text)
    rewritten = 0
    for row_id, stored in session.execute(select(key, raw)).all():
        if is_sealed(stored):
            token = stored[len(PREFIX):].encode("ascii")
            if _encrypts(token):
                continue
            try:
                fresh = PREFIX + _keys.rotate(token).decode("ascii")
            except InvalidToken:
                raise DataKeyError(f"a stored credential was encrypted with another key: add that key to {SETTING}"
                                   ) from None
        else:
            fresh = seal(stored)
        session.execute(update(table).where(key == row_id).values({column.key: type_coerce(fresh, Text)}))
        rewritten += 1
    session.commit()
    return rewritten


def _encrypts(token: bytes) -> bool:
    """Whether the first (encrypting) key made the token: then it needs no rotation."""
    try:
        _first.decrypt(token)
        return True
    except InvalidToken:
        return False


# ------------------------------------------------------------------------------------------ pseudonyms
def configure_pseudonyms(secret: str | bytes) -> None:
    """Key the pseudonyms with a secret every process shares (the app passes its cookie key)."""
    global _log_key
    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    _log_key = hmac.new(raw, b"log-pseudonyms", hashlib.sha256).digest()


def pseudonym(value: object, kind: str = "u") -> str:
    """A keyed hash of an identifier for logs: "u:3fa1c2d9" (`kind` "u" trainee, "e" email, "ip" address)."""
    if value is None:
        return f"{kind}:-"
    digest = hmac.new(_log_key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{kind}:{digest[:8]}"
