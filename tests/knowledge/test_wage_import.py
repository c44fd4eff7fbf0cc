"""Importing the yearly minimum-wage revision from CSV: the preview, the writes, and every way a file is refused.

Each test runs on SQLite and PostgreSQL with the FY2024 and FY2025 seed; all dates are explicit.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from knowledge import prefectures
from knowledge import service as knowledge_service
from knowledge import wage_import
from knowledge.models import MinimumWage
from knowledge.wages import Verdict
from tests.utils.wage_csv import SOURCE_URL, base_rates, expected_rates, line_of, revision_csv

NAMES = prefectures.names()
LAST_LINE = len(NAMES) + 1  # header + 47 rows


def _count(session, fiscal_year: int | None = None) -> int:
    query = select(func.count()).select_from(MinimumWage)
    if fiscal_year is not None:
        query = query.where(MinimumWage.fiscal_year == fiscal_year)
    return session.scalar(query)


def _errors(result) -> list[tuple[int, str]]:
    return [(e.line, e.message) for e in result.errors]


def _refused(session, data: bytes, **kwargs) -> wage_import.ImportResult:
    """Check and apply a bad file: both report errors, nothing is written."""
    before = _count(session)
    checked = wage_import.check(session=session, data=data, **kwargs)
    applied = wage_import.apply(session=session, data=data, **kwargs)
    assert checked.errors and applied.errors == checked.errors
    assert applied.applied is False
    assert _count(session) == before
    return checked


# --- a good file ---------------------------------------------------------------------------------------------


def test_check_previews_all_47_changes_and_writes_nothing(session):
    before = _count(session)
    result = wage_import.check(session=session, data=revision_csv())
    assert result.errors == []
    assert (result.fiscal_year, result.rows, result.applied) == (2026, 47, False)
    assert [c.prefecture for c in result.changes] == NAMES  # north to south
    old, new = base_rates(2026), expected_rates()
    for change in result.changes:
        assert (change.old_yen, change.new_yen) == (old[change.prefecture], new[change.prefecture])
        assert change.kind == "new" and change.decrease is False
        assert change.effective_from == dt.date(2026, 10, 1)
        assert change.source_url == SOURCE_URL
    tokyo = result.changes[NAMES.index("Tokyo")]
    assert (tokyo.old_yen, tokyo.old_effective_from, tokyo.new_yen) == (1226, dt.date(2025, 10, 3), 1286)
    assert _count(session) == before
    assert _count(session, 2026) == 0


def test_preview_is_json_ready(session):
    result = wage_import.check(session=session, data=revision_csv(drop=("Okinawa",)))
    data = json.loads(json.dumps(result.as_dict()))
    assert set(data) == {"fiscal_year", "rows", "changes", "errors", "applied"}
    assert data["changes"][0] == {
        "prefecture": "Hokkaido", "new_yen": 1135, "effective_from": "2026-10-01", "source_url": SOURCE_URL,
        "old_yen": 1075, "old_effective_from": "2025-10-04", "kind": "new", "decrease": False,
    }
    assert data["errors"] == [{"line": 0, "message": "Okinawa is missing: the file must have all 47 prefectures"}]


def test_apply_writes_the_new_fiscal_year(session):
    assert knowledge_service.rate_on(session=session, prefecture="Tokyo", on=dt.date(2026, 10, 15)).possibly_outdated
    before = _count(session)
    result = wage_import.apply(session=session, data=revision_csv())
    assert result.errors == [] and result.applied is True
    assert _count(session) == before + 47
    rows = {w.prefecture: w for w in knowledge_service.list_wages(session=session) if w.fiscal_year == 2026}
    assert {name: row.yen_per_hour for name, row in rows.items()} == expected_rates()
    assert rows["Tokyo"].sources == [{
        "id": "import", "publisher": "www.mhlw.go.jp", "title": "FY2026 regional minimum wage (imported)",
        "url": SOURCE_URL, "date": "2026-10-01",
    }]
    for name in NAMES:
        rate = knowledge_service.rate_on(session=session, prefecture=name, on=dt.date(2026, 10, 15))
        assert (rate.yen_per_hour, rate.fiscal_year, rate.possibly_outdated) == (expected_rates()[name], 2026, False)


def test_old_rate_applies_until_the_new_effective_date(session):
    """Akita's FY2026 rate starts in March: until then the FY2025 rate is in force and the new one is announced."""
    effective = dt.date(2027, 3, 31)
    data = revision_csv(overrides={"Akita": {"effective_from": "2027/03/31"}})
    assert wage_import.apply(session=session, data=data).errors == []
    day_before = effective - dt.timedelta(days=1)
    old = knowledge_service.rate_on(session=session, prefecture="Akita", on=day_before)
    assert (old.yen_per_hour, old.fiscal_year, old.possibly_outdated) == (1031, 2025, False)
    upcoming = knowledge_service.next_rate(session=session, prefecture="Akita", after=day_before)
    assert (upcoming.yen_per_hour, upcoming.effective_from, upcoming.fiscal_year) == (1091, effective, 2026)
    assert knowledge_service.rate_on(session=session, prefecture="Akita", on=effective).yen_per_hour == 1091

    between = Decimal(1060)  # above FY2025's 1,031, below FY2026's 1,091

    def verdict(on: dt.date) -> Verdict:
        return knowledge_service.check_wage(
            session=session, amount=between, period="hour", prefecture="Akita", on=on).verdict
    assert verdict(day_before) is Verdict.at_or_above
    assert verdict(effective) is Verdict.below


