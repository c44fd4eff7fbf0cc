"""The handoff HTTP API (`/api/handoffs…`, paths are a contract), `POST /auth/token`, and the live stream."""

from __future__ import annotations

import asyncio
import json
import logging

from fastapi import APIRouter, BackgroundTasks, HTTPException, Query, Request
from sse_starlette.sse import EventSourceResponse

from api.accounts import service as accounts
from api.deps import CurrentAccount, EngineDep, RowId, ServicesDep, SessionDep
from api.handoff import schemas
from api.handoff import service
from bot import conversations, learning
from bot.models import Conversation, Direction, Handoff, Message
from knowledge.db import utcnow

logger = logging.getLogger(__name__)

router = APIRouter(tags=["handoff"])
#: How often the live stream looks for new events (every process writes them to the database) when nothing tells
#: it to: on SQLite, and on PostgreSQL as the fallback of LISTEN/NOTIFY (api/live.py).
STREAM_POLL_SECONDS = 0.25
STREAM_FALLBACK_SECONDS = 5.0


def handoff_read(handoff: Handoff, names: dict[int, str]) -> schemas.HandoffRead:
    end = handoff.claimed_at or handoff.closed_at or utcnow()
    return schemas.HandoffRead(
        id=handoff.public_id, status=handoff.status, lang=handoff.lang, channel=handoff.channel,
        reason=handoff.reason, priority=handoff.priority,
        waiting_seconds=max(0, int((end - handoff.requested_at).total_seconds())),
        volunteer=names.get(handoff.volunteer_id) if handoff.volunteer_id else None,
        trainee=service.pseudonym(handoff), requested_at=handoff.requested_at, claimed_at=handoff.claimed_at,
        closed_at=handoff.closed_at, outcome=handoff.outcome, referral=handoff.referral, rating=handoff.rating,
    )


def _map(function):
    """Run a service call, turning its domain errors into HTTP statuses."""
    try:
        return function()
    except service.HandoffNotFound:
        raise HTTPException(status_code=404, detail="no such handoff") from None
    except service.NotAllowed as exc:
        raise HTTPException(status_code=403, detail=str(exc)) from None
    except service.Conflict as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None


def _get(session, public_id: str) -> Handoff:
    return _map(lambda: service.get(session=session, public_id=public_id))


def _readable(session, public_id: str, account) -> Handoff:
    """The handoff, for its holder and admins only (403 for anyone else, 404 when there is none)."""
    handoff = _get(session, public_id)
    if not service.may_read(handoff, account):
        raise HTTPException(status_code=403, detail="only the volunteer holding it, or an admin")
    return handoff


def _changed(change, *, session, engine, background: BackgroundTasks, account, action: str, public_id: str,
             detail: str | None = None) -> Handoff:
    """Make a state change (domain errors as HTTP statuses), audit and commit it, then send what the trainee
    is told from the outbox after the response."""
    handoff = _map(change)
    accounts.audit(session=session, account=account, action=action, target=public_id, detail=detail)
    session.commit()
    background.add_task(engine.drain, handoff.conversation_id)
    return handoff


@router.post("/auth/token", response_model=schemas.TokenRead)
def issue_token(body: schemas.TokenRequest, request: Request, session: SessionDep,
                services: ServicesDep) -> schemas.TokenRead:
    """A bearer token for API clients (12 hours)."""
    client = request.client.host if request.client else "?"
    try:
        account = accounts.authenticate(session=session, email=body.email, password=body.password, client=client)
    except accounts.TooManyAttempts:
        raise HTTPException(status_code=429, detail="too many failed sign-ins; wait 15 minutes") from None
    if account is None:
        raise HTTPException(status_code=401, detail="wrong email or password")
    accounts.audit(session=session, account=account, action="auth.token")
    return schemas.TokenRead(access_token=services.signers.token(account))


@router.get("/api/handoffs", response_model=schemas.HandoffList)
def list_handoffs(account: CurrentAccount, session: SessionDep,
                  status: str | None = Query(default=None, pattern="^(waiting|claimed|closed|returned)$")):
    """The queue and the chats this account may see: urgent first, then oldest; own languages first."""
    rows = service.list_for(session=session, account=account, status=status)
    names = service.volunteer_names(session=session, ids={h.volunteer_id for h in rows if h.volunteer_id})
    return schemas.HandoffList(data=[handoff_read(h, names) for h in rows], count=len(rows))


@router.get("/api/handoffs/stream")
async def stream(request: Request, account: CurrentAccount, services: ServicesDep):
    """Server-sent events: `{"id", "kind", "handoff"}` for each change this account may see, from any process."""
    account_id = account.id

    def start() -> int:
        with services.session_factory() as session:
            return service.last_event_id(session=session)

    def fetch(after: int):
        from bot.models import Account

        with services.session_factory() as session:
            viewer = session.get(Account, account_id)
            return [(e.id, e.kind, h.public_id if h else None)
                    for e, h in service.events_after(session=session, after=after, account=viewer)]

    last = int(request.headers.get("last-event-id") or 0) or await asyncio.to_thread(start)

    async def events():
        nonlocal last
        yield {"event": "ready", "data": json.dumps({"id": last})}
        bell = services.bell
        while True:
            ticket = bell.ticket() if bell is not None and bell.listening else None
            for event_id, kind, handoff in await asyncio.to_thread(fetch, last):
                last = event_id
                yield {"id": str(event_id), "event": "handoff",
                       "data": json.dumps({"id": event_id, "kind": kind, "handoff": handoff})}
            if ticket is not None:
                await bell.wait(ticket, STREAM_FALLBACK_SECONDS)
            else:
                await asyncio.sleep(STREAM_POLL_SECONDS)

    return EventSourceResponse(events(), ping=15)


