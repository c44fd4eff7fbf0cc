"""The payslip check in the conversation: the numbers of a payslip, read from a photo or asked one at a time,
confirmed by the trainee, then judged line by line (knowledge/payslip.py) in the trainee's language.

State lives in the conversation's slots, like the wage check's: `slots["payslip"]` holds the numbers the trainee
confirmed so far (item key → a decimal string; "0" is a confirmed zero, a skipped item is absent), `slots
["payslip_read"]` what the OCR read and the trainee has not confirmed yet, `slots["payslip_skipped"]` the items the
trainee skipped. The pending slot `payslip:<key>` is the question being asked. Only these confirmed numbers are
kept (a photo is read in memory and never stored); /forget deletes them with the conversation.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from sqlalchemy import select

from bot import handoffs, messages, replies
from bot.i18n import number, t, yen
from bot.schemas import Button, Reply
from knowledge import payslip as verdicts
from knowledge import wages
from knowledge.payslip_items import BY_KEY, ITEMS, ItemKind
from knowledge.prefectures import display_name

if TYPE_CHECKING:  # the engine's Turn (bot.engine imports this module)
    from bot.engine import Turn

TOPIC = "payslip"
PREFIX = "payslip:"

#: The questions, in the order a payslip is read: hours, pay, then the deductions that can be wrong. Taxes and
#: social insurance are not asked: the law requires them, so they never change the verdict (the OCR still reads
#: them, and the totals check uses them). The overtime pay is asked only when there were overtime hours.
QUESTIONS: tuple[str, ...] = (
    "base_pay", "hours_worked", "overtime_hours", "overtime_pay",
    "dorm", "utilities", "management_fee", "savings", "fine", "other_deductions",
)

#: Each item's name in the trainee's language (the Japanese label is shown beside it, as printed on payslips).
ITEM_NAMES: dict[str, str] = {
    "days_worked": messages.ITEM_DAYS_WORKED,
    "hours_worked": messages.ITEM_HOURS_WORKED,
    "overtime_hours": messages.ITEM_OVERTIME_HOURS,
    "night_hours": messages.ITEM_NIGHT_HOURS,
    "holiday_hours": messages.ITEM_HOLIDAY_HOURS,
    "base_pay": messages.ITEM_BASE_PAY,
    "overtime_pay": messages.ITEM_OVERTIME_PAY,
    "night_pay": messages.ITEM_NIGHT_PAY,
    "holiday_pay": messages.ITEM_HOLIDAY_PAY,
    "other_allowances": messages.ITEM_ALLOWANCES,
    "health_insurance": messages.ITEM_HEALTH_INSURANCE,
    "pension": messages.ITEM_PENSION,
    "employment_insurance": messages.ITEM_EMPLOYMENT_INSURANCE,
    "income_tax": messages.ITEM_INCOME_TAX,
    "resident_tax": messages.ITEM_RESIDENT_TAX,
    "dorm": messages.ITEM_DORM,
    "utilities": messages.ITEM_UTILITIES,
    "management_fee": messages.ITEM_MANAGEMENT_FEE,
    "savings": messages.ITEM_SAVINGS,
    "fine": messages.ITEM_FINE,
    "other_deductions": messages.ITEM_OTHER_DEDUCTIONS,
    "gross_pay": messages.ITEM_GROSS_PAY,
    "total_deductions": messages.ITEM_TOTAL_DEDUCTIONS,
    "net_pay": messages.ITEM_NET_PAY,
}

#: "None", "no", "nothing" in the five languages: a confirmed 0.
_NONE = re.compile(r"^\s*(?:0|none|no|nothing|nope|không|khong|ko|k|tidak|tidak ada|gak|nggak|ga|enggak|wala|"
                   r"hindi|wala po|なし|ない|無し|ありません|いいえ|ゼロ)\s*[.!。]?\s*$", re.IGNORECASE)
_HHMM = re.compile(r"(\d{1,3})\s*[:：]\s*(\d{2})")


# ------------------------------------------------------------------------------------------ reading answers
def read_number(key: str, text: str) -> Decimal | None:
    """The number in a trainee's answer for `key`: yen for amounts ("18 man", "¥180,000"), hours for counts
    ("160", "160:30" = 160.5 h); 0 for "none"; None when there is no number."""
    normal = unicodedata.normalize("NFKC", text or "").strip()
    if _NONE.match(normal):
        return Decimal(0)
    if BY_KEY[key].kind is ItemKind.count:
        hhmm = _HHMM.search(normal)
        if hhmm:
            return Decimal(hhmm.group(1)) + Decimal(hhmm.group(2)) / 60
        found = re.search(r"\d{1,4}(?:[.,]\d{1,2})?", normal)
        if not found:
            return None
        try:
            value = Decimal(found.group(0).replace(",", "."))
        except InvalidOperation:
            return None
        return value if value <= 744 else None  # more hours than a month has: not an answer
    try:
        amount = wages.find_amount(normal)
    except wages.AmountError:
        return None
    return amount


def _slots(turn: Turn) -> dict:
    return dict(turn.conv.slots or {})


def _numbers(slots: dict, name: str = "payslip") -> dict[str, Decimal]:
    return {key: Decimal(value) for key, value in (slots.get(name) or {}).items() if key in BY_KEY}


# ------------------------------------------------------------------------------------------ the flow
def start(turn: Turn) -> None:
    """The check from the beginning: how it works, then the first question (or the prefecture first)."""
    prefecture = (turn.conv.slots or {}).get("prefecture")
    turn.clear_slots()
    turn.set_slots({"prefecture": prefecture} if prefecture else {})
    turn.intent = turn.intent or TOPIC
    turn.say(Reply(turn.t(messages.PAYSLIP_START), title=turn.t(messages.PAYSLIP_TITLE)))
    ask_next(turn)


def ask_next(turn: Turn) -> None:
    """Ask the first item still unanswered; with every answer (or skip), the verdict."""
    slots = _slots(turn)
    if not slots.get("prefecture"):
        turn.ask("prefecture", TOPIC, Reply(turn.t(messages.PAYSLIP_ASK_PREFECTURE)))
        return
    numbers, skipped = _numbers(slots), set(slots.get("payslip_skipped") or ())
    for key in QUESTIONS:
        if key in numbers or key in skipped:
            continue
        if key == "overtime_pay" and numbers.get("overtime_hours", Decimal(0)) == 0 and "overtime_hours" in numbers:
            continue  # no overtime: nothing to pay for it
        _ask(turn, key, read=_numbers(slots, "payslip_read").get(key))
        return
    verdict(turn)


def _ask(turn: Turn, key: str, read: Decimal | None = None) -> None:
    item = BY_KEY[key]
    question = messages.PAYSLIP_ASK_HOURS if item.kind is ItemKind.count else messages.PAYSLIP_ASK_AMOUNT
    text = turn.t(question, item=turn.t(ITEM_NAMES[key]), label=item.labels[0])
    buttons = [Button(turn.t(messages.BUTTON_NONE), PREFIX + "zero"), Button(turn.t(messages.BUTTON_SKIP),
                                                                             PREFIX + "skip")]
    if read is not None:  # fixing what the photo gave: one tap keeps it
        text += "\n" + turn.t(messages.PAYSLIP_I_READ, value=_value(key, read, turn.lang))
        buttons.insert(0, Button(turn.t(messages.BUTTON_KEEP), PREFIX + "keep"))
    turn.ask(PREFIX + key, TOPIC, Reply(text, tuple(buttons)))


def answer(turn: Turn, other_intent: bool) -> bool:
    """The trainee's text as the answer to the pending item; False when it is something else (a new topic)."""
    key = (turn.conv.pending_slot or "")[len(PREFIX):]
    if key == "confirm":  # "yes" to what the photo gave
        from bot import decisions

        if decisions.is_yes(turn.text):
            button(turn, "ok")
            return True
        if other_intent:
            turn.clear_slots()
            return False
        show_reading(turn, _numbers(_slots(turn), "payslip_read"))
        return True
    if key not in BY_KEY:
        turn.clear_slots()
        return False
    value = read_number(key, turn.text)
    if value is None:
        if other_intent:
            turn.clear_slots()
            return False
        turn.say(Reply(turn.t(messages.PAYSLIP_BAD_NUMBER), (Button(turn.t(messages.BUTTON_SKIP), PREFIX + "skip"),)))
        return True
    _record(turn, key, value)
    ask_next(turn)
    return True


