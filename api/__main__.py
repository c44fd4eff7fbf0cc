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


def users(argv: list[str]) -> int:
    """`python -m api users add EMAIL --role … --languages … --name … --password-stdin` and `users list`."""
    parser = argparse.ArgumentParser(prog="python -m api users")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="create a volunteer or admin account")
    add.add_argument("email")
    add.add_argument("--role", choices=["volunteer", "admin"], required=True)
    add.add_argument("--languages", required=True, help="comma-separated: vi,id,tl,ja,en")
    add.add_argument("--name", required=True, help="display name trainees see (never the email)")
    add.add_argument("--group", help="support group")
    add.add_argument("--capacity", type=int, default=3, help="chats at once (default 3)")
    add.add_argument("--password-stdin", action="store_true", required=True, help="read the password from stdin")
    sub.add_parser("list", help="list the accounts")
    args = parser.parse_args(argv)

    from api.accounts import service as accounts
    from knowledge.config import KnowledgeSettings
    from knowledge.db import make_engine, make_session_factory, session_scope
    from knowledge.schema import SchemaBehind, ensure_current

    database = make_engine(KnowledgeSettings().database_url)
    try:
        ensure_current(database)
    except SchemaBehind as exc:
        print(str(exc), file=sys.stderr)
        return 3
    factory = make_session_factory(database)
    try:
        if args.command == "list":
            with factory() as session:
                for a in accounts.list_accounts(session=session):
                    print(f"{a.id}\t{a.email}\t{a.role}\t{','.join(a.languages)}\t{a.display_name}\t"
                          f"{'active' if a.active else 'inactive'}")
            return 0
        password = sys.stdin.readline().rstrip("\n")
        try:
            with session_scope(factory) as session:
                account = accounts.create(session=session, email=args.email, password=password, role=args.role,
                                          languages=[x.strip() for x in args.languages.split(",") if x.strip()],
                                          name=args.name, group=args.group, capacity=args.capacity)
                accounts.audit(session=session, account=None, action="account.created", target=account.email)
        except accounts.AccountError as exc:
            print(f"Not created: {exc}", file=sys.stderr)
            return 2
        print(f"Created {args.role} {args.email.strip().lower()}")
        return 0
    finally:
        database.dispose()


def learning(argv: list[str]) -> int:
    """`python -m api learning export`: write the labelled examples of the learning queue into the NLU
    training data (`nlu/data/<lang>/reviewed.yml`, or APP_NLU_DATA_DIR); then `make nlu` retrains."""
    parser = argparse.ArgumentParser(prog="python -m api learning")
    parser.add_argument("command", choices=["export"])
    parser.parse_args(argv)

    from api.admin import learning as learning_queue
    from api.config import ApiSettings
    from knowledge.config import KnowledgeSettings
    from knowledge.db import make_engine, make_session_factory
    from knowledge.schema import SchemaBehind, ensure_current

    database = make_engine(KnowledgeSettings().database_url)
    try:
        ensure_current(database)
        with make_session_factory(database)() as session:
            written = learning_queue.export(session=session, data_dir=ApiSettings().nlu_data_dir)
    except SchemaBehind as exc:
        print(str(exc), file=sys.stderr)
        return 3
    finally:
        database.dispose()
    for lang, w in written.items():
        print(f"{lang}\t{w['examples']} examples\t{'changed' if w['changed'] else 'unchanged'}\t{w['path']}")
    if any(w["changed"] for w in written.values()):
        print("The training data changed: `make nlu` retrains, `make nlu-eval` records the evaluation.")
    return 0


def retention(argv: list[str]) -> int:
    """`python -m api retention run [--dry-run]`: delete the transcripts older than RETENTION_DAYS now (what the
    app's daily job does, under the same lease), or say what it would delete. Prints counts only."""
    parser = argparse.ArgumentParser(prog="python -m api retention")
    parser.add_argument("command", choices=["run"])
    parser.add_argument("--dry-run", action="store_true", help="count what would be deleted; delete nothing")
    args = parser.parse_args(argv)

    from bot import retention as job
    from bot.config import BotSettings
    from knowledge.config import KnowledgeSettings
    from knowledge.db import make_engine, make_session_factory
    from knowledge.schema import SchemaBehind, ensure_current

    try:
        bot_settings, knowledge_settings = BotSettings(), KnowledgeSettings()
    except ValidationError as exc:
        print(_settings_error(exc), file=sys.stderr)
        return 2
    database = make_engine(knowledge_settings.database_url)
    try:
        ensure_current(database)
        result = job.run_once(make_session_factory(database), days=bot_settings.retention_days,
                              batch=bot_settings.retention_batch, dry_run=args.dry_run)
    except SchemaBehind as exc:
        print(str(exc), file=sys.stderr)
        return 3
    finally:
        database.dispose()
    if result is None:
        print("Another process is running retention right now; try again later.", file=sys.stderr)
        return 1
    verb = "Would delete" if args.dry_run else "Deleted"
    print(f"{verb} {result.conversations} conversations, {result.messages} messages, {result.handoffs} handoffs, "
          f"{result.missed_messages} missed messages, {result.notes} notes, {result.events} inbox events "
          f"older than {bot_settings.retention_days} days (before {result.cutoff}).")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["users"]:
        return users(argv[1:])
    if argv[:1] == ["learning"]:
        return learning(argv[1:])
    if argv[:1] == ["retention"]:
        return retention(argv[1:])
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
    print(f"Inbox:     {base}/inbox   (accounts: python -m api users add EMAIL --role volunteer "
          "--languages vi --name NAME --password-stdin)", flush=True)
    print(f"Admin:     {base}/admin   (an account with --role admin)", flush=True)
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
