"""Learning from what the bot missed: misses reach the admins' queue (text only), with what the trainee did next;
labels (with redaction and entities) become NLU training data the project owns, never the test set; /forget
removes the trainee's rows. Real NLU server; SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from bot.models import Conversation, Handoff, MissedMessage
from tests.utils.chat import WebChat
from tests.utils.people import bearer_headers, create_people

pytestmark = pytest.mark.nlu
ROOT = Path(__file__).resolve().parents[2]
#: Out of scope for the NLU (0.99): the bot answers with the menu, and the message is queued.
NONSENSE = "can you recommend a pizza place"
#: Read as a wage check (the phone number looks like pay): a volunteer marks it.
MISREAD = "pasupooto no longer with me aichi 090-1234-5678"


@pytest.fixture
def people(session):
    return create_people(session, admin=("admin", ["en"], "Mai"), lan=("volunteer", ["vi", "en"], "Lan"))


@pytest.fixture
async def auth(client, people):
    return await bearer_headers(client, people)


@pytest.fixture
def nlu_data(app, tmp_path) -> Path:
    """A copy of the NLU training data (without the reviewed examples shipped so far) and the test set; the app
    writes reviewed examples into it."""
    shutil.copytree(ROOT / "nlu" / "data", tmp_path / "nlu" / "data", ignore=shutil.ignore_patterns("reviewed.yml"))
    shutil.copytree(ROOT / "nlu" / "tests" / "data", tmp_path / "nlu" / "tests" / "data")
    app.state.services.settings.nlu_data_dir = tmp_path / "nlu" / "data"
    return tmp_path / "nlu" / "data"


async def queue(client, auth, **params) -> list[dict]:
    response = await client.get("/api/admin/learning/queue", headers=auth["admin"], params=params)
    assert response.status_code == 200
    return response.json()["data"]


async def test_a_miss_reaches_the_queue_with_the_next_step_and_no_identity(client, auth):
    chat = WebChat(client, lang="en")
    await chat.press("lang:en")
    await chat.say(NONSENSE)
    await chat.press("topic:paid_leave")
    rows = await queue(client, auth)
    assert [r["text"] for r in rows] == [NONSENSE]
    miss = rows[0]
    assert miss["lang"] == "en" and miss["reason"] in ("low_confidence", "out_of_scope")
    assert miss["next_step"] == "topic:paid_leave"
    assert set(miss) >= {"guess", "confidence"}
    assert not {"conversation_id", "user_id", "channel_user_id", "message_id"} & set(miss)
    assert chat.user_id not in str(rows)
    volunteer = await client.get("/api/admin/learning/queue", headers=auth["lan"])
    assert volunteer.status_code == 403


async def mark_in_a_volunteer_chat(client, auth, session, text: str) -> None:
    """A trainee asks for a person; the volunteer holding the chat marks the trainee's `text`."""
    chat = WebChat(client, lang="en")
    await chat.press("lang:en")
    await chat.say("/human")
    handoff = session.scalar(select(Handoff).order_by(Handoff.id.desc()))
    await client.post(f"/api/handoffs/{handoff.public_id}/claim", headers=auth["lan"])
    await chat.say(text)
    detail = (await client.get(f"/api/handoffs/{handoff.public_id}", headers=auth["lan"])).json()
    message = next(m for m in detail["messages"] if m["direction"] == "trainee" and m["text"] == text)
    marked = await client.post(f"/api/handoffs/{handoff.public_id}/messages/{message['id']}/missed",
                               headers=auth["lan"])
    assert marked.status_code == 201
    return chat, handoff, detail