def _record(turn: Turn, key: str, value: Decimal | None) -> None:
    """Confirm one item (None: skipped, unknown)."""
    slots = _slots(turn)
    if value is None:
        slots["payslip_skipped"] = sorted(set(slots.get("payslip_skipped") or ()) | {key})
    else:
        slots["payslip"] = {**(slots.get("payslip") or {}), key: str(value)}
    turn.conv.slots = slots
    turn.conv.pending_slot = None


def button(turn: Turn, arg: str) -> None:
    """payslip:start | zero | skip | keep | ok (what was read is right) | fix (go through it) | person."""
    if arg == "start":
        return start(turn)
    if arg == "person":
        return _person(turn)
    pending = (turn.conv.pending_slot or "")
    if arg in ("zero", "skip", "keep") and pending.startswith(PREFIX) and pending[len(PREFIX):] in BY_KEY:
        key = pending[len(PREFIX):]
        read = _numbers(_slots(turn), "payslip_read").get(key)
        _record(turn, key, Decimal(0) if arg == "zero" else read if arg == "keep" else None)
        return ask_next(turn)
    slots = _slots(turn)
    if arg == "ok" and slots.get("payslip_read") and pending == PREFIX + "confirm":
        slots["payslip"] = {**slots["payslip_read"], **(slots.get("payslip") or {})}
        slots.pop("payslip_read")
        turn.conv.slots = slots
        turn.conv.pending_slot = None
        return ask_next(turn)
    if arg == "fix" and slots.get("payslip_read") and pending == PREFIX + "confirm":
        slots["payslip"] = {}
        turn.conv.slots = slots
        turn.conv.pending_slot = None
        return ask_next(turn)
    replies_menu(turn)  # a stale or forged press


