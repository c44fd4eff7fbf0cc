"""Importing the yearly regional minimum-wage revision from a CSV file.

Every October the 47 prefectures' rates change, and the admins get the new table as a spreadsheet.
Typing 47 rows by hand is where wrong numbers come from, so an admin uploads the CSV instead:
:func:`check` validates the whole file and shows what would change, without writing anything;
:func:`apply` does the same checks and only then writes the rows (the caller commits).

The file is checked as a whole before anything is written: a half-imported revision would make the
bot quote this year's rate in some prefectures and last year's in others without saying so.

CSV format: a header row naming the columns ``prefecture, yen_per_hour, effective_from, source_url``
(any order, any case, extra columns ignored), then one line per prefecture, all 47 exactly once.
Encodings: UTF-8 (with or without BOM) and Shift_JIS as Japanese Excel saves it (read as cp932).
Line numbers in errors are physical lines of the file (the header is line 1); ``line 0`` means the
file as a whole (a missing prefecture).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge import prefectures
from knowledge.models import MinimumWage
from knowledge.wages import revision_cycle

COLUMNS = ("prefecture", "yen_per_hour", "effective_from", "source_url")
MAX_DATA_LINES = 500
#: Plausible hourly rates (FY2025: 1,023 to 1,226 yen): wide enough for years to come, narrow enough to
#: catch a dropped or doubled digit and a monthly or daily amount typed into the hourly column.
MIN_YEN, MAX_YEN = 700, 3000
#: The line number of errors about the file as a whole.
WHOLE_FILE = 0
SOURCE_ID = "import"
MAX_URL_LENGTH = 2000

_YEN_RE = re.compile(r"[¥\\]?(\d{1,3}(?:,\d{3})+|\d+)円?")
#: 2026-10-01, 2026/10/1, 2026年10月1日, and Excel's "2026/10/1 0:00" when the cell holds a date and time.
_DATE_RE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:\s+0?0:00(?::00)?)?")
#: cp932 maps unused byte values to the Private Use Area instead of failing; a real file never has them.
_PRIVATE_USE_RE = re.compile("[\ue000-\uf8ff]")


@dataclass(frozen=True)
class LineError:
    """One problem in the file, at a physical line (1 = header, 0 = the file as a whole)."""

    line: int
    message: str


@dataclass(frozen=True)
class Change:
    """What importing one line would do to one prefecture's rate."""

    prefecture: str
    new_yen: int
    effective_from: dt.date
    source_url: str
    #: The row of the same fiscal year being replaced, else the previous fiscal year's rate (None if neither).
    old_yen: int | None
    old_effective_from: dt.date | None
    #: "new" (no row of this fiscal year yet) | "update" (replaces this year's row) | "same" (nothing changes).
    kind: str
    #: Lower than the previous fiscal year's rate (only possible with confirm_decrease).
    decrease: bool

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["effective_from"] = self.effective_from.isoformat()
        data["old_effective_from"] = self.old_effective_from.isoformat() if self.old_effective_from else None
        return data


@dataclass
class ImportResult:
    """The preview (or outcome) of an import: the file's fiscal year, its changes and its errors."""

    fiscal_year: int | None
    rows: int
    changes: list[Change] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    applied: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "fiscal_year": self.fiscal_year,
            "rows": self.rows,
            "changes": [c.as_dict() for c in self.changes],
            "errors": [{"line": e.line, "message": e.message} for e in self.errors],
            "applied": self.applied,
        }


@dataclass
class _Row:
    """One data line as far as it could be read (None = that cell had an error)."""

    line: int
    prefecture: str | None = None
    yen: int | None = None
    effective_from: dt.date | None = None
    source_url: str | None = None
    ok: bool = True


def check(*, session: Session, data: bytes, confirm_decrease: bool = False) -> ImportResult:
    """Validate the file and preview its changes; writes nothing."""
    return _validate(session=session, data=data, confirm_decrease=confirm_decrease)[0]


