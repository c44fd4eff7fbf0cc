"""The conversation engine: one inbound message in, replies out, state in the database.

Every inbound message is stored (committed) before it is processed; a crash in between leaves
it `received`, to be retried. Replies are stored as `pending` and marked `sent` by the channel.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from decimal import Decimal

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot import danger, langdetect, messages
from bot.config import BotSettings
from bot.i18n import DEFAULT_LANGUAGE, date, normalise_language, t, yen
from bot.models import Conversation, ConversationStatus, Direction, Message, MessageStatus, Priority
from bot.nlu_client import NluClient, NluUnavailable, Parse
from bot.schemas import Button, Inbound, Kind, Outcome, Reply
from knowledge import prefectures, wages
from knowledge import service as knowledge_service
from knowledge.intents import LANGUAGES, TOPICS
from knowledge.models import Contact, MinimumWage

logger = logging.getLogger(__name__)

LANGUAGE_NAMES = {"vi": "Tiếng Việt", "id": "Bahasa Indonesia", "tl": "Tagalog", "ja": "日本語", "en": "English"}
#: Topics first in the menu: the mission core.
MENU_ORDER = (
    "minimum_wage", "wage_check", "fines_penalties", "passport_confiscation", "job_transfer",
    "unpaid_overtime", "salary_deductions", "dismissal_return", "harassment_violence", "work_injury",
    "pregnancy_rights", "paid_leave", "broker_debt", "support_contacts", "talk_to_human", "emergency",
)
YES_WORDS = {"yes", "y", "ok", "có", "co", "ya", "iya", "oo", "opo", "はい", "うん"}


def is_emergency(parse: Parse, floor: float) -> bool:
    """Emergency when it is the top intent, or its score reaches `floor` (a miss costs more than a false alarm)."""
    return parse.intent == "emergency" or dict(parse.ranking).get("emergency", 0.0) >= floor


class Engine:
    """Channel-agnostic conversation engine."""

    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        nlu: NluClient,
        settings: BotSettings | None = None,
        today: Callable[[], dt.date] = dt.date.today,
    ):
        self.session_factory = session_factory
        self.nlu = nlu
        self.settings = settings or BotSettings()
        self.today = today

    # ------------------------------------------------------------------ entry points
    async def handle(self, inbound: Inbound, *, replied_inline: bool = False) -> Outcome:
        """Store, understand and answer one inbound message.

        `replied_inline`: the channel returns the replies in its HTTP response (web chat), so they are
        stored as sent at once; other channels send them and call mark_sent / mark_failed.
        """
        conversation_id, message_id, duplicate = await asyncio.to_thread(self._store_inbound, inbound)
        if duplicate:
            return Outcome(replies=[], lang=DEFAULT_LANGUAGE, duplicate=True, conversation_id=conversation_id)
        parse: Parse | None = None
        nlu_down = False
        if inbound.kind == Kind.text and inbound.text and not inbound.text.lstrip().startswith("/"):
            try:
                parse = await self.nlu.parse(inbound.text)
            except NluUnavailable:
                logger.error("NLU unavailable for conversation %s", conversation_id)
                nlu_down = True
        try:
            return await asyncio.to_thread(self._process, message_id, inbound, parse, nlu_down, replied_inline)
        except Exception:
            logger.exception("processing failed for message %s; it stays 'received' for retry", message_id)
            lang = normalise_language(inbound.lang) or normalise_language(inbound.client_language) or DEFAULT_LANGUAGE
            return Outcome(replies=[Reply(t(lang, messages.ERROR))], lang=lang, conversation_id=conversation_id)

    def mark_sent(self, outbound_ids: list[int]) -> None:
        self._mark(outbound_ids, MessageStatus.sent, None)

    def mark_failed(self, outbound_ids: list[int], error: str) -> None:
        self._mark(outbound_ids, MessageStatus.failed, error[:300])

    def unprocessed(self, *, older_than: dt.timedelta = dt.timedelta(0)) -> list[int]:
        """Ids of inbound messages stored but never processed (to retry)."""
        cutoff = dt.datetime.now(dt.UTC) - older_than
        with self.session_factory() as session:
            return list(session.scalars(
                select(Message.id).where(
                    Message.direction == Direction.inbound,
                    Message.status == MessageStatus.received,
                    Message.created_at <= cutoff,
                )
            ))

    # ------------------------------------------------------------------ storage
    def _store_inbound(self, inbound: Inbound) -> tuple[int, int, bool]:
        with self.session_factory() as session:
            conversation = self._conversation(session, inbound.channel, inbound.user_id)
            if inbound.message_id:
                existing = self._delivery(session, inbound)
                if existing is not None:
                    return existing.conversation_id, existing.id, existing.status != MessageStatus.received
            message = Message(
                conversation_id=conversation.id,
                channel=inbound.channel,
                channel_message_id=inbound.message_id,
                direction=Direction.inbound,
                kind=inbound.kind,
                text=inbound.text if inbound.kind == Kind.text else inbound.payload,
                status=MessageStatus.received,
            )
            session.add(message)
            try:
                session.commit()
            except IntegrityError:  # the same delivery raced in through another process
                session.rollback()
                existing = self._delivery(session, inbound)
                return existing.conversation_id, existing.id, True
            return conversation.id, message.id, False

    @staticmethod
    def _delivery(session: Session, inbound: Inbound) -> Message | None:
        """The stored message of this channel delivery (same channel message id), if any."""
        return session.scalar(
            select(Message).where(Message.channel == inbound.channel, Message.channel_message_id == inbound.message_id)
        )

    def _conversation(self, session: Session, channel: str, user_id: str) -> Conversation:
        query = select(Conversation).where(Conversation.channel == channel, Conversation.channel_user_id == user_id)
        conversation = session.scalar(query)
        if conversation is None:
            conversation = Conversation(channel=channel, channel_user_id=user_id, slots={})
            session.add(conversation)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                conversation = session.scalar(query)
        return conversation

    def _mark(self, ids: list[int], status: str, error: str | None) -> None:
        if not ids:
            return
        with self.session_factory() as session:
            for message in session.scalars(select(Message).where(Message.id.in_(ids))):
                message.status = status
                message.attempts += 1
                message.error = error
            session.commit()

    # ------------------------------------------------------------------ processing
    def _process(
        self, message_id: int, inbound: Inbound, parse: Parse | None, nlu_down: bool, replied_inline: bool = False
    ) -> Outcome:
        with self.session_factory() as session:
            message = session.get(Message, message_id)
            conversation = session.get(Conversation, message.conversation_id)
            turn = _Turn(self, session, conversation, inbound, parse, nlu_down)
            turn.run()
            if turn.forgotten:
                session.commit()
                return Outcome(replies=turn.replies, lang=turn.lang, intent=turn.intent)
            message.status = MessageStatus.processed
            message.intent = turn.intent
            message.confidence = turn.confidence
            outbound = [
                Message(
                    conversation_id=conversation.id,
                    channel=conversation.channel,
                    direction=Direction.outbound,
                    kind=Kind.text,
                    text=(f"{r.title}\n{r.text}" if r.title else r.text),
                    buttons=[{"label": b.label, "payload": b.payload} for b in r.buttons] or None,
                    status=MessageStatus.sent if replied_inline else MessageStatus.pending,
                )
                for r in turn.replies
            ]
            session.add_all(outbound)
            session.commit()
            return Outcome(
                replies=turn.replies,
                lang=turn.lang,
                intent=turn.intent,
                confidence=turn.confidence,
                handoff_id=conversation.id if conversation.status == ConversationStatus.open else None,
                outbound_ids=[m.id for m in outbound],
                conversation_id=conversation.id,
            )


class _Turn:
    """The decisions of one turn; collects replies and updates the conversation."""

    def __init__(self, engine: Engine, session: Session, conversation: Conversation, inbound: Inbound,
                 parse: Parse | None, nlu_down: bool):
        self.engine = engine
        self.session = session
        self.conv = conversation
        self.inbound = inbound
        self.parse = parse
        self.nlu_down = nlu_down
        self.replies: list[Reply] = []
        self.intent: str | None = parse.intent if parse else None
        self.confidence: float | None = parse.confidence if parse else None
        self.forgotten = False
        self.ask_language = False
        self.lang = self._language()

    # ---------------------------------------------------------------- language
    def _language(self) -> str:
        conv, inbound = self.conv, self.inbound
        explicit = normalise_language(inbound.lang)
        if explicit:
            conv.lang, conv.lang_chosen = explicit, True
            return explicit
        if inbound.kind == Kind.button and (inbound.payload or "").startswith("lang:"):
            chosen = normalise_language(inbound.payload.split(":", 1)[1])
            if chosen:
                conv.lang, conv.lang_chosen = chosen, True
                return chosen
        if conv.lang_chosen and conv.lang:
            return conv.lang
        client = normalise_language(inbound.client_language)
        text = inbound.text if inbound.kind == Kind.text else None
        if text and not text.lstrip().startswith("/") and not conv.pending_slot:
            detection = langdetect.detect(text, client_language=client, previous=conv.lang)
            if detection.lang:
                conv.lang = detection.lang
            elif conv.lang is None:
                conv.lang = max(detection.scores, key=detection.scores.get)
                self.ask_language = client is None
        if conv.lang is None:
            conv.lang = client or DEFAULT_LANGUAGE
            self.ask_language = client is None
        return conv.lang

    def t(self, message: str, **values: object) -> str:
        return t(self.lang, message, **values)

    # ---------------------------------------------------------------- dispatch
    def run(self) -> None:
        kind = self.inbound.kind
        if kind == Kind.follow:
            self._greet()
        elif kind == Kind.unfollow:
            return
        elif kind == Kind.button:
            self._button(self.inbound.payload or "")
        elif kind != Kind.text or not (self.inbound.text or "").strip():
            self.replies.append(Reply(self.t(messages.NON_TEXT), self._menu_buttons()))
        elif self.inbound.text.lstrip().startswith("/"):
            self._command(self.inbound.text.strip().split()[0].lower())
        else:
            self._text(self.inbound.text)
        if self.ask_language and not self.conv.lang_chosen and not self.forgotten:
            self.replies.append(Reply(t(DEFAULT_LANGUAGE, messages.CHOOSE_LANGUAGE), self._language_buttons()))

    def _command(self, command: str) -> None:
        command = command.split("@")[0]
        if command == "/start":
            self._greet()
        elif command == "/language":
            self.replies.append(Reply(self.t(messages.CHOOSE_LANGUAGE), self._language_buttons()))
            self.ask_language = False
        elif command == "/human":
            self._handoff(Priority.medium)
        elif command == "/forget":
            self.conv.pending_slot = "forget_confirm"
            self.replies.append(Reply(self.t(messages.FORGET_CONFIRM), (
                Button(self.t(messages.BUTTON_YES_DELETE), "forget:yes"), Button(self.t(messages.BUTTON_NO), "forget:no"),
            )))
        else:
            self.replies.append(Reply(self.t(messages.HELP), self._menu_buttons()))

    def _button(self, payload: str) -> None:
        action, _, arg = payload.partition(":")
        if action == "lang":
            self.replies.append(Reply(self.t(messages.LANGUAGE_SET)))
            self.replies.append(Reply(self.t(messages.MENU), self._menu_buttons()))
        elif action == "topic" and arg in TOPICS:
            self._clear_slots()
            self.intent, self.confidence = arg, 1.0
            self._intent(arg, entities=None, text="")
        elif action == "more" and arg in TOPICS:
            entry = knowledge_service.get_entry(session=self.session, topic=arg, lang=self.lang)
            text = entry.more if entry and entry.more else self.t(messages.NO_MORE)
            self.replies.append(Reply(text, self._answer_buttons(arg, more=False)))
        elif action == "human":
            self._handoff(Priority.medium)
        elif action == "menu":
            self._clear_slots()
            self.replies.append(Reply(self.t(messages.MENU), self._menu_buttons()))
        elif action == "period" and arg in wages.PayPeriod.__members__:
            self._set_slot("period", arg)
            self._wage_check_continue()
        elif action == "forget":
            if arg == "yes":
                self._forget()
            else:
                self.conv.pending_slot = None
                self.replies.append(Reply(self.t(messages.FORGET_CANCELLED)))
        else:
            self.replies.append(Reply(self.t(messages.MENU), self._menu_buttons()))

    def _text(self, text: str) -> None:
        if danger.is_danger(text):
            self.intent = "emergency"
            self._emergency()
            return
        if self.conv.pending_slot and self._fill_pending(text):
            return
        if self.nlu_down or self.parse is None:
            self.replies.append(Reply(self.t(messages.NLU_DOWN), self._menu_buttons()))
            return
        parse = self.parse
        if is_emergency(parse, self.engine.settings.nlu_emergency_floor):
            self.intent = "emergency"
            self._emergency()
            return
        if parse.intent is None or parse.confidence < self.engine.settings.nlu_threshold:
            self.conv.misses = (self.conv.misses or 0) + 1
            if self.conv.misses >= 2:
                self.replies.append(Reply(self.t(messages.OFFER_HUMAN), (
                    Button(self.t(messages.BUTTON_HUMAN), "human"), Button(self.t(messages.BUTTON_TOPICS), "menu"),
                )))
            else:
                self.replies.append(Reply(self.t(messages.CLARIFY), self._clarify_buttons(parse)))
            return
        self.conv.misses = 0
        self._intent(parse.intent, entities=parse, text=text)

    def _intent(self, intent: str, *, entities: Parse | None, text: str) -> None:
        self.conv.last_topic = intent if intent in TOPICS else self.conv.last_topic
        if intent == "greet":
            self._greet()
        elif intent == "goodbye":
            self.replies.append(Reply(self.t(messages.GOODBYE)))
        elif intent == "thanks":
            self.replies.append(Reply(self.t(messages.THANKS), (Button(self.t(messages.BUTTON_TOPICS), "menu"),)))
        elif intent == "out_of_scope":
            self.replies.append(Reply(self.t(messages.OUT_OF_SCOPE), self._menu_buttons()))
        elif intent == "emergency":
            self._emergency()
        elif intent == "talk_to_human":
            self._handoff(Priority.medium)
        elif intent == "minimum_wage":
            self._clear_slots()
            self._set_slot("prefecture", self._prefecture(entities, text))
            self._minimum_wage()
        elif intent == "wage_check":
            self._clear_slots()
            self._collect_wage_slots(entities, text)
            self._wage_check_continue()
        elif intent in TOPICS:
            self._topic(intent)
        else:
            self.replies.append(Reply(self.t(messages.MENU), self._menu_buttons()))

    # ---------------------------------------------------------------- slots
    def _clear_slots(self) -> None:
        self.conv.pending_slot = None
        self.conv.pending_topic = None
        self.conv.slots = {}

    def _set_slot(self, name: str, value: object) -> None:
        if value is not None:
            self.conv.slots = {**(self.conv.slots or {}), name: str(value)}

    def _set_hours(self, hours: Decimal | None) -> None:
        """Working hours as trainees give them: up to 24 is per day, more is per month."""
        if hours is not None:
            self._set_slot("hours_per_day" if hours <= 24 else "hours_per_month", hours)

    def _prefecture(self, parse: Parse | None, text: str) -> str | None:
        entity = parse.first("prefecture") if parse else None
        for candidate in ((entity.value, entity.text) if entity else ()):
            found = prefectures.resolve(candidate)
            if found:
                return found
        return prefectures.find_in_text(text) if text else None

    def _collect_wage_slots(self, parse: Parse | None, text: str) -> None:
        amount_entity = parse.first("amount_yen") if parse else None
        amount = None
        try:
            if amount_entity:
                amount = wages.parse_amount(amount_entity.text)
        except wages.AmountError:
            amount = None
        if amount is None and text:
            try:
                amount = wages.find_amount(text)
            except wages.AmountError:
                amount = None
        self._set_slot("amount", amount)
        period_entity = parse.first("pay_period") if parse else None
        period = wages.parse_period(period_entity.value) if period_entity else None
        if period is None and text:
            period = wages.parse_period(text)
        self._set_slot("period", period.value if period else None)
        hours_entity = parse.first("hours") if parse else None
        hours = None
        if hours_entity:
            try:
                hours = wages.parse_hours(hours_entity.text)
            except wages.AmountError:
                hours = None
        if hours is None and text:
            hours = wages.find_hours(text)
        self._set_hours(hours)
        self._set_slot("prefecture", self._prefecture(parse, text))

    def _fill_pending(self, text: str) -> bool:
        """Try the text as the answer to the pending question; False when it is something else."""
        slot, topic = self.conv.pending_slot, self.conv.pending_topic
        if slot == "forget_confirm":
            self.conv.pending_slot = None
            if danger.normalise(text) in YES_WORDS:
                self._forget()
                return True
            self.replies.append(Reply(self.t(messages.FORGET_CANCELLED)))
            return False
        parse = self.parse
        other_intent = (
            parse is not None and parse.intent not in (None, topic, "wage_check", "minimum_wage")
            and parse.confidence >= max(0.8, self.engine.settings.nlu_threshold)
        )
        if slot == "prefecture":
            found = prefectures.resolve(text) or self._prefecture(parse, text)
            if found:
                self._set_slot("prefecture", found)
                self._continue(topic)
                return True
            return self._not_an_answer(other_intent, Reply(self.t(messages.UNKNOWN_PREFECTURE)))
        if slot == "amount":
            try:
                amount = wages.find_amount(text)
            except wages.AmountError:
                amount = None
            if amount is not None:
                self._collect_wage_slots(parse, text)
                self._wage_check_continue()
                return True
            return self._not_an_answer(other_intent, Reply(self.t(messages.BAD_AMOUNT)))
        if slot == "period":
            period = wages.parse_period(text)
            if period is not None:
                self._set_slot("period", period.value)
                self._set_hours(wages.find_hours(text))
                self._wage_check_continue()
                return True
            return self._not_an_answer(other_intent, Reply(self.t(messages.ASK_PERIOD), self._period_buttons()))
        self._clear_slots()
        return False

    def _not_an_answer(self, other_intent: bool, ask_again: Reply) -> bool:
        """A message that doesn't answer the pending question: a new topic drops it, anything else re-asks."""
        if other_intent:
            self._clear_slots()
            return False
        self.replies.append(ask_again)
        return True

    def _continue(self, topic: str | None) -> None:
        if topic == "wage_check":
            self._wage_check_continue()
        else:
            self._minimum_wage()

    # ---------------------------------------------------------------- answers
    def _greet(self) -> None:
        self.replies.append(Reply(self.t(messages.GREETING), self._menu_buttons()))
        if not self.conv.lang_chosen:
            self.replies.append(Reply(self.t(messages.CHOOSE_LANGUAGE), self._language_buttons()))
            self.ask_language = False

    def _topic(self, topic: str) -> None:
        entry = knowledge_service.get_entry(session=self.session, topic=topic, lang=self.lang)
        if entry is None:
            self.replies.append(Reply(self.t(messages.MENU), self._menu_buttons()))
            return
        body = entry.answer
        contacts = self._contacts_text(topic)
        if contacts:
            body += "\n\n" + contacts
        body += "\n\n" + self._sources_line(entry.sources)
        self.replies.append(Reply(body, self._answer_buttons(topic, more=bool(entry.more)), title=entry.title))

    def _minimum_wage(self) -> None:
        prefecture = (self.conv.slots or {}).get("prefecture")
        if not prefecture:
            self.conv.pending_slot, self.conv.pending_topic = "prefecture", "minimum_wage"
            self.replies.append(Reply(self.t(messages.ASK_PREFECTURE)))
            return
        self._clear_slots()
        today = self.engine.today()
        rate = knowledge_service.rate_on(session=self.session, prefecture=prefecture, on=today)
        if rate is None:
            self._topic("minimum_wage")
            return
        lines = [self.t(messages.MINIMUM_WAGE_RATE, prefecture=prefecture, amount=yen(rate.yen_per_hour, self.lang),
                        date=date(rate.effective_from, self.lang))]
        upcoming = self.session.scalar(
            select(MinimumWage).where(MinimumWage.prefecture == prefecture, MinimumWage.effective_from > today)
            .order_by(MinimumWage.effective_from)
        )
        if upcoming is not None:
            lines.append(self.t(messages.MINIMUM_WAGE_UPCOMING, amount=yen(upcoming.yen_per_hour, self.lang),
                                date=date(upcoming.effective_from, self.lang)))
        if rate.possibly_outdated:
            lines.append(self.t(messages.RATE_MAY_BE_OUTDATED, year=rate.fiscal_year))
        lines.append(self._sources_line(list(rate.sources)))
        buttons = (
            Button(self.t(messages.TOPIC_NAMES["wage_check"]), "topic:wage_check"),
            Button(self.t(messages.BUTTON_MORE), "more:minimum_wage"),
            Button(self.t(messages.BUTTON_HUMAN), "human"),
        )
        self.replies.append(Reply("\n".join(lines), buttons, title=self.t(messages.TOPIC_NAMES["minimum_wage"])))

    def _wage_check_continue(self) -> None:
        slots = self.conv.slots or {}
        amount = Decimal(slots["amount"]) if "amount" in slots else None
        period = wages.PayPeriod(slots["period"]) if "period" in slots else None
        missing = wages.missing_inputs(amount=amount, period=period, prefecture=slots.get("prefecture"))
        self.conv.pending_topic = "wage_check"
        if missing:
            self.conv.pending_slot = missing[0]
            question = {"amount": messages.ASK_AMOUNT, "period": messages.ASK_PERIOD, "prefecture": messages.ASK_PREFECTURE}
            buttons = self._period_buttons() if missing[0] == "period" else ()
            self.replies.append(Reply(self.t(question[missing[0]]), buttons))
            return
        self._clear_slots()
        result = knowledge_service.check_wage(
            session=self.session, amount=amount, period=period, prefecture=slots["prefecture"], on=self.engine.today(),
            hours_per_month=slots.get("hours_per_month"), hours_per_day=slots.get("hours_per_day"),
        )
        if result.missing:  # no rate known for that date
            self._topic("wage_check")
            return
        m = result.minimum
        values = dict(
            hourly=yen(result.hourly_equivalent, self.lang), prefecture=m.prefecture,
            minimum=yen(m.yen_per_hour, self.lang), date=date(m.effective_from, self.lang),
        )
        if result.verdict == wages.Verdict.below:
            lines = [self.t(messages.VERDICT_BELOW, **values,
                            shortfall_hour=yen(result.shortfall_per_hour, self.lang, decimals=result.shortfall_per_hour % 1 != 0),
                            shortfall_month=yen(result.shortfall_per_month, self.lang))]
        else:
            lines = [self.t(messages.VERDICT_OK, **values)]
        if "legal_max_monthly_hours" in result.assumptions:  # also behind the monthly shortfall of hourly pay
            lines.append(self.t(messages.ASSUMED_MONTHLY_HOURS, hours=str(wages.LEGAL_MAX_MONTHLY_HOURS)))
        if "legal_max_daily_hours" in result.assumptions:
            lines.append(self.t(messages.ASSUMED_DAILY_HOURS))
        if m.possibly_outdated:
            lines.append(self.t(messages.RATE_MAY_BE_OUTDATED, year=m.fiscal_year))
        lines.append(self.t(messages.COMPARE_NOTE))
        if result.verdict == wages.Verdict.below:
            lines.append(self.t(messages.UNDERPAID_ADVICE))
            contacts = self._contacts_text("wage_check", header=False)
            if contacts:
                lines.append(contacts)
        self.replies.append(Reply("\n\n".join(lines), self._answer_buttons("wage_check", more=True),
                                  title=self.t(messages.TOPIC_NAMES["wage_check"])))

    def _emergency(self) -> None:
        self._clear_slots()
        text = self.t(messages.EMERGENCY)
        contacts = self._contacts_text("emergency", skip={"police_110", "ambulance_119"})
        if contacts:
            text += "\n\n" + contacts
        self.replies.append(Reply(text, (Button(self.t(messages.BUTTON_HUMAN), "human"),)))
        self._open_handoff(Priority.urgent)
        self.replies.append(Reply(self.t(messages.HANDOFF_URGENT)))

    def _handoff(self, priority: Priority) -> None:
        self._clear_slots()
        self.intent = self.intent or "talk_to_human"
        self._open_handoff(priority)
        text = self.t(messages.HANDOFF_STARTED)
        contacts = self._contacts_text("talk_to_human", skip={"police_110", "ambulance_119"})
        if contacts:
            text += "\n\n" + contacts
        self.replies.append(Reply(text))

    def _open_handoff(self, priority: Priority) -> None:
        conv = self.conv
        order = list(Priority)
        if conv.status != ConversationStatus.open:
            conv.status = ConversationStatus.open
            conv.handoff_requested_at = dt.datetime.now(dt.UTC)
            conv.priority = priority
        elif conv.priority is None or order.index(Priority(conv.priority)) < order.index(priority):
            conv.priority = priority

    def _forget(self) -> None:
        conv = self.conv
        count = self.session.scalar(select(func.count()).select_from(Message).where(Message.conversation_id == conv.id))
        self.session.execute(delete(Message).where(Message.conversation_id == conv.id))
        self.session.delete(conv)
        self.forgotten = True
        self.replies.append(Reply(self.t(messages.FORGET_DONE, count=count)))

    # ---------------------------------------------------------------- rendering helpers
    def _contacts_text(self, topic: str, *, header: bool = True, skip: set[str] = frozenset()) -> str:
        keys = knowledge_service.topic_contact_keys(session=self.session, key=topic)
        contacts = [c for c in knowledge_service.contacts_for(session=self.session, keys=keys, lang=self.lang)
                    if c.key not in skip]
        lines = [line for c in contacts[:4] if (line := self._contact_line(c))]
        if not lines:
            return ""
        return "\n".join(([self.t(messages.CONTACTS_HEADER)] if header else []) + lines)

    def _contact_line(self, contact: Contact) -> str:
        name = contact.name.get(self.lang) or contact.name.get("en") or contact.key
        phones = [p for p in contact.phones if p.get("language") in (self.lang, None)]
        if not phones:
            phones = [p for p in contact.phones if p.get("language") == "en"][:1]
        parts = []
        for phone in phones[:2]:
            part = phone["number"]
            hours = (phone.get("hours") or {}).get(self.lang) if isinstance(phone.get("hours"), dict) else None
            if hours:
                part += f" ({hours})"
            if phone.get("free"):
                part += f", {self.t(messages.FREE_CALL)}"
            if not phone.get("verified", True):
                part += f" ({self.t(messages.NOT_CONFIRMED)})"
            parts.append(part)
        if not parts and contact.web:
            parts.append(contact.web)
        return f"• {name}: " + "; ".join(parts) if parts else ""

    def _sources_line(self, sources: list[dict]) -> str:
        names = []
        for source in sources[:2]:
            label = source.get("publisher") or source.get("title") or ""
            if source.get("date"):
                label += f" ({source['date']})"
            names.append(label)
        return self.t(messages.SOURCES_HEADER) + " " + "; ".join(n for n in names if n)

    def _menu_buttons(self) -> tuple[Button, ...]:
        return tuple(Button(self.t(messages.TOPIC_NAMES[topic]), f"topic:{topic}") for topic in MENU_ORDER)

    def _clarify_buttons(self, parse: Parse | None) -> tuple[Button, ...]:
        ranked = [name for name, _ in (parse.ranking if parse else ()) if name in TOPICS][:3]
        rest = [topic for topic in MENU_ORDER if topic not in ranked][: 6 - len(ranked)]
        buttons = [Button(self.t(messages.TOPIC_NAMES[topic]), f"topic:{topic}") for topic in ranked + rest]
        return tuple(buttons + [Button(self.t(messages.BUTTON_HUMAN), "human")])

    def _answer_buttons(self, topic: str, *, more: bool) -> tuple[Button, ...]:
        buttons = [Button(self.t(messages.BUTTON_MORE), f"more:{topic}")] if more else []
        buttons += [Button(self.t(messages.BUTTON_HUMAN), "human"), Button(self.t(messages.BUTTON_TOPICS), "menu")]
        return tuple(buttons)

    def _period_buttons(self) -> tuple[Button, ...]:
        return (
            Button(self.t(messages.BUTTON_HOUR), "period:hour"),
            Button(self.t(messages.BUTTON_DAY), "period:day"),
            Button(self.t(messages.BUTTON_MONTH), "period:month"),
        )

    @staticmethod
    def _language_buttons() -> tuple[Button, ...]:
        return tuple(Button(LANGUAGE_NAMES[lang], f"lang:{lang}") for lang in LANGUAGES)
