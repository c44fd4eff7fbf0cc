"""Danger words in the five languages (bot/data/danger_words.yaml): safety beats confidence thresholds."""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path

import yaml

DATA_FILE = Path(__file__).parent / "data" / "danger_words.yaml"
_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "").lower().replace("đ", "d")
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


@functools.lru_cache(maxsize=1)
def _patterns() -> tuple[re.Pattern, tuple[str, ...]]:
    doc = yaml.safe_load(DATA_FILE.read_text(encoding="utf-8")) or {}
    latin, japanese = set(), set()
    for phrases in doc.values():
        for phrase in phrases or []:
            norm = normalise(str(phrase))
            if not norm:
                continue
            (japanese if _JAPANESE.search(norm) else latin).add(norm)
    alternatives = "|".join(re.escape(p) for p in sorted(latin, key=len, reverse=True))
    pattern = re.compile(r"(?<!\w)(?:" + alternatives + r")(?!\w)") if latin else re.compile(r"(?!x)x")
    return pattern, tuple(sorted(japanese, key=len, reverse=True))


def is_danger(text: str | None) -> bool:
    """True when the message contains a danger phrase of any of the five languages."""
    if not text:
        return False
    norm = normalise(text)
    pattern, japanese = _patterns()
    return bool(pattern.search(norm)) or any(p in norm for p in japanese)
