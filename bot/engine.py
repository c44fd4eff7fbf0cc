"""The conversation engine: one inbound message in, replies out, state in the database.

Store, then process. `receive` stores (commits) a message and nothing else; `drain` processes a trainee's
stored messages one at a time and in order under the conversation's lease (a row in the database, so it
holds across processes) and sends their replies through the channel's sender; `run_due` is the worker's
tick that picks up whatever a crash, a failed send or a downed NLU server left behind.

A turn is routed like python-telegram-bot routes an update: an ordered list of routes, each a predicate
and a handler, first match wins: safety → a new contact → command → button → the pending question →
understanding (NLU) → intent. A new intent is one entry in INTENTS plus its data.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import (
    conversations, decisions, handoffs, learning, messages, payslip_check, ratelimit, reminders, replies, safety,
)
from bot.config import BotSettings
from bot.i18n import DEFAULT_LANGUAGE, normalise_language, t
from bot.models import (
    Conversation, ConversationStatus, HandoffReason, HandoffStatus, Message, MessageStatus, MissReason, Priority,
)
from bot.nlu_client import NluClient, NluUnavailable, Parse
from bot.schemas import Inbound, Kind, Outcome, Reply
from knowledge import wages
from knowledge.intents import TOPICS

logger = logging.getLogger(__name__)

#: Channels that show buttons as a numbered list: a reply of just a number presses that button.
NUMBERED_BUTTON_CHANNELS = frozenset({"zalo"})
_CHOICE = re.compile(r"\s*(\d{1,2})\s*[.)]?\s*")


# ================================================================================ senders
class SendFailed(Exception):
    """A reply could not be sent. `retryable`: try again later; otherwise the channel refused it for good.
    `rest_too`: the refusal holds for every reply to this trainee (e.g. the bot was blocked)."""

    def __init__(self, message: str, *, retryable: bool, rest_too: bool = False):
        super().__init__(message)
        self.retryable = retryable
        self.rest_too = rest_too


class Sender(Protocol):
    """A channel's way of sending one stored reply to a trainee (see bot/channels/)."""

    channel: str

    async def send(self, user_id: str, reply: Reply, *, first_number: int = 1) -> None:
        """Send the reply (raise SendFailed); `first_number`: where numbered buttons start."""


# ================================================================================ a turn
@dataclass
class Turn:
    """The state of one turn: the conversation, the message, what the NLU said, the replies so far."""

    session: Session
    conv: Conversation
    inbound: Inbound
    parse: Parse | None
    nlu_down: bool
    settings: BotSettings
    today: dt.date
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    lang: str = DEFAULT_LANGUAGE
    replies: list[Reply] = field(default_factory=list)
    intent: str | None = None
    confidence: float | None = None
    ask_language: bool = False
    forgotten: bool = False
    urgent: bool = False
    #: A volunteer holds the chat: the message is theirs, the bot says nothing of its own.
    held: bool = False
    handoff: object = None  # the conversation's active handoff when the turn began
    #: Notices for the volunteers' group (no personal data), and the handoffs they are about.
    alerts: list[str] = field(default_factory=list)
    alert_ids: list[str] = field(default_factory=list)
    #: The route that took the message, and why the bot missed it (bot.models.MissReason) if it did.
    route: str | None = None
    missed: str | None = None
    #: The prefecture the trainee named in this message (kept on the message for the anonymous statistics).
    prefecture: str | None = None
    #: A photo or file read as a payslip (item key → number), {} when nothing could be read, None: no attachment.
    reading: dict | None = None
    #: The attachment is not a file the payslip check can read (type, size).
    unreadable_file: bool = False

    @property
    def text(self) -> str:
        return self.inbound.text or "" if self.inbound.kind == Kind.text else ""

    def t(self, message: str, **values: object) -> str:
        return t(self.lang, message, **values)

    def say(self, *items: Reply) -> None:
        self.replies.extend(items)

    def clear_slots(self) -> None:
        self.conv.pending_slot = None
        self.conv.pending_topic = None
        self.conv.slots = {}

    def set_slots(self, values: dict[str, str]) -> None:
        if values:
            self.conv.slots = {**(self.conv.slots or {}), **values}
            self.prefecture = values.get("prefecture") or self.prefecture

    def ask(self, slot: str, topic: str, reply: Reply) -> None:
        self.conv.pending_slot, self.conv.pending_topic = slot, topic
        self.say(reply)


Handler = Callable[[Turn], bool | None]  # False: "not mine after all", try the next route


@dataclass(frozen=True)
class Route:
    name: str
    check: Callable[[Turn], bool]
    handle: Handler


# -------------------------------------------------------------------------------- answers
def greet(turn: Turn) -> None:
    turn.say(Reply(turn.t(messages.GREETING), replies.menu_buttons(turn.lang)))
    if not turn.conv.lang_chosen:
        turn.say(Reply(turn.t(messages.CHOOSE_LANGUAGE), replies.language_buttons()))
        turn.ask_language = False


def show_menu(turn: Turn) -> None:
    turn.say(replies.menu(turn.lang))


def answer_topic(turn: Turn, topic: str) -> None:
    turn.say(replies.topic(turn.session, turn.lang, topic, turn.now) or replies.menu(turn.lang))


def emergency(turn: Turn) -> None:
    """The emergency numbers at once, and an urgent handoff."""
    turn.intent, turn.urgent = "emergency", True
    turn.clear_slots()
    before = turn.handoff.priority if turn.handoff is not None else None
    handoff = turn.handoff = handoffs.open_or_raise(session=turn.session, conversation=turn.conv,
                                                    priority=Priority.urgent, reason=HandoffReason.emergency)
    if before != Priority.urgent:
        turn.alerts.append(f"Urgent handoff: language {handoff.lang or '?'}, reason {handoff.reason}, "
                           f"channel {handoff.channel}.")
        turn.alert_ids.append(handoff.public_id)
    turn.say(*replies.emergency(turn.session, turn.lang, turn.now))


