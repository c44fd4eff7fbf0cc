"""End-to-end benchmark of the chatbot: simulated trainees over real HTTP, web chat and Telegram webhook.

    .venv/bin/python bench/e2e_bench.py [--trainees 20] [--messages 10] [--duration-cap 120]
                                        [--think-ms 0] [--nlu-port 5079] [--seed 20261125]

Everything runs on 127.0.0.1 and everything started here is stopped again:
  * its own PostgreSQL (scripts/test_postgres.sh with TEST_PG_PORT=55434 and a fresh temporary
    TEST_PG_DIR, removed at the end), migrated (knowledge.schema.upgrade) and seeded (knowledge.loader.seed);
  * its own Rasa NLU server with the model of nlu/models/CURRENT (scripts/nlu_server.sh, stopped with
    `kill -- -PID`);
  * a loopback Bot API (tests/utils/telegram_api.FakeBotApi) that captures the outgoing sendMessage calls;
  * the app: `uvicorn api.main:create_app --factory` in a subprocess (one worker process) with
    DATABASE_URL on that PostgreSQL, NLU_URL on that NLU server and Telegram enabled against the
    capture server.

Load: N trainees at once (closed loop: each sends its next message as soon as the previous one is
answered, plus --think-ms), each M messages of one language drawn (seeded) from the held-out test
sentences of nlu/tests/data/<lang>.yml with their [text](entity) / [text]{json} annotations stripped.
Even-numbered trainees use the web chat (POST /channels/web/messages with their language), odd ones
the Telegram webhook (real Update JSON with unique update_ids and chat ids, the secret header).
Latency is the HTTP round trip of that POST: the web response carries the replies; the webhook
answers once the message is stored (processing and sending follow from the stored row), and the
trainee then waits (at most DELIVERY_TIMEOUT_S) for a new sendMessage to its chat at the capture
server before its next message. At the end the deliveries are reconciled with the database.

The bare NLU latency is measured on the same messages directly against the NLU server (POST
/model/parse), once sequentially and once with the same N concurrent clients; the bot's own
overhead is the end-to-end percentile minus the NLU percentile under the same concurrency.
Exit status 1 when a target is missed, a request failed or a reply was not delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.nlu_eval import LANGS, load  # noqa: E402  (parse_example strips the annotations)
from tests.utils.telegram_api import FakeBotApi  # noqa: E402

HOST = "127.0.0.1"  # loopback only
PG_PORT = 55434  # not 55432/55433: those are the test runs'
NLU_MODEL_MARKER = ROOT / "nlu" / "models" / "CURRENT"

TARGET_P95_MS = 150.0
TARGET_TRAINEES = 20
#: "Well under": the bot's overhead is at most this fraction of the NLU's latency (p50 and p95).
OVERHEAD_RATIO = 0.5

TOKEN = "123456789:BENCH-e2e-token"
SECRET = "bench-e2e-webhook-secret"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

REQUEST_TIMEOUT_S = 30.0
DELIVERY_TIMEOUT_S = 10.0
PG_TIMEOUT_S = 300.0
NLU_TIMEOUT_S = 300.0
APP_TIMEOUT_S = 120.0
SETTLE_TIMEOUT_S = 15.0
RSS_POLL_S = 0.25
MAX_TRAINEES = 500
MAX_MESSAGES = 1000
#: Telegram update_ids: unique over the whole run (the app drops a redelivered update_id).
UPDATE_IDS = itertools.count(900_000_001)


# ---------------------------------------------------------------------------------------------
# small helpers


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (as bench/nlu_bench.py)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        return s.connect_ex((HOST, port)) == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def proc_status_kb(pid: int, field: str) -> int:
    """A kB field of /proc/PID/status (VmRSS, VmHWM); 0 when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_stats() -> dict[int, list[bytes]]:
    """The fields after the command name of /proc/PID/stat, for every live process."""
    stats: dict[int, list[bytes]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                data = Path(f"/proc/{entry}/stat").read_bytes()
            except OSError:
                continue
            stats[int(entry)] = data[data.rfind(b")") + 2 :].split()
    return stats


def descendants(root_pid: int, stats: dict[int, list[bytes]]) -> list[int]:
    """`root_pid` and every process below it that is still alive."""
    todo, found = [root_pid], []
    while todo:
        pid = todo.pop()
        if pid in found or pid not in stats:
            continue
        found.append(pid)
        todo.extend(child for child, fields in stats.items() if int(fields[1]) == pid)
    return found


def children(parent: int) -> list[int]:
    """PIDs of the live children of `parent`."""
    return [pid for pid, fields in proc_stats().items() if int(fields[1]) == parent]


def pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def tree_rss_mb(root_pid: int) -> float:
    """Summed RSS (MB) of a process and its descendants."""
    return sum(proc_status_kb(pid, "VmRSS") for pid in descendants(root_pid, proc_stats())) / 1000


TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu_s(root_pid: int | None) -> float:
    """CPU seconds (user + system, with reaped children) of a process tree; 0 when it is gone."""
    if root_pid is None:
        return 0.0
    stats = proc_stats()
    # utime stime cutime cstime
    return sum(sum(int(x) for x in stats[pid][11:15]) for pid in descendants(root_pid, stats)) / TICK


def self_cpu_s() -> float:
    """CPU seconds of this process alone (its clients and the capture server's threads)."""
    times = os.times()
    return times.user + times.system


def system_busy_s() -> float:
    """CPU seconds the whole machine spent busy since boot (/proc/stat, all CPUs)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / TICK


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_group(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM the process group `pid` leads, then SIGKILL whatever is left of it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except (ProcessLookupError, PermissionError):
                return
            try:  # reap it when it is our child
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.1)


class Stop(Exception):
    """SIGTERM: unwind and clean up."""


def _on_sigterm(signum, frame):
    raise Stop()


# ---------------------------------------------------------------------------------------------
# the services


class Services:
    """Starts PostgreSQL, the NLU server, the capture server and the app; `close()` stops them all."""

    def __init__(self, nlu_port: int):
        self.nlu_port = nlu_port
        self.tmp = Path(tempfile.mkdtemp(prefix="trainee-e2e-bench-"))
        self.pg_dir: Path | None = None
        self.pg_env: dict[str, str] | None = None
        self.db_url: str | None = None
        self.nlu_pid: int | None = None
        self.nlu_log = self.tmp / "nlu.log"
        self.app: subprocess.Popen | None = None
        self.app_log = self.tmp / "app.log"
        self.app_port: int | None = None
        self.api: CaptureBotApi | None = None

    # --------------------------------------------------------------- PostgreSQL
    def start_postgres(self) -> str:
        if port_in_use(PG_PORT):
            raise RuntimeError(f"something already listens on {HOST}:{PG_PORT}; stop it first (not touched here)")
        # Its own directory under /tmp (the postgres user must be able to reach it when we run as root).
        self.pg_dir = Path(tempfile.mkdtemp(prefix=f"trainee-e2e-pg-{PG_PORT}-"))
        self.pg_env = {**os.environ, "TEST_PG_PORT": str(PG_PORT), "TEST_PG_DIR": str(self.pg_dir)}
        done = subprocess.run([str(ROOT / "scripts" / "test_postgres.sh"), "start"], env=self.pg_env,
                              capture_output=True, text=True, timeout=PG_TIMEOUT_S)
        if done.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start:\n{done.stderr}\n{tail(self.pg_dir / 'server.log')}")
        self.db_url = done.stdout.strip().splitlines()[-1]
        return self.db_url

    def migrate_and_seed(self) -> dict:
        from knowledge.schema import upgrade
        from knowledge.config import KnowledgeSettings
        from knowledge.db import make_engine, make_session_factory, session_scope
        from knowledge.loader import seed

        url = KnowledgeSettings(database_url=self.db_url, _env_file=None).database_url
        upgrade(url)
        engine = make_engine(url)
        try:
            with session_scope(make_session_factory(engine)) as session:
                report = seed(session)
        finally:
            engine.dispose()
        return report.created

    # --------------------------------------------------------------- NLU
    def start_nlu(self) -> None:
        if port_in_use(self.nlu_port):
            raise RuntimeError(f"something already listens on {HOST}:{self.nlu_port}; pick another --nlu-port")
        script = subprocess.Popen([str(ROOT / "scripts" / "nlu_server.sh"), "start", str(self.nlu_port),
                                   str(self.nlu_log)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = script.communicate(timeout=NLU_TIMEOUT_S)
        except BaseException:  # interrupted or too slow: the server it started (setsid) leads its own group
            leaders = [pid for pid in children(script.pid) if pgid(pid) == pid]
            script.kill()
            script.wait()
            for pid in leaders:
                stop_group(pid)
            raise
        if script.returncode != 0 or not out.strip().isdigit():
            raise RuntimeError(f"the NLU server did not start:\n{err}")
        self.nlu_pid = int(out.strip())

    @property
    def pg_pid(self) -> int | None:
        try:
            return int((self.pg_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError, TypeError):
            return None

    @property
    def nlu_url(self) -> str:
        return f"http://{HOST}:{self.nlu_port}"

    # --------------------------------------------------------------- capture server and app
    def start_capture(self) -> CaptureBotApi:
        self.api = CaptureBotApi(TOKEN).__enter__()
        return self.api

    def start_app(self) -> None:
        self.app_port = free_port()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ZALO_", "TELEGRAM_", "APP_", "NLU_")) and k != "DATABASE_URL"}
        env.update(
            PYTHONPATH=str(ROOT),
            DATABASE_URL=self.db_url,
            NLU_URL=self.nlu_url,
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_WEBHOOK_SECRET=SECRET,
            TELEGRAM_API_BASE_URL=self.api.base_url,
        )
        with open(self.app_log, "wb") as log:
            # cwd = the temporary directory: no .env of the checkout can change the settings.
            self.app = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory", "--host", HOST,
                 "--port", str(self.app_port), "--log-level", "warning", "--no-access-log",
                 "--workers", str(APP_WORKERS)],
                cwd=self.tmp, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + APP_TIMEOUT_S
        with httpx.Client(base_url=self.app_url, timeout=5, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.app.poll() is not None:
                    raise RuntimeError(f"the app exited ({self.app.returncode}):\n{tail(self.app_log)}")
                try:
                    health = client.get("/health")
                    if health.status_code == 200 and health.json().get("nlu") == "ok":
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.3)
        raise RuntimeError(f"the app did not answer /health in {APP_TIMEOUT_S:.0f} s:\n{tail(self.app_log)}")

    @property
    def app_url(self) -> str:
        return f"http://{HOST}:{self.app_port}"

    # --------------------------------------------------------------- cleanup
    def close(self) -> None:
        if self.app is not None:
            stop_group(self.app.pid)
            try:
                self.app.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self.api is not None:
            self.api.__exit__(None, None, None)
        if self.nlu_pid is not None:
            stop_group(self.nlu_pid)
        if self.pg_env is not None:
            subprocess.run([str(ROOT / "scripts" / "test_postgres.sh"), "stop"], env=self.pg_env,
                           capture_output=True, timeout=120)
        if self.pg_dir is not None:
            shutil.rmtree(self.pg_dir, ignore_errors=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


class CaptureBotApi(FakeBotApi):
    """The loopback Bot API, telling the benchmark's event loop when a sendMessage was accepted."""

    def __init__(self, token: str):
        super().__init__(token)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.arrivals: dict[int, list[float]] = defaultdict(list)  # chat id -> perf_counter of each accepted sendMessage
        self._events: dict[int, asyncio.Event] = {}
        self.refused = 0

    def _answer(self, method: str, params: dict) -> tuple[int, dict]:
        status, body = super()._answer(method, params)
        if method == "sendMessage":
            now = time.perf_counter()
            if status != 200:
                self.refused += 1
            elif self.loop is not None:
                self.loop.call_soon_threadsafe(self._arrived, params.get("chat_id"), now)
        return status, body

    def _arrived(self, chat_id: int, at: float) -> None:  # in the event loop
        self.arrivals[chat_id].append(at)
        self._event(chat_id).set()

    def _event(self, chat_id: int) -> asyncio.Event:
        if chat_id not in self._events:
            self._events[chat_id] = asyncio.Event()
        return self._events[chat_id]

    async def wait_beyond(self, chat_id: int, count: int, timeout: float) -> float | None:
        """The arrival time of the chat's message number `count` (0-based), or None after `timeout`."""
        deadline = time.perf_counter() + timeout
        while len(self.arrivals[chat_id]) <= count:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return None
            event = self._event(chat_id)
            event.clear()
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                return None
        return self.arrivals[chat_id][count]


# ---------------------------------------------------------------------------------------------
# the load


@dataclass
class Sample:
    channel: str  # "web" | "telegram" | "nlu"
    latency: float | None  # seconds; None when the request failed
    replies: int = 0  # web: replies in the response
    delivered: bool | None = None  # telegram: a sendMessage arrived for it
    delivery_lag: float | None = None  # telegram: post -> first new sendMessage at the capture server
    error: str | None = None


@dataclass
class Trainee:
    index: int
    channel: str
    lang: str
    texts: list[str]

    @property
    def user_id(self) -> str:
        return f"bench-web-{self.index:04d}"

    @property
    def chat_id(self) -> int:
        return 700_000_000 + self.index


def make_trainees(n: int, m: int, seed: int) -> tuple[list[Trainee], dict[str, list[str]]]:
    corpus = {lang: [text for _, text, _ in load(lang) if text.strip()] for lang in LANGS}
    rng = random.Random(seed)
    trainees = []
    for i in range(n):
        lang = LANGS[i % len(LANGS)]
        pool = corpus[lang]
        texts = rng.sample(pool, m) if m <= len(pool) else [rng.choice(pool) for _ in range(m)]
        trainees.append(Trainee(i, "web" if i % 2 == 0 else "telegram", lang, texts))
    return trainees, corpus


def telegram_update(update_id: int, trainee: Trainee, message_id: int, text: str) -> dict:
    user = {"id": trainee.chat_id, "is_bot": False, "first_name": f"Trainee{trainee.index}",
            "language_code": trainee.lang}
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "from": user,
            "chat": {"id": trainee.chat_id, "first_name": user["first_name"], "type": "private"},
            "date": int(time.time()),
            "text": text,
        },
    }


