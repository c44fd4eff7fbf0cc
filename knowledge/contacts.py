"""Which numbers a trainee is shown: verified lines only, in their language first, reachable now first, 24-hour
lines first when they may be in danger. Pure functions over `Contact` rows; the clock is passed in.

A phone line (an item of `Contact.phones`) may carry `open` (["24h"] or spans "Mon-Fri 11:00-19:00", Japan
time), `only_for` (the prefectures a regional line serves) and `verified` (false: never shown to trainees).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from knowledge.models import Contact
from knowledge.service import JAPAN, minutes_of

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_SPAN = re.compile(r"^(?P<days>[A-Za-z,\-]+)\s+(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})$")


@dataclass(frozen=True)
class Line:
    """A number to show: the phone item, and the language it is in when that is not the trainee's."""

    phone: dict[str, Any]
    other_language: str | None = None


@dataclass(frozen=True)
class Choice:
    contact: Contact
    lines: tuple[Line, ...]
    open_now: bool | None  # None: not known
    always_open: bool


def _days(spec: str) -> set[int]:
    out: set[int] = set()
    for part in spec.split(","):
        first, _, last = part.partition("-")
        a = DAYS.index(first.strip()[:3].title())
        b = DAYS.index(last.strip()[:3].title()) if last else a
        out.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return out


def always_open(phone: dict[str, Any]) -> bool:
    return "24h" in (phone.get("open") or [])


def open_at(phone: dict[str, Any], at: dt.datetime) -> bool | None:
    """True when the line answers at `at`, False when it does not, None when its hours are not known."""
    spans = phone.get("open")
    if not spans:
        return None
    if "24h" in spans:
        return True
    local = at.astimezone(JAPAN)
    now = local.hour * 60 + local.minute
    for span in spans:
        m = _SPAN.match(span.strip())
        if m is None:
            return None  # a span we cannot read: say nothing rather than something wrong
        if local.weekday() in _days(m["days"]) and minutes_of(m["start"]) <= now < minutes_of(m["end"]):
            return True
    return False


def shown(phone: dict[str, Any], prefecture: str | None) -> bool:
    """A line trainees may see: verified, and not a regional line of another region."""
    if not phone.get("verified", True):
        return False
    regions = phone.get("only_for")
    return not regions or prefecture in regions


def lines_for(contact: Contact, lang: str, prefecture: str | None = None) -> tuple[Line, ...]:
    """The contact's lines in the trainee's language (or any language), else its English line (labelled)."""
    if not contact.verified:
        return ()
    usable = [p for p in contact.phones or [] if shown(p, prefecture)]
    own = [Line(p) for p in usable if p.get("language") in (lang, None)]
    if own:
        return tuple(own[:2])
    english = [Line(p, other_language="en") for p in usable if p.get("language") == "en"]
    return tuple(english[:1])


def choose(contacts: list[Contact], lang: str, at: dt.datetime, *, danger: bool = False, limit: int = 3,
           prefecture: str | None = None) -> list[Choice]:
    """The contacts to show, best first: with a verified line (or a web page), reachable now before closed,
    lines in the trainee's language before the others, 24-hour lines first when `danger`. The topic's own order
    breaks ties."""
    choices = []
    for order, contact in enumerate(contacts):
        lines = lines_for(contact, lang, prefecture)
        if not lines and not (contact.verified and contact.web and not contact.phones):
            continue
        states = [open_at(line.phone, at) for line in lines]
        open_now = True if True in states else (None if None in states or not states else False)
        choices.append((order, Choice(contact=contact, lines=lines, open_now=open_now,
                                      always_open=any(always_open(line.phone) for line in lines))))

    def rank(item: tuple[int, Choice]):
        order, choice = item
        own_language = all(line.other_language is None for line in choice.lines)
        return (not choice.always_open if danger else False, choice.open_now is False, not own_language, order)

    return [choice for _, choice in sorted(choices, key=rank)][:limit]


def unverified(contacts: list[Contact]) -> list[dict[str, str]]:
    """Every number trainees are not shown because it is not verified: for the admins to check."""
    out = []
    for contact in contacts:
        for phone in contact.phones or []:
            if not contact.verified or not phone.get("verified", True):
                out.append({"contact": contact.key, "name": contact.name.get("en") or contact.key,
                            "number": str(phone.get("number")), "language": phone.get("language") or "",
                            "note": phone.get("note") or ""})
    return out
