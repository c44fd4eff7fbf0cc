"""Which sources a trainee is shown, and how: official publishers (by the URL's host, data/publishers.yaml) first,
named in the trainee's language; other sources by their site name; dates as a year, or not at all."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

PUBLISHERS = Path(__file__).resolve().parent / "data" / "publishers.yaml"


@cache
def official_publishers() -> dict[str, dict[str, str]]:
    return yaml.safe_load(PUBLISHERS.read_text(encoding="utf-8"))


def official_host(source: dict[str, Any]) -> str | None:
    """The key of publishers.yaml the source's URL belongs to, or None for an unofficial source."""
    host = (urlparse(source.get("url") or "").hostname or "").lower()
    for key in official_publishers():
        if host == key or host.endswith("." + key):
            return key
    return None


def official_first(sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sources with the official ones first; otherwise in their own order."""
    return sorted(sources, key=lambda s: official_host(s) is None)


def label(source: dict[str, Any], lang: str) -> str:
    """The publisher as a trainee reads it: an official one in their language; another by its site name without
    the English notes in brackets; then the year it was seen, when known."""
    key = official_host(source)
    if key is not None:
        names = official_publishers()[key]
        name = names.get(lang) or names["en"]
    else:
        name = re.split(r"\s+[(/]", (source.get("publisher") or source.get("title") or "").strip())[0]
    year = re.match(r"\d{4}", str(source.get("date") or ""))
    if not (year and name) or key == "e-gov.go.jp":  # a law's text: the year it was read says nothing
        return name
    return f"{name}（{year.group(0)}年）" if lang == "ja" else f"{name}, {year.group(0)}"
