"""Benchmark the Rasa NLU service: training time, model size, start-up, memory, latency, throughput.

    .venv/bin/python bench/nlu_bench.py [--config config/config.yml] [--port 5077]
                                        [--requests 1000] [--retrain]

Without --retrain the model named in nlu/models/CURRENT-<config> (nlu/train.sh writes it) is
benchmarked and training is not measured. With --retrain the pipeline is trained into a
temporary directory first (timed, peak RSS of the training process tree polled from /proc every
0.5 s) and that fresh model is served. The server is started here (nlu/serve.sh, in its own
process group, on 127.0.0.1 only) so that its start-up can be timed, and it is always stopped.

Messages are the held-out test sentences of nlu/tests/data/*.yml with their [text](entity)
annotations stripped, shuffled with a fixed seed so every language is covered, and cycled.
Sizes are in MB = 10^6 bytes. Memory figures sum the RSS of every process in the server's tree
(shared pages are counted once per process, so the sum is an upper bound).
Needs only the standard library, httpx and PyYAML.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
NLU = ROOT / "nlu"
RASA = NLU / ".venv" / "bin" / "rasa"
TEST_DIR = NLU / "tests" / "data"
HOST = "127.0.0.1"  # loopback only

TARGET_P95_MS = 20.0
TARGET_SERVER_MB = 1300.0  # 1.3 GB
TARGET_TRAIN_S = 15 * 60.0

CONCURRENCY = 8
WARMUP_PARSES = 20
STARTUP_TIMEOUT_S = 300.0
TRAIN_TIMEOUT_S = 60 * 60.0
REQUEST_TIMEOUT_S = 30.0
POLL_S = 0.5
MAX_CONCURRENT_REQUESTS = 1_000_000  # safety bound on the timed concurrent phase

ANNOTATION = re.compile(r"\[(?P<text>[^\]]+)\](?:\([^)]+\)|\{[^}]+\})")
PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1_000_000


# ---------------------------------------------------------------------------------------------
# /proc helpers


def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, rss bytes) for every live process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                data = fh.read()
        except OSError:
            continue  # the process ended meanwhile
        fields = data[data.rfind(b")") + 2 :].split()
        # fields[0] is field 3 (state): ppid is field 4, rss (pages) field 24
        table[int(entry)] = (int(fields[1]), int(fields[21]) * PAGE)
    return table


def tree_rss(root_pid: int) -> int:
    """Summed RSS (bytes) of a process and all its descendants; 0 when it is gone."""
    table = _proc_table()
    if root_pid not in table:
        return 0
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, stack, seen = 0, [root_pid], set()
    while stack:
        pid = stack.pop()
        if pid in seen or pid not in table:
            continue
        seen.add(pid)
        total += table[pid][1]
        stack.extend(children.get(pid, ()))
    return total


def other_training_running() -> list[int]:
    """PIDs of `rasa train` processes not started by this script (they would skew the figures)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"rasa" in b" ".join(cmd) and b"train" in cmd:
            found.append(int(entry))
    return found


