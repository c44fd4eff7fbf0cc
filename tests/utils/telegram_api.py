"""A loopback server that plays the Telegram Bot API for tests: it records every call and answers like Telegram.

PTB posts form-encoded bodies to `<base_url><token>/<method>`; non-string values arrive JSON-encoded.
`sendMessage` texts in HTML mode are checked the way Telegram does (supported tags only, `<`, `>`, `&`
escaped, at most 4096 characters after entity parsing) and refused with 400 otherwise, so a test sees
what the user would: a message that arrives, or one that doesn't.
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote

BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "RightsBot", "username": "rights_helper_bot"}
#: Parameters PTB sends JSON-encoded (everything that isn't a string).
JSON_PARAMS = {"chat_id", "reply_markup", "allowed_updates", "max_connections", "drop_pending_updates",
               "show_alert", "cache_time", "link_preview_options", "reply_parameters", "disable_notification"}
TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "tg-emoji",
        "code", "pre", "blockquote"}
_TAG = re.compile(r"<(/?)([a-z-]+)(?:\s[^<>]*)?>")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")


@dataclass
class Call:
    method: str
    params: dict
    status: int
    at: float


class HtmlError(ValueError):
    pass


def visible_text(text: str) -> str:
    """The text Telegram shows for an HTML message; raises HtmlError where Telegram answers 400."""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "<":
            match = _TAG.match(text, i)
            if not match or match.group(2) not in TAGS:
                raise HtmlError(f"Bad Request: can't parse entities: Unsupported start tag at byte offset {i}")
            closing, name = match.group(1), match.group(2)
            if closing:
                if not stack or stack.pop() != name:
                    raise HtmlError(f"Bad Request: can't parse entities: Unmatched end tag at byte offset {i}")
            else:
                stack.append(name)
            i = match.end()
        elif char == "&":
            match = _ENTITY.match(text, i)
            if not match:
                raise HtmlError(f"Bad Request: can't parse entities: bare '&' at byte offset {i}")
            out.append(html.unescape(match.group(0)))
            i = match.end()
        elif char == ">":
            raise HtmlError(f"Bad Request: can't parse entities: unescaped '>' at byte offset {i}")
        else:
            out.append(char)
            i += 1
    if stack:
        raise HtmlError("Bad Request: can't parse entities: Can't find end tag corresponding to start tag")
    return "".join(out)


class FakeBotApi:
    """`with FakeBotApi(token) as api:` serves on 127.0.0.1:<api.port>; `api.base_url` goes to BotSettings."""

    def __init__(self, token: str):
        self.token = token
        self.calls: list[Call] = []
        self._failures: dict[str, deque[tuple[int, dict]]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._message_ids = iter(range(1001, 10**9))
        #: Files trainees "sent" (file_id → bytes): getFile describes them, GET /file/bot<token>/<path> serves them.
        self.files: dict[str, bytes] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/bot"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-bot-api", daemon=True)

    def __enter__(self) -> FakeBotApi:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------------ scripting and reading
    def fail_next(self, method: str, status: int, description: str, **parameters) -> None:
        """Answer the next call of `method` with an error (e.g. 429 with retry_after=1)."""
        body = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        with self._lock:
            self._failures[method].append((status, body))

    def hang_next(self, method: str, seconds: float) -> None:
        """The next call of `method` gets no answer: the connection is held `seconds`, then closed, and the call
        is not carried out (the client's timeout must fire and it must send again)."""
        with self._lock:
            self._failures[method].append((0, {"hang": seconds}))

    def calls_of(self, method: str, *, ok_only: bool = True) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and (c.status == 200 or not ok_only)]

    def messages_to(self, chat_id: int) -> list[dict]:
        """The sendMessage parameters Telegram accepted for `chat_id`, in order."""
        return [c.params for c in self.calls_of("sendMessage") if c.params.get("chat_id") == chat_id]

    # ------------------------------------------------------------------ the Bot API
    def _answer(self, method: str, params: dict) -> tuple[int, dict]:
        with self._lock:
            if self._failures[method]:
                return self._failures[method].popleft()
        if method == "getMe":
            return 200, {"ok": True, "result": {**BOT_USER, "can_join_groups": False,
                                                "can_read_all_group_messages": False,
                                                "supports_inline_queries": False}}
        if method == "sendMessage":
            return self._send_message(params)
        if method == "getFile":
            data = self.files.get(params.get("file_id", ""))
            if data is None:
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}
            return 200, {"ok": True, "result": {"file_id": params["file_id"], "file_unique_id": params["file_id"],
                                                "file_size": len(data), "file_path": f"photos/{params['file_id']}.jpg"}}
        if method in {"answerCallbackQuery", "setWebhook", "deleteWebhook"}:
            return 200, {"ok": True, "result": True}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}

    def _send_message(self, params: dict) -> tuple[int, dict]:
        text = params.get("text") or ""
        try:
            shown = visible_text(text) if params.get("parse_mode") == "HTML" else text
        except HtmlError as exc:
            return 400, {"ok": False, "error_code": 400, "description": str(exc)}
        if not shown.strip():
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"}
        if len(shown.encode("utf-16-le")) // 2 > 4096:
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"}
        for row in (params.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                if not 1 <= len(button.get("callback_data", "").encode("utf-8")) <= 64:
                    return 400, {"ok": False, "error_code": 400, "description": "Bad Request: BUTTON_DATA_INVALID"}
        result = {"message_id": next(self._message_ids), "from": BOT_USER,
                  "chat": {"id": params["chat_id"], "type": "private"}, "date": int(time.time()), "text": shown}
        if params.get("reply_markup"):
            result["reply_markup"] = params["reply_markup"]
        return 200, {"ok": True, "result": result}

    def _handler_class(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802: a file download (what getFile's file_path names)
                prefix, path = f"/file/bot{api.token}/photos/", unquote(self.path)  # PTB quotes the token's ":"
                file_id = path[len(prefix):].removesuffix(".jpg") if path.startswith(prefix) else ""
                data = api.files.get(file_id)
                with api._lock:
                    api.calls.append(Call("download", {"file_id": file_id}, 200 if data else 404, time.monotonic()))
                if data is None:
                    self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                prefix = f"/bot{api.token}/"
                if not self.path.startswith(prefix):
                    self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                    return
                method = self.path[len(prefix):]
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8") if length else ""
                params = {}
                for key, values in parse_qs(raw, keep_blank_values=True).items():
                    params[key] = json.loads(values[0]) if key in JSON_PARAMS else values[0]
                status, body = api._answer(method, params)
                with api._lock:
                    api.calls.append(Call(method, params, status, time.monotonic()))
                if status == 0:  # hang_next: no answer, then the connection is closed
                    time.sleep(body["hang"])
                    self.close_connection = True
                    return
                self._reply(status, body)

            def _reply(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:  # the path holds the token: never log it
                pass

        return Handler
