"""Rasa's LogisticRegressionClassifier, but an empty or blank message gets no intent instead of an error.

Rasa 3.6's classifier raises "Found array with 0 feature(s)" on a message without features (empty or
whitespace-only text), which the HTTP server turns into a 500. Such a message has no intent: we say so
(confidence 0), and the FallbackClassifier marks it as a fallback.
"""

from __future__ import annotations

from typing import List

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class SafeLogisticRegressionClassifier(LogisticRegressionClassifier):
    """LogisticRegressionClassifier that answers "no intent" for messages without any word."""

    def process(self, messages: List[Message]) -> List[Message]:
        blank = [m for m in messages if not str(m.get(TEXT) or "").strip()]
        rest = [m for m in messages if str(m.get(TEXT) or "").strip()]
        if rest:
            super().process(rest)
        for message in blank:
            message.set("intent", {"name": None, "confidence": 0.0}, add_to_output=True)
            message.set("intent_ranking", [], add_to_output=True)
        return messages
