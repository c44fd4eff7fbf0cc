"""Read a photographed or scanned Japanese payslip (給与明細) into numbers, on this machine alone.

A trainee sends a phone photo (or the PDF an app made) of their payslip; the payslip check needs its numbers. The
engine is Debian's Tesseract with its Japanese model (scripts/ensure_tesseract.sh installs it): nothing is sent to
an outside service and nothing is downloaded at run time.

The upload is personal data, so it stays in memory: the image is checked and decoded with Pillow (PDF pages are
rendered by pdfium, from the bytes), prepared with numpy, and given to the `tesseract` program on its standard
input, whose word boxes come back on its standard output. No file is written, not even a temporary one.

How it reads:
1. Check the upload: JPEG, PNG, WebP or PDF by its first bytes, at most 10 MB, at most 4000 × 4000 pixels read
   from the header before anything is decoded (a small file can unpack into gigabytes: a decompression bomb).
2. Prepare the page: grayscale; even out the light (a photo is darker on one side) by dividing by the paper's own
   brightness; straighten small tilts (±5°) by the angle that makes the ink rows sharpest in a projection; scale
   so the characters are the height Tesseract reads best; rub out table rules (long thin runs of ink), which it
   otherwise reads as 1s and |s and which break its line finding.
3. OCR with Tesseract's Japanese model (its alphabet has the digits, ¥ and Latin letters), the page read as one
   block of lines (--psm 6). Measured on bench/ocr_bench.py: adding the English model (jpn+eng) made Tesseract read
   kanji labels as Latin letters (雇用保険 as "FeFAPRR") and cost 5 points on clean payslips and 13 on photos;
   sparse-text segmentation (--psm 11) lost labels in tables.
4. Group the word boxes into cells (runs of words on one row with small gaps), match cells to the labels of
   knowledge/payslip_items.py by ordered character overlap, after undoing the model's usual misreadings of label
   characters (寮費 read as 察質), and take for each label the number in the nearest cell to its right, or else in
   the cell under it (the 勤怠/支給/控除 block layout puts a row of labels over a row of values).
5. Second look: labels that match poorly and numbers Tesseract was unsure of, next to each other, are cut out,
   enlarged and read again in one more Tesseract run; the better reading is kept.
6. Cross-check: earnings add up to gross, deductions to their total, gross - deductions to net: those numbers
   are surer. A page that reads as almost nothing is tried turned (a sideways photo).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import threading
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from difflib import SequenceMatcher
from statistics import median

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from knowledge.payslip_items import ITEMS, Item, ItemKind

MAX_BYTES = 10 * 1024 * 1024
MAX_SIDE = 4000  # pixels, each side, before decoding: a larger image is refused (decompression bombs)
LANGUAGES = "jpn"
PAGE_SEGMENTATION = "6"
OCR_TIMEOUT_SECONDS = 30
#: Tesseract reads CJK best with characters about this tall (pixels); the page is scaled to it
TARGET_TEXT_HEIGHT = 34
MAX_TILT_DEGREES = 5.0
MAX_PAGE_SIDE = 3000  # the page given to Tesseract: larger only costs time
#: the paper's brightness is the brightest pixel within PAPER_WINDOW cells of an image shrunk PAPER_SCALE times
#: (about 50 px of the page: wider than any character, narrower than a shadow's edge)
PAPER_SCALE, PAPER_WINDOW = 8, 7
#: a cell matched to a label with less character overlap than this is not that label
MIN_LABEL_SCORE = 0.6
#: second look (reread_doubtful): cells read worse than this are cut out and read again, alone and larger
REREAD_BELOW_LABEL_SCORE, REREAD_BELOW_CONFIDENCE = 0.8, 0.75
MAX_REREADS = 12
REREAD_SCALES = (1.5, 1.0)  # both: a blurred label may read right at one size only
REREAD_SEGMENTATION = "6"  # a block of lines: the cells stacked
#: a reading with fewer items than this may be of a sideways photo: its orientation is checked
FEW_ITEMS = 3

FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "application/pdf": "PDF"}
CONTENT_TYPE_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}

_pdfium_lock = threading.Lock()  # pdfium is not thread-safe and the app reads uploads from worker threads


class PayslipUploadError(ValueError):
    """The upload cannot be read as a payslip image; the message says why, for the trainee to send another."""


class UnsupportedUpload(PayslipUploadError):
    """Not a JPEG, PNG, WebP or PDF (or a broken one)."""


class UploadTooLarge(PayslipUploadError):
    """More than MAX_BYTES, or more than MAX_SIDE pixels a side once decoded (a decompression bomb)."""


class OcrUnavailable(RuntimeError):
    """The tesseract program or its Japanese model is missing: a set-up fault, not the trainee's."""


