"""Live updates across app processes: PostgreSQL `LISTEN/NOTIFY`, no broker.

Every process that serves inbox streams holds one listening connection (`Listener`). A transaction that writes
handoff events sends `NOTIFY handoff_events` (bot/models.py), PostgreSQL delivers it to every listener when the
transaction commits, and the listener rings this process's `Bell`, which wakes every open stream; each stream then
reads the new `handoff_event` rows itself (the rows carry the events, the notification only says "look now").

While the listener is not connected (start-up, a database restart) streams poll as on SQLite; once it is back
it rings once (whatever was missed is read then), and even when listening streams look every
`STREAM_FALLBACK_SECONDS`. On SQLite (one process, development) there is no listener and
streams look every `STREAM_POLL_SECONDS`.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.engine import Engine as DatabaseEngine

from bot.models import HANDOFF_EVENTS_CHANNEL

logger = logging.getLogger(__name__)


class Bell:
    """Wakes every waiter of this process at once."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.rings = 0
        #: True while a listener is connected: only then may a stream wait for a ring instead of polling.
        self.listening = False

    def ring(self) -> None:
        event, self._event = self._event, asyncio.Event()
        self.rings += 1
        event.set()

    def ticket(self) -> asyncio.Event:
        """Take before looking at the database, wait on after: a ring in between is not missed."""
        return self._event

    @staticmethod
    async def wait(ticket: asyncio.Event, timeout: float) -> bool:
        """Until the ring of `ticket` or `timeout` seconds; True when rung."""
        try:
            await asyncio.wait_for(ticket.wait(), timeout)
            return True
        except TimeoutError:
            return False


def listen_url(database: DatabaseEngine) -> str | None:
    """The libpq URL to LISTEN on, or None when the database is not PostgreSQL."""
    if database.dialect.name != "postgresql":
        return None
    return database.url.set(drivername="postgresql").render_as_string(hide_password=False)


class Listener:
    """One connection per process in `LISTEN handoff_events`; reconnects with backoff after a database restart."""

    def __init__(self, url: str, bell: Bell, *, backoff: float = 0.5, max_backoff: float = 10.0):
        self.url, self.bell = url, bell
        self.backoff, self.max_backoff = backoff, max_backoff
        self.connected = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        import psycopg

        delay = self.backoff
        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                    await conn.execute(f"LISTEN {HANDOFF_EVENTS_CHANNEL}")
                    self.connected.set()
                    self.bell.listening = True
                    self.bell.ring()  # whatever happened while we were not listening: look now
                    delay = self.backoff
                    while not stop.is_set():
                        # Returns after `timeout` without a notification, so `stop` is seen within a second.
                        async for _ in conn.notifies(timeout=1.0):
                            self.bell.ring()
                        await conn.execute("SELECT 1")  # a dead connection raises here, not silently
                self.bell.listening = False
            except (psycopg.Error, OSError) as exc:
                self.connected.clear()
                self.bell.listening = False
                logger.warning("live updates: listener lost the database (%s); reconnecting in %.1f s",
                               type(exc).__name__, delay)
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except TimeoutError:
                    pass
                delay = min(delay * 2, self.max_backoff)