def apply(*, session: Session, data: bytes, confirm_decrease: bool = False) -> ImportResult:
    """Check the file and, only when it has no error, write every row of its fiscal year and flush.

    The caller commits or rolls back, so the import is one transaction with whatever else the request does
    (e.g. an audit entry). Two imports of the same year racing each other make the second fail on the
    unique (prefecture, fiscal_year) constraint at flush, which rolls back as a whole.
    """
    result, current = _validate(session=session, data=data, confirm_decrease=confirm_decrease)
    if result.errors or result.fiscal_year is None:
        return result
    for change in result.changes:
        if change.kind == "same":
            continue
        row = current.get(change.prefecture)
        if row is None:
            row = MinimumWage(prefecture=change.prefecture, fiscal_year=result.fiscal_year)
            session.add(row)
        row.yen_per_hour = change.new_yen
        row.effective_from = change.effective_from
        row.sources = [_source(change, result.fiscal_year)]
    session.flush()
    result.applied = True
    return result


def _source(change: Change, fiscal_year: int) -> dict[str, Any]:
    """The citation written on an imported row: the answers quote it, so it names where the number came from."""
    return {
        "id": SOURCE_ID,
        "publisher": urlsplit(change.source_url).hostname,
        "title": f"FY{fiscal_year} regional minimum wage (imported)",
        "url": change.source_url,
        "date": change.effective_from.isoformat(),
    }


def _validate(*, session: Session, data: bytes, confirm_decrease: bool) -> tuple[ImportResult, dict[str, MinimumWage]]:
    """The result of checking the file, and the rows of its fiscal year already in the database (for apply)."""
    try:
        text = _decode(data)
    except ValueError as exc:
        return ImportResult(fiscal_year=None, rows=0, errors=[LineError(1, str(exc))]), {}
    header, records, errors = _read_csv(text)
    if header is None:
        return ImportResult(fiscal_year=None, rows=0, errors=errors or [LineError(1, "the file is empty")]), {}
    columns, header_errors = _columns(header[1], line=header[0])
    if header_errors:
        return ImportResult(fiscal_year=None, rows=len(records), errors=header_errors), {}
    if errors:  # malformed CSV (an unclosed quote, text after a closing quote): later rows cannot be trusted
        return ImportResult(fiscal_year=None, rows=len(records), errors=errors), {}
    if len(records) > MAX_DATA_LINES:
        line = records[MAX_DATA_LINES][0]
        message = f"more than {MAX_DATA_LINES} data lines: a revision has one line per prefecture (47)"
        return ImportResult(fiscal_year=None, rows=len(records), errors=[LineError(line, message)]), {}

    rows: list[_Row] = []
    seen: dict[str, int] = {}
    for line, cells in records:
        named = {name: cells[i] if i < len(cells) else "" for name, i in columns.items()}
        if any(cell.strip() for cell in cells[len(header[1]):]):
            # Cells have shifted (an unquoted 1,121): reading them by position would give misleading errors.
            errors.append(LineError(line, (
                f"this line has {len(cells)} cells but the header {len(header[1])}: write amounts without"
                ' a thousands comma or put them in quotes ("1,121")')))
            row = _Row(line=line, prefecture=prefectures.resolve(named["prefecture"].strip()), ok=False)
        else:
            row = _parse_row(line, named, errors)
        if row.prefecture is not None:
            if row.prefecture in seen:
                errors.append(LineError(line, f"{row.prefecture} appears twice: first on line {seen[row.prefecture]}"))
                row.ok = False
            else:
                seen[row.prefecture] = line
        rows.append(row)

    fiscal_year = _fiscal_year(rows)
    if fiscal_year is not None:
        for row in rows:
            if row.effective_from is not None and revision_cycle(row.effective_from) != fiscal_year:
                other = revision_cycle(row.effective_from)
                errors.append(LineError(row.line, (
                    f"effective_from {row.effective_from.isoformat()} is in FY{other}, but the file's other rows"
                    f" are FY{fiscal_year} (October {fiscal_year} to March {fiscal_year + 1})")))
                row.ok = False
    for name in prefectures.names():
        if name not in seen:
            errors.append(LineError(WHOLE_FILE, f"{name} is missing: the file must have all 47 prefectures"))

    changes: list[Change] = []
    current: dict[str, MinimumWage] = {}
    if fiscal_year is not None:
        current, previous = _rates(session=session, fiscal_year=fiscal_year)
        for row in rows:
            if row.ok:
                change = _change(row, current.get(row.prefecture), previous.get(row.prefecture))
                if change.decrease and not confirm_decrease:
                    before = previous[row.prefecture]
                    errors.append(LineError(row.line, (
                        f"{change.new_yen} yen is lower than {row.prefecture}'s FY{fiscal_year - 1} rate of"
                        f" {before.yen_per_hour} yen: confirm the decrease to import it")))
                else:
                    changes.append(change)
    order = {p.name: p.code for p in prefectures.all_prefectures()}
    changes.sort(key=lambda c: order[c.prefecture])
    errors.sort(key=lambda e: (e.line == WHOLE_FILE, e.line))
    return ImportResult(fiscal_year=fiscal_year, rows=len(records), changes=changes, errors=errors), current