def test_utf8_with_bom(session):
    result = wage_import.check(session=session, data=revision_csv(bom=True))
    assert result.errors == [] and len(result.changes) == 47
    assert result.changes[0].prefecture == "Hokkaido"  # the BOM is not part of the first header cell


def test_shift_jis_with_kanji_names_as_japanese_excel_saves_it(session):
    # Excel's Shift_JIS writes ¥ as byte 0x5C, which cp932 reads as a backslash.
    data = revision_csv(names="ja", encoding="cp932",
                        overrides={"Tokyo": {"yen": "\\1,300"}, "Osaka": {"yen": "1,250円", "date": "2026/10/1"}})
    assert "東京都".encode("cp932") in data and b"\\1,300" in data
    result = wage_import.apply(session=session, data=data)
    assert result.errors == []
    changes = {c.prefecture: c for c in result.changes}
    assert set(changes) == set(NAMES)
    assert changes["Tokyo"].new_yen == 1300 and changes["Osaka"].new_yen == 1250
    assert changes["Hokkaido"].new_yen == expected_rates()["Hokkaido"]
    assert _count(session, 2026) == 47


@pytest.mark.parametrize(
    "cell", ["1321", "1,321", "1321円", "¥1,321", "￥1,321", " 1321 ", "１３２１", "\\1321"])
def test_yen_as_spreadsheets_write_it(session, cell):
    result = wage_import.check(session=session, data=revision_csv(overrides={"Tokyo": {"yen": cell}}))
    assert result.errors == []
    assert {c.prefecture: c.new_yen for c in result.changes}["Tokyo"] == 1321


@pytest.mark.parametrize("cell", ["2026-10-01", "2026/10/01", "2026/10/1", "2026年10月1日", "2026/10/1 0:00"])
def test_dates_as_spreadsheets_write_them(session, cell):
    result = wage_import.check(session=session, data=revision_csv(overrides={"Tokyo": {"date": cell}}))
    assert result.errors == []
    assert {c.prefecture: c.effective_from for c in result.changes}["Tokyo"] == dt.date(2026, 10, 1)


def test_columns_by_name_in_any_order_with_extra_columns_and_whitespace(session):
    header = (" Source_URL ", "note", "PREFECTURE", " effective_from", "yen_per_hour ")
    data = revision_csv(header=header, overrides={"Tokyo": {"prefecture": "  Tōkyō-to  ", "yen": " 1300 "}})
    result = wage_import.check(session=session, data=data)
    assert result.errors == []
    assert {c.prefecture: c.new_yen for c in result.changes}["Tokyo"] == 1300


