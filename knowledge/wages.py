"""Reading pay amounts as trainees write them, and checking pay against the minimum wage.

Everything here is pure: the rate in force is looked up by :mod:`knowledge.service`
and passed in, so the arithmetic can be tested on its own.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

#: Legal maximum of scheduled hours (LSA Art. 32: 40 h a week) averaged over a month: 40 × 365 / 7 / 12.
LEGAL_MAX_MONTHLY_HOURS = (Decimal(40) * Decimal(365) / Decimal(7) / Decimal(12)).quantize(Decimal("0.1"))
#: Working days a month in a five-day week: 5 × 365 / 7 / 12.
FIVE_DAY_WEEKS_PER_MONTH = Decimal(5) * Decimal(365) / Decimal(7) / Decimal(12)
#: Legal maximum of scheduled hours in a day (LSA Art. 32).
LEGAL_MAX_DAILY_HOURS = Decimal(8)
#: Larger than any real pay for one month; above it we assume the amount was misread.
MAX_PLAUSIBLE_YEN = Decimal(100_000_000)


class PayPeriod(enum.StrEnum):
    hour = "hour"
    day = "day"
    month = "month"


class AmountError(ValueError):
    """The text is not an amount of yen we can read."""


_MULTIPLIERS = {
    "万": Decimal(10_000), "man": Decimal(10_000), "vạn": Decimal(10_000), "van": Decimal(10_000),
    "千": Decimal(1_000), "sen": Decimal(1_000), "k": Decimal(1_000), "rb": Decimal(1_000),
    "ribu": Decimal(1_000), "nghìn": Decimal(1_000), "nghin": Decimal(1_000), "ngàn": Decimal(1_000),
    "ngan": Decimal(1_000), "libo": Decimal(1_000), "thousand": Decimal(1_000), "juta": Decimal(1_000_000),
    "triệu": Decimal(1_000_000), "trieu": Decimal(1_000_000), "m": Decimal(1_000_000),
}
_CURRENCY_WORDS = ("円", "yen", "yên", "jpy", "¥", "￥", "en", "y")
_AMOUNT_RE = re.compile(
    r"^(?P<number>\d+(?:[.,\s]\d{3})*(?:[.,]\d+)?)\s*(?P<mult>[^\d\s.,]+)?\s*(?:(?P<rest>\d+)(?P<sen>千)?)?$"
)


def _to_decimal(number: str) -> Decimal:
    number = number.replace(" ", "")
    groups = re.split(r"[.,]", number)
    if len(groups) == 1:
        return Decimal(number)
    separators = re.findall(r"[.,]", number)
    # All separators followed by exactly three digits: thousands separators ("150.000", "150,000").
    if all(len(g) == 3 for g in groups[1:]) and (len(separators) > 1 or len(groups[0]) <= 3):
        return Decimal("".join(groups))
    if len(groups) == 2:
        return Decimal(groups[0] + "." + groups[1])
    # "1,234.5" / "1.234,5": the last separator is the decimal point.
    return Decimal("".join(groups[:-1]) + "." + groups[-1])


def parse_amount(text: str) -> Decimal:
    """Read an amount of yen: "900円", "900 yen", "¥150,000", "15万", "15 man", "150k", "150.000"…

    Raises AmountError when the text is not a plausible, positive amount.
    """
    if text is None:
        raise AmountError("no amount")
    raw = unicodedata.normalize("NFKC", str(text)).strip().lower()
    if not raw or len(raw) > 40 or raw.startswith("-") or "−" in raw:
        raise AmountError(text)
    for word in ("¥", "￥", "jpy"):
        raw = raw.replace(word, " ")
    raw = raw.strip()
    for word in ("円", "yên", "yen", "en"):
        if raw.endswith(word) and not (word == "en" and raw.endswith("sen")):  # "150sen" is 150 千
            raw = raw[: -len(word)].strip()
            break
    match = _AMOUNT_RE.match(raw)
    if not match:
        raise AmountError(text)
    try:
        value = _to_decimal(match.group("number"))
    except (InvalidOperation, ValueError) as exc:
        raise AmountError(text) from exc
    mult = match.group("mult")
    rest = match.group("rest")
    if mult:
        factor = _MULTIPLIERS.get(mult.strip())
        if factor is None:
            raise AmountError(text)
        value *= factor
        if rest:  # "15万5000", "15万5千"
            if factor != Decimal(10_000):
                raise AmountError(text)
            value += Decimal(rest) * (Decimal(1_000) if match.group("sen") else 1)
    elif rest:
        raise AmountError(text)
    if value <= 0 or value >= MAX_PLAUSIBLE_YEN:
        raise AmountError(text)
    return value


def parse_hours(text: str | int | float | Decimal) -> Decimal:
    """Read a number of hours ("160", "160h", "160 jam", "8 tiếng")."""
    raw = unicodedata.normalize("NFKC", str(text)).strip().lower()
    match = re.match(r"^(\d+(?:[.,]\d+)?)", raw)
    if not match:
        raise AmountError(text)
    value = Decimal(match.group(1).replace(",", "."))
    if value < Decimal("0.01") or value > 744:  # under 0.01 h the pay per hour overflows; over 744 h is more than a month
        raise AmountError(text)
    return value


#: The words for yen written after an amount.
_YEN = r"(?:円|yen|yên|jpy)"
#: "/h" or "1h" right after an amount ("1100円/h", "1100 yen 1h", "¥1100/hr"): per hour.
_PER_H = re.compile(r"\d\s?" + _YEN + r"?\s?(?:/\s?|per\s|1\s?)(?:h|hr|hour)\b|^/?\s?1?\s?h$", re.IGNORECASE)


def parse_period(text: str | None) -> PayPeriod | None:
    """Map period words in five languages to hour / day / month."""
    if not text:
        return None
    t = unicodedata.normalize("NFKC", text).strip().lower()
    if t in PayPeriod.__members__:
        return PayPeriod(t)
    if _PER_H.search(t):  # "1100円/h", "1100 yen 1h", "1100/h"
        return PayPeriod.hour
    table = (
        (PayPeriod.hour, ("hour", "hr", "jam", "tiếng", "tieng", "giờ", "gio", "oras", "時給", "時間", "jikyu", "jikyuu", "/h")),
        (PayPeriod.day, ("day", "daily", "hari", "ngày", "ngay", "araw", "日給", "日当", "nikkyu", "nikkyuu")),
        (PayPeriod.month, ("month", "bulan", "tháng", "thang", "buwan", "月給", "月", "gekkyu", "gekkyuu", "sahod kada buwan")),
    )
    for period, words in table:
        if any(w in t for w in words):
            return period
    return None


@dataclass(frozen=True)
class MinimumRate:
    """The minimum wage in force in one prefecture on one date."""

    prefecture: str
    yen_per_hour: int
    effective_from: dt.date
    fiscal_year: int
    sources: tuple[dict, ...] = ()
    #: True when the newest revision we hold is older than the revision cycle of the date asked about.
    possibly_outdated: bool = False


class Verdict(enum.StrEnum):
    below = "below"
    at_or_above = "at_or_above"


@dataclass(frozen=True)
class WageCheck:
    """Result of a wage check: either what is missing, or a verdict with its numbers."""

    missing: tuple[str, ...] = ()
    verdict: Verdict | None = None
    hourly_equivalent: Decimal | None = None
    minimum: MinimumRate | None = None
    shortfall_per_hour: Decimal | None = None
    shortfall_per_month: Decimal | None = None
    monthly_hours: Decimal | None = None
    #: Assumptions the answer must state, e.g. "legal_max_monthly_hours".
    assumptions: tuple[str, ...] = field(default=())

    @property
    def complete(self) -> bool:
        return not self.missing


def revision_cycle(on: dt.date) -> int:
    """The fiscal year whose revision is due by `on` (rates are revised from every October)."""
    return on.year if on.month >= 10 else on.year - 1


def missing_inputs(
    *, amount: Decimal | None, period: PayPeriod | None, prefecture: str | None
) -> tuple[str, ...]:
    """Which of amount, period, prefecture are still unknown (in the order the bot asks)."""
    missing = []
    if amount is None:
        missing.append("amount")
    if period is None:
        missing.append("period")
    if prefecture is None:
        missing.append("prefecture")
    return tuple(missing)


def evaluate(
    *,
    amount: Decimal,
    period: PayPeriod,
    minimum: MinimumRate,
    hours_per_month: Decimal | None = None,
    hours_per_day: Decimal | None = None,
) -> WageCheck:
    """Compare pay with the minimum in force (LSA / Minimum Wage Act method: pay ÷ scheduled hours)."""
    assumptions: list[str] = []
    if period is PayPeriod.hour:
        hourly = amount
    elif period is PayPeriod.day:
        if hours_per_day is None:
            hours_per_day = LEGAL_MAX_DAILY_HOURS
            assumptions.append("legal_max_daily_hours")
        hourly = amount / hours_per_day
    else:
        if hours_per_month is None and hours_per_day is not None:
            # Hours a day given for a monthly pay: a five-day week, never above the legal maximum of scheduled hours.
            hours_per_month = min(LEGAL_MAX_MONTHLY_HOURS, (Decimal(hours_per_day) * FIVE_DAY_WEEKS_PER_MONTH)
                                  .quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
            assumptions.append("five_day_week")
        if hours_per_month is None:
            hours_per_month = LEGAL_MAX_MONTHLY_HOURS
            assumptions.append("legal_max_monthly_hours")
        hourly = amount / hours_per_month
    monthly_hours = hours_per_month
    if monthly_hours is None:
        monthly_hours = LEGAL_MAX_MONTHLY_HOURS
        assumptions.append("legal_max_monthly_hours")
    hourly = hourly.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    shortfall = max(Decimal(0), Decimal(minimum.yen_per_hour) - hourly)
    return WageCheck(
        verdict=Verdict.below if shortfall > 0 else Verdict.at_or_above,
        hourly_equivalent=hourly,
        minimum=minimum,
        shortfall_per_hour=shortfall,
        shortfall_per_month=(shortfall * monthly_hours).quantize(Decimal("1"), rounding=ROUND_HALF_UP),
        monthly_hours=monthly_hours,
        assumptions=tuple(dict.fromkeys(assumptions)),
    )


_UNIT = (r"(?:円|万(?:\d+千?)?円?|千|(?:yen|yên|jpy|man|k|rb|ribu|nghìn|nghin|ngàn|ngan|libo|thousand|juta|triệu|trieu"
         r"|vạn|van)(?![a-zà-ỹ]))")
_CANDIDATE = re.compile(
    r"(?:[¥￥]\s?\d[\d.,]*(?:\s?" + _UNIT + r")?)|(?:\d[\d.,]*\s?" + _UNIT + r"(?:\s?(?:円|yen|yên))?)|(?:\d[\d.,]*)",
    re.IGNORECASE,
)
_HOURS_AFTER = re.compile(r"^\s?(?:h\b|hrs?\b|hours?\b|jam\b|tiếng|tieng|giờ|gio\b|oras\b|時間)", re.IGNORECASE)
_HOURS = re.compile(r"(\d{1,3}(?:[.,]\d)?)\s?(?:h\b|hrs?\b|hours?\b|jam\b|tiếng|tieng|giờ|gio\b|oras\b|時間)", re.IGNORECASE)


def find_amount(text: str) -> Decimal | None:
    """The pay amount inside a message ("they pay me 15 man a month" → 150000), or None.

    Numbers followed by an hours word are hours, not pay. Raises AmountError when the only
    amount-like thing is unreadable (e.g. negative or absurd).
    """
    normal = unicodedata.normalize("NFKC", text or "")
    found: list[tuple[bool, str]] = []
    for match in _CANDIDATE.finditer(normal):
        token = match.group().strip()
        if _HOURS_AFTER.match(normal[match.end():]):
            continue
        if match.start() > 0 and normal[match.start() - 1] in "-−":
            raise AmountError(token)
        has_unit = not token.replace(",", "").replace(".", "").isdigit()
        found.append((has_unit, token))
    for has_unit, token in sorted(found, key=lambda f: not f[0]):
        try:
            return parse_amount(token)
        except AmountError:
            if has_unit:
                raise
    return None


_AMOUNT_BEFORE = re.compile(r"(?:" + _YEN + r"|\d)\s?$", re.IGNORECASE)


def find_hours(text: str) -> Decimal | None:
    """A number of hours inside a message ("160 jam", "8 tiếng", "160時間"), or None."""
    normal = unicodedata.normalize("NFKC", text or "")
    for match in _HOURS.finditer(normal):
        if match.group(1) == "1" and _AMOUNT_BEFORE.search(normal[: match.start()]):
            continue  # "1100 yen 1h": the period of the pay, not working hours
        try:
            return parse_hours(match.group(1).replace(",", "."))
        except AmountError:
            return None
    return None
