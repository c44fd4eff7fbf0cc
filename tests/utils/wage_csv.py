"""Minimum-wage revision CSV files for tests, as an admin's spreadsheet would produce them.

Built from the seeded rates (knowledge/data/minimum_wages.yaml) so a test can say "every prefecture
+60 yen" and compute the expected numbers from the same data.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
from collections.abc import Sequence
from typing import Any

import yaml

from knowledge import prefectures
from knowledge.loader import DATA_DIR

COLUMNS = ("prefecture", "yen_per_hour", "effective_from", "source_url")
SOURCE_URL = "https://www.mhlw.go.jp/stf/seisakunitsuite/bunya/koyou_roudou/roudoukijun/minimumichiran/index.html"
#: Short names a test may use in `overrides` for the columns.
_ALIASES = {"yen": "yen_per_hour", "date": "effective_from", "url": "source_url", "name": "prefecture"}


@functools.lru_cache(maxsize=1)
def seeded_rates() -> dict[int, dict[str, dict[str, Any]]]:
    """fiscal year -> canonical prefecture -> {"yen": int, "effective_from": date} from the seed file."""
    doc = yaml.safe_load((DATA_DIR / "minimum_wages.yaml").read_text(encoding="utf-8"))
    return {
        int(rev["fiscal_year"]): {
            r["prefecture"]: {"yen": int(r["yen"]), "effective_from": dt.date.fromisoformat(str(r["effective_from"]))}
            for r in rev["rates"]
        }
        for rev in doc["revisions"]
    }


def base_rates(fiscal_year: int = 2026) -> dict[str, int]:
    """The rates a revision of `fiscal_year` starts from: the seeded year before, else the newest seeded year."""
    rates = seeded_rates()
    year = fiscal_year - 1 if fiscal_year - 1 in rates else max(rates)
    return {name: row["yen"] for name, row in rates[year].items()}


def expected_rates(*, fiscal_year: int = 2026, raise_by: int = 60) -> dict[str, int]:
    """What :func:`revision_csv` writes for each prefecture without overrides."""
    return {name: yen + raise_by for name, yen in base_rates(fiscal_year).items()}


def line_of(prefecture: str) -> int:
    """The physical line of a prefecture in a file from :func:`revision_csv` (header = 1, north to south)."""
    return prefectures.names().index(prefecture) + 2


def revision_csv(
    *,
    fiscal_year: int = 2026,
    raise_by: int = 60,
    effective_from: dt.date | None = None,
    encoding: str = "utf-8",
    bom: bool = False,
    names: str = "en",
    overrides: dict[str, dict[str, Any]] | None = None,
    drop: tuple[str, ...] = (),
    extra_rows: Sequence[Sequence[str]] = (),
    header: Sequence[str] = COLUMNS,
) -> bytes:
    """A revision CSV of all 47 prefectures (north to south), each at the base rate + `raise_by`.

    effective_from: the date of every row (default: 1 October of `fiscal_year`).
    names: "en" for the canonical English names, "ja" for the kanji names (東京都).
    overrides: canonical prefecture -> {column or yen/date/url/name: value}; values are written as given
      (str() of ints, ISO of dates), so a test can write "abc" or "1,121円".
    drop: prefectures left out. extra_rows: rows appended as they are ([] writes an empty line).
    header: the header cells, in the order the columns are written (matched to columns ignoring case and
      surrounding spaces); a name that is not a column gets empty cells, so a test can misspell one.
    encoding: "utf-8" or "cp932" (Japanese Excel's Shift_JIS); bom adds the UTF-8 byte-order mark.
    """
    day = effective_from or dt.date(fiscal_year, 10, 1)
    kanji = {p.name: p.kanji for p in prefectures.all_prefectures()}
    rates = expected_rates(fiscal_year=fiscal_year, raise_by=raise_by)
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(list(header))
    for name in prefectures.names():
        if name in drop:
            continue
        cells: dict[str, Any] = {
            "prefecture": kanji[name] if names == "ja" else name,
            "yen_per_hour": rates[name],
            "effective_from": day,
            "source_url": SOURCE_URL,
        }
        for key, value in (overrides or {}).get(name, {}).items():
            cells[_ALIASES.get(key, key)] = value
        writer.writerow([_cell(cells.get(column.strip().lower(), "")) for column in header])
    for row in extra_rows:
        writer.writerow(list(row))
    data = out.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def _cell(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)
