"""The plain CRUD pages at /admin/db (sqladmin) as a browser uses them: who gets in, editing contacts
(JSON as text), canned replies, support hours and accounts, the audit log, re-seeding, cross-origin posts."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from bot.models import Account, AuditLog
from knowledge.loader import seed
from knowledge.models import SEED_EDITOR, CannedReply, Contact, SupportHours
from tests.utils.people import PASSWORD, create_people, sign_in

SAME_ORIGIN = {"Origin": "http://test"}


@pytest.fixture
def bot_settings():
    """These pages never ask the NLU server: nothing needs to listen there."""
    from bot.config import BotSettings

    return BotSettings(nlu_url="http://127.0.0.1:9", _env_file=None)


@pytest.fixture
def people(session):
    return create_people(session, ada=("admin", ["en"], "Ada"), lan=("volunteer", ["vi", "ja"], "Lan"))


@pytest.fixture
async def admin(client, people):
    """The test's client, signed in as the admin Ada."""
    await sign_in(client, "ada@example.org")
    return client


class FormFields(HTMLParser):
    """The fields of a page's first POST form, as a browser would send them."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.action: str | None = None
        self._in_form = self._done = False
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and (a.get("method") or "").lower() == "post" and not self._done:
            self._in_form, self.action = True, a.get("action")
        if not self._in_form:
            return
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button"):
            if a.get("type") != "checkbox":
                self.fields[name] = a.get("value") or ""
            elif "checked" in a:
                self.fields[name] = a.get("value") or "y"
        elif tag == "textarea":
            self._textarea, self.fields[name] = name, ""
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and ("selected" in a or self._select not in self.fields):
            self.fields[self._select] = a.get("value") or ""

    def handle_data(self, data):
        if self._textarea:
            self.fields[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "textarea":  # a browser drops the newline right after <textarea>
            value = self.fields[self._textarea]
            self.fields[self._textarea] = value[2:] if value.startswith("\r\n") else value.removeprefix("\n")
            self._textarea = None
        elif tag == "select":
            self._select = None
        elif tag == "form" and self._in_form:
            self._in_form, self._done = False, True


async def form_of(client, path: str) -> dict[str, str]:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    parser = FormFields()
    parser.feed(page.text)
    return parser.fields


async def save(client, path: str, fields: dict[str, str], headers=SAME_ORIGIN):
    return await client.post(path, data={**fields, "save": "Save"}, headers=headers)


def audit_rows(session, action: str, target) -> list[AuditLog]:
    session.expire_all()
    return list(session.scalars(select(AuditLog).where(AuditLog.action == action, AuditLog.target == str(target))))


def otit(session) -> Contact:
    session.expire_all()
    return session.scalar(select(Contact).where(Contact.key == "otit"))


# ---------------------------------------------------------------------------------------------- who gets in
async def test_anonymous_visitors_are_sent_to_the_sign_in(client, session):
    for path in ("/admin/db/", "/admin/db/contact/list", f"/admin/db/contact/edit/{otit(session).id}"):
        response = await client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/inbox/login?next=/admin/db/")
        assert "OTIT" not in response.text
    # sqladmin's own sign-in form is not used.
    assert (await client.get("/admin/db/login")).headers["location"].startswith("/inbox/login")


async def test_signing_in_leads_back_to_the_page_asked_for(client, people):
    asked = await client.get("/admin/db/contact/list", params={"search": "otit"})
    form = await client.get(asked.headers["location"])
    fields = FormFields()
    fields.feed(form.text)
    assert fields.fields["next"] == "/admin/db/contact/list?search=otit"
    signed_in = await client.post("/inbox/login", data={**fields.fields, "email": "ada@example.org",
                                                        "password": PASSWORD})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/admin/db/contact/list?search=otit"
    page = await client.get(signed_in.headers["location"])
    assert page.status_code == 200 and "OTIT" in page.text


async def test_a_volunteer_sees_no_data_and_changes_nothing(new_client, people, session):
    contact = otit(session)
    async with new_client() as lan:
        await sign_in(lan, "lan@example.org")
        for path in ("/admin/db/", "/admin/db/contact/list", "/admin/db/account/list",
                     f"/admin/db/contact/edit/{contact.id}", "/admin/db/account/export/csv"):
            page = await lan.get(path)
            assert page.status_code == 403, path
            assert "admins only" in page.text
            assert "OTIT" not in page.text and "0120-250-168" not in page.text and "ada@example.org" not in page.text
        posted = await save(lan, f"/admin/db/contact/edit/{contact.id}", {"key": "otit", "phones": "[]"})
        assert posted.status_code == 403
    assert otit(session).phones == contact.phones and otit(session).edited_by == SEED_EDITOR


async def test_signing_out_goes_through_the_inbox(admin):
    page = await admin.get("/admin/db/logout")
    assert page.status_code == 200 and 'action="/inbox/logout"' in page.text
    parser = FormFields()
    parser.feed(page.text)
    assert parser.fields["csrf_token"]
    out = await admin.post("/inbox/logout", data=parser.fields)
    assert out.status_code == 303
    assert (await admin.get("/admin/db/contact/list")).status_code == 303
    assert (await admin.get("/admin/db/back")).status_code == 303  # signed out: to the sign-in, not the admin
    assert (await admin.get("/admin/db/back")).headers["location"].startswith("/inbox/login")


# ---------------------------------------------------------------------------------------------- contacts
async def test_an_admin_lists_and_searches_the_contacts(admin, app):
    assert app.state.services.session_factory.kw.get("autoflush", True)  # sqladmin got a copy to reconfigure
    home = await admin.get("/admin/db/")
    assert home.status_code == 200 and "Knowledge admin — data" in home.text and 'href="/admin"' in home.text
    assert home.headers["cache-control"] == "no-store"
    listed = await admin.get("/admin/db/contact/list")
    assert listed.status_code == 200
    assert "OTIT" in listed.text and "otit" in listed.text and "0120-250-168" in listed.text
    found = await admin.get("/admin/db/contact/list", params={"search": "otit"})
    assert "OTIT" in found.text and "police_110" not in found.text
    assert (await admin.get("/admin/db/back")).headers["location"] == "/admin"


async def test_an_admin_edits_a_phone_number_and_a_re_seed_keeps_it(admin, people, session):
    before = otit(session)
    path = f"/admin/db/contact/edit/{before.id}"
    fields = await form_of(admin, path)
    assert json.loads(fields["phones"]) == before.phones  # the JSON column as JSON text
    assert json.loads(fields["name"]) == before.name and fields["kind"] == "government_hotline"
    phones = json.loads(fields["phones"])
    phones[0]["number"] = "0120-250-999"
    fields["phones"] = json.dumps(phones, ensure_ascii=False, indent=2)

    saved = await save(admin, path, fields)
    assert saved.status_code == 302, saved.text
    after = otit(session)
    assert after.phones[0]["number"] == "0120-250-999" and after.phones[1:] == before.phones[1:]
    assert after.name == before.name and after.helps_with == before.helps_with and after.languages == before.languages
    assert after.edited_by == "Ada"
    [entry] = audit_rows(session, "admin.contact.updated", after.id)
    assert entry.account_id == people["ada"].id and entry.detail == "phones"
    assert "0120-250-999" in (await admin.get("/admin/db/contact/list")).text

    report = seed(session)  # loading the seed files again leaves the admin's edit alone
    session.commit()
    assert report.kept_admin_edits >= 1
    assert otit(session).phones[0]["number"] == "0120-250-999" and otit(session).edited_by == "Ada"


@pytest.mark.parametrize(("phones", "error"), [
    ('[{"number": "0120-250-999"', "Invalid JSON"),
    ('{"number": "0120-250-999"}', "Must be a list"),
    ('[{"language": "vi"}]', "non-empty string"),
    ("", "Required"),
])
async def test_a_bad_json_value_is_a_form_error_and_changes_nothing(admin, session, phones, error):
    before = otit(session)
    path = f"/admin/db/contact/edit/{before.id}"
    fields = {**await form_of(admin, path), "phones": phones}
    response = await save(admin, path, fields)
    assert response.status_code == 400
    assert error in response.text and "Edit Contact" in response.text
    assert otit(session).phones == before.phones and otit(session).edited_by == SEED_EDITOR
    assert audit_rows(session, "admin.contact.updated", before.id) == []


async def test_an_admin_creates_and_deletes_a_contact(admin, people, session):
    fields = await form_of(admin, "/admin/db/contact/create")
    assert fields["phones"] == "[]" and fields["languages"] == "[]"  # an empty list stays a list
    fields.update(key="aichi_union", kind="union", name='{"en": "Aichi union", "ja": "愛知ユニオン"}',
                  helps_with='{"en": "Unpaid wages"}', phones='[{"number": "052-000-0000", "language": "ja"}]',
                  languages='["ja", "en"]', web="", source="")
    created = await save(admin, "/admin/db/contact/create", fields)
    assert created.status_code == 302, created.text
    row = session.scalar(select(Contact).where(Contact.key == "aichi_union"))
    assert row.name["ja"] == "愛知ユニオン" and row.phones == [{"number": "052-000-0000", "language": "ja"}]
    assert row.web is None and row.source is None and row.verified is True and row.edited_by == "Ada"
    assert audit_rows(session, "admin.contact.created", row.id)[0].account_id == people["ada"].id

    again = await save(admin, "/admin/db/contact/create", fields)  # the key is taken
    assert again.status_code == 400 and "has this key already" in again.text

    row_id = row.id
    deleted = await admin.delete("/admin/db/contact/delete", params={"pks": str(row_id)}, headers=SAME_ORIGIN)
    assert deleted.status_code == 200 and "error" not in deleted.text
    session.expire_all()
    assert session.get(Contact, row_id) is None
    assert audit_rows(session, "admin.contact.deleted", row_id)[0].detail == "key=aichi_union"


# ---------------------------------------------------------------------------------------------- CSRF
async def test_changes_from_another_site_are_refused(admin, session):
    before = otit(session)
    path = f"/admin/db/contact/edit/{before.id}"
    fields = {**await form_of(admin, path), "phones": "[]"}
    for headers in ({"Origin": "https://evil.example"}, {"Referer": "https://evil.example/page"},
                    {"Origin": "null"}, {}):
        refused = await save(admin, path, fields, headers=headers)
        assert refused.status_code == 403, headers
        assert "not sent from this site" in refused.text
    gone = await admin.delete("/admin/db/contact/delete", params={"pks": str(before.id)},
                              headers={"Origin": "https://evil.example"})
    assert gone.status_code == 403
    assert otit(session).phones == before.phones and otit(session).edited_by == SEED_EDITOR
    # A same-site form post without an Origin header (older browsers) carries its Referer.
    accepted = await save(admin, path, fields, headers={"Referer": f"http://test{path}"})
    assert accepted.status_code == 302 and otit(session).phones == []


# ---------------------------------------------------------------------------------------------- accounts
async def test_accounts_show_no_password_hash_and_cannot_be_created(admin, people, session):
    ada, lan = people["ada"], people["lan"]
    for path in ("/admin/db/account/list", f"/admin/db/account/details/{lan.id}", f"/admin/db/account/edit/{lan.id}"):
        page = await admin.get(path)
        assert page.status_code == 200 and "Lan" in page.text
        assert "$argon2" not in page.text and "password" not in page.text.lower()
    assert "password_hash" not in await form_of(admin, f"/admin/db/account/edit/{lan.id}")
    assert (await admin.get("/admin/db/account/create")).status_code == 403
    assert (await admin.post("/admin/db/account/create", data={"display_name": "X"}, headers=SAME_ORIGIN)
            ).status_code == 403
    deleted = await admin.delete("/admin/db/account/delete", params={"pks": str(lan.id)}, headers=SAME_ORIGIN)
    assert deleted.status_code == 403
    session.expire_all()
    assert session.get(Account, lan.id) is not None and session.get(Account, ada.id).active


async def test_an_admin_cannot_deactivate_or_demote_themselves(admin, people, session):
    ada = people["ada"]
    path = f"/admin/db/account/edit/{ada.id}"
    fields = await form_of(admin, path)
    assert fields["active"] == "y" and fields["role"] == "admin"
    for change in ({"active": None}, {"role": "volunteer"}):
        changed = {k: v for k, v in {**fields, **change}.items() if v is not None}
        refused = await save(admin, path, changed)
        assert refused.status_code == 400
        assert "You cannot deactivate your own account or take away your own admin role" in refused.text
    session.expire_all()
    me = session.get(Account, ada.id)
    assert me.active and me.role == "admin"
    assert audit_rows(session, "admin.account.updated", ada.id) == []
    renamed = await save(admin, path, {**fields, "display_name": "Ada L."})  # other changes to oneself are fine
    assert renamed.status_code == 302
    session.expire_all()
    assert session.get(Account, ada.id).display_name == "Ada L."


async def test_an_admin_edits_and_deactivates_a_volunteer(admin, people, new_client, session):
    lan = people["lan"]
    path = f"/admin/db/account/edit/{lan.id}"
    fields = await form_of(admin, path)
    assert json.loads(fields["languages"]) == ["vi", "ja"]
    bad = await save(admin, path, {**fields, "languages": '["vi", "xx"]'})
    assert bad.status_code == 400 and "language codes" in bad.text
    fields.pop("active")
    saved = await save(admin, path, {**fields, "capacity": "5", "languages": '["vi"]'})
    assert saved.status_code == 302, saved.text
    session.expire_all()
    account = session.get(Account, lan.id)
    assert not account.active and account.capacity == 5 and account.languages == ["vi"]
    assert account.password_hash.startswith("$argon2")  # untouched
    [entry] = audit_rows(session, "admin.account.updated", lan.id)
    assert entry.account_id == people["ada"].id and set(entry.detail.split(", ")) == {"languages", "capacity", "active"}
    async with new_client() as c:  # a deactivated account can no longer sign in
        response = await c.post("/inbox/login", data={"email": "lan@example.org", "password": PASSWORD})
        assert response.status_code == 401


# ---------------------------------------------------------------------------------------------- the others
async def test_an_admin_edits_a_canned_reply_and_a_re_seed_keeps_it(admin, people, session):
    reply = session.scalar(select(CannedReply).where(CannedReply.key == "hello", CannedReply.lang == "vi"))
    path = f"/admin/db/canned-reply/edit/{reply.id}"
    fields = await form_of(admin, path)
    assert fields["text"] == reply.text and fields["lang"] == "vi"
    unknown = await save(admin, path, {**fields, "text": "Chào {trainee}, mình là {name}."})
    assert unknown.status_code == 400 and "Unknown placeholder {trainee}" in unknown.text
    saved = await save(admin, path, {**fields, "text": "Chào em, chị là {name}. Em cần giúp gì?"})
    assert saved.status_code == 302, saved.text
    seed(session)
    session.commit()
    session.expire_all()
    row = session.get(CannedReply, reply.id)
    assert row.text == "Chào em, chị là {name}. Em cần giúp gì?" and row.edited_by == "Ada"
    assert audit_rows(session, "admin.canned_reply.updated", reply.id)[0].detail == "text"
    listed = await admin.get("/admin/db/canned-reply/list", params={"search": "hello"})
    assert listed.status_code == 200 and "Ada" in listed.text


async def test_an_admin_edits_creates_and_deletes_support_hours(admin, people, session):
    row = session.scalar(select(SupportHours).where(SupportHours.lang == "vi", SupportHours.weekday == 0))
    path = f"/admin/db/support-hours/edit/{row.id}"
    fields = await form_of(admin, path)
    assert fields["weekday"] == "0" and fields["opens"] == row.opens
    backwards = await save(admin, path, {**fields, "closes": "08:00"})
    assert backwards.status_code == 400 and "after the opening time" in backwards.text
    not_a_time = await save(admin, path, {**fields, "opens": "9am"})
    assert not_a_time.status_code == 400 and "HH:MM" in not_a_time.text
    saved = await save(admin, path, {**fields, "closes": "22:30", "group_name": "Hanoi friends"})
    assert saved.status_code == 302, saved.text
    session.expire_all()
    changed = session.get(SupportHours, row.id)
    assert (changed.closes, changed.group_name, changed.edited_by) == ("22:30", "Hanoi friends", "Ada")
    assert audit_rows(session, "admin.support_hours.updated", row.id)

    created = await save(admin, "/admin/db/support-hours/create",
                         {"lang": "tl", "weekday": "5", "opens": "09:00", "closes": "12:00", "group_name": ""})
    assert created.status_code == 302, created.text
    new = session.scalar(select(SupportHours).where(SupportHours.lang == "tl", SupportHours.weekday == 5,
                                                    SupportHours.opens == "09:00"))
    assert new.closes == "12:00" and new.group_name is None and new.edited_by == "Ada"
    assert audit_rows(session, "admin.support_hours.created", new.id)
    new_id = new.id
    deleted = await admin.delete("/admin/db/support-hours/delete", params={"pks": str(new_id)}, headers=SAME_ORIGIN)
    assert deleted.status_code == 200
    session.expire_all()
    assert session.get(SupportHours, new_id) is None
    assert audit_rows(session, "admin.support_hours.deleted", new_id)[0].detail == "tl Saturday 09:00-12:00"