@dataclass(frozen=True)
class ItemReading:
    """One number read off the payslip, with the label it was found by and how sure the reader is (0..1)."""

    key: str
    value: Decimal
    label_seen: str
    confidence: float


@dataclass(frozen=True)
class Reading:
    """What was read: per item key its reading; `unread` the item keys not found (absent or illegible)."""

    items: dict[str, ItemReading]
    unread: tuple[str, ...]

    def values(self) -> dict[str, Decimal]:
        """The numbers alone, as the payslip check asks the trainee to confirm them."""
        return {key: reading.value for key, reading in self.items.items()}


@dataclass
class Cell:
    """A run of OCR words on one row, close together: one printed cell of the payslip."""

    text: str
    left: int
    top: int
    right: int
    bottom: int
    confidence: float  # mean of Tesseract's word confidences, 0..1

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2

    @property
    def center(self) -> float:
        return (self.left + self.right) / 2


@dataclass
class _Word:
    text: str
    left: int
    top: int
    width: int
    height: int
    confidence: float


def read_payslip(data: bytes, content_type: str | None) -> Reading:
    """The numbers of the payslip in this upload (JPEG/PNG/WebP/PDF bytes); raises PayslipUploadError if unusable.

    A photo that reads as almost nothing may be sideways or upside down (a phone that kept no EXIF rotation):
    then Tesseract's orientation detection says how to turn it, and the turned page is read; if that reads
    little too, the opposite turn (the detection mixes up 90° and 270°). The reading with the most items wins.
    """
    image = load_image(data, content_type)
    page = prepare(image)
    cells = cells_from_words(ocr_words(page))
    if len(find_items(cells)) < FEW_ITEMS:
        page, cells = _best_turn(image, page, cells)
    return cross_check(find_items(reread_doubtful(page, cells)))


def _best_turn(image: Image.Image, page: Image.Image, cells: list[Cell]) -> tuple[Image.Image, list[Cell]]:
    """The page (and its cells) turned the way that reads the most items: the detected turn, then its opposite."""
    best = len(find_items(cells))
    turn = orientation(page)
    for angle in dict.fromkeys(a for a in (turn, (turn + 180) % 360) if a):
        turned = prepare(image.rotate(-angle, expand=True))
        turned_cells = cells_from_words(ocr_words(turned))
        found = len(find_items(turned_cells))
        if found > best:
            best, page, cells = found, turned, turned_cells
        if best >= FEW_ITEMS:
            break
    return page, cells


# ------------------------------------------------------------------------------------------------- upload


def sniff(data: bytes) -> str:
    """The upload's real type from its first bytes: a declared type is only a claim."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    raise UnsupportedUpload("not a photo or PDF of a payslip (JPEG, PNG, WebP or PDF)")


def load_image(data: bytes, content_type: str | None) -> Image.Image:
    """The upload decoded to one RGB image, after the checks that keep a hostile upload from costing memory."""
    if len(data) > MAX_BYTES:
        raise UploadTooLarge(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    declared = (content_type or "").split(";")[0].strip().lower()
    declared = CONTENT_TYPE_ALIASES.get(declared, declared)
    if declared and declared not in FORMATS and declared != "application/octet-stream":
        raise UnsupportedUpload(f"{declared} is not a photo or PDF of a payslip")
    kind = sniff(data)
    if kind == "application/pdf":
        return _render_pdf(data)
    return _decode_image(data, FORMATS[kind])


def _decode_image(data: bytes, fmt: str) -> Image.Image:
    """Decode after checking the size the header announces (Pillow reads headers lazily)."""
    try:
        image = Image.open(io.BytesIO(data), formats=[fmt])
    except Image.DecompressionBombError as error:  # Pillow's own limit, far above ours
        raise UploadTooLarge(f"the image has more than {MAX_SIDE}×{MAX_SIDE} pixels") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise UnsupportedUpload("the image is damaged or not what its type says") from error
    width, height = image.size
    if width > MAX_SIDE or height > MAX_SIDE:
        raise UploadTooLarge(f"the image is {width}×{height} pixels; at most {MAX_SIDE}×{MAX_SIDE} is read")
    try:
        image.seek(0)  # an animated WebP: its first frame
        image = ImageOps.exif_transpose(image)  # phones store "rotate me" in EXIF instead of rotating the pixels
        return image.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise UnsupportedUpload("the image is damaged") from error


def _render_pdf(data: bytes) -> Image.Image:
    """The PDF's first page (a payslip is one page), rendered from memory at about 200 dpi, at most MAX_SIDE."""
    import pypdfium2 as pdfium

    with _pdfium_lock:
        try:
            document = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as error:
            raise UnsupportedUpload("the PDF is damaged or protected") from error
        try:
            if len(document) == 0:
                raise UnsupportedUpload("the PDF has no page")
            page = document[0]
            width, height = page.get_size()  # points, 1/72 inch
            scale = min(200 / 72, MAX_SIDE / max(width, height, 1.0))
            bitmap = page.render(scale=scale)
            return bitmap.to_pil().convert("RGB")
        finally:
            document.close()