def test_empty_lines_are_skipped_and_lines_count_as_in_the_file(session):
    text = revision_csv().decode("utf-8")
    lines = text.split("\r\n")
    lines.insert(1, "")  # an empty line after the header: Hokkaido is now on line 3
    lines.insert(5, ",,,")  # a row of empty cells, as Excel leaves them
    text = "\r\n".join(lines) + "\r\n\r\n"
    data = text.replace("Hokkaido,1135", "Hokkaido,abc").encode("utf-8")
    result = wage_import.check(session=session, data=data)
    assert result.rows == 47
    assert _errors(result) == [(3, "yen_per_hour 'abc' is not a whole number of yen (write it like 1121)")]


def test_changes_come_north_to_south_whatever_the_file_order(session):
    text = revision_csv().decode("utf-8").split("\r\n")
    data = "\r\n".join([text[0], *reversed([t for t in text[1:] if t])]).encode("utf-8")
    result = wage_import.check(session=session, data=data)
    assert result.errors == [] and [c.prefecture for c in result.changes] == NAMES


# --- bad files: errors name the line, nothing is written -----------------------------------------------------


def test_missing_prefecture(session):
    result = _refused(session, revision_csv(drop=("Tokyo", "Saga")))
    assert _errors(result) == [
        (0, "Tokyo is missing: the file must have all 47 prefectures"),
        (0, "Saga is missing: the file must have all 47 prefectures"),
    ]


def test_unknown_prefecture(session):
    result = _refused(session, revision_csv(overrides={"Tokyo": {"prefecture": "Edo"}}))
    assert _errors(result) == [
        (line_of("Tokyo"), "unknown prefecture 'Edo'"),
        (0, "Tokyo is missing: the file must have all 47 prefectures"),
    ]


def test_duplicate_prefecture_names_the_first_line(session):
    data = revision_csv(extra_rows=[[], ["東京都", "1300", "2026-10-01", SOURCE_URL]])
    result = _refused(session, data)
    assert _errors(result) == [(LAST_LINE + 2, f"Tokyo appears twice: first on line {line_of('Tokyo')}")]


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("abc", "yen_per_hour 'abc' is not a whole number of yen (write it like 1121)"),
        ("1121.5", "yen_per_hour '1121.5' is not a whole number of yen (write it like 1121)"),
        ("11,21", "yen_per_hour '11,21' is not a whole number of yen (write it like 1121)"),
        ("", "yen_per_hour is empty"),
        ("699", "yen_per_hour 699 is outside the plausible range 700–3000 yen"),
        ("3001", "yen_per_hour 3001 is outside the plausible range 700–3000 yen"),
        ("190,000", "yen_per_hour 190000 is outside the plausible range 700–3000 yen"),
    ],
)
def test_bad_amount(session, cell, message):
    result = _refused(session, revision_csv(overrides={"Kochi": {"yen": cell}}))
    assert _errors(result) == [(line_of("Kochi"), message)]


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("2026-09-30", "effective_from 2026-09-30 is outside the revision cycle (October to the following March)"),
        ("2027-04-01", "effective_from 2027-04-01 is outside the revision cycle (October to the following March)"),
        ("2026-02-30", "effective_from '2026-02-30' is not a real date"),
        ("1 October", "effective_from '1 October' is not a date (write it like 2026-10-01)"),
        ("", "effective_from is empty"),
    ],
)
def test_date_outside_the_cycle_or_unreadable(session, cell, message):
    result = _refused(session, revision_csv(overrides={"Gunma": {"date": cell}}))
    assert _errors(result) == [(line_of("Gunma"), message)]


def test_mixed_fiscal_years(session):
    """March 2027 is still FY2026; October 2027 and March 2026 are not."""
    overrides = {"Aomori": {"date": "2027-03-31"}, "Iwate": {"date": "2027-10-01"}, "Okinawa": {"date": "2026-03-01"}}
    result = _refused(session, revision_csv(overrides=overrides))
    assert result.fiscal_year == 2026
    assert _errors(result) == [
        (line_of("Iwate"), "effective_from 2027-10-01 is in FY2027, but the file's other rows are FY2026"
                           " (October 2026 to March 2027)"),
        (line_of("Okinawa"), "effective_from 2026-03-01 is in FY2025, but the file's other rows are FY2026"
                             " (October 2026 to March 2027)"),
    ]


