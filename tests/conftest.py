"""Shared fixtures: a migrated, seeded database on SQLite and on PostgreSQL.

Each test runs inside a transaction that is rolled back (SAVEPOINTs for the code's own commits),
so tests see the seeded knowledge and leave nothing behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from knowledge.schema import upgrade
from knowledge.db import make_engine, session_scope
from knowledge.loader import seed

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")


def _backends() -> list:
    params = [pytest.param("sqlite", id="sqlite")]
    params.append(pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres))
    return params


def _fresh_engine(backend: str, tmp_path_factory) -> Engine:
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("db") / "test.db"
        return make_engine(f"sqlite:///{path}")
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("TEST_POSTGRES_URL is not set: `make test` starts a PostgreSQL server and sets it")
        pytest.skip("no PostgreSQL server (run the suite with `make test`)")
    engine = make_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    return engine


@pytest.fixture(scope="session", params=_backends())
def engine(request, tmp_path_factory) -> Iterator[Engine]:
    """A database at the newest migration with the seed loaded, per backend."""
    eng = _fresh_engine(request.param, tmp_path_factory)
    upgrade(eng.url.render_as_string(hide_password=False))
    with session_scope(sessionmaker(bind=eng)) as session:
        seed(session)
    yield eng
    eng.dispose()


@pytest.fixture
def connection(engine: Engine):
    conn = engine.connect()
    outer = conn.begin()
    # pysqlite starts no transaction on BEGIN, so the outermost RELEASE SAVEPOINT would commit for good:
    # turn its own transaction handling off and open a real one, which the rollback below undoes.
    driver = conn.connection.driver_connection if engine.dialect.name == "sqlite" else None
    if driver is not None:
        driver.isolation_level = None
        conn.exec_driver_sql("BEGIN")
    try:
        yield conn
    finally:
        outer.rollback()
        if driver is not None:
            driver.isolation_level = ""
        conn.close()


@pytest.fixture
def session_factory(connection) -> sessionmaker[Session]:
    """Sessions bound to the test's connection; their commits become SAVEPOINT releases."""
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture
def session(session_factory) -> Iterator[Session]:
    with session_factory() as s:
        yield s


NLU_URL = os.environ.get("TEST_NLU_URL")


@pytest.fixture(scope="session")
def nlu_url() -> str:
    """The real Rasa server with the trained model (`make test` starts it and sets TEST_NLU_URL)."""
    if not NLU_URL:
        if os.environ.get("CI"):
            pytest.fail("TEST_NLU_URL is not set: `make test` starts the Rasa server and sets it")
        pytest.skip("no NLU server (run the suite with `make test`)")
    return NLU_URL


@pytest.fixture
def bot_settings(nlu_url):
    from bot.config import BotSettings

    return BotSettings(nlu_url=nlu_url, _env_file=None)


@pytest.fixture
def today():
    """The engine's clock; a test module that depends on the date overrides this fixture with a fixed day."""
    return None


@pytest.fixture
def app(engine, session_factory, bot_settings, today):
    """The whole FastAPI app on the test's transaction, talking to the real NLU server (no background worker:
    tests run the worker's tick themselves)."""
    from api.config import ApiSettings
    from api.main import create_app

    return create_app(ApiSettings(_env_file=None, worker=False), bot_settings=bot_settings, engine=engine,
                      session_factory=session_factory, today=(lambda: today) if today else None)


@pytest.fixture
def bot_engine(app):
    """The app's conversation engine."""
    return app.state.services.engine


@pytest.fixture
async def client(app):
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


@pytest.fixture
def new_client(app):
    """Another browser: a client with its own cookie jar (`async with new_client() as c`)."""
    import httpx

    return lambda: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> str:
    """A fresh migrated and seeded database of its own (committed data, several connections or processes)."""
    import uuid

    from sqlalchemy import create_engine

    from knowledge.db import make_session_factory

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'app.db'}"
    else:
        if not POSTGRES_URL:
            if os.environ.get("CI"):
                pytest.fail("TEST_POSTGRES_URL is not set: `make test` starts a PostgreSQL server and sets it")
            pytest.skip("no PostgreSQL server (run the suite with `make test`)")
        name = f"fresh_{uuid.uuid4().hex[:10]}"
        admin = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1),
                              isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = POSTGRES_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + "/" + name
    upgrade(url)
    database = make_engine(url)
    with session_scope(make_session_factory(database)) as s:
        seed(s)
    database.dispose()
    yield url
    if request.param == "postgresql":
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
