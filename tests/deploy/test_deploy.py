"""deploy/: the operator's files are complete, and the tools that read them accept them and do what they say.

- every setting of every BaseSettings class of the app is in deploy/README.md's environment reference (with its
  real default) and in deploy/env.example, and env.example as shipped is refused in production;
- nginx accepts the site, and the site really forwards, redirects, caps bodies, streams and retries as documented;
- systemd-analyze accepts the units;
- a backup restores into a fresh database with the same rows; a non-empty target is refused without --force.
"""

from __future__ import annotations

import ast
import http.client
import importlib
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
APP_PACKAGES = ("api", "bot", "knowledge")
NGINX = Path("/usr/sbin/nginx")
#: Variables env.example may set that are not app settings (read by uvicorn).
OTHER_VARIABLES = {"FORWARDED_ALLOW_IPS"}


# ---------------------------------------------------------------------------------------------- the settings
def _base_names(node: ast.ClassDef) -> set[str]:
    names = set()
    for base in node.bases:
        if isinstance(base, ast.Name):
            names.add(base.id)
        elif isinstance(base, ast.Attribute):
            names.add(base.attr)
    return names


def settings_classes() -> list[type[BaseSettings]]:
    """Every BaseSettings subclass defined in the app's packages: found in the source, then imported."""
    found: list[type[BaseSettings]] = []
    for package in APP_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and "BaseSettings" in _base_names(node):
                    module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
                    found.append(getattr(module, node.name))
    subclasses = list(found)
    while subclasses:  # and classes derived from those
        for sub in subclasses.pop().__subclasses__():
            if sub.__module__.split(".")[0] in APP_PACKAGES and sub not in found:
                found.append(sub)
                subclasses.append(sub)
    return found


def setting_variables() -> dict[str, tuple[type[BaseSettings], str]]:
    """Environment variable name → (class, field name), as pydantic-settings reads them."""
    variables = {}
    for cls in settings_classes():
        prefix = cls.model_config.get("env_prefix", "")
        for name, field in cls.model_fields.items():
            alias = field.validation_alias
            variable = alias if isinstance(alias, str) else prefix + name
            variables[variable.upper()] = (cls, name)
    return variables


def environment_reference() -> list[list[dict[str, str]]]:
    """The tables of deploy/README.md's "Environment reference" section: per row, variable → default cell."""
    text = (DEPLOY / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Environment reference\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, 'deploy/README.md has no "## Environment reference" section'
    tables: list[list[dict[str, str]]] = []
    in_table = False
    for line in match.group(1).splitlines():
        if not line.startswith("|"):
            in_table = False
            continue
        if not in_table:
            tables.append([])
            in_table = True
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        for variable in re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0]):
            tables[-1].append({"variable": variable, "default": cells[1] if len(cells) > 1 else ""})
    return [t for t in tables if t]


def env_example_lines() -> list[tuple[str, str, bool]]:
    """(name, value, active) of every NAME=value line of deploy/env.example, commented out (# NAME=…) or not."""
    lines = []
    for raw in (DEPLOY / "env.example").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$", raw)
        if match:
            lines.append((match.group(2), match.group(3), match.group(1) is None))
    return lines


def test_settings_classes_are_found():
    names = {cls.__name__ for cls in settings_classes()}
    assert {"ApiSettings", "BotSettings", "KnowledgeSettings"} <= names
    assert {"DATABASE_URL", "APP_PORT", "NLU_URL", "TELEGRAM_BOT_TOKEN"} <= set(setting_variables())


def test_every_setting_is_in_the_environment_reference():
    documented = {row["variable"] for table in environment_reference() for row in table}
    missing = sorted(set(setting_variables()) - documented)
    assert not missing, f"settings missing from deploy/README.md, Environment reference: {missing}"


def test_the_settings_table_has_no_setting_the_app_does_not_read():
    settings_table = environment_reference()[0]
    stale = sorted({row["variable"] for row in settings_table} - set(setting_variables()))
    assert not stale, f"deploy/README.md documents settings the app does not read: {stale}"


def _documented_default(cell: str) -> str | None:
    if cell.strip().lower().startswith("unset"):
        return None
    match = re.search(r"`([^`]*)`", cell)
    assert match, f"default cell without a `value`: {cell!r}"
    return match.group(1).replace("<checkout>", str(ROOT))


def test_documented_defaults_are_the_code_defaults():
    rows = {row["variable"]: row["default"] for row in environment_reference()[0]}
    wrong = []
    for variable, (cls, name) in setting_variables().items():
        default = cls.model_fields[name].default
        documented = _documented_default(rows[variable])
        if default is None:
            ok = documented is None
        elif isinstance(default, bool):
            ok = documented is not None and documented.lower() == str(default).lower()
        elif isinstance(default, (int, float)):
            ok = documented is not None and float(documented) == float(default)
        else:
            ok = documented == str(default)
        if not ok:
            wrong.append(f"{variable}: code {default!r}, README {rows[variable]!r}")
    assert not wrong, "deploy/README.md states other defaults than the code:\n" + "\n".join(wrong)