def _decode(data: bytes) -> str:
    """The file's text: UTF-8 (BOM or not) first, since that is what "CSV UTF-8" and every other tool write,
    then cp932, Microsoft's Shift_JIS, which is what Japanese Excel's plain "CSV" writes (¥ as a backslash)."""
    if data.startswith(b"PK\x03\x04"):
        raise ValueError("this is an Excel workbook, not a CSV file: save it as “CSV UTF-8 (comma delimited)”")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValueError(
            "the file is UTF-16 (Excel's “Unicode text”): save it as “CSV UTF-8 (comma delimited)”")
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise ValueError(f"the file has a NUL byte on line {line}: it is not a text (CSV) file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp932")
    except UnicodeDecodeError as exc:
        position = exc.start
    else:
        found = _PRIVATE_USE_RE.search(text)
        if found is None:
            return text
        position = len(text[: found.start()].encode("cp932"))
    line = data[:position].count(b"\n") + 1
    raise ValueError(
        f"the file is neither UTF-8 nor Shift_JIS: byte 0x{data[position]:02x} on line {line} cannot be read;"
        " save it as “CSV UTF-8 (comma delimited)”")


def _read_csv(text: str) -> tuple[tuple[int, list[str]] | None, list[tuple[int, list[str]]], list[LineError]]:
    """The header and the non-empty data records, each with the physical line it starts on."""
    # strict: an unclosed quote would otherwise swallow the rest of the file into one cell without a word.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: tuple[int, list[str]] | None = None
    records: list[tuple[int, list[str]]] = []
    errors: list[LineError] = []
    previous_end = 0
    while len(records) <= MAX_DATA_LINES:
        start = previous_end + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(LineError(max(start, 1), f"this line is not valid CSV ({exc})"))
            break
        previous_end = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if header is None:
            header = (start, cells)
        else:
            records.append((start, cells))
    return header, records, errors


def _columns(header: list[str], *, line: int) -> tuple[dict[str, int], list[LineError]]:
    """Where each expected column is, found by name so a reordered or widened spreadsheet still imports."""
    positions: dict[str, int] = {}
    errors: list[LineError] = []
    for index, cell in enumerate(header):
        name = re.sub(r"[\s\-]+", "_", unicodedata.normalize("NFKC", cell).strip().lstrip("\ufeff").lower())
        if name in COLUMNS:
            if name in positions:
                errors.append(LineError(line, f"the column {name} appears twice in the header"))
            positions[name] = index
    missing = [c for c in COLUMNS if c not in positions]
    if missing:
        errors.append(LineError(line, (
            f"the header has no column {', '.join(missing)}: the first line must name the columns"
            f" {', '.join(COLUMNS)}")))
    return positions, errors


def _parse_row(line: int, cells: dict[str, str], errors: list[LineError]) -> _Row:
    """Read one line's cells, adding one error per bad cell so the admin can fix them all in one pass."""
    row = _Row(line=line)
    parsers = (
        ("prefecture", _parse_prefecture),
        ("yen", _parse_yen),
        ("effective_from", _parse_date),
        ("source_url", _parse_url),
    )
    for attribute, parse in parsers:
        column = "yen_per_hour" if attribute == "yen" else attribute
        try:
            setattr(row, attribute, parse(cells[column].strip()))
        except ValueError as exc:
            errors.append(LineError(line, str(exc)))
            row.ok = False
    return row


