"""The volunteer inbox in a real browser, with a trainee in the web chat at the same time: Debian's chromium
driven by Playwright against the real app (uvicorn on a free loopback port, a fresh migrated and seeded
database on SQLite and on PostgreSQL, the real NLU server). The pages are never reloaded: what changes
arrives over the live streams.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.utils.live_app import LiveApp, browser_marks, live_app_on
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from bot import messages
from bot.i18n import t, yen
from knowledge import prefectures
from knowledge import service as knowledge_service
from knowledge.db import make_engine, session_scope

#: Milliseconds to wait for a reply or a live update (the NLU server's parse included).
TIMEOUT = 20_000
EMAIL, PASSWORD, NAME = "lan@example.org", "a long enough password", "Lan"

pytestmark = browser_marks()


# ---------------------------------------------------------------------------------------------- the app
@pytest.fixture
def live_app(nlu_url, database_url) -> Iterator[LiveApp]:
    """The whole app served by uvicorn in a background thread on a free 127.0.0.1 port, on a fresh database
    of its own (conftest's `database_url`: SQLite and PostgreSQL)."""

    db = make_engine(database_url)
    with live_app_on(db, nlu_url) as app:
        yield app


@dataclass
class Browser:
    page: object
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def browsers(chromium, live_app):
    """`open(**context_options)`: a new browser profile on the live app (each its own cookies)."""
    contexts = []

    def open_(**options) -> Browser:
        context = chromium.new_context(base_url=live_app.url, **options)
        contexts.append(context)
        page = context.new_page()
        browser = Browser(page)

        def on_dialog(dialog) -> None:
            browser.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda error: browser.errors.append(str(error)))
        return browser

    yield open_
    for context in contexts:
        context.close()


def make_volunteer(live_app: LiveApp) -> None:
    from api.accounts import service as accounts

    with session_scope(sessionmaker(bind=live_app.db)) as session:
        accounts.create(session=session, email=EMAIL, password=PASSWORD, role="volunteer", languages=["vi"],
                        name=NAME)


def sign_in(page, email: str = EMAIL, password: str = PASSWORD):
    page.goto("/inbox/login")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(password)
    with page.expect_response(lambda r: r.url.endswith("/inbox/login") and r.request.method == "POST") as info:
        page.get_by_role("button", name="Sign in").click()
    return info.value


