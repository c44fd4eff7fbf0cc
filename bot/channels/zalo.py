"""Zalo Official Account (OA): webhook signature check, event parsing, and the OA API client.

The route (`api/channels/zalo.py`) hands the raw body here and gets a plain `Inbound` back. Replies go out
as customer-service ("Tư vấn") text messages, `POST /v3.0/oa/message/cs`. Facts and their confidence:
`shared/reference/channels.md` Part A; what no capture has confirmed yet is listed in `docs/zalo.md`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.config import BotSettings
from bot.engine import SendFailed
from bot.models import ChannelCredential
from bot.schemas import Inbound, Kind, Reply

logger = logging.getLogger(__name__)

CHANNEL = "zalo"
#: "Giới hạn tối đa là 2.000 ký tự" (A3.1). How Zalo counts is not documented: we count UTF-16 units, the larger count.
TEXT_LIMIT = 2000
#: No replay window is documented (A2.2). Redeliveries keep the original body and come up to ~2 h after the first
#: attempt (30 s, 5, 15, 30, 60 min), so a 5-minute window would drop them; 3 h keeps them and still refuses old captures.
REPLAY_WINDOW = dt.timedelta(hours=3)
CLOCK_SKEW = dt.timedelta(minutes=5)
#: -216 "Access token is invalid", -220 "access_token is expired or removed": refresh, then retry once (A3.3).
TOKEN_REJECTED = frozenset({-216, -220})
#: -32 "reached limit call api" (rate limit): worth another try, like HTTP 429/5xx and timeouts.
RETRYABLE_ERRORS = frozenset({-32})
#: The access token lasts 25 h (A4); refresh before sending when less than this remains.
REFRESH_MARGIN = dt.timedelta(hours=1)
#: The refresh token lasts 3 months (A4); recorded for operators, not enforced.
REFRESH_TOKEN_LIFETIME = dt.timedelta(days=90)

MEDIA_KINDS = {
    "user_send_image": Kind.photo,
    "user_send_gif": Kind.photo,
    "user_send_sticker": Kind.sticker,
    "user_send_audio": Kind.voice,
    "user_send_video": Kind.video,
    "user_send_file": Kind.file,
    "user_send_location": Kind.location,
    "user_send_link": Kind.other,
    "user_send_business_card": Kind.other,
}


class SignatureError(Exception):
    """The X-ZEvent-Signature header is missing or does not match (or the event is for another app)."""


class StaleEvent(Exception):
    """A correctly signed event whose timestamp is outside the replay window."""


class ZaloError(Exception):
    """The OA API or the OAuth endpoint refused a call (or could not be reached)."""

    def __init__(self, code: int | None, message: str):
        super().__init__(f"zalo error {code}: {message}" if code is not None else f"zalo: {message}")
        self.code = code


# --------------------------------------------------------------------------------------------- webhook
# Signature: we implement the formula of channels.md A2.1, the one confirmed by three production implementations
# (NukeViet, gobysend, Chatwoot) and by the official docs as quoted:
#     X-ZEvent-Signature = "mac=" + hex(SHA-256(app_id + raw_body + timestamp + OA_secret_key))
# - a plain SHA-256 of the concatenation, NOT an HMAC (the HMAC-over-body variant in several small repos is wrong);
# - `raw_body` is the request bytes as received, never re-serialized JSON;
# - `app_id` and `timestamp` are the body fields, as their exact strings (the official samples send them as JSON
#   strings; a JSON number is taken as its digits, which Python parses without float loss);
# - the key is the OA Secret Key of the app's Webhook page, not the App Secret (that one only signs OAuth calls).
# We hash the body's `app_id` (as NukeViet and gobysend do) and then also require it to be our configured app id,
# which makes this equal to Chatwoot's variant that hashes its stored app id.
# Rejected variants (A2.3): `oa_id` as the first term and a timestamp header (one source, contradicted by the rest).
# Unconfirmed: whether an `X-ZEvent-Timestamp` header exists (we ignore it), and any documented replay window.
def expected_signature(raw_body: bytes, *, app_id: str, timestamp: str, oa_secret_key: str) -> str:
    """The header value Zalo sends for this body: `mac=<64 lowercase hex>`."""
    digest = hashlib.sha256(app_id.encode() + raw_body + timestamp.encode() + oa_secret_key.encode()).hexdigest()
    return f"mac={digest}"


def verify_signature(raw_body: bytes, body: dict[str, Any], header: str | None, *, app_id: str,
                     oa_secret_key: str) -> None:
    """Raise SignatureError unless `header` is Zalo's signature of `raw_body` for our app."""
    if not header:
        raise SignatureError("missing X-ZEvent-Signature")
    body_app_id = _text(body.get("app_id"))
    expected = expected_signature(raw_body, app_id=body_app_id, timestamp=_text(body.get("timestamp")),
                                  oa_secret_key=oa_secret_key)
    received = "mac=" + header.strip().removeprefix("mac=").strip().lower()
    if not hmac.compare_digest(received.encode(), expected.encode()):
        raise SignatureError("X-ZEvent-Signature does not match")
    if body_app_id != app_id:
        raise SignatureError("event for another app")


