"""One round of the learning loop, end to end, for measuring it: trainee messages go through the real app (web
chat, real NLU server, a throw-away SQLite database); what the bot misses lands in the admins' queue by itself
(below the threshold, out of scope) or is marked by a volunteer (read as the wrong topic); an admin labels each
with the intent the file gives and exports them into the training data (`nlu/data/<lang>/reviewed.yml`).

    .venv/bin/python -m scripts.learning_round --url http://127.0.0.1:5005 FILE.yml…

Each FILE is Rasa training data (intent blocks with annotated examples) standing in for the admin's judgment:
the intent and entities an admin would give. Messages the bot already gets right are left alone. Then
`make nlu` retrains (the data's hash changed) and `make nlu-eval` records the evaluation after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import tempfile
from collections import Counter
from pathlib import Path

import httpx
import yaml
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

ROOT = Path(__file__).resolve().parent.parent
ANNOTATION = re.compile(r"\[(?P<text>[^\]]+)\](?:\((?P<entity>[^)]+)\)|(?P<json>\{[^}]+\}))")
PASSWORD = "learning round password"


def examples(path: Path) -> list[tuple[str, str, str, list[dict]]]:
    """(lang, intent, plain text, entities) of a Rasa training-data file named <lang>.yml."""
    lang = path.stem
    out = []
    for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu", []):
        for line in (block.get("examples") or "").splitlines():
            line = line.strip()
            if not line.startswith("- "):
                continue
            raw, plain, entities, at = line[2:], [], [], 0
            for m in ANNOTATION.finditer(raw):
                plain.append(raw[at:m.start()])
                start = sum(len(p) for p in plain)
                name = m.group("entity") or json.loads(m.group("json"))["entity"]
                value = json.loads(m.group("json")).get("value") if m.group("json") else None
                plain.append(m.group("text"))
                entities.append({"start": start, "end": start + len(m.group("text")), "entity": name,
                                 **({"value": value} if value else {})})
                at = m.end()
            plain.append(raw[at:])
            out.append((lang, block["intent"], "".join(plain), entities))
    return out


async def run(nlu_url: str, files: list[Path], data_dir: Path) -> dict:
    from api.accounts import service as accounts
    from api.config import ApiSettings
    from api.main import create_app
    from bot.config import BotSettings
    from bot.models import Handoff, Message
    from knowledge.db import make_engine, session_scope
    from knowledge.loader import seed
    from knowledge.schema import upgrade

    tmp = Path(tempfile.mkdtemp(prefix="learning-round-"))
    database = make_engine(f"sqlite:///{tmp / 'round.db'}")
    upgrade(database.url.render_as_string(hide_password=False))
    factory = sessionmaker(bind=database)
    with session_scope(factory) as session:
        seed(session)
        accounts.create(session=session, email="admin@example.org", password=PASSWORD, role="admin",
                        languages=["en"], name="Admin")
        accounts.create(session=session, email="volunteer@example.org", password=PASSWORD, role="volunteer",
                        languages=["vi", "id", "tl", "ja", "en"], name="Volunteer", capacity=50)
    app = create_app(ApiSettings(_env_file=None, worker=False, nlu_data_dir=data_dir),
                     bot_settings=BotSettings(nlu_url=nlu_url, _env_file=None), engine=database)
    tally: Counter = Counter()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)

        async def client() -> httpx.AsyncClient:
            return httpx.AsyncClient(transport=transport, base_url="http://round")

        async with await client() as staff:
            tokens = {}
            for who in ("admin", "volunteer"):
                r = await staff.post("/auth/token", json={"email": f"{who}@example.org", "password": PASSWORD})
                tokens[who] = {"Authorization": f"Bearer {r.json()['access_token']}"}
            wanted: dict[str, tuple[str, list[dict]]] = {}
            for lang, intent, text, entities in (e for f in files for e in examples(f)):
                async with await client() as trainee:  # one trainee per message: each its own conversation
                    await trainee.post("/channels/web/messages", json={"payload": f"lang:{lang}", "lang": lang})
                    await trainee.post("/channels/web/messages", json={"text": text, "lang": lang})
                    wanted[text] = (intent, entities)
                    with factory() as session:
                        read_as = session.scalar(select(Message.intent).where(Message.text == text)
                                                 .order_by(Message.id.desc()).limit(1))
                    queued = (await staff.get("/api/admin/learning/queue", headers=tokens["admin"],
                                              params={"lang": lang})).json()["data"]
                    if any(q["text"] == text for q in queued):
                        tally["queued by the bot"] += 1
                        continue
                    if read_as == intent:
                        tally["already right"] += 1
                        continue
                    # Read as the wrong topic: the trainee asks for a person, the volunteer marks the message.
                    await trainee.post("/channels/web/messages", json={"text": "/human", "lang": lang})
                    with factory() as session:
                        handoff = session.scalar(select(Handoff).order_by(Handoff.id.desc()))
                    await staff.post(f"/api/handoffs/{handoff.public_id}/claim", headers=tokens["volunteer"])
                    detail = (await staff.get(f"/api/handoffs/{handoff.public_id}",
                                              headers=tokens["volunteer"])).json()
                    message = next(m for m in detail["messages"] if m["direction"] == "trainee" and m["text"] == text)
                    await staff.post(f"/api/handoffs/{handoff.public_id}/messages/{message['id']}/missed",
                                     headers=tokens["volunteer"])
                    await staff.post(f"/api/handoffs/{handoff.public_id}/close", headers=tokens["volunteer"],
                                     json={"outcome": "information_given"})
                    tally["marked by a volunteer"] += 1
            queue = (await staff.get("/api/admin/learning/queue", headers=tokens["admin"])).json()["data"]
            for row in queue:
                if row["text"] not in wanted:
                    continue
                intent, entities = wanted[row["text"]]
                r = await staff.post(f"/api/admin/learning/{row['id']}/label", headers=tokens["admin"],
                                     json={"intent": intent, "entities": entities})
                tally["labelled" if r.status_code == 200 else "refused"] += 1
            exported = (await staff.post("/api/admin/learning/export", headers=tokens["admin"])).json()
    database.dispose()
    return {"tally": dict(tally), "export": exported}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:5005", help="the NLU server")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "nlu" / "data")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.url, args.files, args.data_dir))
    print(json.dumps(result, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