class Load:
    def __init__(self, app_url: str, api: CaptureBotApi, think: float, deadline: float):
        self.app_url = app_url
        self.api = api
        self.think = think
        self.deadline = deadline
        self.skipped = 0

    async def run(self, trainees: list[Trainee]) -> list[Sample]:
        results = await asyncio.gather(*(self.trainee(t) for t in trainees))
        return [s for samples in results for s in samples]

    async def trainee(self, trainee: Trainee) -> list[Sample]:
        samples = []
        async with httpx.AsyncClient(base_url=self.app_url, timeout=REQUEST_TIMEOUT_S, trust_env=False) as client:
            await first_pause(self.think, trainee.user_id)
            for k, text in enumerate(trainee.texts):
                if time.perf_counter() >= self.deadline:
                    self.skipped += len(trainee.texts) - k
                    break
                if trainee.channel == "web":
                    samples.append(await self.web(client, trainee, k, text))
                else:
                    samples.append(await self.telegram(client, trainee, k, text))
                await think_pause(self.think, trainee.user_id, k)
        return samples

    async def web(self, client: httpx.AsyncClient, trainee: Trainee, k: int, text: str) -> Sample:
        # The page sends a client id per message; the app deduplicates them over all web users, so unique ones.
        body = {"user_id": trainee.user_id, "text": text, "lang": trainee.lang,
                "client_message_id": f"{trainee.user_id}-{k}"}
        start = time.perf_counter()
        try:
            response = await client.post("/channels/web/messages", json=body)
            latency = time.perf_counter() - start
        except httpx.HTTPError as exc:
            return Sample("web", None, error=type(exc).__name__)
        if response.status_code != 200:
            return Sample("web", None, error=f"HTTP {response.status_code}")
        replies = len(response.json().get("replies") or [])
        return Sample("web", latency, replies=replies, error=None if replies else "no reply")

    async def telegram(self, client: httpx.AsyncClient, trainee: Trainee, k: int, text: str) -> Sample:
        update = telegram_update(next(UPDATE_IDS), trainee, k + 1, text)
        seen = len(self.api.arrivals[trainee.chat_id])
        start = time.perf_counter()
        try:
            response = await client.post("/channels/telegram/webhook", json=update, headers={SECRET_HEADER: SECRET})
            latency = time.perf_counter() - start
        except httpx.HTTPError as exc:
            return Sample("telegram", None, error=type(exc).__name__)
        if response.status_code != 200:
            return Sample("telegram", None, error=f"HTTP {response.status_code}")
        # Confirm the reply reaches "Telegram" before the trainee writes again (a real user waits for it).
        arrived = await self.api.wait_beyond(trainee.chat_id, seen, DELIVERY_TIMEOUT_S)
        return Sample("telegram", latency, delivered=arrived is not None,
                      delivery_lag=None if arrived is None else arrived - start,
                      error=None if arrived is not None else "no sendMessage")


