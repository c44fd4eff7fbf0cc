"""The five topics added with the content issue answer in all five languages, through the real trained model behind
the real Rasa server: the intent, the entry's answer with one number to call, and the detail under "More"."""

from __future__ import annotations

import pytest

from knowledge import service as knowledge_service
from tests.utils.chat import WebChat, assert_topic_answer

pytestmark = pytest.mark.nlu

#: Messages written for this test, apart from the training and test data.
ASKED = {
    "unpaid_wages": {
        "vi": "cty nợ lương em 3 tháng rồi chưa trả, em phải làm sao",
        "id": "udah 2 bulan gaji aku belum dibayar sama perusahaan, gimana nih",
        "tl": "tatlong buwan na hindi binabayaran ang sahod namin, ano gagawin ko",
        "ja": "給料が3か月はらわれていません。どうしたらいいですか",
        "en": "my company has not paid my salary for 3 months, what can i do",
    },
    "leaving_employer": {
        "vi": "em muốn bỏ trốn khỏi công ty, em sợ lắm",
        "id": "aku pengen kabur dari perusahaan ini, kalau kabur nanti gimana",
        "tl": "gusto ko nang tumakas sa kompanya, ano mangyayari sakin",
        "ja": "会社からにげたいです。にげたらどうなりますか",
        "en": "i want to run away from my company, what happens if i escape",
    },
    "visa_status": {
        "vi": "sếp dọa hủy visa của em nếu em đi tố cáo, có được không",
        "id": "bos ngancam mau batalin visa aku kalau aku lapor, emang bisa?",
        "tl": "sabi ng amo kakanselahin niya visa ko pag nagreklamo ako, totoo ba",
        "ja": "社長がビザを取り消すと言っています。本当にできますか",
        "en": "boss says he will cancel my visa if i complain, can he do that",
    },
    "skill_development_system": {
        "vi": "chế độ ikusei shuurou năm 2027 là gì vậy",
        "id": "sistem ikusei shuro yang mulai 2027 itu apa",
        "tl": "ano yung bagong ikusei shuro system sa 2027",
        "ja": "2027年からの育成就労ってなんですか",
        "en": "what is the new ikusei shuro system from 2027",
    },
    "social_insurance": {
        "vi": "về nước có lấy lại tiền nenkin được không",
        "id": "pulang ke indonesia bisa ambil uang pensiun nenkin gak",
        "tl": "pag uwi ko sa pinas makukuha ko ba ang nenkin refund",
        "ja": "国に帰るとき年金のお金はもどってきますか",
        "en": "can i get my pension money back when i go home",
    },
}


@pytest.mark.parametrize("lang", ["vi", "id", "tl", "ja", "en"])
@pytest.mark.parametrize("topic", sorted(ASKED))
async def test_new_topics_answer_in_every_language(client, session, topic, lang):
    body = await WebChat(client, lang=lang).say(ASKED[topic][lang])
    assert_topic_answer(body, knowledge_service.get_entry(session=session, topic=topic, lang=lang), topic, lang)


@pytest.mark.parametrize("topic", sorted(ASKED))
async def test_new_topics_have_their_detail_under_more(client, session, topic):
    chat = WebChat(client, lang="vi")
    body = await chat.press(f"more:{topic}")
    entry = knowledge_service.get_entry(session=session, topic=topic, lang="vi")
    assert entry.more and entry.more in body["replies"][0]["text"]
