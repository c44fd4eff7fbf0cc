"""The conversation in all five languages, against the real trained model behind the real Rasa server."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from bot import messages
from bot.engine import Engine
from bot.i18n import t
from bot.models import Conversation, Message, MessageStatus
from bot.nlu_client import NluClient
from bot.schemas import Inbound, Kind
from tests.utils.chat import WebChat, assert_topic_answer, payloads, text_of

pytestmark = pytest.mark.nlu
TODAY = dt.date(2026, 11, 25)


@pytest.fixture
def today():
    return TODAY


# Aichi FY2025: ¥1,140 from 2025-10-18, as each locale writes it.
AICHI = {"vi": "1.140", "id": "1.140", "tl": "1,140", "ja": "1,140", "en": "1,140"}

MINIMUM_WAGE_NO_PREFECTURE = {
    "vi": "lương tối thiểu là bao nhiêu vậy",
    "id": "gaji minimum berapa sih",
    "tl": "magkano po ang minimum wage",
    "ja": "最低賃金はいくらですか",
    "en": "how much is the minimum wage",
}
AICHI_ANSWER = {"vi": "tỉnh Aichi", "id": "Aichi", "tl": "Aichi", "ja": "愛知県", "en": "aichi-ken"}


@pytest.mark.parametrize("lang", ["vi", "id", "tl", "ja", "en"])
async def test_minimum_wage_asks_the_prefecture_then_answers_the_rate(client, lang):
    chat = WebChat(client, lang=lang)
    first = await chat.say(MINIMUM_WAGE_NO_PREFECTURE[lang])
    assert first["meta"]["intent"] == "minimum_wage"
    assert text_of(first).strip() == t(lang, messages.ASK_PREFECTURE)
    second = await chat.say(AICHI_ANSWER[lang])
    text = text_of(second)
    assert AICHI[lang] in text and ("愛知県" if lang == "ja" else "Aichi") in text  # in the trainee's script
    assert second["meta"]["lang"] == lang


WAGE_CHECK = {
    "vi": "luong cua toi 15 man 1 thang, co bi tra thap ko",
    "id": "gaji aku 150.000 yen sebulan, apa aku dibayar kurang?",
    "tl": "sahod ko 150,000 yen isang buwan, kulang ba ako?",
    "ja": "月給15万円です。最低賃金より低いですか",
    "en": "my salary is 150000 yen a month, am i underpaid?",
}


@pytest.mark.parametrize("lang", ["vi", "id", "tl", "ja", "en"])
async def test_wage_check_chains_questions_and_gives_the_numbers(client, lang):
    chat = WebChat(client, lang=lang)
    first = await chat.say(WAGE_CHECK[lang])
    assert first["meta"]["intent"] == "wage_check"
    assert text_of(first).strip() == t(lang, messages.ASK_PREFECTURE)
    verdict = text_of(await chat.say("Okinawa"))
    # 150,000 ÷ 173.8 h = ¥863 an hour; Okinawa's minimum ¥1,023; ¥27,798 short a month.
    assert "863" in verdict
    assert ("1.023" if lang in ("vi", "id") else "1,023") in verdict
    assert ("27.798" if lang in ("vi", "id") else "27,798") in verdict
    assert "173.8" in verdict or "173,8" in verdict  # the assumed hours are said


HOURS_A_DAY = {"vi": "7 tiếng 1 ngày", "id": "7 jam sehari", "tl": "7 oras isang araw", "ja": "1日7時間です",
               "en": "i work 7 hours a day"}


@pytest.mark.parametrize("lang", ["vi", "ja", "en"])
async def test_the_trainees_own_hours_after_a_verdict_recompute_it(client, lang):
    chat = WebChat(client, lang=lang)
    await chat.say(WAGE_CHECK[lang])
    assert "173" in text_of(await chat.say("Okinawa"))  # the legal maximum was assumed, and said
    again = text_of(await chat.say(HOURS_A_DAY[lang]))
    # 7 h a day, 5 days a week: 152.1 h a month; 150,000 ÷ 152.1 = ¥986.19 an hour, below Okinawa's ¥1,023.
    assert "986" in again and "173" not in again and ("152.1" in again or "152,1" in again)  # and says how
    assert ("1.023" if lang in ("vi", "id") else "1,023") in again


async def test_a_pay_written_with_slash_h_is_per_hour(client):
    chat = WebChat(client, lang="en")
    first = await chat.say("my pay is 1100円/h in tokyo, is that legal?")
    text = text_of(first)
    assert "1,226" in text and "¥126" in text  # Tokyo ¥1,226: ¥126 short an hour, no question about the period


async def test_wage_check_asks_amount_then_period_one_at_a_time(client):
    chat = WebChat(client, lang="en")
    first = await chat.say("is my pay legal? i work in gifu")
    assert text_of(first).strip() == t("en", messages.ASK_AMOUNT)
    second = await chat.say("1000 yen")
    assert text_of(second).strip() == t("en", messages.ASK_PERIOD)
    assert set(payloads(second)) == {"period:hour", "period:day", "period:month"}
    third = await chat.press("period:hour")
    text = text_of(third)
    assert "1,065" in text and "¥65" in text  # Gifu ¥1,065: ¥65 short an hour


CORE = {
    "fines_penalties": {
        "vi": "cong ty phat tien khi di tre 5 phut, co dung luat ko",
        "id": "bos potong gaji sebagai denda karena telat, boleh gak?",
        "tl": "may multa kami pag late, legal ba yun?",
        "ja": "遅刻したら罰金をとられます。いいですか",
        "en": "company fine me 5000 yen for being late, is it legal",
    },
    "passport_confiscation": {
        "vi": "công ty giữ hộ chiếu của em không trả",
        "id": "paspor aku ditahan sama perusahaan",
        "tl": "kinuha ng amo ko ang passport ko",
        "ja": "会社にパスポートを取られました",
        "en": "my company keep my passport and zairyu card",
    },
    "job_transfer": {
        "vi": "em muốn chuyển công ty được không",
        "id": "aku mau pindah perusahaan bisa gak",
        "tl": "pwede ba ako lumipat ng kumpanya",
        "ja": "会社を変えたいです。転籍できますか",
        "en": "can i change company",
    },
}


@pytest.mark.parametrize("lang", ["vi", "id", "tl", "ja", "en"])
@pytest.mark.parametrize("topic", sorted(CORE))
async def test_core_topics_answer_with_the_entry_sources_and_buttons(client, session, topic, lang):
    from knowledge import service as knowledge_service

    body = await WebChat(client, lang=lang).say(CORE[topic][lang])
    assert_topic_answer(body, knowledge_service.get_entry(session=session, topic=topic, lang=lang), topic, lang)


EMERGENCY = {
    "vi": "cứu em với, sếp đang đánh em",
    "id": "tolong aku dikurung di kamar",
    "tl": "tulungan nyo ako, gusto ko nang mamatay",
    "ja": "助けて、殴られている",
    "en": "help me he is beating me now",
}


@pytest.mark.parametrize("lang", ["vi", "id", "tl", "ja", "en"])
async def test_emergency_text_always_gets_the_emergency_numbers_and_a_handoff(client, lang):
    body = await WebChat(client, lang=lang).say(EMERGENCY[lang])
    text = text_of(body)
    assert "110" in text and "119" in text
    assert body["meta"]["intent"] == "emergency"
    assert body["meta"]["handoff_id"] is not None


async def test_emergency_wins_over_a_pending_question(client):
    chat = WebChat(client, lang="en")
    await chat.say("how much is the minimum wage")
    body = await chat.say("help me, I want to kill myself")
    assert "110" in text_of(body) and body["meta"]["handoff_id"] is not None


async def test_explicit_language_choice_wins_over_detection(client):
    chat = WebChat(client)
    await chat.press("lang:id")
    chat.lang = None
    body = await chat.say("can i change company")
    assert body["meta"]["lang"] == "id"


async def test_language_is_detected_without_a_choice(client):
    body = await WebChat(client).say("luong toi thieu o osaka la bao nhieu")
    assert body["meta"]["lang"] == "vi"
    assert "1.177" in text_of(body)


async def test_talk_to_human_stores_the_request(client, session):
    chat = WebChat(client, lang="tl")
    body = await chat.say("/human")
    assert text_of(body).startswith(t("tl", messages.HANDOFF_STARTED)[:30])
    conversation = session.scalar(select(Conversation).where(Conversation.channel_user_id == chat.user_id))
    assert conversation.status == "open" and conversation.handoff_requested_at is not None


async def test_forget_deletes_after_confirmation(client, session):
    chat = WebChat(client, lang="en")
    await chat.say("hello")
    confirm = await chat.say("/forget")
    assert set(payloads(confirm)) == {"forget:yes", "forget:no"}
    done = await chat.press("forget:yes")
    # hello, the greeting, /forget, the question, and the press itself
    assert text_of(done).strip() == t("en", messages.FORGET_DONE, count=5)
    assert session.scalar(select(Conversation).where(Conversation.channel_user_id == chat.user_id)) is None


async def test_a_duplicate_delivery_is_processed_once(client, session):
    chat = WebChat(client, lang="en")
    first = await chat.say("can i change company", client_message_id="abc-1")
    again = await chat.say("can i change company", client_message_id="abc-1")
    # The retry gets the same replies again (its response may have been lost), and is not a second turn.
    assert first["replies"] and again["replies"] == first["replies"] and again["meta"]["duplicate"]
    inbound = session.scalar(
        select(func.count()).select_from(Message).where(Message.channel_message_id == f"{chat.user_id}:abc-1")
    )
    assert inbound == 1
    # The same client id from another browser is another message.
    other = await WebChat(client, lang="en").say("can i change company", client_message_id="abc-1")
    assert other["replies"] and not other["meta"]["duplicate"]


async def test_non_text_gets_a_polite_localized_reply(bot_engine):
    outcome = await bot_engine.handle(Inbound(channel="web", user_id="sticker-user", kind=Kind.sticker, lang="ja"))
    assert outcome.replies[0].text == t("ja", messages.NON_TEXT)
    assert any(b.payload.startswith("topic:") for b in outcome.replies[0].buttons)


async def test_very_long_text_is_cut_for_the_nlu_not_rejected(client):
    # ~5,000 characters: far over MAX_NLU_CHARS. The question at the start must still be understood.
    body = await WebChat(client, lang="en").say("my company keep my passport. " + "blah " * 1000)
    assert body["meta"]["intent"] == "passport_confiscation"
    assert t("en", messages.ERROR) not in text_of(body)


async def test_nlu_down_still_gives_the_menu_and_a_human(app, session_factory):
    engine = Engine(session_factory=session_factory, nlu=NluClient("http://127.0.0.1:9", timeout=0.5))
    outcome = await engine.handle(Inbound(channel="web", user_id="down-user", text="can i change company", lang="vi"))
    assert outcome.replies[0].text == t("vi", messages.NLU_DOWN)
    labels = [b.payload for b in outcome.replies[0].buttons]
    assert "topic:talk_to_human" in labels and "topic:minimum_wage" in labels
    # …and a danger message is still recognised without the NLU.
    outcome = await engine.handle(Inbound(channel="web", user_id="down-user", text="cứu em với", lang="vi"))
    assert "110" in outcome.replies[0].text


async def test_a_crash_is_retried_by_the_worker_and_the_reply_reaches_the_trainee(client, bot_engine, session,
                                                                                   monkeypatch):
    from bot import engine as engine_module

    real_dispatch = engine_module.dispatch
    calls = []

    def crash_once(turn):
        calls.append(turn.text)
        if len(calls) == 1:
            raise RuntimeError("simulated crash")
        real_dispatch(turn)

    monkeypatch.setattr(engine_module, "dispatch", crash_once)
    chat = WebChat(client, lang="en")
    first = await chat.say("can i change company")
    assert text_of(first) == t("en", messages.ERROR)
    stored = session.scalar(select(Message).join(Conversation).where(Conversation.channel_user_id == chat.user_id))
    session.refresh(stored)
    assert stored.text == "can i change company" and stored.status == MessageStatus.received
    assert stored.attempts == 1 and stored.next_attempt_at is not None

    stored.next_attempt_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)  # the backoff has passed
    session.commit()
    assert await bot_engine.run_due() == 1
    session.refresh(stored)
    assert stored.status == MessageStatus.processed and calls == ["can i change company"] * 2

    # The web chat can't be pushed to: the answer comes with the trainee's next message, first.
    later = await chat.say("thanks")
    assert later["replies"][0]["title"] == text_of(await WebChat(client, lang="en").say("can i change company")).split("\n")[0]
    assert await bot_engine.run_due() == 0  # nothing left behind


def _nlu_answering(intent: str, confidence: float) -> NluClient:
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={
            "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": [{"name": intent, "confidence": confidence}, {"name": "paid_leave", "confidence": 0.1}],
            "entities": [],
        })

    return NluClient("http://nlu.test", transport=httpx.MockTransport(handler))


async def test_an_unsure_parse_asks_then_the_second_miss_offers_a_human(session_factory):
    engine = Engine(session_factory=session_factory, nlu=_nlu_answering("job_transfer", 0.2))
    first = await engine.handle(Inbound(channel="web", user_id="unsure", text="hmm", lang="id"))
    assert first.replies[0].text == t("id", messages.CLARIFY)
    assert [b.payload for b in first.replies[0].buttons][:2] == ["topic:job_transfer", "topic:paid_leave"]
    second = await engine.handle(Inbound(channel="web", user_id="unsure", text="hmm lagi", lang="id"))
    assert second.replies[0].text == t("id", messages.OFFER_HUMAN)
    assert "human" in [b.payload for b in second.replies[0].buttons]


async def test_a_low_emergency_score_still_gets_the_emergency_reply(session_factory):
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={
            "intent": {"name": "work_injury", "confidence": 0.55},
            "intent_ranking": [{"name": "work_injury", "confidence": 0.55}, {"name": "emergency", "confidence": 0.3}],
            "entities": [],
        })

    engine = Engine(session_factory=session_factory, nlu=NluClient("http://nlu.test", transport=httpx.MockTransport(handler)))
    outcome = await engine.handle(Inbound(channel="web", user_id="hurt", text="my friend hand in machine", lang="en"))
    assert outcome.intent == "emergency" and "119" in outcome.replies[0].text and outcome.handoff_id
