"""Pure decisions of a turn: the language to answer in, and slot values read from a parse and the text.

No database, no I/O: each function takes what it decides on and returns the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bot import danger, langdetect
from bot.i18n import DEFAULT_LANGUAGE, normalise_language
from bot.nlu_client import Parse
from bot.schemas import Inbound, Kind
from knowledge import prefectures, wages

YES_WORDS = {"yes", "y", "ok", "có", "co", "ya", "iya", "oo", "opo", "はい", "うん"}


@dataclass(frozen=True)
class LanguageChoice:
    lang: str
    chosen: bool  # the trainee chose it (a choice always wins over detection)
    ask: bool  # we guessed without any hint: ask the trainee with language buttons


def choose_language(inbound: Inbound, *, current: str | None, chosen: bool, pending_slot: str | None) -> LanguageChoice:
    """The language of this turn: an explicit choice, then a language button, then an earlier choice,
    then detection on the text (with the client's language code as a hint), then the client's code."""
    explicit = normalise_language(inbound.lang)
    if explicit:
        return LanguageChoice(explicit, True, False)
    if inbound.kind == Kind.button and (inbound.payload or "").startswith("lang:"):
        picked = normalise_language(inbound.payload.split(":", 1)[1])
        if picked:
            return LanguageChoice(picked, True, False)
    if chosen and current:
        return LanguageChoice(current, True, False)
    client = normalise_language(inbound.client_language)
    text = inbound.text if inbound.kind == Kind.text else None
    lang, ask = current, False
    if text and not text.lstrip().startswith("/") and not pending_slot:
        detection = langdetect.detect(text, client_language=client, previous=current)
        if detection.lang:
            lang = detection.lang
        elif lang is None:
            lang = max(detection.scores, key=detection.scores.get)
            ask = client is None
    if lang is None:
        lang, ask = client or DEFAULT_LANGUAGE, client is None
    return LanguageChoice(lang, chosen, ask)


def is_yes(text: str) -> bool:
    return danger.normalise(text) in YES_WORDS


def hours_slot(hours: Decimal | None) -> dict[str, str]:
    """Working hours as trainees give them: up to 24 is per day, more is per month."""
    if hours is None:
        return {}
    return {"hours_per_day" if hours <= 24 else "hours_per_month": str(hours)}


def hours_assumed(slots: dict) -> bool:
    """The wage check had to assume the hours (none given for a daily or monthly pay): worth asking for them."""
    return slots.get("period") in ("day", "month") and not (slots.get("hours_per_day") or slots.get("hours_per_month"))


def prefecture_in(parse: Parse | None, text: str) -> str | None:
    """The prefecture named by the NLU entity (value, then the text it covers), else found in the text."""
    entity = parse.first("prefecture") if parse else None
    for candidate in ((entity.value, entity.text) if entity else ()):
        found = prefectures.resolve(candidate)
        if found:
            return found
    return prefectures.find_in_text(text) if text else None


def amount_in(text: str) -> Decimal | None:
    try:
        return wages.find_amount(text)
    except wages.AmountError:
        return None


def _entity(parse: Parse | None, name: str, read) -> Decimal | None:
    """An NLU entity's text read as a number (None when absent or unreadable)."""
    entity = parse.first(name) if parse else None
    if entity is None:
        return None
    try:
        return read(entity.text)
    except wages.AmountError:
        return None


def wage_slots(parse: Parse | None, text: str) -> dict[str, str]:
    """Amount, pay period, hours and prefecture, from the NLU's entities first and the text second."""
    slots: dict[str, str] = {}
    amount = _entity(parse, "amount_yen", wages.parse_amount)
    if amount is None and text:
        amount = amount_in(text)
    if amount is not None:
        slots["amount"] = str(amount)
    period_entity = parse.first("pay_period") if parse else None
    period = wages.parse_period(period_entity.value) if period_entity else None
    if period is None and text:
        period = wages.parse_period(text)
    if period is not None:
        slots["period"] = period.value
    hours = _entity(parse, "hours", wages.parse_hours)
    if hours is None and text:
        hours = wages.find_hours(text)
    slots.update(hours_slot(hours))
    prefecture = prefecture_in(parse, text)
    if prefecture:
        slots["prefecture"] = prefecture
    return slots


def missing_wage_input(slots: dict) -> str | None:
    """The first wage-check input still missing ("amount", "period", "prefecture"), or None."""
    amount = Decimal(slots["amount"]) if "amount" in slots else None
    period = wages.PayPeriod(slots["period"]) if "period" in slots else None
    missing = wages.missing_inputs(amount=amount, period=period, prefecture=slots.get("prefecture"))
    return missing[0] if missing else None


def switches_topic(parse: Parse | None, pending_topic: str | None, threshold: float) -> bool:
    """A confident parse of another intent: the message is a new question, not the answer we asked for."""
    return (
        parse is not None and parse.intent not in (None, pending_topic, "wage_check", "minimum_wage")
        and parse.confidence >= max(0.8, threshold)
    )
