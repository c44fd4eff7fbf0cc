"""Generated Japanese payslips (給与明細) with known numbers, for the OCR reader's tests and its benchmark.

A real trainee's payslip cannot be shipped (it is personal data), so the reader is measured on payslips drawn here:
three layouts seen in the wild (a ruled two-column table of label | value rows; the 勤怠/支給/控除 blocks with a row
of labels above a row of values; a plain list), label variants and number formats picked at random, and
"photographed" degradations (small rotation, blur, uneven light, sensor noise, a lower resolution and JPEG
compression). Everything is drawn from one seed, so a failing case can be drawn again exactly.

Needs Debian's fonts-noto-cjk (scripts/ensure_tesseract.sh installs it).
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from knowledge.payslip_items import BY_KEY, ItemKind

FONT_DIR = Path("/usr/share/fonts/opentype/noto")
FONT_FILES = {"regular": "NotoSansCJK-Regular.ttc", "bold": "NotoSansCJK-Bold.ttc", "serif": "NotoSerifCJK-Regular.ttc"}
#: index of the Japanese face in Noto's CJK collections (JP, KR, SC, TC, HK): Japanese glyph shapes
JP_FACE = 0
LAYOUTS = ("table", "blocks", "list")
WIDTH = 1600
INK = (20, 20, 20)
PAPER = (255, 255, 255)
SHADE = (225, 225, 225)

COUNTS = ("days_worked", "hours_worked", "overtime_hours", "night_hours", "holiday_hours")
EARNINGS = ("base_pay", "overtime_pay", "night_pay", "holiday_pay", "other_allowances")
DEDUCTIONS = (
    "health_insurance", "pension", "employment_insurance", "income_tax", "resident_tax", "dorm", "utilities",
    "management_fee", "savings", "fine", "other_deductions",
)
TOTALS = ("gross_pay", "total_deductions", "net_pay")
YEN = Decimal(1)


@dataclass
class Payslip:
    """One drawn payslip: the image and the truth a perfect reader would give back."""

    seed: int
    layout: str
    degraded: bool
    image: Image.Image
    values: dict[str, Decimal]  # item key -> the number printed
    labels: dict[str, str]  # item key -> the label printed
    printed: dict[str, str] = field(default_factory=dict)  # item key -> the number as printed ("12:30", "¥1,000")

    def encode(self, fmt: str = "png", quality: int = 90) -> bytes:
        """The image as upload bytes: png, jpeg, webp or pdf (one page, as a scanner app makes)."""
        out = io.BytesIO()
        image = self.image.convert("RGB")
        if fmt == "pdf":
            image.save(out, "PDF", resolution=200.0)
        elif fmt in ("jpeg", "webp"):
            image.save(out, fmt.upper(), quality=quality)
        else:
            image.save(out, "PNG")
        return out.getvalue()


def font(size: int, style: str = "regular") -> ImageFont.FreeTypeFont:
    """The Japanese Noto face at a pixel size."""
    return ImageFont.truetype(str(FONT_DIR / FONT_FILES[style]), size, index=JP_FACE)


# ----------------------------------------------------------------------------------------------- numbers


def _yen(value: Decimal | float) -> Decimal:
    return Decimal(str(value)).quantize(YEN, rounding=ROUND_HALF_UP)


def _half_hours(rng: random.Random, low: int, high: int) -> Decimal:
    """Hours in half-hour steps: what time clocks and payroll software print."""
    return Decimal(rng.randint(low * 2, high * 2)) / 2


def draw_values(rng: random.Random) -> dict[str, Decimal]:
    """A plausible trainee month: minimum-wage-ish base pay, overtime, the usual deductions, consistent totals."""
    values: dict[str, Decimal] = {}
    hourly = Decimal(rng.randint(950, 1300))
    values["days_worked"] = Decimal(rng.randint(18, 23))
    values["hours_worked"] = _half_hours(rng, 140, 176)
    values["overtime_hours"] = _half_hours(rng, 3, 45)
    values["base_pay"] = _yen(hourly * values["hours_worked"] / 100) * 100
    premium = Decimal(rng.choice(("1.25", "1.25", "1.0", "1.1")))  # some employers underpay the premium
    values["overtime_pay"] = _yen(values["overtime_hours"] * hourly * premium)
    if rng.random() < 0.4:
        values["night_hours"] = _half_hours(rng, 2, 30)
        values["night_pay"] = _yen(values["night_hours"] * hourly * Decimal("0.25"))
    if rng.random() < 0.3:
        values["holiday_hours"] = _half_hours(rng, 4, 24)
        values["holiday_pay"] = _yen(values["holiday_hours"] * hourly * Decimal("1.35"))
    if rng.random() < 0.4:
        values["other_allowances"] = Decimal(rng.choice((3000, 5000, 8000, 10000, 12500)))
    if rng.random() < 0.25:
        del values["days_worked"]
    gross = sum((values[k] for k in EARNINGS if k in values), Decimal(0))
    values["health_insurance"] = _yen(gross * Decimal("0.05"))
    values["pension"] = _yen(gross * Decimal("0.0915"))
    values["employment_insurance"] = _yen(gross * Decimal("0.006"))
    values["income_tax"] = Decimal(rng.randint(1500, 7000))
    values["dorm"] = Decimal(rng.randint(15, 50) * 1000)
    optional = {
        "resident_tax": lambda: Decimal(rng.randint(10, 120) * 100),
        "utilities": lambda: Decimal(rng.randint(30, 150) * 100),
        "management_fee": lambda: Decimal(rng.choice((3000, 5000, 10000, 20000))),
        "savings": lambda: Decimal(rng.choice((10000, 20000, 30000))),
        "fine": lambda: Decimal(rng.choice((1000, 3000, 5000))),
        "other_deductions": lambda: Decimal(rng.randint(5, 80) * 100),
    }
    chances = {"resident_tax": 0.5, "utilities": 0.6, "management_fee": 0.25, "savings": 0.2, "fine": 0.1,
               "other_deductions": 0.25}
    for key, make in optional.items():
        if rng.random() < chances[key]:
            values[key] = make()
    deductions = sum((values[k] for k in DEDUCTIONS if k in values), Decimal(0))
    values["gross_pay"] = gross
    values["total_deductions"] = deductions
    values["net_pay"] = gross - deductions
    return values


def choose_labels(rng: random.Random, keys: list[str]) -> dict[str, str]:
    """The usual label most of the time, a variant seen on payslips otherwise (the reader must know them all)."""
    labels = {}
    for key in keys:
        variants = BY_KEY[key].labels
        labels[key] = variants[0] if rng.random() < 0.65 else rng.choice(variants)
    return labels


def number_printer(rng: random.Random) -> Callable[[str, Decimal], str]:
    """One payslip's number style: amounts plain, with ¥ or with 円; hours as 160.0, 160.5 or 160:30."""
    amount_style = rng.choice(("plain", "plain", "yen_sign", "yen_suffix"))
    hours_style = rng.choice(("decimal", "clock"))

    def show(key: str, value: Decimal) -> str:
        if BY_KEY[key].kind is not ItemKind.count:
            text = f"{int(value):,}"
            return {"plain": text, "yen_sign": f"¥{text}", "yen_suffix": f"{text}円"}[amount_style]
        if key == "days_worked":
            return f"{int(value)}"
        if hours_style == "clock":
            whole = int(value)
            return f"{whole}:{int((value - whole) * 60):02d}"
        return f"{value:.1f}" if value == value.to_integral() or rng.random() < 0.5 else f"{value:.2f}"

    return show


