"""Plain CRUD for admins at /admin/db (sqladmin): contacts, canned replies, support hours and accounts.

Who may enter: the volunteer inbox's session (the signed `inbox_session` cookie, api.deps), for an active
admin account only. An anonymous visitor is sent to the inbox's sign-in form, a volunteer gets a 403 page;
sqladmin's own login and logout forms are not used (login -> /inbox/login, logout -> the inbox's sign-out).

CSRF: sqladmin's forms carry no CSRF token, so every unsafe request under /admin/db must come from this
site's own pages: its `Origin` (or, without one, its `Referer`) must name the host the request was sent to.
The session cookie is SameSite=Strict as well.

Writes: each create, edit and delete runs in one session of its own; the row, its `edited_by` (the admin's
display name: the seed loader then leaves the row alone) and an audit entry ("admin.<model>.<created|updated|
deleted>") are committed together. JSON columns are edited as JSON text, checked for syntax and shape:
a bad value is a form error, never a 500.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import anyio
from sqladmin import Admin, BaseView, ModelView, expose
from sqladmin.authentication import AuthenticationBackend, login_required
from sqladmin.fields import JSONField, SelectField
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from wtforms import validators
from wtforms.validators import StopValidation

from api.accounts.service import audit
from api.deps import SAFE_METHODS, SESSION_COOKIE
from bot.models import Account, Role
from knowledge.intents import LANGUAGES
from knowledge.models import SEED_EDITOR, CannedReply, Contact, SupportHours

ADMIN_PATH = "/admin/db"
TITLE = "Knowledge admin — data"
SIGN_IN = "/inbox/login"
SIGN_OUT = "/inbox/logout"
#: Contact kinds (knowledge/data/contacts.yaml).
CONTACT_KINDS = ("emergency", "government_hotline", "legal_aid", "crisis_line", "ngo", "union", "embassy",
                 "labour_office")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: The placeholders a canned reply may use (api/handoff/service.py fills them).
PLACEHOLDERS = ("name", "minimum_wage", "hotline")


class ChangeRefused(ValueError):
    """The change is not made; sqladmin shows the message on the form (or the list, for a delete)."""


class _QuietRefusals(logging.Filter):
    """sqladmin logs every exception of a save with its traceback: a refusal is the admin's mistake, not ours."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ChangeRefused))


logging.getLogger("sqladmin.application").addFilter(_QuietRefusals())


# ---------------------------------------------------------------------------------------------- who may enter
@dataclass(frozen=True)
class Actor:
    """The signed-in account of the request, read once by `authenticate`."""

    id: int
    display_name: str
    role: str
    csrf: str


def _sign_in_url(request: Request) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{SIGN_IN}?next={quote(here if request.method == 'GET' else ADMIN_PATH + '/', safe='/')}"


def _flash_key(signers) -> str:
    """sqladmin's flash-message session is signed with a key derived from the app's key: the same in every
    process on the database, and not the key itself."""
    return hmac.new(signers.sessions.secret_key, b"admin-db-flash", hashlib.sha256).hexdigest()


class InboxSession(AuthenticationBackend):
    """The inbox session cookie decides; only an active admin gets in."""

    def __init__(self, services) -> None:
        super().__init__(secret_key=_flash_key(services.signers), session_cookie="admin_db_flash",
                         path=ADMIN_PATH, same_site="strict", https_only=services.settings.env == "production")
        self.services = services

    def signed_in(self, cookie: str | None) -> Actor | None:
        read = self.services.signers.read_session(cookie) if cookie else None
        if read is None:
            return None
        with self.services.session_factory() as session:
            account = session.get(Account, read[0])
            if account is None or not account.active:
                return None
            return Actor(id=account.id, display_name=account.display_name, role=account.role, csrf=read[1])

    async def actor(self, request: Request) -> Actor | None:
        return await anyio.to_thread.run_sync(self.signed_in, request.cookies.get(SESSION_COOKIE))

    async def authenticate(self, request: Request) -> Response | bool:
        actor = await self.actor(request)
        if actor is None:
            return RedirectResponse(_sign_in_url(request), status_code=303)
        if actor.role != Role.admin:
            raise HTTPException(status_code=403, detail="These pages are for admins only. Your inbox: /inbox")
        request.state.admin_actor = actor
        return True

    async def get_user_id(self, request: Request) -> Any:
        actor = getattr(request.state, "admin_actor", None)
        return actor.id if actor else None

    async def login(self, request: Request) -> Response | bool:
        return RedirectResponse(f"{SIGN_IN}?next={ADMIN_PATH}/", status_code=303)

    async def logout(self, request: Request) -> Response | bool:
        return RedirectResponse(f"{ADMIN_PATH}/logout", status_code=303)


