"""The one place that speaks Rasa's HTTP API (`POST /model/parse`, `GET /status`)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass, field

import httpx

logger = logging.getLogger(__name__)

#: Longer text is cut before it is sent to the NLU (the bot keeps the whole message, and danger words are
#: checked on all of it). The classifier was trained on one- or two-sentence questions: a long story drifts
#: to other intents (measured: "my company keep my passport. blah blah…" is `goodbye` from ~100 characters
#: on), so the NLU reads the opening, where trainees put their question, cut at a sentence end.
MAX_NLU_CHARS = 300
_SENTENCE_END = re.compile(r"[.!?。！？\n]")


def nlu_text(text: str, limit: int = MAX_NLU_CHARS) -> str:
    """The part of `text` the NLU reads: all of it when short, else the opening sentences within `limit`."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    if ends and ends[-1] >= 20:
        return head[: ends[-1]].strip()
    space = head.rfind(" ")
    return head[:space] if space >= limit // 2 else head


class NluUnavailable(RuntimeError):
    """The NLU server is down, too slow, or answered with an error."""


@dataclass(frozen=True)
class Entity:
    entity: str
    value: str
    text: str
    start: int
    end: int
    confidence: float | None = None


@dataclass(frozen=True)
class Parse:
    intent: str | None
    confidence: float
    ranking: tuple[tuple[str, float], ...] = ()
    entities: tuple[Entity, ...] = field(default=())

    def first(self, name: str) -> Entity | None:
        return next((e for e in self.entities if e.entity == name), None)


def _parse_body(body: dict, text: str) -> Parse:
    intent = body.get("intent") or {}
    entities = []
    for e in body.get("entities") or []:
        start, end = int(e.get("start", 0)), int(e.get("end", 0))
        entities.append(
            Entity(
                entity=str(e.get("entity")),
                value=str(e.get("value")),
                text=text[start:end] or str(e.get("value")),
                start=start,
                end=end,
                confidence=e.get("confidence_entity"),
            )
        )
    ranking = tuple((r["name"], float(r["confidence"])) for r in body.get("intent_ranking") or [] if r.get("name"))
    name = intent.get("name")
    confidence = float(intent.get("confidence") or 0.0)
    if name == "nlu_fallback":
        # FallbackClassifier: report the best real intent with its (low) confidence.
        real = [(n, c) for n, c in ranking if n != "nlu_fallback"]
        name, confidence = real[0] if real else (None, 0.0)
    return Parse(intent=name, confidence=confidence, ranking=ranking, entities=tuple(entities))


def nlu_urls(value: str) -> list[str]:
    """The Rasa base URLs of a setting: one URL, or several separated by commas (or spaces)."""
    urls = [u.strip().rstrip("/") for u in re.split(r"[,\s]+", value) if u.strip()]
    if not urls:
        raise ValueError("NLU_URL names no server")
    return urls


class _Backend:
    """One Rasa server: its HTTP client and since when it is considered down (0: up)."""

    def __init__(self, url: str, *, timeout: float, transport: httpx.AsyncBaseTransport | None):
        self.url = url
        self.client = httpx.AsyncClient(base_url=url, timeout=timeout, transport=transport)
        self.down_until = 0.0

    def up(self, now: float) -> bool:
        return self.down_until <= now


class NluClient:
    """Async client for one or several Rasa NLU servers: parses spread round-robin over the servers that are up,
    failed over to the next one on a connection error, a timeout or a 5xx (and retried once with a single server),
    and health-checked.

    A server that failed is skipped for `cooldown` seconds (so a hung one costs one timeout, not one per
    message), then tried again; `check_all` (the app runs it every few seconds) brings a recovered one back
    sooner and takes one that stopped answering out. Every app process keeps its own view: nothing is shared,
    a server's state is re-learnt in one timeout at most.
    """

    def __init__(self, base_url: str | list[str], *, timeout: float = 3.0,
                 transport: httpx.AsyncBaseTransport | None = None, cooldown: float = 10.0,
                 clock=time.monotonic):
        urls = nlu_urls(base_url) if isinstance(base_url, str) else [u.rstrip("/") for u in base_url]
        self._backends = [_Backend(u, timeout=timeout, transport=transport) for u in urls]
        self._next = 0
        self._cooldown = cooldown
        self._clock = clock

    @property
    def urls(self) -> list[str]:
        return [b.url for b in self._backends]

    def _order(self) -> list[_Backend]:
        """The servers to try for one parse: those up, starting with the next in turn, then those down (they may
        have come back); with one server, that server twice (one retry)."""
        n = len(self._backends)
        start, self._next = self._next, (self._next + 1) % n
        turn = [self._backends[(start + i) % n] for i in range(n)]
        now = self._clock()
        order = [b for b in turn if b.up(now)] + [b for b in turn if not b.up(now)]
        return order * 2 if n == 1 else order

    def _mark_down(self, backend: _Backend) -> None:
        backend.down_until = self._clock() + self._cooldown

    async def parse(self, text: str) -> Parse:
        """Intent, confidence, ranking and entities of `text` (its opening, when it is long: `nlu_text`)."""
        text = nlu_text(text)
        last_error: Exception | None = None
        for attempt, backend in enumerate(self._order(), start=1):
            try:
                response = await backend.client.post("/model/parse", json={"text": text})
                if response.status_code >= 500:
                    raise NluUnavailable(f"NLU server answered {response.status_code}")
                response.raise_for_status()
                parse = _parse_body(response.json(), text)
                backend.down_until = 0.0
                return parse
            except (httpx.HTTPError, NluUnavailable, ValueError) as exc:
                last_error = exc
                self._mark_down(backend)
                logger.warning("NLU parse failed at %s (attempt %d): %s", backend.url, attempt, type(exc).__name__)
        raise NluUnavailable(str(last_error)) from last_error

    async def _check(self, backend: _Backend, timeout: float) -> bool:
        try:
            response = await backend.client.get("/status", timeout=timeout)
            ok = response.status_code == 200 and bool(response.json().get("model_file"))
        except (httpx.HTTPError, ValueError):
            ok = False
        if ok:
            backend.down_until = 0.0
        elif backend.up(self._clock()):
            self._mark_down(backend)
        return ok

    async def check_all(self, *, timeout: float = 2.0) -> dict[str, bool]:
        """Ask every server for its status at once (within `timeout`); returns {url: up}."""
        results = await asyncio.gather(*(self._check(b, timeout) for b in self._backends))
        return {b.url: ok for b, ok in zip(self._backends, results)}

    async def healthy(self, *, timeout: float = 2.0) -> bool:
        """True when at least one server answers (within `timeout`: a health check must not hang) with a model."""
        return any((await self.check_all(timeout=timeout)).values())

    async def run_health_checks(self, *, stop: asyncio.Event, every: float = 5.0) -> None:
        """Check the servers every `every` seconds until `stop` (only worth it with more than one server)."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=every)
            except asyncio.TimeoutError:
                await self.check_all()

    async def aclose(self) -> None:
        for backend in self._backends:
            await backend.client.aclose()
