"""A topic's first reply fits one phone screen: every topic, and the wage, emergency, handoff and fallback replies,
in every language, as each channel shows it, within the language's limit; the action first, one number to call,
an official source. With a fixed clock (the contacts chosen depend on the time in Japan)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from bot import first_reply, replies
from bot.first_reply import CHANNELS, rendered
from knowledge import sources
from knowledge.intents import LANGUAGES, TOPICS
from knowledge.limits import ANSWER_LIMITS, FIRST_REPLY_LIMITS

TUESDAY_AFTERNOON = dt.datetime(2026, 12, 1, 5, 0, tzinfo=dt.UTC)
SUNDAY_NIGHT = dt.datetime(2026, 12, 5, 18, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("at", [TUESDAY_AFTERNOON, SUNDAY_NIGHT], ids=["tuesday", "sunday-night"])
@pytest.mark.parametrize("channel", CHANNELS)
def test_every_first_reply_fits_the_languages_limit(session, channel, at):
    cases = first_reply.cases(session, at)
    over = [(lang, name, len(rendered(items, channel)))
            for lang in LANGUAGES for name, items in cases[lang].items()
            if len(rendered(items, channel)) > FIRST_REPLY_LIMITS[lang]]
    assert not over, over
    assert all(len(cases[lang]) >= len(TOPICS) for lang in LANGUAGES)  # every topic was measured


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_first_reply_gives_one_number_and_an_official_source(session, lang):
    for topic in TOPICS:
        if topic in ("emergency", "talk_to_human"):
            continue  # answered by the emergency and handoff replies
        reply = replies.topic(session, lang, topic, TUESDAY_AFTERNOON)
        assert reply is not None, (lang, topic)
        contact_lines = [line for line in reply.text.splitlines() if line.startswith(("📞", "🌐"))]
        assert len(contact_lines) == 1, (lang, topic, contact_lines)
        entry_sources = sources.official_first(list(replies.knowledge_service.get_entry(
            session=session, topic=topic, lang=lang).sources))
        assert sources.official_host(entry_sources[0]) is not None, (topic, "has no official source")
        assert sources.label(entry_sources[0], lang) in reply.text.splitlines()[-1]
        more = replies.more(session, lang, topic, TUESDAY_AFTERNOON).text
        assert len([line for line in more.splitlines() if line.startswith(("📞", "🌐"))]) >= 1


def test_entry_answers_leave_room_for_the_number_and_the_source(session):
    too_long = []
    for lang in LANGUAGES:
        for topic in TOPICS:
            entry = replies.knowledge_service.get_entry(session=session, topic=topic, lang=lang)
            if entry is not None and len(entry.answer) > ANSWER_LIMITS[lang]:
                too_long.append((lang, topic, len(entry.answer)))
    assert not too_long, too_long


def test_no_nested_brackets_in_what_a_trainee_is_shown(session):
    """One clean line per contact: "(free call, Mon–Fri 11:00–19:00, days may differ)", never brackets in
    brackets."""
    nested = re.compile(r"[(（][^()（）]*[(（]")
    for lang in LANGUAGES:
        for name, items in first_reply.cases(session, TUESDAY_AFTERNOON)[lang].items():
            text = rendered(items, "telegram")
            assert not nested.search(text), (lang, name, nested.search(text).group(0))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_number_under_an_answer_is_the_contact_it_names_when_reachable(session, lang):
    """An answer that says "ask OTIT" shows OTIT's number while OTIT answers (Tuesday afternoon), and an answer
    that already says "call 110" spends its one line on someone else."""
    otit_named = otit_shown = 0
    for topic in TOPICS:
        entry = replies.knowledge_service.get_entry(session=session, topic=topic, lang=lang)
        if entry is None or topic in ("emergency", "talk_to_human"):
            continue
        reply = replies.topic(session, lang, topic, TUESDAY_AFTERNOON)
        line = next(line for line in reply.text.splitlines() if line.startswith(("📞", "🌐")))
        chosen = replies.chosen_contacts(session, lang, topic, at=TUESDAY_AFTERNOON, limit=5)
        named = [c for c in chosen if c.lines and c.open_now and replies._named_in(c.contact, lang, entry.answer)]
        if named:
            assert (named[0].contact.name.get(lang) or named[0].contact.name["en"]) in line, (lang, topic, line)
        if re.search(r"(?<!\d)110(?!\d)", entry.answer):
            assert not re.search(r":\s*110\b|：110", line), (lang, topic, line)
        if "OTIT" in entry.answer:
            otit_named += 1
            otit_shown += "OTIT" in line
    assert otit_named >= 5 and otit_shown == otit_named, (lang, otit_named, otit_shown)
