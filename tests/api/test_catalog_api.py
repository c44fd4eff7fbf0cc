"""The read-only knowledge API and the app's start-up checks."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from sqlalchemy import create_engine

from api.config import ApiSettings
from knowledge.schema import SchemaBehind
from api.main import create_app


@pytest.fixture
async def client(engine, session_factory):
    from bot.config import BotSettings

    # No NLU server here (port 9 is closed): /health must say so, not hang or fail.
    app = create_app(ApiSettings(_env_file=None, worker=False), engine=engine, session_factory=session_factory,
                     bot_settings=BotSettings(nlu_url="http://127.0.0.1:9", _env_file=None))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


async def test_health_reports_the_nlu_and_the_outbox(client, session):
    from bot.conversations import store_inbound
    from bot.models import Message, MessageStatus
    from bot.schemas import Inbound

    before = (await client.get("/health")).json()
    assert before["database"] == "ok" and before["nlu"] == "down" and before["status"] == "degraded"

    stored = store_inbound(session=session, inbound=Inbound(channel="web", user_id="health", text="hi"),
                           grace=dt.timedelta(0))
    waiting = (await client.get("/health")).json()
    assert waiting["unprocessed_messages"] == before["unprocessed_messages"] + 1

    message = session.get(Message, stored.message_id)
    message.status = MessageStatus.dead
    session.commit()
    dead = (await client.get("/health")).json()
    assert dead["unprocessed_messages"] == before["unprocessed_messages"]
    assert dead["dead_messages"] == before["dead_messages"] + 1


async def test_topics_list_every_topic_in_five_languages(client):
    body = (await client.get("/api/topics")).json()
    assert body["count"] == 21  # 16 topics, and the five added with the content issue
    assert {"unpaid_wages", "leaving_employer", "visa_status", "skill_development_system",
            "social_insurance"} <= {t["key"] for t in body["data"]}
    assert all(t["languages"] == ["en", "id", "ja", "tl", "vi"] for t in body["data"])


async def test_entry_in_a_language(client):
    body = (await client.get("/api/topics/passport_confiscation/vi")).json()
    assert body["lang"] == "vi" and body["status"] == "published" and body["sources"]
    assert (await client.get("/api/topics/passport_confiscation/fr")).status_code == 404


async def test_rate_in_force_for_any_spelling(client):
    body = (await client.get("/api/wages/愛知県/in-force", params={"on": "2025-10-18"})).json()
    assert (body["prefecture"], body["yen_per_hour"], body["fiscal_year"]) == ("Aichi", 1140, 2025)
    body = (await client.get("/api/wages/aichi/in-force", params={"on": "2025-10-17"})).json()
    assert body["yen_per_hour"] == 1077
    assert (await client.get("/api/wages/Atlantis/in-force")).status_code == 404


async def test_wage_check_endpoint(client):
    response = await client.get(
        "/api/wage-check",
        params={"amount": "15万", "period": "month", "prefecture": "Okinawa", "on": "2026-01-05"},
    )
    body = response.json()
    assert body["verdict"] == "below"
    assert body["minimum"]["yen_per_hour"] == 1023
    assert "legal_max_monthly_hours" in body["assumptions"]
    missing = (await client.get("/api/wage-check", params={"amount": "900"})).json()
    assert missing["missing"] == ["period", "prefecture"]
    bad = await client.get("/api/wage-check", params={"amount": "abc", "period": "hour", "prefecture": "Aichi"})
    assert bad.status_code == 422 and "cannot read" in bad.json()["detail"]


async def test_contacts_and_wages_lists(client):
    contacts = (await client.get("/api/contacts")).json()
    assert contacts["count"] >= 10
    wages = (await client.get("/api/wages", params={"prefecture": "Tokyo"})).json()
    assert [w["yen_per_hour"] for w in wages["data"]] == [1163, 1226]


async def test_prefecture_resolver_endpoint(client):
    assert (await client.get("/api/prefectures/resolve", params={"q": "tỉnh Aichi"})).json()["prefecture"] == "Aichi"


def test_app_refuses_a_database_that_is_behind(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SchemaBehind, match="make migrate"):
        create_app(ApiSettings(), engine=engine)
