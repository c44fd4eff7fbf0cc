"""`python -m bot telegram-polling`: run the Telegram bot with getUpdates, for local use without a public URL.

Polling and a webhook exclude each other: starting to poll deletes the bot's webhook registration
(PTB's `start_polling` calls deleteWebhook). Re-register it by restarting the API with TELEGRAM_WEBHOOK_URL.
"""

from __future__ import annotations

import argparse
import asyncio
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
    from bot import langdetect
    from bot.channels.telegram import ALLOWED_UPDATES, build_application
    from bot.runtime import open_runtime
    from knowledge.schema import SchemaBehind

    logging.getLogger().setLevel(args.log_level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # at INFO it logs Bot API URLs, which hold the token
    try:
        runtime = open_runtime(database_url=args.database_url, nlu_url=args.nlu_url)
    except SchemaBehind as exc:
        print(exc, file=sys.stderr)
        return 2
    settings = runtime.settings
    if not settings.telegram_enabled or not settings.telegram_bot_token.get_secret_value().strip():
        print("TELEGRAM_BOT_TOKEN is not set: put the token from @BotFather in the environment or .env", file=sys.stderr)
        runtime.database.dispose()
        return 2
    application = build_application(settings, runtime.engine, polling=True)
    langdetect.warm_up()
    stop = asyncio.Event()

    async def start_worker(app) -> None:  # the outbox worker: retries of what could not be processed or sent
        app.bot_data["worker"] = asyncio.create_task(runtime.engine.run_worker(stop=stop))

    async def close(app) -> None:
        stop.set()
        await app.bot_data["worker"]
        await runtime.aclose()

    application.post_init = start_worker
    application.post_shutdown = close
    print("Polling Telegram; Ctrl-C stops.", file=sys.stderr, flush=True)
    application.run_polling(allowed_updates=ALLOWED_UPDATES)
    return 0