def handoff(turn: Turn) -> None:
    reason = HandoffReason.misses if (turn.conv.misses or 0) >= 2 else HandoffReason.asked
    turn.clear_slots()
    turn.intent = turn.intent or "talk_to_human"
    if turn.handoff is None and not ratelimit.handoff_allowed(session=turn.session, conversation_id=turn.conv.id,
                                                              settings=turn.settings):
        turn.say(ratelimit.handoff_refused(turn.session, turn.lang, turn.now))  # asked too often: the numbers instead
        return
    turn.handoff = handoffs.open_or_raise(session=turn.session, conversation=turn.conv, priority=Priority.medium,
                                          reason=reason)
    turn.say(replies.handoff_started(turn.session, turn.lang, turn.now))


def back_to_bot(turn: Turn) -> None:
    """The trainee ends the volunteer chat themselves (/bot or the button)."""
    if turn.handoff is None:
        show_menu(turn)
        return
    turn.say(*handoffs.end(session=turn.session, handoff=turn.handoff, status=HandoffStatus.returned,
                           lang=turn.lang))


def held_by_volunteer(turn: Turn) -> None:
    """The message goes to the volunteer (the inbox is told); the bot stays silent."""
    turn.held = True
    handoffs.emit(session=turn.session, handoff_id=turn.handoff.id, kind="message.created")


def minimum_wage(turn: Turn) -> None:
    prefecture = (turn.conv.slots or {}).get("prefecture")
    if not prefecture:
        turn.ask("prefecture", "minimum_wage", Reply(turn.t(messages.ASK_PREFECTURE)))
        return
    turn.clear_slots()
    answer = replies.minimum_wage(turn.session, turn.lang, prefecture, turn.today)
    if answer is None:
        answer_topic(turn, "minimum_wage")
    else:
        turn.say(answer)


def wage_check(turn: Turn) -> None:
    """Ask for the first missing input, one at a time; with all of them, the verdict."""
    slots = turn.conv.slots or {}
    missing = decisions.missing_wage_input(slots)
    if missing:
        question = {"amount": messages.ASK_AMOUNT, "period": messages.ASK_PERIOD, "prefecture": messages.ASK_PREFECTURE}
        buttons = replies.period_buttons(turn.lang) if missing == "period" else ()
        turn.ask(missing, "wage_check", Reply(turn.t(question[missing]), buttons))
        return
    verdict = replies.wage_verdict(turn.session, turn.lang, slots, turn.today, turn.now)
    if verdict is None:  # no rate known for that date
        turn.clear_slots()
        answer_topic(turn, "wage_check")
    elif decisions.hours_assumed(slots):
        # The verdict counted the legal maximum of hours: the trainee's reply with their own hours recomputes it.
        turn.ask("hours", "wage_check", verdict)
    else:
        turn.clear_slots()
        turn.say(verdict)


def forget(turn: Turn) -> None:
    count = conversations.forget(session=turn.session, conversation=turn.conv)
    turn.forgotten = True
    turn.say(Reply(turn.t(messages.FORGET_DONE, count=count)))


def continue_topic(turn: Turn, topic: str | None) -> None:
    {"wage_check": wage_check, payslip_check.TOPIC: payslip_check.ask_next,
     reminders.TOPIC: reminders.after_prefecture}.get(topic or "", minimum_wage)(turn)


# -------------------------------------------------------------------------------- intents
def out_of_scope(turn: Turn) -> None:
    turn.missed = MissReason.out_of_scope
    turn.say(Reply(turn.t(messages.OUT_OF_SCOPE), replies.menu_buttons(turn.lang)))


def _intent_minimum_wage(turn: Turn) -> None:
    turn.clear_slots()
    prefecture = decisions.prefecture_in(turn.parse, turn.text)
    turn.set_slots({"prefecture": prefecture} if prefecture else {})
    minimum_wage(turn)


def _intent_wage_check(turn: Turn) -> None:
    turn.clear_slots()
    turn.set_slots(decisions.wage_slots(turn.parse, turn.text))
    wage_check(turn)


#: Intent → handler. An intent of knowledge.intents.TOPICS without an entry here answers with its topic entry.
INTENTS: dict[str, Handler] = {
    "greet": greet,
    "goodbye": lambda turn: turn.say(Reply(turn.t(messages.GOODBYE))),
    "thanks": lambda turn: turn.say(Reply(turn.t(messages.THANKS),
                                          (replies.Button(turn.t(messages.BUTTON_TOPICS), "menu"),))),
    "out_of_scope": out_of_scope,
    "emergency": emergency,
    "talk_to_human": handoff,
    "minimum_wage": _intent_minimum_wage,
    "wage_check": _intent_wage_check,
}


def run_intent(turn: Turn, intent: str) -> None:
    turn.conv.last_topic = intent if intent in TOPICS else turn.conv.last_topic
    handler = INTENTS.get(intent)
    if handler is not None:
        handler(turn)
    elif intent in TOPICS:
        answer_topic(turn, intent)
    else:
        show_menu(turn)


# -------------------------------------------------------------------------------- commands
def _command_language(turn: Turn) -> None:
    turn.say(Reply(turn.t(messages.CHOOSE_LANGUAGE), replies.language_buttons()))
    turn.ask_language = False


def _command_forget(turn: Turn) -> None:
    turn.conv.pending_slot = "forget_confirm"
    turn.say(Reply(turn.t(messages.FORGET_CONFIRM), replies.forget_buttons(turn.lang)))


COMMANDS: dict[str, Handler] = {
    "/start": greet,
    "/language": _command_language,
    "/human": handoff,
    "/forget": _command_forget,
    "/bot": back_to_bot,
    "/payslip": payslip_check.start,
    "/remind": reminders.start,
}


