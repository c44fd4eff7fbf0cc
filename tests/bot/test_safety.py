"""An emergency never waits for anything: danger words are answered before (and without) any NLU call,
even when the NLU server accepts connections and never answers."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot import safety
from bot.config import BotSettings
from bot.engine import Engine
from bot.models import Handoff, HandoffStatus, Priority
from bot.nlu_client import NluClient, Parse
from bot.schemas import Inbound
from tests.utils.hung_server import HungServer

#: Far longer than the test waits: a reply that waited for the NLU could not arrive in time.
NLU_TIMEOUT = 30.0
WAIT = 10.0


@pytest.fixture
def hung_nlu():
    with HungServer() as server:
        yield server


async def test_danger_words_are_answered_while_the_nlu_hangs(session_factory, session, hung_nlu):
    settings = BotSettings(nlu_url=hung_nlu.url, nlu_timeout=NLU_TIMEOUT, _env_file=None)
    engine = Engine(session_factory=session_factory, nlu=NluClient(hung_nlu.url, timeout=NLU_TIMEOUT),
                    settings=settings)

    outcome = await asyncio.wait_for(
        engine.handle(Inbound(channel="web", user_id="hit", text="cứu em với, nó đang đánh em", lang="vi")), WAIT)

    assert "110" in outcome.replies[0].text and "119" in outcome.replies[0].text
    assert outcome.intent == "emergency" and outcome.handoff_id
    handoff = session.scalar(select(Handoff).where(Handoff.public_id == outcome.handoff_id))
    assert handoff.priority == Priority.urgent and handoff.status == HandoffStatus.waiting
    assert hung_nlu.accepted == 0  # the NLU was never asked


async def test_an_ordinary_message_does_wait_for_the_nlu(session_factory, hung_nlu):
    """The counterpart: the same engine does ask the NLU for a message without danger words."""
    engine = Engine(session_factory=session_factory, nlu=NluClient(hung_nlu.url, timeout=0.5),
                    settings=BotSettings(nlu_url=hung_nlu.url, nlu_timeout=0.5, _env_file=None))
    outcome = await engine.handle(Inbound(channel="web", user_id="calm", text="can i change company", lang="en"))
    assert hung_nlu.accepted >= 1 and outcome.intent is None  # NLU down: the menu, no guess


@pytest.mark.parametrize(("text", "parse", "expected"), [
    ("help me he is beating me now", None, True),  # danger words, no NLU needed
    ("ok", Parse("emergency", 0.9), True),  # the emergency intent
    ("ok", Parse("work_injury", 0.6, ranking=(("work_injury", 0.6), ("emergency", 0.25))), True),  # at the floor
    ("ok", Parse("work_injury", 0.6, ranking=(("work_injury", 0.6), ("emergency", 0.1))), False),
    ("how much is the minimum wage", None, False),
])
def test_one_place_decides_emergency(text, parse, expected):
    assert safety.is_emergency(text=text, parse=parse, floor=0.2) is expected
