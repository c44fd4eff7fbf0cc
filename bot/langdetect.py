"""Which of our five languages a trainee writes in.

lingua alone takes Vietnamese typed without diacritics for Tagalog or English, and romaji
Japanese for Indonesian or Tagalog. So it is one vote among signals we own:
- a character n-gram naive Bayes model trained on our own multilingual NLU training data
  (which has unaccented Vietnamese, romaji, Taglish, trainee slang);
- Japanese script (kana) is decisive;
- the client's language code (Telegram's `language_code`) and the user's previous language, as priors.
When the combined score is still unsure, the caller asks with buttons.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from knowledge.intents import LANGUAGES

ROOT = Path(__file__).resolve().parent.parent
TRAINING_DATA = ROOT / "nlu" / "data"
_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]+\)|\{[^}]+\})")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
#: Markup, code and control characters (HTML, ANSI escapes, zero-width and bidi controls): no language's evidence.
_NOT_LANGUAGE = re.compile(r"[<>&;\[\]{}()=/\\|*#^~`\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]+")
_VI_MARKS = re.compile(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.IGNORECASE)

#: Japanese grammar words written in romaji ("kyuuryou ikura desu ka"): not loanwords other languages borrow.
_ROMAJI_GRAMMAR = re.compile(
    r"\b(?:desu|desuka|deshita|masu|masuka|mashita|masen|kudasai|onegai(?:shimasu)?|shitai|shimasu|shita|shite|"
    r"dekimasu|dekimasuka|dekinai|arimasu|arimasuka|arimasen|imasu|ikura|nandesuka|dou(?:shite|sureba|shitara|shiyou)|"
    r"naze|natta|naritai|shitara|sureba|ikenai|kurenai|moraenai|harawanai|iwareru|wo|tte|shiritai|desho|janai)\b"
)
ROMAJI_BONUS = 0.3  # per distinct grammar word, at most three

#: Weights of the votes (log-space for the n-gram model, probability-space for the others).
WEIGHT_LINGUA = 0.35
PRIOR_CLIENT = 0.15
PRIOR_HISTORY = 0.20
CONFIDENT = 0.60
MARGIN = 0.20


@dataclass(frozen=True)
class Detection:
    lang: str | None  # None when unsure
    scores: dict[str, float]


def _normalise(text: str) -> str:
    return " " + re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).lower()).strip() + " "


def _ngrams(text: str) -> Counter:
    t = _normalise(text)
    grams: Counter = Counter()
    for n in (1, 2, 3, 4):
        for i in range(len(t) - n + 1):
            grams[t[i : i + n]] += 1
    return grams


def _training_lines(lang: str) -> list[str]:
    path = TRAINING_DATA / lang / "nlu.yml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    lines = []
    for block in doc["nlu"]:
        for line in (block.get("examples") or "").splitlines():
            line = line.strip()
            if line.startswith("- "):
                lines.append(_ANNOTATION.sub(r"\1", line[2:]))
    return lines


class NgramModel:
    """Multinomial naive Bayes over character 1–4-grams."""

    def __init__(self, corpora: dict[str, list[str]]):
        self.counts = {lang: Counter() for lang in corpora}
        for lang, lines in corpora.items():
            for line in lines:
                self.counts[lang].update(_ngrams(line))
        self.totals = {lang: sum(c.values()) for lang, c in self.counts.items()}
        self.vocab = len(set().union(*self.counts.values()))

    def probabilities(self, text: str) -> dict[str, float]:
        grams = _ngrams(text)
        logs = {}
        for lang, counts in self.counts.items():
            denom = self.totals[lang] + self.vocab
            logs[lang] = sum(n * math.log((counts.get(g, 0) + 1) / denom) for g, n in grams.items())
        # Temper: n-grams are not independent; scale so a short message isn't absurdly certain.
        scale = 1.0 / max(1.0, math.sqrt(sum(grams.values())) / 2)
        top = max(logs.values())
        exp = {lang: math.exp((v - top) * scale) for lang, v in logs.items()}
        total = sum(exp.values())
        return {lang: v / total for lang, v in exp.items()}


@functools.lru_cache(maxsize=1)
def _ngram_model() -> NgramModel:
    corpora = {lang: _training_lines(lang) for lang in LANGUAGES}
    # Japanese script is recognised without the model; its class learns romaji Japanese only.
    corpora["ja"] = [line for line in corpora["ja"] if not (_KANA.search(line) or _HAN.search(line))]
    return NgramModel(corpora)


@functools.lru_cache(maxsize=1)
def _lingua():
    from lingua import Language, LanguageDetectorBuilder

    languages = {
        Language.VIETNAMESE: "vi", Language.INDONESIAN: "id", Language.TAGALOG: "tl",
        Language.JAPANESE: "ja", Language.ENGLISH: "en",
    }
    return LanguageDetectorBuilder.from_languages(*languages).build(), languages


def _lingua_probabilities(text: str) -> dict[str, float]:
    detector, names = _lingua()
    values = {names[c.language]: c.value for c in detector.compute_language_confidence_values(text)}
    return {lang: values.get(lang, 0.0) for lang in LANGUAGES}


def warm_up() -> None:
    """Build the models now rather than on the first trainee's message."""
    _ngram_model()
    _lingua()


def detect(text: str, *, client_language: str | None = None, previous: str | None = None) -> Detection:
    """The language of `text`, or None when unsure (ask the trainee then)."""
    text = _NOT_LANGUAGE.sub(" ", text or "").strip()
    letters = sum(ch.isalpha() for ch in text)
    if _KANA.search(text) or (_HAN.search(text) and letters and len(_HAN.findall(text)) / letters > 0.3):
        return Detection("ja", {lang: float(lang == "ja") for lang in LANGUAGES})
    if letters < 2:
        fallback = previous or client_language
        return Detection(fallback, {lang: float(lang == fallback) for lang in LANGUAGES})
    ngram = _ngram_model().probabilities(text)
    lingua = _lingua_probabilities(text)
    scores = {lang: (1 - WEIGHT_LINGUA) * ngram[lang] + WEIGHT_LINGUA * lingua[lang] for lang in LANGUAGES}
    if _VI_MARKS.search(text):
        scores["vi"] += 0.5
    romaji_hits = len(set(_ROMAJI_GRAMMAR.findall(text.lower())))
    scores["ja"] += ROMAJI_BONUS * min(romaji_hits, 3)
    if client_language in scores:
        scores[client_language] += PRIOR_CLIENT
    if previous in scores:
        scores[previous] += PRIOR_HISTORY
    total = sum(scores.values())
    scores = {lang: v / total for lang, v in scores.items()}
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (best, p1), (_, p2) = ranked[0], ranked[1]
    sure = p1 >= CONFIDENT or (p1 - p2) >= MARGIN
    return Detection(best if sure else None, scores)