def run_command(turn: Turn) -> None:
    command = turn.text.strip().split()[0].lower().split("@")[0]
    handler = COMMANDS.get(command)
    if handler is None:
        turn.say(Reply(turn.t(messages.HELP), replies.menu_buttons(turn.lang)))
    else:
        handler(turn)


# -------------------------------------------------------------------------------- buttons
def _button_lang(turn: Turn, _arg: str) -> None:
    turn.say(Reply(turn.t(messages.LANGUAGE_SET)), replies.menu(turn.lang))


def _button_topic(turn: Turn, arg: str) -> None:
    if arg not in TOPICS:
        return show_menu(turn)
    turn.clear_slots()
    turn.intent, turn.confidence = arg, 1.0
    turn.parse = None  # a pressed topic has no text to read slots from
    run_intent(turn, arg)


def _button_more(turn: Turn, arg: str) -> None:
    if arg not in TOPICS:
        return show_menu(turn)
    turn.say(replies.more(turn.session, turn.lang, arg, turn.now))


def _button_menu(turn: Turn, _arg: str) -> None:
    turn.clear_slots()
    show_menu(turn)


def _button_period(turn: Turn, arg: str) -> None:
    if arg not in wages.PayPeriod.__members__:
        return show_menu(turn)
    turn.set_slots({"period": arg})
    wage_check(turn)


def _button_forget(turn: Turn, arg: str) -> None:
    """Deletes only when this conversation is waiting for that confirmation (a press can be forged)."""
    confirming = turn.conv.pending_slot == "forget_confirm"
    turn.conv.pending_slot = None
    if arg == "yes" and confirming:
        forget(turn)
    elif confirming:
        turn.say(Reply(turn.t(messages.FORGET_CANCELLED)))
    else:
        show_menu(turn)


def _button_rate(turn: Turn, arg: str) -> None:
    if arg.isdigit() and handoffs.rate(session=turn.session, conversation_id=turn.conv.id, rating=int(arg)):
        turn.say(Reply(turn.t(messages.RATE_THANKS)), replies.menu(turn.lang))
    else:
        show_menu(turn)


BUTTONS: dict[str, Callable[[Turn, str], None]] = {
    "lang": _button_lang,
    "topic": _button_topic,
    "more": _button_more,
    "human": lambda turn, _arg: handoff(turn),
    "menu": _button_menu,
    "period": _button_period,
    "forget": _button_forget,
    "bot": lambda turn, _arg: back_to_bot(turn),
    "rate": _button_rate,
    "payslip": payslip_check.button,
    "remind": reminders.button,
}


def run_button(turn: Turn) -> None:
    action, _, arg = (turn.inbound.payload or "").partition(":")
    handler = BUTTONS.get(action)
    if handler is None:
        show_menu(turn)
    else:
        handler(turn, arg)


# -------------------------------------------------------------------------------- the pending question
def answer_forget_confirmation(turn: Turn) -> bool:
    turn.conv.pending_slot = None
    if decisions.is_yes(turn.text):
        forget(turn)
        return True
    turn.say(Reply(turn.t(messages.FORGET_CANCELLED)))
    return False  # and read the message as what it is


def answer_pending(turn: Turn) -> bool:
    """Read the text as the answer to the pending question; False when it is something else."""
    slot, topic, text = turn.conv.pending_slot, turn.conv.pending_topic, turn.text
    other_intent = decisions.switches_topic(turn.parse, topic, turn.settings.nlu_threshold)
    if slot == "prefecture":
        from knowledge import prefectures

        found = prefectures.resolve(text) or decisions.prefecture_in(turn.parse, text)
        if found:
            turn.set_slots({"prefecture": found})
            continue_topic(turn, topic)
            return True
        return _not_an_answer(turn, other_intent, Reply(turn.t(messages.UNKNOWN_PREFECTURE)))
    if slot == "amount":
        if decisions.amount_in(text) is not None:
            turn.set_slots(decisions.wage_slots(turn.parse, text))
            wage_check(turn)
            return True
        return _not_an_answer(turn, other_intent, Reply(turn.t(messages.BAD_AMOUNT)))
    if slot == "period":
        period = wages.parse_period(text)
        if period is not None:
            turn.set_slots({"period": period.value, **decisions.hours_slot(wages.find_hours(text))})
            wage_check(turn)
            return True
        return _not_an_answer(turn, other_intent,
                              Reply(turn.t(messages.ASK_PERIOD), replies.period_buttons(turn.lang)))
    if slot.startswith(payslip_check.PREFIX):  # an item of the payslip check
        return payslip_check.answer(turn, other_intent)
    if slot == "hours":  # after a verdict that assumed the legal maximum of hours
        hours = wages.find_hours(text)
        if hours is None:
            turn.clear_slots()
            return False  # not hours: read the message as what it is
        turn.set_slots(decisions.hours_slot(hours))
        wage_check(turn)
        return True
    turn.clear_slots()
    return False


def _not_an_answer(turn: Turn, other_intent: bool, ask_again: Reply) -> bool:
    """A message that doesn't answer the pending question: a new topic drops it, anything else re-asks."""
    if other_intent:
        turn.clear_slots()
        return False
    turn.say(ask_again)
    return True


# -------------------------------------------------------------------------------- understanding
def nlu_down(turn: Turn) -> None:
    turn.say(Reply(turn.t(messages.NLU_DOWN), replies.menu_buttons(turn.lang)))


def unsure(turn: Turn) -> None:
    """Below the threshold: ask with the best guesses; the second miss in a row offers a person."""
    turn.conv.misses = (turn.conv.misses or 0) + 1
    turn.missed = MissReason.low_confidence
    if turn.conv.misses >= 2:
        turn.say(Reply(turn.t(messages.OFFER_HUMAN), replies.offer_human_buttons(turn.lang)))
    else:
        turn.say(Reply(turn.t(messages.CLARIFY), replies.clarify_buttons(turn.lang, turn.parse)))


def understood(turn: Turn) -> None:
    turn.conv.misses = 0
    run_intent(turn, turn.parse.intent)


