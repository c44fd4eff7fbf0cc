"""Simulated trainees and volunteers against a running system (one app, or nginx in front of several), and the
check afterwards that nothing was lost. Used by the scale and fault tests (tests/scale/) and by
bench/load_bench.py.

Trainees write in their language on three channels, over real HTTP with real payload shapes:
  * web chat: the page opens (`GET /channels/web/history` gives the trainee's cookie), then
    `POST /channels/web/messages` with that cookie and a `client_message_id`; the replies
    come in the response; after asking for a person the trainee listens on `/channels/web/events`;
  * Telegram: a real `Update` (text, or a `callback_query` for the "talk to a person" button) with the webhook
    secret; the trainee waits until the loopback Bot API (tests/utils/telegram_api.FakeBotApi) got a reply to
    its chat before writing again;
  * Zalo: a signed `user_send_text` event (tests/utils/zalo_api); waits for a send at the loopback Zalo API.
A delivery that fails (a non-2xx, a refused connection) is delivered again with the same id, as Telegram and
Zalo do, until it is accepted or `redeliver_s` has passed. Each trainee has its own address (X-Forwarded-For,
passed on by the loopback nginx of scripts/scale.py) as trainees on their own phones would.

Volunteers sign in (`POST /auth/token`), take waiting handoffs (`/api/handoffs?status=waiting`, claim), write
one reply in the trainee's language and close the handoff.

`reconcile` reads the database afterwards: every delivery stored once, processed once, answered (or handed to a
volunteer), every reply and volunteer message sent, nothing pending.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections import Counter
from http.cookiejar import DefaultCookiePolicy
from dataclasses import dataclass, field

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.models import Direction, Handoff, Message, MessageStatus
from knowledge.db import make_engine
from tests.utils.telegram_api import FakeBotApi
from tests.utils.zalo_api import ZaloCapture, event, signed

LANGS = ("vi", "id", "tl", "ja", "en")
#: What the app processes of a load run are configured with (loopback Bot API token, webhook secret), and the
#: volunteers' accounts (`add_volunteers`).
TOKEN = "123456:SCALE"
SECRET = "scale-webhook-secret"
VOLUNTEERS = [(f"vol{i}@example.org", f"load-test-password-{i}") for i in range(3)]
CHANNELS = ("web", "telegram", "zalo")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: What a volunteer writes back (any language would do: the trainee's is used).
VOLUNTEER_REPLY = {
    "vi": "Chào bạn, mình là tình nguyện viên. Bạn đang ở tỉnh nào?",
    "id": "Halo, saya relawan. Kamu tinggal di prefektur mana?",
    "tl": "Hello, volunteer ako. Saang prefecture ka nakatira?",
    "ja": "こんにちは。ボランティアです。どの県に住んでいますか？",
    "en": "Hello, I'm a volunteer. Which prefecture do you live in?",
}
#: Telegram update ids, unique in this process across runs (a repeated id is a redelivery, answered once).
_UPDATE_IDS = itertools.count(700_000_000)
#: Sentences trainees write, per language (plain text, no annotations): questions of the bot's topics.
DEFAULT_MESSAGES = {
    "vi": ["công ty giữ hộ chiếu của tôi", "lương tối thiểu ở Aichi là bao nhiêu", "tôi muốn đổi công ty",
           "công ty trừ tiền phạt vào lương", "lương 150000 yên một tháng có thấp không", "xin chào"],
    "id": ["paspor saya ditahan perusahaan", "berapa upah minimum di Osaka", "saya mau pindah perusahaan",
           "gaji saya dipotong denda", "halo"],
    "tl": ["kinuha ng kompanya ang passport ko", "magkano ang minimum wage sa Tokyo", "gusto kong lumipat ng kompanya",
           "may multa sa sahod ko", "kumusta"],
    "ja": ["会社にパスポートを取られました", "愛知県の最低賃金はいくらですか", "会社を変えたいです", "給料から罰金を引かれました",
           "こんにちは"],
    "en": ["my company took my passport", "what is the minimum wage in Aichi", "can I change my employer",
           "my boss fines me from my salary", "hello"],
}


class _KeepNoCookies(DefaultCookiePolicy):
    """A cookie policy that stores no cookie."""

    def set_ok(self, cookie, request) -> bool:
        return False


@dataclass
class Delivery:
    """One message a trainee sent: which channel, how long the accepting POST took, how many tries."""

    channel: str
    key: str
    started: float
    latency_ms: float | None = None
    ended: float | None = None
    attempts: int = 0
    statuses: list[int] = field(default_factory=list)
    answered: bool = False

    @property
    def accepted(self) -> bool:
        return self.latency_ms is not None


@dataclass
class Report:
    deliveries: list[Delivery] = field(default_factory=list)
    handoffs_claimed: int = 0
    volunteer_replies: int = 0
    wall_s: float = 0.0
    began: float = 0.0
    #: The steady part of the run: from the end of the ramp to the first trainee that finished.
    steady: tuple[float, float] | None = None
    errors: Counter = field(default_factory=Counter)

    def steady_rate(self) -> float | None:
        """Messages accepted per second while every trainee was writing (None without a steady part)."""
        if self.steady is None or self.steady[1] - self.steady[0] < 5:
            return None
        start, end = self.steady
        return sum(1 for d in self.deliveries if d.ended is not None and start <= d.ended < end) / (end - start)

    def latencies(self, channel: str | None = None) -> list[float]:
        return sorted(d.latency_ms for d in self.deliveries
                      if d.accepted and (channel is None or d.channel == channel))

    @staticmethod
    def percentile(values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        index = min(len(values) - 1, max(0, round(q / 100 * len(values) + 0.5) - 1))
        return values[index]

    def summary(self) -> dict:
        done = self.latencies()
        return {
            "messages": len(self.deliveries), "accepted": len(done),
            "retried": sum(1 for d in self.deliveries if d.attempts > 1),
            "throughput_per_s": len(done) / self.wall_s if self.wall_s else 0.0,
            "steady_per_s": self.steady_rate(),
            "p50_ms": self.percentile(done, 50), "p95_ms": self.percentile(done, 95),
            "p99_ms": self.percentile(done, 99),
            "handoffs_claimed": self.handoffs_claimed, "volunteer_replies": self.volunteer_replies,
            "errors": dict(self.errors),
        }


class Load:
    """Trainees and volunteers against `base_url` (nginx or one app)."""

    def __init__(self, base_url: str, *, bot_api: FakeBotApi | None, zalo: ZaloCapture | None,
                 telegram_secret: str | None, messages: dict[str, list[str]] | None = None, seed: int = 20261202,
                 redeliver_s: float = 90.0, delivery_timeout_s: float = 20.0, request_timeout_s: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.bot_api, self.zalo, self.telegram_secret = bot_api, zalo, telegram_secret
        self.messages = messages or DEFAULT_MESSAGES
        self.random = random.Random(seed)
        self.redeliver_s, self.delivery_timeout_s = redeliver_s, delivery_timeout_s
        self.report = Report()
        # No shared cookie jar: each web trainee keeps its own cookie (sent as a header). The client's jar keeps
        # nothing (httpx copies a jar handed to it into a default one, so the policy is set on the client's own):
        # a stored cookie would be sent with every trainee's first message, and make them all one trainee.
        self._client = httpx.AsyncClient(base_url=self.base_url, timeout=request_timeout_s,
                                         limits=httpx.Limits(max_connections=400, max_keepalive_connections=400))
        self._client.cookies.jar.set_policy(_KeepNoCookies())
        self._listeners: list[asyncio.Task] = []
        self._staff: list[asyncio.Task] = []
        #: Each web trainee's cookie header, for `look_at_pages`.
        self.web_cookies: list[dict[str, str]] = []
        #: What each page's stream got in `look_at_pages` (user id → status), for a failing test to show.
        self.pages: dict[str, object] = {}
        self.stop = asyncio.Event()

    async def aclose(self) -> None:
        for task in self._listeners:
            task.cancel()
        await asyncio.gather(*self._listeners, return_exceptions=True)
        await self._client.aclose()

    # ------------------------------------------------------------------ delivering, as channels do
    async def _deliver(self, delivery: Delivery, send) -> httpx.Response | None:
        """POST until accepted (2xx) or `redeliver_s` passed; 4xx other than 429 is final (a bug, not a fault)."""
        deadline = delivery.started + self.redeliver_s
        pause = 0.2
        while True:
            delivery.attempts += 1
            began = time.perf_counter()
            try:
                response = await send()
                delivery.statuses.append(response.status_code)
                if response.is_success:
                    delivery.ended = time.perf_counter()
                    delivery.latency_ms = (delivery.ended - began) * 1000
                    return response
                self.report.errors[f"{delivery.channel} {response.status_code}"] += 1
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    return None
            except httpx.HTTPError as exc:
                delivery.statuses.append(0)
                self.report.errors[f"{delivery.channel} {type(exc).__name__}"] += 1
            if time.perf_counter() > deadline:
                return None
            await asyncio.sleep(pause)
            pause = min(pause * 2, 3.0)

    async def _wait(self, count, before: int) -> bool:
        deadline = time.perf_counter() + self.delivery_timeout_s
        while time.perf_counter() < deadline:
            if count() > before:
                return True
            await asyncio.sleep(0.05)
        return False

    # ------------------------------------------------------------------ trainees
    def _text(self, lang: str) -> str:
        return self.random.choice(self.messages[lang])

    async def web_trainee(self, n: int, lang: str, messages: int, *, think_s: float, ask_person: bool) -> None:
        cookie: dict[str, str] = {}  # {"Cookie": "..."} once the app has set it
        address = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
        await self._open_page(cookie, address)
        for i in range(messages + (1 if ask_person else 0)):
            person = ask_person and i == messages
            body = ({"payload": "human", "lang": lang} if person else {"text": self._text(lang), "lang": lang})
            body["client_message_id"] = f"load-{n}-{i}"
            delivery = Delivery("web", body["client_message_id"], time.perf_counter())
            self.report.deliveries.append(delivery)

            async def send(body=body):
                response = await self._client.post("/channels/web/messages", json=body,
                                                   headers={"X-Forwarded-For": address, **cookie})
                set_cookie = response.headers.get("set-cookie")  # a browser keeps it from any response, 503 too
                if set_cookie:
                    cookie["Cookie"] = set_cookie.split(";", 1)[0]
                return response

            response = await self._deliver(delivery, send)
            if response is not None:
                delivery.answered = bool(response.json().get("replies")) or person
            await asyncio.sleep(think_s * self.random.uniform(0.5, 1.5))
        if cookie:
            self.web_cookies.append(cookie)
        if ask_person and cookie:
            self._listeners.append(asyncio.create_task(self._listen_web(cookie, address)))

    async def _open_page(self, cookie: dict[str, str], address: str) -> None:
        """The page opening, as chat.html does: its history request gets the trainee's identity (a cookie) before
        any message. Retried as a browser's reload would be, for up to `redeliver_s`."""
        response = await self._insist("GET", "/channels/web/history", seconds=self.redeliver_s, errors="web page",
                                      headers={"X-Forwarded-For": address})
        set_cookie = response.headers.get("set-cookie") if response is not None else None
        if set_cookie:
            cookie["Cookie"] = set_cookie.split(";", 1)[0]

    async def _listen_web(self, cookie: dict[str, str], address: str) -> None:
        """The web page after asking for a person: the volunteer's messages arrive on the event stream."""
        while not self.stop.is_set():
            try:
                async with self._client.stream("GET", "/channels/web/events", timeout=None,
                                               headers={"X-Forwarded-For": address, **cookie}) as response:
                    async for _line in response.aiter_lines():
                        if self.stop.is_set():
                            return
            except (httpx.HTTPError, asyncio.CancelledError):
                if self.stop.is_set():
                    return
                await asyncio.sleep(0.5)

    def _telegram_update(self, chat_id: int, text: str | None, *, lang: str, button: str | None = None) -> dict:
        user = {"id": chat_id, "is_bot": False, "first_name": "T", "language_code": lang}
        chat = {"id": chat_id, "first_name": "T", "type": "private"}
        update_id = next(_UPDATE_IDS)
        if button is not None:
            return {"update_id": update_id, "callback_query": {
                "id": str(update_id), "from": user, "chat_instance": str(chat_id), "data": button,
                "message": {"message_id": 1, "date": int(time.time()), "chat": chat, "text": "…",
                            "from": {"id": 123456789, "is_bot": True, "first_name": "RightsBot"}}}}
        return {"update_id": update_id, "message": {"message_id": update_id % 1_000_000, "from": user, "chat": chat,
                                                    "date": int(time.time()), "text": text}}

    async def telegram_trainee(self, n: int, lang: str, messages: int, *, think_s: float, ask_person: bool) -> None:
        chat_id = 5_000_000 + n
        address = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
        for i in range(messages + (1 if ask_person else 0)):
            person = ask_person and i == messages
            update = self._telegram_update(chat_id, None if person else self._text(lang), lang=lang,
                                           button="human" if person else None)
            delivery = Delivery("telegram", str(update["update_id"]), time.perf_counter())
            self.report.deliveries.append(delivery)
            before = len(self.bot_api.messages_to(chat_id))

            async def send(update=update):
                return await self._client.post("/channels/telegram/webhook", json=update,
                                               headers={SECRET_HEADER: self.telegram_secret,
                                                        "X-Forwarded-For": address})

            if await self._deliver(delivery, send) is not None:
                delivery.answered = await self._wait(lambda: len(self.bot_api.messages_to(chat_id)), before)
            await asyncio.sleep(think_s * self.random.uniform(0.5, 1.5))

    async def zalo_trainee(self, n: int, lang: str, messages: int, *, think_s: float, ask_person: bool) -> None:
        user_id = str(8_000_000_000 + n)
        for _ in range(messages):
            body = event("user_send_text", text=self._text(lang), user_id=user_id)
            raw, headers = signed(body)
            delivery = Delivery("zalo", body["message"]["msg_id"], time.perf_counter())
            self.report.deliveries.append(delivery)
            before = len(self.zalo.delivered(user_id))

            async def send(raw=raw, headers=headers):
                return await self._client.post("/channels/zalo/webhook", content=raw, headers=headers)

            if await self._deliver(delivery, send) is not None:
                delivery.answered = await self._wait(lambda: len(self.zalo.delivered(user_id)), before)
            await asyncio.sleep(think_s * self.random.uniform(0.5, 1.5))

    def channel_of(self, n: int) -> str:
        available = [c for c in CHANNELS if c == "web" or (c == "telegram" and self.bot_api) or
                     (c == "zalo" and self.zalo)]
        return available[n % len(available)]

    async def trainee(self, n: int, messages: int, *, think_s: float = 0.0, ask_person: bool = False) -> None:
        lang = LANGS[n % len(LANGS)]
        channel = self.channel_of(n)
        run = {"web": self.web_trainee, "telegram": self.telegram_trainee, "zalo": self.zalo_trainee}[channel]
        await run(n, lang, messages, think_s=think_s, ask_person=ask_person and channel != "zalo")

    # ------------------------------------------------------------------ volunteers
    async def volunteer(self, email: str, password: str) -> None:
        """Sign in, then take waiting handoffs one at a time: claim, reply, close; until `stop`."""
        token = None
        while token is None and not self.stop.is_set():
            try:
                response = await self._client.post("/auth/token", json={"email": email, "password": password})
                if response.status_code == 200:
                    token = response.json()["access_token"]
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
        auth = {"Authorization": f"Bearer {token}"}
        while not self.stop.is_set():
            try:
                waiting = await self._client.get("/api/handoffs", params={"status": "waiting"}, headers=auth)
                items = waiting.json().get("data", []) if waiting.status_code == 200 else []
                if not items:
                    await asyncio.sleep(0.3)
                    continue
                handoff = self.random.choice(items)
                claimed = await self._client.post(f"/api/handoffs/{handoff['id']}/claim", headers=auth)
                if claimed.status_code != 200:
                    continue  # another volunteer was faster
                self.report.handoffs_claimed += 1
                lang = handoff.get("lang") or "en"
                # Once claimed, the volunteer sees it through, as a person would: a failed press (a 5xx, a refused
                # connection while a process or the database restarts) is pressed again.
                sent = await self._insist("POST", f"/api/handoffs/{handoff['id']}/messages", headers=auth,
                                          json={"text": VOLUNTEER_REPLY.get(lang, VOLUNTEER_REPLY["en"])})
                if sent is not None and sent.status_code in (200, 201):
                    self.report.volunteer_replies += 1
                await self._insist("POST", f"/api/handoffs/{handoff['id']}/close", headers=auth,
                                   json={"outcome": "information_given"})
            except httpx.HTTPError:
                await asyncio.sleep(0.5)

    async def _insist(self, method: str, url: str, *, seconds: float = 60.0, errors: str | None = None,
                      **kwargs) -> httpx.Response | None:
        """The request until it gets an answer that is not a server error (or `seconds` pass). `errors`: count each
        failed try in the report under this label."""
        deadline = time.perf_counter() + seconds
        while True:
            try:
                response = await self._client.request(method, url, **kwargs)
                if response.status_code < 500:
                    return response
                failure = str(response.status_code)
            except httpx.HTTPError as exc:
                failure = type(exc).__name__
            if errors:
                self.report.errors[f"{errors} {failure}"] += 1
            if time.perf_counter() > deadline:
                return None
            await asyncio.sleep(0.5)

    # ------------------------------------------------------------------ a whole run
    async def run(self, *, trainees: int, messages: int, ramp_s: float = 0.0, think_s: float = 0.0,
                  person_every: int = 10, volunteers: list[tuple[str, str]] = (), during=None) -> Report:
        """`trainees` at once (started evenly over `ramp_s`), each `messages` messages; every `person_every`-th
        also asks for a person. `during`: a coroutine run alongside (a fault to inject)."""
        began = time.perf_counter()
        self._staff = [asyncio.create_task(self.volunteer(e, p)) for e, p in volunteers]

        finished: list[float] = []

        async def start(n: int):
            if ramp_s:
                await asyncio.sleep(ramp_s * n / trainees)
            await self.trainee(n, messages, think_s=think_s, ask_person=person_every > 0 and n % person_every == 0)
            finished.append(time.perf_counter())

        jobs = [asyncio.create_task(start(n)) for n in range(trainees)]
        extra = [asyncio.create_task(during)] if during is not None else []
        await asyncio.gather(*jobs, *extra)
        self.report.began = began
        self.report.wall_s = time.perf_counter() - began
        if finished and min(finished) > began + ramp_s:
            self.report.steady = (began + ramp_s, min(finished))
        return self.report

    async def look_at_pages(self, seconds: float = 3.0) -> None:
        """Every web trainee's page, still open, listens on its event stream for `seconds` (as chat.html does):
        replies the worker wrote after the trainee's last message returned (e.g. around a database restart)
        reach the page there."""
        async def page(cookie: dict[str, str]) -> None:
            user = cookie.get("Cookie", "").split("=", 1)[-1].rsplit(".", 1)[0]
            try:
                async with self._client.stream("GET", "/channels/web/events", headers=cookie,
                                               timeout=seconds + 10) as response:
                    self.pages[user] = response.status_code
                    async for _line in response.aiter_lines():
                        if _line.startswith("data:"):
                            self.pages[user] = f"{response.status_code} +data"
            except httpx.HTTPError as exc:
                self.pages[user] = type(exc).__name__

        async def bounded(cookie: dict[str, str]) -> None:
            try:
                await asyncio.wait_for(page(cookie), seconds)
            except asyncio.TimeoutError:
                pass

        await asyncio.gather(*(bounded(cookie) for cookie in self.web_cookies))

    async def settle(self, database_url: str, *, seconds: float = 60.0, since: int = 0) -> dict:
        """Wait until every message is processed and no handoff waits (volunteers keep working), let the volunteers
        finish the handoff in hand, then wait until nothing is left to send (twice in a row); then stop."""
        deadline = time.perf_counter() + seconds
        state: dict[str, int] = {}
        while time.perf_counter() < deadline:
            state = await asyncio.to_thread(backlog, database_url, since)
            if not state["unprocessed"] and not state["waiting_handoffs"]:
                break
            await asyncio.sleep(0.5)
        self.stop.set()
        await asyncio.gather(*self._staff, return_exceptions=True)
        quiet = 0
        while time.perf_counter() < deadline and quiet < 2:
            await asyncio.sleep(0.5)
            state = await asyncio.to_thread(backlog, database_url, since)
            quiet = quiet + 1 if not any(state.values()) else 0
        return state


