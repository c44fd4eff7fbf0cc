"""Handoff latency: from a trainee's request to the handoff appearing in an open inbox stream, and from a
volunteer's reply to the trainee's channel (Telegram, captured by a loopback Bot API).

    .venv/bin/python bench/handoff_bench.py [--rounds 20] [--nlu-url http://127.0.0.1:5055]

Runs `python -m api` on a fresh SQLite database (migrated, seeded, one volunteer made with
`python -m api users add`), a loopback Bot API, and the real Rasa server (started here unless --nlu-url).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.utils.telegram_api import FakeBotApi  # noqa: E402

TOKEN, SECRET, PASSWORD = "123456:BENCH", "bench-secret", "correct horse battery"


def line(label: str, values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return f"  {label:<44} n={len(values):<3} p50 {statistics.median(values) * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms"


def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeBotApi(TOKEN) as bot_api:
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp}/bench.db", "APP_PORT": "8093", "APP_LOG_LEVEL": "WARNING",
               "NLU_URL": args.nlu_url, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": SECRET,
               "TELEGRAM_API_BASE_URL": bot_api.base_url, "RASA_TELEMETRY_ENABLED": "false"}
        app = subprocess.Popen([sys.executable, "-m", "api", "--migrate"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = "http://127.0.0.1:8093"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            subprocess.run([sys.executable, "-m", "api", "users", "add", "lan@example.org", "--role", "volunteer",
                            "--languages", "vi", "--name", "Lan", "--password-stdin"], cwd=ROOT, env=env,
                           input=PASSWORD + "\n", text=True, check=True, capture_output=True)
            token = httpx.post(f"{base}/auth/token", json={"email": "lan@example.org", "password": PASSWORD}).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            opened: dict[str, float] = {}
            ready = threading.Event()

            def listen() -> None:
                with contextlib.suppress(httpx.HTTPError), httpx.stream("GET", f"{base}/api/handoffs/stream", headers=headers, timeout=None) as stream:
                    for raw in stream.iter_lines():
                        if raw.startswith("event: ready"):
                            ready.set()
                        if raw.startswith("data:") and '"handoff.opened"' in raw:
                            opened[json.loads(raw[5:])["handoff"]] = time.perf_counter()

            threading.Thread(target=listen, daemon=True).start()
            ready.wait(10)
            to_stream, to_channel = [], []
            for i in range(args.rounds):
                chat_id = 700_000_000 + i
                update = {"update_id": 800_000_000 + i, "message": {
                    "message_id": 1, "date": int(time.time()), "text": "/human",
                    "chat": {"id": chat_id, "type": "private", "first_name": "T"},
                    "from": {"id": chat_id, "is_bot": False, "first_name": "T", "language_code": "vi"}}}
                known = set(opened)
                start = time.perf_counter()
                httpx.post(f"{base}/channels/telegram/webhook", json=update,
                           headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}, timeout=10)
                while not set(opened) - known:
                    time.sleep(0.002)
                [newest] = set(opened) - known
                to_stream.append(opened[newest] - start)
                httpx.post(f"{base}/api/handoffs/{newest}/claim", headers=headers, timeout=10)
                time.sleep(0.3)  # the "Lan has joined" notice goes out first
                seen = len(bot_api.messages_to(chat_id))
                start = time.perf_counter()
                httpx.post(f"{base}/api/handoffs/{newest}/messages", headers=headers, json={"text": "Chào em"},
                           timeout=10)
                while len(bot_api.messages_to(chat_id)) <= seen:
                    time.sleep(0.002)
                to_channel.append(time.perf_counter() - start)
                httpx.post(f"{base}/api/handoffs/{newest}/close", headers=headers,
                           json={"outcome": "information_given"}, timeout=10)
            print(f"Handoff latency (python -m api on SQLite, real Rasa server, loopback Bot API, {os.cpu_count()} CPUs)")
            print(line("trainee /human -> handoff in the inbox stream", to_stream))
            print(line("volunteer reply -> sendMessage to the trainee", to_channel))
        finally:
            app.terminate()
            app.wait(20)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--nlu-url", default=None)
    arguments = parser.parse_args()
    started = None
    if not arguments.nlu_url:
        started = subprocess.run([str(ROOT / "scripts" / "nlu_server.sh"), "start", "5077",
                                  "/tmp/trainee-rights-nlu-handoff.log"], capture_output=True, text=True,
                                 check=True).stdout.strip()
        arguments.nlu_url = "http://127.0.0.1:5077"
    try:
        main(arguments)
    finally:
        if started:
            subprocess.run(["bash", "-c", f"kill -- -{started} 2>/dev/null || kill {started}"], check=False)
