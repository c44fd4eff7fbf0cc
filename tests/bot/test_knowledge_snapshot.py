"""The bot answers from a per-process snapshot of the knowledge (knowledge.service.snapshot): an admin's edit made in
this process is what the very next trainee sees; one made by another process (here: another engine writing raw SQL,
which this process's ORM never sees) is seen once the snapshot is older than SNAPSHOT_SECONDS. SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text

from bot import replies
from knowledge import service as knowledge_service
from knowledge.db import make_engine, make_session_factory
from knowledge.models import Contact

AT = dt.datetime(2026, 12, 1, 5, 0, tzinfo=dt.UTC)  # a Tuesday afternoon in Japan


async def test_an_admin_edit_in_this_process_is_answered_at_once(client, session):
    first = (await client.post("/channels/web/messages", json={"payload": "topic:passport_confiscation",
                                                               "lang": "en"})).json()
    entry = knowledge_service.get_entry(session=session, topic="passport_confiscation", lang="en")
    assert entry.answer in first["replies"][0]["text"]

    entry.answer = "Edited: your employer may never keep your passport. Ask for it back today."
    session.commit()
    again = (await client.post("/channels/web/messages", json={"payload": "topic:passport_confiscation",
                                                               "lang": "en"})).json()
    assert again["replies"][0]["text"].startswith("Edited: your employer may never keep your passport.")


def test_a_contact_switched_off_in_this_process_disappears_from_the_next_reply(session):
    before = replies.emergency(session, "en", AT)[0].text
    shown = [c for c in knowledge_service.topic_contacts(session=session, topic="emergency", lang="en")
             if c.key not in replies.EMERGENCY_NUMBERS and c.phones and c.verified and c.phones[0]["number"] in before]
    assert shown, "the emergency reply shows at least one contact's number"
    contact = session.get(Contact, shown[0].id)
    contact.verified = False  # an admin marks it unverified
    session.commit()
    assert contact.phones[0]["number"] not in replies.emergency(session, "en", AT)[0].text


def test_an_edit_by_another_process_is_seen_after_the_snapshot_ages(database_url, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(knowledge_service, "_clock", lambda: clock[0])
    here, there = make_engine(database_url), make_engine(database_url)
    try:
        with make_session_factory(here)() as session:
            assert not replies.topic(session, "en", "paid_leave", AT).text.startswith("Edited elsewhere.")
        with there.begin() as conn:  # raw SQL on another engine: no event of this process sees it
            conn.execute(text("UPDATE entry SET answer = 'Edited elsewhere.' WHERE lang = 'en' AND topic_id = "
                              "(SELECT id FROM topic WHERE key = 'paid_leave')"))
        clock[0] += knowledge_service.SNAPSHOT_SECONDS + 0.1
        with make_session_factory(here)() as session:
            assert replies.topic(session, "en", "paid_leave", AT).text.startswith("Edited elsewhere.")
    finally:
        here.dispose()
        there.dispose()
