"""Japan's 47 prefectures and every way trainees write them.

One function, :func:`resolve`, turns any spelling (kanji, kana, romaji with or without
-ken/-fu/-to, long vowels, Vietnamese/Indonesian/Tagalog prefixes) into the canonical
English name. :func:`find_in_text` finds one inside a longer message.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml

DATA_FILE = Path(__file__).parent / "data" / "prefectures.yaml"

# Words around a prefecture name in the five languages (already normalised: no accents, lowercase).
_PREFIXES = (
    "prefecture of", "prefektur", "provinsi", "prefecture", "province", "tinh", "thanh pho",
    "lalawigan ng", "probinsya ng", "probinsiya ng", "prepektura ng", "prefektura ng", "ken",
    "di", "in", "sa", "o", "at", "kota", "tai",
)
_SUFFIXES = (
    "prefecture", "province", "ken", "fu", "to", "do", "ke", "pref", "prefektur",
)
_KANJI_SUFFIXES = ("都", "道", "府", "県")
_KANA_SUFFIXES = ("けん", "ふ", "と", "ケン", "フ", "ト")


@dataclass(frozen=True)
class Prefecture:
    name: str
    code: int
    kanji: str
    short_kanji: str


def strip_accents(text: str) -> str:
    """Remove diacritics (Vietnamese tones, macrons); đ becomes d."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _collapse_long_vowels(text: str) -> str:
    text = re.sub(r"ou|oo|oh(?=[^aeiou]|$)", "o", text)
    return text.replace("uu", "u")


def _latin_key(text: str) -> str:
    text = strip_accents(unicodedata.normalize("NFKC", text)).lower()
    text = re.sub(r"[\s\-_.'’]+", "", text)
    return _collapse_long_vowels(text)


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).strip()
    text = strip_accents(text).lower()
    return re.sub(r"[\s\-_.,'’!?]+", " ", text).strip()


@functools.lru_cache(maxsize=1)
def _load() -> tuple[tuple[Prefecture, ...], dict[str, str]]:
    rows = yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))
    prefectures: list[Prefecture] = []
    aliases: dict[str, str] = {}
    for row in rows:
        name = row["name"]
        prefectures.append(Prefecture(name, int(row["code"]), row["kanji"], row["short_kanji"]))
        latin = {name, *row.get("romaji", []), *row.get("extra", [])}
        suffix = row.get("suffix", "ken")
        for base in latin:
            key = _latin_key(base)
            for variant in (key, key + suffix, key + "ken", key + "prefecture"):
                aliases.setdefault(variant, name)
        for script in ("kanji", "short_kanji", "kana", "short_kana", "katakana"):
            value = row.get(script)
            if value:
                aliases.setdefault(unicodedata.normalize("NFKC", value), name)
        short_kana = row.get("short_kana")
        if short_kana:
            for kana_suffix in ("けん", "ふ", "と", "どう"):
                aliases.setdefault(short_kana + kana_suffix, name)
        katakana = row.get("katakana")
        if katakana:
            aliases.setdefault(katakana + "ケン", name)
        aliases.setdefault(row["short_kanji"] + "県", name)
    return tuple(prefectures), aliases


def all_prefectures() -> tuple[Prefecture, ...]:
    """The 47 prefectures in JIS code order."""
    return tuple(sorted(_load()[0], key=lambda p: p.code))


def display_name(name: str, lang: str) -> str:
    """A prefecture as a trainee of `lang` writes it: 愛知県 in Japanese, Aichi otherwise."""
    if lang == "ja":
        for prefecture in all_prefectures():
            if prefecture.name == name:
                return prefecture.kanji
    return name


def names() -> list[str]:
    return [p.name for p in all_prefectures()]


def aliases() -> dict[str, str]:
    """Every known spelling (normalised) mapped to its canonical name."""
    return dict(_load()[1])


def resolve(text: str | None) -> str | None:
    """The canonical English name of the prefecture `text` names, or None."""
    if not text or len(text) > 80:
        return None
    table = _load()[1]
    raw = unicodedata.normalize("NFKC", text).strip()
    for candidate in _kana_variants(raw):
        if candidate in table:
            return table[candidate]
        for suffix in ("県", "府", "都"):
            if candidate.endswith(suffix) and candidate[: -len(suffix)] in table:
                return table[candidate[: -len(suffix)]]
    words = _normalise(text).split()
    # Drop leading prefix words ("tinh", "prefektur", "lalawigan ng"...) and trailing suffix words.
    for _ in range(3):
        joined = " ".join(words)
        for prefix in _PREFIXES:
            if joined.startswith(prefix + " ") and len(joined) > len(prefix) + 1:
                words = joined[len(prefix) + 1 :].split()
                break
        else:
            break
    while len(words) > 1 and words[-1] in _SUFFIXES:
        words = words[:-1]
    key = _latin_key("".join(words))
    return table.get(key)


def _kana_variants(raw: str) -> list[str]:
    """The text as written, plus the long-vowel mark ー spelled out (トーキョー → トウキョウ, オーサカ → オオサカ)."""
    if "ー" not in raw:
        return [raw]
    return [raw, raw.replace("ー", "ウ"), raw.replace("ー", "オ")]


_KANJI_RE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]+")


def find_in_text(text: str) -> str | None:
    """The first prefecture named anywhere in a message, or None."""
    if not text:
        return None
    table = _load()[1]
    normal = unicodedata.normalize("NFKC", text)
    # Japanese scripts: longest alias found as a substring.
    best: tuple[int, int, str] | None = None
    for run in _KANJI_RE.finditer(normal):
        chunk = run.group()
        for alias, name in table.items():
            if len(alias) >= 2 and not alias.isascii() and alias in chunk:
                candidate = (run.start() + chunk.index(alias), -len(alias), name)
                if best is None or candidate < best:
                    best = candidate
    if best is not None:
        return best[2]
    words = _normalise(_KANJI_RE.sub(" ", normal)).split()  # "Aichiの最低賃金": romaji ends where kana begins
    for size in (3, 2, 1):
        for i in range(len(words) - size + 1):
            name = table.get(_latin_key("".join(words[i : i + size])))
            if name and len(words[i + size - 1]) > 1:
                return name
    return None