class SameOriginWrites:
    """Pure ASGI middleware of the sqladmin app: an unsafe request whose Origin (or Referer) is not this
    site gets 403 before anything reads it; every page is sent with `Cache-Control: no-store`.

    The host is compared, not the scheme: behind a proxy that ends TLS the app sees http."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in SAFE_METHODS and not same_origin(Headers(scope=scope)):
            refused = PlainTextResponse("Refused: this change was not sent from this site's own pages.",
                                        status_code=403, headers={"Cache-Control": "no-store"})
            await refused(scope, receive, send)
            return
        if scope["path"].startswith(ADMIN_PATH + "/statics/"):
            await self.app(scope, receive, send)
            return

        async def no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, no_store)


def same_origin(headers: Headers) -> bool:
    claimed, host = headers.get("origin") or headers.get("referer"), headers.get("host")
    if not claimed or not host:
        return False
    parts = urlsplit(claimed)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


# ---------------------------------------------------------------------------------------------- JSON as text
def _texts(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def texts_by_language(value: Any) -> str | None:
    if not _texts(value):
        return 'must be an object of texts by language, e.g. {"en": "…", "vi": "…"}'
    return None


def names_by_language(value: Any) -> str | None:
    return texts_by_language(value) or (None if any(v.strip() for v in value.values()) else "needs at least one name")


def language_list(value: Any) -> str | None:
    if not all(isinstance(v, str) for v in value) or set(value) - set(LANGUAGES):
        return f"must be a list of language codes out of {', '.join(LANGUAGES)}"
    return None


def phone_list(value: Any) -> str | None:
    for i, phone in enumerate(value, 1):
        if not isinstance(phone, dict):
            return f'phone {i}: must be an object like {{"number": "0120-…", "language": "vi"}}'
        if not isinstance(phone.get("number"), str) or not phone["number"].strip():
            return f'phone {i}: "number" must be a non-empty string'
        if phone.get("language") is not None and not isinstance(phone["language"], str):
            return f'phone {i}: "language" must be a language code or null'
        if phone.get("hours") is not None and not _texts(phone["hours"]):
            return f'phone {i}: "hours" must be null or an object of texts by language'
        for flag in ("free", "verified"):
            if phone.get(flag) is not None and not isinstance(phone[flag], bool):
                return f'phone {i}: "{flag}" must be true, false or null'
        if phone.get("note") is not None and not isinstance(phone["note"], str):
            return f'phone {i}: "note" must be a string or null'
    return None


class JSONText(JSONField):
    """A JSON column as JSON text: shown indented (an empty list stays `[]`), parsed on submit; bad JSON,
    the wrong kind of value or a failed `check` is a form error. See `json_field`."""

    expect: ClassVar[type] = dict
    nullable: ClassVar[bool] = False
    check: ClassVar[Callable[[Any], str | None] | None] = None

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else json.dumps(self.data, ensure_ascii=False, indent=2)

    def process_formdata(self, valuelist: list[str]) -> None:
        if not valuelist:
            return
        text = valuelist[0].strip()
        self.data = None
        if text:
            try:
                self.data = json.loads(text)
            except ValueError as exc:
                raise ValueError(f"Invalid JSON: {exc}") from None

    def pre_validate(self, form) -> None:
        if self.process_errors:
            raise StopValidation()
        kind = "an object {…}" if self.expect is dict else "a list […]"
        if self.data is None:
            if self.nullable:
                return
            raise StopValidation(f"Required: {kind}" + (" (use [] for none)" if self.expect is list else ""))
        if not isinstance(self.data, self.expect):
            raise StopValidation(f"Must be {kind}")
        problem = type(self).check(self.data) if type(self).check else None
        if problem:
            raise StopValidation(problem[0].upper() + problem[1:])


def json_field(expect: type, *, nullable: bool = False, check: Callable[[Any], str | None] | None = None) -> type:
    return type(f"JSON{expect.__name__.title()}Text", (JSONText,),
                {"expect": expect, "nullable": nullable, "check": staticmethod(check) if check else None})


def _choices(values) -> list[tuple[str, str]]:
    return [(v, v) for v in values]


# ---------------------------------------------------------------------------------------------- the views
def editor_name(admin: Account) -> str:
    """What `edited_by` says: the admin's display name ("seed" would let a re-seed overwrite the edit)."""
    return admin.display_name if admin.display_name != SEED_EDITOR else f"{admin.display_name} (account {admin.id})"


