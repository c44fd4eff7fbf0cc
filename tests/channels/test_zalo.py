"""The Zalo OA channel end to end: signed webhook events in (recorded shapes), messages out to a loopback Zalo.

The app runs on the test's database transaction and the real NLU server; the OA API and the OAuth
endpoint are `tests/utils/zalo_api.ZaloCapture` on 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest
from sqlalchemy import func, select

from bot import messages
from bot.channels import zalo
from bot.i18n import t
from bot.models import ChannelCredential, Conversation, Message, MessageStatus
from bot.schemas import Button, Kind, Reply
from tests.utils.zalo_api import (
    ACCESS_TOKEN, APP_ID, APP_SECRET, FIXTURES, OA_SECRET_KEY, REFRESH_TOKEN, ZaloCapture, event, signed,
)

USER = "246845883529197922"  # sender.id of the official sample
WEBHOOK = "/channels/zalo/webhook"
AICHI_RATE = "1.140 yên"  # Aichi's hourly minimum wage as the Vietnamese reply writes it
#: Aichi's FY2025 rate is in force on this day (pinned: the next revision changes the answer).
TODAY = dt.date(2026, 11, 25)


def seen(text: str) -> str:
    """The text as a user reads it (Babel puts a no-break space between the amount and the yen sign)."""
    return text.replace("\xa0", " ")


@pytest.fixture
def capture():
    with ZaloCapture() as server:
        yield server


@pytest.fixture
async def zalo_app(engine, session_factory, nlu_url, capture):
    from api.config import ApiSettings
    from api.main import create_app
    from bot.config import BotSettings

    settings = BotSettings(
        zalo_app_id=APP_ID, zalo_oa_secret_key=OA_SECRET_KEY, zalo_app_secret=APP_SECRET,
        zalo_access_token=ACCESS_TOKEN, zalo_refresh_token=REFRESH_TOKEN,
        zalo_api_base_url=capture.url, zalo_oauth_base_url=capture.url, nlu_url=nlu_url, _env_file=None,
    )
    application = create_app(ApiSettings(_env_file=None, worker=False), bot_settings=settings, engine=engine,
                             session_factory=session_factory, today=lambda: TODAY)
    application.state.services.zalo.retry_delays = (0.01, 0.01)
    yield application
    await application.state.services.zalo.aclose()


@pytest.fixture
async def client(zalo_app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=zalo_app), base_url="http://test") as c:
        yield c


async def post(client, body: dict, **sign) -> httpx.Response:
    raw, headers = signed(body, **sign)
    return await client.post(WEBHOOK, content=raw, headers=headers)


def stored(session_factory) -> tuple[int, int]:
    """(zalo conversations, zalo messages) in the database."""
    with session_factory() as session:
        conversations = session.scalar(select(func.count()).select_from(Conversation).where(Conversation.channel == "zalo"))
        rows = session.scalar(select(func.count()).select_from(Message).where(Message.channel == "zalo"))
    return conversations, rows


def outbound_statuses(session_factory) -> list[str]:
    with session_factory() as session:
        return list(session.scalars(select(Message.status).where(Message.channel == "zalo",
                                                                 Message.direction == "outbound")))


# ------------------------------------------------------------------------------------------ signature
def test_signature_matches_the_reference_test_vector():
    raw = (b'{"app_id":"360846524940903967","sender":{"id":"246845883529197922"},"user_id_by_app":"552177279717587730",'
           b'"recipient":{"id":"388613280878808645"},"event_name":"user_send_text","message":{"text":"message",'
           b'"msg_id":"96d3cdf3af150460909"},"timestamp":"154390853474"}')
    assert len(raw) == 263
    header = "mac=a4f1c9b682aae449f96af01075585158f942c800c4fe370225ef11f15eb80906"
    body = json.loads(raw)
    assert zalo.expected_signature(raw, app_id=body["app_id"], timestamp=body["timestamp"],
                                   oa_secret_key="test_oa_secret") == header
    zalo.verify_signature(raw, body, header, app_id=APP_ID, oa_secret_key="test_oa_secret")
    zalo.verify_signature(raw, body, header.upper().replace("MAC=", "mac= "), app_id=APP_ID,
                          oa_secret_key="test_oa_secret")


def test_signature_refuses_hmac_variant_other_app_and_wrong_key():
    import hashlib
    import hmac

    raw, headers = signed(event("user_send_text", text="hi"))
    body = json.loads(raw)
    good = headers["X-ZEvent-Signature"]
    hmac_variant = "mac=" + hmac.new(OA_SECRET_KEY.encode(), raw, hashlib.sha256).hexdigest()
    tampered = good[:-1] + ("1" if good.endswith("0") else "0")  # one hex digit changed (never the same digit)
    for header in (hmac_variant, tampered, "", None):
        with pytest.raises(zalo.SignatureError):
            zalo.verify_signature(raw, body, header, app_id=APP_ID, oa_secret_key=OA_SECRET_KEY)
    with pytest.raises(zalo.SignatureError):  # correctly signed, but for another app
        zalo.verify_signature(raw, body, good, app_id="1", oa_secret_key=OA_SECRET_KEY)
    with pytest.raises(zalo.SignatureError):  # signed with the App Secret instead of the OA Secret Key
        zalo.verify_signature(raw, body, signed(body, secret=APP_SECRET)[1]["X-ZEvent-Signature"],
                              app_id=APP_ID, oa_secret_key=OA_SECRET_KEY)


def test_check_timestamp_replay_window():
    now = dt.datetime.now(dt.UTC)
    ms = lambda moment: {"timestamp": str(int(moment.timestamp() * 1000))}  # noqa: E731
    zalo.check_timestamp(ms(now), now=now)
    zalo.check_timestamp(ms(now - dt.timedelta(hours=2)), now=now)  # Zalo's last redelivery comes ~2 h late
    for bad in (ms(now - dt.timedelta(hours=4)), ms(now + dt.timedelta(hours=1)), {"timestamp": "x"}, {}):
        with pytest.raises(zalo.StaleEvent):
            zalo.check_timestamp(bad, now=now)


# ------------------------------------------------------------------------------------------ parsing
def test_parse_event_recorded_shapes():
    fixture = lambda name: json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))  # noqa: E731
    text = zalo.parse_event(fixture("user_send_text"))
    assert (text.channel, text.user_id, text.kind, text.text, text.message_id) == (
        "zalo", USER, Kind.text, "message", "96d3cdf3af150460909")
    follow, unfollow = zalo.parse_event(fixture("follow")), zalo.parse_event(fixture("unfollow"))
    assert (follow.user_id, follow.kind) == (USER, Kind.follow)
    assert (unfollow.user_id, unfollow.kind) == (USER, Kind.unfollow)
    assert follow.message_id and follow.message_id != unfollow.message_id
    assert follow.sent_at == dt.datetime(2025, 11, 25, 9, 58, 20, tzinfo=dt.UTC)
    sticker, image = zalo.parse_event(fixture("user_send_sticker")), zalo.parse_event(fixture("user_send_image"))
    assert (sticker.kind, sticker.message_id, sticker.text) == (Kind.sticker, "b2c3d4e5f60718293a4b", None)
    assert (image.kind, image.user_id) == (Kind.photo, USER)
    assert zalo.parse_event(fixture("oa_send_text")) is None  # our own echo
    assert zalo.parse_event({"event_name": "user_seen_message", "message": {"msg_ids": ["1"]}}) is None


def test_render_and_split():
    texts = zalo.render([
        Reply("Body", (Button("A", "a"), Button("B", "b")), title="Title"),
        Reply("Second", (Button("C", "c"),)),
        Reply("Plain"),
    ])
    assert texts == ["Title\nBody\n\n1. A\n2. B", "Second\n\n3. C", "Plain"]
    long = "\n\n".join(f"Đoạn {i}: " + "lương tối thiểu " * 40 for i in range(12))
    parts = zalo.split_text(long)
    assert len(parts) > 1 and all(len(p) <= zalo.TEXT_LIMIT for p in parts)
    assert all(p.startswith("Đoạn") for p in parts)  # cut at paragraphs
    assert " ".join(parts).split() == long.split()
    assert zalo.split_text("😀" * 1500) == ["😀" * 1000, "😀" * 500]  # counted in UTF-16 units


# ------------------------------------------------------------------------------------------ webhook
async def test_vietnamese_question_gets_the_aichi_minimum_wage(client, capture, session_factory):
    response = await post(client, event("user_send_text", text="lương tối thiểu ở Aichi bao nhiêu"))
    assert response.status_code == 200 and response.json() == {"ok": True}
    sends = capture.sends(USER)
    assert sends and all(c.headers["access_token"] == ACCESS_TOKEN for c in sends)
    assert all(c.body["recipient"] == {"user_id": USER} for c in sends)
    answer = capture.delivered(USER)[0]
    assert AICHI_RATE in seen(answer)
    assert answer.splitlines()[0] == t("vi", messages.TOPIC_NAMES["minimum_wage"])  # the title on its own line
    assert "\n1. " in answer  # the buttons, numbered
    assert outbound_statuses(session_factory) == [MessageStatus.sent] * len(sends)


async def test_forged_signature_is_rejected_and_nothing_happens(client, capture, session_factory):
    body = event("user_send_text", text="lương tối thiểu ở Aichi bao nhiêu")
    raw, headers = signed(body, secret="not-the-oa-secret")
    response = await client.post(WEBHOOK, content=raw, headers=headers)
    assert response.status_code == 401
    raw, headers = signed(body)
    tampered = raw.replace("Aichi".encode(), b"Osaka")  # the body changed after signing
    assert (await client.post(WEBHOOK, content=tampered, headers=headers)).status_code == 401
    assert capture.calls == []
    assert stored(session_factory) == (0, 0)


async def test_missing_signature_is_rejected(client, capture, session_factory):
    raw, headers = signed(event("user_send_text", text="xin chào"))
    del headers["X-ZEvent-Signature"]
    response = await client.post(WEBHOOK, content=raw, headers=headers)
    assert response.status_code == 401
    assert capture.calls == [] and stored(session_factory) == (0, 0)


async def test_old_event_is_rejected_as_replay(client, capture, session_factory):
    sample = json.loads((FIXTURES / "user_send_text.json").read_text(encoding="utf-8"))  # timestamp from 1974
    assert (await post(client, sample)).status_code == 403
    assert capture.calls == [] and stored(session_factory) == (0, 0)


async def test_unsigned_bad_json_is_refused_before_it_is_parsed(client, capture, session_factory):
    deep = b'{"app_id": "' + APP_ID.encode() + b'", "timestamp": "1", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for raw in (b"{not json", deep):
        response = await client.post(WEBHOOK, content=raw, headers={"X-ZEvent-Signature": "mac=00"})
        assert response.status_code == 401
    assert capture.calls == [] and stored(session_factory) == (0, 0)


async def test_signed_bodies_that_cannot_be_parsed_are_400_not_500(client, capture, session_factory):
    timestamp = str(int(dt.datetime.now(dt.UTC).timestamp() * 1000))
    head = b'{"app_id": "' + APP_ID.encode() + b'", "timestamp": "' + timestamp.encode() + b'", '
    for raw in (head + b"not json", head + b'"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", b"[1, 2]"):
        mac = zalo.expected_signature(raw, app_id=APP_ID if raw.startswith(head) else "",
                                      timestamp=timestamp if raw.startswith(head) else "", oa_secret_key=OA_SECRET_KEY)
        response = await client.post(WEBHOOK, content=raw, headers={"X-ZEvent-Signature": mac})
        assert response.status_code == (400 if raw.startswith(head) else 401), raw[:40]
    assert capture.calls == [] and stored(session_factory) == (0, 0)


async def test_unsigned_empty_registration_probe_gets_200(client, capture, session_factory):
    response = await client.post(WEBHOOK, content=b"{}", headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert capture.calls == [] and stored(session_factory) == (0, 0)


async def test_own_echo_is_ignored(client, capture, session_factory):
    assert (await post(client, event("oa_send_text"))).status_code == 200
    assert capture.calls == [] and stored(session_factory) == (0, 0)


async def test_same_msg_id_twice_is_answered_once(client, capture, session_factory):
    body = event("user_send_text", text="lương tối thiểu ở Aichi bao nhiêu")
    first = await post(client, body)
    sent = len(capture.sends())
    second = await post(client, body)  # Zalo's redelivery: the same body
    assert first.status_code == second.status_code == 200
    assert sent > 0 and len(capture.sends()) == sent
    with session_factory() as session:
        inbound = session.scalar(select(func.count()).select_from(Message).where(
            Message.channel == "zalo", Message.direction == "inbound"))
    assert inbound == 1


async def test_follow_sends_the_greeting_and_a_number_picks_a_button(client, capture):
    assert (await post(client, event("follow"))).status_code == 200
    greeting, choose = capture.delivered(USER)
    assert greeting.startswith(t("vi", messages.GREETING))  # Zalo: Vietnamese until told otherwise
    assert choose.startswith(t("vi", messages.CHOOSE_LANGUAGE))
    number = next(line.split(".")[0] for line in choose.splitlines() if line.endswith("Tiếng Việt"))
    await post(client, event("user_send_text", text=number))  # the user answers with the number
    assert capture.delivered(USER)[2].startswith(t("vi", messages.LANGUAGE_SET))


async def test_unfollow_sends_nothing(client, capture, session_factory):
    assert (await post(client, event("unfollow"))).status_code == 200
    assert capture.calls == []


async def test_sticker_gets_the_localized_only_text_reply(client, capture):
    await post(client, event("user_send_text", text="lương tối thiểu ở Aichi bao nhiêu"))  # a Vietnamese speaker
    before = len(capture.delivered(USER))
    assert (await post(client, event("user_send_sticker"))).status_code == 200
    reply = capture.delivered(USER)[before]
    assert reply.startswith(t("vi", messages.NON_TEXT)) and t("vi", messages.NON_TEXT) != messages.NON_TEXT
    await post(client, event("user_send_image"))
    assert capture.delivered(USER)[-1].startswith(t("vi", messages.NON_TEXT))


async def test_expired_token_is_refreshed_stored_and_the_message_delivered(client, capture, session_factory):
    capture.expire_access_token()
    response = await post(client, event("user_send_text", text="lương tối thiểu ở Aichi bao nhiêu"))
    assert response.status_code == 200
    (refresh,) = capture.refreshes()
    assert refresh.body == {"refresh_token": REFRESH_TOKEN, "app_id": APP_ID, "grant_type": "refresh_token"}
    assert refresh.headers["secret_key"] == APP_SECRET
    assert refresh.headers["content-type"] == "application/x-www-form-urlencoded"
    sends = capture.sends(USER)
    assert sends[0].headers["access_token"] == ACCESS_TOKEN and sends[0].answer["error"] == -220
    assert all(c.headers["access_token"] == "access-token-2" for c in sends[1:])
    assert AICHI_RATE in seen(capture.delivered(USER)[0])
    with session_factory() as session:
        rows = {r.name: r for r in session.scalars(select(ChannelCredential).where(ChannelCredential.channel == "zalo"))}
    assert rows["access_token"].value == "access-token-2" and rows["refresh_token"].value == "refresh-token-2"
    remaining = rows["access_token"].expires_at - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=24) < remaining <= dt.timedelta(hours=25)
    assert set(outbound_statuses(session_factory)) == {MessageStatus.sent}
    # the next turn uses the stored token straight away
    await post(client, event("user_send_sticker"))
    assert capture.sends(USER)[-1].headers["access_token"] == "access-token-2"
    assert len(capture.refreshes()) == 1


async def test_refused_refresh_marks_the_replies_failed(client, capture, session_factory):
    capture.valid_refresh_token = "someone-else-spent-ours"
    capture.expire_access_token()
    await post(client, event("user_send_text", text="lương tối thiểu ở Aichi bao nhiêu"))
    assert len(capture.refreshes()) == 1 and capture.delivered() == []
    statuses = outbound_statuses(session_factory)
    assert statuses and set(statuses) == {MessageStatus.failed}


async def test_server_errors_are_retried(client, capture, session_factory):
    capture.answer_next(502)
    capture.answer_next(503)
    await post(client, event("user_send_text", text="lương tối thiểu ở Aichi bao nhiêu"))
    assert [c.answer.get("error") for c in capture.sends()][:3] == [None, None, 0]
    assert AICHI_RATE in seen(capture.delivered(USER)[0])
    assert set(outbound_statuses(session_factory)) == {MessageStatus.sent}


async def test_outside_messaging_window_is_not_retried(client, capture, session_factory):
    capture.answer_next(200, {"error": -230, "message": "User has not interacted with the OA in the past 7 days"})
    await post(client, event("user_send_text", text="lương tối thiểu ở Aichi bao nhiêu"))
    assert len(capture.sends()) == 1  # no retry, and no later reply sent out of order
    with session_factory() as session:
        errors = set(session.scalars(select(Message.error).where(Message.channel == "zalo",
                                                                 Message.direction == "outbound")))
    assert errors == {"zalo error -230: User has not interacted with the OA in the past 7 days"}


async def test_long_reply_is_split_under_the_limit(zalo_app, capture):
    text = "\n".join(f"{i}. " + "quyền lợi " * 30 for i in range(20))
    await zalo.ZaloSender(zalo_app.state.services.zalo).send(USER, Reply(text))
    delivered = capture.delivered(USER)
    assert len(delivered) > 1 and all(len(p) <= 2000 for p in delivered)
    assert " ".join(delivered).split() == text.split()  # nothing lost at the cuts


# ---------------------------------------------------------------------- nothing left behind
async def test_a_crash_between_store_and_reply_is_answered_once_by_the_worker(client, zalo_app, capture,
                                                                              session_factory, monkeypatch):
    from tests.utils.faults import crash_first_turn

    crashes = crash_first_turn(monkeypatch)
    body = event("user_send_text", text="lương tối thiểu ở Aichi bao nhiêu")
    assert (await post(client, body)).status_code == 200  # stored: Zalo need not redeliver
    assert crashes and capture.sends() == []
    assert (await post(client, body)).status_code == 200  # a redelivery meanwhile is a duplicate
    assert stored(session_factory)[0] == 1

    with session_factory() as session:  # the backoff has passed
        for message in session.scalars(select(Message).where(Message.next_attempt_at.is_not(None))):
            message.next_attempt_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        session.commit()
    engine = zalo_app.state.services.engine
    assert await engine.run_due() == 1
    delivered = capture.delivered(USER)
    assert len(delivered) == 1 and AICHI_RATE in seen(delivered[0])
    assert await engine.run_due() == 0 and capture.delivered(USER) == delivered  # once, not twice
    assert outbound_statuses(session_factory) == [MessageStatus.sent]


async def test_a_volunteer_answers_on_zalo_within_its_limits(client, capture, session_factory):
    from api.accounts import service as accounts

    with session_factory() as session:
        accounts.create(session=session, email="lan@example.org", password="correct horse battery",
                        role="volunteer", languages=["vi"], name="Lan")
        session.commit()
    token = (await client.post("/auth/token", json={"email": "lan@example.org",
                                                    "password": "correct horse battery"})).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    await post(client, event("user_send_text", text="/human"))
    [handoff] = (await client.get("/api/handoffs?status=waiting", headers=headers)).json()["data"]
    await client.post(f"/api/handoffs/{handoff['id']}/claim", headers=headers)
    assert capture.delivered(USER)[-1].startswith(t("vi", messages.VOLUNTEER_JOINED, name="Lan"))
    before = len(capture.delivered(USER))
    await post(client, event("user_send_text", text="lương tối thiểu ở Aichi bao nhiêu"))
    assert len(capture.delivered(USER)) == before  # the bot is silent while Lan holds the chat
    long_reply = "Chào em. " + "Em hãy giữ phiếu lương và ghi lại giờ làm. " * 80  # ~3,400 characters
    await client.post(f"/api/handoffs/{handoff['id']}/messages", headers=headers, json={"text": long_reply})
    parts = capture.delivered(USER)[before:]
    assert len(parts) >= 2 and all(len(p) <= 2000 for p in parts)
    assert " ".join(parts).split() == long_reply.split()
