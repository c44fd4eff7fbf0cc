"""The web chat page in a real browser: Debian's chromium driven by Playwright, against the real app
(uvicorn on a free loopback port, a fresh migrated and seeded SQLite file, the real NLU server).

`scripts/ensure_chromium.sh` installs the browser (`make test` runs it). Without /usr/bin/chromium these
tests are skipped on a developer's machine and fail under CI.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.utils.live_app import LiveApp, browser_marks, live_app_on
from sqlalchemy.orm import sessionmaker

from knowledge.schema import upgrade
from bot import messages
from bot.i18n import t, yen
from knowledge import prefectures
from knowledge import service as knowledge_service
from knowledge.db import make_engine, session_scope
from knowledge.loader import seed

#: Milliseconds to wait for a reply (the NLU server's parse included).
TIMEOUT = 20_000

pytestmark = browser_marks()


# ---------------------------------------------------------------------------------------------- the app
@pytest.fixture(scope="module")
def live_app(nlu_url, tmp_path_factory) -> Iterator[LiveApp]:
    """The whole app served by uvicorn in a background thread on a free 127.0.0.1 port."""

    database_url = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'e2e.db'}"
    upgrade(database_url)
    db = make_engine(database_url)
    with session_scope(sessionmaker(bind=db)) as session:
        seed(session)
    with live_app_on(db, nlu_url) as app:
        yield app


# ---------------------------------------------------------------------------------------------- the browser
@dataclass
class ChatPage:
    page: object
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def bot(self):
        return self.page.locator("#log .msg.bot")

    @property
    def me(self):
        return self.page.locator("#log .msg.me")

    def say(self, text: str) -> None:
        self.page.locator("#text").fill(text)
        self.page.locator("#text").press("Enter")

    def wait_for_more_bot_messages(self, than: int) -> None:
        self.page.wait_for_function("n => document.querySelectorAll('#log .msg.bot').length > n", arg=than,
                                    timeout=TIMEOUT)


def _open(chromium, live_app: LiveApp, **context_options) -> Iterator[ChatPage]:
    context = chromium.new_context(base_url=live_app.url, **context_options)
    page = context.new_page()
    chat = ChatPage(page)

    def on_dialog(dialog) -> None:
        chat.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: chat.errors.append(str(error)))
    try:
        page.goto("/")
        yield chat
    finally:
        context.close()


@pytest.fixture
def chat(chromium, live_app) -> Iterator[ChatPage]:
    """A fresh browser profile (new user id) on the chat page."""
    yield from _open(chromium, live_app, viewport={"width": 1280, "height": 800})


@pytest.fixture
def phone_chat(chromium, live_app) -> Iterator[ChatPage]:
    yield from _open(chromium, live_app, viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True,
                     device_scale_factor=2)


def expect_greeting(chat: ChatPage, lang: str = "en") -> None:
    from playwright.sync_api import expect

    # The greeting's first sentence (the rest may be wrapped differently).
    expect(chat.bot.first).to_contain_text(t(lang, messages.GREETING).split("!")[0], timeout=TIMEOUT)


# ---------------------------------------------------------------------------------------------- tests
def test_greeting_language_choice_and_minimum_wage_in_vietnamese(chat, live_app):
    from playwright.sync_api import expect

    page = chat.page
    expect_greeting(chat)
    expect(page.get_by_role("button", name="Tiếng Việt")).to_be_visible()  # the bot asks for a language

    page.locator("#lang").select_option(label="Tiếng Việt")
    expect(chat.bot.filter(has_text=t("vi", messages.LANGUAGE_SET))).to_have_count(1, timeout=TIMEOUT)
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.get_by_role("button", name=t("vi", messages.TOPIC_NAMES["minimum_wage"])).first).to_be_visible()

    with live_app.session() as session:
        aichi = prefectures.resolve("aichi")
        rate = knowledge_service.rate_on(session=session, prefecture=aichi, on=dt.date.today())
    assert rate is not None
    expected = yen(rate.yen_per_hour, "vi")  # as the engine writes it, e.g. "1.140 yên"
    assert re.fullmatch(r"\d{1,3}(\.\d{3})* yên", expected), expected

    chat.say("lương tối thiểu ở Aichi bao nhiêu")
    expect(chat.me.last).to_have_text("lương tối thiểu ở Aichi bao nhiêu")
    answer = chat.bot.filter(has_text=expected)
    expect(answer).to_have_count(1, timeout=TIMEOUT)
    expect(answer).to_contain_text(aichi)
    expect(answer.locator("strong")).to_have_text(t("vi", messages.TOPIC_NAMES["minimum_wage"]))
    assert page.locator("#text").input_value() == ""  # the input is cleared for the next question
    assert chat.errors == []


def test_a_topic_button_answers(chat, live_app):
    from playwright.sync_api import expect

    expect_greeting(chat)
    with live_app.session() as session:
        entry = knowledge_service.get_entry(session=session, topic="passport_confiscation", lang="en")
    assert entry is not None
    label = t("en", messages.TOPIC_NAMES["passport_confiscation"])
    before = chat.bot.count()

    chat.page.get_by_role("button", name=label).first.click()
    expect(chat.me.last).to_have_text(label)  # the press is echoed as the user's message
    chat.wait_for_more_bot_messages(before)
    answer = chat.bot.filter(has=chat.page.locator("strong", has_text=entry.title))
    expect(answer).to_have_count(1, timeout=TIMEOUT)
    expect(answer).to_contain_text(entry.answer.split("\n")[0][:60])
    expect(chat.page.get_by_role("button", name=t("en", messages.BUTTON_HUMAN)).last).to_be_visible()
    assert chat.errors == []


def test_markup_in_a_message_is_shown_as_text(chat):
    from playwright.sync_api import expect

    expect_greeting(chat)
    page = chat.page
    scripts_before = page.evaluate("document.scripts.length")
    before = chat.bot.count()
    payload = "<script>alert(1)</script>"

    chat.say(payload)
    expect(chat.me.last).to_have_text(payload)
    chat.wait_for_more_bot_messages(before)  # the round trip is over: anything injected would have run
    page.wait_for_timeout(300)
    assert "&lt;script&gt;" in chat.me.last.inner_html()
    assert page.evaluate("document.scripts.length") == scripts_before
    assert page.locator("#log script").count() == 0
    assert chat.dialogs == [], f"a dialog fired: {chat.dialogs}"
    assert chat.errors == []


def test_usable_at_a_phone_viewport(phone_chat):
    from playwright.sync_api import expect

    chat = phone_chat
    page = chat.page
    expect_greeting(chat)
    width, height = page.viewport_size["width"], page.viewport_size["height"]
    controls = ("header", "#lang", "#text", "#form button[type=submit]")

    def assert_controls_on_screen(when: str) -> None:
        for selector in controls:
            element = page.locator(selector)
            expect(element).to_be_visible()
            box = element.bounding_box()
            assert box is not None, (when, selector)
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, (when, selector, box)
            assert box["y"] >= 0 and box["y"] + box["height"] <= height, (when, selector, box)
        # Nothing wider than the screen (no sideways scrolling), even with the menu buttons shown.
        assert page.evaluate("document.documentElement.scrollWidth") <= width, when

    assert_controls_on_screen("after the greeting")

    # A long conversation: at least three questions, more until the messages are taller than the screen,
    # whatever the fonts make of them.
    questions = [
        "minimum wage in Tokyo", "my company keep my passport", "can i change company",
        "company fine me 5000 yen for being late, is it legal", "minimum wage in Osaka", "minimum wage in Aichi",
    ]
    log_height = "document.getElementById('log').scrollHeight"
    for asked, question in enumerate(questions):
        if asked >= 3 and page.evaluate(log_height) > height:
            break
        before = chat.bot.count()
        page.locator("#text").tap()
        chat.say(question)
        expect(chat.me.last).to_have_text(question)
        chat.wait_for_more_bot_messages(before)
    assert page.evaluate(log_height) > height, "the conversation never got taller than the screen"

    # The language switch and the input are still on screen, and so is the end of the conversation.
    assert_controls_on_screen("after a long conversation")
    expect(page.locator("#log > :last-child")).to_be_in_viewport()
    # …even when the page itself is asked to scroll to its end.
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    assert_controls_on_screen("after scrolling the page to its end")
    expect(page.locator("#log > :last-child")).to_be_in_viewport()
    assert chat.errors == []


def test_a_payslip_photo_picked_on_the_page_is_read_back(chat, tmp_path):
    """The 📷 button sends a photo (POST /channels/web/uploads); the page shows what the server's OCR read."""
    from playwright.sync_api import expect

    from tests.payslip.render import render

    expect_greeting(chat)
    slip = render(seed=11, layout="table")
    photo = tmp_path / "payslip.png"
    photo.write_bytes(slip.encode("png"))
    before = chat.bot.count()
    chat.page.locator("#photo").set_input_files(str(photo))
    expect(chat.me.last).to_contain_text("payslip.png")
    chat.wait_for_more_bot_messages(before)
    read = t("en", messages.PAYSLIP_READ, lines="").split("\n")[0]
    expect(chat.bot.last).to_contain_text(read, timeout=TIMEOUT)
    expect(chat.bot.last).to_contain_text(f"¥{slip.values['base_pay']:,}")
    expect(chat.page.get_by_role("button", name=t("en", messages.BUTTON_CORRECT)).last).to_be_visible()
    assert chat.errors == []
