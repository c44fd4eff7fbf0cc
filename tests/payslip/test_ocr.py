"""The payslip reader (knowledge/payslip_ocr.py) on generated payslips whose numbers are known.

These run the real Tesseract (scripts/ensure_tesseract.sh installs it with the test run). Each reading takes
about a second, so each payslip is read once per session.
"""

from __future__ import annotations

import io
import os
import tempfile
from decimal import Decimal
from functools import lru_cache

import pytest
from PIL import Image

from knowledge.payslip_items import BY_KEY, ITEMS
from knowledge.payslip_ocr import (
    Cell,
    PayslipUploadError,
    Reading,
    UnsupportedUpload,
    UploadTooLarge,
    find_items,
    label_score,
    parse_value,
    read_payslip,
)
from tests.payslip.render import render

#: the numbers the payslip check cannot do without
CORE = ("hours_worked", "overtime_hours", "base_pay", "overtime_pay", "gross_pay", "total_deductions", "net_pay")


@lru_cache(maxsize=None)
def reading(seed: int, layout: str, degraded: bool = False, fmt: str = "png") -> Reading:
    payslip = render(seed, layout, degraded)
    return read_payslip(payslip.encode(fmt), {"pdf": "application/pdf"}.get(fmt, f"image/{fmt}"))


def wrong(seed: int, layout: str, degraded: bool = False, fmt: str = "png") -> dict[str, tuple]:
    """The printed numbers not read back exactly: key -> (printed, read)."""
    truth = render(seed, layout, degraded).values
    got = reading(seed, layout, degraded, fmt).values()
    return {key: (value, got.get(key)) for key, value in truth.items() if got.get(key) != value}


# ----------------------------------------------------------------------------------------- whole payslips


@pytest.mark.parametrize(
    ("seed", "layout", "fmt"),
    [(1, "table", "png"), (2, "blocks", "png"), (4, "list", "png"), (2, "list", "webp"), (3, "table", "pdf")],
)
def test_a_clean_payslip_is_read_exactly(seed: int, layout: str, fmt: str) -> None:
    assert wrong(seed, layout, fmt=fmt) == {}


@pytest.mark.parametrize("layout", ["table", "blocks", "list"])
def test_a_photographed_payslip_gives_the_core_numbers(layout: str) -> None:
    """Tilted, blurred, unevenly lit, noisy JPEG: the numbers the verdict needs still come out right."""
    misses = wrong(2, layout, degraded=True, fmt="jpeg")
    assert not misses.keys() & set(CORE), misses
    assert len(misses) <= 1, misses


def test_an_upside_down_photo_is_turned_and_read() -> None:
    """A phone that kept no EXIF rotation: the page reads as nothing until it is turned."""
    payslip = render(1, "table")
    out = io.BytesIO()
    payslip.image.rotate(180).save(out, "JPEG", quality=90)
    got = read_payslip(out.getvalue(), "image/jpeg").values()
    assert {key: got.get(key) for key in CORE} == {key: payslip.values[key] for key in CORE}


def test_the_same_seed_draws_the_same_payslip() -> None:
    """A failing case of the bench or of these tests can be drawn again exactly."""
    assert render(5, "blocks", degraded=True).encode("png") == render(5, "blocks", degraded=True).encode("png")
    assert render(5, "list").values == render(5, "table").values != render(6, "list").values


def test_the_reading_names_the_label_it_saw_and_what_it_did_not_find() -> None:
    payslip = render(1, "table")
    result = reading(1, "table")
    assert result.items["base_pay"].label_seen == payslip.labels["base_pay"]
    assert set(result.unread) == {item.key for item in ITEMS} - set(payslip.values)
    assert all(0.0 <= item.confidence <= 1.0 for item in result.items.values())


def test_totals_that_add_up_are_sure() -> None:
    result = reading(1, "table")
    assert all(result.items[key].confidence >= 0.95 for key in ("gross_pay", "total_deductions", "net_pay"))


