"""Command-line entry points of the bot: `python -m bot COMMAND ...` (`python -m bot -h` lists them)."""

from __future__ import annotations

import argparse
import logging
import sys

from bot import cli_chat
from bot.channels import telegram_polling


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="The trainee rights bot.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # Each subcommand registers itself and sets `handler` (a function of the parsed args -> exit code).
    cli_chat.add_parser(subparsers)
    telegram_polling.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return args.handler(args) or 0


if __name__ == "__main__":
    sys.exit(main())
