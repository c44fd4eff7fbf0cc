"""Answer builders: a topic, the minimum wage, the wage check verdict, emergency and handoff replies,
contacts, sources and buttons. Pure functions of (session, language, data); no dispatch, no state."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from sqlalchemy.orm import Session

from bot import messages
from bot.i18n import DEFAULT_LANGUAGE, date, number, t, yen
from bot.nlu_client import Parse
from bot.schemas import Button, Reply
from knowledge import contacts as contact_choice
from knowledge import service as knowledge_service
from knowledge import wages
from knowledge.intents import LANGUAGES, TOPICS
from knowledge.models import Contact
from knowledge.prefectures import display_name
from knowledge.sources import label as source_label
from knowledge.sources import official_first

LANGUAGE_NAMES = {"vi": "Tiếng Việt", "id": "Bahasa Indonesia", "tl": "Tagalog", "ja": "日本語", "en": "English"}
#: Topics first in the menu: the mission core.
MENU_ORDER = (
    "minimum_wage", "wage_check", "unpaid_wages", "fines_penalties", "passport_confiscation", "job_transfer",
    "leaving_employer", "visa_status", "unpaid_overtime", "salary_deductions", "social_insurance",
    "dismissal_return", "harassment_violence", "work_injury", "pregnancy_rights", "paid_leave", "broker_debt",
    "skill_development_system", "support_contacts", "talk_to_human", "emergency",
)
#: The emergency numbers themselves are in the emergency text; the contact list adds the rest.
EMERGENCY_NUMBERS = frozenset({"police_110", "ambulance_119"})
#: A text that already says to call 110 or 119.
CALL_110 = re.compile(r"(?<!\d)11[09](?!\d)")


# ------------------------------------------------------------------------------------------ buttons
def menu_buttons(lang: str) -> tuple[Button, ...]:
    return tuple(Button(t(lang, messages.TOPIC_NAMES[topic]), f"topic:{topic}") for topic in MENU_ORDER)


def clarify_buttons(lang: str, parse: Parse | None) -> tuple[Button, ...]:
    """The NLU's best guesses first, then the core topics, then a person."""
    ranked = [name for name, _ in (parse.ranking if parse else ()) if name in TOPICS][:3]
    rest = [topic for topic in MENU_ORDER if topic not in ranked][: 6 - len(ranked)]
    buttons = [Button(t(lang, messages.TOPIC_NAMES[topic]), f"topic:{topic}") for topic in ranked + rest]
    if "emergency" not in ranked + rest:  # someone we did not understand may be in danger
        buttons.append(Button(t(lang, messages.TOPIC_NAMES["emergency"]), "topic:emergency"))
    return tuple(buttons + [Button(t(lang, messages.BUTTON_HUMAN), "human")])


def answer_buttons(lang: str, topic: str, *, more: bool) -> tuple[Button, ...]:
    buttons = [Button(t(lang, messages.BUTTON_MORE), f"more:{topic}")] if more else []
    if not more and topic in ("wage_check", "minimum_wage", "unpaid_wages"):  # the next step after a wage answer's
        # "More" (in the first reply's place of "More": a first reply stays within its length on Zalo)
        buttons.append(Button(t(lang, messages.BUTTON_PAYSLIP), "payslip:start"))
        buttons.append(Button(t(lang, messages.BUTTON_REMIND), "remind:"))  # asks the prefecture
    buttons += [Button(t(lang, messages.BUTTON_HUMAN), "human"), Button(t(lang, messages.BUTTON_TOPICS), "menu")]
    return tuple(buttons)


def period_buttons(lang: str) -> tuple[Button, ...]:
    return (
        Button(t(lang, messages.BUTTON_HOUR), "period:hour"),
        Button(t(lang, messages.BUTTON_DAY), "period:day"),
        Button(t(lang, messages.BUTTON_MONTH), "period:month"),
    )


def language_buttons() -> tuple[Button, ...]:
    return tuple(Button(LANGUAGE_NAMES[lang], f"lang:{lang}") for lang in LANGUAGES)


def forget_buttons(lang: str) -> tuple[Button, ...]:
    return (Button(t(lang, messages.BUTTON_YES_DELETE), "forget:yes"), Button(t(lang, messages.BUTTON_NO), "forget:no"))