#: The two signed fields, read from the raw bytes without parsing them (a JSON string or a bare number).
_SIGNED_FIELD = {name: re.compile(rb'"' + name.encode() + rb'"\s*:\s*(?:"([0-9A-Za-z_.-]{1,64})"|([0-9]{1,20}))')
                 for name in ("app_id", "timestamp")}


def signed_fields(raw_body: bytes) -> tuple[str, str]:
    """`app_id` and `timestamp` as the raw body spells them (first occurrence), for checking the signature
    before anything parses the body. Empty strings when absent."""
    values = []
    for name in ("app_id", "timestamp"):
        match = _SIGNED_FIELD[name].search(raw_body)
        values.append((match.group(1) or match.group(2)).decode("ascii") if match else "")
    return values[0], values[1]


def verify_raw(raw_body: bytes, header: str | None, *, app_id: str, oa_secret_key: str) -> None:
    """Raise SignatureError unless `header` signs `raw_body` for our app; reads nothing but two fields.

    After parsing, `check_signed_fields` makes sure the parsed body carries the very values we hashed.
    """
    if not header:
        raise SignatureError("missing X-ZEvent-Signature")
    body_app_id, timestamp = signed_fields(raw_body)
    expected = expected_signature(raw_body, app_id=body_app_id, timestamp=timestamp, oa_secret_key=oa_secret_key)
    received = "mac=" + header.strip().removeprefix("mac=").strip().lower()
    if not hmac.compare_digest(received.encode(), expected.encode()):
        raise SignatureError("X-ZEvent-Signature does not match")
    if body_app_id != app_id:
        raise SignatureError("event for another app")


def check_signed_fields(raw_body: bytes, body: dict[str, Any]) -> None:
    """The parsed body's app_id and timestamp are the ones the signature covered."""
    if (_text(body.get("app_id")), _text(body.get("timestamp"))) != signed_fields(raw_body):
        raise SignatureError("signed fields differ from the parsed body")


def check_timestamp(body: dict[str, Any], *, now: dt.datetime | None = None) -> None:
    """Raise StaleEvent when the (signed) event time is outside the replay window."""
    sent_at = event_time(body)
    now = now or dt.datetime.now(dt.UTC)
    if sent_at is None or sent_at < now - REPLAY_WINDOW or sent_at > now + CLOCK_SKEW:
        raise StaleEvent(f"event time {body.get('timestamp')!r} is outside the replay window")


def event_time(body: dict[str, Any]) -> dt.datetime | None:
    """The body's `timestamp` (Unix milliseconds, usually a string) as a UTC datetime."""
    try:
        return dt.datetime.fromtimestamp(int(_text(body.get("timestamp"))) / 1000, dt.UTC)
    except (ValueError, OverflowError, OSError):
        return None


def is_registration_probe(raw_body: bytes, header: str | None) -> bool:
    """The console's check when the URL is saved: reportedly an unsigned POST of `{}` (single source, A1.1)."""
    return not header and raw_body.strip() == b"{}"


