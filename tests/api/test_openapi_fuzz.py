"""Schema fuzz of the whole HTTP API: schemathesis generates requests for every operation of the app's own
`/openapi.json` and sends them in-process, anonymously, as a volunteer and as an admin.

Checks: no 5xx on any generated request (an unhandled exception fails the test with its traceback too), and
every response whose status the schema documents matches the documented schema. The app runs with every
channel on (Telegram against a loopback fake Bot API, Zalo against a closed port) so their webhooks are in the
schema, on a SQLite database of its own, with the NLU URL on a closed port: the web chat must still answer
(NLU down → the menu). Each operation gets at most 30 generated requests per role; the clock is pinned.
"""

from __future__ import annotations

import datetime as dt

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy import update
from sqlalchemy.orm import sessionmaker
from starlette_testclient import TestClient

from bot.models import Account
from knowledge.db import make_engine, session_scope
from knowledge.loader import seed
from knowledge.schema import upgrade
from tests.utils.people import PASSWORD, create_people
from tests.utils.telegram_api import FakeBotApi

TODAY = dt.date(2026, 11, 25)
#: Nothing listens there: the NLU server and the Zalo API are down for the whole run.
CLOSED = "http://127.0.0.1:9"
BASE_URL = "http://testserver"
#: Excluded: the two server-sent-event streams never end, and the fuzz client reads every body to its end.
#: They take no parameters and no body, so there is nothing to generate for them; what they answer a client
#: without an identity or a token is asserted in test_streams_refuse_strangers below.
STREAMS = ["/channels/web/events", "/api/handoffs/stream"]
FUZZ = settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
CHECKS = (not_a_server_error, response_schema_conformance)


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    """The whole app started (lifespan: Telegram's getMe) on a fresh seeded SQLite file, with an admin and a
    volunteer, and a client for it (kept for the module: one lifespan, one event loop)."""
    from api.config import ApiSettings
    from api.main import create_app
    from bot.config import BotSettings

    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'app.db'}"
    upgrade(url)
    engine = make_engine(url)
    with session_scope(sessionmaker(bind=engine)) as session:
        seed(session)
    with sessionmaker(bind=engine)() as session:
        create_people(session, ada=("admin", ["en"], "Ada"), lan=("volunteer", ["vi", "ja"], "Lan"))
    with FakeBotApi("123456:FUZZ") as bot_api:
        bot_settings = BotSettings(
            nlu_url=CLOSED, telegram_bot_token="123456:FUZZ", telegram_webhook_secret="fuzz-secret",
            telegram_api_base_url=bot_api.base_url, zalo_app_id="1234", zalo_app_secret="app-secret",
            zalo_oa_secret_key="oa-secret", zalo_access_token="access", zalo_refresh_token="refresh",
            zalo_api_base_url=CLOSED, zalo_oauth_base_url=CLOSED, _env_file=None)
        app = create_app(ApiSettings(_env_file=None, worker=False), bot_settings=bot_settings, engine=engine,
                         today=lambda: TODAY)
        with TestClient(app, base_url=BASE_URL) as client:
            tokens = {}
            for role, email in (("admin", "ada@example.org"), ("volunteer", "lan@example.org")):
                response = client.post("/auth/token", json={"email": email, "password": PASSWORD})
                assert response.status_code == 200, response.text
                tokens[role] = {"Authorization": f"Bearer {response.json()['access_token']}"}
            yield app, client, tokens
    engine.dispose()


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_app):
    _, client, _ = fuzz_app
    response = client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/channels/telegram/webhook" in paths and "/channels/zalo/webhook" in paths
    return schemathesis.from_dict(response.json(), base_url=BASE_URL).exclude(path=STREAMS)


# The plain tests come first (pytest keeps file order): the fuzz posts hundreds of web chat messages from the
# test client's one address, which the rate limits (bot/ratelimit.py) then hold back.
def test_web_chat_answers_with_the_menu_when_the_nlu_is_down(fuzz_app):
    _, client, _ = fuzz_app
    response = client.post("/channels/web/messages", json={"text": "tôi bị trừ lương", "lang": "vi"})
    assert response.status_code == 200
    replies = response.json()["replies"]
    assert replies and all(r["text"] for r in replies) and any(r["buttons"] for r in replies)


def test_streams_refuse_strangers(fuzz_app):
    app, _, _ = fuzz_app
    stranger = TestClient(app, base_url=BASE_URL)  # no cookie, no token
    assert stranger.get("/channels/web/events").status_code == 401
    assert stranger.get("/api/handoffs/stream").status_code == 401


schemathesis.experimental.OPEN_API_3_1.enable()  # FastAPI writes OpenAPI 3.1 (nullable fields as anyOf null)
schema = schemathesis.from_pytest_fixture("fuzz_schema")


def send(case, fuzz_app, role: str | None):
    app, client, tokens = fuzz_app
    response = case.call(session=client, headers=tokens[role] if role else None)
    case.validate_response(response, checks=CHECKS)
    if role == "admin":
        # The admin may deactivate the volunteer (POST /api/accounts/{id}/deactivate with a generated id):
        # undo it, so the volunteer token of the later tests still signs in.
        with app.state.services.session_factory() as session:
            session.execute(update(Account).values(active=True))
            session.commit()
    return response


@schema.parametrize()
@FUZZ
def test_fuzz_anonymous(case, fuzz_app):
    send(case, fuzz_app, None)


@schema.parametrize()
@FUZZ
def test_fuzz_as_volunteer(case, fuzz_app):
    send(case, fuzz_app, "volunteer")


@schema.parametrize()
@FUZZ
def test_fuzz_as_admin(case, fuzz_app):
    send(case, fuzz_app, "admin")


def test_ids_too_large_for_the_database_are_refused(fuzz_app):
    """Found by the fuzz: an id above SQLite's 64-bit INTEGER overflowed in the driver (a 500)."""
    _, client, tokens = fuzz_app
    huge = 2**70
    for path in (f"/api/accounts/{huge}/deactivate", f"/api/admin/learning/{huge}/discard"):
        assert client.post(path, headers=tokens["admin"]).status_code == 422
    assert client.post(f"/api/admin/learning/{huge}/label", json={"intent": "wage_check"},
                       headers=tokens["admin"]).status_code == 422