def offer_human_buttons(lang: str) -> tuple[Button, ...]:
    return (Button(t(lang, messages.BUTTON_HUMAN), "human"), Button(t(lang, messages.BUTTON_TOPICS), "menu"))


# ------------------------------------------------------------------------------------------ simple replies
def menu(lang: str) -> Reply:
    return Reply(t(lang, messages.MENU), menu_buttons(lang))


def choose_language() -> Reply:
    """Asked in English: the trainee has not told us a language yet."""
    return Reply(t(DEFAULT_LANGUAGE, messages.CHOOSE_LANGUAGE), language_buttons())


def error(lang: str) -> Reply:
    return Reply(t(lang, messages.ERROR))


# ------------------------------------------------------------------------------------------ contacts, sources
def contact_line(contact: Contact, lang: str, lines: tuple | None = None) -> str:
    """One clean line per contact: its name, then its verified numbers, each with one bracket of notes (hours,
    free call; a line in another language says so). Unverified numbers are never shown; a contact without a
    number shows its web page."""
    name = contact.name.get(lang) or contact.name.get("en") or contact.key
    lines = contact_choice.lines_for(contact, lang) if lines is None else lines
    opening, comma, closing, colon = ("（", "、", "）", "：") if lang == "ja" else (" (", ", ", ")", ": ")
    parts = []
    for line in lines:
        phone = line.phone
        notes = []
        if phone.get("free"):
            notes.append(t(lang, messages.FREE_CALL))
        hours = (phone.get("hours") or {}).get(lang) if isinstance(phone.get("hours"), dict) else None
        if hours:
            notes.append(hours)
        if line.other_language == "en" and lang != "en":
            notes.append(t(lang, messages.ENGLISH_LINE))
        parts.append(phone["number"] + (f"{opening}{comma.join(notes)}{closing}" if notes else ""))
    if not parts and contact.web and contact.verified:
        parts.append(contact.web)
    icon = "📞" if any(line.phone for line in lines) else "🌐"
    return f"{icon} {name}{colon}" + " / ".join(parts) if parts else ""


#: Topics where the trainee may be in danger: lines that answer day and night come first.
DANGER_TOPICS = frozenset({"emergency", "harassment_violence", "talk_to_human", "leaving_employer"})


def chosen_contacts(session: Session, lang: str, topic: str, *, skip: frozenset[str] = frozenset(),
                    at: dt.datetime | None = None, limit: int = 3) -> list[contact_choice.Choice]:
    """The topic's contacts chosen for this trainee (knowledge.contacts.choose), best first."""
    named = [c for c in knowledge_service.snapshot(session).topic_contacts(topic, lang) if c.key not in skip]
    return contact_choice.choose(named, lang, at or dt.datetime.now(dt.UTC), danger=topic in DANGER_TOPICS,
                                 limit=limit)


def contacts_text(session: Session, lang: str, topic: str, *, header: bool = True,
                  skip: frozenset[str] = frozenset(), at: dt.datetime | None = None, limit: int = 3,
                  lines_per_contact: int = 2) -> str:
    """The topic's contact lines chosen for this trainee, with a header line."""
    chosen = chosen_contacts(session, lang, topic, skip=skip, at=at, limit=limit)
    lines = [line for c in chosen if (line := contact_line(c.contact, lang, c.lines[:lines_per_contact]))]
    if not lines:
        return ""
    return "\n".join(([t(lang, messages.CONTACTS_HEADER)] if header else []) + lines)


def first_contact_line(session: Session, lang: str, topic: str, at: dt.datetime | None = None,
                       text: str = "") -> str:
    """The one number to call under a first reply: a number before a web page; the contact the answer `text`
    names (e.g. "ask OTIT") when it is not closed now, else the best reachable one; not 110 when the text already
    says to call it."""
    skip = EMERGENCY_NUMBERS if CALL_110.search(text) else frozenset()
    chosen = chosen_contacts(session, lang, topic, skip=skip, at=at, limit=5)
    candidates = [c for c in chosen if c.lines] or chosen
    named = [c for c in candidates if c.open_now is not False and _named_in(c.contact, lang, text)]
    for choice in named[:1] + candidates:
        if line := contact_line(choice.contact, lang, choice.lines[:1]):
            return line
    return ""


