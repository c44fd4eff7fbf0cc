"""FastAPI dependencies: the app's services, each behind one `Annotated` alias.

`create_app` builds one `Services` and keeps it on the app; these functions are the only readers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Path, Request
from sqlalchemy.orm import Session, sessionmaker

from api.config import ApiSettings
from bot.config import BotSettings
from bot.engine import Engine
from bot.nlu_client import NluClient

if TYPE_CHECKING:
    from itsdangerous import Signer


@dataclass
class Services:
    """What the routes use: settings, the session factory, the engine and the channels that are on."""

    settings: ApiSettings
    bot_settings: BotSettings
    session_factory: sessionmaker[Session]
    engine: Engine
    nlu: NluClient
    signer: Signer
    signers: Any = None  # api.accounts.service.Signers: bearer tokens and inbox sessions
    telegram: Any = None  # telegram.ext.Application when Telegram is on
    zalo: Any = None  # bot.channels.zalo.ZaloClient when Zalo is on
    bell: Any = None  # api.live.Bell: rung by PostgreSQL NOTIFY when handoff events are written (None: poll)


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]
#: A row id in a path: one the database can hold (SQLite's INTEGER is 64-bit; a larger one overflowed into a 500).
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def get_engine(services: ServicesDep) -> Engine:
    return services.engine


def get_session(services: ServicesDep) -> Iterator[Session]:
    session = services.session_factory()
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]


SESSION_COOKIE = "inbox_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_account(request: Request, services: ServicesDep, session: SessionDep):
    """The signed-in account: a bearer token (API clients) or the inbox session cookie (pages, with a CSRF
    token on every unsafe request: the `X-CSRF-Token` header or a `csrf_token` form field). 401 otherwise."""
    from bot.models import Account

    header = request.headers.get("authorization") or ""
    csrf = None
    if header.lower().startswith("bearer "):
        account_id = services.signers.read_token(header[7:].strip())
    elif SESSION_COOKIE in request.cookies:
        read = services.signers.read_session(request.cookies[SESSION_COOKIE])
        account_id, csrf = read if read else (None, None)
        if account_id is not None and request.method not in SAFE_METHODS:
            given = request.headers.get(CSRF_HEADER)
            if given is None and "form" in (request.headers.get("content-type") or ""):
                given = (await request.form()).get("csrf_token")
            if given != csrf:
                raise HTTPException(status_code=403, detail="missing or wrong CSRF token")
    else:
        account_id = None
    account = session.get(Account, account_id) if account_id is not None else None
    if account is None or not account.active:
        raise HTTPException(status_code=401, detail="sign in first", headers={"WWW-Authenticate": "Bearer"})
    request.state.csrf = csrf
    return account


def require_admin(account=Depends(get_account)):
    if account.role != "admin":
        raise HTTPException(status_code=403, detail="admins only")
    return account


CurrentAccount = Annotated[Any, Depends(get_account)]
CurrentAdmin = Annotated[Any, Depends(require_admin)]