def _jitter(key: str, k: int) -> float:
    """A repeatable factor in [0, 1) per trainee and message: trainees don't type in lockstep."""
    return random.Random(f"{key}:{k}").random()


async def first_pause(think: float, key: str) -> None:
    """Trainees arrive spread over one think time, not all at the same instant."""
    if think:
        await asyncio.sleep(think * _jitter(key, -1))


async def think_pause(think: float, key: str, k: int) -> None:
    """Reading and typing: between 0.5 and 1.5 think times."""
    if think:
        await asyncio.sleep(think * (0.5 + _jitter(key, k)))


async def nlu_load(nlu_url: str, groups: list[list[str]], think: float, deadline: float | None) -> list[Sample]:
    """Each group is one client sending its texts one after the other; the groups run at once."""

    async def client_run(texts: list[str]) -> list[Sample]:
        out = []
        async with httpx.AsyncClient(base_url=nlu_url, timeout=REQUEST_TIMEOUT_S, trust_env=False) as client:
            await first_pause(think, str(texts[:1]))
            for k, text in enumerate(texts):
                if deadline is not None and time.perf_counter() >= deadline:
                    break
                start = time.perf_counter()
                try:
                    response = await client.post("/model/parse", json={"text": text})
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                out.append(Sample("nlu", time.perf_counter() - start if ok else None, error=None if ok else "failed"))
                await think_pause(think, str(texts[:1]), k)
        return out

    results = await asyncio.gather(*(client_run(texts) for texts in groups))
    return [s for samples in results for s in samples]


