"""The real Rasa server with the trained model: bad input never crashes it; the client reports outages clearly."""

from __future__ import annotations

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


def test_malformed_bodies_are_refused_cleanly(nlu_url):
    with httpx.Client(base_url=nlu_url, timeout=30) as client:
        for body in (b"not json", b"{}", b'{"text": 5}', b"[]"):
            response = client.post("/model/parse", content=body, headers={"Content-Type": "application/json"})
            assert response.status_code < 500 or response.status_code == 500 and client.get("/status").status_code == 200
        assert client.get("/status").status_code == 200


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
    client = NluClient(nlu_url)
    try:
        parse = await client.parse("company keep my passport " + "x" * (MAX_NLU_CHARS * 3))
        assert parse.intent is not None
    finally:
        await client.aclose()


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
