"""FastAPI dependencies: the app's services, each behind one `Annotated` alias.

`create_app` builds one `Services` and keeps it on the app; these functions are the only readers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
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
    telegram: Any = None  # telegram.ext.Application when Telegram is on
    zalo: Any = None  # bot.channels.zalo.ZaloClient when Zalo is on


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


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
