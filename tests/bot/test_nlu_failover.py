"""Several NLU servers behind one client: parses are spread over them, a dead or failing one is skipped, a
recovered one is used again, and only when all are down does the client give up (the engine then answers
with the menu, the person option and the emergency path: tests/bot/test_engine.py)."""

from __future__ import annotations

import httpx
import pytest

from bot.nlu_client import NluClient, NluUnavailable, nlu_urls

GREET = {"intent": {"name": "greet", "confidence": 0.9}, "intent_ranking": [], "entities": []}


class Servers:
    """Fake Rasa servers by host name: each is up, down (connection refused) or answering 500."""

    def __init__(self, *names: str):
        self.state = {name: "up" for name in names}
        self.parses: list[str] = []
        self.tried: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if request.url.path == "/model/parse":
            self.tried.append(host)
        state = self.state[host]
        if state == "down":
            raise httpx.ConnectError("connection refused", request=request)
        if state == "error":
            return httpx.Response(500)
        if request.url.path == "/status":
            return httpx.Response(200, json={"model_file": "model.tar.gz"})
        self.parses.append(host)
        return httpx.Response(200, json=GREET)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def servers():
    return Servers("a", "b")


@pytest.fixture
async def client(servers):
    clock = Clock()
    client = NluClient("http://a, http://b", transport=httpx.MockTransport(servers.handler), cooldown=10,
                       clock=clock)
    client.clock = clock
    yield client
    await client.aclose()


def test_the_setting_takes_one_url_or_several():
    assert nlu_urls("http://127.0.0.1:5005") == ["http://127.0.0.1:5005"]
    assert nlu_urls("http://127.0.0.1:5005/, http://127.0.0.1:5006") == ["http://127.0.0.1:5005",
                                                                          "http://127.0.0.1:5006"]
    with pytest.raises(ValueError):
        nlu_urls(" , ")


async def test_parses_are_spread_over_the_servers(client, servers):
    for _ in range(6):
        assert (await client.parse("hi")).intent == "greet"
    assert servers.parses.count("a") == 3 and servers.parses.count("b") == 3


async def test_a_dead_server_is_skipped_after_one_failure(client, servers):
    servers.state["a"] = "down"
    for _ in range(6):
        assert (await client.parse("hi")).intent == "greet"
    assert servers.parses == ["b"] * 6
    # Only the first parse that went to "a" paid for its failure; the others went straight to "b".
    assert servers.tried.count("a") == 1


async def test_a_server_answering_500_fails_over_too(client, servers):
    servers.state["b"] = "error"
    results = [(await client.parse("hi")).intent for _ in range(4)]
    assert results == ["greet"] * 4 and set(servers.parses) == {"a"}


async def test_a_restarted_server_is_used_again_after_a_health_check(client, servers):
    servers.state["a"] = "down"
    await client.parse("hi")
    await client.parse("hi")
    assert await client.check_all() == {"http://a": False, "http://b": True}
    servers.state["a"] = "up"
    assert await client.check_all() == {"http://a": True, "http://b": True}
    servers.parses.clear()
    for _ in range(4):
        await client.parse("hi")
    assert servers.parses.count("a") == 2


async def test_a_server_is_tried_again_when_its_cooldown_is_over(client, servers):
    servers.state["a"] = "down"
    await client.parse("hi")
    servers.state["a"] = "up"
    servers.parses.clear()
    for _ in range(4):
        await client.parse("hi")
    assert servers.parses == ["b"] * 4  # still cooling down
    client.clock.now += 11
    for _ in range(4):
        await client.parse("hi")
    assert "a" in servers.parses


async def test_with_every_server_down_the_client_says_so(client, servers):
    servers.state.update(a="down", b="error")
    with pytest.raises(NluUnavailable):
        await client.parse("hi")
    assert not await client.healthy()
    servers.state["b"] = "up"
    assert await client.healthy()
    assert (await client.parse("hi")).intent == "greet"