def parse_event(body: dict[str, Any]) -> Inbound | None:
    """The event as an Inbound, or None for events the bot does not answer (our own echoes, receipts, ...)."""
    name = _text(body.get("event_name"))
    sent_at = event_time(body)
    if name in ("follow", "unfollow"):
        follower = _text((body.get("follower") or {}).get("id"))
        if not follower:
            return None
        # No msg_id on follow events; a redelivery repeats the body, so its timestamp makes a stable id.
        return Inbound(channel=CHANNEL, user_id=follower, kind=Kind.follow if name == "follow" else Kind.unfollow,
                       client_language=ZALO_LANGUAGE, message_id=f"{name}:{follower}:{_text(body.get('timestamp'))}", sent_at=sent_at)
    if name != "user_send_text" and name not in MEDIA_KINDS:
        return None  # oa_send_* echoes, user_seen_message, user_submit_info, ...
    user_id = _text((body.get("sender") or {}).get("id"))
    message = body.get("message") or {}
    msg_id = _text(message.get("msg_id")) or None
    if not user_id:
        return None
    if name == "user_send_text":
        return Inbound(channel=CHANNEL, user_id=user_id, kind=Kind.text, text=_text(message.get("text")),
                       client_language=ZALO_LANGUAGE, message_id=msg_id, sent_at=sent_at)
    # Media: the kind is enough for the engine; no captions or coordinates are kept. An image's or a PDF's URL is
    # kept until its turn has read it (the payslip check), then dropped.
    return Inbound(channel=CHANNEL, user_id=user_id, kind=MEDIA_KINDS[name], client_language=ZALO_LANGUAGE,
                   message_id=msg_id, sent_at=sent_at, attachment=readable_attachment(name, message))


#: The largest image or PDF the payslip check downloads.
MAX_FILE_BYTES = 10 * 1024 * 1024


def readable_attachment(event_name: str, message: dict) -> str | None:
    """The URL of an image, or of a file that is an image or a PDF (the payslip check reads them); else None."""
    attachments = message.get("attachments")
    if event_name not in ("user_send_image", "user_send_file") or not isinstance(attachments, list) or not attachments:
        return None
    first = attachments[0] if isinstance(attachments[0], dict) else {}
    payload = first.get("payload") if isinstance(first.get("payload"), dict) else {}
    url = _text(payload.get("url"))
    if not url.startswith(("https://", "http://")):
        return None
    if event_name == "user_send_file":
        kind = (_text(payload.get("type")) + " " + _text(payload.get("name"))).lower()
        if not any(word in kind for word in ("pdf", "jpg", "jpeg", "png", "webp", "image")):
            return None
    return url


#: Zalo sends no user language; it is a Vietnamese messenger, so Vietnamese is the prior until the user
#: writes otherwise or picks a language.
ZALO_LANGUAGE = "vi"


