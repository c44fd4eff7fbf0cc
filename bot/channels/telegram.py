"""Telegram channel: a python-telegram-bot 22 `Application` that turns updates into `Inbound`,
calls the engine and sends the replies as HTML messages with inline keyboards.

The webhook route (`api/channels/telegram.py`) and polling (`python -m bot telegram-polling`) both use
`build_application`. An update is stored first (the webhook answers 200 only once it is in the database,
non-2xx when it could not be stored, so Telegram redelivers); processing and sending happen after, from
the stored row, through the engine's outbox (`TelegramSender`): a crash in between is finished by the worker.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import html
import logging
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatMemberStatus, InlineKeyboardButtonLimit, MessageLimit, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, ContextTypes, TypeHandler
from telegram.warnings import PTBDeprecationWarning

from bot import messages
from bot.config import BotSettings
from bot.conversations import Stored
from bot.engine import Engine, SendFailed
from bot.i18n import DEFAULT_LANGUAGE, normalise_language, t
from bot.schemas import Inbound, Kind, Reply

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
#: The updates we ask Telegram for (setWebhook / getUpdates `allowed_updates`).
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
MAX_TEXT_LENGTH = MessageLimit.MAX_TEXT_LENGTH  # 4096, counted after entity parsing
MAX_TITLE_LENGTH = 256
MAX_CALLBACK_DATA_BYTES = InlineKeyboardButtonLimit.MAX_CALLBACK_DATA  # 64 bytes of UTF-8
BUTTONS_PER_ROW = 2
#: Transient network errors (timeouts, 5xx) are retried this many times, waiting BACKOFF * 2**n seconds.
NETWORK_RETRIES = 3
BACKOFF = 0.5
#: Flood control (429): wait `retry_after` and retry, at most this often and this long.
FLOOD_RETRIES = 3
MAX_FLOOD_WAIT = 60.0
_ADAPTER_KEY = "telegram_adapter"

T = TypeVar("T")


class InboundNotStored(RuntimeError):
    """The engine could not store an update; the webhook answers non-2xx so that Telegram redelivers it."""

    def __init__(self, update_id: int):
        super().__init__(f"update {update_id} was not stored")
        self.update_id = update_id


# ---------------------------------------------------------------------- application
def build_application(settings: BotSettings, engine: Engine, *, polling: bool = False) -> Application:
    """The PTB application for our bot; without an updater unless `polling` (our web server gets the updates)."""
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    builder = (
        Application.builder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_api_base_url)
        .base_file_url(file_base_url(settings.telegram_api_base_url))
    )
    if not polling:
        builder = builder.updater(None)
    application = builder.build()
    register_handlers(application, TelegramAdapter(engine, webhook=not polling))
    engine.add_sender(TelegramSender(application.bot))
    engine.fetchers[CHANNEL] = functools.partial(fetch_file, application.bot)
    return application


def register_handlers(application: Application, adapter: TelegramAdapter) -> None:
    """Every handler of the bot, in one place: one adapter for all updates, one error handler."""
    application.bot_data[_ADAPTER_KEY] = adapter
    application.add_handler(TypeHandler(Update, adapter.handle_update))
    application.add_error_handler(adapter.report_error)


def adapter_of(application: Application) -> TelegramAdapter:
    return application.bot_data[_ADAPTER_KEY]


async def flush(application: Application) -> None:
    """Wait until every reply scheduled so far has been sent (or given up on)."""
    await adapter_of(application).flush()


def file_base_url(base_url: str) -> str:
    """`https://api.telegram.org/bot` → `https://api.telegram.org/file/bot` (the same for a local server)."""
    if base_url.endswith("/bot"):
        return base_url[: -len("/bot")] + "/file/bot"
    return base_url.rstrip("/") + "/file/bot"


# ---------------------------------------------------------------------- Update → Inbound
def to_inbound(update: Update) -> Inbound | None:
    """The plain message of an update, or None for updates the bot ignores (edits, channel posts, ...)."""
    user, chat = update.effective_user, update.effective_chat
    if user is None and chat is None:
        return None
    common = dict(
        channel=CHANNEL,
        user_id=str(chat.id if chat is not None else user.id),
        message_id=str(update.update_id),
        client_language=user.language_code if user is not None else None,
    )
    if update.callback_query is not None:
        if not update.callback_query.data:
            return None
        return Inbound(kind=Kind.button, payload=update.callback_query.data, sent_at=_now(), **common)
    if update.message is not None:
        kind, text = message_kind(update.message)
        return Inbound(kind=kind, text=text, sent_at=update.message.date, attachment=readable_file(update.message),
                       **common)
    member = update.my_chat_member
    if member is not None and member.new_chat_member.status == ChatMemberStatus.BANNED:
        return Inbound(kind=Kind.unfollow, sent_at=member.date, **common)  # the user blocked the bot
    return None


def message_kind(message: Message) -> tuple[str, str | None]:
    """Our `Kind` of a Telegram message and its text (a caption for media)."""
    if message.text is not None:
        return Kind.text, message.text
    caption = message.caption
    if message.sticker:
        return Kind.sticker, None
    if message.photo:
        return Kind.photo, caption
    if message.voice:
        return Kind.voice, caption
    if message.video or message.video_note or message.animation:  # an animation also carries `document`
        return Kind.video, caption
    if message.document or message.audio:
        return Kind.file, caption
    if message.location or message.venue:
        return Kind.location, None
    return Kind.other, caption


#: The largest file the payslip check downloads (the Bot API's getFile serves up to 20 MB).
MAX_FILE_BYTES = 10 * 1024 * 1024


def readable_file(message: Message) -> str | None:
    """The file_id of a photo (its largest size) or of an image or PDF sent as a file: what the payslip check can
    read. None for anything else, or a file too large."""
    if message.photo:
        return message.photo[-1].file_id
    document = message.document
    if document is not None and (document.mime_type or "").startswith(("image/", "application/pdf")) \
            and (document.file_size or 0) <= MAX_FILE_BYTES:
        return document.file_id
    return None


async def fetch_file(bot, file_id: str) -> tuple[bytes, str | None]:
    """The bytes of a file a trainee sent (getFile, then its download), in memory."""
    file = await call_with_retries(functools.partial(bot.get_file, file_id))
    if (file.file_size or 0) > MAX_FILE_BYTES:
        raise ValueError("file too large")
    data = await file.download_as_bytearray()
    return bytes(data), None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# ---------------------------------------------------------------------- Reply → sendMessage
@dataclass(frozen=True)
class Outgoing:
    """One sendMessage: HTML text and an optional inline keyboard."""

    text: str
    reply_markup: InlineKeyboardMarkup | None = None


def render_reply(reply: Reply) -> list[Outgoing]:
    """A reply as Telegram HTML messages: escaped text, a bold title, buttons two per row on the last one.

    Text longer than Telegram's limit is split at paragraph, line or word boundaries before escaping,
    so no chunk cuts an entity and each stays within 4096 characters after entity parsing.
    """
    title = (reply.title or "").strip()[:MAX_TITLE_LENGTH]
    head = f"<b>{html.escape(title, quote=False)}</b>\n" if title else ""
    head_length = utf16_length(title) + 1 if title else 0
    chunks = split_text(reply.text or "", first_limit=MAX_TEXT_LENGTH - head_length, limit=MAX_TEXT_LENGTH)
    texts = [html.escape(chunk, quote=False) for chunk in chunks] or [""]
    texts[0] = (head + texts[0]).rstrip("\n")
    markup = keyboard(reply)
    return [
        Outgoing(text, markup if index == len(texts) - 1 else None)
        for index, text in enumerate(texts)
        if text
    ]


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """The reply's buttons, two per row (`callback_data` = the button's payload)."""
    buttons = []
    for button in reply.buttons:
        if not button.label or not 1 <= len(button.payload.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
            logger.warning("button %r dropped: Telegram needs a label and 1-64 bytes of callback data", button.payload[:80])
            continue
        buttons.append(InlineKeyboardButton(button.label, callback_data=button.payload))
    if not buttons:
        return None
    return InlineKeyboardMarkup([buttons[i : i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW)])


def utf16_length(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, *, first_limit: int, limit: int) -> list[str]:
    """Cut `text` into chunks of at most `first_limit`, then `limit`, UTF-16 units, preferring
    paragraph breaks, then line breaks, then spaces."""
    chunks: list[str] = []
    budget = first_limit
    while utf16_length(text) > budget:
        end = _prefix_within(text, budget)
        cut = -1
        for separator in ("\n\n", "\n", " "):
            cut = text.rfind(separator, 0, end + 1)
            if cut > end // 2:  # not so early that the chunk is tiny
                break
            cut = -1
        if cut > 0:
            chunks.append(text[:cut].rstrip())
            text = text[cut:].lstrip()
        else:
            chunks.append(text[:end])
            text = text[end:]
        budget = limit
    chunks.append(text)
    return [chunk for chunk in chunks if chunk.strip()]


def _prefix_within(text: str, budget: int) -> int:
    """The largest number of code points from the start of `text` that fits `budget` UTF-16 units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > budget:
            return max(index, 1)
    return len(text)