class DataView(ModelView):
    """Creates, edits and deletes in one session each: the row, `edited_by` and the audit entry together."""

    audit_name: ClassVar[str] = ""
    duplicate: ClassVar[str] = "Another row has the same key already: nothing was saved."
    page_size = 50
    page_size_options = [25, 50, 100]

    def refuse(self, row: Any, data: dict, admin: Account) -> None:
        """Raise ChangeRefused when this change must not be made."""

    def describe(self, row: Any) -> str:
        """What the audit entry of a delete says about the row (it is gone afterwards)."""
        return ""

    async def insert_model(self, request: Request, data: dict) -> Any:
        return await anyio.to_thread.run_sync(self._save, request, None, data)

    async def update_model(self, request: Request, pk: str, data: dict) -> Any:
        return await anyio.to_thread.run_sync(self._save, request, pk, data)

    async def delete_model(self, request: Request, pk: Any) -> None:
        await anyio.to_thread.run_sync(self._delete, request, pk)

    def _admin(self, session: Session, request: Request) -> Account:
        actor = getattr(request.state, "admin_actor", None)
        admin = session.get(Account, actor.id) if actor else None
        if admin is None or not admin.active or admin.role != Role.admin:
            raise ChangeRefused("Your account may not change data any more: sign in again.")
        return admin

    def _save(self, request: Request, pk: str | None, data: dict) -> Any:
        with self.session_maker(expire_on_commit=False) as session:
            admin = self._admin(session, request)
            row = self.model() if pk is None else session.scalar(self._stmt_by_identifier(pk))
            if row is None:
                raise ChangeRefused("This row does not exist any more.")
            self.refuse(row, data, admin)
            changed = []
            for key, value in data.items():
                column = self._mapper.columns.get(key)
                if value == "" and column is not None and column.nullable:
                    value = None
                if pk is None or getattr(row, key) != value:
                    setattr(row, key, value)
                    changed.append(key)
            if "edited_by" in self._mapper.columns:
                row.edited_by = editor_name(admin)
            session.add(row)
            try:
                session.flush()
            except IntegrityError:
                raise ChangeRefused(self.duplicate) from None
            audit(session=session, account=admin, action=f"admin.{self.audit_name}.{'updated' if pk else 'created'}",
                  target=str(row.id), detail=", ".join(changed) or None)
            session.commit()
            return row

    def _delete(self, request: Request, pk: str) -> None:
        with self.session_maker() as session:
            admin = self._admin(session, request)
            row = session.scalar(self._stmt_by_identifier(pk))
            if row is None:
                raise ChangeRefused("This row does not exist any more.")
            audit(session=session, account=admin, action=f"admin.{self.audit_name}.deleted", target=str(row.id),
                  detail=self.describe(row) or None)
            session.delete(row)
            session.commit()


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