@pytest.mark.parametrize("cell", ["ftp://example.jp/x.csv", "www.mhlw.go.jp", "https://", "http://exa mple.jp/",
                                  "javascript:alert(1)", ""])
def test_bad_source_url(session, cell):
    result = _refused(session, revision_csv(overrides={"Nara": {"url": cell}}))
    message = "source_url is empty" if not cell else f"source_url {cell!r} is not an http(s) URL"
    assert _errors(result) == [(line_of("Nara"), message)]


def test_one_error_per_bad_cell_of_a_line(session):
    result = _refused(session, revision_csv(overrides={"Mie": {"yen": "x", "date": "2026-05-01", "url": "nope"}}))
    assert [line for line, _ in _errors(result)] == [line_of("Mie")] * 3


def test_bad_header(session):
    result = _refused(session, revision_csv(header=("prefecture", "yen", "effective_from", "url")))
    assert _errors(result) == [(1, "the header has no column yen_per_hour, source_url: the first line must name"
                                   " the columns prefecture, yen_per_hour, effective_from, source_url")]


def test_header_only_names_every_missing_prefecture(session):
    result = _refused(session, b"prefecture,yen_per_hour,effective_from,source_url\r\n")
    assert result.rows == 0 and result.fiscal_year is None
    assert [line for line, _ in _errors(result)] == [0] * 47


def test_empty_file(session):
    assert _errors(_refused(session, b"")) == [(1, "the file is empty")]
    assert _errors(_refused(session, b"\r\n \r\n")) == [(1, "the file is empty")]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # 0x81 0x20 is neither UTF-8 nor a cp932 double-byte character.
        (b"prefecture,yen_per_hour,effective_from,source_url\r\nTokyo,\x81 1300,2026-10-01,x\r\n",
         "the file is neither UTF-8 nor Shift_JIS: byte 0x81 on line 2 cannot be read"),
        # 0xFF alone decodes to a Private Use character in cp932: no real Shift_JIS file has one.
        (b"prefecture,yen_per_hour\r\n\xff\xfeTokyo\r\n",
         "the file is neither UTF-8 nor Shift_JIS: byte 0xff on line 2"),
        ("prefecture,yen_per_hour".encode("utf-16"), "the file is UTF-16"),
        (b"PK\x03\x04\x14\x00\x06\x00", "this is an Excel workbook, not a CSV file"),
    ],
)
def test_undecodable_bytes(session, data, expected):
    result = _refused(session, data)
    assert len(result.errors) == 1 and result.errors[0].line == 1
    assert result.errors[0].message.startswith(expected)


def test_nul_byte(session):
    result = _refused(session, revision_csv().replace(b"Tokyo,", b"Tok\x00yo,"))
    assert _errors(result) == [(1, f"the file has a NUL byte on line {line_of('Tokyo')}: it is not a text (CSV) file")]


def test_unclosed_quote_names_the_line_it_opens_on(session):
    result = _refused(session, revision_csv().replace(b"Tokyo,", b'"Tokyo,'))
    assert _errors(result) == [(line_of("Tokyo"), "this line is not valid CSV (unexpected end of data)")]


def test_unquoted_thousands_comma_shifts_the_cells(session):
    result = _refused(session, revision_csv(extra_rows=[]).replace(b"Tokyo,1286,", b"Tokyo,1,286,"))
    assert _errors(result) == [(line_of("Tokyo"), 'this line has 5 cells but the header 4: write amounts without'
                                                  ' a thousands comma or put them in quotes ("1,121")')]


def test_more_than_500_data_lines(session):
    rows = [["Tokyo", "1300", "2026-10-01", SOURCE_URL]] * 460
    result = _refused(session, revision_csv(extra_rows=rows))
    assert _errors(result) == [(502, "more than 500 data lines: a revision has one line per prefecture (47)")]


