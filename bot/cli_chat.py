"""A terminal chat with the engine, for local use: `python -m bot chat --lang vi`.

Replies are printed as plain text, titles on their own line, buttons numbered: typing the number
presses the button. /quit (or Ctrl-D) ends the chat; other /commands go to the bot (/start, /language,
/human, /forget).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import TextIO

from bot.schemas import Button, Inbound, Kind, Outcome

CHANNEL = "cli"
QUIT = {"/quit", "/exit", "/q"}


def add_parser(subparsers) -> None:
    """Register the `chat` subcommand."""
    parser = subparsers.add_parser("chat", help="chat with the bot in the terminal",
                                   description="Chat with the bot in the terminal. Type a button's number to press it; "
                                               "/quit or Ctrl-D ends.")
    parser.add_argument("--lang", help="answer in this language (vi, id, tl, ja, en); default: detected")
    parser.add_argument("--user", help="the user id of this chat (default: cli-<login name>); "
                                       "the same id continues the same conversation")
    parser.add_argument("--database-url", help="default: DATABASE_URL from the environment or .env")
    parser.add_argument("--nlu-url", help="default: NLU_URL from the environment or .env")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(chat(args, sys.stdin, sys.stdout))
    except KeyboardInterrupt:
        print(file=sys.stdout)
        return 0


def _default_user() -> str:
    try:
        name = getpass.getuser()
    except Exception:  # no login name (some containers)
        name = "local"
    return "cli-" + ("".join(c for c in name if c.isalnum() or c in "_.-") or "local")


class _Printer:
    def __init__(self, out: TextIO):
        self.out = out
        self.bold = out.isatty()

    def outcome(self, outcome: Outcome) -> list[Button]:
        """Print the replies; returns the buttons in the order they were numbered."""
        buttons: list[Button] = []
        for reply in outcome.replies:
            if reply.title:
                self.out.write((f"\033[1m{reply.title}\033[0m" if self.bold else f"== {reply.title} ==") + "\n")
            self.out.write(reply.text + "\n")
            for button in reply.buttons:
                buttons.append(button)
                self.out.write(f"  [{len(buttons)}] {button.label}\n")
            self.out.write("\n")
        self.out.flush()
        return buttons


async def chat(args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    from bot.i18n import normalise_language
    from bot.runtime import open_runtime
    from knowledge.schema import SchemaBehind

    lang = None
    if args.lang:
        lang = normalise_language(args.lang)
        if lang is None:
            print(f"unknown language {args.lang!r}: use vi, id, tl, ja or en", file=sys.stderr)
            return 2
    try:
        runtime = open_runtime(database_url=args.database_url, nlu_url=args.nlu_url)
    except SchemaBehind as exc:
        print(exc, file=sys.stderr)
        return 2
    engine, nlu = runtime.engine, runtime.nlu
    user_id = args.user or _default_user()
    printer = _Printer(out)
    interactive = stdin.isatty()
    try:
        if not await nlu.healthy():
            print(f"(the NLU server at {runtime.settings.nlu_url} does not answer: free text will get the fallback menu; "
                  "start it with `make nlu-serve`)", file=sys.stderr)

        async def send(**fields) -> list[Button]:
            outcome = await engine.handle(Inbound(channel=CHANNEL, user_id=user_id, lang=lang, **fields),
                                          replied_inline=True)
            return printer.outcome(outcome)

        buttons = await send(kind=Kind.text, text="/start")
        while True:
            if interactive:
                out.write("> ")
                out.flush()
            line = stdin.readline()
            if not line:  # EOF (Ctrl-D)
                break
            text = line.strip()
            if not text:
                continue
            if text.lower() in QUIT:
                break
            if text.isdigit() and buttons:
                number = int(text)
                if 1 <= number <= len(buttons):
                    button = buttons[number - 1]
                    out.write(f"→ {button.label}\n")
                    buttons = await send(kind=Kind.button, payload=button.payload)
                    continue
            if not interactive:
                out.write(f"> {text}\n")  # a readable transcript when stdin is a file or a pipe
            buttons = await send(kind=Kind.text, text=text)
    finally:
        await runtime.aclose()
    return 0
