"""Plain dataclasses between the channel adapters and the engine (no transport objects past this line)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class Kind:
    text = "text"
    button = "button"  # a press on one of our buttons: `payload` holds its data
    sticker = "sticker"
    photo = "photo"
    voice = "voice"
    video = "video"
    location = "location"
    file = "file"
    other = "other"
    follow = "follow"  # Zalo follow event
    unfollow = "unfollow"


@dataclass(frozen=True)
class Inbound:
    """One message from a trainee, as any channel delivers it."""

    channel: str  # "telegram" | "zalo" | "web" | "cli"
    user_id: str  # the channel's user id
    kind: str = Kind.text
    text: str | None = None
    payload: str | None = None  # button data ("topic:minimum_wage", "lang:vi", ...)
    message_id: str | None = None  # the channel's id of this delivery, for dedupe (Telegram update_id, Zalo msg_id)
    client_language: str | None = None  # e.g. Telegram's language_code
    lang: str | None = None  # an explicit language choice sent with the message (web chat)
    sent_at: dt.datetime | None = None
    #: A photo or file to read (the payslip check): a channel's reference to fetch it by (Telegram's file_id,
    #: Zalo's image URL, a web upload's key). Kept on the stored message only until its turn has read it.
    attachment: str | None = None

    def __post_init__(self) -> None:
        # PostgreSQL text cannot hold NUL, nor any UTF-8 codec a lone surrogate (JSON's "\ud800"): a message with one
        # would never be stored, and Telegram would redeliver it for ever. Every channel's text comes through here,
        # the one door into the engine: NULs are dropped, lone surrogates become U+FFFD.
        for name in ("user_id", "text", "payload", "message_id", "client_language", "lang"):
            value = getattr(self, name)
            if isinstance(value, str) and _UNSTORABLE.search(value):
                object.__setattr__(self, name, _SURROGATE.sub("\ufffd", value.replace("\x00", "")))


@dataclass(frozen=True)
class Button:
    label: str
    payload: str


@dataclass(frozen=True)
class Reply:
    """Plain text (adapters escape it for their markup) with optional buttons."""

    text: str
    buttons: tuple[Button, ...] = ()
    title: str | None = None  # shown bold where the channel can


@dataclass
class Outcome:
    """What the engine decided for one inbound message."""

    replies: list[Reply]
    lang: str
    intent: str | None = None
    confidence: float | None = None
    handoff_id: int | None = None
    duplicate: bool = False
    #: Ids of the stored outbound messages, for the adapter to mark sent or failed.
    outbound_ids: list[int] = field(default_factory=list)
    conversation_id: int | None = None