def _is_text(turn: Turn) -> bool:
    return turn.inbound.kind == Kind.text and bool(turn.text.strip())


def _is_emergency(turn: Turn) -> bool:
    return _is_text(turn) and safety.is_emergency(text=turn.text, parse=turn.parse,
                                                  floor=turn.settings.nlu_emergency_floor)


def _danger_words(turn: Turn) -> bool:
    return _is_text(turn) and safety.danger_words(turn.text)


def _is_command(turn: Turn) -> bool:
    return _is_text(turn) and turn.text.lstrip().startswith("/")


def _unsure(turn: Turn) -> bool:
    return turn.parse.intent is None or turn.parse.confidence < turn.settings.nlu_threshold


def _back_to_bot(turn: Turn) -> bool:
    if turn.inbound.kind == Kind.button:
        return (turn.inbound.payload or "") == "bot"
    return _is_command(turn) and turn.text.strip().split()[0].lower().split("@")[0] == "/bot"


def _held(turn: Turn) -> bool:
    """Text for the volunteer; commands (/forget, /bot, /language) and button presses stay the trainee's own."""
    return (turn.handoff is not None and turn.handoff.status == HandoffStatus.claimed
            and turn.inbound.kind != Kind.button and not _is_command(turn))


#: The order of the checks is the order of priorities: safety first, understanding last.
ROUTES: tuple[Route, ...] = (
    Route("danger words", _danger_words, emergency),
    Route("back to the bot", _back_to_bot, back_to_bot),
    Route("a volunteer holds the chat", _held, held_by_volunteer),
    Route("follow", lambda turn: turn.inbound.kind == Kind.follow, greet),
    Route("unfollow", lambda turn: turn.inbound.kind == Kind.unfollow, lambda turn: None),
    Route("button", lambda turn: turn.inbound.kind == Kind.button, run_button),
    Route("payslip photo", lambda turn: turn.reading is not None or turn.unreadable_file, payslip_check.photo),
    Route("not text", lambda turn: not _is_text(turn),
          lambda turn: turn.say(Reply(turn.t(messages.NON_TEXT), replies.menu_buttons(turn.lang)))),
    Route("command", _is_command, run_command),
    Route("forget confirmation", lambda turn: turn.conv.pending_slot == "forget_confirm", answer_forget_confirmation),
    Route("pending question", lambda turn: bool(turn.conv.pending_slot), answer_pending),
    Route("NLU down", lambda turn: turn.nlu_down or turn.parse is None, nlu_down),
    Route("emergency", _is_emergency, emergency),
    Route("unsure", _unsure, unsure),
    Route("intent", lambda turn: True, understood),
)


def dispatch(turn: Turn) -> None:
    """Run the first route that matches and takes the message; then ask the language if we guessed it,
    and, while the trainee waits for a volunteer, tell them once where they stand."""
    # A waiting or claimed handoff always has its conversation `open` (conversations.open_handoff); any other
    # status needs no query.
    turn.handoff = (handoffs.active(session=turn.session, conversation_id=turn.conv.id)
                    if turn.conv.status == ConversationStatus.open else None)
    was_open = turn.handoff is not None
    for route in ROUTES:
        if route.check(turn) and route.handle(turn) is not False:
            turn.route = route.name
            break
    if turn.forgotten:
        return
    if turn.ask_language and not turn.conv.lang_chosen:
        turn.say(replies.choose_language())
    handoff = turn.handoff  # the routes that open or end a handoff keep this up to date
    if turn.held or handoff is None or handoff.status not in conversations.ACTIVE_HANDOFF:
        return
    if was_open:  # already open before this message: the inbox shows it
        handoffs.emit(session=turn.session, handoff_id=handoff.id, kind="message.created")
    if handoff.status == HandoffStatus.waiting and not handoff.queue_told:
        turn.say(*handoffs.queue_notice(session=turn.session, handoff=handoff, lang=turn.lang, now=turn.now))


def needs_nlu(inbound: Inbound, urgent: bool) -> bool:
    """Only free text is sent to the NLU; never a command, never a message with danger words."""
    text = inbound.text or ""
    return inbound.kind == Kind.text and bool(text.strip()) and not text.lstrip().startswith("/") and not urgent


# ================================================================================ the engine
@dataclass
class _Loaded:
    inbound: Inbound
    urgent: bool
    conversation_id: int
    channel_sends: bool  # the channel has a sender (its replies go out from the outbox)


@dataclass
class _Step:
    """The lease and the next waiting message (None: nothing waiting)."""

    held: bool
    loaded: tuple[int, _Loaded] | None = None
    taken_at: float = 0.0  # time.monotonic() when the lease was last taken or renewed
    channel_sends: bool | None = None  # whether the conversation's channel has a sender (None: not known)


@dataclass
class _Done:
    """A processed turn: whether it went through, the volunteers' alerts, and what its transaction also read."""

    ok: bool
    alerts: list[tuple[str, str]] = field(default_factory=list)
    goodbye: list[Reply] | None = None
    next: _Step = field(default_factory=lambda: _Step(held=False))
    #: The replies to send now (sender, user id, rows), () for none; None when not read.
    outbox: tuple | None = None
    released: bool = False  # the lease was given back in the turn's transaction
    fresh: bool = False  # … and then a message not yet tried was found waiting


