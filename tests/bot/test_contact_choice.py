"""Which numbers a trainee is shown, with a fixed clock: never an unverified number, never another region's
line; lines in their language first (an English line says so), reachable now first, 24-hour lines first when
they may be in danger. Through the reply builders, on the seeded contacts (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from bot import messages, replies
from bot.i18n import t
from knowledge import contacts as contact_choice
from knowledge import service as knowledge_service
from knowledge.intents import LANGUAGES, TOPICS

#: Tuesday 14:00 and Sunday 03:00 in Japan.
TUESDAY_AFTERNOON = dt.datetime(2026, 12, 1, 5, 0, tzinfo=dt.UTC)
SUNDAY_NIGHT = dt.datetime(2026, 12, 5, 18, 0, tzinfo=dt.UTC)
NUMBER = re.compile(r"(?:\+\d[\d-]+|#?\d{2,4}-\d{2,4}(?:-\d{3,4})?|(?<!\d)11[09](?!\d)|#\d{4})")


def shown_numbers(text: str) -> set[str]:
    return set(NUMBER.findall(text))


@pytest.fixture
def unverified(session) -> set[str]:
    return {row["number"] for row in contact_choice.unverified(knowledge_service.list_contacts(session=session))}


@pytest.mark.parametrize("at", [TUESDAY_AFTERNOON, SUNDAY_NIGHT], ids=["tuesday", "sunday-night"])
def test_no_unverified_or_other_region_number_is_ever_shown(session, unverified, at):
    assert {"0570-001706", "+81-3-3466-3313", "03-3466-3311", "#9110"} <= unverified
    for lang in LANGUAGES:
        texts = [replies.emergency(session, lang, at)[0].text, replies.handoff_started(session, lang, at).text]
        texts += [r.text for topic in TOPICS if (r := replies.topic(session, lang, topic, at)) is not None]
        texts += [replies.more(session, lang, topic, at).text for topic in TOPICS]
        for text in texts:
            assert not shown_numbers(text) & unverified, (lang, text[-300:])
            assert "0120-279-226" not in text  # Yorisoi's line for Iwate, Miyagi and Fukushima only


def test_the_trainees_own_language_line_first_and_an_english_line_labelled(session):
    first = replies.topic(session, "vi", "minimum_wage", TUESDAY_AFTERNOON).text
    assert "0120-250-168" in first  # the one number under the answer: OTIT's Vietnamese line, open now
    assert len(shown_numbers(first)) == 1
    text = replies.more(session, "vi", "minimum_wage", TUESDAY_AFTERNOON).text
    assert "0120-250-168" in text
    assert "0570-001706" not in text  # the MHLW dial's Vietnamese line is not verified…
    assert f"0570-001701" in text and t("vi", messages.ENGLISH_LINE) in text  # …its English line says so
    english = replies.more(session, "en", "minimum_wage", TUESDAY_AFTERNOON).text
    assert t("en", messages.ENGLISH_LINE) not in english


def test_24_hour_lines_come_first_in_danger(session):
    text = replies.emergency(session, "id", SUNDAY_NIGHT)[0].text
    lines = [line for line in text.splitlines() if line.startswith("📞 ")]
    assert lines and all("24" in line for line in lines[:2])  # Yorisoi and the KBRI's 24-hour lines
    assert "+81-80-3506-8612" in text


def test_reachable_lines_come_before_closed_ones(session):
    contacts = knowledge_service.topic_contacts(session=session, topic="minimum_wage", lang="ja")
    weekday = [c.contact.key for c in contact_choice.choose(contacts, "ja", TUESDAY_AFTERNOON, limit=5)]
    night = [c.contact.key for c in contact_choice.choose(contacts, "ja", SUNDAY_NIGHT, limit=5)]
    assert weekday.index("otit") < weekday.index("labour_hotline")  # hotline opens at 17:00
    assert night.index("otit") > night.index("labour_office") or "labour_office" not in night
    closed = [c for c in contact_choice.choose(contacts, "ja", SUNDAY_NIGHT, limit=5) if c.open_now is False]
    assert all(c.open_now is not True for c in closed)


@pytest.mark.parametrize("spans,at,expected", [
    (["24h"], SUNDAY_NIGHT, True),
    (["Mon-Fri 11:00-19:00"], TUESDAY_AFTERNOON, True),
    (["Mon-Fri 11:00-19:00"], SUNDAY_NIGHT, False),
    (["Tue,Sat 11:00-19:00"], TUESDAY_AFTERNOON, True),
    (["Mon-Fri 17:00-22:00", "Sat,Sun 09:00-21:00"], TUESDAY_AFTERNOON, False),
    (None, TUESDAY_AFTERNOON, None),
    (["whenever"], TUESDAY_AFTERNOON, None),
])
def test_opening_hours(spans, at, expected):
    assert contact_choice.open_at({"open": spans} if spans else {}, at) is expected
