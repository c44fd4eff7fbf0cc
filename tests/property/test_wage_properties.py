"""Properties of the amount reader and the wage check, over generated amounts and texts.

Every way of writing an amount that `knowledge/wages.py` claims to read (digits with "," "." thousands
separators, full-width digits, ¥/￥/JPY before, 円/yen/yên after, 万/man/vạn, k/rb/ribu/nghìn/ngàn/libo/
thousand/千, juta/triệu, "15万5000") gives the amount back, alone and inside a sentence of each of the five
languages; arbitrary text never makes a reader fail with anything but AmountError; text without a digit has
no amount; and the verdict behaves like arithmetic: monotonic, exact at the minimum, shortfall = rate − pay.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot import decisions
from knowledge import wages
from knowledge.wages import AmountError, MinimumRate, PayPeriod

PROPERTY = settings(max_examples=200, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: The wage check is pure; the rates come from the seed, read as in force on one fixed day.
TODAY = dt.date(2026, 11, 25)
_SEED = yaml.safe_load((Path(wages.__file__).parent / "data" / "minimum_wages.yaml").read_text(encoding="utf-8"))


def _rates_on(day: dt.date) -> list[MinimumRate]:
    newest: dict[str, MinimumRate] = {}
    for revision in sorted(_SEED["revisions"], key=lambda r: r["fiscal_year"]):
        for row in revision["rates"]:
            if row["effective_from"] <= day:
                newest[row["prefecture"]] = MinimumRate(row["prefecture"], row["yen"], row["effective_from"],
                                                        revision["fiscal_year"])
    return list(newest.values())


RATES = _rates_on(TODAY)

# --- ways of writing an amount ------------------------------------------------------------------------------

FULL_WIDTH = str.maketrans("0123456789,. ", "０１２３４５６７８９，．　")


def grouped(n: int, sep: str) -> str:
    """1100 → "1,100" / "1.100"."""
    return f"{n:,}".replace(",", sep)


@st.composite
def written_plain(draw) -> tuple[str, Decimal]:
    """A whole number of yen as digits, grouped or not, with or without a currency word."""
    n = draw(st.integers(min_value=1, max_value=99_999_999))
    sep = draw(st.sampled_from(["", ",", "."]))
    digits = grouped(n, sep) if sep else str(n)
    prefix = draw(st.sampled_from(["", "¥", "￥", "¥ ", "JPY ", "jpy"]))
    suffix = "" if prefix else draw(st.sampled_from(["", "円", " 円", "yen", " yen", " YEN", " Yen", " yên", " Yên"]))
    return prefix + digits + suffix, Decimal(n)


MULTIPLIED = {
    **dict.fromkeys(["万", "万円", " man", "man", " man yen", " vạn", " vạn yên", " van"], 10_000),
    **dict.fromkeys(["k", "K", " k", "rb", " rb", " ribu", " nghìn", " nghin", " ngàn", " ngan", " libo",
                     " thousand", "千", "千円", "k yen", " rb yen"], 1_000),
    **dict.fromkeys([" juta", " triệu", " trieu"], 1_000_000),
}


@st.composite
def written_multiplied(draw) -> tuple[str, Decimal]:
    """"15万", "15 man", "150k", "1.5k", "150 ribu", "2 juta"…: a number times a unit word."""
    unit = draw(st.sampled_from(sorted(MULTIPLIED)))
    factor = MULTIPLIED[unit]
    whole = draw(st.integers(min_value=1, max_value=99_999_999 // factor - 1))
    tenth = draw(st.integers(min_value=0, max_value=9)) if whole < 1000 else 0  # one decimal: "1.5k", "15.5万"
    number = f"{whole}.{tenth}" if tenth else str(whole)
    return number + unit, (Decimal(number) * factor).normalize()


@st.composite
def written_man_and_rest(draw) -> tuple[str, Decimal]:
    """"15万5000円", "15万5千円": 万 followed by the rest in yen or thousands."""
    man = draw(st.integers(min_value=1, max_value=9_999))
    as_sen = draw(st.booleans())
    rest = draw(st.integers(min_value=1, max_value=9)) * 1000 if as_sen else draw(st.integers(1, 9_999))
    tail = f"{rest // 1000}千" if as_sen else str(rest)
    yen = draw(st.sampled_from(["", "円"]))
    return f"{man}万{tail}{yen}", Decimal(man * 10_000 + rest)


def full_width(draw, written: tuple[str, Decimal]) -> tuple[str, Decimal]:
    text, value = written
    return (text.translate(FULL_WIDTH) if draw(st.booleans()) else text), value


@st.composite
def written_amount(draw) -> tuple[str, Decimal]:
    return full_width(draw, draw(st.one_of(written_plain(), written_multiplied(), written_man_and_rest())))


#: Units parse_amount reads in an amount on its own but find_amount does not look for in a sentence, where
#: they are ordinary words or other units: "m" (minutes, metres), "sen" (Vietnamese "lotus").
ALONE_ONLY = {"sen": 1_000, " sen": 1_000, "m": 1_000_000, " m": 1_000_000}


@st.composite
def written_alone(draw) -> tuple[str, Decimal]:
    unit = draw(st.sampled_from(sorted(ALONE_ONLY)))
    whole = draw(st.integers(min_value=1, max_value=99_999_999 // ALONE_ONLY[unit] - 1))
    return full_width(draw, (f"{whole}{unit}", Decimal(whole * ALONE_ONLY[unit])))


#: Sentences trainees write around their pay, in the five languages (no hour word right after the amount).
SENTENCES = [
    "lương của tôi là {} một tháng", "công ty trả {} mỗi giờ", "tôi được {}",
    "gaji saya {} per bulan", "upah saya {} sejam", "dibayar {} saja",
    "ang sahod ko ay {} kada buwan", "binabayaran ako ng {} kada oras", "sahod {}",
    "給料は{}です", "時給{}で働いています", "月給は{}くらい",
    "my pay is {} a month", "they pay me {} per hour", "{}",
]


@PROPERTY
@given(st.one_of(written_amount(), written_alone()))
def test_parse_amount_reads_every_supported_form(written):
    text, value = written
    assert wages.parse_amount(text) == value


@PROPERTY
@given(written_amount(), st.sampled_from(SENTENCES))
def test_find_amount_reads_the_amount_inside_a_sentence(written, sentence):
    text, value = written
    message = sentence.format(text)
    assert wages.find_amount(message) == value, message
    assert Decimal(decisions.wage_slots(None, message)["amount"]) == value


@PROPERTY
@given(st.integers(min_value=1_000, max_value=99_999_999))
def test_space_grouped_digits_are_read_as_one_amount(n):
    assert wages.parse_amount(grouped(n, " ")) == n
    assert wages.parse_amount(grouped(n, " ") + " yên") == n


# --- arbitrary text -----------------------------------------------------------------------------------------

#: Everything st.text() makes, plus the characters that trip text handling: emoji, controls, zero-width,
#: bidi marks, combining accents, full-width and other-script digits, separators and the words the readers know.
TRICKY = st.sampled_from(["😀", "👍🏽", "\u200b", "\u200d", "\ufeff", "\u202e", "\x00", "\x1b", "\r\n", "\t", "\u0301",
                          "１", "٣", "①", "²", "¥", "￥", "円", "万", "千", ",", ".", "-", "−", " ", "k", "man",
                          "yen", "yên", "jam", "h", "時間", "/h", "1h", "0", "9" * 30, "e9", "NaN", "Infinity"])
ANY_TEXT = st.lists(st.one_of(st.text(max_size=40), TRICKY), max_size=40).map("".join)


@st.composite
def long_text(draw) -> str:
    """About 10,000 characters: a generated piece repeated."""
    piece = draw(ANY_TEXT.filter(bool))
    return (piece * (10_000 // len(piece) + 1))[:10_000]


def only_amount_errors(read, text):
    try:
        return read(text)
    except AmountError:
        return None


@PROPERTY
@given(st.one_of(ANY_TEXT, long_text()))
def test_readers_fail_only_with_amount_error_on_any_text(text):
    for read in (wages.parse_amount, wages.parse_hours, wages.find_amount):
        value = only_amount_errors(read, text)
        assert value is None or value > 0
    assert wages.parse_period(text) in (None, *PayPeriod)
    hours = wages.find_hours(text)
    assert hours is None or 0 < hours <= 744
    decisions.amount_in(text)  # what the engine calls: never raises
    decisions.wage_slots(None, text)


DIGIT = re.compile(r"\d")


@PROPERTY
@given(ANY_TEXT)
def test_text_without_digits_has_no_amount(text):
    assume(not DIGIT.search(unicodedata.normalize("NFKC", text)))
    assert wages.find_amount(text) is None
    assert decisions.amount_in(text) is None
    assert wages.find_hours(text) is None


@pytest.mark.parametrize("text", ["one thousand yen", "mười lăm vạn", "seribu yen", "isang libo", "千円", "万円",
                                  "¥", "yen yen", "k", "man"])
def test_number_words_alone_are_no_amount(text):
    assert wages.find_amount(text) is None


# --- the wage check -----------------------------------------------------------------------------------------

PAY = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(99_999_999), places=2)
HOURS = st.decimals(min_value=Decimal("0.1"), max_value=Decimal(744), places=1)
DAY_HOURS = st.decimals(min_value=Decimal("0.1"), max_value=Decimal(24), places=1)
RATE = st.sampled_from(RATES)
PERIOD = st.sampled_from(list(PayPeriod))


def check(amount, period, minimum, hours=None):
    """evaluate() with the hours the period uses (per month for a monthly pay, per day for a daily one)."""
    return wages.evaluate(amount=amount, period=period, minimum=minimum,
                          hours_per_month=hours if period is PayPeriod.month else None,
                          hours_per_day=hours if period is PayPeriod.day else None)


@PROPERTY
@given(PAY, PAY, PERIOD, RATE, st.one_of(st.none(), DAY_HOURS))
def test_more_pay_never_turns_above_into_below(a, b, period, minimum, hours):
    low, high = sorted((a, b))
    lower, higher = check(low, period, minimum, hours), check(high, period, minimum, hours)
    assert higher.hourly_equivalent >= lower.hourly_equivalent
    if lower.verdict is wages.Verdict.at_or_above:
        assert higher.verdict is wages.Verdict.at_or_above
    assert higher.shortfall_per_hour <= lower.shortfall_per_hour


@PROPERTY
@given(RATE)
def test_hourly_pay_exactly_at_the_minimum_is_not_below(minimum):
    at = check(Decimal(minimum.yen_per_hour), PayPeriod.hour, minimum)
    assert at.verdict is wages.Verdict.at_or_above and at.shortfall_per_hour == 0 and at.shortfall_per_month == 0
    one_yen_less = check(Decimal(minimum.yen_per_hour - 1), PayPeriod.hour, minimum)
    assert one_yen_less.verdict is wages.Verdict.below and one_yen_less.shortfall_per_hour == 1


@PROPERTY
@given(PAY, PERIOD, RATE, st.one_of(st.none(), DAY_HOURS))
def test_shortfall_is_the_rate_minus_the_hourly_pay(amount, period, minimum, hours):
    result = check(amount, period, minimum, hours)
    if result.verdict is wages.Verdict.below:
        assert result.shortfall_per_hour == Decimal(minimum.yen_per_hour) - result.hourly_equivalent > 0
        assert result.shortfall_per_month == (result.shortfall_per_hour * result.monthly_hours).quantize(
            Decimal(1), rounding=ROUND_HALF_UP)
    else:
        assert result.hourly_equivalent >= minimum.yen_per_hour and result.shortfall_per_hour == 0


@PROPERTY
@given(st.integers(min_value=1, max_value=5_000), HOURS, DAY_HOURS, RATE)
def test_period_conversions_agree(hourly, hours_per_month, hours_per_day, minimum):
    """A monthly pay of hourly × hours is that hourly pay, and so is a daily pay of hourly × hours a day."""
    per_hour = check(Decimal(hourly), PayPeriod.hour, minimum)
    per_month = check(Decimal(hourly) * hours_per_month, PayPeriod.month, minimum, hours_per_month)
    per_day = check(Decimal(hourly) * hours_per_day, PayPeriod.day, minimum, hours_per_day)
    assert per_month.hourly_equivalent == per_day.hourly_equivalent == per_hour.hourly_equivalent == hourly
    assert per_month.verdict is per_day.verdict is per_hour.verdict
    assert per_month.monthly_hours == hours_per_month


@PROPERTY
@given(st.integers(min_value=1, max_value=5_000), RATE)
def test_defaults_are_the_legal_maximum_hours(hourly, minimum):
    """No hours given: a monthly pay is spread over the legal maximum of scheduled hours, a daily one over 8."""
    monthly = check(Decimal(hourly) * wages.LEGAL_MAX_MONTHLY_HOURS, PayPeriod.month, minimum)
    daily = check(Decimal(hourly) * 8, PayPeriod.day, minimum)
    assert monthly.hourly_equivalent == daily.hourly_equivalent == hourly
    assert "legal_max_monthly_hours" in monthly.assumptions and "legal_max_daily_hours" in daily.assumptions


@PROPERTY
@given(st.one_of(PAY, st.decimals(min_value=Decimal("1e-30"), max_value=Decimal(99_999_999))), PERIOD, RATE,
       st.one_of(st.none(), st.decimals(min_value=Decimal("0.01"), max_value=Decimal(744))))
def test_evaluate_never_raises_for_positive_numbers(amount, period, minimum, hours):
    """Any positive pay parse_amount can give (under ¥100,000,000) with any hours parse_hours can give."""
    result = wages.evaluate(amount=amount, period=period, minimum=minimum, hours_per_month=hours,
                            hours_per_day=hours)
    assert result.verdict in wages.Verdict and result.hourly_equivalent >= 0


@PROPERTY
@given(st.one_of(st.text(alphabet="0123456789.,", min_size=1, max_size=40),
                 st.builds(lambda zeros, digit: "0." + "0" * zeros + digit, st.integers(0, 40), st.sampled_from("123456789"))),
       PERIOD, RATE)
def test_any_hours_the_reader_accepts_can_be_checked(written, period, minimum):
    """Hours as a trainee (or the /api/wage-check query) writes them: whatever parse_hours accepts, evaluate takes."""
    hours = only_amount_errors(wages.parse_hours, written)
    assume(hours is not None)
    result = check(Decimal(99_999_999), period, minimum, hours)
    assert result.verdict in wages.Verdict


def test_rates_are_those_in_force_on_the_pinned_day():
    assert len(RATES) == 47 and all(r.effective_from <= TODAY for r in RATES)


@pytest.mark.parametrize(
    ("message", "yen"),
    [
        ("binabayaran ako ng 1100 kada oras", 1100),  # was ¥1,100,000: the "k" of "kada" read as thousands
        ("月給15万5000円です", 155_000), ("15万5千円", 155_000),  # were ¥150,000: the rest after 万 was dropped
        ("lương 15 vạn yên", 150_000), ("150 thousand yen a month", 150_000), ("gaji 1.5 juta", 1_500_000),
    ],
)
def test_amounts_the_properties_found_misread(message, yen):
    assert wages.find_amount(message) == yen


def test_sen_and_too_few_hours():
    assert wages.parse_amount("150sen") == 150_000  # was refused: "sen" lost its "en" as if it were yen
    with pytest.raises(AmountError):  # ¥99,999,999 a day over 0.000…1 h overflowed the verdict's arithmetic
        wages.parse_hours("0.001")
