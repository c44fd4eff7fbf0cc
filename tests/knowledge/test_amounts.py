"""Amounts, periods and hours as trainees write them."""

from __future__ import annotations

from decimal import Decimal

import pytest

import datetime as dt

from knowledge import wages
from knowledge.wages import AmountError, PayPeriod, parse_amount, parse_hours, parse_period


@pytest.mark.parametrize(
    ("text", "yen"),
    [
        ("900円", 900), ("900 円", 900), ("900 yen", 900), ("900yen", 900), ("900 YEN", 900), ("900", 900),
        ("¥150,000", 150_000), ("￥150,000", 150_000), ("¥ 150000", 150_000), ("150,000円", 150_000),
        ("15万", 150_000), ("15万円", 150_000), ("15 man", 150_000), ("15man", 150_000), ("15 man yen", 150_000),
        ("15.5万", 155_000), ("15万5000", 155_000), ("150k", 150_000), ("150K", 150_000), ("1.2k", 1_200),
        ("150.000", 150_000), ("150.000 yên", 150_000), ("1.050.000", 1_050_000), ("150 nghìn", 150_000),
        ("150rb", 150_000), ("150 ribu", 150_000), ("150 libo", 150_000), ("１５万", 150_000), ("９００円", 900),
        ("1,050", 1_050), ("1050.5", Decimal("1050.5")), ("JPY 1,226", 1_226),
    ],
)
def test_parse_amount_in_every_form(text, yen):
    assert parse_amount(text) == Decimal(yen)


@pytest.mark.parametrize(
    "text", ["abc", "", "   ", "-900", "−900", "0", "0円", "10^12", "1000000000000", "999999999999 yen",
             "15 banana", "900円円x", "one thousand", "¥", "12.34.56", "x" * 100],
)
def test_parse_amount_rejects_nonsense(text):
    with pytest.raises(AmountError):
        parse_amount(text)


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("hour", PayPeriod.hour), ("per hour", PayPeriod.hour), ("1 tiếng", PayPeriod.hour), ("sejam", PayPeriod.hour),
        ("kada oras", PayPeriod.hour), ("時給", PayPeriod.hour), ("day", PayPeriod.day), ("sehari", PayPeriod.day),
        ("mỗi ngày", PayPeriod.day), ("日給", PayPeriod.day), ("month", PayPeriod.month), ("sebulan", PayPeriod.month),
        ("1 tháng", PayPeriod.month), ("isang buwan", PayPeriod.month), ("月給", PayPeriod.month),
    ],
)
def test_parse_period_in_five_languages(text, period):
    assert parse_period(text) == period


def test_parse_period_unknown():
    assert parse_period("sometimes") is None
    assert parse_period("") is None


@pytest.mark.parametrize(("text", "hours"), [("160", 160), ("160h", 160), ("173.8", Decimal("173.8")), ("8 jam", 8)])
def test_parse_hours(text, hours):
    assert parse_hours(text) == Decimal(hours)


@pytest.mark.parametrize("text", ["0", "-5", "abc", "1000"])
def test_parse_hours_rejects_impossible(text):
    with pytest.raises(AmountError):
        parse_hours(text)


@pytest.mark.parametrize("text", ["1100円/h", "1100 yen 1h", "luong 1100 yen/h", "¥1100/hr", "1100 yen per hour"])
def test_a_period_written_as_h_after_the_amount_is_per_hour(text):
    assert wages.parse_period(text) is wages.PayPeriod.hour
    assert wages.find_amount(text) == 1100
    assert wages.find_hours(text) is None  # "1h" is the period, not one hour of work


def test_hours_a_day_for_a_monthly_pay_count_a_five_day_week():
    minimum_okinawa = wages.MinimumRate(**MINIMUM_OKINAWA)
    result = wages.evaluate(amount=Decimal(150000), period=wages.PayPeriod.month, minimum=minimum_okinawa,
                            hours_per_day=Decimal(7))
    assert result.monthly_hours == Decimal("152.1") and "five_day_week" in result.assumptions
    assert result.hourly_equivalent == Decimal("986.19")
    long_days = wages.evaluate(amount=Decimal(150000), period=wages.PayPeriod.month, minimum=minimum_okinawa,
                               hours_per_day=Decimal(10))
    assert long_days.monthly_hours == wages.LEGAL_MAX_MONTHLY_HOURS  # scheduled hours never above the legal maximum


MINIMUM_OKINAWA = {"prefecture": "Okinawa", "yen_per_hour": 1023, "effective_from": dt.date(2025, 12, 1),
                   "fiscal_year": 2025}
