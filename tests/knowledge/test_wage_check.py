"""The wage check across all 47 prefectures, both fiscal years and the effective-date boundaries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import yaml

from knowledge import service as knowledge_service
from knowledge.loader import DATA_DIR
from knowledge.wages import LEGAL_MAX_MONTHLY_HOURS, AmountError, Verdict

WAGE_DATA = yaml.safe_load((DATA_DIR / "minimum_wages.yaml").read_text(encoding="utf-8"))
FY = {r["fiscal_year"]: {x["prefecture"]: x for x in r["rates"]} for r in WAGE_DATA["revisions"]}
PREFECTURES = sorted(FY[2025])


def test_both_fiscal_years_hold_all_47_prefectures():
    assert set(FY) >= {2024, 2025}
    assert len(FY[2024]) == len(FY[2025]) == 47
    assert set(FY[2024]) == set(FY[2025])


@pytest.mark.parametrize(
    ("prefecture", "yen", "effective"),
    [("Tokyo", 1226, "2025-10-03"), ("Akita", 1031, "2026-03-31"), ("Okinawa", 1023, "2025-12-01"),
     ("Tochigi", 1068, "2025-10-01"), ("Gunma", 1063, "2026-03-01"), ("Kumamoto", 1034, "2026-01-01")],
)
def test_seed_data_matches_the_published_fy2025_table(prefecture, yen, effective):
    row = FY[2025][prefecture]
    assert (row["yen"], str(row["effective_from"])) == (yen, effective)


@pytest.mark.parametrize("prefecture", PREFECTURES)
def test_rate_in_force_switches_on_the_effective_date(session, prefecture):
    new, old = FY[2025][prefecture], FY[2024][prefecture]
    day = dt.date.fromisoformat(str(new["effective_from"]))
    before = knowledge_service.rate_on(session=session, prefecture=prefecture, on=day - dt.timedelta(days=1))
    on = knowledge_service.rate_on(session=session, prefecture=prefecture, on=day)
    assert (before.yen_per_hour, before.fiscal_year) == (old["yen"], 2024)
    assert (on.yen_per_hour, on.fiscal_year, on.effective_from) == (new["yen"], 2025, day)
    old_day = dt.date.fromisoformat(str(old["effective_from"]))
    assert knowledge_service.rate_on(session=session, prefecture=prefecture, on=old_day - dt.timedelta(days=1)) is None


@pytest.mark.parametrize("prefecture", PREFECTURES)
@pytest.mark.parametrize("year", [2024, 2025])
def test_hourly_pay_at_and_one_yen_below_the_minimum(session, prefecture, year):
    row = FY[year][prefecture]
    day = dt.date.fromisoformat(str(row["effective_from"]))
    at = knowledge_service.check_wage(
        session=session, amount=f"{row['yen']}円", period="hour", prefecture=prefecture, on=day
    )
    below = knowledge_service.check_wage(
        session=session, amount=f"{row['yen'] - 1} yen", period="hour", prefecture=prefecture, on=day
    )
    assert at.verdict is Verdict.at_or_above and at.shortfall_per_hour == 0
    assert below.verdict is Verdict.below
    assert below.shortfall_per_hour == Decimal(1)
    assert below.minimum.yen_per_hour == row["yen"]


def test_monthly_pay_without_hours_uses_the_legal_maximum_and_says_so(session):
    # Tokyo FY2025: ¥1,226. 200,000 / 173.8 h = ¥1,150.75 an hour: ¥75.25 short, ¥13,078 a month.
    result = knowledge_service.check_wage(
        session=session, amount="20万", period="month", prefecture="東京都", on=dt.date(2026, 11, 25)
    )
    assert LEGAL_MAX_MONTHLY_HOURS == Decimal("173.8")
    assert result.verdict is Verdict.below
    assert result.hourly_equivalent == Decimal("1150.75")
    assert result.shortfall_per_hour == Decimal("75.25")
    assert result.shortfall_per_month == Decimal("13078")
    assert "legal_max_monthly_hours" in result.assumptions


def test_monthly_pay_with_hours_given(session):
    # Aichi FY2025 ¥1,140 from 2025-10-18; 180,000 for 160 h = ¥1,125 an hour, ¥15 short, ¥2,400 a month.
    result = knowledge_service.check_wage(
        session=session, amount="¥180,000", period="month", prefecture="aichi", hours_per_month="160",
        on=dt.date(2025, 12, 1),
    )
    assert (result.verdict, result.hourly_equivalent) == (Verdict.below, Decimal("1125.00"))
    assert result.shortfall_per_month == Decimal("2400")
    assert result.assumptions == ()


def test_daily_pay_without_hours_assumes_eight(session):
    # Osaka FY2025 ¥1,177: 9,600 a day / 8 h = ¥1,200 an hour: legal.
    result = knowledge_service.check_wage(
        session=session, amount="9600円", period="日給", prefecture="Oosaka", on=dt.date(2026, 1, 10)
    )
    assert result.verdict is Verdict.at_or_above
    assert result.hourly_equivalent == Decimal("1200.00")
    assert "legal_max_daily_hours" in result.assumptions


@pytest.mark.parametrize(
    ("amount", "period", "prefecture", "missing"),
    [
        (None, "hour", "Aichi", ("amount",)),
        ("900", None, "Aichi", ("period",)),
        ("900", "hour", None, ("prefecture",)),
        (None, None, None, ("amount", "period", "prefecture")),
        ("900", "hour", "Atlantis", ("prefecture",)),
    ],
)
def test_missing_inputs_are_named_not_guessed(session, amount, period, prefecture, missing):
    result = knowledge_service.check_wage(
        session=session, amount=amount, period=period, prefecture=prefecture, on=dt.date(2026, 1, 1)
    )
    assert result.missing == missing
    assert result.verdict is None


@pytest.mark.parametrize("amount", ["abc", "-900", "10^12", "1000000000000"])
def test_unreadable_amount_is_an_error(session, amount):
    with pytest.raises(AmountError):
        knowledge_service.check_wage(
            session=session, amount=amount, period="hour", prefecture="Aichi", on=dt.date(2026, 1, 1)
        )


def test_rate_is_flagged_possibly_outdated_after_a_new_cycle_starts(session):
    # Tochigi's FY2025 rate started 2025-10-01; by October 2026 the FY2026 revision is due and we don't hold it.
    fresh = knowledge_service.rate_on(session=session, prefecture="Tochigi", on=dt.date(2026, 9, 30))
    stale = knowledge_service.rate_on(session=session, prefecture="Tochigi", on=dt.date(2026, 10, 1))
    assert fresh.possibly_outdated is False
    assert stale.possibly_outdated is True
    assert stale.yen_per_hour == fresh.yen_per_hour == 1068


def test_a_new_fiscal_year_is_plain_data(session):
    from knowledge.models import MinimumWage

    session.add(MinimumWage(prefecture="Tochigi", fiscal_year=2026, yen_per_hour=1130,
                            effective_from=dt.date(2026, 10, 1), sources=[]))
    session.flush()
    rate = knowledge_service.rate_on(session=session, prefecture="Tochigi", on=dt.date(2026, 11, 25))
    assert (rate.yen_per_hour, rate.fiscal_year, rate.possibly_outdated) == (1130, 2026, False)
