"""The scaled-out system on loopback: nginx in front of several app processes and several Rasa servers sharing one
PostgreSQL. `make scale` runs it until Ctrl-C; the scale tests (tests/scale/) and the load benchmark
(bench/load_bench.py) start the same layout with `Layout`.

    .venv/bin/python -m scripts.scale [--apps 2] [--nlus 2] [--port 8080] [--pg-port 55440] [--dir data/scale]

    nginx 127.0.0.1:8080 ──┬── app 127.0.0.1:8101 ──┐         ┌── Rasa 127.0.0.1:5101
                           └── app 127.0.0.1:8102 ──┴─ NLU_URL ┴── Rasa 127.0.0.1:5102
                                      └──────── PostgreSQL 127.0.0.1:55440 ────────┘

Every app process runs the outbox worker and gets every Rasa server in NLU_URL (spread and failed over by the
NLU client). nginx passes each request to an app process, and to the other when the first refuses the
connection or answers 502/503 (a killed process). deploy/ holds the production version of this layout (TLS,
systemd); this one is for one machine, loopback only, no TLS.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _wait_http(url: str, *, seconds: float, process: subprocess.Popen | None = None, what: str,
               ok=lambda r: r.status_code == 200) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode}")
        try:
            if ok(httpx.get(url, timeout=5)):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer {url} within {seconds:.0f} s")


def _stop_group(process: subprocess.Popen | None, *, kill: bool = False, seconds: float = 20) -> None:
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


@dataclass
class Service:
    """One process of the layout (started in its own process group, so a kill takes its children too)."""

    name: str
    port: int
    log: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class Layout:
    """nginx + `apps` app processes + `nlus` Rasa servers + one PostgreSQL, all on 127.0.0.1.

    `database_url`: an existing PostgreSQL database to use (migrated and seeded here); otherwise a server of
    its own is started with scripts/test_postgres.sh on `pg_port` with its data in `<dir>/pg`.
    `app_env`: extra environment of the app processes (channel tokens and the loopback channel APIs in tests).
    """

    dir: Path
    apps: int = 2
    nlus: int = 2
    port: int = 8080
    pg_port: int = 55440
    database_url: str | None = None
    #: The own PostgreSQL's data directory (default `<dir>/pg`; it must be reachable by the postgres user, which
    #: a pytest tmp_path is not); `remove_pg` deletes it on stop.
    pg_dir: Path | None = None
    remove_pg: bool = False
    app_env: dict[str, str] = field(default_factory=dict)
    log_level: str = "WARNING"
    app_services: list[Service] = field(default_factory=list)
    nlu_services: list[Service] = field(default_factory=list)
    nginx: Service | None = None
    _own_pg: bool = False

    # ------------------------------------------------------------------ whole layout
    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def nlu_url(self) -> str:
        return ",".join(s.url for s in self.nlu_services)

    def start(self) -> Layout:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "logs").mkdir(exist_ok=True)
        try:
            self._start_postgres()
            self._migrate()
            self.nlu_services = [Service(f"nlu{i + 1}", free_port(), self.dir / "logs" / f"nlu{i + 1}.log")
                                 for i in range(self.nlus)]
            for nlu in self.nlu_services:
                self.start_nlu(nlu)
            self.app_services = [Service(f"app{i + 1}", free_port(), self.dir / "logs" / f"app{i + 1}.log")
                                 for i in range(self.apps)]
            for app in self.app_services:
                self.start_app(app)
            self._start_nginx()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.nginx is not None:
            _stop_group(self.nginx.process)
        for service in self.app_services + self.nlu_services:
            _stop_group(service.process)
        if self._own_pg:
            self._pg("stop")
            if self.remove_pg:
                shutil.rmtree(self._pg_dir(), ignore_errors=True)

    def __enter__(self) -> Layout:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ PostgreSQL
    def _pg_dir(self) -> Path:
        return (self.pg_dir or self.dir / "pg").resolve()

    def _pg(self, command: str) -> str:
        env = {**os.environ, "TEST_PG_PORT": str(self.pg_port), "TEST_PG_DIR": str(self._pg_dir())}
        done = subprocess.run([str(ROOT / "scripts" / "test_postgres.sh"), command], env=env, check=True,
                              capture_output=True, text=True)
        return done.stdout.strip()

    def _start_postgres(self) -> None:
        if self.database_url is None:
            self._own_pg = True
            url = self._pg("start")
            self.database_url = url.replace("postgresql://", "postgresql+psycopg://", 1)

    def restart_postgres(self, *, down_seconds: float = 2.0) -> None:
        """Stop the layout's own PostgreSQL (fast shutdown: connections are cut) and start it again."""
        if not self._own_pg:
            raise RuntimeError("only the layout's own PostgreSQL can be restarted")
        self._pg("stop")
        time.sleep(down_seconds)
        self._pg("start")

    def _migrate(self) -> None:
        from knowledge.db import make_engine, make_session_factory, session_scope
        from knowledge.loader import seed
        from knowledge.schema import upgrade

        upgrade(self.database_url)
        database = make_engine(self.database_url)
        try:
            with session_scope(make_session_factory(database)) as session:
                seed(session)
        finally:
            database.dispose()

    # ------------------------------------------------------------------ Rasa servers
    def start_nlu(self, nlu: Service) -> None:
        """Start (or restart) one Rasa server and wait until its model is loaded and warm."""
        out = subprocess.run([str(ROOT / "scripts" / "nlu_server.sh"), "start", str(nlu.port), str(nlu.log)],
                             check=True, capture_output=True, text=True, env={**os.environ,
                                                                              "RASA_TELEMETRY_ENABLED": "false"})
        pid = int(out.stdout.strip().splitlines()[-1])
        nlu.process = _Adopted(pid)

    def kill_nlu(self, index: int) -> None:
        """SIGKILL one Rasa server (and its children), as a crash."""
        _stop_group(self.nlu_services[index].process, kill=True)

    # ------------------------------------------------------------------ app processes
    def app_environment(self, app: Service) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": self.database_url, "APP_HOST": HOST, "APP_PORT": str(app.port),
            "APP_LOG_LEVEL": self.log_level, "NLU_URL": self.nlu_url, "RASA_TELEMETRY_ENABLED": "false",
            **self.app_env,
        }

    def start_app(self, app: Service) -> None:
        log = app.log.open("ab")
        app.process = subprocess.Popen([str(ROOT / ".venv" / "bin" / "python"), "-m", "api"], cwd=self.dir,
                                       env=self.app_environment(app), stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        log.close()
        _wait_http(f"{app.url}/health", seconds=90, process=app.process, what=app.name)

    def kill_app(self, index: int) -> None:
        """SIGKILL one app process, as a crash: whatever it held is left to the others."""
        _stop_group(self.app_services[index].process, kill=True)

    # ------------------------------------------------------------------ nginx
    def nginx_conf(self) -> str:
        run = (self.dir / "nginx").resolve()
        servers = "\n".join(f"        server {HOST}:{a.port} max_fails=1 fail_timeout=3s;" for a in self.app_services)
        proxy = """
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            # Loopback only: the load generator simulates each trainee's address with its own
            # X-Forwarded-For, which nginx passes on (deploy/nginx sets $remote_addr instead).
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_connect_timeout 2s;
            # A killed app process refuses the connection (or answers 502): nginx tries the other. A POST that
            # reached a process before it died is not re-sent (the channel redelivers; deliveries are deduped).
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries 2;"""
        return f"""# Generated by scripts/scale.py for the loopback layout; see deploy/nginx for production.
worker_processes 2;
pid {run}/nginx.pid;
error_log {run}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    server_tokens off;
    client_body_temp_path {run}/tmp/body;
    proxy_temp_path {run}/tmp/proxy;
    fastcgi_temp_path {run}/tmp/fastcgi;
    uwsgi_temp_path {run}/tmp/uwsgi;
    scgi_temp_path {run}/tmp/scgi;
    types {{ text/html html; }}
    upstream trainee_rights_app {{
{servers}
        keepalive 64;
    }}
    server {{
        listen {HOST}:{self.port};
        client_max_body_size 1m;
        # The event streams (the inbox's, the web chat's): unbuffered, held open.
        location ~ ^/(api/handoffs/stream|channels/web/events)$ {{
            proxy_pass http://trainee_rights_app;{proxy}
            proxy_buffering off;
            proxy_cache off;
            proxy_read_timeout 1h;
        }}
        # The web chat's payslip upload: a photo or PDF of up to 10 MB (api/limits.py LARGER_BODIES).
        location = /channels/web/uploads {{
            proxy_pass http://trainee_rights_app;{proxy}
            client_max_body_size 11m;
            proxy_read_timeout 60s;
        }}
        location / {{
            proxy_pass http://trainee_rights_app;{proxy}
            proxy_read_timeout 60s;
        }}
    }}
}}
"""

    def _start_nginx(self) -> None:
        if not Path(NGINX).exists():
            raise RuntimeError("nginx is missing: scripts/ensure_nginx.sh installs Debian's package")
        run = self.dir / "nginx"
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (run / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(run / "tmp", 0o777)
        for sub in (run / "tmp").iterdir():
            os.chmod(sub, 0o777)  # nginx's workers run as `nobody` when started as root
        conf = run / "nginx.conf"
        conf.write_text(self.nginx_conf(), encoding="utf-8")
        log = (self.dir / "logs" / "nginx.log").open("ab")
        process = subprocess.Popen([NGINX, "-p", str(run.resolve()), "-c", str(conf.resolve()), "-g", "daemon off;"],
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.nginx = Service("nginx", self.port, self.dir / "logs" / "nginx.log", process)
        _wait_http(f"{self.url}/health", seconds=20, process=process, what="nginx")


class _Adopted:
    """A process started by a script that printed its PID (scripts/nlu_server.sh): enough of Popen for _stop_group."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            self.returncode = -9
            return self.returncode
        # A zombie (killed, not yet reaped by its parent shell) counts as gone.
        try:
            state = Path(f"/proc/{self.pid}/stat").read_text().split()[2]
        except OSError:
            return -9
        return -9 if state == "Z" else None

    def wait(self, timeout: float | None = None) -> int:
        deadline = time.monotonic() + (timeout or 1e9)
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.1)
        return self.returncode or 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", type=int, default=2)
    parser.add_argument("--nlus", type=int, default=2)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--pg-port", type=int, default=55440)
    parser.add_argument("--dir", type=Path, default=ROOT / "data" / "scale")
    args = parser.parse_args(argv)
    layout = Layout(dir=args.dir, apps=args.apps, nlus=args.nlus, port=args.port, pg_port=args.pg_port,
                    log_level="INFO")
    stop = {"now": False}

    def on_signal(signum, _frame):
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    print(f"Starting PostgreSQL, {args.nlus} Rasa servers (about 30 s each), {args.apps} app processes and nginx...",
          flush=True)
    with layout:
        print(f"Serving through nginx on {layout.url}/  (web chat {layout.url}/, inbox {layout.url}/inbox, "
              f"health {layout.url}/health)", flush=True)
        for s in layout.app_services + layout.nlu_services:
            print(f"  {s.name}: {s.url}  log {s.log}", flush=True)
        print("Ctrl-C stops everything.", flush=True)
        try:
            while not stop["now"]:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        print("Stopping...", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
