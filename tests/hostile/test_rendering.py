"""Hostile characters written by the people on our side: an admin's knowledge entry and a volunteer's reply. The
trainee gets them as text (escaped for Telegram's HTML, plain on Zalo and in the web chat's JSON) and the inbox
and admin pages show them as text, never as markup."""

from __future__ import annotations

import pytest

from bot import messages
from bot.i18n import t
from tests.hostile.conftest import TELEGRAM_LIMIT, ZALO_LIMIT, utf16
from tests.hostile.telegram_html import shown_text
from tests.utils.people import PASSWORD, bearer_headers, create_people
from tests.utils.zalo_api import event

SCRIPT = "<script>alert(1)</script>"
HOSTILE = f"Lưu ý: {SCRIPT} a < b & c > d, <b>đậm chưa đóng, &amp; &lt;i&gt; <a href=\"javascript:x\">x</a>"
ENTRY = "/api/admin/entries/paid_leave/vi"


@pytest.fixture
async def people(session, http):
    made = create_people(session, admin=("admin", ["vi"], "Mai"), lan=("volunteer", ["vi"], "Lan <i>"))
    return await bearer_headers(http, made)


async def signed_in(browser, email: str) -> None:
    response = await browser.post("/inbox/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 303


@pytest.fixture
async def browser(hostile_app):
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=hostile_app), base_url="http://test") as c:
        yield c


def assert_shown_as_text(page_html: str, written: str = SCRIPT) -> None:
    assert written not in page_html and "<script>alert" not in page_html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page_html


def check_telegram(person, expected: str) -> None:
    sent = person.sent()
    assert sent and all(m["_status"] == 200 for m in sent)
    shown = [shown_text(m["text"]) for m in sent]
    assert all(utf16(s) <= TELEGRAM_LIMIT for s in shown)
    assert any(expected in s for s in shown), shown


def check_zalo(person, expected: str) -> None:
    texts = [c.body["message"]["text"] for c in person.zalo_api.sends(person.user_id)]
    assert texts and all(0 < utf16(x) <= ZALO_LIMIT for x in texts)
    assert any(expected in x for x in texts), texts  # plain text: exactly what was written


async def test_markup_in_a_knowledge_entry_reaches_trainees_as_text(http, browser, people, trainee):
    admin = people["admin"]
    entry = (await http.get(ENTRY, headers=admin)).json()
    title = f"Nghỉ phép {SCRIPT}"
    answer = HOSTILE + "\n\n" + entry["answer"]
    saved = await http.put(ENTRY, headers=admin, json={"title": title, "answer": answer, "more": entry["more"],
                                                        "sources": entry["sources"]})
    assert saved.status_code == 200, saved.text
    published = await http.post(f"{ENTRY}/publish", headers=admin, json={"reason": "a test of escaping"})
    assert published.status_code == 200, published.text

    telegram = trainee("telegram")
    await telegram.say("/start")
    assert (await telegram.press("topic:paid_leave")).status == 200
    check_telegram(telegram, HOSTILE)
    check_telegram(telegram, title)  # the bold title: escaped inside <b>

    zalo = trainee("zalo")
    greeting = await zalo.post_event(event("follow", user_id=zalo.user_id))
    label = t("vi", messages.TOPIC_NAMES["paid_leave"])
    numbers = [line.split(".")[0] for text in greeting.texts for line in text.splitlines() if line.endswith(label)]
    assert numbers, greeting.texts
    assert (await zalo.say(numbers[0])).status == 200
    check_zalo(zalo, HOSTILE)
    check_zalo(zalo, title)

    web = trainee("web")
    pressed = await web.press("topic:paid_leave")
    assert any(HOSTILE in x and x.startswith(title) for x in pressed.texts)  # JSON; the page sets textContent

    await signed_in(browser, "admin@example.org")
    for path in ("/admin/entries/paid_leave", "/admin/entries/paid_leave/vi/history", "/admin", "/admin/review"):
        page = await browser.get(path)
        assert page.status_code == 200, path
        assert "<script>alert" not in page.text, path
    assert_shown_as_text((await browser.get("/admin/entries/paid_leave")).text)


@pytest.mark.parametrize("channel", ["telegram", "zalo", "web"])
async def test_markup_in_a_volunteers_reply_reaches_the_trainee_as_text(http, browser, people, trainee, channel):
    lan = people["lan"]
    person = trainee(channel)
    await person.say("/human")
    await person.say(f"em cần giúp {SCRIPT} & <b>")
    [handoff] = (await http.get("/api/handoffs?status=waiting", headers=lan)).json()["data"]
    assert (await http.post(f"/api/handoffs/{handoff['id']}/claim", headers=lan)).status_code == 200

    sent = await http.post(f"/api/handoffs/{handoff['id']}/messages", headers=lan, json={"text": HOSTILE})

    assert sent.status_code == 200, sent.text
    if channel == "telegram":
        check_telegram(person, HOSTILE)
        check_telegram(person, t("vi", messages.VOLUNTEER_JOINED, name="Lan <i>"))
    elif channel == "zalo":
        check_zalo(person, HOSTILE)
    else:
        history = (await person.client.get("/channels/web/history")).json()["messages"]
        assert [m["text"] for m in history if m["from"] == "volunteer"] == [HOSTILE]

    await signed_in(browser, "lan@example.org")
    for path in ("/inbox", "/inbox/queue", f"/inbox/h/{handoff['id']}", f"/inbox/h/{handoff['id']}/messages"):
        page = await browser.get(path)
        assert page.status_code == 200, path
        assert "<script>alert" not in page.text and "<b>đậm" not in page.text and "<i>" not in page.text, path
    transcript = (await browser.get(f"/inbox/h/{handoff['id']}/messages")).text
    assert_shown_as_text(transcript)
    assert "a &lt; b &amp; c &gt; d" in transcript and "&amp;amp;" in transcript


async def test_nul_from_a_volunteer_or_an_admin_is_dropped_never_a_500(http, browser, people, trainee):
    person = trainee("telegram")
    await person.say("/human")
    [handoff] = (await http.get("/api/handoffs?status=waiting", headers=people["lan"])).json()["data"]
    await http.post(f"/api/handoffs/{handoff['id']}/claim", headers=people["lan"])
    url = f"/api/handoffs/{handoff['id']}"

    sent = await http.post(f"{url}/messages", headers=people["lan"], json={"text": "Xin chào\x00 em"})
    note = await http.post(f"{url}/notes", headers=people["lan"], json={"text": "ghi\x00 chú"})
    empty = await http.post(f"{url}/messages", headers=people["lan"], json={"text": "\x00"})
    entry = (await http.get(ENTRY, headers=people["admin"])).json()
    edited = await http.put(ENTRY, headers=people["admin"], json={
        "title": "Nghỉ\x00 phép", "answer": entry["answer"], "more": entry["more"],
        "sources": [{**entry["sources"][0], "publisher": entry["sources"][0]["publisher"] + "\x00"}]})

    assert (sent.status_code, note.status_code, empty.status_code, edited.status_code) == (200, 201, 422, 200)
    assert "Xin chào em" in [shown_text(m["text"]) for m in person.sent()]
    assert edited.json()["title"] == "Nghỉ phép"
    notes = (await http.get(url, headers=people["lan"])).json()["notes"]
    assert [n["text"] for n in notes] == ["ghi chú"]
    login = await browser.post("/inbox/login", data={"email": "lan@example.org\x00", "password": "x\x00"})
    token = await http.post("/auth/token", json={"email": "lan@example.org\x00", "password": "x\x00"})
    assert login.status_code == 401 and token.status_code == 401  # a wrong sign-in, not a server error