# ----------------------------------------------------------------------------------------------- drawing


class Canvas:
    """A page and its pen, with the text helpers the three layouts share."""

    def __init__(self, height: int, style: str) -> None:
        self.image = Image.new("RGB", (WIDTH, height), PAPER)
        self.draw = ImageDraw.Draw(self.image)
        self.style = style
        self.text_font = font(26, style)
        self.small_font = font(22, style)
        self.title_font = font(40, "bold")

    def text(self, xy: tuple[int, int], text: str, anchor: str = "la", small: bool = False) -> None:
        self.draw.text(xy, text, fill=INK, font=self.small_font if small else self.text_font, anchor=anchor)

    def box(self, box: tuple[int, int, int, int], shade: bool = False, width: int = 2) -> None:
        self.draw.rectangle(box, fill=SHADE if shade else None, outline=INK, width=width)

    def header(self, rng: random.Random) -> int:
        """Title, month, company and trainee name: text with numbers that are not payslip items."""
        year = rng.choice(("令和6年", "令和7年", "2024年", "2025年"))
        self.draw.text((WIDTH // 2, 40), "給与明細書", fill=INK, font=self.title_font, anchor="ma")
        self.text((80, 110), f"{year}{rng.randint(1, 12)}月分")
        self.text((80, 150), rng.choice(("株式会社サンプル工業", "有限会社みどり農園", "東和精機株式会社")))
        name = rng.choice(("グエン・ヴァン・アン", "シティ・ヌルハリザ", "マリア・サントス", "チャン・ティ・ラン"))
        self.text((WIDTH - 80, 110), f"社員番号 {rng.randint(1000, 99999)}", anchor="ra")
        self.text((WIDTH - 80, 150), f"{name} 様", anchor="ra")
        return 210


def draw_table(rng: random.Random, keys: list[str], labels: dict[str, str], shown: dict[str, str]) -> Image.Image:
    """Two ruled tables side by side, label cell | value cell per row (勤怠 and 支給 left, 控除 and totals right)."""
    sections_left = [("勤怠", [k for k in COUNTS if k in keys]), ("支給", [k for k in EARNINGS if k in keys])]
    sections_right = [("控除", [k for k in DEDUCTIONS if k in keys]), ("合計", [k for k in TOTALS if k in keys])]
    row = 50
    rows = max(sum(len(ks) + 1 for _, ks in side) for side in (sections_left, sections_right))
    canvas = Canvas(260 + rows * row + 60, rng.choice(("regular", "regular", "serif")))
    top = canvas.header(rng)
    label_w, value_w = 300, 330
    for x0, sections in ((80, sections_left), (WIDTH // 2 + 40, sections_right)):
        y = top
        for title, section_keys in sections:
            canvas.box((x0, y, x0 + label_w + value_w, y + row), shade=True)
            canvas.text((x0 + 14, y + row // 2), title, anchor="lm")
            y += row
            for key in section_keys:
                canvas.box((x0, y, x0 + label_w, y + row))
                canvas.box((x0 + label_w, y, x0 + label_w + value_w, y + row))
                canvas.text((x0 + 14, y + row // 2), labels[key], anchor="lm")
                canvas.text((x0 + label_w + value_w - 16, y + row // 2), shown[key], anchor="rm")
                y += row
    return canvas.image


def draw_blocks(rng: random.Random, keys: list[str], labels: dict[str, str], shown: dict[str, str]) -> Image.Image:
    """The common Japanese form: a block per section, a row of label cells with the values in the cells below."""
    per_row = 6
    blocks = [
        ("勤怠", [k for k in COUNTS if k in keys]),
        ("支給", [k for k in EARNINGS if k in keys] + ["gross_pay"]),
        ("控除", [k for k in DEDUCTIONS if k in keys] + ["total_deductions"]),
        ("合計", ["net_pay"]),
    ]
    row, title_w = 56, 90
    cell_w = (WIDTH - 160 - title_w) // per_row
    pairs = sum((len(ks) + per_row - 1) // per_row for _, ks in blocks)
    canvas = Canvas(260 + pairs * 2 * row + len(blocks) * 24 + 40, rng.choice(("regular", "regular", "serif")))
    y = canvas.header(rng)
    x0 = 80
    for title, block_keys in blocks:
        chunks = [block_keys[i:i + per_row] for i in range(0, len(block_keys), per_row)]
        height = len(chunks) * 2 * row
        canvas.box((x0, y, x0 + title_w, y + height), shade=True)
        for i, char in enumerate(title):  # the block title printed vertically, one character under the other
            canvas.text((x0 + title_w // 2, y + height // 2 + (i * 2 - 1) * 16), char, anchor="mm")
        for chunk in chunks:
            for i in range(per_row):
                left = x0 + title_w + i * cell_w
                canvas.box((left, y, left + cell_w, y + row), shade=True)
                canvas.box((left, y + row, left + cell_w, y + 2 * row))
                if i < len(chunk):
                    key = chunk[i]
                    canvas.text((left + cell_w // 2, y + row // 2), labels[key], anchor="mm", small=True)
                    canvas.text((left + cell_w - 14, y + row + row // 2), shown[key], anchor="rm")
            y += 2 * row
        y += 24
    return canvas.image


def draw_list(rng: random.Random, keys: list[str], labels: dict[str, str], shown: dict[str, str]) -> Image.Image:
    """No rules at all: section headings, then label ... value lines (a printed e-mail or an app screen)."""
    sections = [
        ("【勤怠】", [k for k in COUNTS if k in keys]),
        ("【支給】", [k for k in EARNINGS if k in keys]),
        ("【控除】", [k for k in DEDUCTIONS if k in keys]),
        ("【合計】", [k for k in TOTALS if k in keys]),
    ]
    line = 46
    canvas = Canvas(260 + sum(len(ks) + 1 for _, ks in sections) * line + len(sections) * 16 + 40,
                    rng.choice(("regular", "serif")))
    y = canvas.header(rng)
    value_right = rng.randint(900, 1250)
    for title, section_keys in sections:
        canvas.text((120, y), title)
        y += line
        for key in section_keys:
            canvas.text((180, y), labels[key])
            canvas.text((value_right, y), shown[key], anchor="ra")
            y += line
        y += 16
    return canvas.image


DRAWERS = {"table": draw_table, "blocks": draw_blocks, "list": draw_list}


# ------------------------------------------------------------------------------------------- degradation


def degrade(image: Image.Image, rng: random.Random) -> Image.Image:
    """What a phone photo of a paper payslip does to it: tilt, uneven light, blur, noise, low resolution, JPEG."""
    angle = rng.uniform(-3.0, 3.0)
    background = tuple(rng.randint(90, 160) for _ in range(3))
    image = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=background)
    pixels = np.asarray(image, dtype=np.float32)
    height, width = pixels.shape[:2]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    # light falling from one side (a window, a desk lamp), darker towards the far corner, and a slight tint
    direction = rng.uniform(0, 2 * np.pi)
    ramp = (xx / width - 0.5) * np.cos(direction) + (yy / height - 0.5) * np.sin(direction)
    light = 1.0 - rng.uniform(0.25, 0.45) * (ramp + 0.5)
    tint = np.array([rng.uniform(0.9, 1.0), rng.uniform(0.9, 1.0), rng.uniform(0.85, 0.95)], dtype=np.float32)
    pixels = pixels * light[..., None] * tint
    pixels += np.random.default_rng(rng.randrange(2**32)).normal(0, rng.uniform(4, 10), pixels.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.6, 1.4)))
    scale = rng.uniform(0.75, 1.0)
    image = image.resize((int(width * scale), int(height * scale)), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=rng.randint(35, 65))
    return Image.open(io.BytesIO(out.getvalue())).convert("RGB")


def render(seed: int, layout: str, degraded: bool = False) -> Payslip:
    """The payslip for this seed in this layout; the same seed gives the same numbers in every layout."""
    rng = random.Random(seed)
    values = draw_values(rng)
    keys = [item for item in BY_KEY if item in values]
    labels = choose_labels(rng, keys)
    show = number_printer(rng)
    shown = {key: show(key, values[key]) for key in keys}
    draw_rng = random.Random(f"{seed}:{layout}")
    image = DRAWERS[layout](draw_rng, keys, labels, shown)
    if degraded:
        image = degrade(image, random.Random(f"{seed}:{layout}:degraded"))
    return Payslip(seed, layout, degraded, image, values, labels, shown)
