"""One function resolves every way trainees write a prefecture."""

from __future__ import annotations

import pytest
import yaml

from knowledge import prefectures

ROWS = yaml.safe_load(prefectures.DATA_FILE.read_text(encoding="utf-8"))


def test_all_47_prefectures_with_unique_codes():
    names = prefectures.names()
    assert len(names) == 47 == len(set(names))
    assert [p.code for p in prefectures.all_prefectures()] == list(range(1, 48))


@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_resolve_every_base_form_of_every_prefecture(row):
    name, suffix = row["name"], row["suffix"]
    written = [
        name, name.lower(), name.upper(), f"{name}-{suffix}", f"{name} {suffix}", f"{name}-ken",
        f"{name} Prefecture", f"tỉnh {name}", f"Tinh {name}", f"Prefektur {name}", f"provinsi {name}",
        f"{name} prefecture", row["kanji"], row["short_kanji"], row["kana"], row["short_kana"], row["katakana"],
        *row.get("romaji", []),
    ]
    for text in written:
        assert prefectures.resolve(text) == name, text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("愛知県", "Aichi"), ("愛知", "Aichi"), ("あいち", "Aichi"), ("あいちけん", "Aichi"), ("アイチ", "Aichi"),
        ("Tōkyō", "Tokyo"), ("Toukyou", "Tokyo"), ("tokyo-to", "Tokyo"), ("東京都", "Tokyo"), ("トーキョー", "Tokyo"),
        ("Oosaka", "Osaka"), ("Ōsaka-fu", "Osaka"), ("osaka fu", "Osaka"), ("大阪府", "Osaka"), ("オーサカ", "Osaka"),
        ("Hokkaidou", "Hokkaido"), ("Hokkaidō", "Hokkaido"), ("ほっかいどう", "Hokkaido"),
        ("Kyouto", "Kyoto"), ("kyoto-fu", "Kyoto"), ("Hyougo", "Hyogo"), ("Kouchi", "Kochi"), ("Ooita", "Oita"),
        ("Gumma", "Gunma"), ("tỉnh Aichi", "Aichi"), ("Prefektur Aichi", "Aichi"), ("aichi-ken", "Aichi"),
        ("AICHI KEN", "Aichi"), ("  gifu  ", "Gifu"), ("ｇｉｆｕ", "Gifu"), ("Ibaragi", "Ibaraki"),
        ("lalawigan ng Saitama", "Saitama"), ("di Fukuoka", "Fukuoka"), ("ở Hiroshima", "Hiroshima"),
    ],
)
def test_resolve_spellings_trainees_type(text, expected):
    assert prefectures.resolve(text) == expected


@pytest.mark.parametrize("text", ["", None, "Paris", "Hanoi", "Nagoya", "abc", "ken", "tỉnh", "x" * 500])
def test_resolve_unknown_gives_none(text):
    assert prefectures.resolve(text) is None


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("luong toi thieu o aichi bao nhieu", "Aichi"),
        ("愛知県の最低賃金はいくらですか", "Aichi"),
        ("gaji minimum di Prefektur Gifu berapa", "Gifu"),
        ("magkano minimum sa Tokyo-to", "Tokyo"),
        ("how much is minimum wage", None),
    ],
)
def test_find_prefecture_inside_a_message(message, expected):
    assert prefectures.find_in_text(message) == expected
