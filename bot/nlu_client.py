"""The one place that speaks Rasa's HTTP API (`POST /model/parse`, `GET /status`)."""

from __future__ import annotations

import logging
import re
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


class NluClient:
    """Async client for the Rasa NLU server: timeout, one retry, health check."""

    def __init__(self, base_url: str, *, timeout: float = 3.0, transport: httpx.AsyncBaseTransport | None = None):
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport)

    async def parse(self, text: str) -> Parse:
        """Intent, confidence, ranking and entities of `text` (its opening, when it is long: `nlu_text`)."""
        text = nlu_text(text)
        last_error: Exception | None = None
        for attempt in (1, 2):
            try:
                response = await self._client.post("/model/parse", json={"text": text})
                if response.status_code >= 500:
                    raise NluUnavailable(f"NLU server answered {response.status_code}")
                response.raise_for_status()
                return _parse_body(response.json(), text)
            except (httpx.HTTPError, NluUnavailable, ValueError) as exc:
                last_error = exc
                logger.warning("NLU parse failed (attempt %d): %s", attempt, type(exc).__name__)
        raise NluUnavailable(str(last_error)) from last_error

    async def healthy(self, *, timeout: float = 2.0) -> bool:
        """True when the server answers (within `timeout`: a health check must not hang) and has a model loaded."""
        try:
            response = await self._client.get("/status", timeout=timeout)
            return response.status_code == 200 and bool(response.json().get("model_file"))
        except (httpx.HTTPError, ValueError):
            return False

    async def aclose(self) -> None:
        await self._client.aclose()