# --------------------------------------------------------------------------------------------- preparing


def prepare(image: Image.Image) -> Image.Image:
    """Grayscale, even light, straight, at Tesseract's favourite character height, without table rules."""
    gray = ImageOps.grayscale(image)
    gray = _fit(gray, 2400)  # enough detail for the analysis, bounded work whatever the upload's size
    gray = flatten_light(gray)
    gray = deskew(gray)
    sample = _fit(gray, 1200)  # the text height is measured on a smaller copy: a quarter of the work
    height = text_height(remove_rules(_ink(sample), vertical_length=None)) * gray.width / sample.width
    scale = min(max(TARGET_TEXT_HEIGHT / height, 0.5), 3.0, MAX_PAGE_SIDE / max(gray.size)) if height else 1.0
    if abs(scale - 1.0) > 0.1:
        gray = gray.resize((round(gray.width * scale), round(gray.height * scale)), Image.Resampling.LANCZOS)
        height = round(height * scale)
    ink = _ink(gray)
    cleaned = remove_rules(ink, vertical_length=max(round(1.5 * (height or TARGET_TEXT_HEIGHT)), 12))
    pixels = np.asarray(gray, dtype=np.uint8).copy()
    pixels[_rules_mask(ink, cleaned)] = 255
    return Image.fromarray(pixels)


def _fit(image: Image.Image, longest: int) -> Image.Image:
    if max(image.size) <= longest:
        return image
    scale = longest / max(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)