def _named_in(contact: Contact, lang: str, text: str) -> bool:
    """Whether the text names the contact: an acronym of its name (OTIT, POSSE, KBRI, MWO) or the name itself."""
    if not text:
        return False
    names = [contact.name.get(lang) or "", contact.name.get("en") or ""]
    words = {word for name in names for word in re.findall(r"\b[A-Z]{3,}\b", name)}
    words |= {re.split(r"[,（(:：]", name)[0].strip() for name in names if name}
    return any(word and word in text for word in words)


def source_line(lang: str, sources: list[dict]) -> str:
    """Under a first reply: the one source a trainee can trust most (an official publisher when there is one)."""
    ordered = official_first(list(sources))
    return t(lang, messages.SOURCE_LINE, name=source_label(ordered[0], lang)) if ordered else ""


def sources_line(lang: str, sources: list[dict], limit: int = 3) -> str:
    """Under "more" and the wage replies: up to `limit` sources, official publishers first, in the trainee's
    language."""
    names = [name for source in official_first(list(sources))[:limit] if (name := source_label(source, lang))]
    if not names:
        return ""
    header = t(lang, messages.SOURCES_HEADER)
    return header + ("" if header.endswith("：") else " ") + ("、" if lang == "ja" else "; ").join(names)


# ------------------------------------------------------------------------------------------ answers
def topic(session: Session, lang: str, key: str, at: dt.datetime | None = None) -> Reply | None:
    """A topic's first reply, to fit one phone screen: the entry's answer (what it means, what to do now), the
    one number to call, and the most trusted source. The detail, more contacts and all sources are under
    "More"."""
    entry = knowledge_service.snapshot(session).entry(key, lang)
    if entry is None:
        return None
    parts = [entry.answer]
    tail = [line for line in (first_contact_line(session, lang, key, at, entry.answer),
                              source_line(lang, entry.sources)) if line]
    if tail:
        parts.append("\n".join(tail))
    return Reply("\n\n".join(parts), answer_buttons(lang, key, more=True), title=entry.title)


def more(session: Session, lang: str, key: str, at: dt.datetime | None = None) -> Reply:
    """The rest of a topic: the detail, who can help (up to three contacts) and the sources."""
    entry = knowledge_service.snapshot(session).entry(key, lang)
    if entry is None:
        return Reply(t(lang, messages.NO_MORE), answer_buttons(lang, key, more=False))
    parts = [entry.more] if entry.more else []
    contacts = contacts_text(session, lang, key, at=at)
    if contacts:
        parts.append(contacts)
    if sources := sources_line(lang, entry.sources):
        parts.append(sources)
    return Reply("\n\n".join(parts) or t(lang, messages.NO_MORE), answer_buttons(lang, key, more=False))


def minimum_wage(session: Session, lang: str, prefecture: str, today: dt.date) -> Reply | None:
    """The rate in force today (and an upcoming one); None when no rate is known for today."""
    knowledge = knowledge_service.snapshot(session)
    rate = knowledge.rate_on(prefecture, today)
    if rate is None:
        return None
    lines = [t(lang, messages.MINIMUM_WAGE_RATE, prefecture=display_name(prefecture, lang),
               amount=yen(rate.yen_per_hour, lang),
               date=date(rate.effective_from, lang))]
    upcoming = knowledge.next_rate(prefecture, today)
    if upcoming is not None:
        lines.append(t(lang, messages.MINIMUM_WAGE_UPCOMING, amount=yen(upcoming.yen_per_hour, lang),
                       date=date(upcoming.effective_from, lang)))
    if rate.possibly_outdated:
        lines.append(t(lang, messages.RATE_MAY_BE_OUTDATED, year=rate.fiscal_year, next_year=rate.fiscal_year + 1))
    lines.append(source_line(lang, list(rate.sources)))
    buttons = (
        Button(t(lang, messages.TOPIC_NAMES["wage_check"]), "topic:wage_check"),
        Button(t(lang, messages.BUTTON_MORE), "more:minimum_wage"),
        Button(t(lang, messages.BUTTON_REMIND), f"remind:{prefecture}"),
        Button(t(lang, messages.BUTTON_HUMAN), "human"),
    )
    return Reply("\n".join(lines), buttons, title=t(lang, messages.TOPIC_NAMES["minimum_wage"]))