# ---------------------------------------------------------------------- retries
def retry_after_seconds(error: RetryAfter) -> float:
    """`RetryAfter.retry_after` as seconds (an int in PTB 22, a timedelta with PTB_TIMEDELTA=1)."""
    with warnings.catch_warnings():  # PTB 22 warns that the type becomes timedelta in v23
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


async def call_with_retries(request: Callable[[], Awaitable[T]]) -> T:
    """Make one Bot API call; wait and retry on flood control (429) and on transient network errors."""
    floods = failures = 0
    while True:
        try:
            return await request()
        except RetryAfter as exc:
            floods += 1
            wait = retry_after_seconds(exc)
            if floods > FLOOD_RETRIES or wait > MAX_FLOOD_WAIT:
                raise
            logger.warning("Telegram flood control: waiting %.1f s before retry %d", wait, floods)
            await asyncio.sleep(wait)
        except BadRequest:  # a NetworkError subclass, but retrying can't help
            raise
        except NetworkError as exc:  # includes TimedOut and 5xx answers
            failures += 1
            if failures > NETWORK_RETRIES:
                raise
            wait = BACKOFF * 2 ** (failures - 1)
            logger.warning("Telegram call failed (%s); retry %d in %.1f s", type(exc).__name__, failures, wait)
            await asyncio.sleep(wait)