@router.get("/api/handoffs/{public_id}", response_model=schemas.HandoffDetail)
def read_handoff(public_id: str, account: CurrentAccount, session: SessionDep) -> schemas.HandoffDetail:
    """The handoff with the whole transcript (bot part included); its holder and admins only. Audited."""
    handoff = _readable(session, public_id, account)
    accounts.audit(session=session, account=account, action="handoff.transcript_read", target=handoff.public_id)
    rows = service.transcript(session=session, handoff=handoff)
    names = service.names_in(session=session, handoff=handoff, rows=rows)
    transcript = [
        schemas.TranscriptMessage(
            id=m.id, text=(f"{m.title}\n{m.text}" if m.title else (m.text or "")), at=m.created_at,
            direction=conversations.author(m),
            delivery=service.delivery(m), intent=m.intent if m.direction == Direction.inbound else None,
            volunteer=names.get(m.volunteer_id) if m.volunteer_id else None,
        )
        for m in rows
    ]
    notes = [schemas.NoteRead(text=n.text, at=n.created_at, author=names.get(n.author_id)) for n in handoff.notes]
    return schemas.HandoffDetail(**handoff_read(handoff, names).model_dump(), messages=transcript, notes=notes)


@router.post("/api/handoffs/{public_id}/claim", response_model=schemas.HandoffRead)
def claim(public_id: str, account: CurrentAccount, session: SessionDep, engine: EngineDep,
          background: BackgroundTasks) -> schemas.HandoffRead:
    handoff = _changed(lambda: service.claim(session=session, public_id=public_id, account=account),
                       session=session, engine=engine, background=background, account=account,
                       action="handoff.claimed", public_id=public_id)
    return handoff_read(handoff, {account.id: account.display_name})


@router.post("/api/handoffs/{public_id}/messages", response_model=schemas.MessageCreated)
def post_message(public_id: str, body: schemas.MessageCreate, account: CurrentAccount, session: SessionDep,
                 engine: EngineDep, background: BackgroundTasks) -> schemas.MessageCreated:
    """A reply to the trainee on their own channel; `delivery` is `pending` until the channel took it."""
    message = _map(lambda: service.post_message(session=session, public_id=public_id, account=account,
                                                text=body.text))
    session.commit()
    background.add_task(engine.drain, message.conversation_id)
    return schemas.MessageCreated(id=message.id, delivery=service.delivery(message))


@router.post("/api/handoffs/{public_id}/release", response_model=schemas.HandoffRead)
def release(public_id: str, account: CurrentAccount, session: SessionDep, engine: EngineDep,
            background: BackgroundTasks) -> schemas.HandoffRead:
    handoff = _changed(lambda: service.release(session=session, public_id=public_id, account=account),
                       session=session, engine=engine, background=background, account=account,
                       action="handoff.released", public_id=public_id)
    return handoff_read(handoff, {})


@router.post("/api/handoffs/{public_id}/close", response_model=schemas.HandoffRead)
def close(public_id: str, body: schemas.CloseRequest, account: CurrentAccount, session: SessionDep,
          engine: EngineDep, background: BackgroundTasks) -> schemas.HandoffRead:
    handoff = _changed(lambda: service.close(session=session, public_id=public_id, account=account,
                                             outcome=body.outcome, referral=body.referral),
                       session=session, engine=engine, background=background, account=account,
                       action="handoff.closed", public_id=public_id, detail=body.outcome)
    return handoff_read(handoff, {account.id: account.display_name})


@router.post("/api/handoffs/{public_id}/notes", status_code=201)
def add_note(public_id: str, body: schemas.NoteCreate, account: CurrentAccount, session: SessionDep) -> dict:
    _map(lambda: service.add_note(session=session, public_id=public_id, account=account, text=body.text))
    return {"ok": True}


@router.get("/api/handoffs/{public_id}/canned")
def canned(public_id: str, account: CurrentAccount, session: SessionDep) -> dict:
    """Canned replies in the trainee's language, placeholders filled; its holder and admins only."""
    handoff = _readable(session, public_id, account)
    replies = service.canned_replies(session=session, handoff=handoff, account=account)
    return {"data": replies, "count": len(replies)}


@router.post("/api/handoffs/{public_id}/messages/{message_id}/missed", status_code=201)
def mark_missed(public_id: str, message_id: RowId, account: CurrentAccount, session: SessionDep) -> dict:
    """The bot should have known this: a trainee message of this chat goes to the admins' learning queue."""
    handoff = _readable(session, public_id, account)
    message = session.get(Message, message_id)
    if (message is None or message.conversation_id != handoff.conversation_id
            or message.direction != Direction.inbound or not (message.text or "").strip()):
        raise HTTPException(status_code=404, detail="no trainee message with that id in this chat")
    conversation = session.get(Conversation, handoff.conversation_id)
    learning.mark_by_volunteer(session=session, message=message, lang=conversation.lang or "en")
    accounts.audit(session=session, account=account, action="learning.marked", target=handoff.public_id)
    return {"ok": True}