def replies_menu(turn: Turn) -> None:
    turn.clear_slots()
    turn.say(replies.menu(turn.lang))


def show_reading(turn: Turn, read: dict[str, Decimal]) -> None:
    """What the OCR read, for the trainee to confirm (or fix) before anything is judged."""
    prefecture = (turn.conv.slots or {}).get("prefecture")
    turn.clear_slots()
    slots = {"payslip_read": {key: str(value) for key, value in read.items()}}
    if prefecture:
        slots["prefecture"] = prefecture
    turn.conv.slots = slots
    lines = "\n".join(f"• {turn.t(ITEM_NAMES[key])} ({BY_KEY[key].labels[0]}): {_value(key, value, turn.lang)}"
                      for key, value in read.items())
    turn.intent = TOPIC
    turn.conv.pending_slot, turn.conv.pending_topic = PREFIX + "confirm", TOPIC
    turn.say(Reply(turn.t(messages.PAYSLIP_READ, lines=lines),
                   (Button(turn.t(messages.BUTTON_CORRECT), PREFIX + "ok"),
                    Button(turn.t(messages.BUTTON_FIX), PREFIX + "fix")),
                   title=turn.t(messages.PAYSLIP_TITLE)))


def unreadable(turn: Turn) -> None:
    """A photo the OCR could not read: the same check by questions."""
    turn.say(Reply(turn.t(messages.PAYSLIP_UNREADABLE)))
    start(turn)