KEY = validators.Regexp(r"^[a-z0-9_]+$", message="Lower-case letters, digits and _ only")


class ContactView(DataView, model=Contact):
    audit_name = "contact"
    duplicate = "Another contact has this key already: nothing was saved."
    name, name_plural, icon = "Contact", "Contacts", "fa-solid fa-phone"
    column_list = [Contact.id, Contact.key, Contact.kind, Contact.name, Contact.phones, Contact.verified,
                   Contact.edited_by, Contact.updated_at]
    column_searchable_list = [Contact.key, Contact.kind, Contact.name, Contact.web]
    column_sortable_list = [Contact.id, Contact.key, Contact.kind, Contact.verified, Contact.edited_by,
                            Contact.updated_at]
    column_default_sort = [(Contact.key, False)]
    column_formatters = {
        Contact.name: lambda m, a: (m.name or {}).get("en") or next(iter((m.name or {}).values()), ""),
        Contact.phones: lambda m, a: ", ".join(str(p.get("number", "?")) for p in m.phones or []
                                               if isinstance(p, dict)),
    }
    form_columns = [Contact.key, Contact.kind, Contact.name, Contact.helps_with, Contact.web, Contact.languages,
                    Contact.nationality, Contact.phones, Contact.source, Contact.verified]
    form_overrides = {
        "kind": SelectField,
        "name": json_field(dict, check=names_by_language),
        "helps_with": json_field(dict, check=texts_by_language),
        "languages": json_field(list, check=language_list),
        "phones": json_field(list, check=phone_list),
        "source": json_field(dict, nullable=True),
    }
    form_widget_args = {name: {"rows": 8} for name in ("name", "helps_with", "phones", "source")}

    @property
    def form_args(self) -> dict:  # a fresh dict each time: sqladmin appends to the validator lists it is given
        return {
            "key": {"filters": [_strip], "validators": [KEY]},
            "kind": {"choices": _choices(CONTACT_KINDS)},
            "web": {"filters": [_strip]},
            "name": {"description": 'JSON: {"en": "…", "vi": "…", "id": "…", "tl": "…", "ja": "…"}'},
            "helps_with": {"description": "JSON: one short line by language"},
            "languages": {"description": f"JSON: the trainee languages served, e.g. {json.dumps(list(LANGUAGES))}"},
            "phones": {"description": 'JSON list: {"number": "0120-…", "language": "vi" or null, "hours": {"en": '
                                      '"…"} or null, "free": true/false/null, "verified": true/false, "note": "…"}; '
                                      "numbers with verified false are not shown to trainees"},
            "source": {"description": 'JSON: {"publisher": "…", "title": "…", "url": "…", "date": "…"} or empty'},
            "verified": {"description": "Untick when the whole entry is doubtful"},
        }

    def describe(self, row: Contact) -> str:
        return f"key={row.key}"


class CannedReplyView(DataView, model=CannedReply):
    audit_name = "canned_reply"
    duplicate = "There is a reply with this key in this language already: nothing was saved."
    name, name_plural, icon = "Canned reply", "Canned replies", "fa-solid fa-comment-dots"
    column_list = [CannedReply.id, CannedReply.key, CannedReply.lang, CannedReply.title, CannedReply.edited_by]
    column_searchable_list = [CannedReply.key, CannedReply.title, CannedReply.text]
    column_sortable_list = [CannedReply.id, CannedReply.key, CannedReply.lang, CannedReply.edited_by]
    column_default_sort = [(CannedReply.key, False), (CannedReply.lang, False)]
    form_columns = [CannedReply.key, CannedReply.lang, CannedReply.title, CannedReply.text]
    form_overrides = {"lang": SelectField}
    form_widget_args = {"text": {"rows": 8}}

    @property
    def form_args(self) -> dict:
        return {
            "key": {"filters": [_strip], "validators": [KEY]},
            "lang": {"choices": _choices(LANGUAGES)},
            "title": {"filters": [_strip]},
            "text": {"filters": [_strip], "validators": [known_placeholders],
                     "description": "Placeholders: " + ", ".join("{" + p + "}" for p in PLACEHOLDERS)},
        }

    def describe(self, row: CannedReply) -> str:
        return f"key={row.key} lang={row.lang}"


