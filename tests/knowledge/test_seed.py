"""The seed: idempotent, never overwrites an admin's edit, and every topic × language is published and sourced."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from knowledge import editing
from knowledge import service as knowledge_service
from knowledge.intents import LANGUAGES, TOPICS
from knowledge.loader import load_topic_files, seed
from knowledge.models import Contact, Entry, EntryStatus, EntryVersion, MinimumWage, Topic

DOCS = {d["topic"]: d for d in load_topic_files()}


def _counts(session) -> tuple[int, ...]:
    return tuple(
        session.scalar(select(func.count()).select_from(model))
        for model in (Topic, Entry, EntryVersion, MinimumWage, Contact)
    )


def test_every_topic_has_a_published_sourced_entry_in_every_language(session):
    assert set(DOCS) == set(TOPICS)
    for topic in TOPICS:
        for lang in LANGUAGES:
            entry = knowledge_service.get_entry(session=session, topic=topic, lang=lang)
            assert entry is not None, (topic, lang)
            assert entry.status == EntryStatus.published
            assert any((s.get("url") or "").startswith("http") for s in entry.sources), (topic, lang)
            assert entry.review_by > entry.last_reviewed


def test_seeding_twice_changes_nothing(session):
    before = _counts(session)
    report = seed(session)
    assert not report.changed
    assert _counts(session) == before


def test_seed_never_overwrites_an_admin_edit(session):
    entry = knowledge_service.get_entry(session=session, topic="fines_penalties", lang="vi")
    entry.answer = "Edited by an admin."
    entry.edited_by = "admin@example.org"
    entry.version += 1
    session.flush()
    report = seed(session)
    session.refresh(entry)
    assert entry.answer == "Edited by an admin."
    assert report.kept_admin_edits >= 1


def test_changed_seed_content_creates_a_new_version(session, tmp_path):
    import shutil

    import yaml

    data = tmp_path / "data"
    shutil.copytree(__import__("knowledge.loader", fromlist=["DATA_DIR"]).DATA_DIR, data)
    path = data / "topics" / "paid_leave.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["entries"]["en"]["title"] = "Paid leave (revised)"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    seed(session, data)
    entry = knowledge_service.get_entry(session=session, topic="paid_leave", lang="en")
    assert entry.title == "Paid leave (revised)"
    assert [v.version for v in entry.versions] == [1, 2]
    assert entry.versions[0].title != entry.title


@pytest.mark.parametrize("topic", sorted(DOCS))
def test_same_numbers_in_every_language(topic):
    """The rule the admin's publish check applies (knowledge.editing.differences), on the seed files."""
    entries = DOCS[topic]["entries"]
    texts = {lang: f"{e['answer']}\n{e.get('more') or ''}" for lang, e in entries.items()}
    assert editing.differences(texts) == []


#: ~120 English words for the first message. Vietnamese writes every syllable apart (about 1.35 "words"
#: per English word), Tagalog runs about 10% longer, Japanese is counted in characters.
ANSWER_LIMIT = {"en": 130, "id": 135, "tl": 145, "vi": 170, "ja": 330}


@pytest.mark.parametrize("topic", sorted(DOCS))
def test_first_answer_is_short(topic):
    for lang, entry in DOCS[topic]["entries"].items():
        answer = entry["answer"]
        size = len(answer) if lang == "ja" else len(answer.split())
        assert size <= ANSWER_LIMIT[lang], (topic, lang, size)


def test_contacts_named_by_topics_exist(session):
    keys = {c.key for c in knowledge_service.list_contacts(session=session)}
    for doc in DOCS.values():
        for key in doc.get("contacts", []):
            assert key == "embassy" or key in keys, (doc["topic"], key)


def test_embassy_resolves_per_trainee_language(session):
    for lang, nationality in (("vi", "vn"), ("id", "id"), ("tl", "ph")):
        found = knowledge_service.contacts_for(session=session, keys=["embassy"], lang=lang)
        assert found and all(c.nationality == nationality for c in found)


def test_unverified_phone_numbers_are_flagged(session):
    phones = {p["number"]: p for c in knowledge_service.list_contacts(session=session) for p in c.phones}
    assert phones["0120-250-168"]["verified"] is True  # OTIT Vietnamese line
    assert phones["0570-001706"]["verified"] is False  # MHLW dial, Vietnamese: seen only in third-party code
    assert phones["110"]["verified"] is True
