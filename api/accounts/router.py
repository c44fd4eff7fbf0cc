"""Account administration for admins: list, create, deactivate (every change audited)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from api.accounts import schemas
from api.accounts import service as accounts
from api.deps import CurrentAdmin, RowId, SessionDep
from bot.models import Account

router = APIRouter(prefix="/api/accounts", tags=["accounts"])


def _read(account: Account) -> schemas.AccountRead:
    return schemas.AccountRead(id=account.id, email=account.email, display_name=account.display_name,
                               role=account.role, languages=account.languages, support_group=account.support_group,
                               capacity=account.capacity, active=account.active)


@router.get("", response_model=schemas.AccountList)
def list_accounts(admin: CurrentAdmin, session: SessionDep) -> schemas.AccountList:
    rows = accounts.list_accounts(session=session)
    return schemas.AccountList(data=[_read(a) for a in rows], count=len(rows))


@router.post("", response_model=schemas.AccountRead, status_code=201)
def create_account(body: schemas.AccountCreate, admin: CurrentAdmin, session: SessionDep) -> schemas.AccountRead:
    try:
        account = accounts.create(session=session, email=body.email, password=body.password, role=body.role,
                                  languages=body.languages, name=body.name, group=body.support_group,
                                  capacity=body.capacity)
    except accounts.AccountError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    accounts.audit(session=session, account=admin, action="account.created", target=str(account.id))
    return _read(account)


@router.post("/{account_id}/deactivate", response_model=schemas.AccountRead)
def deactivate(account_id: RowId, admin: CurrentAdmin, session: SessionDep) -> schemas.AccountRead:
    account = session.get(Account, account_id)
    if account is None:
        raise HTTPException(status_code=404, detail="no such account")
    if account.id == admin.id:
        raise HTTPException(status_code=409, detail="you cannot deactivate yourself")
    account.active = False
    accounts.audit(session=session, account=admin, action="account.deactivated", target=str(account.id))
    return _read(account)