# ---------------------------------------------------------------------------------------------- tests
def test_a_volunteer_takes_a_chat_from_the_queue_and_gives_it_back_to_the_bot(browsers, live_app):
    from playwright.sync_api import expect

    from bot.models import Handoff

    make_volunteer(live_app)

    # The volunteer signs in (on a phone) and waits at the queue, which is empty.
    volunteer = browsers(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    inbox = volunteer.page
    assert sign_in(inbox).status == 303
    expect(inbox).to_have_url(f"{live_app.url}/inbox")
    expect(inbox.locator("#live")).to_have_text("Live updates: on", timeout=TIMEOUT)
    expect(inbox.locator("tr.handoff")).to_have_count(0)
    assert EMAIL not in inbox.content()

    # The trainee, in the web chat in Vietnamese, asks for a person.
    trainee = browsers(viewport={"width": 1280, "height": 800})
    chat = trainee.page
    chat.goto("/")
    bot = chat.locator("#log .msg.bot")
    expect(bot.first).to_contain_text(t("en", messages.GREETING).split("!")[0], timeout=TIMEOUT)
    chat.locator("#lang").select_option(label="Tiếng Việt")
    expect(bot.filter(has_text=t("vi", messages.LANGUAGE_SET))).to_have_count(1, timeout=TIMEOUT)
    before = bot.count()
    chat.locator("#text").fill("/human")
    chat.locator("#text").press("Enter")
    chat.wait_for_function("n => document.querySelectorAll('#log .msg.bot').length > n", arg=before,
                           timeout=TIMEOUT)

    # The request appears in the queue without a reload; the volunteer claims it and opens it.
    row = inbox.locator("tr.handoff")
    expect(row).to_have_count(1, timeout=TIMEOUT)
    expect(row).to_contain_text("waiting")
    expect(row).to_contain_text("vi")
    pseudonym = row.locator("td.trainee strong").inner_text()
    assert pseudonym.startswith("Trainee ")
    row.get_by_role("button", name="Claim").click()
    expect(row).to_contain_text("claimed", timeout=TIMEOUT)
    expect(row).to_contain_text(NAME)
    expect(row.get_by_role("button", name="Claim")).to_have_count(0)
    row.get_by_role("link", name="Open").click()
    expect(inbox).to_have_url(f"{live_app.url}/inbox/h/" + row_id(live_app))
    expect(inbox.locator("#chat-head")).to_contain_text(pseudonym)
    expect(inbox.locator(".msg.trainee").filter(has_text="/human")).to_have_count(1)

    # The trainee is told a person joined (pushed to the open chat page).
    expect(bot.filter(has_text=t("vi", messages.VOLUNTEER_JOINED, name=NAME))).to_have_count(1, timeout=TIMEOUT)

    # The trainee writes markup: the volunteer sees it as text, live, and nothing runs.
    payload = "<script>alert(1)</script>"
    scripts_before = inbox.evaluate("document.scripts.length")
    chat.locator("#text").fill(payload)
    chat.locator("#text").press("Enter")
    shown = inbox.locator(".msg.trainee .text").filter(has_text=payload)
    expect(shown).to_have_count(1, timeout=TIMEOUT)
    assert "&lt;script&gt;" in shown.inner_html()
    # The volunteer sends it to the admins' learning queue ("the bot should have known this").
    marked = inbox.locator(".msg.trainee").filter(has_text=payload)
    marked.get_by_role("button", name="The bot should have known this").click()
    expect(marked.get_by_role("button", name="Sent to the learning queue")).to_be_disabled(timeout=TIMEOUT)
    assert inbox.locator("#transcript script").count() == 0
    assert inbox.evaluate("document.scripts.length") == scripts_before
    inbox.wait_for_timeout(300)
    assert volunteer.dialogs == [] and trainee.dialogs == []

    # The volunteer replies; the trainee's page shows it without a reload, and the inbox sees it delivered.
    assert inbox.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling on a phone
    inbox.locator("#reply").fill("Xin chào, mình là Lan")
    inbox.get_by_role("button", name="Send").click()
    expect(bot.filter(has_text="Xin chào, mình là Lan")).to_have_count(1, timeout=TIMEOUT)
    mine = inbox.locator(".msg.volunteer").filter(has_text="Xin chào, mình là Lan")
    expect(mine).to_have_count(1, timeout=TIMEOUT)
    expect(mine.locator(".delivery")).to_have_text("sent", timeout=TIMEOUT)
    expect(inbox.locator("#reply")).to_have_value("")

    # Closed with an outcome: the trainee is asked for a rating and gives 5.
    inbox.locator("#outcome").select_option("information_given")
    inbox.get_by_role("button", name="Close").click()
    expect(inbox.locator("#status")).to_have_text("closed", timeout=TIMEOUT)
    expect(bot.filter(has_text=t("vi", messages.RATE_QUESTION))).to_have_count(1, timeout=TIMEOUT)
    five = chat.get_by_role("button", name="5", exact=True).last
    expect(five).to_be_visible()
    five.click()
    expect(bot.filter(has_text=t("vi", messages.RATE_THANKS))).to_have_count(1, timeout=TIMEOUT)

    # The bot answers again.
    with live_app.session() as session:
        aichi = prefectures.resolve("aichi")
        rate = knowledge_service.rate_on(session=session, prefecture=aichi, on=dt.date.today())
    assert rate is not None
    chat.locator("#text").fill("luong toi thieu o aichi")
    chat.locator("#text").press("Enter")
    expect(bot.filter(has_text=yen(rate.yen_per_hour, "vi"))).to_have_count(1, timeout=TIMEOUT)

    # A reloaded chat page shows the conversation so far, the trainee's own messages as theirs.
    chat.reload()
    expect(bot.filter(has_text="Xin chào, mình là Lan")).to_have_count(1, timeout=TIMEOUT)
    expect(chat.locator("#log .msg.me").filter(has_text="luong toi thieu o aichi")).to_have_count(1)
    expect(chat.locator("#log .msg.me").filter(has_text=payload)).to_have_count(1)

    with live_app.session() as session:
        handoff = session.scalar(select(Handoff))
        assert (handoff.status, handoff.outcome, handoff.rating) == ("closed", "information_given", 5)
    assert volunteer.errors == [] and trainee.errors == []
    assert volunteer.dialogs == [] and trainee.dialogs == []


def row_id(live_app: LiveApp) -> str:
    from bot.models import Handoff

    with live_app.session() as session:
        return session.scalar(select(Handoff.public_id))


def test_sign_in_errors_and_anonymous_visitors(browsers, live_app):
    from playwright.sync_api import expect

    make_volunteer(live_app)
    page = browsers().page

    # Anonymous: the queue and a chat send to the sign-in form.
    response = page.goto("/inbox")
    expect(page).to_have_url(f"{live_app.url}/inbox/login")
    assert response.request.redirected_from is not None
    assert response.request.redirected_from.response().status == 303
    page.goto("/inbox/h/nothing-here")
    expect(page).to_have_url(f"{live_app.url}/inbox/login")

    # A wrong password: the form again, one message, 401, no cookie.
    response = sign_in(page, password="not the password")
    assert response.status == 401
    expect(page.locator("#login-error")).to_have_text("Wrong email or password.")
    expect(page.locator(".error")).to_have_count(1)
    expect(page.locator("input[name=email]")).to_have_value(EMAIL)
    assert not [c for c in page.context.cookies() if c["name"] == "inbox_session"]

    # The right one: in; the cookie is HttpOnly and SameSite=Strict; signing out clears it.
    assert sign_in(page).status == 303
    expect(page).to_have_url(f"{live_app.url}/inbox")
    [cookie] = [c for c in page.context.cookies() if c["name"] == "inbox_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{live_app.url}/inbox/login")
    assert not [c for c in page.context.cookies() if c["name"] == "inbox_session"]
    page.goto("/inbox")
    expect(page).to_have_url(f"{live_app.url}/inbox/login")
