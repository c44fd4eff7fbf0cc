"""A payslip photo on the channels: the web chat's upload (POST /channels/web/uploads, multipart field `file`) and a
Telegram photo (getFile, then the download, from the loopback Bot API) and a Zalo image (the URL of its event, on the
loopback Zalo), read by the real OCR (Debian's tesseract)
from a payslip the tests render, shown back to confirm, then judged. Nothing of the photo is stored."""

from __future__ import annotations

import html

import httpx
import pytest
from sqlalchemy import select

from api.config import ApiSettings
from api.main import create_app
from bot import messages
from bot.config import BotSettings
from bot.i18n import t
from bot.models import Conversation, Message
from tests.channels.test_telegram import Chat, Webhook, bot_api, telegram_app, telegram_settings  # noqa: F401
from tests.channels.test_zalo import capture, zalo_app  # noqa: F401
from tests.utils.zalo_api import event as zalo_event
from tests.utils.zalo_api import signed as zalo_signed
from tests.payslip.render import render
from tests.utils.telegram_api import visible_text

READ_INTRO = t("en", messages.PAYSLIP_READ, lines="").split("\n")[0]


@pytest.fixture
async def web(engine, session_factory, nlu_url):
    app = create_app(ApiSettings(_env_file=None, worker=False),
                     bot_settings=BotSettings(_env_file=None, nlu_url=nlu_url, rate_messages=100),
                     engine=engine, session_factory=session_factory)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client


def texts(body: dict) -> str:
    return "\n".join(r["text"] for r in body["replies"])


def payloads(body: dict) -> list[str]:
    return [b["payload"] for r in body["replies"] for b in r["buttons"]]


async def test_a_web_upload_is_read_confirmed_and_judged(web, session):
    slip = render(seed=11, layout="table")
    response = await web.post("/channels/web/uploads", params={"lang": "en"},
                              files={"file": ("payslip.png", slip.encode("png"), "image/png")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert READ_INTRO in texts(body)
    assert f"¥{slip.values['base_pay']:,}" in texts(body)  # the base pay as printed, read back
    assert {"payslip:ok", "payslip:fix"} <= set(payloads(body))

    # Confirmed: the prefecture, then whatever the photo did not give, then the verdict.
    body = (await web.post("/channels/web/messages", json={"payload": "payslip:ok", "lang": "en"})).json()
    assert t("en", messages.PAYSLIP_ASK_PREFECTURE) in texts(body)
    body = (await web.post("/channels/web/messages", json={"text": "Aichi", "lang": "en"})).json()
    for _ in range(12):
        if "payslip:zero" not in payloads(body):
            break
        body = (await web.post("/channels/web/messages", json={"payload": "payslip:zero", "lang": "en"})).json()
    verdict = texts(body)
    assert "Base pay:" in verdict and "¥1,140" in verdict  # Aichi's minimum from 2025-10-18
    kept = session.scalar(select(Conversation.slots).where(Conversation.channel == "web"))
    assert kept["payslip"]["base_pay"] == str(slip.values["base_pay"])
    # The photo itself is nowhere: the stored message has neither the image nor a reference to it.
    upload = session.scalar(select(Message).where(Message.kind == "photo"))
    assert upload.text is None and "attachment" not in (upload.meta or {})


async def test_a_file_that_is_not_an_image_or_too_large_is_refused_clearly(web):
    body = (await web.post("/channels/web/uploads", params={"lang": "en"},
                           files={"file": ("notes.txt", b"not a payslip", "text/plain")})).json()
    assert t("en", messages.PAYSLIP_NOT_A_PAYSLIP) in texts(body) and "payslip:start" in payloads(body)
    huge = await web.post("/channels/web/uploads", files={"file": ("big.png", b"0" * (11 * 1024 * 1024), "image/png")})
    assert huge.status_code == 413


async def test_a_telegram_photo_is_fetched_with_getfile_and_read(telegram_app, bot_api):  # noqa: F811
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=telegram_app), base_url="http://test") as client:
        webhook, chat = Webhook(client, telegram_app), Chat()
        slip = render(seed=12, layout="list")
        bot_api.files["AgACAgUAAxkBAAIB-large"] = slip.encode("jpeg")
        await webhook.deliver(chat.update("photo"))
    assert [c.params["file_id"] for c in bot_api.calls_of("getFile")] == ["AgACAgUAAxkBAAIB-large"]
    shown = "\n".join(visible_text(m["text"]) for m in bot_api.messages_to(chat.id))
    assert html.unescape(READ_INTRO) in shown
    assert f"¥{slip.values['base_pay']:,}" in shown


async def test_a_zalo_image_is_fetched_from_its_url_and_read(zalo_app, capture, session_factory):  # noqa: F811
    slip = render(seed=13, layout="table")
    capture.files["/cdn/payslip-full.jpg"] = (slip.encode("jpeg"), "image/jpeg")
    body = zalo_event("user_send_image", user_id="zalo-photo-1")
    body["message"]["attachments"][0]["payload"] = {"thumbnail": f"{capture.url}/cdn/payslip-thumb.jpg",
                                                    "url": f"{capture.url}/cdn/payslip-full.jpg"}
    raw, headers = zalo_signed(body)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=zalo_app), base_url="http://test") as client:
        response = await client.post("/channels/zalo/webhook", content=raw, headers=headers)
    assert response.status_code == 200, response.text
    assert [c.path for c in capture.calls if c.path.startswith("/cdn/")] == ["/cdn/payslip-full.jpg"]  # the full size
    shown = "\n".join(capture.delivered("zalo-photo-1")).replace("\xa0", " ")
    base = slip.values["base_pay"]
    assert f"{base:,}" in shown or f"{base:,}".replace(",", ".") in shown  # read back, in the trainee's format
    with session_factory() as session:
        offered = [b["payload"] for m in session.scalars(select(Message).where(
            Message.channel == "zalo", Message.direction == "outbound")) for b in (m.buttons or [])]
    assert {"payslip:ok", "payslip:fix"} <= set(offered)  # to confirm or correct (Zalo numbers them)