async def test_labelled_examples_become_training_data_but_never_from_the_test_set(client, auth, nlu_data, session):
    await mark_in_a_volunteer_chat(client, auth, session, MISREAD)
    test_example = "weather tomorrow?"  # in the held-out test set, and out of scope for the bot
    chat = WebChat(client, lang="en")
    await chat.press("lang:en")
    await chat.say(test_example)
    rows = {r["text"]: r for r in await queue(client, auth)}
    assert set(rows) == {MISREAD, test_example}
    passport = rows[MISREAD]
    assert passport["reason"] == "volunteer" and passport["guess"] == "wage_check"
    redacted = passport["suggested_redaction"]
    assert "090-1234-5678" not in redacted and "aichi" in redacted
    labelled = await client.post(f"/api/admin/learning/{passport['id']}/label", headers=auth["admin"], json={
        "intent": "passport_confiscation", "text": redacted,
        "entities": [{"start": redacted.index("aichi"), "end": redacted.index("aichi") + 5,
                      "entity": "prefecture", "value": "Aichi"}]})
    assert labelled.status_code == 200 and labelled.json()["redacted"] is True
    await client.post(f"/api/admin/learning/{rows[test_example]['id']}/label", headers=auth["admin"],
                      json={"intent": "out_of_scope"})
    bad = await client.post(f"/api/admin/learning/{passport['id']}/label", headers=auth["admin"],
                            json={"intent": "no_such_intent"})
    assert bad.status_code == 422
    assert await queue(client, auth) == []
    assert len(await queue(client, auth, status="labelled")) == 2

    exported = await client.post("/api/admin/learning/export", headers=auth["admin"])
    assert exported.status_code == 200 and exported.json()["retrain"] is True
    assert exported.json()["languages"]["en"]["examples"] == 1
    written = (nlu_data / "en" / "reviewed.yml").read_text(encoding="utf-8")
    doc = yaml.safe_load(written)
    assert [block["intent"] for block in doc["nlu"]] == ["passport_confiscation"]
    assert '[aichi]{"entity": "prefecture", "value": "Aichi"}' in doc["nlu"][0]["examples"]
    assert "090-1234-5678" not in written and test_example not in written
    for test_file in (nlu_data.parent / "tests" / "data").glob("*.yml"):  # the test set is never written
        assert test_file.read_bytes() == (ROOT / "nlu" / "tests" / "data" / test_file.name).read_bytes()
    again = await client.post("/api/admin/learning/export", headers=auth["admin"])
    assert again.json()["retrain"] is False  # unchanged: the model's hash stays, no retrain


async def test_forget_removes_the_trainees_rows_from_the_queue(client, auth, session):
    chat = WebChat(client, lang="en")
    await chat.press("lang:en")
    await chat.say(NONSENSE)
    assert len(await queue(client, auth)) == 1
    await chat.say("/forget")
    await chat.press("forget:yes")
    assert await queue(client, auth) == []
    assert session.scalar(select(MissedMessage.id)) is None


async def test_a_volunteer_marks_only_trainee_messages_of_their_chat(client, auth, session):
    _chat, handoff, detail = await mark_in_a_volunteer_chat(client, auth, session, MISREAD)
    assert [(r["text"], r["reason"]) for r in await queue(client, auth)] == [(MISREAD, "volunteer")]
    bot_line = next(m for m in detail["messages"] if m["direction"] == "bot")
    refused = await client.post(f"/api/handoffs/{handoff.public_id}/messages/{bot_line['id']}/missed",
                                headers=auth["lan"])
    assert refused.status_code == 404
    elsewhere = await client.post(f"/api/handoffs/{handoff.public_id}/messages/999999/missed", headers=auth["lan"])
    assert elsewhere.status_code == 404


async def test_the_prefecture_a_trainee_names_reaches_the_anonymous_statistics(client, auth):
    chat = WebChat(client, lang="en")
    await chat.press("lang:en")
    await chat.press("topic:minimum_wage")
    await chat.say("Tokyo")
    stats = (await client.get("/api/admin/stats", headers=auth["admin"])).json()
    cells = stats["conversations"]["cells"]
    assert [(c["topic"], c["prefecture"], c["lang"], c["conversations"]) for c in cells] == [
        ("minimum_wage", "Tokyo", "en", "<5")]


async def test_an_export_keeps_the_reviewed_examples_the_project_ships(client, auth, nlu_data):
    shipped = nlu_data / "vi" / "reviewed.yml"
    shipped.write_text('version: "3.1"\nnlu:\n- intent: passport_confiscation\n  examples: |\n'
                       '    - cty giu ho chieu cua e o [aichi](prefecture)\n', encoding="utf-8")
    exported = (await client.post("/api/admin/learning/export", headers=auth["admin"])).json()
    assert exported["languages"]["vi"]["examples"] == 1
    assert "cty giu ho chieu cua e o [aichi](prefecture)" in shipped.read_text(encoding="utf-8")
    assert not (nlu_data / "en" / "reviewed.yml").exists()  # no empty files