# --------------------------------------------------------------------------------------------- rendering
def render(replies: Sequence[Reply], *, first_number: int = 1) -> list[str]:
    """One plain text per reply: the title on its own first line, then the text, then the buttons numbered.

    Zalo does document a button template (`attachment.payload.buttons`, `oa.query.hide`), but what a tap
    delivers and how many buttons a message may have (4 or 5) are unconfirmed, and our menus have 16:
    so buttons become a numbered list, and the user answers with the number (the engine reads it as a press).
    """
    texts, number = [], first_number
    for reply in replies:
        text = f"{reply.title}\n{reply.text}" if reply.title else reply.text
        if reply.buttons:
            options = [f"{number + i}. {button.label}" for i, button in enumerate(reply.buttons)]
            number += len(reply.buttons)
            text += "\n\n" + "\n".join(options)
        texts.append(text)
    return texts


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut text into parts of at most `limit` (UTF-16 units), at a paragraph, line or space where possible."""
    parts = []
    rest = text.strip()
    while _units(rest) > limit:
        end = limit
        while _units(rest[:end]) > limit:
            end -= 1
        for separator in ("\n\n", "\n", " "):
            cut = rest.rfind(separator, 0, end)
            if cut > end // 2:
                break
        else:
            cut = end
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


# --------------------------------------------------------------------------------------------- tokens
@dataclass(frozen=True)
class Tokens:
    """A token pair as the OAuth v4 endpoint returns it."""

    access_token: str
    refresh_token: str | None
    access_expires_at: dt.datetime | None


def _rows(session: Session, *, for_update: bool = False) -> dict[str, ChannelCredential]:
    query = select(ChannelCredential).where(ChannelCredential.channel == CHANNEL)
    if for_update:  # PostgreSQL: one refresher at a time across processes (refresh tokens are single-use)
        query = query.with_for_update()
    return {row.name: row for row in session.scalars(query)}


def _put(session: Session, rows: dict[str, ChannelCredential], name: str, value: str,
         expires_at: dt.datetime | None) -> None:
    row = rows.get(name)
    if row is None:
        row = rows[name] = ChannelCredential(channel=CHANNEL, name=name, value=value)
        session.add(row)
    row.value, row.expires_at = value, expires_at


# --------------------------------------------------------------------------------------------- client
class ZaloClient:
    """Sends replies through the OA API; keeps the rotating OAuth v4 tokens in `channel_credential`.

    Tokens live in the database so every process uses (and refreshes) the same pair; the settings only
    seed them when the table has none. After a re-authorization, delete the `zalo` rows to seed again.
    """

    def __init__(self, settings: BotSettings, *, session_factory, http: httpx.AsyncClient | None = None,
                 retry_delays: Sequence[float] = (0.5, 2.0), timeout: float = 10.0):
        self.settings = settings
        self.session_factory = session_factory
        self.http = http or httpx.AsyncClient(timeout=timeout)
        self.retry_delays = tuple(retry_delays)
        self._refresh_lock = asyncio.Lock()
        if settings.zalo_app_secret is None:
            logger.warning("ZALO_APP_SECRET is not set: an expired Zalo access token cannot be refreshed")

    async def aclose(self) -> None:
        await self.http.aclose()

    # ---------------------------------------------------------------- sending
    async def send_reply(self, user_id: str, reply: Reply, *, first_number: int = 1) -> None:
        """Send one reply (split to Zalo's limit), refreshing the token when Zalo rejects it."""
        token = await self._access_token()
        for text in render([reply], first_number=first_number):
            for part in split_text(text):
                token = await self._send_text(token, user_id, part)

    async def _send_text(self, token: str, user_id: str, text: str) -> str:
        """Send one text; on a rejected token refresh and retry once. Returns the token that worked."""
        payload = {"recipient": {"user_id": user_id}, "message": {"text": text}}
        try:
            await self._post_message(token, payload)
            return token
        except ZaloError as exc:
            if exc.code not in TOKEN_REJECTED:
                raise
            logger.warning("Zalo rejected the access token (error %s); refreshing it", exc.code)
        token = await self.refresh(used_access_token=token)
        await self._post_message(token, payload)
        return token

    async def _post_message(self, token: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST a customer-service message; retry timeouts, HTTP 429/5xx and -32 a few times."""
        url = f"{self.settings.zalo_api_base_url.rstrip('/')}/v3.0/oa/message/cs"
        attempts = len(self.retry_delays) + 1
        for attempt in range(1, attempts + 1):
            try:
                response = await self.http.post(url, json=payload, headers={"access_token": token})
            except httpx.TransportError as exc:  # timeouts included
                problem = type(exc).__name__
            else:
                if response.status_code == 429 or response.status_code >= 500:
                    problem = f"HTTP {response.status_code}"
                else:
                    body = _json(response)
                    code = _int(body.get("error"))
                    if code == 0:
                        return body.get("data") or {}
                    if code not in RETRYABLE_ERRORS:
                        raise ZaloError(code, str(body.get("message") or f"HTTP {response.status_code}"))
                    problem = f"error {code}"
            if attempt == attempts:
                raise ZaloError(None, f"gave up after {attempt} attempts ({problem})")
            logger.warning("Zalo send attempt %d failed (%s); retrying", attempt, problem)
            await asyncio.sleep(self.retry_delays[attempt - 1])

    # ---------------------------------------------------------------- tokens
    async def _access_token(self) -> str:
        token, expires_at = await asyncio.to_thread(self._stored_access_token)
        if expires_at is not None and expires_at - dt.datetime.now(dt.UTC) < REFRESH_MARGIN:
            return await self.refresh(used_access_token=token)
        return token

    def _stored_access_token(self) -> tuple[str, dt.datetime | None]:
        """The stored access token and its expiry; the settings seed the table when it has none."""
        with self.session_factory() as session:
            rows = _rows(session)
            if "access_token" not in rows and self.settings.zalo_access_token is not None:
                _put(session, rows, "access_token", self.settings.zalo_access_token.get_secret_value(), None)
                if self.settings.zalo_refresh_token is not None:
                    _put(session, rows, "refresh_token", self.settings.zalo_refresh_token.get_secret_value(), None)
                try:
                    session.commit()
                except IntegrityError:  # another process seeded at the same moment
                    session.rollback()
                    rows = _rows(session)
            if "access_token" not in rows:
                raise ZaloError(None, "no access token: set ZALO_ACCESS_TOKEN and ZALO_REFRESH_TOKEN")
            return rows["access_token"].value, rows["access_token"].expires_at

    async def refresh(self, *, used_access_token: str) -> str:
        """Trade the refresh token for a new pair (OAuth v4), store both, and return the new access token.

        The row lock (PostgreSQL) and the asyncio lock make one refresher at a time; whoever comes second
        finds a token other than the one it used and takes that instead of spending the new refresh token.
        """
        async with self._refresh_lock:
            session = self.session_factory()
            try:
                rows = await asyncio.to_thread(_rows, session, for_update=True)
                current = rows.get("access_token")
                if current is not None and current.value != used_access_token:
                    await asyncio.to_thread(session.rollback)
                    return current.value
                refresh_row = rows.get("refresh_token")
                if refresh_row is None:
                    raise ZaloError(None, "no refresh token stored: re-authorize the OA")
                fresh = await self._request_refresh(refresh_row.value)
                await asyncio.to_thread(self._store, session, rows, fresh)
                logger.info("Zalo access token refreshed")
                return fresh.access_token
            finally:
                await asyncio.to_thread(session.close)

    async def _request_refresh(self, refresh_token: str) -> Tokens:
        """POST /v4/oa/access_token with grant_type=refresh_token; the App Secret goes in the `secret_key` header."""
        settings = self.settings
        if settings.zalo_app_secret is None:
            raise ZaloError(None, "ZALO_APP_SECRET is not set: cannot refresh the access token")
        url = f"{settings.zalo_oauth_base_url.rstrip('/')}/v4/oa/access_token"
        form = {"refresh_token": refresh_token, "app_id": settings.zalo_app_id, "grant_type": "refresh_token"}
        try:
            response = await self.http.post(url, data=form,
                                            headers={"secret_key": settings.zalo_app_secret.get_secret_value()})
        except httpx.TransportError as exc:
            raise ZaloError(None, f"token refresh failed ({type(exc).__name__})") from exc
        body = _json(response)
        if not body.get("access_token"):  # error codes of this endpoint are undocumented: any such answer is final
            name = body.get("error_name") or body.get("error_description") or body.get("message") or ""
            raise ZaloError(_int(body.get("error")), f"token refresh refused {name}".strip())
        now = dt.datetime.now(dt.UTC)
        try:
            expires_at = now + dt.timedelta(seconds=int(float(_text(body.get("expires_in")))))
        except ValueError:
            expires_at = None
        return Tokens(str(body["access_token"]), _text(body.get("refresh_token")) or None, expires_at)

    @staticmethod
    def _store(session: Session, rows: dict[str, ChannelCredential], fresh: Tokens) -> None:
        _put(session, rows, "access_token", fresh.access_token, fresh.access_expires_at)
        if fresh.refresh_token:
            _put(session, rows, "refresh_token", fresh.refresh_token,
                 dt.datetime.now(dt.UTC) + REFRESH_TOKEN_LIFETIME)
        try:
            session.commit()
        except Exception:
            # The old refresh token is already spent: without this pair the OA must be re-authorized.
            logger.critical("could not store the refreshed Zalo tokens; the OA may need re-authorization")
            raise


async def fetch_file(http: httpx.AsyncClient, url: str) -> tuple[bytes, str | None]:
    """The bytes of an image or file a trainee sent (its URL in the event), in memory, at most MAX_FILE_BYTES."""
    async with http.stream("GET", url, follow_redirects=True) as response:
        response.raise_for_status()
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_FILE_BYTES:
                raise ValueError("file too large")
            chunks.append(chunk)
        return b"".join(chunks), response.headers.get("content-type")


class ZaloSender:
    """The engine's sender for Zalo: what Zalo refuses for good is not retried, anything else is."""

    channel = CHANNEL

    def __init__(self, client: ZaloClient):
        self.client = client

    async def send(self, user_id: str, reply: Reply, *, first_number: int = 1) -> None:
        try:
            await self.client.send_reply(user_id, reply, first_number=first_number)
        except ZaloError as exc:
            retryable = exc.code is None or exc.code in RETRYABLE_ERRORS or exc.code in TOKEN_REJECTED
            # A refusal (e.g. -230: no interaction for 7 days) holds for the replies after it too: keep the order.
            raise SendFailed(str(exc), retryable=retryable, rest_too=not retryable) from exc
        except httpx.HTTPError as exc:
            raise SendFailed(f"zalo: {type(exc).__name__}", retryable=True) from exc


# --------------------------------------------------------------------------------------------- helpers
def _text(value: Any) -> str:
    """A body value as a string: Zalo sends ids and timestamps as JSON strings, but may not always."""
    return "" if value is None else str(value)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise ZaloError(None, f"HTTP {response.status_code}, not JSON") from None
    if not isinstance(body, dict):
        raise ZaloError(None, f"HTTP {response.status_code}, unexpected JSON")
    return body
