"""Translations (gettext catalogs under locales/) and locale-aware formatting of numbers, yen and dates.

Messages are written `_("Hello, {name}!")` in English and looked up per language; compiled
catalogs (`.mo`) are built by `make locales` from the `.po` files.
"""

from __future__ import annotations

import datetime as dt
import functools
import gettext
from decimal import Decimal
from pathlib import Path

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal

from knowledge.intents import LANGUAGES

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"
DEFAULT_LANGUAGE = "en"

#: Babel/CLDR names of our languages (Tagalog is Filipino in CLDR).
BABEL_LOCALE = {"vi": "vi", "id": "id", "tl": "fil", "ja": "ja", "en": "en"}

_ALIASES = {"fil": "tl", "in": "id", "tgl": "tl", "vie": "vi", "ind": "id", "jpn": "ja", "eng": "en"}


class CatalogMissing(RuntimeError):
    """A language's .po file was never compiled (run `make locales`)."""


def normalise_language(code: str | None) -> str | None:
    """Map a client language code (`vi-VN`, `fil_PH`, `tl`, `in`, `ja-JP`) to one of ours, or None."""
    if not code:
        return None
    base = code.replace("_", "-").split("-")[0].strip().lower()
    base = _ALIASES.get(base, base)
    return base if base in LANGUAGES else None


@functools.lru_cache(maxsize=None)
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalog of a language (English is the source language)."""
    if lang == DEFAULT_LANGUAGE:
        return gettext.NullTranslations()
    mo = LOCALES_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
    if not mo.exists():
        raise CatalogMissing(f"{mo} not found: run `make locales` to compile the catalogs")
    with mo.open("rb") as fh:
        return gettext.GNUTranslations(fh)


def gettext_for(lang: str, message: str) -> str:
    return translations(lang if lang in LANGUAGES else DEFAULT_LANGUAGE).gettext(message)


def _(message: str) -> str:
    """Mark a message for extraction; the engine translates it per user with `t()`."""
    return message


def t(lang: str, message: str, **values: object) -> str:
    """Translate `message` into `lang` and fill in `{placeholders}`."""
    text = gettext_for(lang, message)
    return text.format(**values) if values else text


@functools.lru_cache(maxsize=None)
def babel_locale(lang: str) -> Locale:
    """The CLDR locale of a language (parsed once per process)."""
    return Locale.parse(BABEL_LOCALE.get(lang, DEFAULT_LANGUAGE))


#: How each language writes an amount of yen, as the knowledge entries do: ¥1,226 / 1.226 yên / ¥1.226 / 1,226円.
YEN_PATTERN = {"vi": "{} yên", "ja": "{}円"}


def yen(amount: int | Decimal, lang: str, *, decimals: bool = False) -> str:
    """An amount of yen in the language's own form (grouping and decimal marks of its locale)."""
    value = Decimal(amount)
    if not decimals:
        value = value.quantize(Decimal("1"))
    digits = format_decimal(value, format="#,##0.00" if decimals else "#,##0", locale=babel_locale(lang))
    return YEN_PATTERN.get(lang, "¥{}").format(digits)


def number(value: int | float | Decimal, lang: str) -> str:
    """A number in the language's own form: 173.8 in English, 173,8 in Vietnamese and Indonesian."""
    return format_decimal(value, locale=babel_locale(lang))


def date(value: dt.date, lang: str) -> str:
    return format_date(value, format=DATE_FORMATS.get(lang, "long"), locale=babel_locale(lang))


#: Dates as each language writes them: "18 October 2025", "18/10/2025" (Vietnamese), "2025年10月18日".
DATE_FORMATS = {"en": "d MMMM y", "vi": "d/M/y"}
