"""The verdict of a payslip check: which lines of a trainee's payslip (給与明細) break the law, and by how much.

Pure logic on numbers the trainee has confirmed (read by OCR or asked one item at a time, keys of
:mod:`knowledge.payslip_items`): no I/O and no words, so the answer layer can say it in five languages and the
arithmetic can be tested on its own. Every amount is yen, rounded to whole yen half up; hours are hours.

Each judged item gives one :class:`Line` with a status, the numbers behind it and how sure we are. "Unsure" and
"cannot judge" lines with money on them make ``ask_person`` true: a volunteer should look at the payslip before
the trainee acts on it. A ¥0 item is never unsure, so it never brings a volunteer in.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from knowledge.payslip_items import BY_KEY, ITEMS, ItemKind
from knowledge.wages import LEGAL_MAX_MONTHLY_HOURS, MinimumRate, PayPeriod, Verdict, evaluate

#: Overtime hours a month paid at the first rate; beyond them the higher rate applies (LSA Art. 37(1)) [A29, S21].
OVERTIME_FIRST_RATE_HOURS = Decimal(60)
#: Overtime premium up to 60 h a month: 25 % (LSA Art. 37, Cabinet Order 平成6年政令第5号) [A28, S21].
OVERTIME_PREMIUM = Decimal("0.25")
#: Overtime premium beyond 60 h a month: 50 %; SMEs too since 2023-04-01 [A29, S21].
OVERTIME_OVER_60_PREMIUM = Decimal("0.50")
#: Work on the legal weekly holiday (法定休日): 35 % (Cabinet Order 平成6年政令第5号) [A28, S21].
HOLIDAY_PREMIUM = Decimal("0.35")
#: Late-night work 22:00–05:00: 25 %, added on top of the pay for the hour itself (LSA Art. 37(4)) [A29, S21].
NIGHT_PREMIUM = Decimal("0.25")
#: Employers may round the premium rate per hour to whole yen, so a premium line may be short by up to ¥1 an hour
#: without anyone owing anything; a bigger gap is a shortfall.
TOLERANCE_PER_HOUR = Decimal(1)
#: Taxes and social insurance above this share of gross pay are implausible: the worker's share of pension
#: (9.15 %), health (about 5 %) and employment insurance (0.5 %) is about 15 % [A22, A23, A24], income and
#: resident tax add a few percent at a trainee's pay. Above 30 % a number was probably misread.
STATUTORY_MAX_SHARE = Decimal("0.30")
#: A disciplinary pay cut may not exceed a tenth of the wages of one pay period (LSA Art. 91) [S25].
PAY_CUT_MAX_SHARE = Decimal("0.10")

#: Deductions a law requires: legal without any agreement (LSA Art. 24(1) proviso) [S22].
STATUTORY_DEDUCTIONS = ("health_insurance", "pension", "employment_insurance", "income_tax", "resident_tax")
#: Housing and utilities: legal only at actual cost (or another appropriate amount), with the trainee's agreement
#: after a full explanation, and a written labour–management agreement for the deduction (LSA Art. 24;
#: TITP Act enforcement rules Art. 14) [S22, S24]. Not counted as owed: we cannot see the cost.
ACTUAL_COST_DEDUCTIONS = ("dorm", "utilities")


class Status(enum.StrEnum):
    ok = "ok"
    below_minimum = "below_minimum"
    underpaid_premium = "underpaid_premium"
    never_allowed = "never_allowed"
    needs_agreement = "needs_agreement"
    actual_cost_only = "actual_cost_only"
    cannot_judge = "cannot_judge"
    totals_mismatch = "totals_mismatch"


class Confidence(enum.StrEnum):
    sure = "sure"
    likely = "likely"
    unsure = "unsure"


_WEAKNESS = {Confidence.sure: 0, Confidence.likely: 1, Confidence.unsure: 2}


def _weakest(*confidences: Confidence) -> Confidence:
    """A conclusion is only as sure as the least sure fact it rests on."""
    return max(confidences, key=_WEAKNESS.__getitem__)


def _yen(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal(1), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Payslip:
    """The numbers the trainee confirmed (item key -> yen, or hours for count items; any may be missing), and what
    the trainee told us about the period. Missing is not zero: a missing number is unknown, a 0 is a confirmed 0."""

    amounts: Mapping[str, Decimal] = field(default_factory=dict)
    #: Scheduled hours a month (所定労働時間), as the trainee's contract says.
    scheduled_hours_per_month: Decimal | None = None
    #: Scheduled hours a day, when the trainee knows only that (a five-day week is then assumed).
    scheduled_hours_per_day: Decimal | None = None

    def __post_init__(self) -> None:
        """Refuse keys outside the vocabulary (a misspelt key would silently go unjudged) and negative numbers."""
        unknown = sorted(set(self.amounts) - set(BY_KEY))
        if unknown:
            raise ValueError(f"unknown payslip items: {unknown}")
        negative = sorted(key for key, value in self.amounts.items() if value < 0)
        if negative:
            raise ValueError(f"negative payslip numbers: {negative}")
        object.__setattr__(self, "amounts", {key: Decimal(value) for key, value in self.amounts.items()})

    def get(self, key: str) -> Decimal | None:
        return self.amounts.get(key)

    def gross(self) -> Decimal | None:
        """Gross pay as printed, else the sum of the earnings we have (a lower bound), else None."""
        if "gross_pay" in self.amounts:
            return self.amounts["gross_pay"]
        earnings = [v for k, v in self.amounts.items() if BY_KEY[k].kind is ItemKind.earning]
        return sum(earnings, Decimal(0)) if earnings else None


@dataclass(frozen=True)
class Line:
    """The verdict on one item. Amounts are yen a month: ``expected`` what the law requires (earnings) or allows
    (0 for a never-allowed deduction; None when it depends on facts we cannot see), ``found`` what the payslip
    shows (None when unknown), ``shortfall`` what the trainee may be owed because of this line."""

    key: str
    status: Status
    confidence: Confidence
    expected: Decimal | None = None
    found: Decimal | None = None
    shortfall: Decimal = Decimal(0)
    #: Hours the arithmetic used: scheduled hours for base pay, the premium's hours for a premium line.
    hours: Decimal | None = None
    #: Yen an hour: the hourly equivalent of base pay, or the base hourly a premium was computed on.
    hourly: Decimal | None = None
    #: What the answer must say about how the line was judged, e.g. "legal_max_monthly_hours".
    reasons: tuple[str, ...] = ()

    @property
    def needs_person(self) -> bool:
        """Could not be judged, or unsure. Only lines with money on them are ever so (a ¥0 item is judged ok, sure),
        so this is "cannot judge or unsure, and it matters"."""
        return self.status is Status.cannot_judge or self.confidence is Confidence.unsure


@dataclass(frozen=True)
class PayslipVerdict:
    lines: tuple[Line, ...]
    #: Minimum-wage shortfall + premium shortfalls + never-allowed deductions, yen a month.
    owed_per_month: Decimal
    #: A volunteer should look: some line with money on it could not be judged or is unsure.
    ask_person: bool

    def line(self, key: str) -> Line | None:
        return next((line for line in self.lines if line.key == key), None)


@dataclass(frozen=True)
class _Hours:
    """Scheduled hours for the minimum-wage comparison, as far as we know them."""

    per_month: Decimal | None
    per_day: Decimal | None
    #: How sure a "below the minimum" verdict on these hours is; an "at or above" one on the legal maximum is
    #: likely (scheduled hours cannot legally be more), on any other source sure.
    below_confidence: Confidence
    reasons: tuple[str, ...] = ()


def _scheduled_hours(payslip: Payslip) -> _Hours:
    """The trainee's scheduled hours first; then the payslip's hours, capped at the legal maximum because hours
    beyond it are overtime, not scheduled hours (LSA Art. 32) [S20]; else none (evaluate uses the legal maximum,
    the most hours a schedule may have, so the shortfall it gives is the largest possible: unsure)."""
    if payslip.scheduled_hours_per_month is not None:
        return _Hours(payslip.scheduled_hours_per_month, None, Confidence.sure)
    if payslip.scheduled_hours_per_day is not None:
        return _Hours(None, payslip.scheduled_hours_per_day, Confidence.likely)
    worked = payslip.get("hours_worked")
    if worked:
        if worked > LEGAL_MAX_MONTHLY_HOURS:
            return _Hours(LEGAL_MAX_MONTHLY_HOURS, None, Confidence.likely,
                          ("hours_from_payslip", "payslip_hours_above_legal_max"))
        # A payslip's 労働時間 may be actual hours including overtime: dividing by it can overstate a shortfall.
        return _Hours(worked, None, Confidence.likely, ("hours_from_payslip",))
    return _Hours(None, None, Confidence.unsure)


@dataclass(frozen=True)
class _PremiumBase:
    """The hourly base premiums are computed on, and how sure a verdict on it can be."""

    hourly: Decimal
    ok_confidence: Confidence
    underpaid_confidence: Confidence
    reasons: tuple[str, ...] = ()


def _base_pay_line(payslip: Payslip, minimum: MinimumRate) -> tuple[Line, _PremiumBase]:
    """Base pay ÷ scheduled hours vs the minimum in force (Minimum Wage Act method) [S14]. Only base pay counts:
    overtime, holiday and night pay are excluded [S15]; so are attendance and commuting allowances, but other
    allowances (e.g. a job allowance) may count, so with allowances on the payslip a shortfall is only likely."""
    hours = _scheduled_hours(payslip)
    base = payslip.get("base_pay")
    floor = Decimal(minimum.yen_per_hour)
    # With base pay unknown, evaluate still tells which hours (and assumptions) the comparison would use.
    check = evaluate(amount=base if base is not None else Decimal(0), period=PayPeriod.month, minimum=minimum,
                     hours_per_month=hours.per_month, hours_per_day=hours.per_day)
    expected = _yen(floor * check.monthly_hours)
    reasons = hours.reasons + check.assumptions
    if base is None:
        line = Line("base_pay", Status.cannot_judge, Confidence.unsure, expected=expected, hours=check.monthly_hours,
                    reasons=reasons + ("base_pay_missing",))
        return line, _PremiumBase(floor, Confidence.unsure, Confidence.likely, ("base_pay_missing",))
    hours_known = hours.below_confidence is Confidence.sure
    premium_base = _PremiumBase(max(check.hourly_equivalent, floor),
                                Confidence.sure if hours_known else Confidence.likely,
                                Confidence.sure if hours_known else Confidence.likely, reasons)
    if check.verdict is Verdict.at_or_above:
        ok_confidence = Confidence.likely if "legal_max_monthly_hours" in check.assumptions else Confidence.sure
        line = Line("base_pay", Status.ok, ok_confidence, expected=expected, found=base, hours=check.monthly_hours,
                    hourly=check.hourly_equivalent, reasons=reasons)
        return line, premium_base
    confidence = hours.below_confidence
    if payslip.get("other_allowances"):
        confidence = _weakest(confidence, Confidence.likely)
        reasons += ("allowances_not_counted",)
    line = Line("base_pay", Status.below_minimum, confidence, expected=expected, found=base,
                shortfall=max(Decimal(0), _yen(expected - base)), hours=check.monthly_hours,
                hourly=check.hourly_equivalent, reasons=reasons)
    return line, premium_base


def _overtime_due(hours: Decimal, hourly: Decimal) -> Decimal:
    first = min(hours, OVERTIME_FIRST_RATE_HOURS)
    beyond = max(hours - OVERTIME_FIRST_RATE_HOURS, Decimal(0))
    return first * hourly * (1 + OVERTIME_PREMIUM) + beyond * hourly * (1 + OVERTIME_OVER_60_PREMIUM)


def _holiday_due(hours: Decimal, hourly: Decimal) -> Decimal:
    return hours * hourly * (1 + HOLIDAY_PREMIUM)


def _company_holiday_due(hours: Decimal, hourly: Decimal) -> Decimal:
    """Work on a company day off that is not the legal weekly holiday is overtime: 25 % [S21]."""
    return hours * hourly * (1 + OVERTIME_PREMIUM)


def _night_due(hours: Decimal, hourly: Decimal) -> Decimal:
    return hours * hourly * NIGHT_PREMIUM


@dataclass(frozen=True)
class _Premium:
    pay_key: str
    hours_key: str
    due: Callable[[Decimal, Decimal], Decimal]
    #: A lower amount that is also lawful in some case we cannot see, and the reason to give when pay covers it.
    lenient_due: Callable[[Decimal, Decimal], Decimal] | None = None
    lenient_reason: str = ""


#: LSA Art. 37 premiums [A28, A29, S21]. Payslips print 休日 hours without saying whether the day was the legal
#: weekly holiday (35 %) or another company day off (25 %): pay covering 25 % but not 35 % is only likely short.
PREMIUMS = (
    _Premium("overtime_pay", "overtime_hours", _overtime_due),
    _Premium("holiday_pay", "holiday_hours", _holiday_due, _company_holiday_due, "may_be_company_holiday"),
    _Premium("night_pay", "night_hours", _night_due),
)


def _tolerance(hours: Decimal) -> Decimal:
    return max(Decimal(1), hours.to_integral_value(rounding=ROUND_CEILING) * TOLERANCE_PER_HOUR)


def _premium_line(rule: _Premium, payslip: Payslip, base: _PremiumBase) -> Line | None:
    """Premium pay vs hours × base hourly × (1 + premium), on a base never below the minimum wage. None when the
    payslip shows neither the hours nor any pay for them."""
    hours, paid = payslip.get(rule.hours_key), payslip.get(rule.pay_key)
    if hours is None:
        if not paid:
            return None
        return Line(rule.pay_key, Status.cannot_judge, Confidence.unsure, found=paid, reasons=("hours_missing",))
    expected = _yen(rule.due(hours, base.hourly))
    numbers = {"expected": expected, "found": paid, "hours": hours, "hourly": base.hourly}
    if expected == 0:  # no hours: nothing is due, whatever the base
        return Line(rule.pay_key, Status.ok, Confidence.sure, **numbers)
    if paid is None:
        return Line(rule.pay_key, Status.cannot_judge, Confidence.unsure, **numbers,
                    reasons=base.reasons + ("pay_missing",))
    tolerance = _tolerance(hours)
    if paid >= expected - tolerance:
        return Line(rule.pay_key, Status.ok, base.ok_confidence, **numbers, reasons=base.reasons)
    confidence, reasons = base.underpaid_confidence, base.reasons
    if rule.lenient_due is not None and paid >= _yen(rule.lenient_due(hours, base.hourly)) - tolerance:
        confidence, reasons = _weakest(confidence, Confidence.likely), reasons + (rule.lenient_reason,)
    return Line(rule.pay_key, Status.underpaid_premium, confidence, **numbers, shortfall=_yen(expected - paid),
                reasons=reasons)


def _statutory_confidence(payslip: Payslip) -> tuple[Confidence, tuple[str, ...]]:
    gross = payslip.gross()
    if not gross:
        return Confidence.likely, ("no_gross_to_compare",)
    statutory = sum((payslip.get(key) or Decimal(0) for key in STATUTORY_DEDUCTIONS), Decimal(0))
    if statutory > gross * STATUTORY_MAX_SHARE:
        return Confidence.unsure, ("statutory_above_30_percent",)
    return Confidence.sure, ()


def _never_allowed(key: str, amount: Decimal, confidence: Confidence, *reasons: str) -> Line:
    """A deduction the law forbids: all of it is owed back."""
    return Line(key, Status.never_allowed, confidence, expected=Decimal(0), found=amount, shortfall=_yen(amount),
                reasons=reasons)


def _fine_line(payslip: Payslip, amount: Decimal) -> Line:
    """Penalties and pre-set damages are banned (LSA Art. 16) [S23]; fines for e.g. toilet breaks are illegal
    (LSA Arts. 16, 24, 91) [S47e]. Only a disciplinary pay cut set in the work rules is lawful, within a tenth of a
    pay period's wages (LSA Art. 91) [S25]: above that tenth the fine is surely unlawful, below it only likely."""
    gross = payslip.gross()
    if gross and amount > gross * PAY_CUT_MAX_SHARE:
        return _never_allowed("fine", amount, Confidence.sure, "above_art91_cap")
    return _never_allowed("fine", amount, Confidence.likely, "art91_pay_cut_possible")


