"""The items of a Japanese payslip (給与明細) the payslip check reads, asks about and judges.

One vocabulary for the OCR reader (knowledge/payslip_ocr.py), the questions (one item at a time) and the verdict
(knowledge/payslip.py): each item has a key, a kind (an hours or days count, an earning, a deduction, a total)
and the Japanese labels payslips print for it (the first is the usual one; the others are variants seen on
payslips). Amounts are yen; hours are hours (a payslip's "12:30" is 12.5 hours).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ItemKind(enum.StrEnum):
    count = "count"  # hours or days
    earning = "earning"
    deduction = "deduction"
    total = "total"


@dataclass(frozen=True)
class Item:
    key: str
    kind: ItemKind
    labels: tuple[str, ...]


ITEMS: tuple[Item, ...] = (
    # counts
    Item("days_worked", ItemKind.count, ("出勤日数", "労働日数", "出勤")),
    Item("hours_worked", ItemKind.count, ("労働時間", "所定労働時間", "勤務時間", "出勤時間", "就業時間")),
    Item("overtime_hours", ItemKind.count, ("残業時間", "時間外労働時間", "時間外時間", "普通残業時間")),
    Item("night_hours", ItemKind.count, ("深夜労働時間", "深夜時間", "深夜残業時間")),
    Item("holiday_hours", ItemKind.count, ("休日労働時間", "休日出勤時間", "休日時間")),
    # earnings
    Item("base_pay", ItemKind.earning, ("基本給", "基本賃金", "基本給与")),
    Item("overtime_pay", ItemKind.earning, ("残業手当", "時間外手当", "時間外労働手当", "残業代", "普通残業手当")),
    Item("night_pay", ItemKind.earning, ("深夜手当", "深夜労働手当", "深夜割増")),
    Item("holiday_pay", ItemKind.earning, ("休日手当", "休日出勤手当", "休日労働手当")),
    Item("other_allowances", ItemKind.earning, ("諸手当", "その他手当", "皆勤手当", "通勤手当")),
    # deductions
    Item("health_insurance", ItemKind.deduction, ("健康保険", "健康保険料")),
    Item("pension", ItemKind.deduction, ("厚生年金", "厚生年金保険", "厚生年金保険料")),
    Item("employment_insurance", ItemKind.deduction, ("雇用保険", "雇用保険料")),
    Item("income_tax", ItemKind.deduction, ("所得税", "源泉所得税")),
    Item("resident_tax", ItemKind.deduction, ("住民税", "市県民税", "市民税")),
    Item("dorm", ItemKind.deduction, ("寮費", "家賃", "住居費", "社宅費")),
    Item("utilities", ItemKind.deduction, ("水道光熱費", "光熱費", "水道代", "電気代")),
    Item("management_fee", ItemKind.deduction, ("管理費", "監理費", "管理手数料")),
    Item("savings", ItemKind.deduction, ("積立金", "積立", "貯金", "強制貯金", "預り金")),
    Item("fine", ItemKind.deduction, ("罰金", "違約金", "ペナルティ")),
    Item("other_deductions", ItemKind.deduction, ("その他控除", "その他")),
    # totals
    Item("gross_pay", ItemKind.total, ("総支給額", "支給合計", "総支給")),
    Item("total_deductions", ItemKind.total, ("控除合計", "控除額合計", "総控除額")),
    Item("net_pay", ItemKind.total, ("差引支給額", "差引支給", "手取り", "振込支給額")),
)

BY_KEY: dict[str, Item] = {item.key: item for item in ITEMS}
