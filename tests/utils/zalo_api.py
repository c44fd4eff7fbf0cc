"""A loopback stand-in for Zalo's OA API and OAuth v4 endpoint, and builders of signed webhook events.

`ZaloCapture` records every call and answers like Zalo: `{"error": 0, "message": "Success", "data": {...}}`
for `POST /v3.0/oa/message/cs`, and the bare `{"access_token", "refresh_token", "expires_in"}` of
`POST /v4/oa/access_token`. Queue special answers (an expired token, a 502) with `answer_next`.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from bot.channels.zalo import expected_signature

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "zalo"
APP_ID = "360846524940903967"  # the app id of the official samples
OA_SECRET_KEY = "test_oa_secret"
APP_SECRET = "test_app_secret"
ACCESS_TOKEN = "access-token-1"
REFRESH_TOKEN = "refresh-token-1"

_msg_ids = itertools.count(1)


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: Any  # JSON for the OA API, the form (dict of str) for OAuth
    answer: dict = field(default_factory=dict)


class ZaloCapture:
    """Plays openapi.zalo.me and oauth.zaloapp.com on 127.0.0.1 (a free port, a thread of this process)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.valid_access_token = ACCESS_TOKEN
        self.valid_refresh_token = REFRESH_TOKEN
        self._queued: list[tuple[int, dict | None]] = []
        #: Images users "sent" (path → (bytes, content type)), served on GET as Zalo's CDN serves them.
        self.files: dict[str, tuple[bytes, str]] = {}
        self._tokens = itertools.count(2)
        self._lock = threading.Lock()
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = capture._handle(self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
                data = json.dumps(answer).encode() if answer is not None else b"Bad Gateway"
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if answer is not None else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802: an image a user sent, at the URL of its event (Zalo's CDN)
                found = capture.files.get(self.path)
                capture.calls.append(Call(self.path, {k.lower(): v for k, v in self.headers.items()}, None))
                self.send_response(200 if found else 404)
                data, content_type = found or (b"not found", "text/plain")
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ZaloCapture:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer_next(self, status: int, answer: dict | None = None) -> None:
        """Answer the next message send with this (status, JSON) instead of handling it."""
        self._queued.append((status, answer))

    def expire_access_token(self) -> None:
        """The next send gets -220, as Zalo answers once a token has expired."""
        self.answer_next(200, {"error": -220, "message": "access_token is expired or removed"})

    # ------------------------------------------------------------------ what the tests read
    def sends(self, user_id: str | None = None) -> list[Call]:
        # A send cut off by a killed app process may arrive without its body: it is no send to that user.
        return [c for c in self.calls if c.path == "/v3.0/oa/message/cs"
                and (user_id is None or ((c.body or {}).get("recipient") or {}).get("user_id") == user_id)]

    def delivered(self, user_id: str | None = None) -> list[str]:
        """Texts Zalo accepted, in order: what the user sees."""
        return [c.body["message"]["text"] for c in self.sends(user_id) if c.answer.get("error") == 0]

    def refreshes(self) -> list[Call]:
        return [c for c in self.calls if c.path == "/v4/oa/access_token"]

    # ------------------------------------------------------------------ the fake Zalo
    def _handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict | None]:
        with self._lock:
            if path == "/v4/oa/access_token":
                form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                call = Call(path, headers, form)
                status, call.answer = 200, self._refresh(headers, form)
            else:
                call = Call(path, headers, json.loads(raw or b"{}"))
                status, call.answer = self._queued.pop(0) if self._queued else (200, self._send(headers, call.body))
                call.answer = call.answer or {}
            self.calls.append(call)
            return status, call.answer or None

    def _send(self, headers: dict[str, str], body: dict) -> dict:
        text = (body.get("message") or {}).get("text") or ""
        if not (body.get("recipient") or {}).get("user_id") or not text or len(text) > 2000:
            return {"error": -201, "message": "message is invalid!"}
        if headers.get("access_token") != self.valid_access_token:
            return {"error": -216, "message": "Access token is invalid"}
        return {"error": 0, "message": "Success", "data": {
            "message_id": f"{next(_msg_ids):020x}", "user_id": body["recipient"]["user_id"],
            "sent_time": str(int(time.time() * 1000)),
        }}

    def _refresh(self, headers: dict[str, str], form: dict[str, str]) -> dict:
        if (headers.get("secret_key") != APP_SECRET or form.get("app_id") != APP_ID
                or form.get("grant_type") != "refresh_token" or form.get("refresh_token") != self.valid_refresh_token):
            return {"error": -14014, "error_name": "Invalid refresh token"}  # shape unverified (docs/zalo.md)
        n = next(self._tokens)
        self.valid_access_token, self.valid_refresh_token = f"access-token-{n}", f"refresh-token-{n}"
        return {"access_token": self.valid_access_token, "refresh_token": self.valid_refresh_token,
                "expires_in": "90000"}


# ---------------------------------------------------------------------- webhook events
def event(name: str, *, text: str | None = None, user_id: str | None = None, msg_id: str | None = None,
          timestamp_ms: int | None = None) -> dict:
    """A recorded event shape from tests/fixtures/zalo/, with a current timestamp and a fresh msg_id."""
    body = copy.deepcopy(json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8")))
    body["timestamp"] = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    if "message" in body:
        body["message"]["msg_id"] = msg_id or f"{next(_msg_ids):020x}"
        if text is not None:
            body["message"]["text"] = text
    if user_id is not None:
        body["follower" if "follower" in body else "sender"]["id"] = user_id
    return body


def signed(body: dict, *, secret: str = OA_SECRET_KEY) -> tuple[bytes, dict[str, str]]:
    """The raw bytes Zalo would post (UTF-8 JSON) and its headers, with the X-ZEvent-Signature."""
    raw = json.dumps(body, ensure_ascii=False).encode()
    mac = expected_signature(raw, app_id=str(body.get("app_id", "")), timestamp=str(body.get("timestamp", "")),
                             oa_secret_key=secret)
    return raw, {"Content-Type": "application/json", "User-Agent": "ZaloWebhook", "X-ZEvent-Signature": mac}
