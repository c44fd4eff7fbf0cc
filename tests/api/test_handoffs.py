"""The handoff lifecycle through the HTTP API, with the web chat as the trainee: queue, claim, the bot
silent while a volunteer holds the chat, replies, close, rating, the silence timeout, off-hours, roles."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from api.accounts import service as accounts
from bot import messages
from bot.i18n import t
from bot.models import AuditLog, Handoff, HandoffStatus
from tests.utils.chat import WebChat, payloads, text_of
from tests.utils.people import PASSWORD, bearer_headers, create_people

pytestmark = pytest.mark.nlu
#: A Tuesday at 14:00 in Japan: volunteers of every language are online (knowledge/data/support_hours.yaml).
OPEN_HOURS = dt.datetime(2026, 12, 1, 5, 0, tzinfo=dt.UTC)


@pytest.fixture
def today():
    return dt.date(2026, 11, 25)


@pytest.fixture
def people(session):
    return create_people(session, lan=("volunteer", ["vi", "ja"], "Lan"), budi=("volunteer", ["id"], "Budi"),
                         admin=("admin", ["en"], "Admin"))


@pytest.fixture
async def auth(client, people):
    return await bearer_headers(client, people)


@pytest.fixture(autouse=True)
def open_hours(bot_engine):
    bot_engine.now = lambda: OPEN_HOURS


async def ask_for_a_person(client, lang="vi") -> tuple[WebChat, str]:
    chat = WebChat(client, lang=lang)
    body = await chat.say("/human")
    assert body["meta"]["handoff_id"]
    chat.first = body
    return chat, body["meta"]["handoff_id"]


async def test_the_whole_loop_on_the_web_chat(client, auth, bot_engine, session):
    chat, handoff_id = await ask_for_a_person(client)
    asked = text_of(await chat.say("/human"))  # asked twice: one handoff, the queue notice said once
    first = await client.get("/api/handoffs?status=waiting", headers=auth["lan"])
    [row] = [h for h in first.json()["data"] if h["id"] == handoff_id]
    assert row["lang"] == "vi" and row["channel"] == "web" and row["reason"] == "asked" and row["volunteer"] is None
    assert row["trainee"].startswith("Trainee ") and chat.user_id not in str(row)  # a pseudonym only
    queued = t("vi", messages.QUEUE_SOON, position=1, minutes=10)
    assert queued in text_of(chat.first) and queued[:20] not in asked

    # While waiting, the bot keeps answering.
    assert "1.140" in text_of(await chat.say("lương tối thiểu ở Aichi bao nhiêu"))

    claimed = await client.post(f"/api/handoffs/{handoff_id}/claim", headers=auth["lan"])
    assert claimed.status_code == 200 and claimed.json()["status"] == "claimed"
    joined = await chat.say("chị ơi em bị công ty giữ hộ chiếu")  # the bot says nothing of its own now
    assert text_of(joined).startswith(t("vi", messages.VOLUNTEER_JOINED, name="Lan")[:20])
    assert len(joined["replies"]) == 1 and payloads(joined) == ["bot"]  # only the notice, no answer
    assert text_of(await chat.say("chị có ở đó không?")) == ""

    detail = (await client.get(f"/api/handoffs/{handoff_id}", headers=auth["lan"])).json()
    directions = [m["direction"] for m in detail["messages"]]
    assert {"trainee", "bot"} <= set(directions)
    assert detail["messages"][-1] == {**detail["messages"][-1], "direction": "trainee", "text": "chị có ở đó không?"}
    assert any(m["intent"] == "minimum_wage" for m in detail["messages"] if m["direction"] == "trainee")
    audit = session.scalars(select(AuditLog.action).where(AuditLog.target == handoff_id)).all()
    assert "handoff.transcript_read" in audit and "handoff.claimed" in audit

    sent = await client.post(f"/api/handoffs/{handoff_id}/messages", headers=auth["lan"],
                             json={"text": "Chào em, chị là Lan. <b>Em</b> ở tỉnh nào?"})
    assert sent.status_code == 200 and sent.json()["delivery"] == "pending"  # the web page fetches it
    pushed = await chat.say("em ở Aichi")
    assert "Chào em, chị là Lan. <b>Em</b> ở tỉnh nào?" in text_of(pushed)
    detail = (await client.get(f"/api/handoffs/{handoff_id}", headers=auth["lan"])).json()
    mine = [m for m in detail["messages"] if m["direction"] == "volunteer"]
    assert mine[-1]["delivery"] == "sent" and mine[-1]["volunteer"] == "Lan"

    canned = (await client.get(f"/api/handoffs/{handoff_id}/canned", headers=auth["lan"])).json()["data"]
    by_key = {c["key"]: c["text"] for c in canned}
    assert set(by_key) >= {"hello", "minimum_wage", "call_hotline"}
    assert "Aichi" in by_key["minimum_wage"] and "{" not in "".join(by_key.values())  # filled, in Vietnamese
    assert "Lan" in by_key["hello"]
    await client.post(f"/api/handoffs/{handoff_id}/notes", headers=auth["lan"], json={"text": "passport held"})
    closed = await client.post(f"/api/handoffs/{handoff_id}/close", headers=auth["lan"],
                               json={"outcome": "information_given", "referral": "otit"})
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"
    back = await chat.say("dạ")
    assert t("vi", messages.BACK_TO_BOT) in text_of(back) and "rate:5" in payloads(back)
    rated = await chat.press("rate:5")
    assert text_of(rated).startswith(t("vi", messages.RATE_THANKS))
    assert session.scalar(select(Handoff.rating).where(Handoff.public_id == handoff_id)) == 5
    again = await chat.say("em muốn chuyển công ty được không")  # the bot answers again
    assert again["meta"]["intent"] == "job_transfer"


async def test_danger_words_while_a_volunteer_holds_the_chat(client, auth):
    chat, handoff_id = await ask_for_a_person(client)
    await client.post(f"/api/handoffs/{handoff_id}/claim", headers=auth["lan"])
    body = await chat.say("cứu em với, nó đang đánh em")
    assert "110" in text_of(body)  # the emergency numbers still come at once
    detail = (await client.get(f"/api/handoffs/{handoff_id}", headers=auth["lan"])).json()
    assert detail["priority"] == "urgent" and detail["status"] == "claimed"


async def test_the_trainee_can_go_back_to_the_bot(client, auth, session):
    chat, handoff_id = await ask_for_a_person(client)
    await client.post(f"/api/handoffs/{handoff_id}/claim", headers=auth["lan"])
    body = await chat.say("/bot")
    assert t("vi", messages.BACK_TO_BOT) in text_of(body)
    assert session.scalar(select(Handoff.status).where(Handoff.public_id == handoff_id)) == HandoffStatus.returned
    assert (await chat.say("em muốn chuyển công ty được không"))["meta"]["intent"] == "job_transfer"


async def test_a_silent_volunteer_gives_the_chat_back_to_the_queue(client, auth, bot_engine, session):
    chat, handoff_id = await ask_for_a_person(client)
    await client.post(f"/api/handoffs/{handoff_id}/claim", headers=auth["lan"])
    handoff = session.scalar(select(Handoff).where(Handoff.public_id == handoff_id))
    handoff.claimed_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=11)  # default silence: 10 minutes
    session.commit()
    await bot_engine.run_due()
    session.refresh(handoff)
    assert handoff.status == HandoffStatus.waiting and handoff.volunteer_id is None
    told = await chat.say("alo")
    assert t("vi", messages.QUEUE_AGAIN) in text_of(told)
    queue = (await client.get("/api/handoffs?status=waiting", headers=auth["budi"])).json()["data"]
    assert handoff_id in [h["id"] for h in queue]  # not forgotten: anyone can take it


async def test_off_hours_say_when_a_person_is_next_available(client, bot_engine):
    bot_engine.now = lambda: dt.datetime(2026, 12, 5, 15, 30, tzinfo=dt.UTC)  # Sunday 00:30 in Japan
    body = await WebChat(client, lang="vi").say("/human")
    text = text_of(body)
    # Vietnamese volunteers: Sundays 13:00-18:00.
    assert t("vi", messages.QUEUE_OFF_HOURS, day=t("vi", messages.WEEKDAYS[6]), time="13:00") in text


async def test_queue_order_urgent_first_then_oldest_own_languages_first(client, auth):
    _, first = await ask_for_a_person(client, "id")
    _, second = await ask_for_a_person(client, "vi")
    emergency = await WebChat(client, lang="vi").say("help me he is beating me now")
    urgent = emergency["meta"]["handoff_id"]
    ids = [h["id"] for h in (await client.get("/api/handoffs?status=waiting", headers=auth["lan"])).json()["data"]]
    assert ids.index(urgent) < ids.index(second) < ids.index(first)  # Lan speaks vi: her language first
    ids = [h["id"] for h in (await client.get("/api/handoffs?status=waiting", headers=auth["budi"])).json()["data"]]
    assert ids.index(urgent) < ids.index(first) < ids.index(second)


async def test_a_second_claim_gets_409(client, auth):
    _, handoff_id = await ask_for_a_person(client)
    assert (await client.post(f"/api/handoffs/{handoff_id}/claim", headers=auth["lan"])).status_code == 200
    assert (await client.post(f"/api/handoffs/{handoff_id}/claim", headers=auth["budi"])).status_code == 409


async def test_forget_closes_the_handoff_and_deletes_its_transcript(client, auth, session):
    chat, handoff_id = await ask_for_a_person(client)
    await chat.say("/forget")
    await chat.press("forget:yes")
    assert session.scalar(select(Handoff).where(Handoff.public_id == handoff_id)) is None
    assert (await client.get(f"/api/handoffs/{handoff_id}", headers=auth["admin"])).status_code == 404


async def test_sign_in_errors_say_nothing_about_which_part_was_wrong(client, people):
    wrong_password = await client.post("/auth/token", json={"email": "lan@example.org", "password": "nope-nope-1"})
    unknown = await client.post("/auth/token", json={"email": "who@example.org", "password": PASSWORD})
    assert wrong_password.status_code == unknown.status_code == 401
    assert wrong_password.json() == unknown.json()
    for _ in range(accounts.MAX_FAILURES):
        await client.post("/auth/token", json={"email": "budi@example.org", "password": "wrong-wrong"})
    limited = await client.post("/auth/token", json={"email": "budi@example.org", "password": PASSWORD})
    assert limited.status_code == 429  # even the right password, until the window passes


async def test_roles_matrix(client, auth):
    """anonymous, the holder, another volunteer and an admin against every endpoint."""
    _, held = await ask_for_a_person(client)
    assert (await client.post(f"/api/handoffs/{held}/claim", headers=auth["lan"])).status_code == 200
    who = {"anonymous": {}, "holder": auth["lan"], "other": auth["budi"], "admin": auth["admin"]}
    calls = [
        ("GET", "/api/handoffs", None, {"anonymous": 401, "holder": 200, "other": 200, "admin": 200}),
        ("GET", f"/api/handoffs/{held}", None, {"anonymous": 401, "holder": 200, "other": 403, "admin": 200}),
        ("GET", f"/api/handoffs/{held}/canned", None, {"anonymous": 401, "holder": 200, "other": 403, "admin": 200}),
        ("POST", f"/api/handoffs/{held}/messages", {"text": "hi"},
         {"anonymous": 401, "holder": 200, "other": 403, "admin": 403}),
        ("POST", f"/api/handoffs/{held}/notes", {"text": "n"},
         {"anonymous": 401, "holder": 201, "other": 403, "admin": 201}),
        ("POST", f"/api/handoffs/{held}/claim", None, {"anonymous": 401, "holder": 409, "other": 409, "admin": 409}),
        ("POST", f"/api/handoffs/{held}/release", None, {"anonymous": 401, "other": 403}),
        ("POST", f"/api/handoffs/{held}/close", {"outcome": "resolved"}, {"anonymous": 401, "other": 403}),
        ("GET", "/api/handoffs/nope", None, {"anonymous": 401, "holder": 404, "other": 404, "admin": 404}),
        ("GET", "/api/accounts", None, {"anonymous": 401, "holder": 403, "other": 403, "admin": 200}),
        ("POST", "/api/accounts", {"email": "new@example.org", "password": PASSWORD, "role": "volunteer",
                                   "languages": ["tl"], "name": "Joy"},
         {"anonymous": 401, "holder": 403, "other": 403, "admin": 201}),
    ]
    for method, path, body, expected in calls:
        for role, status in expected.items():
            response = await client.request(method, path, json=body, headers=who[role])
            assert response.status_code == status, (method, path, role, response.text)
    # What's left for the holder and the admin: the admin releases, the holder can't close it any more.
    assert (await client.post(f"/api/handoffs/{held}/release", headers=auth["admin"])).status_code == 200
    closing = await client.post(f"/api/handoffs/{held}/close", headers=auth["lan"], json={"outcome": "resolved"})
    assert closing.status_code == 409
    assert (await client.get("/api/handoffs/stream", headers={})).status_code == 401
    accounts_list = (await client.get("/api/accounts", headers=auth["admin"])).json()["data"]
    budi = next(a for a in accounts_list if a["email"] == "budi@example.org")
    assert (await client.post(f"/api/accounts/{budi['id']}/deactivate", headers=auth["lan"])).status_code == 403
    assert (await client.post(f"/api/accounts/{budi['id']}/deactivate", headers=auth["admin"])).status_code == 200
    assert (await client.get("/api/handoffs", headers=auth["budi"])).status_code == 401  # his token stops working
    forged = {"Authorization": "Bearer " + auth["lan"]["Authorization"].split()[1][:-2] + "xx"}
    assert (await client.get("/api/handoffs", headers=forged)).status_code == 401
