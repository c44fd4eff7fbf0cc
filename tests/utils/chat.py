"""A tiny web-chat driver for tests: one browser (its own cookie jar), text or a button press, JSON back."""

from __future__ import annotations

import httpx

from api.channels.web import COOKIE


class WebChat:
    """One trainee's browser: the server's identity cookie is kept in this chat's own cookie jar."""

    def __init__(self, client: httpx.AsyncClient, lang: str | None = None):
        self.client = httpx.AsyncClient(transport=client._transport, base_url=client.base_url)
        self.lang = lang

    @property
    def user_id(self) -> str | None:
        """The id the server put in the signed cookie (`<id>.<signature>`)."""
        signed = self.client.cookies.get(COOKIE)
        return signed.rsplit(".", 1)[0] if signed else None

    async def post(self, body: dict) -> httpx.Response:
        return await self.client.post("/channels/web/messages", json=body)

    async def say(self, text: str, **extra) -> dict:
        body = {"text": text, **extra}
        if self.lang and "lang" not in body:
            body["lang"] = self.lang
        response = await self.post(body)
        assert response.status_code == 200, response.text
        return response.json()

    async def press(self, payload: str) -> dict:
        body = {"payload": payload}
        if self.lang:
            body["lang"] = self.lang
        response = await self.post(body)
        assert response.status_code == 200, response.text
        return response.json()


def text_of(body: dict) -> str:
    return "\n".join((f"{r['title']}\n{r['text']}" if r.get("title") else r["text"]) for r in body["replies"])


def payloads(body: dict) -> list[str]:
    return [b["payload"] for r in body["replies"] for b in r["buttons"]]


def assert_topic_answer(body: dict, entry, topic: str, lang: str) -> None:
    """The web chat answered `topic` with its entry's first reply: the intent, the title, the answer, the most
    trusted source named, and the More, person and menu buttons."""
    from bot import replies

    assert body["meta"]["intent"] == topic
    reply = body["replies"][0]
    assert reply["title"] == entry.title and entry.answer in reply["text"]
    assert replies.source_line(lang, entry.sources) in reply["text"]
    assert {"human", "menu", f"more:{topic}"} <= set(payloads(body))