def known_placeholders(form, field) -> None:
    unknown = sorted(set(re.findall(r"\{([^{}]*)\}", field.data or "")) - set(PLACEHOLDERS))
    if unknown:
        raise validators.ValidationError(
            f"Unknown placeholder {', '.join('{' + u + '}' for u in unknown)}; use "
            + ", ".join("{" + p + "}" for p in PLACEHOLDERS))


HHMM = validators.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", message='A time "HH:MM", e.g. "09:30"')


def closes_after_opens(form, field) -> None:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d|24:00", field.data or ""):
        raise validators.StopValidation('A time "HH:MM", e.g. "21:00" ("24:00" for midnight)')
    opens = form.opens.data or ""
    if re.fullmatch(r"\d\d:\d\d", opens) and field.data <= opens:
        raise validators.ValidationError("Must be after the opening time")


class SupportHoursView(DataView, model=SupportHours):
    audit_name = "support_hours"
    name, name_plural, icon = "Support hours", "Support hours", "fa-solid fa-clock"
    column_list = [SupportHours.id, SupportHours.lang, SupportHours.weekday, SupportHours.opens,
                   SupportHours.closes, SupportHours.group_name, SupportHours.edited_by]
    column_sortable_list = [SupportHours.id, SupportHours.lang, SupportHours.weekday, SupportHours.opens]
    column_searchable_list = [SupportHours.lang, SupportHours.group_name]
    column_default_sort = [(SupportHours.lang, False), (SupportHours.weekday, False), (SupportHours.opens, False)]
    column_formatters = {SupportHours.weekday: lambda m, a: WEEKDAYS[m.weekday] if 0 <= m.weekday < 7 else m.weekday}
    column_formatters_detail = column_formatters
    form_columns = [SupportHours.lang, SupportHours.weekday, SupportHours.opens, SupportHours.closes,
                    SupportHours.group_name]
    form_overrides = {"lang": SelectField, "weekday": SelectField}

    @property
    def form_args(self) -> dict:
        return {
            "lang": {"choices": _choices(LANGUAGES)},
            "weekday": {"choices": list(enumerate(WEEKDAYS)), "coerce": int},
            "opens": {"filters": [_strip], "validators": [HHMM], "description": "Japan time"},
            "closes": {"filters": [_strip], "validators": [closes_after_opens], "description": "Japan time"},
            "group_name": {"filters": [_strip]},
        }

    def describe(self, row: SupportHours) -> str:
        return f"{row.lang} {WEEKDAYS[row.weekday] if 0 <= row.weekday < 7 else row.weekday} {row.opens}-{row.closes}"


class AccountView(DataView, model=Account):
    """Accounts are created with `python -m api users add` or POST /api/accounts (they hash the password) and
    deactivated instead of deleted; the password hash is never shown or edited."""

    audit_name = "account"
    name, name_plural, icon = "Account", "Accounts", "fa-solid fa-user"
    can_create = False
    can_delete = False
    can_export = False
    column_list = [Account.id, Account.email, Account.display_name, Account.role, Account.languages,
                   Account.support_group, Account.capacity, Account.active, Account.created_at]
    column_details_list = column_list
    column_searchable_list = [Account.email, Account.display_name, Account.support_group]
    column_sortable_list = [Account.id, Account.email, Account.display_name, Account.role, Account.active]
    form_columns = [Account.display_name, Account.role, Account.languages, Account.support_group,
                    Account.capacity, Account.active]
    form_overrides = {"role": SelectField, "languages": json_field(list, check=language_list)}

    @property
    def form_args(self) -> dict:
        return {
            "display_name": {"filters": [_strip], "description": "What trainees see (never the email)"},
            "role": {"choices": _choices(role.value for role in Role)},
            "languages": {"description": f"JSON list out of {json.dumps(list(LANGUAGES))}"},
            "support_group": {"filters": [_strip]},
            "capacity": {"validators": [validators.NumberRange(min=1, max=50)],
                         "description": "Chats held at once at most"},
            "active": {"description": "Untick to deactivate: the account can no longer sign in"},
        }

    def refuse(self, row: Account, data: dict, admin: Account) -> None:
        if row.id == admin.id and (data.get("active", row.active) is not True
                                   or data.get("role", row.role) != Role.admin):
            raise ChangeRefused("You cannot deactivate your own account or take away your own admin role: "
                                "ask another admin.")