def add_volunteers(database_url: str) -> None:
    """The VOLUNTEERS' accounts (every language, room for many chats), made in the database directly."""
    from api.accounts import service as accounts
    from knowledge.db import make_engine, make_session_factory, session_scope

    database = make_engine(database_url)
    try:
        with session_scope(make_session_factory(database)) as session:
            for email, password in VOLUNTEERS:
                accounts.create(session=session, email=email, password=password, role="volunteer",
                                languages=["vi", "id", "tl", "ja", "en"], name=email.split("@")[0], capacity=50)
    finally:
        database.dispose()


def backlog(database_url: str, since: int = 0) -> dict[str, int]:
    database = make_engine(database_url)
    try:
        with Session(database) as session:
            def count(*where) -> int:
                return session.scalar(select(func.count()).select_from(Message).where(*where)) or 0

            return {
                "unprocessed": count(Message.direction == Direction.inbound,
                                     Message.status.in_([MessageStatus.received, "held"]), Message.id > since),
                "unsent": count(Message.direction == Direction.outbound, Message.id > since,
                                Message.status.in_([MessageStatus.pending, MessageStatus.failed])),
                "waiting_handoffs": session.scalar(select(func.count()).select_from(Handoff)
                                                   .where(Handoff.status == "waiting")) or 0,
            }
    finally:
        database.dispose()


