"""A tokenizer for how trainees write: Japanese segmented with MeCab (fugashi + unidic-lite),
everything else split on whitespace and punctuation.

Each token keeps its exact span in the original text (entities line up), and its lemma is a
normalised form: NFKC, lower case, accents removed ("lương tối thiểu" and "luong toi thieu"
give the same lemmas); for Japanese, the katakana reading of the dictionary form, so that
kanji and kana spellings (有給 / ゆうきゅう) share features and conjugations collapse (払わ → ハラウ). The count-vector featurizers
read lemmas, so Vietnamese typed without diacritics looks the same to the model as with them.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Dict, List, Optional, Text

import regex

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.training_data.message import Message

JAPANESE_RUN = regex.compile(r"[\p{Hiragana}\p{Katakana}\p{Han}ーｰ々〆ヶ]+")
WORD = regex.compile(r"[\p{L}\p{M}\p{N}_]+(?:[.,'’][\p{N}]+|['’][\p{L}]+)*|[¥￥$%]")


def normalise(text: Text) -> Text:
    """NFKC, lower case, without diacritics (đ → d)."""
    text = unicodedata.normalize("NFKC", text).lower().replace("đ", "d")
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    # Keep Japanese voiced marks: recompose kana that NFKD split (が → か + ゙).
    return unicodedata.normalize("NFKC", stripped) if not JAPANESE_RUN.search(text) else _strip_latin_only(text)


def _strip_latin_only(text: Text) -> Text:
    out = []
    for ch in text:
        if JAPANESE_RUN.match(ch):
            out.append(ch)
        else:
            decomposed = unicodedata.normalize("NFKD", ch)
            out.append("".join(c for c in decomposed if not unicodedata.combining(c)))
    return "".join(out)


def to_katakana(text: Text) -> Text:
    """Hiragana to katakana (other characters unchanged)."""
    return "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else c for c in text)


class _Segmenter:
    """MeCab through fugashi with the unidic-lite dictionary (shipped on PyPI, nothing downloaded)."""

    _tagger = None

    @classmethod
    def words(cls, run: Text) -> List[tuple]:
        if cls._tagger is None:
            import fugashi

            cls._tagger = fugashi.Tagger()
        out = []
        for word in cls._tagger(run):
            reading = getattr(word.feature, "kanaBase", None)
            out.append((word.surface, reading if reading and reading != "*" else to_katakana(word.surface)))
        return out


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class TraineeTokenizer(Tokenizer):
    """Segments Japanese and splits other scripts; lemmas are normalised forms."""

    @staticmethod
    def not_supported_languages() -> Optional[List[Text]]:
        return None

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "intent_tokenization_flag": False,
            "intent_split_symbol": "_",
            "token_pattern": None,
            "prefix_separator_symbol": None,
        }

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "TraineeTokenizer":
        return cls(config)

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        text = message.get(attribute) or ""
        tokens: List[Token] = []
        position = 0
        for run in JAPANESE_RUN.finditer(text):
            tokens.extend(self._latin_tokens(text, position, run.start()))
            offset = run.start()
            chunk = run.group()
            for surface, base in _Segmenter.words(chunk):
                if not surface:
                    continue
                found = chunk.find(surface, offset - run.start())
                if found < 0:
                    continue
                start = run.start() + found
                tokens.append(Token(surface, start, lemma=normalise(base)))
                offset = start + len(surface)
            position = run.end()
        tokens.extend(self._latin_tokens(text, position, len(text)))
        if not tokens:
            # Only emoji or punctuation: one token for the whole text, as WhitespaceTokenizer does.
            tokens = [Token(text, 0, lemma=normalise(text))] if text else []
        return self._apply_token_pattern(tokens)

    @staticmethod
    def _latin_tokens(text: Text, start: int, end: int) -> List[Token]:
        return [
            Token(m.group(), m.start(), lemma=normalise(m.group()))
            for m in WORD.finditer(text, start, end)
        ]
