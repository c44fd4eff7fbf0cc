"""Anonymous statistics for support groups: where abuse concentrates, in counts only.

Three views, each over whole ISO weeks (Monday to Sunday, Japan time, UTC+9):

* **conversations** — distinct conversations per topic × prefecture × language × week, from the inbound
  messages whose intent is a topic (`knowledge.intents.TOPICS`). A conversation's prefecture is the latest
  canonical prefecture any of its messages carries in `meta["prefecture"]` (any other value: "unknown"); its
  language is `Conversation.lang`. One conversation asking about the same topic twice in a week counts once.
* **handoffs** — handoffs per reason × outcome × week of the request. A handoff that has no outcome yet is
  counted under "still_open" (waiting or claimed), "returned_to_bot", or "no_outcome" (closed without one).
* **waiting** — the median minutes from the request to the claim by a volunteer, over the claimed handoffs
  requested in the period, overall and per language (of the handoff).

Nothing else leaves this module: no message text, no conversation, handoff or channel user id, no names.
Only the columns the counts need are selected (never `Message.text`); `meta` is read, for the prefecture, in
Python (its JSON access differs between SQLite and PostgreSQL).

Period: `from` is moved back to the Monday of its week and `to` on to the Sunday of its week, so a cell is
always a whole week (a cell never depends on the dates asked for, which would let two periods a day apart be
subtracted to get one day's count). Default: the 12 weeks up to and including the current one.

Small cells and totals (the same on the page, in the CSV and in the JSON):

1. A count under 5 is shown as "<5" (`SMALL`). Cells with no one in them are not listed.
2. The tables list cells only. The totals are in the charts and the JSON (`by_topic`, `by_reason`, the
   waiting `overall`), each a true total, e.g. distinct conversations of a topic over the period.
3. A total under 5 is "<5". A total of 5 or more is shown only if, for every way its parts can be seen —
   the cells of the table, the per-language subtotals (what the language filter shows), the per-week
   subtotals (what a shorter period shows) — the number of hidden parts is not exactly one; otherwise it is
   "withheld" (`WITHHELD`): with exactly one hidden part, the total minus the shown parts would give it back.
   With none hidden nothing is to protect; with two or more, the difference is only a sum of small cells.
   There is no grand total over topics or reasons (it would give back a withheld total).
4. A median over fewer than 5 handoffs is not shown: "<5 handoffs" (`FEW`). The overall median is shown
   whenever it has 5 or more handoffs (a median cannot be subtracted back).

The rule protects one page against subtraction; someone comparing many pages with different periods and
languages can still narrow some small cells down (to a sum of two or more of them at best for them).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.admin.common import AdminPage, render
from api.deps import CurrentAdmin, SessionDep
from bot.models import (
    Conversation, Direction, Handoff, HandoffOutcome, HandoffReason, KeptConversationStat, KeptHandoffStat, Message,
)
from bot.retention import JST, UNKNOWN, parse_weeks, stat_lang, stat_outcome, stat_reason, waited_minutes, week_of
from knowledge import prefectures
from knowledge.intents import LANGUAGES, TOPICS

router = APIRouter(tags=["admin"], include_in_schema=False)

THRESHOLD = 5
SMALL = "<5"
WITHHELD = "withheld"
FEW = "<5 handoffs"
DEFAULT_WEEKS = 12
VIEWS = ("conversations", "handoffs", "waiting")

Shown = int | str


# ------------------------------------------------------------------------------------------ the rule
def cell(count: int) -> Shown:
    """A cell as shown: the count, or "<5"."""
    return SMALL if count < THRESHOLD else count


def total(count: int, *partitions: Iterable[int]) -> Shown:
    """A total as shown: "<5" under 5; "withheld" when any way of splitting it has exactly one hidden part."""
    if count < THRESHOLD:
        return SMALL
    for parts in partitions:
        if sum(1 for part in parts if 0 < part < THRESHOLD) == 1:
            return WITHHELD
    return count


def median_shown(minutes: list[float]) -> float | str:
    return round(statistics.median(minutes), 1) if len(minutes) >= THRESHOLD else FEW


# ------------------------------------------------------------------------------------------ the period
def monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


@dataclass(frozen=True)
class Period:
    """Whole weeks, Monday `start` to Sunday `end` (Japan time), and the language asked for (None: all)."""

    start: dt.date
    end: dt.date
    lang: str | None = None

    @classmethod
    def of(cls, today: dt.date, start: dt.date | None = None, end: dt.date | None = None,
           lang: str | None = None) -> Period:
        end = end or today
        start = start or monday(end) - dt.timedelta(weeks=DEFAULT_WEEKS - 1)
        if start > end:
            raise ValueError("`from` is after `to`")
        return cls(start=monday(start), end=monday(end) + dt.timedelta(days=6), lang=lang)

    @property
    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """[start, end) in UTC."""
        first = dt.datetime.combine(self.start, dt.time(), tzinfo=JST)
        after = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), tzinfo=JST)
        return first.astimezone(dt.UTC), after.astimezone(dt.UTC)

    def query(self) -> dict[str, str]:
        query = {"from": self.start.isoformat(), "to": self.end.isoformat()}
        return {**query, "lang": self.lang} if self.lang else query


def _date(value: str | None, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise HTTPException(status_code=422, detail=f"`{name}` must be a date (YYYY-MM-DD)") from None


def period_of(request: Request, start: str | None = Query(default=None, alias="from"),
              end: str | None = Query(default=None, alias="to"), lang: str | None = None) -> Period:
    """The filters: `from`, `to` (dates; default the last 12 weeks up to the engine's today), `lang`."""
    if lang and lang not in LANGUAGES:
        raise HTTPException(status_code=422, detail=f"`lang` must be one of {', '.join(LANGUAGES)}")
    try:
        return Period.of(request.app.state.services.engine.today(), _date(start, "from"), _date(end, "to"),
                         lang or None)
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None


PeriodDep = Depends(period_of)


# ------------------------------------------------------------------------------------------ raw counts
_lang = stat_lang


def conversation_cells(session: Session, period: Period) -> dict[tuple[dt.date, str, str, str], set[int]]:
    """(week, topic, prefecture, language) → the conversation ids in it (kept here: never shown)."""
    first, after = period.bounds
    where = [Message.direction == Direction.inbound, Message.intent.in_(TOPICS),
             Message.created_at >= first, Message.created_at < after]
    if period.lang:
        where.append(Conversation.lang == period.lang)
    rows = session.execute(
        select(Message.conversation_id, Message.intent, Message.created_at, Conversation.lang)
        .join(Conversation, Conversation.id == Message.conversation_id).where(*where)
    ).all()
    kept, anonymous = _kept_conversations(session, period)
    cells: dict[tuple[dt.date, str, str, str], set[int]] = defaultdict(set)
    if rows or kept:
        asked = {row.conversation_id for row in rows} | {k[0] for k in kept}
        known = set(prefectures.names())
        # The prefecture of the messages retention deleted, unless a later message names another.
        prefecture: dict[int, str] = dict(session.execute(
            select(KeptConversationStat.conversation_id, KeptConversationStat.prefecture)
            .where(KeptConversationStat.conversation_id.in_(asked), KeptConversationStat.topic.is_(None),
                   KeptConversationStat.prefecture.is_not(None))).all())
        for conversation_id, meta in session.execute(
            select(Message.conversation_id, Message.meta)
            .where(Message.conversation_id.in_(asked), Message.meta.is_not(None))
            .order_by(Message.created_at, Message.id)
        ):
            named = meta.get("prefecture") if isinstance(meta, dict) else None
            if named in known:
                prefecture[conversation_id] = named  # the latest wins
        for conversation_id, intent, created_at, lang in rows:
            key = (week_of(created_at), intent, prefecture.get(conversation_id, UNKNOWN), _lang(lang))
            cells[key].add(conversation_id)
        for conversation_id, topic, week, lang in kept:
            cells[(week, topic, prefecture.get(conversation_id, UNKNOWN), _lang(lang))].add(conversation_id)
    # Conversations retention deleted: no ids are kept, so each one counted gets a stand-in (negative, never a
    # real id) shared by the weeks of its row, and a distinct count over several weeks stays distinct.
    stand_in = 0
    for topic, prefecture_name, lang, weeks, count in anonymous:
        members = set(range(stand_in - count, stand_in))
        stand_in -= count
        for week in weeks:
            cells[(week, topic, prefecture_name or UNKNOWN, lang or UNKNOWN)] |= members
    return dict(cells)


def _kept_conversations(session: Session, period: Period):
    """The counts retention kept for the period (bot/retention.py): (conversation id, topic, week, language) of
    the deleted messages of conversations still there, and (topic, prefecture, language, weeks, count) of the
    conversations deleted, each restricted to the weeks of the period."""
    def within(weeks: str) -> list[dt.date]:
        return [w for w in parse_weeks(weeks) if period.start <= w <= period.end]

    where = [KeptConversationStat.topic.in_(TOPICS)]
    attached = select(KeptConversationStat.conversation_id, KeptConversationStat.topic, KeptConversationStat.weeks,
                      Conversation.lang).join(Conversation, Conversation.id == KeptConversationStat.conversation_id)
    if period.lang:
        attached = attached.where(Conversation.lang == period.lang)
    kept = [(conversation_id, topic, week, lang)
            for conversation_id, topic, weeks, lang in session.execute(attached.where(*where))
            for week in within(weeks)]
    detached = select(KeptConversationStat.topic, KeptConversationStat.prefecture, KeptConversationStat.lang,
                      KeptConversationStat.weeks, KeptConversationStat.conversations).where(
        KeptConversationStat.conversation_id.is_(None), *where)
    if period.lang:
        detached = detached.where(KeptConversationStat.lang == period.lang)
    anonymous = [(topic, prefecture, lang, weeks_in, count)
                 for topic, prefecture, lang, weeks, count in session.execute(detached)
                 if (weeks_in := within(weeks))]
    return kept, anonymous


@dataclass(frozen=True)
class HandoffRow:
    week: dt.date
    reason: str
    outcome: str
    lang: str
    waited: float | None  # minutes from request to claim; None: never claimed


_outcome = stat_outcome


def handoff_rows(session: Session, period: Period) -> list[HandoffRow]:
    """The handoffs requested in the period, reduced to what the counts need."""
    first, after = period.bounds
    where = [Handoff.requested_at >= first, Handoff.requested_at < after]
    if period.lang:
        where.append(Handoff.lang == period.lang)
    rows = session.execute(
        select(Handoff.reason, Handoff.outcome, Handoff.status, Handoff.lang, Handoff.requested_at,
               Handoff.claimed_at).where(*where)
    ).all()
    live = [
        HandoffRow(week=week_of(requested), reason=stat_reason(reason), outcome=_outcome(outcome, status),
                   lang=_lang(lang), waited=waited_minutes(requested, claimed))
        for reason, outcome, status, lang, requested, claimed in rows
    ]
    # Handoffs of conversations retention deleted: kept as these very keys, with how many had them.
    kept_where = [KeptHandoffStat.week >= period.start, KeptHandoffStat.week <= period.end]
    if period.lang:
        kept_where.append(KeptHandoffStat.lang == period.lang)
    kept = session.execute(select(KeptHandoffStat.week, KeptHandoffStat.reason, KeptHandoffStat.outcome,
                                  KeptHandoffStat.lang, KeptHandoffStat.waited_minutes, KeptHandoffStat.handoffs)
                           .where(*kept_where)).all()
    return live + [HandoffRow(week=week, reason=reason, outcome=outcome, lang=lang, waited=waited)
                   for week, reason, outcome, lang, waited, count in kept for _ in range(count)]


# ------------------------------------------------------------------------------------------ the report
def _rank(value: str, order: tuple[str, ...]) -> tuple[int, str]:
    """Known values in their order, then the rest ("unknown", "other") alphabetically."""
    return (order.index(value), "") if value in order else (len(order), value)


def _order(values: Iterable[str], order: tuple[str, ...]) -> list[str]:
    return sorted(set(values), key=lambda v: _rank(v, order))


def _union(sets: Iterable[set[int]]) -> set[int]:
    out: set[int] = set()
    for s in sets:
        out |= s
    return out


def _split(keys: list[tuple], cells: dict[tuple, set[int]], index: int) -> list[int]:
    """Distinct members per value of `key[index]` (the subtotals a filter on that dimension shows)."""
    groups: dict[Any, list[set[int]]] = defaultdict(list)
    for key in keys:
        groups[key[index]].append(cells[key])
    return [len(_union(sets)) for sets in groups.values()]


def report(session: Session, period: Period) -> dict[str, Any]:
    """Every number of the three views, the small-cell rule applied (what the page, CSV and JSON show)."""
    conversations = conversation_cells(session, period)
    pref_rank = {p.name: p.code for p in prefectures.all_prefectures()}
    conv_keys = sorted(conversations, key=lambda k: (k[0], TOPICS.index(k[1]), pref_rank.get(k[2], 99),
                                                     _rank(k[3], LANGUAGES)))
    by_topic = []
    for topic in TOPICS:
        keys = [k for k in conv_keys if k[1] == topic]
        if keys:
            count = len(_union(conversations[k] for k in keys))
            shown = total(count, [len(conversations[k]) for k in keys], _split(keys, conversations, 3),
                          _split(keys, conversations, 0))
            by_topic.append({"topic": topic, "conversations": shown})

    handoffs = handoff_rows(session, period)
    counts: dict[tuple[dt.date, str, str], int] = defaultdict(int)
    for h in handoffs:
        counts[(h.week, h.reason, h.outcome)] += 1
    reasons = _order((h.reason for h in handoffs), tuple(HandoffReason))
    outcomes = tuple(HandoffOutcome) + ("still_open", "returned_to_bot", "no_outcome")
    hand_keys = sorted(counts, key=lambda k: (k[0], reasons.index(k[1]), _rank(k[2], outcomes)))
    by_reason = []
    for reason in reasons:
        mine = [h for h in handoffs if h.reason == reason]
        by_lang: dict[str, int] = defaultdict(int)
        by_week: dict[dt.date, int] = defaultdict(int)
        for h in mine:
            by_lang[h.lang] += 1
            by_week[h.week] += 1
        shown = total(len(mine), [counts[k] for k in hand_keys if k[1] == reason], by_lang.values(),
                      by_week.values())
        by_reason.append({"reason": reason, "handoffs": shown})

    claimed = [h for h in handoffs if h.waited is not None]
    waits: dict[str, list[float]] = defaultdict(list)
    week_counts: dict[dt.date, int] = defaultdict(int)
    for h in claimed:
        waits[h.lang].append(h.waited)
        week_counts[h.week] += 1
    by_language = [{"lang": lang, "handoffs": cell(len(waits[lang])), "median_minutes": median_shown(waits[lang])}
                   for lang in _order(waits, LANGUAGES)]
    overall = {"handoffs": total(len(claimed), [len(w) for w in waits.values()], week_counts.values()),
               "median_minutes": median_shown([h.waited for h in claimed])}

    return {
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat(), "lang": period.lang,
                   "timezone": "Asia/Tokyo (UTC+9)", "weeks_start_on": "Monday"},
        "small_cell": {"threshold": THRESHOLD, "shown_as": SMALL, "withheld_total": WITHHELD, "few_handoffs": FEW},
        "conversations": {
            "cells": [{"week": w.isoformat(), "topic": t, "prefecture": p, "lang": lang,
                       "conversations": cell(len(conversations[(w, t, p, lang)]))} for w, t, p, lang in conv_keys],
            "by_topic": by_topic,
        },
        "handoffs": {
            "cells": [{"week": w.isoformat(), "reason": r, "outcome": o, "handoffs": cell(counts[(w, r, o)])}
                      for w, r, o in hand_keys],
            "by_reason": by_reason,
        },
        "waiting": {"overall": overall, "by_language": by_language},
    }


