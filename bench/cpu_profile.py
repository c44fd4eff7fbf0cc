"""CPU profile of the app's own work per message: the real app in-process, the NLU's cost left out.

    .venv/bin/python bench/cpu_profile.py [--database-url URL] [--trainees 10] [--messages 10] [--repeats 3]
                                          [--top 30] [--record http://127.0.0.1:5066]

The whole FastAPI app (`api.main.create_app`, Telegram on) is driven through ASGI (httpx.ASGITransport): even
trainees post to the web chat (`POST /channels/web/messages`), odd ones send real Telegram updates to the
webhook with the secret header; the webhook's background task (process, send) finishes before the response
does, so every turn is complete when its POST returns. The database is a fresh SQLite file (default) or the
PostgreSQL of `--database-url` (its public schema is dropped and rebuilt), migrated and seeded.

What is not the app is replayed: the NLU answers come from `bench/cpu_profile_nlu.json` (real Rasa responses to
the messages below, recorded with `--record URL` from a running Rasa server) through an httpx mock transport of
the app's own `NluClient`, and the Bot API (getMe, sendMessage, answerCallbackQuery) is a mock transport of
PTB's HTTPXRequest. The engine's clock is fixed and the database work runs inline on the event loop's thread
(one executor that runs each function at once), so the same turns run the same code every time and cProfile
sees all of it.

Each trainee writes `--messages` messages in their language (vi, id, tl, ja, en by turn), cycling through eight
texts (a topic question, the minimum wage of a prefecture, a pay to check, ...) and two button presses
("more" of the first topic, another topic). One unmeasured round warms up; then `--repeats` rounds of new
trainees are timed (process CPU time, `time.process_time`), and one more runs under cProfile (timed in process CPU time, so waiting for the database does not count). Printed:
CPU ms per message (median and spread of the repeats, web and Telegram), SQL statements and sessions
(connection checkouts) per message, counted with SQLAlchemy events, and the top functions by cumulative time.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import cProfile
import datetime as dt
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

RECORDING = Path(__file__).resolve().parent / "cpu_profile_nlu.json"
LANGS = ("vi", "id", "tl", "ja", "en")
TOKEN = "123456789:CPU-profile-token"
SECRET = "cpu-profile-webhook-secret"
BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "RightsBot", "username": "rights_helper_bot"}
#: The engine's clock: a Wednesday afternoon in Japan (support lines open), inside FY2025's wage data.
NOW = dt.datetime(2026, 12, 2, 5, 0, tzinfo=dt.UTC)

#: Eight texts per language (our own sentences, not the NLU test set), and where the buttons come in.
TEXTS = {
    "vi": ["Công ty giữ hộ chiếu của tôi, có được không?", "Lương tối thiểu ở Aichi là bao nhiêu?",
           "Tôi được trả 900 yên một giờ ở Osaka", "Tôi muốn đổi công ty", "Công ty trừ tiền phạt vào lương",
           "Xin chào", "Cảm ơn bạn", "Làm thêm giờ không được trả tiền"],
    "id": ["Perusahaan menahan paspor saya", "Berapa upah minimum di Aichi?", "Gaji saya 900 yen per jam di Osaka",
           "Saya ingin pindah perusahaan", "Perusahaan memotong gaji saya sebagai denda", "Halo",
           "Terima kasih banyak", "Lembur saya tidak dibayar"],
    "tl": ["Kinuha ng kumpanya ang pasaporte ko", "Magkano ang minimum wage sa Aichi?",
           "900 yen kada oras ang sahod ko sa Osaka", "Gusto kong lumipat ng kumpanya",
           "Pinagmulta ako ng kumpanya ko", "Kumusta po", "Salamat po", "Hindi bayad ang overtime ko"],
    "ja": ["会社にパスポートを取られました", "愛知県の最低賃金はいくらですか", "大阪で時給900円です",
           "会社を変えたいです", "会社に罰金を取られました", "こんにちは", "ありがとうございます",
           "残業代が払われません"],
    "en": ["My company took my passport", "What is the minimum wage in Aichi?", "I get 900 yen an hour in Osaka",
           "I want to change my employer", "My company fines me for mistakes", "Hello", "Thank you",
           "My overtime is not paid"],
}
#: Message i of a trainee: a button press at these positions, else the next text.
BUTTONS = {2: "more:passport_confiscation", 7: "topic:job_transfer"}


def script(lang: str, count: int) -> list[tuple[str, str]]:
    """The (kind, text or payload) a trainee sends: texts in order, two button presses among them."""
    out, texts = [], iter(TEXTS[lang] * (count // len(TEXTS[lang]) + 2))
    for index in range(count):
        out.append(("button", BUTTONS[index]) if index in BUTTONS else ("text", next(texts)))
    return out


# ------------------------------------------------------------------------------------------ replayed services
def record(url: str) -> None:
    """Ask a real Rasa server for every text (as the app would send it) and keep its answers."""
    from bot.nlu_client import nlu_text

    answers = {}
    with httpx.Client(base_url=url.rstrip("/"), timeout=30) as client:
        for texts in TEXTS.values():
            for text in texts:
                response = client.post("/model/parse", json={"text": nlu_text(text)})
                response.raise_for_status()
                answers[nlu_text(text)] = response.json()
    RECORDING.write_text(json.dumps(answers, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"recorded {len(answers)} NLU answers from {url} into {RECORDING.relative_to(ROOT)}")


def nlu_transport(answers: dict) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/status"):
            return httpx.Response(200, json={"model_file": "replayed"})
        text = json.loads(request.content)["text"]
        if text not in answers:
            raise KeyError(f"no recorded NLU answer for {text!r}: run with --record URL")
        return httpx.Response(200, json=answers[text])

    return httpx.MockTransport(handle)


def bot_api_transport() -> httpx.MockTransport:
    """The Bot API's answers to getMe, sendMessage and answerCallbackQuery."""
    counter = iter(range(1000, 10**9))

    def handle(request: httpx.Request) -> httpx.Response:
        method = request.url.path.rsplit("/", 1)[-1]
        if method == "getMe":
            return httpx.Response(200, json={"ok": True, "result": BOT_USER})
        if method == "sendMessage":  # a fixed answer: reading the form would be the mock's CPU, not the app's
            return httpx.Response(200, json={"ok": True, "result": {
                "message_id": next(counter), "date": int(NOW.timestamp()), "from": BOT_USER,
                "chat": {"id": 1, "type": "private", "first_name": "T"}, "text": "…"}})
        return httpx.Response(200, json={"ok": True, "result": True})

    return httpx.MockTransport(handle)


class InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs each submitted function at once, on the caller's thread (deterministic, visible to cProfile)."""

    def __init__(self):
        super().__init__(max_workers=1)  # asyncio wants a ThreadPoolExecutor; no thread is ever started

    def submit(self, fn, /, *args, **kwargs):
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            future.set_exception(exc)
        return future


# ------------------------------------------------------------------------------------------ the database
def prepare_database(url: str | None, workdir: Path) -> str:
    from sqlalchemy import text

    from knowledge.db import make_engine, make_session_factory, session_scope
    from knowledge.loader import seed
    from knowledge.schema import upgrade

    if url is None:
        url = f"sqlite:///{workdir / 'profile.db'}"
    else:
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        database = make_engine(url)
        with database.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        database.dispose()
    upgrade(url)
    database = make_engine(url)
    with session_scope(make_session_factory(database)) as session:
        seed(session)
    database.dispose()
    return url


# ------------------------------------------------------------------------------------------ the run
class Counts:
    def __init__(self, database):
        from sqlalchemy import event

        self.statements = 0
        self.checkouts = 0
        self.kinds: Counter = Counter()
        self.trace: list[str] | None = None  # the statements, while tracing
        event.listen(database, "before_cursor_execute", self._statement)
        event.listen(database.pool, "checkout", self._checkout)

    def _statement(self, _conn, _cursor, statement, *_args):
        self.statements += 1
        self.kinds[statement.split(None, 1)[0].upper()] += 1
        if self.trace is not None:
            self.trace.append(" ".join(statement.split())[:150])

    def _checkout(self, *_args):
        self.checkouts += 1

    def snapshot(self) -> tuple[int, int, Counter]:
        return self.statements, self.checkouts, Counter(self.kinds)


