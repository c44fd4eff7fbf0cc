"""The web chat trainee is who their browser's signed cookie says, and nobody else."""

from __future__ import annotations

from sqlalchemy import func, select

from api.channels.web import COOKIE
from bot import messages
from bot.i18n import t
from bot.models import Conversation, Message
from tests.utils.chat import WebChat, text_of

URL = "/channels/web/messages"


async def test_the_server_issues_a_signed_httponly_strict_cookie(client):
    response = await client.post(URL, json={"text": "hello", "lang": "en"})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(COOKIE + "=") and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")


async def test_another_browser_cannot_borrow_a_trainees_conversation(client, new_client, session):
    victim = WebChat(client, lang="en")
    asked = await victim.say("my salary is 150000 yen a month, am i underpaid?")
    assert text_of(asked).strip() == t("en", messages.ASK_PREFECTURE)  # her wage check is waiting for a prefecture

    async with new_client() as attacker:  # knows her id and sends it in the body, as the old API allowed
        stolen = await attacker.post(URL, json={"user_id": victim.user_id, "text": "Okinawa", "lang": "en"})
        assert stolen.status_code == 200
        assert "863" not in text_of(stolen.json())  # her verdict is not shown to anyone else
        wipe = await attacker.post(URL, json={"user_id": victim.user_id, "payload": "forget:yes"})
        assert wipe.status_code == 200 and text_of(wipe.json()) != t("en", messages.FORGET_DONE, count=0)[:10]
        forged = {COOKIE: victim.user_id + ".forged-signature"}
        attacker.cookies.update(forged)
        again = await attacker.post(URL, json={"text": "Okinawa", "lang": "en"})
        assert "863" not in text_of(again.json())

    mine = await victim.say("Okinawa")  # her conversation is intact and continues
    assert "863" in text_of(mine)
    owners = session.scalars(select(Conversation.channel_user_id).where(Conversation.channel == "web")).all()
    assert owners.count(victim.user_id) == 1


async def test_a_client_without_cookies_starts_a_new_conversation_each_time(client, new_client, session):
    async with new_client() as first, new_client() as second:
        await first.post(URL, json={"text": "hello", "lang": "en"})
        await second.post(URL, json={"text": "hello", "lang": "en"})
        first.cookies.clear()
        await first.post(URL, json={"text": "hello", "lang": "en"})
    count = session.scalar(select(func.count()).select_from(Conversation).where(Conversation.channel == "web"))
    assert count == 3


async def test_forget_yes_acts_only_when_the_confirmation_is_pending(client, session):
    chat = WebChat(client, lang="en")
    await chat.say("hello")
    pressed = await chat.press("forget:yes")  # no /forget before it
    assert text_of(pressed).strip() != t("en", messages.FORGET_DONE, count=3)
    assert session.scalar(select(Conversation).where(Conversation.channel_user_id == chat.user_id)) is not None
    await chat.say("/forget")
    done = await chat.press("forget:yes")
    # hello + greeting, the lone press + the menu, /forget + the question, the press: 7 messages deleted
    assert text_of(done).strip() == t("en", messages.FORGET_DONE, count=7)
    assert session.scalar(select(Conversation).where(Conversation.channel_user_id == chat.user_id)) is None


async def test_a_retried_post_gets_the_stored_replies_whatever_the_id_length(client, session):
    chat = WebChat(client, lang="en")
    long_id = "x" * 200  # the column holds 128: the key is hashed to fit on every database
    first = await chat.say("can i change company", client_message_id=long_id)
    again = await chat.say("can i change company", client_message_id=long_id)
    assert first["replies"] and again["replies"] == first["replies"] and again["meta"]["duplicate"]
    assert session.scalar(select(func.count()).select_from(Message).where(
        Message.direction == "inbound", Message.channel == "web", Message.text == "can i change company")) == 1


async def test_handoff_ids_are_random_and_opaque(client):
    ids = []
    for _ in range(2):
        body = await WebChat(client, lang="en").say("/human")
        ids.append(body["meta"]["handoff_id"])
    assert all(isinstance(i, str) and len(i) >= 16 and not i.isdigit() for i in ids)
    assert ids[0] != ids[1]


async def test_bad_bodies_get_clear_4xx(client):
    assert (await client.post(URL, content=b"{not json", headers={"Content-Type": "application/json"})).status_code == 400
    deep = b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert (await client.post(URL, content=deep, headers={"Content-Type": "application/json"})).status_code == 400
    huge = b'{"text": "' + b"a" * 1_100_000 + b'"}'
    assert (await client.post(URL, content=huge, headers={"Content-Type": "application/json"})).status_code == 413
    assert (await client.post(URL, json={"text": "a" * 20_001})).status_code == 422