def _person(turn: Turn) -> None:
    """One tap to a person: the handoff, and the numbers the trainee confirmed (with the bot's verdict) in a note
    on it, so the volunteer starts from them instead of asking again."""
    from bot import engine  # the handoff lives in the engine

    slots = _slots(turn)
    engine.handoff(turn)
    handoff = turn.handoff
    numbers = _numbers(slots)
    if handoff is None or not numbers:
        return
    text = volunteer_note(turn, slots.get("prefecture"), numbers)
    from bot.models import HandoffNote

    last = turn.session.scalar(select(HandoffNote.text).where(HandoffNote.handoff_id == handoff.id)
                               .order_by(HandoffNote.id.desc()).limit(1))
    if last != text:  # pressed again: not twice the same note
        turn.session.add(HandoffNote(handoff_id=handoff.id, author_id=None, text=text))
        handoffs.emit(session=turn.session, handoff_id=handoff.id, kind="note.created")


def volunteer_note(turn: Turn, prefecture: str | None, numbers: dict[str, Decimal]) -> str:
    """For the volunteer (English, with the payslip's Japanese labels): the confirmed numbers, then the verdict."""
    from knowledge import service as knowledge_service

    lines = [f"Payslip check: the numbers the trainee confirmed ({prefecture or 'prefecture not given'})"]
    for item in ITEMS:
        if item.key in numbers:
            lines.append(f"  {item.labels[0]} ({t('en', ITEM_NAMES[item.key])}): {_value(item.key, numbers[item.key], 'en')}")
    minimum = (knowledge_service.rate_on(session=turn.session, prefecture=prefecture, on=turn.today)
               if prefecture else None)
    if minimum is not None:
        result = verdicts.judge(verdicts.Payslip(numbers), minimum)
        lines += ["", f"The bot's verdict (minimum {yen(minimum.yen_per_hour, 'en')} an hour):",
                  render(result, lang="en", prefecture=display_name(prefecture, "en"),
                         minimum=Decimal(minimum.yen_per_hour))]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ the verdict
def _value(key: str, value: Decimal, lang: str) -> str:
    if BY_KEY[key].kind is ItemKind.count:
        return t(lang, messages.PAYSLIP_HOURS, hours=number(value.normalize(), lang))
    return yen(value, lang)


def verdict(turn: Turn) -> None:
    """Judge the confirmed numbers with the minimum in force today in the trainee's prefecture."""
    from knowledge import service as knowledge_service

    slots = _slots(turn)
    prefecture = slots.get("prefecture")
    minimum = knowledge_service.rate_on(session=turn.session, prefecture=prefecture, on=turn.today)
    if minimum is None:
        turn.clear_slots()
        turn.say(Reply(turn.t(messages.PAYSLIP_NO_RATE)))
        return
    numbers = _numbers(slots)
    result = verdicts.judge(verdicts.Payslip(numbers), minimum)
    text = render(result, lang=turn.lang, prefecture=display_name(prefecture, turn.lang),
                  minimum=Decimal(minimum.yen_per_hour))
    buttons = [Button(turn.t(messages.BUTTON_HUMAN), PREFIX + "person")] if result.ask_person or \
        result.owed_per_month > 0 else []
    buttons.append(Button(turn.t(messages.BUTTON_TOPICS), "menu"))
    # The confirmed numbers stay (for the volunteer a handoff brings in); the questions are over.
    turn.conv.pending_slot = turn.conv.pending_topic = None
    turn.say(Reply(text, tuple(buttons), title=turn.t(messages.PAYSLIP_TITLE)))
    if result.owed_per_month > 0 or result.ask_person:
        contact = replies.first_contact_line(turn.session, turn.lang, "wage_check", at=turn.now)
        if contact:
            turn.say(Reply(contact))


_CONFIDENCE = {verdicts.Confidence.sure: None, verdicts.Confidence.likely: messages.PAYSLIP_LIKELY,
               verdicts.Confidence.unsure: messages.PAYSLIP_UNSURE}