def test_nothing_is_written_to_disk(tmp_path, monkeypatch) -> None:
    """The upload is personal data: no file is opened for writing, not even a temporary one deleted at once."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.chdir(tmp_path)
    data = render(3, "blocks").encode("jpeg")
    written: list[str] = []
    real_open, real_os_open = open, os.open

    def watching_open(file, mode="r", *args, **kwargs):  # type: ignore[no-untyped-def]
        if any(flag in mode for flag in "wax+"):
            written.append(str(file))
        return real_open(file, mode, *args, **kwargs)

    def watching_os_open(path, flags, *args, **kwargs):  # type: ignore[no-untyped-def]
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            written.append(str(path))
        return real_os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr("builtins.open", watching_open)
    monkeypatch.setattr(os, "open", watching_os_open)
    assert read_payslip(data, "image/jpeg").items
    assert written == []
    assert list(tmp_path.iterdir()) == [scratch]
    assert list(scratch.iterdir()) == []


# ------------------------------------------------------------------------------------------------ refusals


def _png(size: tuple[int, int], mode: str = "1") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, 1).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"<html><body>not a payslip</body></html>", "text/html"),
        (b"GIF89a" + b"\0" * 100, "image/gif"),
        (b"just some text", None),
        (_png((100, 100)), "text/plain"),  # a declared type that is not an image is refused too
        (_png((100, 100))[:40], "image/png"),  # a broken PNG
        (b"%PDF-1.4 this is no PDF", "application/pdf"),
    ],
)
def test_what_is_not_a_photo_or_pdf_is_refused(data: bytes, content_type: str | None) -> None:
    with pytest.raises(UnsupportedUpload):
        read_payslip(data, content_type)


def test_a_file_over_10_mb_is_refused() -> None:
    data = _png((10, 10)) + b"\0" * (10 * 1024 * 1024)
    with pytest.raises(UploadTooLarge, match="10 MB"):
        read_payslip(data, "image/png")


@pytest.mark.parametrize("size", [(4001, 100), (100, 4001), (20000, 20000)])
def test_an_image_larger_than_4000_px_is_refused_before_it_is_decoded(size: tuple[int, int]) -> None:
    """A decompression bomb: a small file (a few kB of a blank 1-bit PNG) that would unpack into a huge bitmap."""
    data = _png(size)
    assert len(data) < 10 * 1024 * 1024
    with pytest.raises(UploadTooLarge, match="pixels"):
        read_payslip(data, "image/png")


def test_refusals_share_one_exception_class_the_caller_can_catch() -> None:
    with pytest.raises(PayslipUploadError):
        read_payslip(b"nope", None)
    assert issubclass(UploadTooLarge, PayslipUploadError) and issubclass(UnsupportedUpload, ValueError)


# ------------------------------------------------------------------------------------- numbers and labels


@pytest.mark.parametrize(
    ("key", "printed", "value"),
    [
        ("base_pay", "180,000", "180000"),
        ("base_pay", "¥180,000", "180000"),
        ("base_pay", "180,000円", "180000"),
        ("base_pay", "１８０，０００円", "180000"),  # full-width, as Japanese software prints
        ("base_pay", "\\180.000", "180000"),  # ¥ as the Japanese fonts' backslash, a comma read as a dot
        ("hours_worked", "160.0", "160"),
        ("hours_worked", "160:00", "160"),
        ("overtime_hours", "12:30", "12.5"),
        ("overtime_hours", "12.5時間", "12.5"),
        ("days_worked", "21日", "21"),
    ],
)
def test_numbers_are_read_as_printed(key: str, printed: str, value: str) -> None:
    assert parse_value(BY_KEY[key], printed) == Decimal(value)


@pytest.mark.parametrize(
    ("key", "printed"),
    [("hours_worked", "180,000"), ("days_worked", "45"), ("overtime_hours", "12:75"), ("income_tax", "1")],
)
def test_numbers_a_payslip_cannot_have_are_not_taken(key: str, printed: str) -> None:
    assert parse_value(BY_KEY[key], printed) is None


@pytest.mark.parametrize(
    ("seen", "key"),
    [("雇用保陰", "employment_insurance"), ("総支給客", "gross_pay"), ("察質", "dorm"), ("差引支給", "net_pay")],
)
def test_a_label_misread_by_a_character_still_matches(seen: str, key: str) -> None:
    assert label_score(seen, BY_KEY[key]) >= 0.6
    others = [label_score(seen, item) for item in ITEMS if item.key != key]
    assert label_score(seen, BY_KEY[key]) > max(others)


def _cell(text: str, left: int, top: int, width: int = 120, height: int = 30) -> Cell:
    return Cell(text, left, top, left + width, top + height, 0.9)


def test_a_value_is_found_to_the_right_of_its_label() -> None:
    cells = [_cell("基本給", 100, 100), _cell("180,000", 500, 102), _cell("残業手当", 100, 150),
             _cell("25,000", 500, 151)]
    found = find_items(cells)
    assert found["base_pay"].value == 180000 and found["overtime_pay"].value == 25000


def test_a_value_is_found_under_its_label_in_a_row_of_labels() -> None:
    """The 勤怠/支給/控除 block form: labels in a header row, values right-aligned in the cells below."""
    cells = [_cell("基本給", 100, 100), _cell("残業手当", 330, 100), _cell("総支給額", 560, 100),
             _cell("180,000", 180, 160), _cell("25,000", 410, 160), _cell("205,000", 640, 160)]
    found = find_items(cells)
    assert {key: found[key].value for key in found} == {
        "base_pay": 180000, "overtime_pay": 25000, "gross_pay": 205000}


def test_a_label_without_a_number_reads_nothing() -> None:
    """A section title (支給) or a label whose value is blank is not given its neighbour's number."""
    cells = [_cell("支給", 100, 50), _cell("基本給", 100, 100), _cell("180,000", 500, 100),
             _cell("寮費", 100, 150), _cell("健康保険", 100, 200), _cell("9,000", 500, 200)]
    found = find_items(cells)
    assert "dorm" not in found and "gross_pay" not in found
    assert found["health_insurance"].value == 9000