def wage_verdict(session: Session, lang: str, slots: dict, today: dt.date,
                 at: dt.datetime | None = None) -> Reply | None:
    """The verdict for complete wage-check slots; None when no rate is known for today."""
    result = knowledge_service.check_wage(
        session=session, amount=Decimal(slots["amount"]), period=wages.PayPeriod(slots["period"]),
        prefecture=slots["prefecture"], on=today,
        hours_per_month=slots.get("hours_per_month"), hours_per_day=slots.get("hours_per_day"), cached=True,
    )
    if result.missing:
        return None
    m = result.minimum
    values = dict(prefecture=display_name(m.prefecture, lang), minimum=yen(m.yen_per_hour, lang),
                  date=date(m.effective_from, lang), year=m.fiscal_year, next_year=m.fiscal_year + 1)
    # The trainee's own hourly pay as given; a computed one in whole yen ("about ¥863").
    exact = slots["period"] == "hour"
    hourly = yen(result.hourly_equivalent, lang, decimals=exact and result.hourly_equivalent % 1 != 0)
    pay = t(lang, messages.PAY_EXACT if exact else messages.PAY_ABOUT, hourly=hourly)
    if result.verdict == wages.Verdict.below:
        verdict = t(lang, messages.VERDICT_BELOW_OUTDATED if m.possibly_outdated else messages.VERDICT_BELOW, **values,
                    shortfall_hour=yen(result.shortfall_per_hour, lang,
                                       decimals=exact and result.shortfall_per_hour % 1 != 0),
                    shortfall_month=yen(result.shortfall_per_month, lang))
    elif m.possibly_outdated:  # never "at or above" flatly when a newer rate may be in force
        verdict = t(lang, messages.VERDICT_OK_MAYBE_OUTDATED, **values)
    else:
        verdict = t(lang, messages.VERDICT_OK, **values)
    lines = [pay + " " + verdict if lang != "ja" else pay + verdict]
    if "legal_max_monthly_hours" in result.assumptions and not exact:
        # (an hourly pay's monthly shortfall counts the same hours, and says "about")
        lines.append(t(lang, messages.ASSUMED_MONTHLY_HOURS, hours=number(wages.LEGAL_MAX_MONTHLY_HOURS, lang)))
    if "five_day_week" in result.assumptions:
        lines.append(t(lang, messages.ASSUMED_FIVE_DAYS, hours=number(result.monthly_hours, lang)))
    if "legal_max_daily_hours" in result.assumptions:
        lines.append(t(lang, messages.ASSUMED_DAILY_HOURS))
    if result.verdict == wages.Verdict.below:
        advice = t(lang, messages.UNDERPAID_ADVICE)
        contact = first_contact_line(session, lang, "wage_check", at=at)
        lines.append(advice + ("\n" + contact if contact else ""))
    return Reply("\n\n".join(lines), answer_buttons(lang, "wage_check", more=True),
                 title=t(lang, messages.TOPIC_NAMES["wage_check"]))


def _with_contacts(session: Session, lang: str, text: str, topic: str, at: dt.datetime | None = None) -> str:
    """The text, then the topic's two best contact lines (without the 110/119 the text itself gives)."""
    contacts = contacts_text(session, lang, topic, skip=EMERGENCY_NUMBERS, at=at, limit=2, lines_per_contact=1)
    return text + "\n\n" + contacts if contacts else text


def emergency(session: Session, lang: str, at: dt.datetime | None = None) -> list[Reply]:
    """"Call 110 now" on its own line, the urgent-handoff promise on the next, then where to say you are and the
    contacts (24-hour lines first)."""
    first = "\n".join((t(lang, messages.CALL_110_NOW), t(lang, messages.HANDOFF_URGENT), "",
                        t(lang, messages.EMERGENCY)))
    buttons = (Button(t(lang, messages.BUTTON_HUMAN), "human"), Button(t(lang, messages.BUTTON_MORE), "more:emergency"))
    return [Reply(_with_contacts(session, lang, first, "emergency", at), buttons)]


def handoff_started(session: Session, lang: str, at: dt.datetime | None = None) -> Reply:
    return Reply(_with_contacts(session, lang, t(lang, messages.HANDOFF_STARTED), "talk_to_human", at))


def processing_failed(session: Session, lang: str) -> Reply:
    """Said when a message could not be processed after every attempt: an apology and where to call."""
    return Reply(_with_contacts(session, lang, t(lang, messages.ERROR), "talk_to_human"))
