"""`python -m api`: serve the app (migrating the database first with --migrate)."""

from __future__ import annotations

import argparse
import logging
import sys

from pydantic import ValidationError


def _settings_error(exc: ValidationError) -> str:
    lines = ["Invalid configuration:"]
    for err in exc.errors():
        name = "_".join(str(p) for p in err["loc"]).upper()
        lines.append(f"  {name}: {err['msg']}. Set it in the environment or in .env (see README, Configuration).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api")
    parser.add_argument("--migrate", action="store_true", help="apply pending migrations and seed first")
    args = parser.parse_args(argv)

    from api.config import ApiSettings
    from bot.config import BotSettings
    from knowledge.config import KnowledgeSettings

    try:
        settings = ApiSettings()
        knowledge_settings = KnowledgeSettings()
        bot_settings = BotSettings()
    except ValidationError as exc:
        print(_settings_error(exc), file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    from knowledge.schema import SchemaBehind, upgrade

    if args.migrate:
        upgrade(knowledge_settings.database_url)
        from knowledge.db import make_engine, make_session_factory, session_scope
        from knowledge.loader import seed

        engine = make_engine(knowledge_settings.database_url)
        with session_scope(make_session_factory(engine)) as session:
            seed(session)
        engine.dispose()

    import uvicorn

    from api.main import create_app

    try:
        app = create_app(settings, knowledge_settings, bot_settings)
    except SchemaBehind as exc:
        print(str(exc), file=sys.stderr)
        return 3
    except ValueError as exc:  # inconsistent channel settings
        print(f"Invalid configuration: {exc}", file=sys.stderr)
        return 2
    base = f"http://{settings.host}:{settings.port}"
    print(f"Web chat:  {base}/", flush=True)
    print(f"Knowledge: {base}/api/topics   Health: {base}/health   NLU: {bot_settings.nlu_url}", flush=True)
    print(
        f"Telegram:  webhook {base}/channels/telegram/webhook"
        if bot_settings.telegram_enabled
        else "Telegram:  off (set TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET to enable; "
        "`python -m bot telegram-polling` for local polling)",
        flush=True,
    )
    print(
        f"Zalo:      webhook {base}/channels/zalo/webhook"
        if bot_settings.zalo_enabled
        else "Zalo:      off (set ZALO_APP_ID, ZALO_OA_SECRET_KEY and the ZALO_* tokens to enable)",
        flush=True,
    )
    print(f"Serving on {base}/", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower())
    return 0


if __name__ == "__main__":
    sys.exit(main())
