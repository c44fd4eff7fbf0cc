"""One term per concept in each language: the knowledge entries, the contacts and the bot's own messages use the
glossary's term (knowledge/data/glossary/<lang>.yaml) and none of the spellings it says to avoid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from babel.messages.pofile import read_po

from knowledge.intents import LANGUAGES

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "knowledge" / "data"


def glossary(lang: str) -> dict[str, dict]:
    return yaml.safe_load((DATA / "glossary" / f"{lang}.yaml").read_text(encoding="utf-8"))


def texts(lang: str) -> dict[str, str]:
    """Every text a trainee of `lang` can be shown, by where it comes from."""
    found = {}
    for path in sorted((DATA / "topics").glob("*.yaml")):
        entry = yaml.safe_load(path.read_text(encoding="utf-8"))["entries"][lang]
        for field in ("title", "answer", "more"):
            found[f"{path.stem}.{field}"] = entry.get(field) or ""
    for contact in yaml.safe_load((DATA / "contacts.yaml").read_text(encoding="utf-8")):
        found[f"contact {contact['key']}"] = " ".join(
            [contact["name"].get(lang, ""), contact["helps_with"].get(lang, "")]
            + [(phone.get("hours") or {}).get(lang, "") for phone in contact["phones"]])
    if lang != "en":
        with (ROOT / "locales" / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
            for message in read_po(fh):
                if message.id:
                    found[f"message {message.id[:40]!r}"] = message.string or ""
    return found


def occurs(term: str, text: str) -> bool:
    """Whole words for Latin scripts (case-insensitive), a plain substring for Japanese."""
    if re.search(r"[\u3040-\u9fff]", term):
        return term in text
    return re.search(rf"(?<!\w){re.escape(term)}(?!\w)", text, re.IGNORECASE) is not None


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_language_has_a_glossary_of_the_core_concepts(lang):
    terms = glossary(lang)
    assert {"labour_standards_office", "residence_card", "titp_act", "otit", "minimum_wage"} <= set(terms)
    for concept, row in terms.items():
        assert row.get("term"), (lang, concept)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_entries_contacts_and_messages_use_the_glossary_terms(lang):
    corpus = texts(lang)
    wrong = [(concept, avoid, where) for concept, row in glossary(lang).items()
             for avoid in row.get("avoid") or [] for where, text in corpus.items() if occurs(avoid, text)]
    assert not wrong, wrong[:10]
    unused = [concept for concept, row in glossary(lang).items()
              if not any(occurs(row["term"], text) for text in corpus.values())]
    assert not unused, f"{lang}: glossary terms used nowhere: {unused}"
