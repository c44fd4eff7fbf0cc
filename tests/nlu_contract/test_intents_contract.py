"""The intent names agree across knowledge/intents.py, the NLU domain, its training data and its test set."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
import yaml

from knowledge.intents import INTENTS, LANGUAGES
from scripts import nlu_data

NLU = Path(__file__).resolve().parents[2] / "nlu"


def _intents(path: Path) -> dict[str, int]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {
        block["intent"]: sum(1 for line in block["examples"].splitlines() if line.strip().startswith("- "))
        for block in doc["nlu"] if "intent" in block
    }


def _bare(example: str) -> str:
    text = re.sub(r"\[([^\]]+)\](\([^)]+\)|\{[^}]+\})", r"\1", example)
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c)).replace("đ", "d")
    return re.sub(r"[\W_]+", "", text)


def test_domain_lists_the_contract_intents():
    domain = yaml.safe_load((NLU / "domain.yml").read_text(encoding="utf-8"))
    assert domain["intents"] == list(INTENTS)


CORE = {"minimum_wage", "wage_check", "job_transfer", "fines_penalties", "emergency"}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_training_data_covers_every_intent(lang):
    counts = _intents(NLU / "data" / lang / "nlu.yml")
    assert set(counts) == set(INTENTS)
    for intent, n in counts.items():
        assert n >= (40 if intent in CORE else 25), (lang, intent, n)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_test_set_covers_every_intent_and_is_apart_from_training(lang):
    counts = _intents(NLU / "tests" / "data" / f"{lang}.yml")
    assert set(counts) == set(INTENTS)
    assert min(counts.values()) >= 15

    def lines(path):
        """Examples compared as a reader sees them: no case, accents, punctuation or spaces, no annotations."""
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        return {
            _bare(line.strip()[2:])
            for b in doc["nlu"] if "intent" in b for line in b["examples"].splitlines() if line.strip()
        }

    training = set().union(*(lines(path) for path in sorted((NLU / "data" / lang).glob("*.yml"))))
    overlap = lines(NLU / "tests" / "data" / f"{lang}.yml") & training  # nlu.yml, reviewed.yml, romaji.yml
    assert not overlap, sorted(overlap)[:5]


def test_romaji_japanese_is_trained_for_every_intent_apart_from_the_test_set():
    counts = _intents(NLU / "data" / "ja" / "romaji.yml")
    assert set(counts) == set(INTENTS) and min(counts.values()) >= 8
    doc = yaml.safe_load((NLU / "tests" / "data" / "ja.yml").read_text(encoding="utf-8"))
    romaji_tests = [line for b in doc["nlu"] if "intent" in b for line in b["examples"].splitlines()
                    if line.strip() and not re.search(r"[\u3040-\u30ff\u3400-\u9fff]", line)]
    assert len(romaji_tests) >= 40  # enough to be measured as its own row (scripts/nlu_eval.py: ja-romaji)


def test_generated_prefecture_data_is_up_to_date():
    assert nlu_data.main(["--check"]) == 0