def _deduction_line(key: str, amount: Decimal, payslip: Payslip) -> Line:
    """LSA Art. 24: wages are paid in full; only deductions a law requires, or those in a written labour–management
    agreement, are allowed [S22]."""
    if amount == 0:
        return Line(key, Status.ok, Confidence.sure, found=amount)
    if key in STATUTORY_DEDUCTIONS:
        confidence, reasons = _statutory_confidence(payslip)
        return Line(key, Status.ok, confidence, found=amount, reasons=reasons)
    if key in ACTUAL_COST_DEDUCTIONS:
        return Line(key, Status.actual_cost_only, Confidence.likely, found=amount, reasons=("ask_for_breakdown",))
    if key == "management_fee":
        # Supervision fees (監理費) are paid by the employer and must not be collected from trainees, directly or
        # indirectly [S24b]. Only likely: "管理費" can also be a building's management fee, part of the rent a dorm
        # charge may pass on at actual cost [S24].
        return _never_allowed(key, amount, Confidence.likely, "may_be_building_fee")
    if key == "savings":
        # Forced savings are banned (LSA Art. 18; TITP Act Art. 47(2)) [S23, S26]. Only likely: savings the
        # trainee entrusted of their own will are lawful under an agreement filed with the inspection office.
        return _never_allowed(key, amount, Confidence.likely, "may_be_voluntary")
    if key == "fine":
        return _fine_line(payslip, amount)
    # "その他控除": lawful only under a written labour–management agreement, and we cannot see what it is [S22].
    return Line(key, Status.needs_agreement, Confidence.unsure, found=amount, reasons=("ask_what_it_is",))