class RssSampler:
    """Peak RSS of one process, sampled in a thread."""

    def __init__(self, pid: int):
        self.pid, self.peak_kb = pid, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, proc_status_kb(self.pid, "VmRSS"))
            self._stop.wait(RSS_POLL_S)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


async def settle(api: CaptureBotApi, quiet: float = 1.0) -> None:
    """Wait until no sendMessage arrived for `quiet` seconds (at most SETTLE_TIMEOUT_S)."""
    deadline = time.perf_counter() + SETTLE_TIMEOUT_S
    last = -1
    while time.perf_counter() < deadline:
        total = sum(len(v) for v in api.arrivals.values())
        if total == last:
            return
        last = total
        await asyncio.sleep(quiet)


def reconcile(db_url: str, trainees: list[Trainee]) -> dict[str, int]:
    """What the app stored for the Telegram trainees: inbound messages, outbound replies by status,
    and inbound messages with at least one reply sent (a reply names the message it answers)."""
    from sqlalchemy import select

    from bot.models import Conversation, Direction, Message
    from knowledge.config import KnowledgeSettings
    from knowledge.db import make_engine

    chats = [str(t.chat_id) for t in trainees if t.channel == "telegram"]
    engine = make_engine(KnowledgeSettings(database_url=db_url, _env_file=None).database_url)
    counts: dict[str, int] = defaultdict(int)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Message.id, Message.direction, Message.status, Message.reply_to_id)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Conversation.channel == "telegram", Conversation.channel_user_id.in_(chats))
            ).all()
    finally:
        engine.dispose()
    answered: set[int] = set()
    for _, direction, status, reply_to_id in rows:
        if direction == Direction.inbound:
            counts["inbound"] += 1
        else:
            counts["outbound"] += 1
            counts[f"outbound_{status}"] += 1
            if status == "sent" and reply_to_id is not None:
                answered.add(reply_to_id)
    counts["answered"] = len(answered)
    return counts


