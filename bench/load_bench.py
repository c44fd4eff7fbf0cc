"""Load through nginx: the scaled-out layout of `make scale` under a ramp of trainees on three channels, with
volunteers taking the handoffs; then the check that nothing was lost.

    .venv/bin/python bench/load_bench.py [--trainees 200] [--messages 5] [--think 3.0] [--ramp 20]
                                         [--volunteers 4] [--apps 2] [--nlus 2] [--seed 20261202]

Starts on 127.0.0.1 (and stops again) scripts/scale.py's Layout: its own PostgreSQL, two Rasa servers with the
model of nlu/models/CURRENT, two app processes (`python -m api`) and Debian's nginx in front; Telegram and Zalo
point at the loopback stand-ins of tests/utils (FakeBotApi, ZaloCapture), which capture what the app sends.
Trainees (tests/utils/load.py): trainee n writes in vi/id/tl/ja/en (n mod 5) on web/Telegram/Zalo (n mod 3), starts
at n × ramp / trainees seconds, sends --messages messages drawn from a fixed list per language, and pauses
--think seconds (× a uniform 0.5–1.5) after each answer; every 10th (web and Telegram) also asks for a person.
Latency: the POST that hands the message over, through nginx (web: until the replies are in the response;
Telegram and Zalo: until the webhook has stored it, then the trainee waits for the reply at the capture before
writing again). Prints throughput, p50/p95/p99 overall and per channel, the redeliveries, the CPU seconds per
message of the app processes, the Rasa servers, PostgreSQL, nginx and the load generator, and the reconciliation.
Exit status 1 when a target is missed (≥ 50 messages/s, p95 < 300 ms) or the reconciliation finds a problem.
Run it on an otherwise idle machine: everything shares its CPUs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.e2e_bench import proc_stats, descendants, TICK  # noqa: E402
from scripts.scale import Layout, free_port  # noqa: E402
from tests.utils.load import SECRET, TOKEN, VOLUNTEERS, Load, add_volunteers, reconcile  # noqa: E402
from tests.utils.telegram_api import FakeBotApi  # noqa: E402
from tests.utils.zalo_api import ACCESS_TOKEN, APP_ID, APP_SECRET, OA_SECRET_KEY, REFRESH_TOKEN, ZaloCapture  # noqa: E402

TARGET_RATE = 50.0
TARGET_P95_MS = 300.0


def cpu_of(pids: list[int]) -> float:
    stats = proc_stats()
    return sum(sum(int(x) for x in stats[p][11:15]) for root in pids for p in descendants(root, stats)
               if p in stats) / TICK


def postgres_pids(pg_dir: Path) -> list[int]:
    pid_file = pg_dir / "postmaster.pid"
    try:
        return [int(pid_file.read_text().split()[0])]
    except (OSError, ValueError, IndexError):
        return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trainees", type=int, default=200)
    parser.add_argument("--messages", type=int, default=15)
    parser.add_argument("--think", type=float, default=3.0)
    parser.add_argument("--ramp", type=float, default=20.0)
    parser.add_argument("--volunteers", type=int, default=3)
    parser.add_argument("--apps", type=int, default=2)
    parser.add_argument("--nlus", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20261202)
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    print(f"Commit {commit}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {args.trainees} trainees × "
          f"{args.messages} messages, think {args.think} s, ramp {args.ramp} s, {args.apps} apps, {args.nlus} Rasa",
          flush=True)
    with FakeBotApi(TOKEN) as bot_api, ZaloCapture() as zalo, tempfile.TemporaryDirectory(prefix="load-") as tmp:
        pg_port = free_port()
        layout = Layout(dir=Path(tmp), apps=args.apps, nlus=args.nlus, port=free_port(), pg_port=pg_port,
                        pg_dir=Path(tempfile.gettempdir()) / f"trainee-rights-load-pg-{pg_port}", remove_pg=True,
                        app_env={
                            "APP_ENV": "test", "APP_SECRET_KEY": "load-bench-cookie-key-0123456789",
                            "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": SECRET,
                            "TELEGRAM_API_BASE_URL": bot_api.base_url,
                            "ZALO_APP_ID": APP_ID, "ZALO_OA_SECRET_KEY": OA_SECRET_KEY, "ZALO_APP_SECRET": APP_SECRET,
                            "ZALO_ACCESS_TOKEN": ACCESS_TOKEN, "ZALO_REFRESH_TOKEN": REFRESH_TOKEN,
                            "ZALO_API_BASE_URL": zalo.url, "ZALO_OAUTH_BASE_URL": zalo.url,
                        })
        started = time.perf_counter()
        with layout:
            print(f"Layout up in {time.perf_counter() - started:.0f} s: nginx {layout.url}", flush=True)
            add_volunteers(layout.database_url)
            groups = {
                "app processes": [s.process.pid for s in layout.app_services],
                "Rasa servers": [s.process.pid for s in layout.nlu_services],
                "PostgreSQL": postgres_pids(layout.pg_dir),
                "nginx": [layout.nginx.process.pid],
            }
            volunteers = VOLUNTEERS[: args.volunteers]

            async def go():
                load = Load(layout.url, bot_api=bot_api, zalo=zalo, telegram_secret=SECRET, seed=args.seed)
                try:
                    before = {name: cpu_of(pids) for name, pids in groups.items()}
                    me = os.times()
                    report = await load.run(trainees=args.trainees, messages=args.messages, ramp_s=args.ramp,
                                            think_s=args.think, person_every=10, volunteers=volunteers)
                    cpu = {name: cpu_of(pids) - before[name] for name, pids in groups.items()}
                    now = os.times()
                    cpu["load generator"] = (now.user + now.system) - (me.user + me.system)
                    left = await load.settle(layout.database_url, seconds=120)
                    return report, cpu, left
                finally:
                    load.stop.set()
                    await load.aclose()

            report, cpu, left = asyncio.run(go())
            problems = reconcile(layout.database_url, report, bot_api=bot_api, zalo=zalo)
    s = report.summary()
    n = max(s["accepted"], 1)
    print(f"\nMessages: {s['messages']} sent, {s['accepted']} accepted, {s['retried']} redelivered; "
          f"{s['handoffs_claimed']} handoffs claimed, {s['volunteer_replies']} volunteer replies")
    steady = s["steady_per_s"]
    rate = steady if steady is not None else s["throughput_per_s"]
    print(f"Throughput: {rate:.1f} messages/s with all {args.trainees} trainees writing"
          + (f" ({report.steady[1] - report.steady[0]:.0f} s)" if steady is not None else " (no steady part: whole run)")
          + f"; {s['throughput_per_s']:.1f} messages/s over the whole {report.wall_s:.1f} s, ramp included")
    print(f"Latency through nginx: p50 {s['p50_ms']:.0f} ms, p95 {s['p95_ms']:.0f} ms, p99 {s['p99_ms']:.0f} ms")
    for channel in ("web", "telegram", "zalo"):
        values = report.latencies(channel)
        if values:
            print(f"  {channel:9} {len(values):5} messages  p50 {report.percentile(values, 50):.0f} ms  "
                  f"p95 {report.percentile(values, 95):.0f} ms  p99 {report.percentile(values, 99):.0f} ms")
    if s["errors"]:
        print(f"Refused deliveries (then redelivered): {s['errors']}")
    print("CPU during the load: " + ", ".join(f"{name} {sec:.1f} s ({sec / n * 1000:.1f} ms/message)"
                                             for name, sec in cpu.items()))
    print(f"Left after settling: {left}")
    print("Reconciliation: " + ("every message stored once, processed, answered once; every reply delivered"
                                if not problems else "; ".join(problems)))
    met_rate = rate >= TARGET_RATE
    met_p95 = s["p95_ms"] < TARGET_P95_MS
    print(f"\nTargets: ≥ {TARGET_RATE:.0f} messages/s: {'MET' if met_rate else 'NOT MET'}; "
          f"p95 < {TARGET_P95_MS:.0f} ms: {'MET' if met_p95 else 'NOT MET'}; nothing lost: "
          f"{'MET' if not problems else 'NOT MET'}")
    return 0 if met_rate and met_p95 and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
