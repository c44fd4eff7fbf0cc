"""Hostile and odd text from a trainee, on the web chat, Telegram and Zalo, on SQLite and PostgreSQL: each gets a
clean reply in her language (never a 5xx, never an empty message), her message is stored as she wrote it (less
the NUL characters PostgreSQL cannot hold), the tables are intact, and what goes out is valid for the channel."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select, text as sql

from bot.models import Message
from tests.hostile.conftest import TELEGRAM_LIMIT, ZALO_LIMIT, counts, stored_texts, utf16
from tests.hostile.telegram_html import InvalidTelegramHtml, shown_text

#: Letters only Vietnamese uses: a reply with none of them is not in the trainee's language.
VIETNAMESE = set("ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ")

HOSTILE = {
    "empty": "",
    "whitespace": " \t\n \u3000 ",
    "emoji": "😭😭🙏🇻🇳👨‍👩‍👧",
    "zero_width": "\u200b\ufeff\u200b",
    "controls": "xin chào \x1b[31m\x07\x08 \u202eabc\u202c",
    "nul": "lương\x00 tối thiểu\x00",
    "only_nul": "\x00",
    "lone_surrogate": "lương \ud800 tối thiểu",
    "mixed_scripts": "Lương 最低賃金 minimum wage ค่าแรง مرحبا Привет",
    "sql": "'; DROP TABLE message; --",
    "script": "<script>alert(1)</script>",
    "bold_tag": "<b>",
    "entity": "&amp;",
    "telegram_breakers": "< > & <b>unclosed <i>x</b> &lt &#; <a href='javascript:x'>",
    "long": ("lương tối thiểu <b>&</b> " * 5000)[:100_000],
}
CHANNELS = ["web", "telegram", "zalo"]
#: Texts with words of another language may be answered in it (the web chat's language is always the one chosen);
#: all others in the trainee's own, Vietnamese (her Telegram client's language, Zalo's default).
WORDS_OF_ANOTHER_LANGUAGE = {"entity", "sql", "script", "telegram_breakers"}
KANA = re.compile(r"[\u3040-\u30ff]")


def check_outgoing(trainee) -> None:
    """Everything sent to the trainee on her channel was accepted and is within the channel's rules."""
    if trainee.channel == "telegram":
        sent = trainee.sent()
        assert sent and all(m["_status"] == 200 for m in sent), [m["_status"] for m in sent]
        for message in sent:
            assert message["parse_mode"] == "HTML"
            shown = shown_text(message["text"])  # raises on markup Telegram would refuse
            assert shown.strip() and utf16(shown) <= TELEGRAM_LIMIT
    elif trainee.channel == "zalo":
        sends = trainee.zalo_api.sends(trainee.user_id)
        assert sends and all(c.answer.get("error") == 0 for c in sends)
        assert all(c.body["message"]["text"].strip() and utf16(c.body["message"]["text"]) <= ZALO_LIMIT for c in sends)


def stored_as(text: str) -> str:
    """What the database can hold: NULs dropped, a lone surrogate replaced (bot/schemas.py)."""
    return re.sub("[\ud800-\udfff]", "\ufffd", text.replace("\x00", ""))


#: The web chat refuses a lone surrogate with 422 (test_webhooks.py); Telegram's and Zalo's bodies are not validated.
CASES = [(name, channel) for name in HOSTILE for channel in CHANNELS if (name, channel) != ("lone_surrogate", "web")]


@pytest.mark.parametrize(("name", "channel"), CASES, ids=[f"{n}-{c}" for n, c in CASES])
async def test_hostile_text_gets_a_clean_reply_in_her_language(trainee, session_factory, channel, name):
    text = HOSTILE[name]
    if channel == "web" and name == "long":
        text = text[:20_000]  # the web chat's limit (longer: test_web_chat_refuses_text_over_its_limit)
    person = trainee(channel)
    _, messages_before = counts(session_factory)

    received = await person.say(text)

    assert received.status == 200
    assert received.texts and all(t.strip() for t in received.texts), received.texts
    shown = "\n".join(received.texts)
    if channel == "web" or name not in WORDS_OF_ANOTHER_LANGUAGE:
        assert VIETNAMESE & set(shown.lower()), f"not in Vietnamese: {shown[:200]!r}"
    assert not KANA.search(shown), f"Japanese for Latin text: {shown[:200]!r}"  # markup is no language's evidence
    assert "<script>" not in shown or "<script>" in text and "<script>" in shown and channel == "web"
    check_outgoing(person)
    # Her message is stored once, as she wrote it; the replies next to it; nothing else touched.
    assert stored_texts(session_factory, channel, person.user_id) == [stored_as(text)]
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Message)) > messages_before
        assert session.execute(sql("SELECT count(*) FROM conversation")).scalar() >= 1


async def test_web_chat_refuses_text_over_its_limit_and_stores_nothing(trainee, session_factory):
    person = trainee("web")
    before = counts(session_factory)

    received = await person.say("a" * 100_000)

    assert received.status == 422
    assert counts(session_factory) == before


async def test_web_chat_echo_of_markup_stays_text_in_history(trainee):
    person = trainee("web")
    await person.say("<script>alert(1)</script> & <b>")

    history = await person.client.get("/channels/web/history")

    assert history.status_code == 200 and history.headers["content-type"].startswith("application/json")
    assert history.json()["messages"][0] == {"from": "trainee", "text": "<script>alert(1)</script> & <b>",
                                             "title": None, "buttons": []}


@pytest.mark.parametrize("markup", ["<script>", "a < b", "a > b", "a & b", "<b>x", "<b>x</i>", "<span>x</span>",
                                    '<b class="x">x</b>', "&nbsp;", "</b>"])
def test_the_telegram_html_checker_refuses_what_telegram_refuses(markup):
    with pytest.raises(InvalidTelegramHtml):
        shown_text(markup)


def test_the_telegram_html_checker_reads_valid_markup():
    assert shown_text('<b>Q&amp;A</b> &lt;i&gt; <a href="https://x.org/?a=1&amp;b=2">x</a> &#39;&#x1F600;') == \
        "Q&A <i> x '😀"