# ---------------------------------------------------------------------------------------------
# report


def latency_line(label: str, values: list[float]) -> str:
    if not values:
        return f"  {label:<28} (no successful requests)"
    return (f"  {label:<28} n={len(values):<5} p50 {ms(percentile(values, 50))}  p95 {ms(percentile(values, 95))}"
            f"  p99 {ms(percentile(values, 99))}  max {ms(max(values))}")


def ok_latencies(samples: list[Sample], channel: str | None = None) -> list[float]:
    return [s.latency for s in samples if s.latency is not None and (channel is None or s.channel == channel)]


def run(args: argparse.Namespace) -> int:
    trainees, _ = make_trainees(args.trainees, args.messages, args.seed)
    model = NLU_MODEL_MARKER.read_text().strip() if NLU_MODEL_MARKER.is_file() else "?"
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "?"
    print(f"End-to-end benchmark: {args.trainees} trainees x {args.messages} messages "
          f"({sum(t.channel == 'web' for t in trainees)} web, {sum(t.channel == 'telegram' for t in trainees)} "
          f"Telegram; languages {', '.join(LANGS)} round-robin), think time {args.think_ms} ms, "
          f"cap {args.duration_cap:.0f} s per load phase")
    print(f"Commit {commit}, NLU model {model}, {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} before start", flush=True)

    services = Services(args.nlu_port)
    try:
        t0 = time.perf_counter()
        services.start_postgres()
        created = services.migrate_and_seed()
        print(f"PostgreSQL on {HOST}:{PG_PORT}: migrated and seeded ({sum(created.values())} rows) "
              f"in {time.perf_counter() - t0:.1f} s", flush=True)
        t0 = time.perf_counter()
        services.start_nlu()
        print(f"NLU server on {services.nlu_url} (pid {services.nlu_pid}) ready in {time.perf_counter() - t0:.1f} s",
              flush=True)
        api = services.start_capture()
        t0 = time.perf_counter()
        services.start_app()
        print(f"App on {services.app_url} (uvicorn, {APP_WORKERS} worker process(es), pid {services.app.pid}; Telegram -> capture server "
              f"on port {api.port}) ready in {time.perf_counter() - t0:.1f} s", flush=True)
        return asyncio.run(measure(args, services, api, trainees))
    finally:
        services.close()
        print("Stopped the app, the capture server, the NLU server and PostgreSQL; removed their temporary files.")