def render(result: verdicts.PayslipVerdict, *, lang: str, prefecture: str, minimum: Decimal) -> str:
    """The verdict, one line per item, in the trainee's language, with the numbers and how sure each line is."""
    out: list[str] = []
    statutory = [line for line in result.lines if line.key in verdicts.STATUTORY_DEDUCTIONS]
    for line in result.lines:
        if line.key in verdicts.STATUTORY_DEDUCTIONS:
            continue
        text = _line(line, lang, prefecture, minimum)
        if text is None:
            continue
        sureness = _CONFIDENCE[line.confidence]
        out.append(text + (" " + t(lang, sureness) if sureness else ""))
    if statutory:
        total = sum((line.found or Decimal(0) for line in statutory), Decimal(0))
        unsure = any(line.confidence is verdicts.Confidence.unsure for line in statutory)
        out.append(t(lang, messages.PAYSLIP_V_STATUTORY_UNSURE if unsure else messages.PAYSLIP_V_STATUTORY,
                     found=yen(total, lang)))
    if result.owed_per_month > 0:
        out.append(t(lang, messages.PAYSLIP_OWED, owed=yen(result.owed_per_month, lang)))
    else:
        out.append(t(lang, messages.PAYSLIP_NOTHING_OWED))
    if result.ask_person:
        out.append(t(lang, messages.PAYSLIP_ASK_PERSON))
    return "\n\n".join(out)


def _line(line: verdicts.Line, lang: str, prefecture: str, minimum: Decimal) -> str | None:
    item = t(lang, ITEM_NAMES[line.key])
    found = yen(line.found, lang) if line.found is not None else ""
    S = verdicts.Status
    if line.key == "base_pay":
        if line.status is S.cannot_judge:
            return t(lang, messages.PAYSLIP_V_CANNOT, item=item)
        values = dict(hourly=yen(line.hourly or Decimal(0), lang), hours=number(line.hours or Decimal(0), lang),
                      minimum=yen(minimum, lang),
                      prefecture=prefecture, shortfall=yen(line.shortfall, lang))
        return t(lang, messages.PAYSLIP_V_BASE_BELOW if line.status is S.below_minimum else messages.PAYSLIP_V_BASE_OK,
                 **values)
    if line.status is S.underpaid_premium:
        return t(lang, messages.PAYSLIP_V_PREMIUM_SHORT, item=item, hours=number(line.hours or Decimal(0), lang),
                 expected=yen(line.expected or Decimal(0), lang), found=found, shortfall=yen(line.shortfall, lang))
    if line.status is S.never_allowed:
        return t(lang, messages.PAYSLIP_V_NEVER, item=item, found=found)
    if line.status is S.actual_cost_only:
        return t(lang, messages.PAYSLIP_V_ACTUAL_COST, item=item, found=found)
    if line.status is S.needs_agreement:
        return t(lang, messages.PAYSLIP_V_AGREEMENT, item=item, found=found)
    if line.status is S.cannot_judge:
        return t(lang, messages.PAYSLIP_V_CANNOT, item=item)
    if line.status is S.totals_mismatch:
        return t(lang, messages.PAYSLIP_V_TOTALS)
    if line.status is S.ok:
        if line.found is None or line.found == 0 or BY_KEY[line.key].kind is ItemKind.total:
            return None  # a zero deduction, a total that adds up: nothing to say
        if BY_KEY[line.key].kind is ItemKind.earning:
            return t(lang, messages.PAYSLIP_V_PREMIUM_OK, item=item, found=found,
                     hours=number(line.hours or Decimal(0), lang))
        return t(lang, messages.PAYSLIP_V_DEDUCTION_OK, item=item, found=found)
    return None


def photo(turn: Turn) -> None:
    """A photo or file: a payslip read (show it to confirm), a payslip that could not be read (the questions), or a
    file of a kind we cannot read."""
    if turn.unreadable_file:
        turn.say(Reply(turn.t(messages.PAYSLIP_NOT_A_PAYSLIP),
                       (Button(turn.t(messages.BUTTON_PAYSLIP), PREFIX + "start"),)))
        return
    if turn.reading and len(turn.reading) >= 2:  # one number alone is not a payslip
        show_reading(turn, turn.reading)
    elif turn.conv.pending_topic == TOPIC:  # in the middle of the check: the same by questions
        unreadable(turn)
    else:  # some other photo: what it can do
        turn.say(Reply(turn.t(messages.NON_TEXT), replies.menu_buttons(turn.lang)
                       + (Button(turn.t(messages.BUTTON_PAYSLIP), PREFIX + "start"),)))
