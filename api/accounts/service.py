"""Accounts: create and list, passwords (argon2), sign-in with a rate limit kept in the database,
bearer tokens and page sessions signed with the app's key, and the audit log."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.models import Account, AuditLog, LoginAttempt, Role
from knowledge.crypto import pseudonym
from knowledge.db import utcnow
from knowledge.intents import LANGUAGES

logger = logging.getLogger(__name__)

HASHER = PasswordHasher()
#: Failed sign-ins allowed per email and per client address in the window, before 429.
MAX_FAILURES = 5
FAILURE_WINDOW = dt.timedelta(minutes=15)
TOKEN_MAX_AGE = 12 * 3600
#: Verified against when the email is unknown, so an unknown email costs the same time as a wrong password.
_DUMMY_HASH = HASHER.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """An account can't be created as asked; the message says why."""


class TooManyAttempts(Exception):
    """Too many failed sign-ins for this email or address: wait."""


def create(*, session: Session, email: str, password: str, role: str, languages: list[str], name: str,
           group: str | None = None, capacity: int = 3) -> Account:
    """A new volunteer or admin account. Raises AccountError."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise AccountError(f"not an email address: {email!r}")
    if role not in Role.__members__:
        raise AccountError(f"role must be one of {', '.join(Role)}")
    unknown = [lang for lang in languages if lang not in LANGUAGES]
    if unknown:
        raise AccountError(f"unknown languages {unknown}; use {', '.join(LANGUAGES)}")
    if len(password) < 10:
        raise AccountError("the password needs at least 10 characters")
    if not name.strip() or len(name) > 64:
        raise AccountError("the display name needs 1-64 characters")
    if session.scalar(select(Account.id).where(Account.email == email)) is not None:
        raise AccountError(f"an account for {email} exists already")
    account = Account(email=email, display_name=name.strip(), role=role, languages=list(languages),
                      support_group=group, capacity=capacity, password_hash=HASHER.hash(password))
    session.add(account)
    session.flush()
    return account


def list_accounts(*, session: Session) -> list[Account]:
    return list(session.scalars(select(Account).order_by(Account.id)))


def authenticate(*, session: Session, email: str, password: str, client: str) -> Account | None:
    """The account for these credentials, or None (nothing says which part was wrong).
    Raises TooManyAttempts after MAX_FAILURES failures per email or client address in the window. Commits."""
    email = (email or "").replace("\x00", "").strip().lower()  # PostgreSQL text can't hold NUL: not a 500
    keys = [f"email:{email}", f"client:{client}"]
    since = utcnow() - FAILURE_WINDOW
    session.execute(delete(LoginAttempt).where(LoginAttempt.created_at < since))
    # The attempt is counted (committed) before the password is checked, then the count includes it and every
    # attempt any process committed before: of concurrent guesses (several processes, several threads) at most
    # MAX_FAILURES get a password check. Counted first and checked after, they would all see the old count.
    attempts = [LoginAttempt(key=key) for key in keys]
    session.add_all(attempts)
    session.commit()
    for key in keys:
        failures = session.scalar(select(func.count()).select_from(LoginAttempt).where(LoginAttempt.key == key)) or 0
        if failures > MAX_FAILURES * (4 if key.startswith("client:") else 1):
            _forget_attempts(session, attempts)  # a refused attempt is not a failure: the wait doesn't grow
            logger.warning("sign-in refused (too many failures) for %s from %s", pseudonym(email, "e"),
                           pseudonym(client, "ip"))
            raise TooManyAttempts()
    account = session.scalar(select(Account).where(Account.email == email, Account.active.is_(True)))
    try:
        HASHER.verify(account.password_hash if account else _DUMMY_HASH, password or "")
        ok = account is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:  # the attempts stay: failures
        session.commit()
        logger.info("sign-in failed for %s from %s", pseudonym(email, "e"), pseudonym(client, "ip"))
        return None
    _forget_attempts(session, attempts)
    return account


def _forget_attempts(session: Session, attempts: list[LoginAttempt]) -> None:
    """Take back attempts counted in advance (a success, or a refusal). Commits."""
    session.execute(delete(LoginAttempt).where(LoginAttempt.id.in_([a.id for a in attempts])))
    session.commit()


@dataclass(frozen=True)
class Signers:
    """Bearer tokens for API clients and session cookies for pages, both signed with the app's key."""

    tokens: URLSafeTimedSerializer
    sessions: URLSafeTimedSerializer

    @classmethod
    def from_key(cls, key: str) -> Signers:
        return cls(URLSafeTimedSerializer(key, salt="api-token"), URLSafeTimedSerializer(key, salt="inbox-session"))

    def token(self, account: Account) -> str:
        return self.tokens.dumps({"uid": account.id})

    def session_cookie(self, account: Account) -> tuple[str, str]:
        """The cookie value and its CSRF token (forms and scripts send it back)."""
        csrf = secrets.token_urlsafe(24)
        return self.sessions.dumps({"uid": account.id, "csrf": csrf}), csrf

    def read_token(self, token: str) -> int | None:
        try:
            return int(self.tokens.loads(token, max_age=TOKEN_MAX_AGE)["uid"])
        except (BadSignature, KeyError, TypeError, ValueError):
            return None

    def read_session(self, cookie: str) -> tuple[int, str] | None:
        try:
            data = self.sessions.loads(cookie, max_age=TOKEN_MAX_AGE)
            return int(data["uid"]), str(data["csrf"])
        except (BadSignature, KeyError, TypeError, ValueError):
            return None


def audit(*, session: Session, account: Account | None, action: str, target: str | None = None,
          detail: str | None = None) -> None:
    session.add(AuditLog(account_id=account.id if account else None, action=action, target=target, detail=detail))


def audit_read(*, session: Session, account: Account, target: str, every: dt.timedelta = dt.timedelta(minutes=10)) -> None:
    """Log a transcript read; a page that refreshes itself logs once per `every`, not on every refresh."""
    recent = session.scalar(select(AuditLog.id).where(
        AuditLog.account_id == account.id, AuditLog.action == "handoff.transcript_read", AuditLog.target == target,
        AuditLog.created_at > utcnow() - every).limit(1))
    if recent is None:
        audit(session=session, account=account, action="handoff.transcript_read", target=target)