async def measure(args: argparse.Namespace, services: Services, api: CaptureBotApi, trainees: list[Trainee]) -> int:
    api.loop = asyncio.get_running_loop()
    think = args.think_ms / 1000
    app_pid = services.app.pid

    # Warm-up (not measured): a few parses, one web conversation and one Telegram chat of their own.
    warm = [Trainee(10**6 + i, "web" if i % 2 == 0 else "telegram", LANGS[i % len(LANGS)],
                    trainees[i % len(trainees)].texts[:2]) for i in range(4)]
    await nlu_load(services.nlu_url, [["hello", "xin chào", "konnichiwa"]], 0, None)
    warm_load = Load(services.app_url, api, 0, time.perf_counter() + 60)
    warm_samples = await warm_load.run(warm)
    if any(s.error for s in warm_samples):
        print(f"Warm-up failed: {[s.error for s in warm_samples if s.error]}\n{tail(services.app_log)}")
        return 1
    rss_before = proc_status_kb(app_pid, "VmRSS")

    all_texts = [text for t in trainees for text in t.texts]
    print(f"\nNLU alone, sequential ({len(all_texts)} parses)...", flush=True)
    nlu_seq = await nlu_load(services.nlu_url, [all_texts], 0, time.perf_counter() + args.duration_cap)
    print(f"NLU alone, {len(trainees)} concurrent clients...", flush=True)
    start = time.perf_counter()
    nlu_conc = await nlu_load(services.nlu_url, [t.texts for t in trainees], think, start + args.duration_cap)
    nlu_conc_s = time.perf_counter() - start

    print(f"End to end, {len(trainees)} concurrent trainees...", flush=True)
    pids = {"app": app_pid, "NLU server": services.nlu_pid, "PostgreSQL": services.pg_pid}
    cpu_before = {name: tree_cpu_s(pid) for name, pid in pids.items()}
    cpu_before["this benchmark"] = self_cpu_s()  # the app is our child: count only this process
    busy_before = system_busy_s()
    start = time.perf_counter()
    load = Load(services.app_url, api, think, start + args.duration_cap)
    with RssSampler(app_pid) as sampler:
        hard_bound = args.duration_cap + REQUEST_TIMEOUT_S + DELIVERY_TIMEOUT_S + 30
        samples = await asyncio.wait_for(load.run(trainees), hard_bound)
        elapsed = time.perf_counter() - start
        await settle(api)
    cpu_wall = time.perf_counter() - start
    cpu = {name: tree_cpu_s(pid) - cpu_before[name] for name, pid in pids.items()}
    cpu["this benchmark"] = self_cpu_s() - cpu_before["this benchmark"]
    cpu["other processes"] = max(0.0, system_busy_s() - busy_before - sum(cpu.values()))
    rss_after = proc_status_kb(app_pid, "VmRSS")
    rss_hwm = proc_status_kb(app_pid, "VmHWM")
    nlu_rss = tree_rss_mb(services.nlu_pid)
    db = await asyncio.to_thread(reconcile, services.db_url, trainees)

    # ------------------------------------------------------------------ figures
    e2e = ok_latencies(samples)
    web, tg = ok_latencies(samples, "web"), ok_latencies(samples, "telegram")
    seq, conc = ok_latencies(nlu_seq), ok_latencies(nlu_conc)
    failed = [s for s in samples if s.error]
    tg_samples = [s for s in samples if s.channel == "telegram"]
    delivered = sum(1 for s in tg_samples if s.delivered)
    lags = [s.delivery_lag for s in tg_samples if s.delivery_lag is not None]
    tg_chats = {t.chat_id for t in trainees if t.channel == "telegram"}
    sent_calls = sum(len(api.arrivals[c]) for c in tg_chats)
    web_replies = sum(s.replies for s in samples if s.channel == "web")

    print(f"\nThroughput: {len(samples)} messages in {elapsed:.2f} s = {len(samples) / elapsed:.1f} messages/s "
          f"({len(failed)} failed, {load.skipped} not sent because of the {args.duration_cap:.0f} s cap)")
    print("End-to-end latency (HTTP round trip of the POST):")
    print(latency_line("web chat", web))
    print(latency_line("Telegram webhook", tg))
    print(latency_line("overall", e2e))
    print(f"Replies: web {web_replies} in the responses; Telegram {delivered}/{len(tg_samples)} webhook messages "
          f"confirmed by a sendMessage within {DELIVERY_TIMEOUT_S:.0f} s, {sent_calls} sendMessage calls accepted, "
          f"{api.refused} refused")
    print(f"  Telegram, in the database: {db['inbound']} inbound stored, {db['answered']} with a reply sent; "
          f"{db['outbound']} replies: {db['outbound_sent']} sent, {db['outbound_failed']} failed, "
          f"{db['outbound_pending']} pending")
    if lags:
        print(f"  webhook POST -> first sendMessage at the capture server: p50 {ms(percentile(lags, 50))}  "
              f"p95 {ms(percentile(lags, 95))}  max {ms(max(lags))}")
    print("Bare NLU parse latency (POST /model/parse straight to the NLU server, same messages):")
    print(latency_line("sequential", seq))
    print(latency_line(f"{len(trainees)} concurrent clients", conc)
          + (f"  ({len(conc) / nlu_conc_s:.1f} parses/s)" if conc else ""))
    overhead = {}
    if e2e and conc:
        print(f"Bot overhead = end to end - NLU ({len(trainees)} concurrent), percentile by percentile:")
        for label, values in (("web chat", web), ("Telegram webhook", tg), ("overall", e2e)):
            if values:
                o50 = percentile(values, 50) - percentile(conc, 50)
                o95 = percentile(values, 95) - percentile(conc, 95)
                overhead[label] = (o50, o95)
                print(f"  {label:<28} p50 {ms(o50)}  p95 {ms(o95)}")
    print(f"App process RSS: {rss_before / 1000:.1f} MB after warm-up, {rss_after / 1000:.1f} MB after the load, "
          f"peak {max(rss_hwm, sampler.peak_kb) / 1000:.1f} MB (VmHWM); NLU server tree {nlu_rss:.1f} MB")
    n = max(1, len(samples))
    print(f"CPU during the end-to-end phase ({cpu_wall:.1f} s incl. the final wait for deliveries, "
          f"{os.cpu_count()} CPUs = {cpu_wall * os.cpu_count():.1f} CPU-s): "
          + ", ".join(f"{name} {sec:.1f} s ({sec / n * 1000:.0f} ms/message)" for name, sec in cpu.items()))

    # ------------------------------------------------------------------ targets
    problems = bool(failed) or delivered < len(tg_samples) or api.refused > 0
    print("\nTargets:")
    if e2e:
        p95 = percentile(e2e, 95)
        met_p95 = p95 < TARGET_P95_MS / 1000 and len(trainees) >= TARGET_TRAINEES
        note = "" if len(trainees) >= TARGET_TRAINEES else f" (run with {len(trainees)} trainees, not {TARGET_TRAINEES})"
        print(f"  end-to-end p95 < {TARGET_P95_MS:.0f} ms at {TARGET_TRAINEES} concurrent trainees: "
              f"{p95 * 1000:.1f} ms -> {'MET' if met_p95 else 'NOT MET'}{note}")
    else:
        met_p95 = False
        print("  end-to-end p95: no successful requests -> NOT MET")
    if "overall" in overhead:
        o50, o95 = overhead["overall"]
        n50, n95 = percentile(conc, 50), percentile(conc, 95)
        met_overhead = o50 <= OVERHEAD_RATIO * n50 and o95 <= OVERHEAD_RATIO * n95
        print(f"  bot overhead well under the NLU's (at most {OVERHEAD_RATIO:.0%} of it, p50 and p95): "
              f"p50 {o50 * 1000:.1f} vs {n50 * 1000:.1f} ms, p95 {o95 * 1000:.1f} vs {n95 * 1000:.1f} ms -> "
              f"{'MET' if met_overhead else 'NOT MET'}")
    else:
        met_overhead = False
        print("  bot overhead: not measurable -> NOT MET")
    if problems:
        errors = defaultdict(int)
        for s in failed:
            errors[f"{s.channel}: {s.error}"] += 1
        print(f"  failures: {dict(errors) or 'none'}; sendMessage refused: {api.refused}")
        print(f"  (app log tail)\n{tail(services.app_log, 15)}")
    return 0 if met_p95 and met_overhead and not problems else 1


