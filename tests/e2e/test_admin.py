"""The knowledge admin in a real browser (Debian's chromium via Playwright) against the real app, with a trainee
in the web chat: an admin edits an entry in the five-language editor and publishes it, the chat answers with the
new text; a revert restores the old one; an admin imports a wage CSV and the chat quotes the new rate.
On SQLite and PostgreSQL, with the real NLU server."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import sessionmaker

from bot import messages
from bot.i18n import t, yen
from knowledge import service as knowledge_service
from knowledge.db import make_engine, session_scope
from tests.utils.live_app import LiveApp, browser_marks, live_app_on
from tests.utils.wage_csv import revision_csv

TIMEOUT = 20_000
EMAIL, PASSWORD = "mai@example.org", "a long enough password"
TODAY = dt.date(2026, 12, 1)

pytestmark = browser_marks()


@pytest.fixture
def live_app(nlu_url, database_url) -> Iterator[LiveApp]:
    with live_app_on(make_engine(database_url), nlu_url, today=lambda: TODAY) as app:
        from api.accounts import service as accounts

        with session_scope(sessionmaker(bind=app.db)) as session:
            accounts.create(session=session, email=EMAIL, password=PASSWORD, role="admin", languages=["en"],
                            name="Mai")
        yield app


@pytest.fixture
def pages(chromium, live_app):
    """An admin's page (signed in) and a trainee's web chat page (English), each its own browser profile."""
    from playwright.sync_api import expect

    contexts = [chromium.new_context(base_url=live_app.url, viewport={"width": 1400, "height": 900})
                for _ in range(2)]
    admin, chat = (c.new_page() for c in contexts)
    errors: list[str] = []
    for page in (admin, chat):
        page.on("pageerror", lambda error: errors.append(str(error)))
    admin.goto("/inbox/login?next=/admin")
    admin.locator("input[name=email]").fill(EMAIL)
    admin.locator("input[name=password]").fill(PASSWORD)
    admin.get_by_role("button", name="Sign in").click()
    expect(admin).to_have_url(f"{live_app.url}/admin")
    chat.goto("/")
    expect(chat.locator("#log .msg.bot").first).to_contain_text(t("en", messages.GREETING).split("!")[0],
                                                                timeout=TIMEOUT)
    chat.locator("#lang").select_option(label="English")
    expect(chat.locator("#log .msg.bot").filter(has_text=t("en", messages.LANGUAGE_SET))).to_have_count(
        1, timeout=TIMEOUT)  # answered before the test asks anything
    yield admin, chat
    assert errors == []
    for context in contexts:
        context.close()


def ask(chat, text: str) -> str:
    """Send a message in the web chat and return the bot's answer to it."""
    before = chat.locator("#log .msg.bot").count()
    chat.locator("#text").fill(text)
    chat.locator("#text").press("Enter")
    chat.wait_for_function("n => document.querySelectorAll('#log .msg.bot').length > n", arg=before,
                           timeout=TIMEOUT)
    chat.wait_for_timeout(300)  # the rest of the turn's bubbles
    return "\n".join(chat.locator("#log .msg.bot").all_inner_texts()[before:])


def test_an_admin_edits_publishes_and_reverts_an_entry_and_the_chat_follows(pages):
    from playwright.sync_api import expect

    admin, chat = pages
    question = "how many days of paid leave do I get?"
    assert "Updated by the admin" not in ask(chat, question)

    admin.get_by_role("link", name="paid_leave").click()
    columns = admin.locator("section.col")
    expect(columns).to_have_count(5)
    assert [c.get_attribute("data-lang") for c in columns.all()] == ["vi", "id", "tl", "ja", "en"]
    english = admin.locator("section.col[data-lang=en]")
    answer = english.locator("textarea[name='en.answer']")
    answer.fill("Updated by the admin. " + answer.input_value())
    english.get_by_role("button", name="Publish en").click()
    expect(admin.locator("#done")).to_contain_text("Published: en")
    expect(english.locator(".badge")).to_have_text("published")

    assert "Updated by the admin." in ask(chat, question)

    admin.locator("section.col[data-lang=en]").get_by_role("link", name="history").click()
    expect(admin.locator("#diff ins").first).to_contain_text("Updated")
    admin.locator("tr[data-version='1']").get_by_role("button", name="Publish this text again").click()
    expect(admin.locator("#done")).to_contain_text("the text of version 1")

    assert "Updated by the admin" not in ask(chat, question)


def test_an_admin_imports_the_wage_revision_and_the_chat_quotes_the_new_rate(pages, live_app):
    from playwright.sync_api import expect

    admin, chat = pages
    with live_app.session() as session:
        old = knowledge_service.rate_on(session=session, prefecture="Tokyo", on=TODAY)
    assert old.possibly_outdated  # no FY2026 rates yet
    assert yen(old.yen_per_hour, "en") in ask(chat, "what is the minimum wage in tokyo")

    admin.goto("/admin/wages")
    admin.locator("#import input[type=file]").set_input_files(
        {"name": "fy2026.csv", "mimeType": "text/csv", "buffer": revision_csv(raise_by=64, encoding="cp932",
                                                                               names="ja")})
    admin.get_by_role("button", name="Preview").click()
    expect(admin.locator("#result h3")).to_contain_text("Preview: FY2026, 47 prefectures")
    tokyo = admin.locator("table.preview tr[data-prefecture=Tokyo]")
    expect(tokyo).to_contain_text(f"{old.yen_per_hour + 64:,}")
    admin.get_by_role("button", name="Apply FY2026").click()
    expect(admin.locator("#done")).to_contain_text("FY2026 imported")
    expect(admin.locator("table.wages tr[data-prefecture=Tokyo]")).to_contain_text(f"{old.yen_per_hour + 64:,}")

    answer = ask(chat, "what is the minimum wage in tokyo")
    assert yen(old.yen_per_hour + 64, "en") in answer
