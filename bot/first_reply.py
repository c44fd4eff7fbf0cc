"""What a trainee sees first: every topic's first reply (and the wage, emergency, handoff and fallback replies)
as each channel renders it. Used by the first-reply length test and `scripts/first_replies.py`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy.orm import Session

from bot import messages, replies
from bot.channels import zalo
from bot.i18n import t
from bot.schemas import Reply
from knowledge.intents import LANGUAGES, TOPICS

CHANNELS = ("telegram", "zalo", "web")


def rendered(items: list[Reply], channel: str) -> str:
    """The replies' text as the channel shows it: Telegram and the web chat show the title above the text (the
    buttons are keys), Zalo shows the buttons as a numbered list under it."""
    if channel == "zalo":
        return "\n\n".join(zalo.render(items))
    return "\n\n".join(f"{r.title}\n{r.text}" if r.title else r.text for r in items)


def cases(session: Session, at: dt.datetime) -> dict[str, dict[str, list[Reply]]]:
    """{lang: {case name: the replies}}: every topic with an entry, the minimum wage of a prefecture, a pay below
    and one above it, the emergency reply, the handoff and the fallback."""
    today = at.date()
    found: dict[str, dict[str, list[Reply]]] = {}
    for lang in LANGUAGES:
        own: dict[str, list[Reply]] = {}
        for topic in TOPICS:
            if topic in ("emergency", "talk_to_human"):
                continue  # answered by the emergency reply and the handoff
            reply = replies.topic(session, lang, topic, at=at)
            if reply is not None:
                own[f"topic:{topic}"] = [reply]
        rate = replies.minimum_wage(session, lang, "Aichi", today)
        if rate is not None:
            own["minimum_wage:Aichi"] = [rate]
        for name, amount, period in (("below", "900", "hour"), ("above", "1500", "hour"),
                                     ("below-monthly", "150000", "month")):
            slots = {"amount": Decimal(amount), "period": period, "prefecture": "Aichi"}
            verdict = replies.wage_verdict(session, lang, slots, today, at=at)
            if verdict is not None:
                own[f"wage_check:{name}"] = [verdict]
        own["emergency"] = replies.emergency(session, lang, at=at)
        own["handoff"] = [replies.handoff_started(session, lang, at=at)]
        own["fallback"] = [Reply(t(lang, messages.CLARIFY), replies.clarify_buttons(lang, None))]
        found[lang] = own
    return found