def test_every_setting_is_in_env_example():
    names = [name for name, _, _ in env_example_lines()]
    missing = sorted(set(setting_variables()) - set(names))
    assert not missing, f"settings missing from deploy/env.example: {missing}"
    unknown = sorted(set(names) - set(setting_variables()) - OTHER_VARIABLES)
    assert not unknown, f"deploy/env.example sets variables nothing reads: {unknown}"
    repeated = sorted({n for n in names if names.count(n) > 1})
    assert not repeated, f"deploy/env.example names these more than once: {repeated}"


def test_env_example_values_are_plain_for_systemd():
    # systemd's EnvironmentFile= keeps quotes and trailing comments as part of a value; python-dotenv drops them.
    for name, value, active in env_example_lines():
        if active:
            assert re.fullmatch(r"[^\s\"'#]+", value), f"{name}={value!r}: use a plain value, no quotes or comments"


def _load_settings(env_file: Path, monkeypatch):
    from api.config import ApiSettings
    from bot.config import BotSettings
    from knowledge.config import KnowledgeSettings

    for variable in setting_variables():
        monkeypatch.delenv(variable, raising=False)
    return (ApiSettings(_env_file=env_file), BotSettings(_env_file=env_file), KnowledgeSettings(_env_file=env_file))


def _filled(text: str, **values: str) -> str:
    """env.example with each active CHANGE_ME replaced: by `values[name]`, else by a random secret."""
    out = []
    for line in text.splitlines():
        name = line.split("=", 1)[0]
        if not line.startswith("#") and "CHANGE_ME" in line:
            line = line.replace("CHANGE_ME", values.get(name, secrets.token_urlsafe(24)))
        out.append(line)
    return "\n".join(out) + "\n"


def test_env_example_as_shipped_is_refused_in_production(tmp_path, monkeypatch):
    from cryptography.fernet import Fernet

    from api.main import enforce_production_secrets

    with pytest.raises(ValidationError, match="data_key"):  # APP_DATA_KEY=CHANGE_ME is no Fernet key
        _load_settings(DEPLOY / "env.example", monkeypatch)
    only_the_key = tmp_path / "env"
    text = (DEPLOY / "env.example").read_text(encoding="utf-8")
    only_the_key.write_text(text.replace("APP_DATA_KEY=CHANGE_ME", f"APP_DATA_KEY={Fernet.generate_key().decode()}"))
    api_settings, bot_settings, _ = _load_settings(only_the_key, monkeypatch)
    assert api_settings.env == "production"
    with pytest.raises(ValueError, match="APP_SECRET_KEY"):
        enforce_production_secrets(api_settings, bot_settings)


def test_env_example_filled_in_starts_in_production(tmp_path, monkeypatch):
    from cryptography.fernet import Fernet

    from api.main import enforce_production_secrets

    env = tmp_path / "env"
    env.write_text(_filled((DEPLOY / "env.example").read_text(encoding="utf-8"),
                           APP_DATA_KEY=Fernet.generate_key().decode()))
    api_settings, bot_settings, knowledge_settings = _load_settings(env, monkeypatch)
    enforce_production_secrets(api_settings, bot_settings)
    assert knowledge_settings.database_url.startswith("postgresql+psycopg://trainee_rights:")
    assert len(bot_settings.nlu_url.split(",")) == 2


