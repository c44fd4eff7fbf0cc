"""Claiming is atomic: of several volunteers claiming the same handoff at the same moment, exactly one
gets it. Real concurrent transactions, each in its own thread and connection."""

from __future__ import annotations

import threading

from sqlalchemy import select

from api.accounts import service as accounts
from api.handoff import service
from bot import conversations
from bot.models import Account, Conversation, Handoff, HandoffReason, HandoffStatus, Message, Priority
from knowledge.db import make_engine, make_session_factory


def test_concurrent_claims_exactly_one_wins(database_url):
    database = make_engine(database_url)
    factory = make_session_factory(database)
    try:
        with factory() as session:
            ids = [accounts.create(session=session, email=f"v{i}@example.org", password="correct horse battery",
                                   role="volunteer", languages=["vi"], name=f"V{i}").id for i in range(6)]
            conversation = Conversation(channel="web", channel_user_id="race", slots={}, lang="vi")
            session.add(conversation)
            session.flush()
            public_id = conversations.open_handoff(session=session, conversation=conversation,
                                                   priority=Priority.medium, reason=HandoffReason.asked).public_id
            session.commit()
        start = threading.Barrier(len(ids))
        results: dict[int, str] = {}

        def claim(account_id: int) -> None:
            with factory() as session:
                account = session.get(Account, account_id)
                start.wait()
                try:
                    service.claim(session=session, public_id=public_id, account=account)
                    session.commit()
                    results[account_id] = "won"
                except service.Conflict:
                    session.rollback()
                    results[account_id] = "409"

        threads = [threading.Thread(target=claim, args=(i,)) for i in ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(results.values()) == ["409"] * (len(ids) - 1) + ["won"]
        with factory() as session:
            handoff = session.scalar(select(Handoff).where(Handoff.public_id == public_id))
            winner = next(i for i, r in results.items() if r == "won")
            assert handoff.status == HandoffStatus.claimed and handoff.volunteer_id == winner
            # the trainee was told once that a person joined: one notice, from the winner's claim only
            assert len(session.scalars(select(Message).where(Message.conversation_id == handoff.conversation_id,
                                                             Message.direction == "outbound")).all()) == 1
    finally:
        database.dispose()