def telegram_update(update_id: int, chat_id: int, lang: str, kind: str, value: str) -> dict:
    user = {"id": chat_id, "is_bot": False, "first_name": "Trainee", "language_code": lang}
    chat = {"id": chat_id, "first_name": "Trainee", "type": "private"}
    if kind == "button":
        return {"update_id": update_id, "callback_query": {
            "id": f"cb{update_id}", "from": user, "chat_instance": "1", "data": value,
            "message": {"message_id": 1, "from": BOT_USER, "chat": chat, "date": int(NOW.timestamp()), "text": "…"}}}
    return {"update_id": update_id, "message": {"message_id": update_id, "from": user, "chat": chat,
                                                "date": int(NOW.timestamp()), "text": value}}


class Driver:
    def __init__(self, app, trainees: int, messages: int):
        self.app, self.trainees, self.messages = app, trainees, messages
        self.next_user = 0

    async def round(self, counts: Counts | None = None) -> dict[str, list[float]]:
        """One round of new trainees; returns the CPU seconds of each message by channel."""
        cpu: dict[str, list[float]] = {"web": [], "telegram": []}
        transport = httpx.ASGITransport(app=self.app)
        clients = []
        plans = []
        for _ in range(self.trainees):
            self.next_user += 1
            n, lang = self.next_user, LANGS[self.next_user % len(LANGS)]
            client = httpx.AsyncClient(transport=transport, base_url="http://profile")
            clients.append(client)
            plans.append((n, lang, client, script(lang, self.messages)))
        for step in range(self.messages):  # round robin over the trainees, one message at a time
            for n, lang, client, plan in plans:
                kind, value = plan[step]
                channel = "web" if n % 2 == 0 else "telegram"
                started = time.process_time()
                if channel == "web":
                    body = {"payload": value} if kind == "button" else {"text": value}
                    response = await client.post("/channels/web/messages",
                                                 json={**body, "lang": lang, "client_message_id": f"{n}-{step}"})
                else:
                    update = telegram_update(n * 1000 + step, 500_000 + n, lang, kind, value)
                    response = await client.post("/channels/telegram/webhook", json=update,
                                                 headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
                cpu[channel].append(time.process_time() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"{channel} message answered {response.status_code}: {response.text[:200]}")
        for client in clients:
            await client.aclose()
        self.last = plans
        return cpu

    async def one(self, index: int, step: int) -> None:
        """One more text message of the `index`-th trainee (1-based) of the last round."""
        n, lang, _, _ = self.last[index - 1]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://profile") as client:
            text = TEXTS[lang][3]
            if n % 2 == 0:  # a new browser: the cookie of the round's client is not carried over, so new trainee
                response = await client.post("/channels/web/messages", json={"text": text, "lang": lang,
                                                                              "client_message_id": f"{n}-x{step}"},
                                             cookies=self.last[index - 1][2].cookies)
            else:
                response = await client.post("/channels/telegram/webhook",
                                             json=telegram_update(n * 1000 + 999, 500_000 + n, lang, "text", text),
                                             headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
            response.raise_for_status()


async def run(args: argparse.Namespace, url: str) -> None:
    from api.config import ApiSettings
    from api.main import create_app
    from bot.config import BotSettings
    from knowledge.db import make_engine, make_session_factory

    answers = json.loads(RECORDING.read_text(encoding="utf-8"))
    database = make_engine(url)
    counts = Counts(database)
    bot_settings = BotSettings(_env_file=None, nlu_url="http://nlu.replayed", telegram_bot_token=TOKEN,
                               telegram_webhook_secret=SECRET, telegram_api_base_url="http://bot.replayed/bot")
    app = create_app(ApiSettings(_env_file=None, worker=False), bot_settings=bot_settings, engine=database,
                     session_factory=make_session_factory(database), today=lambda: NOW.date())
    services = app.state.services
    services.engine.now = lambda: NOW
    for backend in services.nlu._backends:  # the app's own client, answering from the recording
        await backend.client.aclose()
        backend.client = httpx.AsyncClient(base_url=backend.url, transport=nlu_transport(answers))
    request = services.telegram.bot._request[1]
    request._client_kwargs["transport"] = bot_api_transport()
    await request._client.aclose()
    request._client = request._build_client()

    driver = Driver(app, args.trainees, args.messages)
    async with app.router.lifespan_context(app):
        asyncio.get_running_loop().set_default_executor(InlineExecutor())
        await driver.round()  # warm-up: imports, caches, the first connection
        per_message, web, telegram = [], [], []
        before = counts.snapshot()
        for _ in range(args.repeats):
            cpu = await driver.round()
            web += cpu["web"]
            telegram += cpu["telegram"]
            per_message.append(sum(cpu["web"] + cpu["telegram"]) / len(cpu["web"] + cpu["telegram"]))
        after = counts.snapshot()
        if args.show_sql:  # one more message of a known trainee on each channel, statement by statement
            for channel, trainee in (("web", driver.trainees), ("Telegram", driver.trainees - 1)):
                counts.trace = []
                await driver.one(trainee, args.messages)
                print(f"SQL of one {channel} message (a text in the middle of a conversation):")
                print("\n".join(f"  {line}" for line in counts.trace))
            counts.trace = None
        profiler = cProfile.Profile(time.process_time)  # CPU time, not waiting for the database
        profiler.enable()
        await driver.round()
        profiler.disable()
        if args.dump:
            profiler.dump_stats(args.dump)

    n = args.repeats * args.trainees * args.messages
    statements, checkouts = after[0] - before[0], after[1] - before[1]
    kinds = after[2] - before[2]
    backend = url.split(":", 1)[0]
    print(f"CPU profile: {args.trainees} trainees x {args.messages} messages x {args.repeats} rounds = {n} messages "
          f"({backend}; NLU and Bot API replayed; clock fixed at {NOW.isoformat()})")
    print(f"  app CPU per message: median of rounds {statistics.median(per_message) * 1000:.2f} ms "
          f"(rounds {', '.join(f'{v * 1000:.2f}' for v in per_message)}); "
          f"web {statistics.mean(web) * 1000:.2f} ms, Telegram {statistics.mean(telegram) * 1000:.2f} ms")
    print(f"  SQL statements per message: {statements / n:.2f} "
          f"({', '.join(f'{k} {v / n:.2f}' for k, v in kinds.most_common())})")
    print(f"  sessions (connection checkouts) per message: {checkouts / n:.2f}")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(args.top)
    print(f"\nTop {args.top} functions by cumulative time (one more round under cProfile):")
    print("\n".join(line.replace(str(ROOT) + "/", "") for line in out.getvalue().splitlines()[4:]))
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(r"/(bot|api|knowledge)/", args.top)
    print(f"Top {args.top} of the project's own functions (bot/, api/, knowledge/) by cumulative time:")
    print("\n".join(line.replace(str(ROOT) + "/", "") for line in out.getvalue().splitlines()[4:]))
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.top)
    print(f"Top {args.top} functions by own time:")
    print("\n".join(line.replace(str(ROOT) + "/", "") for line in out.getvalue().splitlines()[4:]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a PostgreSQL URL (its public schema is rebuilt); default: SQLite")
    parser.add_argument("--trainees", type=int, default=10, help="trainees per round (half web, half Telegram)")
    parser.add_argument("--messages", type=int, default=10, help="messages per trainee")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds")
    parser.add_argument("--top", type=int, default=30, help="functions shown per profile table")
    parser.add_argument("--dump", metavar="FILE", help="also write the cProfile data to FILE (for pstats / snakeviz)")
    parser.add_argument("--show-sql", action="store_true", help="print the SQL of one web and one Telegram message")
    parser.add_argument("--record", metavar="NLU_URL", help="record the NLU answers from this Rasa server and stop")
    args = parser.parse_args()
    if args.record:
        record(args.record)
        return 0
    import logging

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="cpu-profile-") as workdir:
        os.chdir(workdir)  # no .env of the checkout applies
        url = prepare_database(args.database_url, Path(workdir))
        asyncio.run(run(args, url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
