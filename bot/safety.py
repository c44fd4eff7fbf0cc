"""The one place that decides "emergency": danger words, the emergency intent, or its score at the floor.

Danger words are checked on the stored text before anything else happens (no NLU call, no wait):
a hit answers at once with the emergency numbers and opens the urgent handoff.
"""

from __future__ import annotations

from bot import danger
from bot.nlu_client import Parse

EMERGENCY = "emergency"


def danger_words(text: str | None) -> bool:
    """True when the text holds a danger phrase of any of the five languages (bot/data/danger_words.yaml)."""
    return danger.is_danger(text)


def is_emergency(*, text: str | None, parse: Parse | None, floor: float) -> bool:
    """Emergency when the text has danger words, or the NLU's top intent is emergency, or its score reaches
    `floor` (a missed emergency costs more than a false alarm)."""
    if danger_words(text):
        return True
    if parse is None:
        return False
    return parse.intent == EMERGENCY or dict(parse.ranking).get(EMERGENCY, 0.0) >= floor
