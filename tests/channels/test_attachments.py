"""Which photos and files the channels hand to the payslip check, by the channels' real payload shapes: Telegram's
largest photo size or an image/PDF document (by file_id), Zalo's image or PDF attachment URL; nothing else."""

from __future__ import annotations

import pytest
from telegram import Bot, Update

from bot.channels.telegram import readable_file, to_inbound
from bot.channels.zalo import readable_attachment

CHAT = {"id": 42, "first_name": "T", "type": "private"}
USER = {"id": 42, "is_bot": False, "first_name": "T", "language_code": "vi"}


def telegram_message(**content) -> Update:
    return Update.de_json({"update_id": 7, "message": {"message_id": 1, "date": 1764064800, "chat": CHAT,
                                                       "from": USER, **content}}, Bot("1:x"))


def test_a_telegram_photo_is_read_at_its_largest_size():
    update = telegram_message(photo=[
        {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 120, "file_size": 2000},
        {"file_id": "large", "file_unique_id": "l", "width": 1200, "height": 1600, "file_size": 300000},
    ])
    inbound = to_inbound(update)
    assert inbound.kind == "photo" and inbound.attachment == "large"


@pytest.mark.parametrize(("mime", "size", "read"), [
    ("application/pdf", 200_000, True), ("image/jpeg", 2_000_000, True),
    ("application/zip", 2_000, False), ("image/png", 11 * 1024 * 1024, False),
])
def test_a_telegram_document_is_read_when_it_is_an_image_or_a_pdf_of_at_most_10_mb(mime, size, read):
    update = telegram_message(document={"file_id": "doc", "file_unique_id": "d", "mime_type": mime,
                                        "file_size": size, "file_name": "x"})
    assert (readable_file(update.message) == "doc") is read


def test_a_sticker_or_a_voice_message_is_never_read():
    update = telegram_message(voice={"file_id": "v", "file_unique_id": "v", "duration": 3})
    assert to_inbound(update).attachment is None


def zalo_message(kind: str, payload: dict) -> dict:
    return {"msg_id": "a1", "text": "", "attachments": [{"type": kind, "payload": payload}]}


def test_a_zalo_image_is_read_from_its_url():
    message = zalo_message("image", {"thumbnail": "https://cdn.example/t.jpg", "url": "https://cdn.example/full.jpg"})
    assert readable_attachment("user_send_image", message) == "https://cdn.example/full.jpg"


@pytest.mark.parametrize(("payload", "read"), [
    ({"url": "https://cdn.example/f", "name": "luong.pdf", "type": "pdf", "size": "20000"}, True),
    ({"url": "https://cdn.example/f", "name": "song.mp3", "type": "mp3", "size": "20000"}, False),
    ({"url": "file:///etc/passwd", "name": "x.pdf", "type": "pdf"}, False),
])
def test_a_zalo_file_is_read_only_when_it_is_a_pdf_or_an_image_over_http(payload, read):
    assert (readable_attachment("user_send_file", zalo_message("file", payload)) is not None) is read


def test_other_zalo_media_and_malformed_attachments_are_never_read():
    assert readable_attachment("user_send_sticker", zalo_message("sticker", {"url": "https://cdn.example/s"})) is None
    assert readable_attachment("user_send_image", {"attachments": "nope"}) is None
    assert readable_attachment("user_send_image", {"attachments": [None]}) is None