# ---------------------------------------------------------------------- the sender
class TelegramSender:
    """Sends one stored reply as HTML messages (split to Telegram's limit), with retries on flood control
    and transient errors; what still fails is raised as SendFailed for the outbox to retry or give up."""

    channel = CHANNEL

    def __init__(self, bot):
        self.bot = bot

    async def send(self, user_id: str, reply: Reply, *, first_number: int = 1) -> None:
        try:
            for message in render_reply(reply):
                await call_with_retries(functools.partial(
                    self.bot.send_message, int(user_id), message.text,
                    parse_mode=ParseMode.HTML, reply_markup=message.reply_markup,
                ))
        except Forbidden as exc:  # blocked by the user, or the chat is gone: nothing else will arrive either
            raise SendFailed(f"{type(exc).__name__}: {exc}", retryable=False, rest_too=True) from exc
        except BadRequest as exc:  # this message can't be sent as it is; retrying won't help
            raise SendFailed(f"{type(exc).__name__}: {exc}", retryable=False) from exc
        except TelegramError as exc:  # network, 5xx or flood control past our patience: the outbox retries
            raise SendFailed(f"{type(exc).__name__}: {exc}", retryable=True) from exc


# ---------------------------------------------------------------------- the adapter
class TelegramAdapter:
    """Stores updates for the engine, then has them processed and answered from the store; one per application."""

    def __init__(self, engine: Engine, *, webhook: bool = True):
        self.engine = engine
        self.webhook = webhook
        self._pending: set[asyncio.Task] = set()

    async def store(self, update: Update) -> Stored | None:
        """Store the update's message (commit); None for updates the bot ignores. Raises InboundNotStored."""
        inbound = to_inbound(update)
        if inbound is None:
            logger.debug("update %s ignored", update.update_id)
            return None
        try:
            return await self.engine.receive(inbound)
        except Exception as exc:
            raise InboundNotStored(update.update_id) from exc

    async def answer(self, bot, update: Update, stored: Stored) -> None:
        """After storing: stop the button's spinner, then process the trainee's messages and send the replies."""
        if stored.duplicate:
            logger.info("update %s is a redelivery; not answered again", update.update_id)
            return
        if update.callback_query is not None:
            try:
                await call_with_retries(functools.partial(bot.answer_callback_query, update.callback_query.id))
            except TelegramError as exc:  # the spinner times out on its own; the replies still go out
                logger.warning("answerCallbackQuery failed: %s", type(exc).__name__)
        await self.engine.drain(stored.conversation_id)

    async def handle_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Polling: store the update, then answer it in a task (the next update is not held up)."""
        stored = await self.store(update)
        if stored is None:
            return
        task = context.application.create_task(self.answer(context.bot, update, stored),
                                               name=f"telegram:answer:{update.update_id}")
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def report_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log the error; then apologise to the user, unless the update will be delivered again."""
        logger.error("Exception while handling an update:", exc_info=context.error)
        if not isinstance(update, Update) or isinstance(context.error, InboundNotStored):
            return  # not stored: polling asks for it again (the offset did not move past it)
        chat = update.effective_chat
        if chat is None:
            return
        user = update.effective_user
        lang = normalise_language(user.language_code if user else None) or DEFAULT_LANGUAGE
        try:
            await context.bot.send_message(chat.id, html.escape(t(lang, messages.ERROR), quote=False),
                                           parse_mode=ParseMode.HTML)
        except TelegramError as exc:
            logger.warning("could not send the apology: %s", type(exc).__name__)

    async def flush(self) -> None:
        """Wait for every answer scheduled so far (polling)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
