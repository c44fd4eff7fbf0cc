"""The knowledge admin through its API and pages: drafts, publishing with the cross-language check, versions,
diff, revert, review dates, the wage import; roles. On SQLite and PostgreSQL; the bot answers through the web
chat (the real NLU is not needed: topic buttons and the wage questions)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from bot.models import AuditLog
from knowledge.models import MinimumWage
from tests.utils.chat import WebChat, text_of
from tests.utils.people import PASSWORD, bearer_headers, create_people
from tests.utils.wage_csv import revision_csv

ENTRY = "/api/admin/entries/paid_leave/en"


@pytest.fixture
def today():
    return dt.date(2026, 12, 1)


@pytest.fixture
def people(session):
    return create_people(session, admin=("admin", ["en"], "Mai"), lan=("volunteer", ["vi"], "Lan"))


@pytest.fixture
async def auth(client, people):
    return await bearer_headers(client, people)


@pytest.fixture
async def admin_browser(new_client, people):
    """A signed-in admin's browser: the session cookie and the page's CSRF token."""
    async with new_client() as browser:
        response = await browser.post("/inbox/login", data={"email": "admin@example.org", "password": PASSWORD})
        assert response.status_code == 303
        page = await browser.get("/admin")
        assert page.status_code == 200
        browser.csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
        yield browser


async def paid_leave_answer(client, lang="en") -> str:
    chat = WebChat(client, lang=lang)
    await chat.press(f"lang:{lang}")
    return text_of(await chat.press("topic:paid_leave"))


# ---------------------------------------------------------------------------------------------- API
async def test_draft_publish_versions_and_revert_through_the_api(client, auth):
    admin = auth["admin"]
    before = (await client.get(ENTRY, headers=admin)).json()
    assert set(before) >= {"topic", "lang", "title", "answer", "more", "sources", "status", "version", "review_by"}
    assert before["status"] == "published"
    original_answer = await paid_leave_answer(client)
    assert before["answer"].split("\n")[0][:40] in original_answer

    first_word, rest = before["answer"].split(" ", 1)
    new_answer = "PAID HOLIDAYS " + rest
    saved = await client.put(ENTRY, headers=admin, json={"title": before["title"], "answer": new_answer,
                                                          "more": before["more"], "sources": before["sources"]})
    assert saved.status_code == 200, saved.text
    assert saved.json()["status"] == "draft" and saved.json()["version"] == before["version"] + 1
    assert "PAID HOLIDAYS" not in await paid_leave_answer(client)  # trainees keep the published text

    published = await client.post(f"{ENTRY}/publish", headers=admin)
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published" and published.json()["version"] == before["version"] + 1
    assert "PAID HOLIDAYS" in await paid_leave_answer(client)  # the next message gets it, no restart

    versions = (await client.get(f"{ENTRY}/versions", headers=admin)).json()
    assert [v["version"] for v in versions][:2] == [before["version"] + 1, before["version"]]
    assert versions[0]["status"] == "published" and versions[0]["author"] == "Mai"
    assert versions[1]["status"] == "archived"
    assert set(versions[0]) >= {"version", "status", "saved_at", "author"}

    diff = (await client.get(f"{ENTRY}/diff", headers=admin,
                             params={"a": before["version"], "b": before["version"] + 1})).json()
    answer = next(f for f in diff["fields"] if f["name"] == "answer")
    assert answer["changed"]
    inserted = " ".join(r["text"] for r in answer["runs"] if r["op"] == "ins")
    deleted = " ".join(r["text"] for r in answer["runs"] if r["op"] == "del")
    assert "PAID" in inserted and "HOLIDAYS" in inserted and first_word in deleted
    assert not next(f for f in diff["fields"] if f["name"] == "title")["changed"]

    reverted = await client.post(f"{ENTRY}/revert", headers=admin, json={"version": before["version"]})
    assert reverted.status_code == 200
    assert reverted.json()["version"] == before["version"] + 2  # a new version, history kept
    assert reverted.json()["answer"] == before["answer"]
    assert "PAID HOLIDAYS" not in await paid_leave_answer(client)
    assert len((await client.get(f"{ENTRY}/versions", headers=admin)).json()) == len(versions) + 1


async def test_publishing_checks_numbers_and_phones_across_languages(client, auth, session):
    admin = auth["admin"]
    entry = (await client.get(ENTRY, headers=admin)).json()
    changed = entry["answer"].replace("10 days", "17 days")
    await client.put(ENTRY, headers=admin, json={**{k: entry[k] for k in ("title", "more", "sources")},
                                                  "answer": changed})
    refused = await client.post(f"{ENTRY}/publish", headers=admin)
    assert refused.status_code == 409
    differences = refused.json()["differences"]
    assert any(d["lang"] == "en" and d["kind"] == "numbers" and "17" in d["extra"] for d in differences)
    assert "17 days" not in await paid_leave_answer(client)

    forced = await client.post(f"{ENTRY}/publish", headers=admin, json={"reason": "the other languages follow"})
    assert forced.status_code == 200 and forced.json()["status"] == "published"
    assert "17 days" in await paid_leave_answer(client)
    logged = session.scalar(select(AuditLog).where(AuditLog.action == "entry.published")
                            .order_by(AuditLog.id.desc()))
    assert "the other languages follow" in logged.detail and "en: numbers differ" in logged.detail


async def test_bad_edits_are_refused_with_a_clear_status(client, auth):
    admin = auth["admin"]
    entry = (await client.get(ENTRY, headers=admin)).json()
    body = {k: entry[k] for k in ("title", "answer", "more", "sources")}
    bad_url = await client.put(ENTRY, headers=admin, json={**body, "sources": [{"publisher": "x",
                                                                                   "url": "javascript:alert(1)"}]})
    assert bad_url.status_code == 422
    assert (await client.put(ENTRY, headers=admin, json={**body, "answer": ""})).status_code == 422
    assert (await client.get("/api/admin/entries/paid_leave/xx", headers=admin)).status_code == 404
    assert (await client.get("/api/admin/entries/nothing/en", headers=admin)).status_code == 404
    assert (await client.post(f"{ENTRY}/revert", headers=admin, json={"version": 99})).status_code == 404


async def test_a_volunteer_gets_403_and_anonymous_401_on_every_admin_path(client, auth):
    files = {"file": ("fy.csv", revision_csv(), "text/csv")}
    calls = [("GET", ENTRY, {}), ("PUT", ENTRY, {"json": {"title": "t", "answer": "a", "more": None, "sources": []}}),
             ("POST", f"{ENTRY}/publish", {}), ("GET", f"{ENTRY}/versions", {}),
             ("POST", f"{ENTRY}/revert", {"json": {"version": 1}}),
             ("POST", "/api/admin/wages/import?dry_run=true", {"files": files})]
    for method, path, kwargs in calls:
        as_volunteer = await client.request(method, path, headers=auth["lan"], **kwargs)
        assert as_volunteer.status_code == 403, (method, path)
        assert (await client.request(method, path, **kwargs)).status_code == 401, (method, path)


# ---------------------------------------------------------------------------------------------- review dates
async def test_entries_past_review_are_listed_oldest_first_and_counted_on_health(client, auth, bot_engine):
    bot_engine.today = lambda: dt.date(2027, 1, 10)  # past the 2026-12-31 review date of two topics
    due = (await client.get("/api/admin/review", headers=auth["admin"])).json()
    assert len(due) == 10 and {d["topic"] for d in due} == {"minimum_wage", "wage_check"}
    assert [d["review_by"] for d in due] == sorted(d["review_by"] for d in due)
    assert (await client.get("/health")).json()["entries_past_review"] == 10
    marked = await client.post("/api/admin/entries/minimum_wage/vi/reviewed", headers=auth["admin"],
                               json={"review_by": "2027-06-30"})
    assert marked.status_code == 200 and marked.json()["review_by"] == "2027-06-30"
    assert marked.json()["last_reviewed"] == "2027-01-10"
    assert (await client.get("/health")).json()["entries_past_review"] == 9


# ---------------------------------------------------------------------------------------------- wage import
async def test_wage_import_dry_run_then_apply_and_the_bot_quotes_the_new_rate(client, auth, session):
    admin = auth["admin"]
    rows_before = session.scalar(select(func.count(MinimumWage.id)))
    data = revision_csv(raise_by=60, overrides={"Okinawa": {"date": "2026-12-15"}})
    preview = await client.post("/api/admin/wages/import?dry_run=true", headers=admin,
                                files={"file": ("fy2026.csv", data, "text/csv")})
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["fiscal_year"] == 2026 and body["rows"] == 47 and body["errors"] == []
    tokyo = next(c for c in body["changes"] if c["prefecture"] == "Tokyo")
    assert tokyo["new_yen"] == tokyo["old_yen"] + 60
    assert session.scalar(select(func.count(MinimumWage.id))) == rows_before  # a dry run writes nothing

    applied = await client.post("/api/admin/wages/import?dry_run=false", headers=admin,
                                files={"file": ("fy2026.csv", data, "text/csv")})
    assert applied.status_code == 200 and applied.json()["applied"] is True
    session.expire_all()
    assert session.scalar(select(func.count(MinimumWage.id))) == rows_before + 47

    rate = (await client.get("/api/wages/Tokyo/in-force", params={"on": "2026-12-01"})).json()
    assert rate["yen_per_hour"] == tokyo["new_yen"] and rate["possibly_outdated"] is False
    okinawa_before = (await client.get("/api/wages/Okinawa/in-force", params={"on": "2026-12-01"})).json()
    assert okinawa_before["fiscal_year"] == 2025  # its new rate starts on 2026-12-15

    chat = WebChat(client, lang="en")
    await chat.press("lang:en")
    await chat.press("topic:minimum_wage")
    answer = text_of(await chat.say("Tokyo"))
    assert f"{tokyo['new_yen']:,}" in answer and "out of date" not in answer
    await chat.press("topic:minimum_wage")
    answer = text_of(await chat.say("Okinawa"))
    okinawa = next(c for c in body["changes"] if c["prefecture"] == "Okinawa")
    assert f"{okinawa['old_yen']:,}" in answer and f"{okinawa['new_yen']:,}" in answer  # and when it starts


async def test_a_bad_wage_file_changes_nothing_and_names_its_lines(client, auth, session):
    rows_before = session.scalar(select(func.count(MinimumWage.id)))
    data = revision_csv(drop=("Nara",), overrides={"Tokyo": {"yen": "abc"}, "Osaka": {"date": "2026-07-01"}})
    response = await client.post("/api/admin/wages/import?dry_run=false", headers=auth["admin"],
                                 files={"file": ("bad.csv", data, "text/csv")})
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert any("Nara" in e["message"] for e in errors)
    assert {e["line"] for e in errors if "Nara" not in e["message"]} >= {14, 28}  # Tokyo, Osaka (header = 1)
    session.expire_all()
    assert session.scalar(select(func.count(MinimumWage.id))) == rows_before


async def test_shift_jis_with_kanji_names_imports(client, auth):
    data = revision_csv(names="ja", encoding="cp932", raise_by=50)
    response = await client.post("/api/admin/wages/import?dry_run=true", headers=auth["admin"],
                                 files={"file": ("fy2026.csv", data, "text/csv")})
    assert response.status_code == 200 and response.json()["rows"] == 47


# ---------------------------------------------------------------------------------------------- pages
async def test_the_admin_pages_need_an_admin(new_client, people, client):
    assert (await client.get("/admin")).status_code == 303
    async with new_client() as browser:
        await browser.post("/inbox/login", data={"email": "lan@example.org", "password": PASSWORD})
        assert (await browser.get("/admin")).status_code == 403
        assert (await browser.get("/admin/entries/paid_leave")).status_code == 403


async def test_the_admin_home_lists_the_numbers_to_check(admin_browser):
    page = await admin_browser.get("/admin")
    assert "0570-001706" in page.text and "phone numbers are not verified" in page.text


async def test_the_editor_saves_five_languages_and_publishes_them_together(admin_browser, client):
    page = await admin_browser.get("/admin/entries/paid_leave")
    assert page.status_code == 200
    for lang in ("vi", "id", "tl", "ja", "en"):
        assert f'name="{lang}.answer"' in page.text
    form = _form_values(page.text)
    form["en.title"] = "Paid leave <b>(edited)</b>"
    form["vi.title"] = form["vi.title"] + " (sửa)"
    saved = await admin_browser.post("/admin/entries/paid_leave", data={**form, "action": "save"})
    assert saved.status_code == 303
    page = await admin_browser.get(saved.headers["location"])
    assert "Saved as draft: vi, en" in page.text
    assert "Paid leave &lt;b&gt;(edited)&lt;/b&gt;" in page.text  # escaped
    published = await admin_browser.post("/admin/entries/paid_leave",
                                          data={**_form_values(page.text), "action": "publish"})
    assert published.status_code == 303
    shown = (await admin_browser.get(published.headers["location"])).text
    assert "Published: vi, en" in shown, " ".join(re.sub(r"<[^>]+>", " ", shown.split("<main", 1)[-1]).split())[:1200]
    chat = WebChat(client, lang="en")
    await chat.press("lang:en")
    assert "(edited)" in text_of(await chat.press("topic:paid_leave"))


async def test_the_editor_warns_when_an_answer_is_too_long_for_one_screen(admin_browser):
    page = await admin_browser.get("/admin/entries/broker_debt")
    def english_length_note(html: str) -> str:
        return re.search(r'data-lang="en">([^<]*)</p>', html).group(1)

    assert "/ 300 characters" in page.text and "/ 130 characters" in page.text  # en etc., and Japanese
    assert "too long" not in english_length_note(page.text)
    form = _form_values(page.text)
    form["en.answer"] = ("Take your paid leave. " * 20).strip()
    saved = await admin_browser.post("/admin/entries/broker_debt", data={**form, "action": "save"})
    page = await admin_browser.get(saved.headers["location"])
    assert english_length_note(page.text).startswith("439 / 300 characters: too long for one phone screen")


async def test_the_editor_shows_differences_and_publishes_with_a_reason(admin_browser, session):
    page = await admin_browser.get("/admin/entries/paid_leave")
    form = _form_values(page.text)
    form["ja.answer"] = form["ja.answer"] + "\n0120-000-000"
    refused = await admin_browser.post("/admin/entries/paid_leave", data={**form, "action": "publish:ja"})
    assert refused.status_code == 409
    assert "ja: phone numbers differ" in refused.text and "0120-000-000" in refused.text
    forced = await admin_browser.post("/admin/entries/paid_leave",
                                      data={**_form_values(refused.text), "action": "publish:ja",
                                            "reason": "new line, others to follow"})
    assert forced.status_code == 303
    assert session.scalar(select(AuditLog.detail).where(AuditLog.action == "entry.published")
                          .order_by(AuditLog.id.desc())).endswith("new line, others to follow")


async def test_history_page_diffs_and_reverts(admin_browser, client):
    page = await admin_browser.get("/admin/entries/paid_leave")
    form = _form_values(page.text)
    form["en.title"] = "Holidays with pay"
    await admin_browser.post("/admin/entries/paid_leave", data={**form, "action": "publish:en"})
    history = await admin_browser.get("/admin/entries/paid_leave/en/history")
    assert "<ins>Holidays</ins>" in history.text and "<del>Paid</del>" in history.text
    reverted = await admin_browser.post("/admin/entries/paid_leave/en/revert",
                                        data={"version": "1", "csrf_token": admin_browser.csrf})
    assert reverted.status_code == 303
    chat = WebChat(client, lang="en")
    await chat.press("lang:en")
    assert "Holidays with pay" not in text_of(await chat.press("topic:paid_leave"))


async def test_a_form_without_the_csrf_token_is_refused(admin_browser):
    page = await admin_browser.get("/admin/entries/paid_leave")
    form = {k: v for k, v in _form_values(page.text).items() if k != "csrf_token"}
    assert (await admin_browser.post("/admin/entries/paid_leave", data={**form, "action": "save"})).status_code == 403


async def test_wage_import_page_previews_then_applies(admin_browser, client):
    data = revision_csv(raise_by=70)
    preview = await admin_browser.post("/admin/wages/import", data={"csrf_token": admin_browser.csrf,
                                                                    "action": "preview"},
                                       files={"file": ("fy2026.csv", data, "text/csv")})
    assert preview.status_code == 200 and "Preview: FY2026, 47 prefectures" in preview.text
    carried = re.search(r'name="data" value="([^"]+)"', preview.text).group(1)
    applied = await admin_browser.post("/admin/wages/import", data={"csrf_token": admin_browser.csrf,
                                                                    "action": "apply", "data": carried})
    assert applied.status_code == 303
    table = await admin_browser.get(applied.headers["location"])
    assert "FY2026 imported" in table.text and "FY2026" in table.text
    bad = await admin_browser.post("/admin/wages/import", data={"csrf_token": admin_browser.csrf},
                                   files={"file": ("bad.csv", revision_csv(drop=("Kyoto",)), "text/csv")})
    assert bad.status_code == 422 and "Kyoto" in bad.text


def _form_values(html: str) -> dict[str, str]:
    """The editor form's fields as a browser would post them."""
    import html as html_lib

    values = {}
    for name, value in re.findall(r'<input type="(?:text|date|hidden)" name="([^"]+)" value="([^"]*)"', html):
        values[name] = html_lib.unescape(value)
    for name, value in re.findall(r'<textarea name="([^"]+)"[^>]*>(.*?)</textarea>', html, flags=re.S):
        values[name] = html_lib.unescape(value)
    return values


async def check_pay(client, amount: str) -> str:
    chat = WebChat(client, lang="en")
    await chat.press("lang:en")
    await chat.press("topic:wage_check")
    await chat.say(amount)
    await chat.press("period:hour")
    return text_of(await chat.say("Tokyo"))


async def test_the_verdict_never_says_at_or_above_while_a_newer_rate_may_be_in_force(client, auth):
    from bot import messages
    from bot.i18n import t

    ok = t("en", messages.VERDICT_OK, hourly="X", prefecture="P", minimum="M", date="D").split("P")[-1]
    before = await check_pay(client, "1250 yen")  # above Tokyo's FY2025 ¥1,226; FY2026 not imported yet
    assert "above the fiscal year 2025 minimum wage" in before and "may be higher" in before
    assert "at or above the minimum" not in before and ok not in before
    await client.post("/api/admin/wages/import?dry_run=false", headers=auth["admin"],
                      files={"file": ("fy2026.csv", revision_csv(raise_by=60), "text/csv")})
    after = await check_pay(client, "1250 yen")  # FY2026 Tokyo ¥1,286 from 2026-10-01
    assert "1,286" in after and "may be higher" not in after
    assert "you get ¥36 an hour too little" in after
