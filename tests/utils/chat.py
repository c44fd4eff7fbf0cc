"""A tiny web-chat driver for tests: send text or a button press as one user, get the JSON back."""

from __future__ import annotations

import itertools

_ids = itertools.count(1)


class WebChat:
    def __init__(self, client, user_id: str | None = None, lang: str | None = None):
        self.client = client
        self.user_id = user_id or f"test-user-{next(_ids)}"
        self.lang = lang

    async def say(self, text: str, **extra) -> dict:
        body = {"user_id": self.user_id, "text": text, **extra}
        if self.lang and "lang" not in body:
            body["lang"] = self.lang
        response = await self.client.post("/channels/web/messages", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    async def press(self, payload: str) -> dict:
        body = {"user_id": self.user_id, "payload": payload}
        if self.lang:
            body["lang"] = self.lang
        response = await self.client.post("/channels/web/messages", json=body)
        assert response.status_code == 200, response.text
        return response.json()


def text_of(body: dict) -> str:
    return "\n".join((f"{r['title']}\n{r['text']}" if r.get("title") else r["text"]) for r in body["replies"])


def payloads(body: dict) -> list[str]:
    return [b["payload"] for r in body["replies"] for b in r["buttons"]]