class RssSampler:
    """Samples the tree RSS of a process every POLL_S seconds in a thread, keeps the peak."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self._stop.wait(POLL_S)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.peak = max(self.peak, tree_rss(self.pid))


# ---------------------------------------------------------------------------------------------
# process helpers


def stop_group(proc: subprocess.Popen) -> None:
    """Stop a process started with start_new_session=True, and its whole process group."""
    if proc.poll() is None:
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
    else:  # the leader is gone; children may remain in its group
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        return s.connect_ex((HOST, port)) == 0


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def nlu_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(RASA_TELEMETRY_ENABLED="false", PYTHONPATH=".", TF_CPP_MIN_LOG_LEVEL="2")
    return env


# ---------------------------------------------------------------------------------------------
# benchmark steps


def load_messages() -> list[str]:
    """Plain test sentences of every language (annotations stripped), shuffled with a fixed seed."""
    texts = []
    for path in sorted(TEST_DIR.glob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in doc.get("nlu", []):
            if "intent" not in block:
                continue
            for line in str(block.get("examples", "")).splitlines():
                line = line.strip()
                if line.startswith("- "):
                    text = ANNOTATION.sub(lambda m: m.group("text"), line[2:].strip())
                    if text:
                        texts.append(text)
    random.Random(20261125).shuffle(texts)
    return texts


def current_model(config: str) -> Path:
    name = Path(config).stem
    for marker in (NLU / "models" / f"CURRENT-{name}",) + (
        (NLU / "models" / "CURRENT",) if config == "config/config.yml" else ()
    ):
        if marker.is_file():
            model = NLU / "models" / marker.read_text().strip()
            if model.is_file():
                return model
    sys.exit(
        f"No trained model for {config} (nlu/models/CURRENT-{name} missing or stale); "
        f"train it with `NLU_CONFIG={config} nlu/train.sh` or pass --retrain."
    )


def train(config: str, out_dir: Path) -> tuple[float, int, Path]:
    """Train into out_dir; returns (seconds, peak tree RSS bytes, model path)."""
    log = out_dir / "train.log"
    cmd = [str(RASA), "train", "nlu", "--config", config, "--nlu", "data",
           "--out", str(out_dir), "--fixed-model-name", "bench"]
    print(f"Training {config} into {out_dir} (log: {log}) ...", flush=True)
    peak = 0
    with open(log, "wb") as fh:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=NLU, env=nlu_env(), stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            while proc.poll() is None:
                peak = max(peak, tree_rss(proc.pid))
                if time.perf_counter() - start > TRAIN_TIMEOUT_S:
                    raise RuntimeError(f"training exceeded {TRAIN_TIMEOUT_S:.0f} s")
                time.sleep(POLL_S)
            seconds = time.perf_counter() - start
        finally:
            stop_group(proc)
    model = out_dir / "bench.tar.gz"
    if proc.returncode != 0 or not model.is_file():
        raise RuntimeError(f"training failed (exit {proc.returncode}); log tail:\n{tail(log)}")
    return seconds, peak, model


def start_server(model: Path, port: int, log: Path) -> tuple[subprocess.Popen, float, float]:
    """Start nlu/serve.sh; returns (process, s until /status has a model_file, s until 1st parse)."""
    env = nlu_env()
    env.update(NLU_PORT=str(port), NLU_MODEL=str(model))
    fh = open(log, "wb")
    start = time.perf_counter()
    proc = subprocess.Popen([str(NLU / "serve.sh")], cwd=NLU, env=env, stdout=fh,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    fh.close()
    loaded = first = None
    try:
        with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=REQUEST_TIMEOUT_S,
                          trust_env=False) as client:
            while time.perf_counter() - start < STARTUP_TIMEOUT_S:
                if proc.poll() is not None:
                    raise RuntimeError(f"the NLU server exited ({proc.returncode}); log tail:\n"
                                       f"{tail(log)}")
                try:
                    r = client.get("/status", timeout=2)
                    if r.status_code == 200 and r.json().get("model_file"):
                        loaded = time.perf_counter() - start
                        served = Path(r.json()["model_file"]).name
                        if served != model.name:
                            raise RuntimeError(f"server reports model {served}, expected {model.name}")
                        break
                except (httpx.TransportError, ValueError):
                    pass
                time.sleep(0.1)
            else:
                raise RuntimeError(f"no model loaded in {STARTUP_TIMEOUT_S:.0f} s; log tail:\n"
                                   f"{tail(log)}")
            r = client.post("/model/parse", json={"text": "hello warm up"})
            r.raise_for_status()
            first = time.perf_counter() - start
    except BaseException:
        stop_group(proc)
        raise
    return proc, loaded, first


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def sequential(port: int, texts: list[str], n: int) -> tuple[list[float], int]:
    """n sequential parses over one keep-alive connection; returns (latencies in s, errors)."""
    latencies, errors = [], 0
    with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=REQUEST_TIMEOUT_S,
                      trust_env=False) as client:
        for i in range(n):
            text = texts[i % len(texts)]
            t0 = time.perf_counter()
            try:
                r = client.post("/model/parse", json={"text": text})
                ok = r.status_code == 200 and "intent" in r.json()
            except (httpx.HTTPError, ValueError):
                ok = False
            latencies.append(time.perf_counter() - t0)
            errors += not ok
    return latencies, errors


async def concurrent(port: int, texts: list[str], clients: int, seconds: float
                     ) -> tuple[int, float, list[float], int]:
    """`clients` workers parse back-to-back for `seconds`; returns (done, elapsed, latencies, errors)."""
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=REQUEST_TIMEOUT_S,
                                 limits=limits, trust_env=False) as client:
        start = time.perf_counter()
        deadline = start + seconds

        async def worker(k: int) -> None:
            nonlocal errors
            i = k * (len(texts) // clients)
            while time.perf_counter() < deadline and len(latencies) < MAX_CONCURRENT_REQUESTS:
                t0 = time.perf_counter()
                try:
                    r = await client.post("/model/parse", json={"text": texts[i % len(texts)]})
                    ok = r.status_code == 200 and "intent" in r.json()
                except (httpx.HTTPError, ValueError):
                    ok = False
                latencies.append(time.perf_counter() - t0)
                errors += not ok
                i += 1

        await asyncio.gather(*(worker(k) for k in range(clients)))
        elapsed = time.perf_counter() - start
    return len(latencies), elapsed, latencies, errors


# ---------------------------------------------------------------------------------------------


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("MET" if ok else "NOT MET")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="config/config.yml", help="pipeline, relative to nlu/")
    parser.add_argument("--port", type=int, default=5077, help="loopback port for the server")
    parser.add_argument("--requests", type=int, default=1000, help="sequential parses to time")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the concurrent phase")
    parser.add_argument("--retrain", action="store_true", help="train (timed) into a temp dir first")
    args = parser.parse_args(argv)
    if not (1 <= args.requests <= 1_000_000):
        parser.error("--requests must be between 1 and 1000000")
    if not (1 <= args.seconds <= 600):
        parser.error("--seconds must be between 1 and 600")
    if not (NLU / args.config).is_file():
        parser.error(f"no such config: nlu/{args.config}")
    if not RASA.exists():
        sys.exit(f"{RASA} not found: install the NLU venv first (make nlu-deps)")
    if port_in_use(args.port):
        sys.exit(f"Port {args.port} on {HOST} is already in use; pick another with --port.")
    busy = other_training_running()
    if busy:
        print(f"WARNING: other `rasa train` processes are running ({busy}); figures will be skewed.")

    texts = load_messages()
    if not texts:
        sys.exit(f"No test messages found in {TEST_DIR}")

    tmp = Path(tempfile.mkdtemp(prefix="nlu-bench-"))
    server = None
    try:
        if args.retrain:
            train_s, train_peak, model = train(args.config, tmp)
        else:
            train_s = train_peak = None
            model = current_model(args.config)
        model_mb = model.stat().st_size / MB

        log = tmp / "server.log"
        print(f"Starting the NLU server on {HOST}:{args.port} (log: {log}) ...", flush=True)
        server, loaded_s, first_s = start_server(model, args.port, log)

        with httpx.Client(base_url=f"http://{HOST}:{args.port}", timeout=REQUEST_TIMEOUT_S,
                          trust_env=False) as client:
            for text in texts[-WARMUP_PARSES:]:
                client.post("/model/parse", json={"text": text}).raise_for_status()
        rss_warm = tree_rss(server.pid)

        print(f"Timing {args.requests} sequential parses ...", flush=True)
        with RssSampler(server.pid) as sampler:
            seq, seq_err = sequential(args.port, texts, args.requests)
            print(f"Running {CONCURRENCY} concurrent clients for {args.seconds:g} s ...", flush=True)
            done, elapsed, conc, conc_err = asyncio.run(
                concurrent(args.port, texts, CONCURRENCY, args.seconds))
        rss_load = tree_rss(server.pid)
        rss_peak = max(sampler.peak, rss_load, rss_warm)
    finally:
        if server is not None:
            stop_group(server)
        shutil.rmtree(tmp, ignore_errors=True)

    ms = lambda s: s * 1000  # noqa: E731
    p95 = ms(percentile(seq, 95))
    mem_ok = rss_peak / MB < TARGET_SERVER_MB
    train_ok = None if train_s is None else train_s < TARGET_TRAIN_S

    rel = model.relative_to(ROOT) if model.is_relative_to(ROOT) else model.name
    print()
    print("=" * 72)
    print(f"NLU benchmark  {time.strftime('%Y-%m-%d %H:%M:%S')}  config nlu/{args.config}")
    print(f"host: {platform.node()}  {os.cpu_count()} CPUs  Python {platform.python_version()}"
          f"  (MB = 10^6 bytes)")
    print(f"messages: {len(texts)} test sentences from nlu/tests/data/*.yml, cycled")
    print("=" * 72)
    print("Training")
    if train_s is None:
        print(f"  training time        not measured (no --retrain); using {rel}")
    else:
        print(f"  training time        {train_s:8.1f} s ({train_s / 60:.1f} min)")
        print(f"  training peak RSS    {train_peak / MB:8.1f} MB (process tree, polled every "
              f"{POLL_S:g} s)")
    print(f"  model size           {model_mb:8.2f} MB  ({rel if train_s is None else 'freshly trained'})")
    print("Server start-up (from process start)")
    print(f"  model loaded         {loaded_s:8.2f} s  (GET /status reports model_file)")
    print(f"  first parse          {first_s:8.2f} s  (first POST /model/parse succeeded)")
    print("Server memory (RSS of the process tree)")
    print(f"  after warm-up        {rss_warm / MB:8.1f} MB  (first parse + {WARMUP_PARSES} parses)")
    print(f"  after load           {rss_load / MB:8.1f} MB")
    print(f"  peak during load     {rss_peak / MB:8.1f} MB  (sampled every {POLL_S:g} s)")
    print(f"Parse latency, {len(seq)} sequential requests ({seq_err} errors)")
    for label, p in (("p50", 50), ("p95", 95), ("p99", 99)):
        print(f"  {label:<20} {ms(percentile(seq, p)):8.2f} ms")
    print(f"  {'max':<20} {ms(max(seq)):8.2f} ms")
    print(f"  {'mean':<20} {ms(sum(seq) / len(seq)):8.2f} ms")
    print(f"Throughput, {CONCURRENCY} concurrent clients for {elapsed:.1f} s ({conc_err} errors)")
    print(f"  throughput           {done / elapsed:8.1f} parses/s  ({done} parses)")
    print(f"  latency p50          {ms(percentile(conc, 50)):8.2f} ms")
    print(f"  latency p95          {ms(percentile(conc, 95)):8.2f} ms")
    print("Targets")
    print(f"  parse p95 < {TARGET_P95_MS:g} ms        {p95:8.2f} ms   "
          f"{verdict(p95 < TARGET_P95_MS)}")
    print(f"  server memory < 1.3 GB  {rss_peak / MB:8.1f} MB   {verdict(mem_ok)}  (peak)")
    if train_s is None:
        print(f"  training < 15 min       not measured  {verdict(None)}  (run with --retrain)")
    else:
        print(f"  training < 15 min       {train_s / 60:8.1f} min  {verdict(train_ok)}")
    print("=" * 72)
    if seq_err or conc_err:
        print(f"WARNING: {seq_err + conc_err} requests failed; latency figures include them.")
    return 0 if (p95 < TARGET_P95_MS and mem_ok and train_ok is not False
                 and not seq_err and not conc_err) else 1


if __name__ == "__main__":
    sys.exit(main())
