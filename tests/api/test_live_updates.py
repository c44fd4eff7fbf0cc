"""Live inbox updates across processes on PostgreSQL: a handoff event committed by any process rings every
process's listener (LISTEN/NOTIFY) at commit, and not before; the listener comes back after losing its connection."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from api.live import Bell, Listener, listen_url
from bot.models import HandoffEvent
from knowledge.db import make_engine, make_session_factory

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite streams poll (tests/api/test_handoffs.py)")
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


async def _until(predicate, seconds: float = 10.0) -> bool:
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


@pytest.fixture
async def listening(pg):
    bell, stop = Bell(), asyncio.Event()
    listener = Listener(listen_url(pg), bell, backoff=0.1)
    task = asyncio.create_task(listener.run(stop))
    assert await _until(lambda: bell.listening)
    yield bell
    stop.set()
    await asyncio.wait_for(task, 10)
    assert not bell.listening


async def test_a_committed_handoff_event_rings_the_listener(pg, listening):
    bell = listening
    rings = bell.rings
    ticket = bell.ticket()
    factory = make_session_factory(pg)  # another "process": its own engine and connections

    def write(commit: bool) -> None:
        with factory() as session:
            session.add(HandoffEvent(handoff_id=None, kind="handoff.opened"))
            session.flush()
            session.commit() if commit else session.rollback()

    await asyncio.to_thread(write, False)
    assert not await Bell.wait(ticket, 1.0), "a rolled-back event must not wake the inboxes"
    await asyncio.to_thread(write, True)
    assert await Bell.wait(ticket, 10.0)
    assert bell.rings > rings


async def test_the_listener_reconnects_after_its_connection_is_killed(pg, listening):
    bell = listening
    with pg.connect() as conn:
        killed = conn.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND (query ILIKE 'LISTEN%' OR query = 'SELECT 1')")).all()
    assert killed
    assert await _until(lambda: not bell.listening)  # it notices within its 1 s check
    assert await _until(lambda: bell.listening)
    ticket = bell.ticket()
    with make_session_factory(pg)() as session:
        session.add(HandoffEvent(handoff_id=None, kind="handoff.opened"))
        session.commit()
    assert await Bell.wait(ticket, 10.0)