APP_WORKERS = 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trainees", type=int, default=20, help="simulated trainees at once (half web, half Telegram)")
    parser.add_argument("--messages", type=int, default=10, help="messages per trainee")
    parser.add_argument("--duration-cap", type=float, default=120.0,
                        help="seconds after which a load phase sends no new message")
    parser.add_argument("--app-workers", type=int, default=1,
                        help="uvicorn worker processes of the (stateless) app")
    parser.add_argument("--think-ms", type=int, default=0,
                        help="mean pause of a trainee after each answer (0.5-1.5x, arrivals spread over one pause)")
    parser.add_argument("--nlu-port", type=int, default=5079, help="loopback port of the NLU server started here")
    parser.add_argument("--seed", type=int, default=20261125, help="seed of the message draw")
    args = parser.parse_args(argv)
    global APP_WORKERS
    APP_WORKERS = max(1, args.app_workers)
    if not 1 <= args.trainees <= MAX_TRAINEES or not 1 <= args.messages <= MAX_MESSAGES:
        parser.error(f"--trainees must be 1..{MAX_TRAINEES} and --messages 1..{MAX_MESSAGES}")
    if args.duration_cap <= 0 or args.think_ms < 0:
        parser.error("--duration-cap must be positive and --think-ms not negative")
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return run(args)
    except (Stop, KeyboardInterrupt):
        print("Interrupted.", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
