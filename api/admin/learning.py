"""The learning queue: label what the bot missed, write the reviewed examples as NLU training data.

Labelled examples go to `nlu/data/<lang>/reviewed.yml` (Rasa's training-data format), which the model's hash
covers, so `make nlu` retrains when they change. An export adds to what the file holds (the reviewed examples
the project ships stay, whatever this database has); an example is removed by editing the file. The held-out test set (`nlu/tests/data`) is never written
here, and an example identical to a test example is left out, so the evaluation stays honest.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.models import MissedMessage, MissStatus
from knowledge.db import utcnow
from knowledge.intents import INTENTS, LANGUAGES

REVIEWED_FILE = "reviewed.yml"
HEADER = ("# Reviewed examples from the admins' learning queue (/admin/learning): messages the bot missed,\n"
          "# labelled by an admin. Written by `python -m api learning export`; edit in the admin, not here.\n")
PHONE_OR_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+|\+?\d[\d\s()-]{7,}\d")


class LabelError(ValueError):
    pass


def _normal(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def suggested_redaction(text: str) -> str:
    """The text with phone numbers and email addresses masked (the admin redacts names by hand)."""
    return PHONE_OR_EMAIL.sub("…", text)


def queue(*, session: Session, status: str = MissStatus.new, lang: str | None = None,
          limit: int = 200) -> list[MissedMessage]:
    query = select(MissedMessage).where(MissedMessage.status == status)
    if lang:
        query = query.where(MissedMessage.lang == lang)
    return list(session.scalars(query.order_by(MissedMessage.created_at.desc()).limit(limit)))


def counts(*, session: Session) -> dict[str, int]:
    rows = session.execute(select(MissedMessage.status, func.count()).group_by(MissedMessage.status))
    return {status: n for status, n in rows}


def _get(session: Session, miss_id: int) -> MissedMessage:
    row = session.get(MissedMessage, miss_id)
    if row is None:
        raise LookupError(f"no queued message {miss_id}")
    return row


def _checked_entities(text: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for e in entities or []:
        start, end, name = int(e["start"]), int(e["end"]), str(e["entity"])
        if not (0 <= start < end <= len(text)) or not re.fullmatch(r"[a-z_]{1,32}", name):
            raise LabelError(f"entity {name!r} at {start}–{end} is not inside the text")
        value = str(e.get("value") or text[start:end])
        out.append({"start": start, "end": end, "entity": name, "value": value})
    return sorted(out, key=lambda e: e["start"])


def label(*, session: Session, miss_id: int, intent: str, account_id: int, text: str | None = None,
          entities: list[dict[str, Any]] | None = None) -> MissedMessage:
    """Label a queued message with the right intent (and entities); `text` is the redacted text, if changed."""
    if intent not in INTENTS:
        raise LabelError(f"unknown intent {intent!r}")
    row = _get(session, miss_id)
    if text is not None and text.strip() and text.strip() != row.text:
        row.text, row.redacted = text.strip()[:1000], True
    row.entities = _checked_entities(row.text, entities or [])
    row.intent, row.status, row.labelled_by, row.labelled_at = intent, MissStatus.labelled, account_id, utcnow()
    return row


def discard(*, session: Session, miss_id: int, account_id: int) -> MissedMessage:
    row = _get(session, miss_id)
    row.status, row.labelled_by, row.labelled_at, row.intent = MissStatus.discarded, account_id, utcnow(), None
    return row


def _annotated(text: str, entities: list[dict[str, Any]]) -> str:
    """Rasa's inline annotation: [text]{"entity": …, "value": …}; brackets of the text itself are neutralised."""
    def plain(part: str) -> str:
        return part.replace("[", "(").replace("]", ")").replace("\n", " ")

    out, at = [], 0
    for e in entities:
        out.append(plain(text[at:e["start"]]))
        span = plain(text[e["start"]:e["end"]])
        if e["value"] == text[e["start"]:e["end"]]:
            out.append(f"[{span}]({e['entity']})")
        else:
            out.append(f"[{span}]" + json.dumps({"entity": e["entity"], "value": e["value"]}, ensure_ascii=False))
        at = e["end"]
    out.append(plain(text[at:]))
    return "".join(out).strip()


def _plain(annotated: str) -> str:
    return _normal(re.sub(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})", r"\1", annotated))


def _blocks(path: Path) -> dict[str, list[str]]:
    """intent → its annotated examples, of a Rasa training-data file (empty when there is none)."""
    if not path.exists():
        return {}
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    found: dict[str, list[str]] = {}
    for block in doc.get("nlu", []) or []:
        lines = [line.strip()[2:] for line in (block.get("examples") or "").splitlines()
                 if line.strip().startswith("- ")]
        if "intent" in block:
            found.setdefault(block["intent"], []).extend(lines)
    return found


def _examples_in(path: Path) -> set[str]:
    return {_plain(example) for examples in _blocks(path).values() for example in examples}


def _test_set(data_dir: Path, lang: str) -> set[str]:
    return _examples_in(data_dir.parent / "tests" / "data" / f"{lang}.yml")


def render(rows: list[MissedMessage], *, exclude: set[str],
           kept: dict[str, list[str]] | None = None) -> tuple[str, int]:
    """One language's reviewed-examples file, and how many examples it holds: the examples the file already
    has (`kept`: the project's, never dropped by an export) and the labelled rows, without duplicates and
    without anything in `exclude` (the test set, the main training data)."""
    by_intent: dict[str, list[str]] = {}
    seen = set(exclude)
    for intent, examples in (kept or {}).items():
        for example in examples:
            if _plain(example) not in seen:
                seen.add(_plain(example))
                by_intent.setdefault(intent, []).append(example)
    for row in sorted(rows, key=lambda r: (r.intent, r.id)):
        example = _annotated(row.text, row.entities or [])
        if _plain(example) in seen:
            continue
        seen.add(_plain(example))
        by_intent.setdefault(row.intent, []).append(example)
    lines = [HEADER + 'version: "3.1"', "nlu:"]
    for intent in sorted(by_intent):
        lines.append(f"- intent: {intent}")
        lines.append("  examples: |")
        lines += [f"    - {example}" for example in by_intent[intent]]
    return "\n".join(lines) + "\n", sum(len(v) for v in by_intent.values())


def export(*, session: Session, data_dir: Path) -> dict[str, dict[str, Any]]:
    """Write every language's reviewed examples; says per language how many and whether the file changed."""
    out = {}
    for lang in LANGUAGES:
        rows = list(session.scalars(select(MissedMessage).where(MissedMessage.lang == lang,
                                                                MissedMessage.status == MissStatus.labelled)))
        path = data_dir / lang / REVIEWED_FILE
        main = _examples_in(data_dir / lang / "nlu.yml")
        text, n = render(rows, exclude=_test_set(data_dir, lang) | main, kept=_blocks(path))
        before = path.read_text(encoding="utf-8") if path.exists() else None
        if n == 0:  # no file rather than an empty one
            out[lang] = {"examples": 0, "changed": False, "path": str(path)}
            continue
        changed = before != text
        if changed:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
        out[lang] = {"examples": n, "changed": changed, "path": str(path)}
    return out


def evaluations(path: Path, limit: int = 10) -> list[dict[str, Any]]:
    """The NLU evaluation history (`make nlu-eval` appends one line per model), the newest first."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return list(reversed(rows))[:limit]