# ------------------------------------------------------------------------------------------ chart, CSV
CHART_LABEL = 160  # px for the labels
CHART_BARS = 260  # px for the longest bar
CHART_ROW = 22
STUB = 6  # px: every "<5" bar is this long, whatever the count


def bar_chart(title: str, items: list[tuple[str, Shown | float]], unit: str = "") -> dict[str, Any]:
    """Geometry of a horizontal bar chart (drawn as SVG by the template). A hidden value gets a bar of fixed
    length ("<5") or none ("withheld", "<5 handoffs"): the drawing never tells more than the label."""
    numbers = [v for _, v in items if not isinstance(v, str)]
    top = max(numbers, default=0) or 1
    bars = []
    for i, (label, value) in enumerate(items):
        if not isinstance(value, str):
            width = max(2, round(value / top * CHART_BARS))
            text = f"{value:g}{unit}"
        else:
            width, text = (STUB if value == SMALL else 0), value
        bars.append({"label": label.replace("_", " "), "value": text, "width": width, "y": i * CHART_ROW,
                     "hidden": isinstance(value, str)})
    return {"title": title, "bars": bars, "label_width": CHART_LABEL, "width": CHART_LABEL + CHART_BARS + 90,
            "height": max(1, len(bars)) * CHART_ROW + 4}


