"""Every phrase the bot says is translated in every catalog, and numbers are formatted per locale."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot import i18n, messages
from knowledge.intents import LANGUAGES

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


def _catalog(lang):
    with (i18n.LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh)


def test_template_is_up_to_date(tmp_path):
    """messages.pot holds exactly the messages in the code."""
    out = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "_",
         "--no-location", "--sort-output", "-o", str(out), "."],
        cwd=ROOT, check=True, capture_output=True,
    )
    fresh = {m.id for m in read_po(out.open("rb")) if m.id}
    committed = {m.id for m in read_po((i18n.LOCALES_DIR / "messages.pot").open("rb")) if m.id}
    assert fresh == committed, "run: pybabel extract … && pybabel update … (see README)"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalog_complete_and_not_fuzzy(lang):
    template = {m.id for m in read_po((i18n.LOCALES_DIR / "messages.pot").open("rb")) if m.id}
    catalog = _catalog(lang)
    translated = {m.id: m for m in catalog if m.id}
    assert template <= set(translated), f"{lang}: missing {sorted(template - set(translated))[:3]}"
    for msgid in template:
        message = translated[msgid]
        assert message.string and message.string.strip(), f"{lang}: untranslated {msgid[:40]!r}"
        assert not message.fuzzy, f"{lang}: fuzzy {msgid[:40]!r}"
        assert set(PLACEHOLDER.findall(message.string)) == set(PLACEHOLDER.findall(msgid)), (lang, msgid[:40])


@pytest.mark.parametrize("lang", ["vi", "id", "tl", "ja"])
def test_catalogs_are_compiled_and_translate(lang):
    assert i18n.t(lang, messages.LANGUAGE_SET) != messages.LANGUAGE_SET
    assert i18n.t(lang, messages.MINIMUM_WAGE_RATE, prefecture="Aichi", amount="X", date="D").count("Aichi") == 1


@pytest.mark.parametrize(
    ("lang", "yen", "day"),
    [("en", "¥1,226", "3 October 2025"), ("ja", "1,226円", "2025年10月3日"), ("vi", "1.226 yên", "3/10/2025"),
     ("id", "¥1.226", "3 Oktober 2025"), ("tl", "¥1,226", "Oktubre 3, 2025")],
)
def test_yen_and_dates_formatted_per_locale(lang, yen, day):
    assert yen in i18n.yen(1226, lang).replace("\xa0", " ")
    assert i18n.date(dt.date(2025, 10, 3), lang) == day


@pytest.mark.parametrize(
    ("code", "lang"),
    [("vi-VN", "vi"), ("fil", "tl"), ("fil_PH", "tl"), ("tl", "tl"), ("in", "id"), ("id-ID", "id"),
     ("ja-JP", "ja"), ("en", "en"), ("fr", None), (None, None)],
)
def test_client_language_codes_are_normalised(code, lang):
    assert i18n.normalise_language(code) == lang


@pytest.mark.parametrize(("lang", "expected"), [("en", "173.8"), ("tl", "173.8"), ("vi", "173,8"), ("id", "173,8"),
                                                ("ja", "173.8")])
def test_decimals_in_each_locales_own_form(lang, expected):
    """"173.8 hours" would read as 1,738 to a Vietnamese or Indonesian reader."""
    from decimal import Decimal

    assert i18n.number(Decimal("173.8"), lang) == expected
