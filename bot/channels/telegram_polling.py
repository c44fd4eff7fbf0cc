"""`python -m bot telegram-polling`: run the Telegram bot with getUpdates, for local use without a public URL.

Polling and a webhook exclude each other: starting to poll deletes the bot's webhook registration
(PTB's `start_polling` calls deleteWebhook). Re-register it by restarting the API with TELEGRAM_WEBHOOK_URL.
"""

from __future__ import annotations

import argparse
import logging
import sys

logger = logging.getLogger(__name__)


def add_parser(subparsers) -> None:
    """Register the `telegram-polling` subcommand."""
    parser = subparsers.add_parser(
        "telegram-polling", help="run the Telegram bot by polling (local use; removes the webhook)",
        description="Run the Telegram bot with getUpdates. Needs TELEGRAM_BOT_TOKEN; deletes the bot's webhook.",
    )
    parser.add_argument("--database-url", help="default: DATABASE_URL from the environment or .env")
    parser.add_argument("--nlu-url", help="default: NLU_URL from the environment or .env")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from api.dbcheck import SchemaBehind, ensure_current
    from bot import langdetect
    from bot.channels.telegram import ALLOWED_UPDATES, build_application
    from bot.config import BotSettings
    from bot.engine import Engine
    from bot.nlu_client import NluClient
    from knowledge.config import KnowledgeSettings
    from knowledge.db import make_engine, make_session_factory

    logging.getLogger().setLevel(args.log_level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # at INFO it logs Bot API URLs, which hold the token
    settings = BotSettings(nlu_url=args.nlu_url) if args.nlu_url else BotSettings()
    if not settings.telegram_enabled or not settings.telegram_bot_token.get_secret_value().strip():
        print("TELEGRAM_BOT_TOKEN is not set: put the token from @BotFather in the environment or .env", file=sys.stderr)
        return 2
    database_url = (KnowledgeSettings(database_url=args.database_url) if args.database_url
                    else KnowledgeSettings()).database_url
    db = make_engine(database_url)
    try:
        ensure_current(db)
    except SchemaBehind as exc:
        print(exc, file=sys.stderr)
        db.dispose()
        return 2
    nlu = NluClient(settings.nlu_url, timeout=settings.nlu_timeout)
    engine = Engine(session_factory=make_session_factory(db), nlu=nlu, settings=settings)
    application = build_application(settings, engine, polling=True)
    langdetect.warm_up()

    async def close(_application) -> None:
        await nlu.aclose()

    application.post_shutdown = close
    print("Polling Telegram; Ctrl-C stops.", file=sys.stderr, flush=True)
    try:
        application.run_polling(allowed_updates=ALLOWED_UPDATES)
    finally:
        db.dispose()
    return 0
