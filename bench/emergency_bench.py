"""How long a trainee in danger waits for the emergency reply when the NLU server hangs, next to the
normal reply time with a working NLU.

    .venv/bin/python bench/emergency_bench.py [--nlu-url http://127.0.0.1:5055] [--rounds 20]

The engine runs in this process on a fresh SQLite database (migrated and seeded); replies are timed
from the call to the outcome (the web chat path: store, process, replies back). Three cases:
  * danger words with the NLU hung (a server that accepts connections and never answers; NLU_TIMEOUT 3 s);
  * an ordinary question with the same hung NLU (it waits: two timeouts, then the "NLU down" menu);
  * an ordinary question with the real Rasa server (started here when --nlu-url is not given).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.config import BotSettings  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.nlu_client import NluClient  # noqa: E402
from bot.schemas import Inbound  # noqa: E402
from knowledge.db import make_engine, make_session_factory, session_scope  # noqa: E402
from knowledge.loader import seed  # noqa: E402
from knowledge.schema import upgrade  # noqa: E402
from tests.utils.hung_server import HungServer  # noqa: E402

DANGER = [
    ("vi", "cứu em với, nó đang đánh em"), ("id", "tolong aku dikurung di kamar"),
    ("tl", "tulungan nyo ako, sinasaktan ako ng amo ko"), ("ja", "助けて、殴られている"),
    ("en", "help me he is beating me now"),
]
ORDINARY = [
    ("vi", "em muốn chuyển công ty được không"), ("id", "paspor aku ditahan sama perusahaan"),
    ("tl", "pwede ba ako lumipat ng kumpanya"), ("ja", "会社にパスポートを取られました"),
    ("en", "can i change company"),
]


def line(label: str, values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return (f"  {label:<48} n={len(values):<3} p50 {statistics.median(values) * 1000:8.1f} ms   "
            f"p95 {p95 * 1000:8.1f} ms   max {values[-1] * 1000:8.1f} ms")


async def timed(engine: Engine, cases: list[tuple[str, str]], rounds: int, tag: str) -> list[float]:
    times = []
    for i in range(rounds):
        lang, text = cases[i % len(cases)]
        start = time.perf_counter()
        outcome = await engine.handle(Inbound(channel="web", user_id=f"{tag}-{i}", text=text, lang=lang))
        times.append(time.perf_counter() - start)
        if tag == "danger" and "110" not in outcome.replies[0].text:
            raise SystemExit(f"no emergency numbers for {text!r}")
    return times


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        database = make_engine(url)
        factory = make_session_factory(database)
        with session_scope(factory) as session:
            seed(session)
        timeout = 3.0
        with HungServer() as hung:
            settings = BotSettings(nlu_url=hung.url, nlu_timeout=timeout, _env_file=None)
            engine = Engine(session_factory=factory, nlu=NluClient(hung.url, timeout=timeout), settings=settings)
            await timed(engine, DANGER, 3, "warm")  # imports, language models, first queries
            danger = await timed(engine, DANGER, args.rounds, "danger")
            hung_ordinary = await timed(engine, ORDINARY, max(2, args.rounds // 10), "hung")
            await engine.nlu.aclose()
        real = NluClient(args.nlu_url, timeout=timeout)
        engine = Engine(session_factory=factory, nlu=real,
                        settings=BotSettings(nlu_url=args.nlu_url, nlu_timeout=timeout, _env_file=None))
        await timed(engine, ORDINARY, 3, "warm2")
        normal = await timed(engine, ORDINARY, args.rounds, "normal")
        await real.aclose()
        database.dispose()
    print(f"Emergency reply time (engine in-process, SQLite, NLU_TIMEOUT {timeout:.0f} s, {os.cpu_count()} CPUs)")
    print(line("danger words, NLU hung", danger))
    print(line("ordinary question, NLU hung (waits, then menu)", hung_ordinary))
    print(line("ordinary question, real Rasa server", normal))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nlu-url", help="a running Rasa server; default: start one here on port 5078")
    parser.add_argument("--rounds", type=int, default=20)
    arguments = parser.parse_args()
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    started = None
    if not arguments.nlu_url:
        started = subprocess.run([str(ROOT / "scripts" / "nlu_server.sh"), "start", "5078", "/tmp/trainee-rights-nlu-emergency.log"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        arguments.nlu_url = "http://127.0.0.1:5078"
    try:
        asyncio.run(main(arguments))
    finally:
        if started:
            subprocess.run(["bash", "-c", f"kill -- -{started} 2>/dev/null || kill {started}"], check=False)