class Engine:
    """Channel-agnostic conversation engine: store, process in order under a lease, send from the outbox."""

    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        nlu: NluClient,
        settings: BotSettings | None = None,
        today: Callable[[], dt.date] = dt.date.today,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ):
        self.session_factory = session_factory
        self.nlu = nlu
        self.settings = settings or BotSettings()
        self.today = today
        self.now = now
        self.senders: dict[str, Sender] = {}
        #: Per channel: how to fetch an attachment's bytes and content type by its reference (Telegram's getFile,
        #: Zalo's image URL; the web chat's uploads are handed over in memory, `uploads`).
        self.fetchers: dict[str, Callable[[str], Awaitable[tuple[bytes, str | None]]]] = {"web": self._take_upload}
        #: Web chat uploads waiting for their turn in this process (the request that brought one drains it).
        self.uploads: dict[str, tuple[bytes, str | None]] = {}
        #: Replies after /forget waiting for the inline caller (nothing is stored for a forgotten trainee).
        self._forgotten: dict[int, list[Reply]] = {}
        #: `handle` waiting inline for a message (its language and `replied_inline`), and the outcome read for it by
        #: the turn that ended the drain.
        self._outcome_wanted: dict[int, tuple[str, bool]] = {}
        self._outcomes: dict[int, Outcome] = {}
        self._reminders_checked = float("-inf")

    def plan_reminders(self) -> int:
        """Make the runs of the rates whose first day has come (bot/reminders.py); their sends are outbox rows
        the worker sends. Returns how many runs were made."""
        try:
            with self.session_factory() as session:
                return len(reminders.plan_effective(session=session, now=self.now()))
        except Exception:
            logger.exception("planning the effective-date reminders failed; tried again at the next check")
            return 0

    async def _take_upload(self, key: str) -> tuple[bytes, str | None]:
        return self.uploads.pop(key)

    def add_sender(self, sender: Sender) -> None:
        self.senders[sender.channel] = sender

    # ------------------------------------------------------------------ storing
    async def receive(self, inbound: Inbound) -> conversations.Stored:
        """Store (commit) one inbound message; raises when it could not be stored (the channel redelivers)."""
        grace = dt.timedelta(seconds=self.settings.worker_grace_seconds)
        return await asyncio.to_thread(self._in_session, conversations.store_inbound, inbound=inbound, grace=grace,
                                       limiter=ratelimit.Limiter(self.settings))

    def _in_session(self, function, **kwargs):
        """Run a storage function in its own session and commit what it changed."""
        with self.session_factory() as session:
            result = function(session=session, **kwargs)
            session.commit()
            return result

    # ------------------------------------------------------------------ processing
    async def handle(self, inbound: Inbound, *, replied_inline: bool = True) -> Outcome:
        """Store the message, process it (and any earlier ones of this trainee) and return its outcome.

        Channels with a sender get their replies sent here too; for the others (web chat, terminal) the
        replies are in the outcome, together with earlier replies still waiting for them, and count as sent.
        """
        stored = await self.receive(inbound)
        lang = normalise_language(inbound.lang) or normalise_language(inbound.client_language) or DEFAULT_LANGUAGE
        if stored.duplicate:  # a retry: the first delivery's replies again (once it has been answered)
            await self.drain(stored.conversation_id, wait=self.settings.worker_lease_seconds)
            take = inbound.channel not in self.senders and replied_inline
            replayed = await asyncio.to_thread(self._replies_to, stored.message_id, stored.conversation_id, take)
            return Outcome(replies=replayed, lang=lang, duplicate=True, conversation_id=stored.conversation_id)
        if stored.held:  # rate-limited: still answered at once if the NLU reads an emergency
            await self._release_if_emergency(stored, inbound)
        # When this message's turn is the drain's last (the usual case), the turn's own session reads the outcome.
        self._outcome_wanted[stored.message_id] = (lang, replied_inline)
        try:
            await self.drain(stored.conversation_id, wait=self.settings.worker_lease_seconds)
        finally:
            self._outcome_wanted.pop(stored.message_id, None)
        outcome = self._outcomes.pop(stored.message_id, None)
        return outcome or await asyncio.to_thread(self._outcome, stored, lang, replied_inline)

    async def _release_if_emergency(self, stored: conversations.Stored, inbound: Inbound) -> None:
        """A message held by the rate limits waits for its window, unless the NLU reads an emergency in it."""
        if not needs_nlu(inbound, stored.urgent):
            return
        try:
            parse = await self.nlu.parse(inbound.text)
        except NluUnavailable:  # the NLU down: the danger words were already checked when it was stored
            return
        if safety.is_emergency(text=inbound.text, parse=parse, floor=self.settings.nlu_emergency_floor):
            await asyncio.to_thread(self._in_session, ratelimit.release_urgent, message_id=stored.message_id)

    async def drain(self, conversation_id: int, *, wait: float = 0.0, owner: str | None = None) -> bool:
        """Process the conversation's waiting messages in order and send their replies, under its lease.

        Returns False when another holder has the lease for longer than `wait` seconds (that holder, or
        the worker after it, will process what we stored). A failure stops the drain: the messages after
        it wait their turn, so one trainee's messages are always answered in order.

        A turn's transaction also reads the next waiting message (renewing the lease when a third of it has
        run out), the replies to send now, and on a channel without a sender gives the lease back when nothing
        is left: one transaction per turn rather than three.
        """
        owner = owner or secrets.token_hex(8)
        deadline = time.monotonic() + wait
        while True:
            step = await asyncio.to_thread(self._step, conversation_id, owner)
            if step.held:
                break
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.02)
        for _ in range(3):
            released = fresh = False
            try:
                while step.loaded is not None:
                    message_id, item = step.loaded
                    done = await self._process(message_id, item, owner, step.taken_at)
                    if item.channel_sends:  # this turn's replies go out before the next turn
                        await self._send_pending(conversation_id, done.outbox)
                    await self._alert_volunteers(done.alerts)  # after the trainee's own replies
                    if not done.ok:
                        break
                    step, released, fresh = done.next, done.released, done.fresh
                if step.loaded is None and not released and step.channel_sends is not False:
                    # Replies left over from an earlier holder are sent first; without any, one transaction reads
                    # that and gives the lease back.
                    leftover, fresh = await asyncio.to_thread(self._release_unless_pending, conversation_id, owner)
                    if leftover:
                        await self._send_pending(conversation_id, leftover)
                    else:
                        released = True
            finally:
                if not released:
                    fresh = await asyncio.to_thread(self._release, conversation_id, owner)
            # A message stored while we were finishing found the lease taken and left it to us: take it on now
            # rather than leave it to the worker's next pass.
            if not fresh:
                break
            step = await asyncio.to_thread(self._step, conversation_id, owner)
            if not step.held:
                break
        return True

    def _step(self, conversation_id: int, owner: str) -> _Step:
        """Take or renew the lease and read the next waiting message, in one transaction."""
        with self.session_factory() as session:
            taken_at = time.monotonic()
            if not conversations.acquire_lease(session=session, conversation_id=conversation_id, owner=owner,
                                               seconds=self.settings.worker_lease_seconds):
                return _Step(held=False)
            found = conversations.next_received_with_conversation(session=session, conversation_id=conversation_id)
            return self._next(found, taken_at)

    def _next(self, found: tuple[Message, Conversation] | None, taken_at: float,
              channel_sends: bool | None = None) -> _Step:
        if found is None:
            return _Step(held=True, taken_at=taken_at, channel_sends=channel_sends)
        message, conversation = found
        sends = conversation.channel in self.senders
        item = _Loaded(conversations.inbound_of(message, conversation), message.urgent, conversation.id, sends)
        return _Step(held=True, loaded=(message.id, item), taken_at=taken_at, channel_sends=sends)

    def _release(self, conversation_id: int, owner: str) -> bool:
        """Give the lease back; True when a message not yet tried is waiting (stored while we were finishing)."""
        with self.session_factory() as session:
            conversations.release_lease(session=session, conversation_id=conversation_id, owner=owner)
            return self._fresh_waiting(session, conversation_id)

    def _release_unless_pending(self, conversation_id: int, owner: str) -> tuple[tuple | None, bool]:
        """The replies waiting to be sent (keeping the lease), or else `_release` in the same session."""
        with self.session_factory() as session:
            conv = session.get(Conversation, conversation_id)
            batch = self._pending_in(session, conv) if conv is not None else None
            if batch:
                return batch, False
            conversations.release_lease(session=session, conversation_id=conversation_id, owner=owner)
            return None, self._fresh_waiting(session, conversation_id)

    @staticmethod
    def _fresh_waiting(session: Session, conversation_id: int) -> bool:
        message = conversations.next_received(session=session, conversation_id=conversation_id)
        return message is not None and message.attempts == 0

    async def _read_attachment(self, inbound: Inbound) -> tuple[dict | None, bool]:
        """A photo or file read as a payslip, in memory: (item key → number, or {} when nothing was read; whether
        the file is of a kind that cannot be read). (None, False) when there is nothing to read."""
        fetch = self.fetchers.get(inbound.channel)
        if inbound.kind not in (Kind.photo, Kind.file) or not inbound.attachment or fetch is None:
            return None, False
        try:
            data, content_type = await fetch(inbound.attachment)
        except Exception as exc:  # gone (an upload of a process that restarted), or the channel refused
            logger.warning("an attachment could not be fetched: %s", type(exc).__name__)
            return {}, False
        from knowledge import payslip_ocr  # the OCR engine loads only when a photo comes
        try:
            reading = await asyncio.to_thread(payslip_ocr.read_payslip, data, content_type)
        except payslip_ocr.PayslipUploadError:  # not an image or PDF, too large, a decompression bomb
            return None, True
        except Exception:
            logger.exception("reading a payslip failed")
            return {}, False
        finally:
            del data  # processed in memory: nothing of the photo is kept
        return reading.values(), False

    async def _process(self, message_id: int, item: _Loaded, owner: str, taken_at: float) -> _Done:
        """One turn: danger words answer at once; anything else asks the NLU (outside any transaction).
        Returns whether it was processed, the alerts for the volunteers' group, and what comes next."""
        parse, down = None, False
        reading, unreadable_file = await self._read_attachment(item.inbound)
        if needs_nlu(item.inbound, item.urgent):
            try:
                parse = await self.nlu.parse(item.inbound.text)
            except NluUnavailable:
                logger.error("NLU unavailable for conversation %s", item.conversation_id)
                down = True
        try:
            done = await asyncio.to_thread(self._run_turn, message_id, item, parse, down, owner, taken_at,
                                           reading, unreadable_file)
        except Exception as exc:
            logger.exception("processing message %s failed", message_id)
            await asyncio.to_thread(self._failed, message_id, f"{type(exc).__name__}: {exc}")
            return _Done(ok=False)
        if done.goodbye is not None:
            await self._say_goodbye(message_id, item.inbound, done.goodbye)
        return done

    async def _alert_volunteers(self, alerts: list[tuple[str, str]]) -> None:
        """Best effort: tell the volunteers' group of a new urgent handoff (if configured)."""
        chat = self.settings.handoff_notify_telegram_chat
        sender = self.senders.get("telegram")
        if not alerts or not chat or sender is None:
            return
        base = (self.settings.inbox_public_url or "").rstrip("/")
        for text, public_id in alerts:
            link = f" {base}/inbox/h/{public_id}" if base else ""
            try:
                await sender.send(chat, Reply(text + link))
            except SendFailed as exc:
                logger.warning("the volunteers' group could not be told of an urgent handoff: %s", exc)

    async def _say_goodbye(self, message_id: int, inbound: Inbound, goodbye: list[Reply]) -> None:
        """The replies after /forget: sent once, best effort, or handed to the caller waiting inline."""
        sender = self.senders.get(inbound.channel)
        if sender is None:
            self._forgotten[message_id] = goodbye
            while len(self._forgotten) > 1000:
                self._forgotten.pop(next(iter(self._forgotten)))
            return
        for reply in goodbye:
            try:
                await sender.send(inbound.user_id, reply)
            except SendFailed as exc:
                logger.warning("the reply after /forget could not be sent: %s", exc)

    def _run_turn(self, message_id: int, item: _Loaded, parse: Parse | None, down: bool, owner: str,
                  taken_at: float, reading: dict | None = None, unreadable_file: bool = False) -> _Done:
        """Decide and store the turn in one transaction, which also reads what comes next (see `drain`).
        Its `goodbye`: the replies when the trainee's data was just deleted (they are sent, but not stored)."""
        with self.session_factory() as session:
            message, conv = conversations.message_with_conversation(session=session, message_id=message_id)
            inbound = self._numbered_choice(session, conv, message, item.inbound)
            if message.meta and "attachment" in message.meta:  # read (or not): the reference goes
                message.meta = {k: v for k, v in message.meta.items() if k != "attachment"} or None
            turn = Turn(session=session, conv=conv, inbound=inbound, parse=parse, nlu_down=down, reading=reading,
                        unreadable_file=unreadable_file,
                        settings=self.settings, today=self.today(), now=self.now(), urgent=message.urgent,
                        intent=parse.intent if parse else None, confidence=parse.confidence if parse else None)
            choice = decisions.choose_language(inbound, current=conv.lang, chosen=conv.lang_chosen,
                                               pending_slot=conv.pending_slot)
            conv.lang, conv.lang_chosen, turn.ask_language, turn.lang = choice.lang, choice.chosen, choice.ask, choice.lang
            dispatch(turn)
            if turn.forgotten:  # nothing of the trainee is kept, not even the goodbye; no lease left to give back
                session.commit()
                return _Done(ok=True, goodbye=turn.replies, next=_Step(held=False, channel_sends=False),
                             released=True)
            conversations.mark_processed(message=message, intent=turn.intent, confidence=turn.confidence)
            learning.after_turn(session=session, turn=turn, message=message)
            conversations.record_replies(session=session, conversation=conv, reply_to=message, replies=turn.replies,
                                         urgent=turn.urgent)
            done = _Done(ok=True, alerts=list(zip(turn.alerts, turn.alert_ids)))
            if time.monotonic() - taken_at > self.settings.worker_lease_seconds / 3:  # renew the lease
                taken_at = time.monotonic()
                held = conversations.acquire_lease(session=session, conversation_id=conv.id, owner=owner,
                                                   seconds=self.settings.worker_lease_seconds, commit=False)
            else:
                held = True
            if held:
                found = conversations.next_received_with_conversation(session=session, conversation_id=conv.id)
                done.next = self._next(found, taken_at, item.channel_sends)
                if found is None and not item.channel_sends:  # nothing to send from here: give the lease back
                    conversations.release_lease(session=session, conversation_id=conv.id, owner=owner, commit=False)
                    done.released = True
            else:
                done.next = _Step(held=False, channel_sends=item.channel_sends)
            if item.channel_sends:
                done.outbox = self._pending_in(session, conv) or ()
            session.commit()
            if done.released:  # a message stored while we were finishing found the lease taken and left it to us
                done.fresh = self._fresh_waiting(session, conv.id)
                wanted = self._outcome_wanted.get(message_id)
                if wanted is not None and not done.fresh:  # the drain ends here: `handle`'s outcome, read now
                    self._outcomes[message_id] = self._outcome_in(session, message, conv, *wanted)
                    while len(self._outcomes) > 1000:  # one `handle` gave up waiting just then: not kept forever
                        self._outcomes.pop(next(iter(self._outcomes)))
            return done

    @staticmethod
    def _numbered_choice(session: Session, conv: Conversation, message: Message, inbound: Inbound) -> Inbound:
        """On channels that number their buttons, a message of just a number presses that button."""
        if conv.channel not in NUMBERED_BUTTON_CHANNELS or inbound.kind != Kind.text:
            return inbound
        match = _CHOICE.fullmatch(inbound.text or "")
        if not match:
            return inbound
        offered = conversations.offered_buttons(session=session, conversation_id=conv.id, before_message_id=message.id)
        number = int(match.group(1))
        if not 1 <= number <= len(offered):
            return inbound
        return dataclasses.replace(inbound, kind=Kind.button, payload=offered[number - 1]["payload"], text=None)

    def _failed(self, message_id: int, error: str) -> None:
        """Count a failed attempt; after the last one, give up and tell the trainee where to call."""
        with self.session_factory() as session:
            message = session.get(Message, message_id)
            if message is None:
                return
            dead = conversations.record_processing_failure(
                message=message, error=error, max_attempts=self.settings.outbox_max_attempts,
                backoff=dt.timedelta(seconds=self.settings.outbox_backoff_seconds))
            if dead:
                conv = session.get(Conversation, message.conversation_id)
                logger.error("message %s is dead after %d attempts; the trainee gets an apology",
                             message_id, message.attempts)
                conversations.record_replies(session=session, conversation=conv, reply_to=message,
                                             replies=[replies.processing_failed(session, conv.lang or DEFAULT_LANGUAGE)],
                                             urgent=message.urgent)
            session.commit()

    # ------------------------------------------------------------------ sending
    async def _send_pending(self, conversation_id: int, batch: tuple | None = None) -> None:
        """Send the conversation's unsent replies in order, through its channel's sender (if it has one).
        `batch`: those replies as the turn's own transaction read them (`_pending_in`; () for none)."""
        if batch is None:
            batch = await asyncio.to_thread(self._pending, conversation_id)
        if not batch:
            return
        sender, user_id, rows = batch
        for index, (outbound_id, reply, first_number, by_volunteer) in enumerate(rows):
            try:
                await sender.send(user_id, reply, first_number=first_number)
            except SendFailed as exc:
                logger.error("sending reply %s of conversation %s failed: %s", outbound_id, conversation_id, exc)
                rest = [row[0] for row in rows[index:]]
                await asyncio.to_thread(self._send_failed, outbound_id, str(exc), exc.retryable,
                                        rest if exc.rest_too else [outbound_id])
                if exc.retryable or exc.rest_too:
                    return  # the later replies wait: they make sense only after this one
                continue
            await asyncio.to_thread(self._in_session, conversations.mark_sent, ids=[outbound_id],
                                    by_volunteer=by_volunteer)

    def _pending(self, conversation_id: int) -> tuple[Sender, str, list[tuple[int, Reply, int, bool]]] | None:
        with self.session_factory() as session:
            conv = session.get(Conversation, conversation_id)
            return None if conv is None else self._pending_in(session, conv)

    def _pending_in(self, session: Session,
                    conv: Conversation) -> tuple[Sender, str, list[tuple[int, Reply, int, bool]]] | None:
        sender = self.senders.get(conv.channel)
        if sender is None:
            return None
        rows = conversations.pending_outbound(session=session, conversation_id=conv.id)
        numbered = conv.channel in NUMBERED_BUTTON_CHANNELS  # only they need where the numbering starts
        out = [(m.id, conversations.reply_of(m),
                1 + conversations.buttons_before(session=session, message=m) if numbered else 1,
                m.volunteer_id is not None)
               for m in rows]
        return (sender, conv.channel_user_id, out) if out else None

    def _send_failed(self, outbound_id: int, error: str, retryable: bool, ids: list[int]) -> None:
        with self.session_factory() as session:
            for message in session.scalars(select(Message).where(Message.id.in_(ids)).order_by(Message.id)):
                status = conversations.record_send_failure(
                    message=message, error=error, retryable=retryable,
                    max_attempts=self.settings.outbox_max_attempts,
                    backoff=dt.timedelta(seconds=self.settings.outbox_backoff_seconds))
                if status == MessageStatus.dead:
                    logger.error("reply %s is dead after %d attempts", message.id, message.attempts)
            conversations.delivery_changed(session=session, ids=ids)  # a volunteer sees their reply is not out
            session.commit()

    # ------------------------------------------------------------------ the worker
    async def run_due(self, *, limit: int = 20) -> int:
        """One worker tick: claim conversations with due work (urgent first) and drain each. Returns how many."""
        owner = secrets.token_hex(8)
        await asyncio.to_thread(self._in_session, ratelimit.tick)  # rate limits: held messages now due, old buckets
        if time.monotonic() >= self._reminders_checked + self.settings.reminder_check_seconds:
            self._reminders_checked = time.monotonic()
            await asyncio.to_thread(self.plan_reminders)
        silent = await asyncio.to_thread(self._in_session, handoffs.requeue_silent,
                                         silence=dt.timedelta(minutes=self.settings.handoff_silence_minutes))
        for conversation_id in silent:
            await self.drain(conversation_id)
        claimed = await asyncio.to_thread(
            self._in_session, conversations.claim_due, owner=owner, seconds=self.settings.worker_lease_seconds,
            send_channels=list(self.senders), limit=limit)
        for conversation_id in claimed:
            try:
                await self.drain(conversation_id, owner=owner)
            except Exception:
                logger.exception("worker: draining conversation %s failed", conversation_id)
        return len(claimed)

    async def run_worker(self, *, stop: asyncio.Event) -> None:
        """Tick every `worker_poll_seconds` until `stop` is set (one per app process)."""
        while not stop.is_set():
            try:
                busy = await self.run_due()
            except Exception:
                logger.exception("worker tick failed")
                busy = 0
            if not busy:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.settings.worker_poll_seconds)
                except TimeoutError:
                    pass

    # ------------------------------------------------------------------ outcomes
    def _replies_to(self, message_id: int, conversation_id: int, take: bool) -> list[Reply]:
        """A retried delivery's replies again. `take` (a channel without a sender, answered inline: the web chat):
        the client lost the first response (e.g. the database went away before it was sent), so the replies shown
        now, and any other still waiting for the trainee, count as sent (else the page's stream shows them twice)."""
        with self.session_factory() as session:
            rows = conversations.replies_to(session=session, message_id=message_id)
            if take:
                shown = {m.id for m in rows}
                rows += [m for m in conversations.take_unsent(session=session, conversation_id=conversation_id)
                         if m.id not in shown]
                session.commit()
            return [conversations.reply_of(m) for m in rows]

    def _outcome(self, stored: conversations.Stored, lang: str, replied_inline: bool) -> Outcome:
        """What this message got: its replies (for channels without a sender, every reply still waiting
        for the trainee, oldest first, now counted as sent), its intent, and the open handoff's public id."""
        with self.session_factory() as session:
            message, conv = (conversations.message_with_conversation(session=session, message_id=stored.message_id)
                             or (None, None))
            if message is None or conv is None:  # forgotten in this turn
                return Outcome(replies=self._forgotten.pop(stored.message_id, []), lang=lang)
            return self._outcome_in(session, message, conv, lang, replied_inline)

    def _outcome_in(self, session: Session, message: Message, conv: Conversation, lang: str,
                    replied_inline: bool) -> Outcome:
        """`_outcome` of a message and conversation already loaded in `session` (commits)."""
        lang = conv.lang or lang
        if message.status not in (MessageStatus.processed, ratelimit.HELD, ratelimit.FLOODED):  # failed, or another
            # holder has it (a rate-limited message has whatever the limiter recorded for it: the notice or nothing)
            return Outcome(replies=[replies.error(lang)], lang=lang, conversation_id=conv.id)
        if conv.channel in self.senders or not replied_inline:
            rows = conversations.replies_to(session=session, message_id=message.id)
        else:
            rows = conversations.take_unsent(session=session, conversation_id=conv.id)
        handoff = (conversations.active_handoff(session=session, conversation_id=conv.id)
                   if conv.status == ConversationStatus.open else None)
        outcome = Outcome(
            replies=[conversations.reply_of(m) for m in rows], lang=lang, intent=message.intent,
            confidence=message.confidence, handoff_id=handoff.public_id if handoff else None,
            outbound_ids=[m.id for m in rows], conversation_id=conv.id,
        )
        session.commit()
        return outcome
