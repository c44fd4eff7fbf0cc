"""The payslip check in the conversation (bot/payslip_check.py): asked one item at a time, confirmed, judged line by
line in the trainee's language, kept only as the confirmed numbers, and handed to a volunteer in one tap.

Driven through the real engine on the test database; every message is a command, a button or a number, which the
engine answers without the NLU (the app points it at a closed port).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from api.config import ApiSettings
from api.main import create_app
from bot import messages
from bot.config import BotSettings
from bot.i18n import t
from bot.models import Conversation, Handoff
from bot.payslip_check import read_number
from bot.schemas import Inbound, Kind

#: 2026-12-01, 14:00 in Japan: Tokyo's FY2025 minimum (¥1,226 from 2025-10-03) is in force.
NOW = dt.datetime(2026, 12, 1, 5, 0, tzinfo=dt.UTC)


@pytest.fixture
def chat(engine, session_factory):
    app = create_app(ApiSettings(_env_file=None, worker=False),
                     # answers come faster than anyone types: above the rate limit (tests/test_rate_limits.py)
                     bot_settings=BotSettings(_env_file=None, nlu_url="http://127.0.0.1:9", nlu_timeout=0.5,
                                              rate_messages=100),
                     engine=engine, session_factory=session_factory)
    bot = app.state.services.engine
    bot.now, bot.today = (lambda: NOW), (lambda: NOW.date())

    async def say(text: str | None = None, *, button: str | None = None, lang: str = "en", user: str = "t1"):
        inbound = (Inbound(channel="cli", user_id=user, kind=Kind.button, payload=button, lang=lang) if button
                   else Inbound(channel="cli", user_id=user, text=text, lang=lang))
        outcome = await bot.handle(inbound)
        return outcome.replies
    return say


def joined(replies) -> str:
    return "\n".join(r.text for r in replies)


def payloads(replies) -> list[str]:
    return [b.payload for r in replies for b in r.buttons]


ANSWERS = [  # Tokyo; base 180,000 for 160 h; 20 h overtime paid 25,000; dorm 30,000; savings 10,000
    ("Tokyo", None), ("180000", None), ("160", None), ("20", None), ("25,000円", None), ("30000", None),
    (None, "payslip:skip"), (None, "payslip:zero"), ("10000", None), (None, "payslip:zero"), ("0", None),
]


async def test_answers_one_at_a_time_give_a_verdict_line_by_line(chat, session):
    first = await chat("/payslip")
    assert t("en", messages.PAYSLIP_START) in joined(first)
    assert t("en", messages.PAYSLIP_ASK_PREFECTURE) in joined(first)
    replies = first
    for text, button in ANSWERS:
        replies = await chat(text, button=button)
    verdict = joined(replies)
    # 180,000 ÷ 160 h = ¥1,125 an hour, ¥101 below Tokyo's ¥1,226: ¥16,160 a month.
    assert "¥1,125 an hour" in verdict and "¥1,226" in verdict and "¥16,160" in verdict
    # 20 h of overtime at 1.25 × ¥1,226 = ¥30,650; paid 25,000: short by ¥5,650.
    assert "¥30,650" in verdict and "¥5,650" in verdict
    assert "Dorm fee: ¥30,000. Allowed only at the real cost" in verdict
    assert "Savings: ¥10,000. This deduction is not allowed" in verdict
    # Owed: 16,160 + 5,650 + 10,000 (the forced savings) = ¥31,810 a month.
    assert "¥31,810 a month" in verdict
    assert "payslip:person" in payloads(replies)
    # Only the confirmed numbers are kept, in the conversation (what /forget deletes).
    kept = session.scalar(select(Conversation.slots).where(Conversation.channel_user_id == "t1"))
    assert kept["payslip"]["base_pay"] == "180000" and "utilities" not in kept["payslip"]

    # One tap brings a volunteer in, who finds the confirmed numbers and the verdict in a note on the handoff.
    await chat(button="payslip:person")
    handoff = session.scalar(select(Handoff).join(Conversation).where(Conversation.channel_user_id == "t1"))
    assert handoff.status == "waiting"
    session.refresh(handoff)
    [note] = [n.text for n in handoff.notes]
    assert "基本給 (Base pay): ¥180,000" in note and "寮費 (Dorm fee): ¥30,000" in note
    assert "¥31,810 a month" in note  # the verdict the trainee saw, in English
    await chat(button="payslip:person")  # pressed again: the same note is not added twice
    session.refresh(handoff)
    assert len(handoff.notes) == 1


async def test_the_questions_and_the_verdict_are_in_the_trainees_language(chat):
    await chat("/payslip", lang="vi", user="vi1")
    replies = None
    for text, button in [("Tokyo", None), ("250000", None), ("160", None), (None, "payslip:zero")] + \
            [(None, "payslip:zero")] * 6:
        replies = await chat(text, button=button, lang="vi", user="vi1")
    text = joined(replies)
    assert t("vi", messages.PAYSLIP_NOTHING_OWED) in text
    assert t("vi", messages.PAYSLIP_NOTHING_OWED) != t("en", messages.PAYSLIP_NOTHING_OWED)


async def test_a_number_it_cannot_read_is_asked_again_and_a_new_topic_leaves_the_check(chat):
    await chat("/payslip", user="t2")
    await chat("Osaka", user="t2")
    again = await chat("a lot", user="t2")
    assert t("en", messages.PAYSLIP_BAD_NUMBER) in joined(again) and "payslip:skip" in payloads(again)
    help_reply = await chat("/help", user="t2")  # a command is never taken as the answer
    assert t("en", messages.HELP) in joined(help_reply)


@pytest.mark.parametrize(("key", "text", "expected"), [
    ("base_pay", "180,000", Decimal(180000)),
    ("base_pay", "¥180,000", Decimal(180000)),
    ("base_pay", "18 man", Decimal(180000)),
    ("base_pay", "１８００００円", Decimal(180000)),
    ("dorm", "không", Decimal(0)),
    ("fine", "wala", Decimal(0)),
    ("savings", "なし", Decimal(0)),
    ("hours_worked", "160", Decimal(160)),
    ("overtime_hours", "12:30", Decimal("12.5")),
    ("overtime_hours", "12.5 jam", Decimal("12.5")),
    ("hours_worked", "many", None),
    ("hours_worked", "900", None),
])
def test_answers_are_read_as_numbers(key, text, expected):
    assert read_number(key, text) == expected
