"""The real Rasa server with the trained model: bad input never crashes it; the client reports outages clearly."""

from __future__ import annotations

import json

import httpx
import pytest

from bot.nlu_client import MAX_NLU_CHARS, NluClient, NluUnavailable

pytestmark = pytest.mark.nlu

BAD_INPUT = [
    "", " ", "a" * 10_000, "😭😭😭🙏", "\x00\x01\x02 hello \x1b[31m", "\u200b\u200b", "<script>alert(1)</script>",
    "ｶﾀｶﾅ ﾊﾝｶｸ", "𠮷野家", "\ud7ff", "%s%s%n", "' OR 1=1 --",
]


@pytest.mark.parametrize("text", BAD_INPUT, ids=range(len(BAD_INPUT)))
def test_bad_input_gets_200_or_a_clean_4xx_and_the_server_stays_up(nlu_url, text):
    with httpx.Client(base_url=nlu_url, timeout=30) as client:
        response = client.post("/model/parse", json={"text": text})
        assert response.status_code == 200 or 400 <= response.status_code < 500
        if response.status_code == 200:
            assert "intent" in response.json()
        assert client.get("/status").status_code == 200


class RecordingTransport(httpx.AsyncBaseTransport):
    """A real HTTP transport to the real server that keeps every request it sends; `body`, if given,
    replaces the body of each request (to send the real server something our client never would)."""

    def __init__(self, body: bytes | None = None):
        self._http = httpx.AsyncHTTPTransport()
        self._body = body
        self.sent: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._body is not None:
            request = httpx.Request(request.method, request.url, content=self._body,
                                    headers={"Content-Type": "application/json"})
        self.sent.append(request)
        return await self._http.handle_async_request(request)

    async def aclose(self) -> None:
        await self._http.aclose()


GOOD_MESSAGE = ("my company keep my passport and zairyu card", "passport_confiscation")

#: What Rasa 3.6.21 answers to a `/model/parse` body that is not `{"text": "<a string>"}`.
#: Only an empty body gets a 4xx. Every other malformed body gets a 500: the handler (rasa/server.py, `parse`)
#: wraps all its work in `except Exception` -> 500 "ParsingError", which also swallows the 400 it raises itself
#: when a non-string text fails to parse. So a 500 from this server can be our request's fault, not an outage:
#: the server stays up, and the client must turn it into NluUnavailable after its one retry, not loop or crash.
MALFORMED = {
    "empty": (b"", 400, "BadRequest"),
    "not-json": (b"not json", 500, "ParsingError"),
    "no-text": (b"{}", 500, "ParsingError"),
    "text-not-a-string": (b'{"text": 5}', 500, "ParsingError"),
    "array": (b"[]", 500, "ParsingError"),
}


@pytest.mark.parametrize(("body", "status", "reason"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_bodies_are_refused_cleanly(nlu_url, body, status, reason):
    with httpx.Client(base_url=nlu_url, timeout=30) as client:
        response = client.post("/model/parse", content=body, headers={"Content-Type": "application/json"})
        # A JSON error answer (not a dropped connection, not a traceback page) with Rasa's status and reason.
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/json")
        error = response.json()
        assert (error["status"], error["code"], error["reason"]) == ("failure", status, reason), error
        # The server is still up with its model and still understands a good message.
        status_response = client.get("/status")
        assert status_response.status_code == 200 and status_response.json().get("model_file")
        text, intent = GOOD_MESSAGE
        parse = client.post("/model/parse", json={"text": text})
        assert parse.status_code == 200 and parse.json()["intent"]["name"] == intent


@pytest.mark.parametrize("body", [b for b, _, _ in MALFORMED.values()], ids=MALFORMED.keys())
async def test_client_raises_nlu_unavailable_when_the_server_refuses_the_body(nlu_url, body):
    transport = RecordingTransport(body=body)
    client = NluClient(nlu_url, timeout=30, transport=transport)
    try:
        with pytest.raises(NluUnavailable):
            await client.parse("hello")
        assert len(transport.sent) == 2  # one retry, then a clear error: no loop
    finally:
        await client.aclose()
    client = NluClient(nlu_url, timeout=30)
    try:  # what our client sends is still understood
        text, intent = GOOD_MESSAGE
        assert (await client.parse(text)).intent == intent
    finally:
        await client.aclose()


async def test_client_returns_intent_confidence_ranking_entities(nlu_url):
    client = NluClient(nlu_url)
    try:
        parse = await client.parse("lương tối thiểu ở Aichi bao nhiêu")
        assert parse.intent == "minimum_wage" and parse.confidence > 0.5
        assert parse.ranking and parse.ranking[0][0] in ("minimum_wage", "nlu_fallback")
        assert parse.first("prefecture") is not None
        assert await client.healthy()
    finally:
        await client.aclose()


async def test_client_cuts_very_long_text(nlu_url):
    transport = RecordingTransport()
    client = NluClient(nlu_url, timeout=30, transport=transport)
    long_text = "company keep my passport " + "x" * (MAX_NLU_CHARS * 3)
    try:
        parse = await client.parse(long_text)
    finally:
        await client.aclose()
    assert len(transport.sent) == 1
    sent = json.loads(transport.sent[0].content)["text"]
    assert len(sent) <= MAX_NLU_CHARS
    assert long_text.startswith(sent) and sent.startswith("company keep my passport")  # the start is kept
    # The server parsed the cut text. (Which intent 2,000 characters of noise get is the model's business:
    # tests/bot/test_engine.py checks what the trainee is answered.)
    assert parse.intent is not None and parse.ranking


async def test_client_says_clearly_when_the_server_is_down():
    client = NluClient("http://127.0.0.1:9", timeout=0.5)
    try:
        assert not await client.healthy()
        with pytest.raises(NluUnavailable):
            await client.parse("hello")
    finally:
        await client.aclose()


async def test_client_retries_once_after_a_server_error():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(503)
        return httpx.Response(200, json={"intent": {"name": "greet", "confidence": 0.9}, "intent_ranking": [], "entities": []})

    client = NluClient("http://nlu.test", transport=httpx.MockTransport(handler))
    try:
        assert (await client.parse("hi")).intent == "greet"
        assert len(calls) == 2
    finally:
        await client.aclose()