# ---------------------------------------------------------------------------------------------- nginx
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _nginx_site(tmp: Path, *, https_port: int, http_port: int, upstreams: list[str]) -> Path:
    """The production site with a throw-away certificate, logs in tmp, loopback ports and the given upstreams."""
    if not NGINX.exists():
        pytest.skip("/usr/sbin/nginx is missing (scripts/ensure_nginx.sh installs Debian's nginx)")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=help.example.org", "-keyout", str(tmp / "key.pem"), "-out", str(tmp / "cert.pem")],
                   check=True, capture_output=True)
    site = (DEPLOY / "nginx" / "trainee-rights.conf").read_text(encoding="utf-8")
    site, n_cert = re.subn(r"ssl_certificate\s+\S+;", f"ssl_certificate {tmp / 'cert.pem'};", site)
    site, n_key = re.subn(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {tmp / 'key.pem'};", site)
    assert n_cert == n_key == 1, "the site should name one certificate and one key"
    site = site.replace("/var/log/nginx/", f"{tmp}/")
    site = re.sub(r"listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;", site)
    site = re.sub(r"listen 80;", f"listen 127.0.0.1:{http_port};", site)
    site = re.sub(r"\n\s*listen \[::\]:\d+[^;]*;", "", site)
    servers = "".join(f"    server {u} max_fails=0;\n" for u in upstreams)
    site = re.sub(r"(upstream trainee_rights_app \{\n)(?:\s*server [^\n]*\n)+", lambda m: m.group(1) + servers, site)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / "temp" / sub).mkdir(parents=True, exist_ok=True)
    (tmp / "site.conf").write_text(site, encoding="utf-8")
    conf = tmp / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {tmp}/temp/body;
    proxy_temp_path {tmp}/temp/proxy;
    fastcgi_temp_path {tmp}/temp/fastcgi;
    uwsgi_temp_path {tmp}/temp/uwsgi;
    scgi_temp_path {tmp}/temp/scgi;
    include {tmp}/site.conf;
}}
""", encoding="utf-8")
    return conf


def test_nginx_accepts_the_site(tmp_path):
    conf = _nginx_site(tmp_path, https_port=443, http_port=80, upstreams=["127.0.0.1:8101", "127.0.0.1:8102"])
    done = subprocess.run([str(NGINX), "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


class _Upstream(ThreadingHTTPServer):
    """A stand-in app process: records each request's path and headers; `drop` closes every connection unanswered."""

    daemon_threads = True

    def __init__(self, *, drop: bool = False):
        self.drop = drop
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.stream_read = threading.Event()
        self.stream_ended_early = False
        super().__init__(("127.0.0.1", 0), _UpstreamHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _UpstreamHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def _handle(self) -> None:
        server: _Upstream = self.server  # type: ignore[assignment]
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if server.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        server.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        if self.path.endswith("/stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            event = b"data: first\n\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
            # The stream stays open until the client has read the first event: only an unbuffered proxy lets it.
            server.stream_ended_early = not server.stream_read.wait(15)
            self.wfile.write(b"0\r\n\r\n")
            return
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _handle


@pytest.fixture
def site(tmp_path):
    """nginx with the production site in front of a live stand-in app and one that drops every request."""
    live, dropping = _Upstream(), _Upstream(drop=True)
    https_port, http_port = _free_port(), _free_port()
    conf = _nginx_site(tmp_path, https_port=https_port, http_port=http_port,
                       upstreams=[dropping.address, live.address])
    nginx = subprocess.Popen([str(NGINX), "-p", str(tmp_path), "-c", str(conf), "-g", "daemon off;"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
                break
            except OSError:
                if nginx.poll() is not None:
                    pytest.fail(f"nginx did not start: {nginx.stderr.read().decode()}")
                time.sleep(0.05)
        yield {"https": https_port, "http": http_port, "live": live}
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        live.shutdown()
        dropping.shutdown()


def _https(port: int) -> http.client.HTTPSConnection:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=20)


def _request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = _https(port)
    conn.request(method, path, body=body, headers={"Host": "help.example.org", **(headers or {})})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response, data


def test_nginx_passes_the_real_client_and_scheme(site):
    response, _ = _request(site["https"], "GET", "/api/topics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.status == 200
    method, path, headers = site["live"].seen[-1]
    assert (method, path) == ("GET", "/api/topics")
    assert headers["x-forwarded-for"] == "127.0.0.1"  # the connecting address; the client's claim is dropped
    assert headers["x-forwarded-proto"] == "https"
    assert headers["host"] == "help.example.org"
    assert response.getheader("Strict-Transport-Security", "").startswith("max-age=")
    assert response.getheader("Server") == "nginx"  # no version


def test_nginx_redirects_http_to_https(site):
    conn = http.client.HTTPConnection("127.0.0.1", site["http"], timeout=10)
    conn.request("GET", "/inbox?x=1", headers={"Host": "help.example.org"})
    response = conn.getresponse()
    assert response.status == 301
    assert response.getheader("Location") == "https://help.example.org/inbox?x=1"


def test_nginx_refuses_bodies_over_a_megabyte(site):
    response, _ = _request(site["https"], "POST", "/channels/web/messages", body=b"x" * 1_100_000,
                           headers={"Content-Type": "application/json"})
    assert response.status == 413
    assert not any(path == "/channels/web/messages" for _, path, _ in site["live"].seen)


def test_nginx_resends_webhooks_but_not_other_posts(site):
    for n in range(4):  # round robin: half of them go to the dropping process first
        response, _ = _request(site["https"], "POST", "/channels/telegram/webhook", body=b'{"update_id": %d}' % n,
                               headers={"Content-Type": "application/json"})
        assert response.status == 200
    assert sum(path == "/channels/telegram/webhook" for _, path, _ in site["live"].seen) == 4
    statuses = [_request(site["https"], "POST", "/api/handoffs/abc/messages", body=b'{"text": "hi"}',
                         headers={"Content-Type": "application/json"})[0].status for _ in range(4)]
    assert 502 in statuses and 200 in statuses  # a volunteer's reply is never sent twice


def test_nginx_streams_events_unbuffered(site):
    conn = _https(site["https"])
    conn.request("GET", "/api/handoffs/stream", headers={"Host": "help.example.org", "Accept": "text/event-stream"})
    response = conn.getresponse()
    assert response.status == 200
    first = response.read1(64)
    while b"\n\n" not in first:
        first += response.read1(64)
    site["live"].stream_read.set()
    response.read()
    conn.close()
    assert first.startswith(b"data: first")
    assert not site["live"].stream_ended_early, "nginx held the first event back until the stream ended"


# ---------------------------------------------------------------------------------------------- systemd
UNITS = ["trainee-rights-app@.service", "trainee-rights-nlu@.service", "trainee-rights.target",
         "trainee-rights-migrate.service", "trainee-rights-retention.service", "trainee-rights-retention.timer",
         "trainee-rights-backup.service", "trainee-rights-backup.timer"]


def test_systemd_accepts_the_units(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    assert sorted(p.name for p in (DEPLOY / "systemd").iterdir()) == sorted(UNITS)
    names = []
    for unit in UNITS:
        # The checkout is /opt/trainee-rights in production; here, this one (verify checks that commands exist).
        text = (DEPLOY / "systemd" / unit).read_text(encoding="utf-8").replace("/opt/trainee-rights", str(ROOT))
        name = unit.replace("@.", "@8101." if "app" in unit else "@5101.")
        (tmp_path / name).write_text(text, encoding="utf-8")
        names.append(name)
    done = subprocess.run([analyze, "verify", "--man=no", *names], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "SYSTEMD_UNIT_PATH": f"{tmp_path}:"})
    problems = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 0 and not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------- backup, restore
def _table_counts(url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            tables = inspect(conn).get_table_names()
            return {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_backup_restores_the_same_rows(database_url, tmp_path):
    from sqlalchemy import create_engine, text

    from bot.models import Conversation
    from knowledge.db import make_engine, make_session_factory, session_scope

    source = make_engine(database_url)
    with session_scope(make_session_factory(source)) as session:
        session.add(Conversation(channel="web", channel_user_id="backup-check", lang="vi"))
    source.dispose()
    libpq_url = database_url.replace("postgresql+psycopg://", "postgresql://", 1)

    dumps = tmp_path / "dumps"
    made = []
    for _ in range(3):
        done = subprocess.run([str(DEPLOY / "backup.sh"), "--dir", str(dumps), "--keep", "2", database_url],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        made.append(Path(done.stdout.strip()))
    kept = sorted(dumps.iterdir())
    assert kept == made[1:], "the newest two dumps are kept, the oldest deleted"
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in kept)

    target = f"restored_{uuid.uuid4().hex[:10]}"
    admin = create_engine(libpq_url.replace("postgresql://", "postgresql+psycopg://", 1).rsplit("/", 1)[0]
                          + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{target}"'))
    target_url = libpq_url.rsplit("/", 1)[0] + "/" + target
    try:
        done = subprocess.run([str(DEPLOY / "restore.sh"), str(made[-1]), target_url], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        sqlalchemy_target = target_url.replace("postgresql://", "postgresql+psycopg://", 1)
        before, after = _table_counts(database_url), _table_counts(sqlalchemy_target)
        assert after == before
        assert before["conversation"] >= 1 and before["alembic_version"] == 1 and len(before) > 10
        check = create_engine(sqlalchemy_target)
        with check.connect() as conn:
            assert conn.execute(text("SELECT lang FROM conversation WHERE channel_user_id = 'backup-check'")
                                ).scalar_one() == "vi"
        check.dispose()

        # Again into the now non-empty database: refused, nothing changed; --force replaces it.
        done = subprocess.run([str(DEPLOY / "restore.sh"), str(made[-1]), target_url], capture_output=True, text=True)
        assert done.returncode == 1
        assert "not empty" in done.stderr
        assert _table_counts(sqlalchemy_target) == before
        done = subprocess.run([str(DEPLOY / "restore.sh"), "--force", str(made[-1]), target_url],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert _table_counts(sqlalchemy_target) == before
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)'))
        admin.dispose()


def test_restore_refuses_what_is_not_a_dump(tmp_path):
    bogus = tmp_path / "x.dump"
    bogus.write_text("not a dump")
    done = subprocess.run([str(DEPLOY / "restore.sh"), str(bogus), "postgresql://nobody@127.0.0.1:1/none"],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert "not a pg_dump custom-format file" in done.stderr