def flatten_light(gray: Image.Image) -> Image.Image:
    """Divide by the paper's brightness: text stays dark, a shadow or a shaded cell becomes white paper."""
    small = gray.resize((max(gray.width // PAPER_SCALE, 1), max(gray.height // PAPER_SCALE, 1)), Image.Resampling.BOX)
    paper = small.filter(ImageFilter.MaxFilter(PAPER_WINDOW)).filter(ImageFilter.GaussianBlur(PAPER_WINDOW / 2))
    paper = paper.resize(gray.size, Image.Resampling.BILINEAR)
    values = np.asarray(gray, dtype=np.float32) / np.maximum(np.asarray(paper, dtype=np.float32), 1.0)
    return Image.fromarray(np.clip(values * 255.0, 0, 255).astype(np.uint8))


def _ink(gray: Image.Image) -> np.ndarray:
    """Dark pixels (True) by Otsu's threshold."""
    pixels = np.asarray(gray, dtype=np.uint8)
    histogram = np.bincount(pixels.ravel(), minlength=256).astype(np.float64)
    weights = np.cumsum(histogram)
    means = np.cumsum(histogram * np.arange(256))
    total, total_mean = weights[-1], means[-1]
    between = (total_mean * weights - means * total) ** 2 / np.maximum(weights * (total - weights), 1e-9)
    threshold = int(np.argmax(between[:255]))
    return pixels <= min(threshold, 200)


def deskew(gray: Image.Image) -> Image.Image:
    """Straighten a tilted photo: the angle at which the rows of ink are sharpest (a projection search)."""
    small = _fit(gray, 900)
    ink = Image.fromarray((_ink(small) * 255).astype(np.uint8))

    def sharpness(angle: float) -> float:
        turned = np.asarray(ink.rotate(angle, resample=Image.Resampling.NEAREST), dtype=np.float32)
        rows = turned.sum(axis=1)
        return float(np.sum(np.diff(rows) ** 2))

    coarse = np.arange(-MAX_TILT_DEGREES, MAX_TILT_DEGREES + 0.01, 0.5)
    best = max(coarse, key=sharpness)
    best = max(np.arange(best - 0.4, best + 0.41, 0.1), key=sharpness)
    if abs(best) < 0.1:
        return gray
    return gray.rotate(float(best), resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)


def _runs(mask: np.ndarray, length: int, axis: int, holes: bool = True) -> np.ndarray:
    """Pixels of `mask` on straight runs at least `length` long along `axis` (a morphological opening).

    With `holes` a run may have a few (a blurred, noisy photo of a rule): 90 % of the window inked is enough.
    """
    if length <= 1 or mask.shape[axis] < length:
        return np.zeros_like(mask)
    rows = np.ascontiguousarray(mask if axis == 1 else mask.T)  # runs along contiguous rows: 5× faster
    sums = np.zeros((rows.shape[0], rows.shape[1] + 1), dtype=np.int32)
    np.cumsum(rows, axis=1, out=sums[:, 1:])
    full = (sums[:, length:] - sums[:, :-length]) >= (0.9 if holes else 1.0) * length  # erosion, nearly
    marks = np.zeros_like(sums)
    marks[:, : full.shape[1]] += full
    marks[:, length : length + full.shape[1]] -= full
    covered = (np.cumsum(marks[:, :-1], axis=1) > 0) & rows  # dilation back over each window, on the ink
    return covered if axis == 1 else covered.T


def remove_rules(ink: np.ndarray, vertical_length: int | None) -> np.ndarray:
    """Ink without horizontal rules (and vertical ones, once the text height says how long a rule must be).

    A rule is a long run of ink that is also thin: in a blurred photo a row of bold characters runs together
    into a long bar too, but one as thick as the characters are tall.
    """
    thickness = max(4, max(ink.shape) // 250)
    horizontal = _thin(_runs(ink, max(ink.shape[1] // 8, 40), axis=1), thickness, axis=0)
    cleaned = ink & ~_grow(horizontal)
    if vertical_length:
        cleaned &= ~_grow(_thin(_runs(cleaned, vertical_length, axis=0), thickness, axis=1))
    return cleaned


def _thin(mask: np.ndarray, thickness: int, axis: int) -> np.ndarray:
    """The parts of `mask` at most `thickness` pixels across along `axis`."""
    return mask & ~_runs(mask, thickness + 1, axis=axis, holes=False)


def _grow(mask: np.ndarray) -> np.ndarray:
    """A rule's antialiased fringe: one pixel around it."""
    grown = mask.copy()
    grown[1:, :] |= mask[:-1, :]
    grown[:-1, :] |= mask[1:, :]
    grown[:, 1:] |= mask[:, :-1]
    grown[:, :-1] |= mask[:, 1:]
    return grown


def _rules_mask(ink: np.ndarray, cleaned: np.ndarray) -> np.ndarray:
    """The pixels the rule removal took away, widened to their fringe, to paint white in the gray image."""
    return _grow(ink & ~cleaned)


def text_height(ink: np.ndarray) -> int:
    """The usual height of a line of text (pixels): the median band of inked rows in the row projection.

    Columns inked over much of the page are vertical rules, which would join all the rows of a table into one
    band: they are left out of the projection.
    """
    columns = ink.mean(axis=0)
    rows = ink[:, columns < 0.35].sum(axis=1)
    if not rows.any():
        return 0
    inked = rows > 0.15 * np.percentile(rows[rows > 0], 90)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], inked.astype(np.int8), [0]))))
    heights = [int(end - start) for start, end in zip(edges[::2], edges[1::2]) if end - start >= 4]
    return int(median(heights)) if heights else 0


# -------------------------------------------------------------------------------------------------- OCR


def ocr_words(page: Image.Image, segmentation: str = PAGE_SEGMENTATION) -> list[_Word]:
    """Tesseract's words with their boxes."""
    return parse_tsv(_tesseract(page, ["-l", LANGUAGES, "--psm", segmentation, "-c", "preserve_interword_spaces=1",
                                       "tsv"]))


def orientation(page: Image.Image) -> int:
    """Degrees clockwise the page must turn to stand upright (0, 90, 180, 270), by Tesseract's orientation
    detection on the prepared page (even light, no rules: it is far surer there than on the photo)."""
    try:
        report = _tesseract(_fit(page, 2000), ["--psm", "0", "-l", "osd"])
    except OcrUnavailable:  # "too few characters": nothing to tell
        return 0
    turn = re.search(r"Rotate:\s*(\d+)", report)
    return int(turn.group(1)) % 360 if turn else 0


def _tesseract(image: Image.Image, arguments: list[str]) -> str:
    """Run tesseract on the image: it goes in on stdin as PNG and the result comes back on stdout (no file)."""
    binary = shutil.which("tesseract")
    if binary is None:
        raise OcrUnavailable("tesseract is not installed: run scripts/ensure_tesseract.sh")
    png = io.BytesIO()
    image.save(png, "PNG", compress_level=1)
    # One thread: Tesseract's OpenMP threads spin and make a single page 3-4× slower on a 2-core machine.
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        done = subprocess.run([binary, "stdin", "stdout", "--dpi", "300", *arguments], input=png.getvalue(),
                              capture_output=True, env=env, timeout=OCR_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired as error:
        raise OcrUnavailable("tesseract took too long") from error
    if done.returncode != 0:
        raise OcrUnavailable(f"tesseract failed: {done.stderr.decode(errors='replace').strip()[:300]}")
    return done.stdout.decode("utf-8", errors="replace")


def parse_tsv(tsv: str) -> list[_Word]:
    """The word rows (level 5) of Tesseract's TSV output, without empty words."""
    words = []
    for line in tsv.splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) < 12 or parts[0] != "5" or not parts[11].strip():
            continue
        left, top, width, height = (int(parts[i]) for i in (6, 7, 8, 9))
        words.append(_Word(parts[11].strip(), left, top, width, height, max(float(parts[10]), 0.0) / 100))
    return words


# ---------------------------------------------------------------------------------------- cells and rows


def cells_from_words(words: list[_Word]) -> list[Cell]:
    """Words on one row whose gaps are less than about a character make one cell; a wider gap starts the next."""
    cells: list[Cell] = []
    words = [word for word in words if _NOISE.sub("", word.text)]  # a rule's remains read as "|" or "!"
    for row in _rows(words):
        row.sort(key=lambda word: word.left)
        height = median(word.height for word in row)
        current = [row[0]]
        for word in row[1:]:
            gap = word.left - (current[-1].left + current[-1].width)
            if gap > 0.9 * height:
                cells.append(_cell(current))
                current = []
            current.append(word)
        cells.append(_cell(current))
    return cells


def _rows(words: list[_Word]) -> list[list[_Word]]:
    """Words grouped by the row they sit on (their vertical middles within half a character of each other)."""
    rows: list[list[_Word]] = []
    middles: list[float] = []
    for word in sorted(words, key=lambda w: w.top + w.height / 2):
        middle = word.top + word.height / 2
        if rows and abs(middle - middles[-1]) < 0.45 * max(word.height, median(w.height for w in rows[-1])):
            rows[-1].append(word)
            middles[-1] = median(w.top + w.height / 2 for w in rows[-1])
        else:
            rows.append([word])
            middles.append(middle)
    return rows


def _cell(words: list[_Word]) -> Cell:
    return Cell(
        text="".join(word.text for word in words),
        left=min(w.left for w in words),
        top=min(w.top for w in words),
        right=max(w.left + w.width for w in words),
        bottom=max(w.top + w.height for w in words),
        confidence=sum(w.confidence for w in words) / len(words),
    )


# ------------------------------------------------------------------------------------------------ labels


_NOISE = re.compile(r"[\s|｜!¦:：;・･.,、。「」『』【】\[\]()（）<>＜＞_\-ー—―~〜*＊※]+")
_NUMBER_TAIL = re.compile(r"[¥\\￥]?[\d][\d,.:]*\s*(円|時間|日|h|H)?$")


def normalise(text: str) -> str:
    """NFKC (full-width digits become 0-9, half-width kana become kana) and no spaces."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def label_part(text: str) -> str:
    """A cell's letters without its number (a label and its value can land in one cell) and without noise."""
    text = normalise(text)
    match = re.search(r"[¥\\]?\d", text)
    if match and match.start() > 0:
        text = text[: match.start()]
    return _NOISE.sub("", re.sub(r"\d", "", text))


#: characters Tesseract's Japanese model reads in place of a label's character (寮費 as 察質, 総支給額 as 総支給客),
#: by the label character; one that is itself in a label is left out, so a correct reading is never changed
_MISREAD = {"寮": "察衰僚療賽寛穴", "費": "質賀貴資", "額": "客導拓頷類", "勤": "動", "控": "拉挫", "基": "革",
            "諸": "譜", "支": "文", "労": "久"}
_LABEL_CHARACTERS = {character for item in ITEMS for label in item.labels for character in label}
_CORRECTIONS = str.maketrans({wrong: right for right, wrongs in _MISREAD.items() for wrong in wrongs
                              if wrong not in _LABEL_CHARACTERS})


def label_score(seen: str, item: Item) -> float:
    """How well the letters seen match the item's best label: 0..1, ordered character overlap."""
    if not seen:
        return 0.0
    seen = seen.translate(_CORRECTIONS)
    return max(SequenceMatcher(None, seen, label, autojunk=False).ratio() for label in item.labels)


# ------------------------------------------------------------------------------------------------ values

_OCR_DIGITS = str.maketrans({"O": "0", "o": "0", "〇": "0", "D": "0", "l": "1", "I": "1", "i": "1", "S": "5",
                             "s": "5", "B": "8", "Z": "2", "z": "2"})


def value_part(text: str) -> str | None:
    """The number at the end of a cell ("¥180,000", "180,000円", "12:30"), its marks removed; None without one."""
    text = normalise(text).strip("|!¦[]()")
    # the unit after the number (円, 時間, 日), or what a blurred 円 was read as (幅, 門, 丹, F)
    text = re.sub(r"(時間|[^\dOolISBZ,.:]{1,2})$", "", text)
    text = re.sub(r"^[¥\\￥Y]", "", text)
    tail = re.search(r"[\dOolISB][\dOolISBZ,.:]*$", text)
    if not tail:
        return None
    number = re.sub(r"([,.]){2,}", r"\1", tail.group(0).translate(_OCR_DIGITS))  # "18,.999": one separator
    return number if re.fullmatch(r"\d[\d,.:]*", number) and any(c.isdigit() for c in number) else None


def parse_amount(number: str) -> Decimal | None:
    """Yen: "180,000" or "180.000" (a comma read as a dot) or "180000"; whole yen only."""
    if re.fullmatch(r"\d{1,3}([,.]\d{3})+", number) or re.fullmatch(r"\d+", number):
        return Decimal(re.sub(r"[,.]", "", number))
    return None


def parse_count(number: str) -> Decimal | None:
    """Hours or days: "160", "160.0", "160.50", or clock time "160:30" (= 160.5 hours)."""
    clock = re.fullmatch(r"(\d{1,3}):(\d{2})", number)
    if clock:
        minutes = int(clock.group(2))
        return Decimal(clock.group(1)) + Decimal(minutes) / 60 if minutes < 60 else None
    if re.fullmatch(r"\d{1,3}([.,]\d{1,2})?", number):
        return Decimal(number.replace(",", "."))
    return None


def parse_value(item: Item, text: str) -> Decimal | None:
    """The cell's number as this item's kind of value, or None when it does not look like one."""
    number = value_part(text)
    if number is None:
        return None
    value = parse_count(number) if item.kind is ItemKind.count else parse_amount(number)
    return value if value is not None and plausible(item, value) else None


def plausible(item: Item, value: Decimal) -> bool:
    """Whether a payslip could print this: a month has at most 31 days and 744 hours; an amount is 0 or at least
    ¥10 (a lone "1" is a table rule or a stray mark read as a digit) and below ¥10,000,000."""
    if item.kind is ItemKind.count:
        return value <= (31 if item.key == "days_worked" else 744)
    return value == 0 or 10 <= value < 10_000_000


def is_value_cell(cell: Cell) -> bool:
    """A cell that is a number and nothing else (no label letters before it)."""
    return value_part(cell.text) is not None and len(label_part(cell.text)) <= 1


# ------------------------------------------------------------------------------------------------ layout


@dataclass(frozen=True)
class _Candidate:
    score: float
    item: Item
    label_cell: int
    value_cell: int | None  # None: the number is in the label's own cell
    value: Decimal
    confidence: float


def find_items(cells: list[Cell]) -> dict[str, ItemReading]:
    """Each item's best label cell with a number next to it; a cell and a number serve one item only."""
    candidates: list[_Candidate] = []
    for index, cell in enumerate(cells):
        seen = label_part(cell.text)
        if len(seen) < 2:  # the shortest labels (寮費, 家賃, 罰金) have two characters
            continue
        for item in ITEMS:
            score = label_score(seen, item)
            if score < MIN_LABEL_SCORE:
                continue
            candidate = _candidate(cells, index, item, score)
            if candidate:
                candidates.append(candidate)
    used_cells: set[int] = set()
    found: dict[str, ItemReading] = {}
    for candidate in sorted(candidates, key=lambda c: -c.score):
        value_index = candidate.value_cell if candidate.value_cell is not None else candidate.label_cell
        if candidate.item.key in found or candidate.label_cell in used_cells or value_index in used_cells:
            continue
        used_cells.update({candidate.label_cell, value_index})
        found[candidate.item.key] = ItemReading(
            candidate.item.key, candidate.value, label_part(cells[candidate.label_cell].text), candidate.confidence
        )
    return found


def _candidate(cells: list[Cell], index: int, item: Item, score: float) -> _Candidate | None:
    """The label cell's number: in the cell itself, else in the next cell right of it, else in the cell below."""
    cell = cells[index]
    own = parse_value(item, cell.text) if _NUMBER_TAIL.search(normalise(cell.text)) else None
    if own is not None:
        return _Candidate(score, item, index, None, own, score * cell.confidence)
    for neighbour in (_right_of(cells, index), _below(cells, index)):
        if neighbour is None or not is_value_cell(cells[neighbour]):
            continue
        value = parse_value(item, cells[neighbour].text)
        if value is not None:
            confidence = score * (cell.confidence + cells[neighbour].confidence) / 2
            return _Candidate(score, item, index, neighbour, value, confidence)
    return None


def _right_of(cells: list[Cell], index: int) -> int | None:
    """The nearest cell on the same row to the right of this one."""
    cell = cells[index]
    row = [
        i for i, other in enumerate(cells)
        if i != index and other.left >= cell.right - cell.height * 0.3
        and abs(other.middle - cell.middle) < 0.6 * max(cell.height, other.height)
    ]
    return min(row, key=lambda i: cells[i].left, default=None)


def _below(cells: list[Cell], index: int) -> int | None:
    """The nearest cell under this one within its column (the span up to halfway to the next cells of its row)."""
    cell = cells[index]
    same_row = [
        other for i, other in enumerate(cells)
        if i != index and abs(other.middle - cell.middle) < 0.6 * max(cell.height, other.height)
    ]
    reach = max(4 * cell.height, cell.right - cell.left)
    left_edge = max([(o.center + cell.center) / 2 for o in same_row if o.center < cell.center],
                    default=cell.center - reach)
    right_edge = min([(o.center + cell.center) / 2 for o in same_row if o.center > cell.center],
                     default=cell.center + reach)
    column = [
        i for i, other in enumerate(cells)
        if i != index and other.top >= cell.bottom - cell.height * 0.3 and other.top - cell.bottom < 3 * cell.height
        and left_edge <= other.center <= right_edge
    ]
    return min(column, key=lambda i: cells[i].top, default=None)


# ------------------------------------------------------------------------------------------- second look


def reread_doubtful(page: Image.Image, cells: list[Cell]) -> list[Cell]:
    """Read again, alone and larger, the cells the payslip hangs on that the page pass read poorly.

    Those are cells next to a number whose letters match no label well (a small or blurred label: 寮費 read as
    人旨), and the numbers next to labels that Tesseract was unsure of. On its own, cut out of the page with a
    margin, a cell is read as one line and much better; a few such reads cost a fraction of the page pass.
    """
    doubtful = _doubtful(cells)
    if not doubtful:
        return cells
    better = list(cells)
    for scale in REREAD_SCALES:  # a blurred label may read right at one size and wrong at the other
        for index, new in zip(doubtful, _reread(page, [cells[i] for i in doubtful], scale)):
            if new is not None and _improves(better[index], new):
                better[index] = new
    return better


def _doubtful(cells: list[Cell]) -> list[int]:
    """The cells worth a second look, least confident first, at most MAX_REREADS."""
    doubtful: dict[int, float] = {}
    for index, cell in enumerate(cells):
        seen = label_part(cell.text)
        if is_value_cell(cell) or len(seen) < 2:
            continue
        numbers = [n for n in (_right_of(cells, index), _below(cells, index))
                   if n is not None and is_value_cell(cells[n])]
        if not numbers:
            continue
        if _best_label_score(seen) < REREAD_BELOW_LABEL_SCORE or cell.confidence < REREAD_BELOW_CONFIDENCE:
            doubtful[index] = cell.confidence
        for number in numbers:
            if cells[number].confidence < REREAD_BELOW_CONFIDENCE:
                doubtful[number] = cells[number].confidence
    return sorted(doubtful, key=doubtful.__getitem__)[:MAX_REREADS]


def _best_label_score(seen: str) -> float:
    return max(label_score(seen, item) for item in ITEMS)


def _reread(page: Image.Image, cells: list[Cell], scale: float) -> list[Cell | None]:
    """The cells cut out with a margin, enlarged and stacked one under the other, read in one Tesseract run
    (starting Tesseract costs more than reading a line); each line read goes back to the cell it was cut from."""
    crops = []
    for cell in cells:
        margin = max(round(cell.height * 0.4), 4)
        crop = page.crop((max(cell.left - margin, 0), max(cell.top - margin, 0),
                          min(cell.right + margin, page.width), min(cell.bottom + margin, page.height)))
        crops.append(crop.resize((round(crop.width * scale), round(crop.height * scale)), Image.Resampling.LANCZOS))
    gap = max(crop.height for crop in crops)
    sheet = Image.new("L", (max(c.width for c in crops) + 2 * gap, sum(c.height + gap for c in crops) + gap), 255)
    spans, top = [], gap
    for crop in crops:
        sheet.paste(crop, (gap, top))
        spans.append((top, top + crop.height))
        top += crop.height + gap
    words = [word for word in ocr_words(sheet, REREAD_SEGMENTATION) if _NOISE.sub("", word.text)]
    rereads: list[Cell | None] = []
    for cell, (start, end) in zip(cells, spans):
        mine = sorted((w for w in words if start <= w.top + w.height / 2 < end), key=lambda w: w.left)
        rereads.append(Cell("".join(w.text for w in mine), cell.left, cell.top, cell.right, cell.bottom,
                            sum(w.confidence for w in mine) / len(mine)) if mine else None)
    return rereads


def _improves(old: Cell, new: Cell) -> bool:
    """A label read again is better if it matches a label better; a number, if it is one and surer."""
    if is_value_cell(old):
        return is_value_cell(new) and new.confidence > old.confidence
    return _best_label_score(label_part(new.text)) > _best_label_score(label_part(old.text))


# ----------------------------------------------------------------------------------------------- checking

EARNING_KEYS = tuple(item.key for item in ITEMS if item.kind is ItemKind.earning)
DEDUCTION_KEYS = tuple(item.key for item in ITEMS if item.kind is ItemKind.deduction)


def cross_check(found: dict[str, ItemReading]) -> Reading:
    """Numbers that add up (earnings to gross, deductions to their total, gross - deductions to net) are surer."""
    sure: set[str] = set()
    values = {key: reading.value for key, reading in found.items()}
    if {"gross_pay", "total_deductions", "net_pay"} <= values.keys():
        if values["gross_pay"] - values["total_deductions"] == values["net_pay"]:
            sure |= {"gross_pay", "total_deductions", "net_pay"}
    for keys, total in ((EARNING_KEYS, "gross_pay"), (DEDUCTION_KEYS, "total_deductions")):
        parts = [key for key in keys if key in values]
        if total in values and parts and sum(values[key] for key in parts) == values[total]:
            sure |= {total, *parts}
    items = {
        key: ItemReading(r.key, r.value, r.label_seen, max(r.confidence, 0.95) if key in sure else r.confidence)
        for key, r in found.items()
    }
    return Reading(items, tuple(item.key for item in ITEMS if item.key not in items))
