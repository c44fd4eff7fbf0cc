"""Anonymous statistics for support groups (/admin/stats, /admin/stats.csv, /api/admin/stats): the counts per
cell, the small-cell rule, nothing that singles a person out, the median wait, the roles, the SVG chart."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from api.admin import stats
from bot.models import Conversation, Handoff, HandoffStatus, Message
from tests.utils.people import bearer_headers, create_people

SECRET_TEXT = "Ông chủ giữ hộ chiếu ZQX-7731 của em"
SECRET_USER = "tg-user-88812345"
FIRST_ID = 9_876_500  # conversation ids: distinctive, so the test can look for them
PUBLIC_ID = "hq7secretpublicid"


@pytest.fixture
def today():
    """A Wednesday: the default period is the weeks of Monday 2026-09-07 to Sunday 2026-11-29."""
    return dt.date(2026, 11, 25)


@pytest.fixture
def bot_settings():
    """No NLU server needed: nothing here talks to it (port 9 is closed)."""
    from bot.config import BotSettings

    return BotSettings(nlu_url="http://127.0.0.1:9", _env_file=None)


def at(month: int, day: int, hour: int = 3, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=dt.UTC)


def conversation(session, n: int, lang: str | None, *messages: tuple) -> Conversation:
    """A conversation with messages (direction, intent, meta, created_at), every one with the secret text."""
    conv = Conversation(id=FIRST_ID + n, channel="telegram", channel_user_id=f"{SECRET_USER}-{n}", lang=lang)
    session.add(conv)
    session.flush()
    for direction, intent, meta, created_at in messages:
        session.add(Message(conversation_id=conv.id, channel="telegram", direction=direction, text=SECRET_TEXT,
                            status="processed" if direction == "inbound" else "sent", intent=intent, meta=meta,
                            created_at=created_at))
    return conv


def handoff(session, conv: Conversation, n: int, *, reason: str, lang: str, requested: dt.datetime,
            waited: int | None, outcome: str | None) -> None:
    claimed = requested + dt.timedelta(minutes=waited) if waited is not None else None
    status = HandoffStatus.closed if outcome else (HandoffStatus.claimed if claimed else HandoffStatus.waiting)
    session.add(Handoff(public_id=f"{PUBLIC_ID}{n}", conversation_id=conv.id, channel="telegram", lang=lang,
                        reason=reason, priority="high", status=status, requested_at=requested, claimed_at=claimed,
                        closed_at=claimed + dt.timedelta(minutes=20) if outcome else None, outcome=outcome))


@pytest.fixture
def data(session):
    """Week of 2026-11-16: five vi conversations on passports in Aichi, three id ones on overtime in Osaka;
    one vi conversation first in Aichi, then Osaka, on the Monday 2026-11-23 (00:30 in Japan, still Sunday in
    UTC); one with no language and a bogus prefecture; noise that must not count. Handoffs: five vi (asked,
    information given; 4, 8, 10, 30, 60 minutes to a claim), three id (emergency, referred; 1, 2, 3 minutes),
    one vi still waiting."""
    inbound, outbound = "inbound", "outbound"
    vi = []
    for n in range(5):
        more = [(inbound, "passport_confiscation", None, at(11, 19))] if n == 0 else []  # same week: counted once
        vi.append(conversation(session, n, "vi",
                               (inbound, "passport_confiscation", {"client_language": "vi"}, at(11, 17)),
                               (inbound, None, {"prefecture": "Aichi"}, at(11, 17, 3, 5)), *more))
    indonesian = [conversation(session, n, "id", (inbound, "unpaid_overtime", {"prefecture": "Osaka"}, at(11, 18)))
                  for n in range(5, 8)]
    moved = conversation(session, 8, "vi", (inbound, "greet", {"prefecture": "Aichi"}, at(11, 10)),
                         (inbound, "passport_confiscation", {"prefecture": "Osaka"}, at(11, 22, 15, 30)))
    conversation(session, 9, None, (inbound, "harassment_violence", {"prefecture": "Atlantis"}, at(11, 20)))
    conversation(session, 10, "tl",
                 (outbound, "passport_confiscation", None, at(11, 17)),  # a reply: not a trainee's question
                 (inbound, "greet", None, at(11, 17)),  # not a topic
                 (inbound, "passport_confiscation", None, at(8, 1)))  # before the period
    for n, (conv, waited) in enumerate(zip(vi, (4, 8, 10, 30, 60))):
        handoff(session, conv, n, reason="asked", lang="vi", requested=at(11, 17, 4), waited=waited,
                outcome="information_given")
    for n, (conv, waited) in enumerate(zip(indonesian, (1, 2, 3)), start=5):
        handoff(session, conv, n, reason="emergency", lang="id", requested=at(11, 18, 4), waited=waited,
                outcome="referred")
    handoff(session, moved, 8, reason="emergency", lang="vi", requested=at(11, 22, 15, 31), waited=None, outcome=None)
    session.commit()


@pytest.fixture
def people(session):
    return create_people(session, admin=("admin", ["en"], "Admin"), lan=("volunteer", ["vi"], "Lan"))


@pytest.fixture
async def auth(client, people):
    return await bearer_headers(client, people)


def assert_anonymous(body: str) -> None:
    assert SECRET_TEXT not in body and "ZQX-7731" not in body
    assert SECRET_USER not in body and PUBLIC_ID not in body
    assert str(FIRST_ID)[:5] not in body  # no conversation id (9876500…)


def test_the_raw_cells_count_distinct_conversations(session, data, today):
    cells = {key: len(ids) for key, ids in stats.conversation_cells(session, stats.Period.of(today)).items()}
    assert cells == {
        (dt.date(2026, 11, 16), "passport_confiscation", "Aichi", "vi"): 5,
        (dt.date(2026, 11, 16), "unpaid_overtime", "Osaka", "id"): 3,
        (dt.date(2026, 11, 23), "passport_confiscation", "Osaka", "vi"): 1,  # the latest prefecture; Japan's Monday
        (dt.date(2026, 11, 16), "harassment_violence", "unknown", "unknown"): 1,
    }


def test_the_period_is_whole_weeks_in_japan_time(today):
    assert stats.Period.of(today) == stats.Period(dt.date(2026, 9, 7), dt.date(2026, 11, 29))
    one = stats.Period.of(today, dt.date(2026, 11, 18), dt.date(2026, 11, 18), "vi")
    assert (one.start, one.end, one.lang) == (dt.date(2026, 11, 16), dt.date(2026, 11, 22), "vi")
    assert one.bounds == (dt.datetime(2026, 11, 15, 15, tzinfo=dt.UTC), dt.datetime(2026, 11, 22, 15, tzinfo=dt.UTC))
    with pytest.raises(ValueError):
        stats.Period.of(today, dt.date(2026, 11, 30), dt.date(2026, 11, 1))


def test_a_total_is_withheld_next_to_one_hidden_part():
    assert stats.total(3, [3]) == "<5"
    assert stats.total(6, [5, 1]) == "withheld"  # 6 − 5 would give the hidden 1 back
    assert stats.total(8, [2, 3, 3]) == 8 and stats.total(10, [5, 5]) == 10
    assert stats.total(9, [5, 4], [9]) == "withheld"  # any of the splits
    assert stats.cell(4) == "<5" and stats.cell(5) == 5


async def test_the_json_counts_with_small_cells_hidden(client, auth, data):
    response = await client.get("/api/admin/stats", headers=auth["admin"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["period"]["from"] == "2026-09-07" and body["period"]["to"] == "2026-11-29"
    assert body["conversations"]["cells"] == [  # by week, then topic (knowledge.intents order), prefecture, language
        {"week": "2026-11-16", "topic": "unpaid_overtime", "prefecture": "Osaka", "lang": "id", "conversations": "<5"},
        {"week": "2026-11-16", "topic": "passport_confiscation", "prefecture": "Aichi", "lang": "vi",
         "conversations": 5},
        {"week": "2026-11-16", "topic": "harassment_violence", "prefecture": "unknown", "lang": "unknown",
         "conversations": "<5"},
        {"week": "2026-11-23", "topic": "passport_confiscation", "prefecture": "Osaka", "lang": "vi",
         "conversations": "<5"},
    ]
    # 6 conversations on passports, but 6 − 5 would give back the hidden one: withheld.
    assert body["conversations"]["by_topic"] == [
        {"topic": "unpaid_overtime", "conversations": "<5"},
        {"topic": "passport_confiscation", "conversations": "withheld"},
        {"topic": "harassment_violence", "conversations": "<5"},
    ]
    assert body["handoffs"]["cells"] == [
        {"week": "2026-11-16", "reason": "asked", "outcome": "information_given", "handoffs": 5},
        {"week": "2026-11-16", "reason": "emergency", "outcome": "referred", "handoffs": "<5"},
        {"week": "2026-11-23", "reason": "emergency", "outcome": "still_open", "handoffs": "<5"},
    ]
    assert body["handoffs"]["by_reason"] == [{"reason": "asked", "handoffs": 5},
                                             {"reason": "emergency", "handoffs": "<5"}]
    # Waits 1, 2, 3, 4, 8, 10, 30, 60: median 6; vi 4, 8, 10, 30, 60: 10; id has only three.
    assert body["waiting"] == {
        "overall": {"handoffs": "withheld", "median_minutes": 6.0},
        "by_language": [{"lang": "vi", "handoffs": 5, "median_minutes": 10.0},
                        {"lang": "id", "handoffs": "<5", "median_minutes": "<5 handoffs"}],
    }
    assert_anonymous(response.text)


async def test_the_filters(client, auth, data):
    only_id = (await client.get("/api/admin/stats?lang=id", headers=auth["admin"])).json()
    assert [c["topic"] for c in only_id["conversations"]["cells"]] == ["unpaid_overtime"]
    assert only_id["waiting"]["by_language"] == [{"lang": "id", "handoffs": "<5", "median_minutes": "<5 handoffs"}]
    assert only_id["waiting"]["overall"] == {"handoffs": "<5", "median_minutes": "<5 handoffs"}
    week = (await client.get("/api/admin/stats?from=2026-11-18&to=2026-11-19", headers=auth["admin"])).json()
    assert (week["period"]["from"], week["period"]["to"]) == ("2026-11-16", "2026-11-22")
    assert {c["week"] for c in week["conversations"]["cells"] + week["handoffs"]["cells"]} == {"2026-11-16"}
    later = (await client.get("/api/admin/stats?from=2026-12-01&to=2026-12-31", headers=auth["admin"])).json()
    assert later["conversations"]["cells"] == [] and later["handoffs"]["cells"] == []
    for bad in ("lang=xx", "from=soon", "from=2026-11-30&to=2026-11-01"):
        assert (await client.get(f"/api/admin/stats?{bad}", headers=auth["admin"])).status_code == 422


async def test_the_page_has_tables_and_svg_charts(client, auth, data):
    response = await client.get("/admin/stats", headers=auth["admin"])
    assert response.status_code == 200, response.text
    page = response.text
    assert "<td>2026-11-16</td><td>passport confiscation</td><td>Aichi</td><td>vi</td><td class=\"n\">5</td>" in page
    assert "<td>2026-11-16</td><td>unpaid overtime</td><td>Osaka</td><td>id</td><td class=\"n\">&lt;5</td>" in page
    assert "<td>2026-11-16</td><td>asked</td><td>information given</td><td class=\"n\">5</td>" in page
    assert "<td>All languages</td><td class=\"n\">withheld</td><td class=\"n\">6.0</td>" in page
    assert "<td>id</td><td class=\"n\">&lt;5</td><td class=\"n\">&lt;5 handoffs</td>" in page
    assert page.count("<svg") == 3 and "<script" not in page and "http://www.w3.org/2000/svg" in page
    # A hidden bar has the same short length whatever the count; a withheld total has none.
    assert f'width="{stats.STUB}" height="14" class="hidden"' in page
    assert ">withheld</text>" in page and ">&lt;5</text>" in page
    assert "/admin/stats.csv?view=handoffs&amp;from=2026-09-07&amp;to=2026-11-29" in page
    assert_anonymous(page)


async def test_the_csv_downloads(client, auth, data):
    response = await client.get("/admin/stats.csv?view=conversations", headers=auth["admin"])
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    disposition = 'attachment; filename="stats-conversations-2026-09-07-2026-11-29.csv"'
    assert response.headers["content-disposition"] == disposition
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["week", "topic", "prefecture", "language", "conversations"]
    assert ["2026-11-16", "passport_confiscation", "Aichi", "vi", "5"] in rows
    assert ["2026-11-16", "unpaid_overtime", "Osaka", "id", "<5"] in rows
    assert_anonymous(response.text)

    handoffs = await client.get("/admin/stats.csv?view=handoffs", headers=auth["admin"])
    assert list(csv.reader(io.StringIO(handoffs.text)))[1:] == [
        ["2026-11-16", "asked", "information_given", "5"], ["2026-11-16", "emergency", "referred", "<5"],
        ["2026-11-23", "emergency", "still_open", "<5"]]
    waiting = await client.get("/admin/stats.csv?view=waiting&lang=vi", headers=auth["admin"])
    assert "stats-waiting-2026-09-07-2026-11-29-vi.csv" in waiting.headers["content-disposition"]
    assert list(csv.reader(io.StringIO(waiting.text))) == [
        ["language", "claimed_handoffs", "median_minutes_to_claim"], ["all", "5", "10.0"], ["vi", "5", "10.0"]]
    for view in ("handoffs", "waiting"):
        assert_anonymous((await client.get(f"/admin/stats.csv?view={view}", headers=auth["admin"])).text)
    assert (await client.get("/admin/stats.csv?view=people", headers=auth["admin"])).status_code == 422


async def test_only_admins(client, auth, data):
    for url in ("/admin/stats", "/admin/stats.csv?view=waiting", "/api/admin/stats"):
        assert (await client.get(url, headers=auth["lan"])).status_code == 403
    page = await client.get("/admin/stats")
    assert page.status_code == 303 and page.headers["location"].startswith("/inbox/login")
    assert (await client.get("/admin/stats.csv")).status_code == 303
    assert (await client.get("/api/admin/stats")).status_code == 401


async def test_an_empty_period(client, auth):
    body = (await client.get("/api/admin/stats", headers=auth["admin"])).json()
    assert body["conversations"] == {"cells": [], "by_topic": []} and body["handoffs"] == {"cells": [], "by_reason": []}
    assert body["waiting"] == {"overall": {"handoffs": "<5", "median_minutes": "<5 handoffs"}, "by_language": []}
    page = await client.get("/admin/stats", headers=auth["admin"])
    assert page.status_code == 200 and "No handoffs in this period." in page.text
