"""Request bodies: a size cap before anything reads them, and a 400 (never a 500) for bodies that can't be parsed."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1_000_000
#: Paths that take a larger body: the web chat's payslip upload (a 10 MB photo or PDF, and its multipart framing).
LARGER_BODIES = {"/channels/web/uploads": 10 * 1024 * 1024 + 64 * 1024}


def _drop_nul(value: Any) -> Any:
    return value.replace("\x00", "") if isinstance(value, str) else value


#: Text a person types into a form or the API: without NUL characters (PostgreSQL text can't hold them), before
#: the length checks (so "\x00" alone is empty).
TypedText = Annotated[str, BeforeValidator(_drop_nul)]


class BodyLimit:
    """Pure ASGI middleware: a body over `limit` bytes gets 413 before the app sees any of it.

    The body is read here (at most `limit` bytes are held) and replayed to the app, so a declared
    Content-Length and a chunked body without one are capped alike.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = LARGER_BODIES.get(scope.get("path", ""), self.limit)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"request body larger than {limit} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def install(app: FastAPI) -> None:
    """Cap bodies; answer unparseable JSON with 400 (FastAPI says 422), and nesting too deep to parse too."""
    app.add_middleware(BodyLimit)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(error.get("type") == "json_invalid" for error in errors):
            return JSONResponse({"detail": "body is not valid JSON"}, status_code=400)
        return JSONResponse({"detail": _plain(errors)}, status_code=422)

    @app.exception_handler(RecursionError)
    async def too_deep(request: Request, exc: RecursionError) -> JSONResponse:
        return JSONResponse({"detail": "body is nested too deeply"}, status_code=400)

    default_openapi = app.openapi

    def openapi() -> dict:
        """The documented 422 as the app sends it: FastAPI's list of errors, or the handler's one sentence
        ("cannot read that amount", "unknown intent 'x'")."""
        if app.openapi_schema is None:
            schemas = default_openapi().get("components", {}).get("schemas", {})
            if "HTTPValidationError" in schemas:
                errors = schemas["HTTPValidationError"]["properties"]["detail"]
                schemas["HTTPValidationError"]["properties"]["detail"] = {
                    "title": "Detail", "anyOf": [{k: v for k, v in errors.items() if k != "title"}, {"type": "string"}]}
        return app.openapi_schema

    app.openapi = openapi


def _plain(errors) -> list[dict]:
    """Validation errors without the submitted input (it may be a trainee's message)."""
    return [{k: v for k, v in error.items() if k in ("type", "loc", "msg")} for error in errors]


def parse_json_object(raw: bytes) -> dict | None:
    """The body as a JSON object, or None when it is not one (bad JSON, too deep, not an object)."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None
