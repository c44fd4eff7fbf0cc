"""Quick checks of the engine through the web chat endpoint, against the real NLU server."""

from __future__ import annotations

from tests.utils.chat import WebChat, payloads, text_of


async def test_minimum_wage_with_prefecture_in_vietnamese(client):
    chat = WebChat(client, lang="vi")
    body = await chat.say("luong toi thieu o aichi bao nhieu vay")
    assert body["meta"]["intent"] == "minimum_wage"
    assert "1.140" in text_of(body)
