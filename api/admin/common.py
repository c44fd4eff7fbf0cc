"""What every admin page shares: the admin-only page dependency and the renderer (Jinja2, autoescape)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from api.deps import ServicesDep, SessionDep, get_account

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
templates = Jinja2Templates(env=Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True))
LOGIN = "/inbox/login?next=/admin"


async def admin_page_account(request: Request, services: ServicesDep, session: SessionDep):
    """The signed-in admin; an anonymous visitor is sent to the sign-in form, a volunteer gets 403."""
    try:
        account = await get_account(request, services, session)
    except HTTPException as exc:
        if exc.status_code == 401:
            raise HTTPException(status_code=303, detail="sign in first", headers={"Location": LOGIN}) from None
        raise
    if account.role != "admin":
        raise HTTPException(status_code=403, detail="admins only")
    return account


AdminPage = Annotated[Any, Depends(admin_page_account)]


def render(request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
    """A page of the admin: `account`, `csrf` and the count of entries past review are always there."""
    from knowledge import editing

    context.setdefault("csrf", getattr(request.state, "csrf", None))
    if "review_due" not in context:
        with request.app.state.services.session_factory() as session:
            context["review_due"] = editing.review_due_count(session=session, today=request.app.state.services.engine.today())
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response