# --- decreases and re-imports --------------------------------------------------------------------------------


def test_decrease_is_refused_without_confirmation(session):
    data = revision_csv(overrides={"Tokyo": {"yen": 1200}})
    result = _refused(session, data)
    assert _errors(result) == [
        (line_of("Tokyo"), "1200 yen is lower than Tokyo's FY2025 rate of 1226 yen: confirm the decrease to import it")
    ]
    assert len(result.changes) == 46  # the rest of the preview is still shown


def test_decrease_is_allowed_with_confirmation(session):
    data = revision_csv(overrides={"Tokyo": {"yen": 1200}})
    result = wage_import.apply(session=session, data=data, confirm_decrease=True)
    assert result.errors == [] and result.applied
    decreased = [c for c in result.changes if c.decrease]
    assert [(c.prefecture, c.old_yen, c.new_yen) for c in decreased] == [("Tokyo", 1226, 1200)]
    assert result.as_dict()["changes"][NAMES.index("Tokyo")]["decrease"] is True
    assert knowledge_service.rate_on(session=session, prefecture="Tokyo", on=dt.date(2026, 10, 1)).yen_per_hour == 1200


def test_same_rate_as_last_year_is_not_a_decrease(session):
    result = wage_import.check(session=session, data=revision_csv(overrides={"Tokyo": {"yen": 1226}}))
    assert result.errors == []
    assert not any(c.decrease for c in result.changes)


def test_reimporting_a_corrected_file_updates_instead_of_duplicating(session):
    assert wage_import.apply(session=session, data=revision_csv()).applied
    after_first = _count(session)
    corrected = revision_csv(overrides={"Tokyo": {"yen": 1290, "date": "2026-10-02"}})
    preview = wage_import.check(session=session, data=corrected)
    kinds = {c.prefecture: c.kind for c in preview.changes}
    assert kinds.pop("Tokyo") == "update" and set(kinds.values()) == {"same"}
    tokyo = next(c for c in preview.changes if c.prefecture == "Tokyo")
    assert (tokyo.old_yen, tokyo.old_effective_from, tokyo.new_yen) == (1286, dt.date(2026, 10, 1), 1290)

    result = wage_import.apply(session=session, data=corrected)
    assert result.applied and _count(session) == after_first
    rows = [w for w in knowledge_service.list_wages(session=session, prefecture="Tokyo") if w.fiscal_year == 2026]
    assert [(w.yen_per_hour, w.effective_from) for w in rows] == [(1290, dt.date(2026, 10, 2))]
    assert rows[0].sources[0]["date"] == "2026-10-02"


def test_a_new_source_url_alone_is_an_update(session):
    assert wage_import.apply(session=session, data=revision_csv()).applied
    url = "https://www.pref.kochi.lg.jp/minimum-wage"
    result = wage_import.apply(session=session, data=revision_csv(overrides={"Kochi": {"url": url}}))
    assert {c.prefecture: c.kind for c in result.changes if c.kind != "same"} == {"Kochi": "update"}
    row = next(w for w in knowledge_service.list_wages(session=session, prefecture="Kochi") if w.fiscal_year == 2026)
    assert row.sources[0]["url"] == url and row.sources[0]["publisher"] == "www.pref.kochi.lg.jp"


def test_correcting_the_seeded_year_updates_its_rows(session):
    """A FY2025 file replaces the seeded FY2025 rows and is compared with FY2024 for decreases."""
    seeded = {w.prefecture: w.yen_per_hour for w in knowledge_service.list_wages(session=session)
              if w.fiscal_year == 2025}
    before = _count(session)
    result = wage_import.apply(session=session, data=revision_csv(fiscal_year=2025, raise_by=1,
                                                                   effective_from=dt.date(2025, 10, 1)))
    assert result.errors == [] and result.fiscal_year == 2025
    assert {c.kind for c in result.changes} == {"update"}
    assert {c.prefecture: c.old_yen for c in result.changes} == seeded  # old = the row being replaced
    assert _count(session) == before