def _totals_line(payslip: Payslip) -> Line | None:
    """Gross − deductions = net on every payslip; when the printed totals do not add up, a number was probably
    misread and every line resting on it is in doubt."""
    gross, deductions, net = (payslip.get(k) for k in ("gross_pay", "total_deductions", "net_pay"))
    if gross is None or deductions is None or net is None:
        return None
    expected = gross - deductions
    if net == expected:
        return Line("net_pay", Status.ok, Confidence.sure, expected=expected, found=net)
    return Line("net_pay", Status.totals_mismatch, Confidence.unsure, expected=expected, found=net)


def judge(payslip: Payslip, minimum: MinimumRate) -> PayslipVerdict:
    """Judge every item we have numbers for: base pay against the minimum in force, each premium (LSA Art. 37),
    each deduction (LSA Art. 24), and the totals."""
    base_line, premium_base = _base_pay_line(payslip, minimum)
    lines = [base_line]
    lines += [line for rule in PREMIUMS if (line := _premium_line(rule, payslip, premium_base)) is not None]
    lines += [_deduction_line(item.key, payslip.amounts[item.key], payslip)
              for item in ITEMS if item.kind is ItemKind.deduction and item.key in payslip.amounts]
    if (totals := _totals_line(payslip)) is not None:
        lines.append(totals)
    return PayslipVerdict(
        lines=tuple(lines),
        owed_per_month=sum((line.shortfall for line in lines), Decimal(0)),
        ask_person=any(line.needs_person for line in lines),
    )