class BackToAdmin(BaseView):
    """A menu entry back to the admin pages."""

    name, icon = "Back to the admin pages", "fa-solid fa-arrow-left"

    @expose("/back", methods=["GET"], identity="back")
    async def back(self, request: Request) -> Response:
        return RedirectResponse("/admin", status_code=303)


VIEWS = (ContactView, CannedReplyView, SupportHoursView, AccountView, BackToAdmin)


# ---------------------------------------------------------------------------------------------- the admin
INDEX_PAGE = """{% extends "sqladmin/layout.html" %}
{% block content %}<div class="col-12"><div class="card"><div class="card-body">
<p>The tables behind the bot, as they are: contacts (organisations and hotlines), the volunteers' canned replies,
the support hours and the accounts. Every change is logged with your name; a row you change here is yours:
loading the seed files again leaves it alone.</p>
<p>Answers (topics and entries) are edited in the <a href="/admin">admin pages</a>, with versions and review.</p>
</div></div></div>{% endblock %}"""

SIGN_OUT_PAGE = """{% extends "sqladmin/base.html" %}
{% block body %}<div class="page page-center"><div class="container-tight py-4"><div class="card card-md">
<div class="card-body"><h2 class="card-title">Sign out, {{ name }}?</h2>
<form method="post" action="{{ sign_out }}"><input type="hidden" name="csrf_token" value="{{ csrf }}">
<button class="btn btn-primary" type="submit">Sign out</button>
<a class="btn" href="{{ url_for('admin:index') }}">Stay signed in</a></form>
</div></div></div></div>{% endblock %}"""


class DataAdmin(Admin):
    """sqladmin's Admin with the inbox's sign-in and sign-out instead of its own forms."""

    authentication_backend: InboxSession

    async def _page(self, request: Request, source: str, **context) -> HTMLResponse:
        html = await self.templates.env.from_string(source).render_async(request=request, **context)
        return HTMLResponse(html)

    @login_required
    async def index(self, request: Request) -> Response:
        return await self._page(request, INDEX_PAGE)

    async def login(self, request: Request) -> Response:
        return RedirectResponse(f"{SIGN_IN}?next={ADMIN_PATH}/", status_code=303)

    async def logout(self, request: Request) -> Response:
        actor = await self.authentication_backend.actor(request)
        if actor is None:
            return RedirectResponse(SIGN_IN, status_code=303)
        return await self._page(request, SIGN_OUT_PAGE, name=actor.display_name, csrf=actor.csrf, sign_out=SIGN_OUT)


def mount(app, services) -> None:
    """Mount the CRUD views on `app` at /admin/db."""
    factory = services.session_factory
    # sqladmin reconfigures the session maker it is given (autoflush off): a copy of the app's (same bind and
    # options) keeps the app's own as it is.
    session_maker = sessionmaker(class_=factory.class_, **factory.kw)
    admin = DataAdmin(app, engine=factory.kw.get("bind"), session_maker=session_maker, base_url=ADMIN_PATH,
                      title=TITLE, authentication_backend=InboxSession(services),
                      middlewares=[Middleware(SameOriginWrites)])
    for view in VIEWS:
        # sqladmin keeps its state (session maker, admin) on the view class: a subclass per app keeps two apps
        # in one process (tests, the live test server) apart.
        admin.add_view(type(view)(view.__name__, (view,), {"__module__": __name__}))
