"""The trainee tokenizer: Japanese segmentation, exact offsets, mixed scripts, normalised lemmas.

Run with the NLU environment: nlu/.venv/bin/python -m pytest nlu/tests
"""

from __future__ import annotations

import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message

from components.trainee_tokenizer import TraineeTokenizer


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return TraineeTokenizer.create(
        TraineeTokenizer.get_default_config(),
        LocalModelStorage(tmp_path_factory.mktemp("model")),
        Resource("tokenizer"),
        ExecutionContext(graph_schema=None, model_id="test"),
    )


def tokens(tokenizer, text):
    message = Message({"text": text})
    tokenizer.process([message])
    return message.get("text_tokens")


def test_japanese_is_segmented_into_words(tokenizer):
    words = [t.text for t in tokens(tokenizer, "愛知県の最低賃金はいくらですか")]
    assert words[:3] == ["愛知", "県", "の"]
    assert "最低" in words and "賃金" in words and "いくら" in words


def test_offsets_point_into_the_original_text(tokenizer):
    for text in ["社長にパスポートを取られました", "gaji aku 150.000 yen sebulan di 愛知県 ok?", "lương 15万 ở Aichi-ken 😭", "９００円です"]:
        for token in tokens(tokenizer, text):
            assert text[token.start : token.end] == token.text, (text, token.text)


def test_mixed_scripts_split_at_script_changes(tokenizer):
    words = [t.text for t in tokens(tokenizer, "zangyou代が出ない 15万")]
    assert words[0] == "zangyou" and "代" in words[1] and "15" in words


def test_vietnamese_with_and_without_diacritics_have_the_same_lemmas(tokenizer):
    with_marks = [t.lemma for t in tokens(tokenizer, "Lương tối thiểu ở Đà Nẵng")]
    without = [t.lemma for t in tokens(tokenizer, "luong toi thieu o da nang")]
    assert with_marks == without


def test_japanese_lemmas_are_readings_of_dictionary_forms(tokenizer):
    lemmas = [t.lemma for t in tokens(tokenizer, "給料を払わない")]
    assert lemmas[0] == "キュウリョウ" and "ハラウ" in lemmas
    kanji = "".join(t.lemma for t in tokens(tokenizer, "有給とりたい"))
    kana = "".join(t.lemma for t in tokens(tokenizer, "ゆうきゅうとりたい"))
    assert kanji == kana


def test_amounts_stay_one_token(tokenizer):
    assert [t.text for t in tokens(tokenizer, "¥150,000 a month")][:2] == ["¥", "150,000"]
    assert "150.000" in [t.text for t in tokens(tokenizer, "gaji 150.000 yen")]


@pytest.mark.parametrize("text", ["😭😭😭", "!!!", "\u200b", "a" * 10000])
def test_odd_input_still_gives_tokens(tokenizer, text):
    result = tokens(tokenizer, text)
    assert result and all(text[t.start : t.end] == t.text for t in result)
