"""The payslip verdict: each rule with concrete numbers worked out by hand (Tokyo FY2025 minimum ¥1,226)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from knowledge.payslip import Confidence, Payslip, Status, judge
from knowledge.wages import MinimumRate

TOKYO = MinimumRate(prefecture="Tokyo", yen_per_hour=1226, effective_from=dt.date(2025, 10, 3), fiscal_year=2025)
SURE, LIKELY, UNSURE = Confidence.sure, Confidence.likely, Confidence.unsure


def slip(hours: int | str | None = None, per_day: int | None = None, **amounts: int) -> Payslip:
    return Payslip(
        amounts={key: Decimal(value) for key, value in amounts.items()},
        scheduled_hours_per_month=None if hours is None else Decimal(hours),
        scheduled_hours_per_day=None if per_day is None else Decimal(per_day),
    )


@pytest.mark.parametrize(
    ("payslip", "status", "confidence", "expected", "shortfall", "hours_used", "ask"),
    [
        # 180,000 / 160 h = ¥1,125 an hour, ¥101 short; 1,226 × 160 = 196,160 → ¥16,160 a month.
        pytest.param(slip(160, base_pay=180_000), Status.below_minimum, SURE, 196_160, 16_160, "160", False,
                     id="below-with-scheduled-hours"),
        # 200,000 / 160 h = ¥1,250 ≥ ¥1,226.
        pytest.param(slip(160, base_pay=200_000), Status.ok, SURE, 196_160, 0, "160", False, id="at-or-above"),
        # No hours: legal maximum 173.8 h; 1,226 × 173.8 = 213,078.8 → 213,079; 200,000 is ¥13,079 short at most.
        pytest.param(slip(base_pay=200_000), Status.below_minimum, UNSURE, 213_079, 13_079, "173.8", True,
                     id="below-on-legal-max-hours-is-unsure"),
        # 220,000 / 173.8 = ¥1,265.82: above even on the most hours a schedule may have.
        pytest.param(slip(base_pay=220_000), Status.ok, LIKELY, 213_079, 0, "173.8", False,
                     id="ok-on-legal-max-hours-is-likely"),
        # The payslip's 160 h (may include overtime): same numbers as the first row, only likely.
        pytest.param(slip(base_pay=180_000, hours_worked=160), Status.below_minimum, LIKELY, 196_160, 16_160, "160",
                     False, id="hours-from-payslip"),
        # 200 h on the payslip: scheduled hours cannot exceed 173.8 h, so 213,079 − 200,000 = 13,079.
        pytest.param(slip(base_pay=200_000, hours_worked=200), Status.below_minimum, LIKELY, 213_079, 13_079,
                     "173.8", False, id="payslip-hours-capped-at-legal-max"),
        # 7 h a day, five-day week: 7 × 21.726 = 152.1 h; 1,226 × 152.1 = 186,474.6 → 186,475; 6,475 short.
        pytest.param(slip(per_day=7, base_pay=180_000), Status.below_minimum, LIKELY, 186_475, 6_475, "152.1", False,
                     id="hours-per-day-given"),
        # Allowances may partly count towards the minimum: the shortfall is only likely.
        pytest.param(slip(160, base_pay=180_000, other_allowances=10_000), Status.below_minimum, LIKELY, 196_160,
                     16_160, "160", False, id="allowances-on-payslip"),
        # Overtime pay is excluded from the comparison [S15]: a big overtime line does not lift base pay.
        pytest.param(slip(160, base_pay=180_000, overtime_hours=40, overtime_pay=61_300), Status.below_minimum, SURE,
                     196_160, 16_160, "160", False, id="overtime-pay-not-counted"),
        pytest.param(slip(160), Status.cannot_judge, UNSURE, 196_160, 0, "160", True, id="base-pay-missing"),
    ],
)
def test_base_pay_against_the_minimum(payslip, status, confidence, expected, shortfall, hours_used, ask):
    verdict = judge(payslip, TOKYO)
    line = verdict.line("base_pay")
    assert (line.status, line.confidence) == (status, confidence)
    assert line.expected == Decimal(expected)
    assert line.shortfall == Decimal(shortfall)
    assert line.hours == Decimal(hours_used)
    assert verdict.ask_person is ask


def test_below_minimum_gives_the_hourly_equivalent_and_the_monthly_amount_owed():
    verdict = judge(slip(160, base_pay=180_000), TOKYO)
    assert verdict.line("base_pay").hourly == Decimal("1125.00")
    assert verdict.owed_per_month == Decimal(16_160)


@pytest.mark.parametrize(
    ("payslip", "key", "status", "confidence", "expected", "shortfall", "ask"),
    [
        # Base 196,160 / 160 h = ¥1,226. 20 h × 1,226 × 1.25 = 30,650; paid 25,000 → 5,650 short.
        pytest.param(slip(160, base_pay=196_160, overtime_hours=20, overtime_pay=25_000), "overtime_pay",
                     Status.underpaid_premium, SURE, 30_650, 5_650, False, id="overtime-25-percent"),
        # 10 yen short on 20 h: within ¥1 an hour of rounding.
        pytest.param(slip(160, base_pay=196_160, overtime_hours=20, overtime_pay=30_640), "overtime_pay",
                     Status.ok, SURE, 30_650, 0, False, id="overtime-within-rounding"),
        # 30 yen short on 20 h: beyond ¥20 of rounding.
        pytest.param(slip(160, base_pay=196_160, overtime_hours=20, overtime_pay=30_620), "overtime_pay",
                     Status.underpaid_premium, SURE, 30_650, 30, False, id="overtime-just-beyond-rounding"),
        # 1 h × 1,226 × 1.25 = 1,532.5 → 1,533 (half up); paid 1,530 is ¥3 short, beyond ¥1 of rounding.
        pytest.param(slip(160, base_pay=196_160, overtime_hours=1, overtime_pay=1_530), "overtime_pay",
                     Status.underpaid_premium, SURE, 1_533, 3, False, id="half-yen-rounds-up"),
        # Base ¥1,125 an hour is below the minimum: the premium is due on ¥1,226, not on 20 × 1,125 × 1.25 = 28,125.
        pytest.param(slip(160, base_pay=180_000, overtime_hours=20, overtime_pay=28_125), "overtime_pay",
                     Status.underpaid_premium, SURE, 30_650, 2_525, False, id="premium-on-the-minimum"),
        # Base 208,000 / 160 h = ¥1,300. 60 × 1,300 × 1.25 + 10 × 1,300 × 1.5 = 97,500 + 19,500 = 117,000;
        # paid 70 × 1,300 × 1.25 = 113,750 → 3,250 short.
        pytest.param(slip(160, base_pay=208_000, overtime_hours=70, overtime_pay=113_750), "overtime_pay",
                     Status.underpaid_premium, SURE, 117_000, 3_250, False, id="overtime-beyond-60-hours"),
        # 8 h × 1,300 × 1.35 = 14,040; paid 8 × 1,300 = 10,400 (no premium at all) → 3,640 short.
        pytest.param(slip(160, base_pay=208_000, holiday_hours=8, holiday_pay=10_400), "holiday_pay",
                     Status.underpaid_premium, SURE, 14_040, 3_640, False, id="holiday-35-percent"),
        # Paid 8 × 1,300 × 1.25 = 13,000: right if the day was a company day off, 1,040 short on the legal holiday.
        pytest.param(slip(160, base_pay=208_000, holiday_hours=8, holiday_pay=13_000), "holiday_pay",
                     Status.underpaid_premium, LIKELY, 14_040, 1_040, False, id="holiday-paid-at-25-percent"),
        # 10 h × 1,300 × 0.25 = 3,250 on top; nothing paid.
        pytest.param(slip(160, base_pay=208_000, night_hours=10, night_pay=0), "night_pay",
                     Status.underpaid_premium, SURE, 3_250, 3_250, False, id="night-unpaid"),
        pytest.param(slip(160, base_pay=208_000, night_hours=10, night_pay=3_250), "night_pay",
                     Status.ok, SURE, 3_250, 0, False, id="night-paid"),
        # No hours: base 240,000 / 173.8 = ¥1,380.90; 10 × 1,380.90 × 1.25 = 17,261.25 → 17,261.
        pytest.param(slip(base_pay=240_000, overtime_hours=10, overtime_pay=15_000), "overtime_pay",
                     Status.underpaid_premium, LIKELY, 17_261, 2_261, False, id="overtime-on-assumed-hours"),
        pytest.param(slip(base_pay=240_000, overtime_hours=10, overtime_pay=17_261), "overtime_pay",
                     Status.ok, LIKELY, 17_261, 0, False, id="overtime-ok-on-assumed-hours"),
        # Base pay unknown: computed on the minimum, 10 × 1,226 × 1.25 = 15,325: short is short, enough is unsure.
        pytest.param(slip(overtime_hours=10, overtime_pay=12_000), "overtime_pay",
                     Status.underpaid_premium, LIKELY, 15_325, 3_325, True, id="base-missing-underpaid"),
        pytest.param(slip(overtime_hours=10, overtime_pay=15_325), "overtime_pay",
                     Status.ok, UNSURE, 15_325, 0, True, id="base-missing-ok-is-unsure"),
        # Hours but no pay line, or pay but no hours: cannot judge, a person should look.
        pytest.param(slip(160, base_pay=196_160, overtime_hours=20), "overtime_pay",
                     Status.cannot_judge, UNSURE, 30_650, 0, True, id="pay-missing"),
        pytest.param(slip(160, base_pay=196_160, overtime_pay=30_000), "overtime_pay",
                     Status.cannot_judge, UNSURE, None, 0, True, id="hours-missing"),
        # No overtime worked: nothing due, nothing to ask.
        pytest.param(slip(160, base_pay=196_160, overtime_hours=0), "overtime_pay",
                     Status.ok, SURE, 0, 0, False, id="no-overtime-hours"),
    ],
)
def test_premiums(payslip, key, status, confidence, expected, shortfall, ask):
    verdict = judge(payslip, TOKYO)
    line = verdict.line(key)
    assert (line.status, line.confidence) == (status, confidence)
    assert line.expected == (None if expected is None else Decimal(expected))
    assert line.shortfall == Decimal(shortfall)
    assert verdict.ask_person is ask


def test_no_premium_line_without_hours_or_pay():
    assert judge(slip(160, base_pay=196_160), TOKYO).line("overtime_pay") is None


@pytest.mark.parametrize(
    ("payslip", "key", "status", "confidence", "owed", "ask"),
    [
        pytest.param(slip(160, base_pay=200_000, health_insurance=10_000, pension=18_300), "pension",
                     Status.ok, SURE, 0, False, id="social-insurance"),
        pytest.param(slip(160, base_pay=200_000, income_tax=4_000, resident_tax=6_000), "resident_tax",
                     Status.ok, SURE, 0, False, id="taxes"),
        # 40,000 + 25,000 = 65,000 > 30 % of 200,000 (60,000): probably misread.
        pytest.param(slip(160, base_pay=200_000, gross_pay=200_000, pension=40_000, health_insurance=25_000),
                     "health_insurance", Status.ok, UNSURE, 0, True, id="statutory-above-30-percent"),
        pytest.param(slip(health_insurance=9_000), "health_insurance", Status.ok, LIKELY, 0, True,
                     id="statutory-without-gross"),  # ask: base pay is missing
        pytest.param(slip(160, base_pay=200_000, dorm=30_000), "dorm", Status.actual_cost_only, LIKELY, 0, False,
                     id="dorm"),
        pytest.param(slip(160, base_pay=200_000, utilities=5_000), "utilities", Status.actual_cost_only, LIKELY, 0,
                     False, id="utilities"),
        pytest.param(slip(160, base_pay=200_000, management_fee=10_000), "management_fee", Status.never_allowed,
                     LIKELY, 10_000, False, id="management-fee"),
        pytest.param(slip(160, base_pay=200_000, savings=20_000), "savings", Status.never_allowed, LIKELY, 20_000,
                     False, id="forced-savings"),
        # 30,000 > a tenth of 200,000: beyond any lawful disciplinary pay cut (LSA Art. 91).
        pytest.param(slip(160, base_pay=200_000, gross_pay=200_000, fine=30_000), "fine", Status.never_allowed, SURE,
                     30_000, False, id="fine-above-art91-cap"),
        pytest.param(slip(160, base_pay=200_000, gross_pay=200_000, fine=5_000), "fine", Status.never_allowed, LIKELY,
                     5_000, False, id="fine-within-art91-cap"),
        pytest.param(slip(160, base_pay=200_000, other_deductions=3_000), "other_deductions", Status.needs_agreement,
                     UNSURE, 0, True, id="other-deduction"),
        pytest.param(slip(160, base_pay=200_000, other_deductions=0), "other_deductions", Status.ok, SURE, 0, False,
                     id="zero-deduction-does-not-matter"),
        pytest.param(slip(160, base_pay=200_000, savings=0), "savings", Status.ok, SURE, 0, False,
                     id="zero-savings-owes-nothing"),
    ],
)
def test_deductions(payslip, key, status, confidence, owed, ask):
    verdict = judge(payslip, TOKYO)
    line = verdict.line(key)
    assert (line.status, line.confidence) == (status, confidence)
    assert verdict.owed_per_month == Decimal(owed)
    assert verdict.ask_person is ask


@pytest.mark.parametrize(
    ("net", "status", "confidence", "ask"),
    [
        pytest.param(150_000, Status.ok, SURE, False, id="add-up"),
        pytest.param(105_000, Status.totals_mismatch, UNSURE, True, id="do-not-add-up"),
    ],
)
def test_totals(net, status, confidence, ask):
    payslip = slip(160, base_pay=200_000, gross_pay=200_000, total_deductions=50_000, net_pay=net)
    verdict = judge(payslip, TOKYO)
    line = verdict.line("net_pay")
    assert (line.status, line.confidence, line.expected, line.found) == (status, confidence, 150_000, net)
    assert verdict.owed_per_month == 0  # a misreading is not money owed
    assert verdict.ask_person is ask


def test_no_totals_line_without_all_three_totals():
    assert judge(slip(160, base_pay=200_000, gross_pay=200_000, net_pay=150_000), TOKYO).line("net_pay") is None


def test_owed_adds_minimum_wage_premium_and_never_allowed_deductions_but_not_dorm():
    # 16,160 (base 180,000 for 160 h) + 5,650 (20 h overtime paid 25,000 on ¥1,226) + 20,000 savings = 41,810.
    payslip = slip(160, base_pay=180_000, overtime_hours=20, overtime_pay=25_000, savings=20_000, dorm=30_000)
    verdict = judge(payslip, TOKYO)
    assert verdict.owed_per_month == Decimal(41_810)
    assert verdict.ask_person is False
    assert [line.key for line in verdict.lines] == ["base_pay", "overtime_pay", "dorm", "savings"]


def test_a_lawful_payslip_owes_nothing_and_asks_no_one():
    # Base 210,000 / 160 h = ¥1,312.50; 10 h overtime due 10 × 1,312.50 × 1.25 = 16,406.25 → 16,406, paid 16,500.
    # Gross 226,500; statutory 33,000 (14.6 %); dorm 20,000; deductions 53,000; net 173,500.
    payslip = slip(
        160, base_pay=210_000, overtime_hours=10, overtime_pay=16_500, health_insurance=10_000, pension=18_000,
        employment_insurance=1_000, income_tax=4_000, dorm=20_000, gross_pay=226_500, total_deductions=53_000,
        net_pay=173_500,
    )
    verdict = judge(payslip, TOKYO)
    assert verdict.owed_per_month == 0
    assert verdict.ask_person is False
    assert {line.key: line.status for line in verdict.lines if line.status is not Status.ok} == {
        "dorm": Status.actual_cost_only
    }
    assert all(line.confidence is SURE for line in verdict.lines if line.key != "dorm")


@pytest.mark.parametrize(
    "amounts",
    [pytest.param({"basic_pay": Decimal(200_000)}, id="unknown-key"),
     pytest.param({"base_pay": Decimal(-1)}, id="negative")],
)
def test_payslip_refuses_numbers_it_could_not_judge(amounts):
    with pytest.raises(ValueError):
        Payslip(amounts=amounts)