@dataclass(frozen=True)
class Baseline:
    """Where a run starts: rows and channel calls before it are not its own."""

    message_id: int = 0
    telegram_calls: int = 0
    zalo_calls: int = 0


def baseline(database_url: str, *, bot_api: FakeBotApi | None = None, zalo: ZaloCapture | None = None) -> Baseline:
    database = make_engine(database_url)
    try:
        with Session(database) as session:
            last = session.scalar(select(func.max(Message.id))) or 0
    finally:
        database.dispose()
    return Baseline(last, len(bot_api.calls) if bot_api else 0, len(zalo.calls) if zalo else 0)


def reconcile(database_url: str, report: Report, *, bot_api: FakeBotApi | None = None,
              zalo: ZaloCapture | None = None, since: Baseline = Baseline(),
              duplicates: list[str] | None = None) -> list[str]:
    """What was lost or doubled since `since`; an empty list when every message was stored once and answered once.

    `duplicates`: when given, replies delivered more than once are listed there instead of as problems (a send
    that reached the channel while the database could not record it is sent again: at least once, never lost)."""
    problems: list[str] = []
    doubles = duplicates if duplicates is not None else problems
    database = make_engine(database_url)
    try:
        with Session(database) as session:
            inbound = list(session.execute(
                select(Message.id, Message.channel, Message.channel_message_id, Message.status)
                .where(Message.direction == Direction.inbound, Message.id > since.message_id)))
            keys = Counter((row.channel, row.channel_message_id) for row in inbound)
            doubled = [k for k, n in keys.items() if n > 1]
            if doubled:
                problems.append(f"{len(doubled)} deliveries stored more than once, e.g. {doubled[:3]}")
            for d in report.deliveries:
                if not d.accepted:
                    problems.append(f"{d.channel} {d.key} never accepted (statuses {d.statuses[-5:]})")
            stored = {(row.channel, row.channel_message_id.split(":", 1)[1] if row.channel == "web"
                       else row.channel_message_id) for row in inbound if row.channel_message_id}
            missing = [d for d in report.deliveries if d.accepted and (d.channel, d.key) not in stored]
            if missing:
                problems.append(f"{len(missing)} accepted deliveries not stored, e.g. {[d.key for d in missing[:3]]}")
            unprocessed = [row.id for row in inbound if row.status != MessageStatus.processed]
            if unprocessed:
                problems.append(f"{len(unprocessed)} inbound messages not processed "
                                f"({Counter((r.channel, r.status) for r in inbound if r.status != MessageStatus.processed)})")
            outbound = list(session.execute(
                select(Message.id, Message.channel, Message.conversation_id, Message.reply_to_id, Message.status,
                       Message.volunteer_id).where(Message.direction == Direction.outbound,
                                                   Message.id > since.message_id)))
            unsent = Counter(f"{row.channel} {row.status}{' (volunteer)' if row.volunteer_id else ''}"
                             for row in outbound if row.status != MessageStatus.sent)
            if unsent:
                problems.append(f"replies not sent: {dict(unsent)}")
                from bot.models import Conversation

                waiting = [row for row in outbound if row.status != MessageStatus.sent and row.channel == "web"]
                users = dict(session.execute(select(Conversation.id, Conversation.channel_user_id).where(
                    Conversation.id.in_({row.conversation_id for row in waiting}))).all())
                print("web replies left:", [(row.id, row.conversation_id, users.get(row.conversation_id),
                                             row.reply_to_id) for row in waiting])
            answered = {row.reply_to_id for row in outbound if row.reply_to_id is not None}
            in_handoff = set(session.scalars(select(Handoff.conversation_id)))
            silent = [row.id for row in inbound if row.id not in answered]
            if silent:
                # A message written while a volunteer holds the chat is for the volunteer (no bot reply).
                conv_of = dict(session.execute(select(Message.id, Message.conversation_id)
                                               .where(Message.id.in_(silent))).all())
                unanswered = [i for i in silent if conv_of.get(i) not in in_handoff]
                if unanswered:
                    problems.append(f"{len(unanswered)} inbound messages without a reply, e.g. {unanswered[:5]}")
            if bot_api is not None:
                sent_db = Counter(session.scalars(
                    select(Message.conversation_id).where(Message.direction == Direction.outbound,
                                                          Message.channel == "telegram",
                                                          Message.status == MessageStatus.sent,
                                                          Message.id > since.message_id)))
                from bot.models import Conversation

                chats = dict(session.execute(select(Conversation.id, Conversation.channel_user_id)
                                             .where(Conversation.channel == "telegram")).all())
                delivered = Counter(str(c.params.get("chat_id")) for c in bot_api.calls[since.telegram_calls:]
                                    if c.method == "sendMessage" and c.status == 200)
                for conversation_id, n in sent_db.items():
                    got = delivered.get(str(chats.get(conversation_id)), 0)
                    if got != n:
                        (doubles if got > n else problems).append(
                            f"telegram chat of conversation {conversation_id}: {n} replies sent, {got} delivered")
            if zalo is not None:
                sent_db = session.scalar(select(func.count()).select_from(Message).where(
                    Message.direction == Direction.outbound, Message.channel == "zalo",
                    Message.status == MessageStatus.sent, Message.id > since.message_id)) or 0
                got = sum(1 for c in zalo.calls[since.zalo_calls:]
                          if c.path == "/v3.0/oa/message/cs" and c.answer.get("error") == 0)
                if got != sent_db:
                    (doubles if got > sent_db else problems).append(f"zalo: {sent_db} replies sent, {got} delivered")
    finally:
        database.dispose()
    return problems


def as_json(report: Report) -> str:
    return json.dumps(report.summary(), ensure_ascii=False, indent=2)
