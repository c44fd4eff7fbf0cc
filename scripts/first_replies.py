"""The first reply of every topic, in every language, as each channel shows it: lengths, or the texts.

    .venv/bin/python scripts/first_replies.py            # a table of lengths (characters) per language
    .venv/bin/python scripts/first_replies.py --show vi  # the Vietnamese replies as a trainee sees them

A throw-away SQLite database with the seed content; the clock is fixed (a Tuesday, 14:00 in Japan), so the
contacts chosen are the same every run. The limits are knowledge.limits.FIRST_REPLY_LIMITS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy.orm import sessionmaker  # noqa: E402

from bot import first_reply  # noqa: E402
from bot.first_reply import CHANNELS, rendered  # noqa: E402
from knowledge.db import make_engine, session_scope  # noqa: E402
from knowledge.intents import LANGUAGES  # noqa: E402
from knowledge.limits import FIRST_REPLY_LIMITS  # noqa: E402
from knowledge.loader import seed  # noqa: E402
from knowledge.schema import upgrade  # noqa: E402

AT = dt.datetime(2026, 12, 1, 5, 0, tzinfo=dt.UTC)  # Tuesday 14:00 in Japan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--show", metavar="LANG", help="print the replies of this language")
    parser.add_argument("--channel", default="telegram", choices=CHANNELS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/first.db"
        upgrade(url)
        engine = make_engine(url)
        with session_scope(sessionmaker(bind=engine)) as session:
            seed(session)
            cases = first_reply.cases(session, AT)
            if args.show:
                for name, replies in cases[args.show].items():
                    print(f"=== {name} ({len(rendered(replies, args.channel))} characters on {args.channel})")
                    print(rendered(replies, args.channel))
                    print()
                return 0
            print(f"{'language':<9}{'limit':>6}{'median':>8}{'longest':>9}  longest reply (channel)")
            over = 0
            for lang in LANGUAGES:
                sizes = [(len(rendered(replies, channel)), name, channel)
                         for name, replies in cases[lang].items() for channel in CHANNELS]
                lengths = sorted(size for size, _, _ in sizes)
                worst = max(sizes)
                over += sum(1 for size, _, _ in sizes if size > FIRST_REPLY_LIMITS[lang])
                print(f"{lang:<9}{FIRST_REPLY_LIMITS[lang]:>6}{lengths[len(lengths) // 2]:>8}{worst[0]:>9}"
                      f"  {worst[1]} ({worst[2]})")
            print(f"\n{len(cases[LANGUAGES[0]])} replies x {len(LANGUAGES)} languages x {len(CHANNELS)} channels;"
                  f" over the limit: {over}")
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
