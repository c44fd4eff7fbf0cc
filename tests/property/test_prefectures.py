"""Properties of the prefecture resolver: every known spelling of every prefecture, however it is cased,
accented, suffixed or wrapped, resolves to that prefecture; any text is safe; resolving is idempotent."""

from __future__ import annotations

import unicodedata

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knowledge import prefectures

PROPERTY = settings(max_examples=200, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ROWS = yaml.safe_load(prefectures.DATA_FILE.read_text(encoding="utf-8"))
ROW = st.sampled_from(ROWS)

MACRONS = {"o": ["o", "ō", "ô", "ou", "oo"], "u": ["u", "ū", "û", "uu"]}


def latin_names(row) -> list[str]:
    return [row["name"], *row.get("romaji", []), *row.get("extra", [])]


def script_names(row) -> list[str]:
    names = [row["kanji"], row["short_kanji"], row["kana"], row["short_kana"], row["katakana"]]
    if row["short_kanji"] != row["kanji"]:
        names.append(row["short_kanji"] + row["kanji"][-1])  # 愛知 + 県
    return names


@st.composite
def cased(draw, text: str) -> str:
    return "".join(c.upper() if draw(st.booleans()) else c.lower() for c in text)


@st.composite
def written_latin(draw) -> tuple[str, str]:
    """A romaji name in any case, with its suffix written -ken / " ken" / "ken" / " Prefecture", or none."""
    row = draw(ROW)
    name = draw(cased(draw(st.sampled_from(latin_names(row)))))
    suffix = draw(st.sampled_from(["", f"-{row['suffix']}", f" {row['suffix']}", row["suffix"], "-ken", " ken",
                                   " Prefecture", " prefecture", " pref", "-Ken"]))
    return name + draw(cased(suffix)), row["name"]


@st.composite
def written_script(draw) -> tuple[str, str]:
    row = draw(ROW)
    name = draw(st.sampled_from(script_names(row)))
    if draw(st.booleans()):  # the long-vowel mark trainees type in katakana: トウキョウ → トーキョー
        name = name.replace("ウ", "ー").replace("オオ", "オー") if name == row["katakana"] else name
    return name, row["name"]


#: How the five languages put a prefecture in a short answer ("tỉnh Aichi", "di Gifu", "sa Tokyo"…).
AROUND = ["{}", "  {}  ", "{}!", "{}?", "{}.", "tỉnh {}", "Tỉnh {}", "tinh {}", "ở {}", "tại {}", "thành phố {}",
          "Prefektur {}", "provinsi {}", "di {}", "kota {}", "lalawigan ng {}", "probinsya ng {}", "sa {}",
          "in {}", "at {}", "Prefecture of {}", "{}\u3000", "\u3000{}"]


@PROPERTY
@given(st.one_of(written_latin(), written_script()), st.sampled_from(AROUND))
def test_every_spelling_resolves_to_its_prefecture(written, around):
    text, name = written
    if not text.isascii() and around.strip("{} \u3000!?.") and not around.startswith("{}"):
        around = "{}"  # Japanese script stands alone (a Latin prefix word before kanji is not a way anyone writes)
    assert prefectures.resolve(around.format(text)) == name, around.format(text)


@PROPERTY
@given(st.one_of(written_latin(), written_script()), st.booleans())
def test_full_width_latin_and_half_width_kana_resolve_too(written, compat):
    """Full-width Latin (ｇｉｆｕ, what Japanese keyboards produce) → the same prefecture."""
    text, name = written
    wide = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text) if compat else text
    assert prefectures.resolve(wide) == name


SENTENCES = ["lương tối thiểu ở {} bao nhiêu", "gaji minimum di {} berapa", "magkano ang minimum sa {}",
             "{}の最低賃金はいくらですか", "what is the minimum wage in {}", "I work in {} now"]


@PROPERTY
@given(ROW, st.sampled_from(SENTENCES))
def test_find_in_text_finds_the_prefecture_in_a_sentence(row, sentence):
    for written in (row["name"], row["kanji"], row["short_kanji"]):
        message = sentence.format(written)
        assert prefectures.find_in_text(message) == row["name"], message


TRICKY = st.sampled_from(["😀", "\u200b", "\u200d", "\ufeff", "\u202e", "\x00", "\r\n", "\u0301", "ー", "県", "府",
                          "都", "道", "ken", "tỉnh ", "di ", "lalawigan ng ", " ", "-", "東京", "aichi", "ｱ"])
ANY_TEXT = st.lists(st.one_of(st.text(max_size=30), TRICKY), max_size=30).map("".join)


@st.composite
def long_text(draw) -> str:
    piece = draw(ANY_TEXT.filter(bool))
    return (piece * (10_000 // len(piece) + 1))[:10_000]


CANONICAL = set(prefectures.names())


@PROPERTY
@given(st.one_of(ANY_TEXT, long_text()))
def test_any_text_resolves_to_a_prefecture_or_none(text):
    assert prefectures.resolve(text) in CANONICAL | {None}
    assert prefectures.find_in_text(text) in CANONICAL | {None}


@PROPERTY
@given(st.one_of(ANY_TEXT, written_latin().map(lambda w: w[0]), written_script().map(lambda w: w[0])))
def test_resolving_is_idempotent(text):
    found = prefectures.resolve(text)
    if found is not None:
        assert prefectures.resolve(found) == found
        assert prefectures.resolve(prefectures.display_name(found, "ja")) == found
        assert prefectures.resolve(unicodedata.normalize("NFKC", text)) == found


def test_every_canonical_name_resolves_to_itself():
    for prefecture in prefectures.all_prefectures():
        for written in (prefecture.name, prefecture.kanji, prefecture.short_kanji):
            assert prefectures.resolve(written) == prefecture.name


def test_romaji_written_against_japanese_script_is_found():
    """Found by the properties: "Aichiの最低賃金" was one word to the Latin search."""
    assert prefectures.find_in_text("Aichiの最低賃金はいくらですか") == "Aichi"
    assert prefectures.find_in_text("Hokkaidoで働いています") == "Hokkaido"