def csv_rows(data: dict[str, Any], view: str) -> list[list[Any]]:
    if view == "conversations":
        return [["week", "topic", "prefecture", "language", "conversations"]] + [
            [c["week"], c["topic"], c["prefecture"], c["lang"], c["conversations"]]
            for c in data["conversations"]["cells"]]
    if view == "handoffs":
        return [["week", "reason", "outcome", "handoffs"]] + [
            [c["week"], c["reason"], c["outcome"], c["handoffs"]] for c in data["handoffs"]["cells"]]
    waiting = data["waiting"]
    return [["language", "claimed_handoffs", "median_minutes_to_claim"],
            ["all", waiting["overall"]["handoffs"], waiting["overall"]["median_minutes"]]] + [
        [w["lang"], w["handoffs"], w["median_minutes"]] for w in waiting["by_language"]]


def _csv(rows: list[list[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


# ------------------------------------------------------------------------------------------ routes
@router.get("/admin/stats", response_class=HTMLResponse)
def stats_page(request: Request, admin: AdminPage, session: SessionDep, period: Period = PeriodDep) -> HTMLResponse:
    data = report(session, period)
    conv, hand, wait = data["conversations"], data["handoffs"], data["waiting"]
    charts = {
        "conversations": bar_chart("Conversations per topic, over every prefecture, language and week shown",
                                   [(t["topic"], t["conversations"]) for t in conv["by_topic"]]),
        "handoffs": bar_chart("Handoffs per reason, over every outcome and week shown",
                              [(r["reason"], r["handoffs"]) for r in hand["by_reason"]]),
        "waiting": bar_chart("Median minutes from the request to the claim",
                             [("all languages", wait["overall"]["median_minutes"])]
                             + [(w["lang"], w["median_minutes"]) for w in wait["by_language"]], unit=" min"),
    }
    query = urlencode(period.query())
    return render(request, "admin/stats.html", account=admin, stats=data, charts=charts, period=period,
                  languages=LANGUAGES, query=query, views=VIEWS)


@router.get("/admin/stats.csv")
def stats_csv(admin: AdminPage, session: SessionDep, period: Period = PeriodDep,
              view: str = Query(default="conversations", pattern="^(conversations|handoffs|waiting)$")) -> Response:
    body = _csv(csv_rows(report(session, period), view))
    name = "-".join(["stats", view, *period.query().values()]) + ".csv"
    return Response(content=body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@router.get("/api/admin/stats")
def stats_json(admin: CurrentAdmin, session: SessionDep, response: Response,
               period: Period = PeriodDep) -> dict[str, Any]:
    response.headers["Cache-Control"] = "no-store"
    return report(session, period)