def _parse_prefecture(cell: str) -> str:
    if not cell:
        raise ValueError("prefecture is empty")
    name = prefectures.resolve(cell)
    if name is None:
        raise ValueError(f"unknown prefecture {cell!r}")
    return name


def _parse_yen(cell: str) -> int:
    """A whole number of yen as spreadsheets show it: 1121, 1,121, 1121円, ¥1,121 (\\1,121 in Shift_JIS)."""
    if not cell:
        raise ValueError("yen_per_hour is empty")
    match = _YEN_RE.fullmatch(re.sub(r"\s+", "", unicodedata.normalize("NFKC", cell)))
    if match is None:
        raise ValueError(f"yen_per_hour {cell!r} is not a whole number of yen (write it like 1121)")
    yen = int(match.group(1).replace(",", ""))
    if not MIN_YEN <= yen <= MAX_YEN:
        raise ValueError(f"yen_per_hour {yen} is outside the plausible range {MIN_YEN}–{MAX_YEN} yen")
    return yen


def _parse_date(cell: str) -> dt.date:
    """An ISO date, or the 2026/10/1 that Japanese Excel shows, inside a revision cycle (October to March)."""
    if not cell:
        raise ValueError("effective_from is empty")
    match = _DATE_RE.fullmatch(unicodedata.normalize("NFKC", cell).strip())
    if match is None:
        raise ValueError(f"effective_from {cell!r} is not a date (write it like 2026-10-01)")
    try:
        day = dt.date(*(int(g) for g in match.groups()))
    except ValueError:
        raise ValueError(f"effective_from {cell!r} is not a real date") from None
    if 4 <= day.month <= 9:
        raise ValueError(
            f"effective_from {day.isoformat()} is outside the revision cycle (October to the following March)")
    return day


def _parse_url(cell: str) -> str:
    """The page the number was taken from: an http(s) URL, because the bot shows it as the answer's source."""
    if not cell:
        raise ValueError("source_url is empty")
    try:
        parts = urlsplit(cell)
        host = parts.hostname
    except ValueError:
        host = None
    if (host is None or parts.scheme.lower() not in ("http", "https") or len(cell) > MAX_URL_LENGTH
            or any(c.isspace() for c in cell)):
        raise ValueError(f"source_url {cell!r} is not an http(s) URL")
    return cell


def _fiscal_year(rows: list[_Row]) -> int | None:
    """The fiscal year most rows' dates fall in (a tie goes to the later year, the likelier new revision)."""
    years = Counter(revision_cycle(r.effective_from) for r in rows if r.effective_from is not None)
    if not years:
        return None
    return max(years, key=lambda year: (years[year], year))


def _rates(*, session: Session, fiscal_year: int) -> tuple[dict[str, MinimumWage], dict[str, MinimumWage]]:
    """The database's rows of the file's fiscal year and of the year before, by prefecture."""
    found = session.scalars(select(MinimumWage).where(MinimumWage.fiscal_year.in_((fiscal_year, fiscal_year - 1))))
    current: dict[str, MinimumWage] = {}
    previous: dict[str, MinimumWage] = {}
    for row in found:
        (current if row.fiscal_year == fiscal_year else previous)[row.prefecture] = row
    return current, previous


def _change(row: _Row, current: MinimumWage | None, previous: MinimumWage | None) -> Change:
    """Compare a valid line with this year's row (replaced) or, when there is none, last year's rate."""
    assert row.prefecture and row.yen is not None and row.effective_from and row.source_url
    shown = current or previous
    if current is None:
        kind = "new"
    else:
        cited = {s.get("url") for s in current.sources or ()}
        unchanged = (current.yen_per_hour, current.effective_from) == (row.yen, row.effective_from)
        kind = "same" if unchanged and row.source_url in cited else "update"
    return Change(
        prefecture=row.prefecture,
        new_yen=row.yen,
        effective_from=row.effective_from,
        source_url=row.source_url,
        old_yen=shown.yen_per_hour if shown else None,
        old_effective_from=shown.effective_from if shown else None,
        kind=kind,
        decrease=previous is not None and row.yen < previous.yen_per_hour,
    )
