"""A strict checker of the subset of HTML Telegram accepts in `parse_mode=HTML` (channels.md B4), stricter than the
loopback Bot API's: only the tags our bot may send, balanced, and every `<`, `>` and `&` outside them escaped."""

from __future__ import annotations

import html
import re

#: The tags (and the one attribute) a message may carry.
TAGS = {"b": (), "i": (), "u": (), "s": (), "a": ("href",), "code": (), "pre": (), "tg-spoiler": (), "blockquote": ()}
_TAG = re.compile(r'<(/?)([a-z-]+)((?:\s+[a-z-]+="[^"<>]*")*)\s*>')
_ATTRIBUTE = re.compile(r'\s+([a-z-]+)="[^"<>]*"')
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")


class InvalidTelegramHtml(ValueError):
    """Telegram would answer 400 "can't parse entities" (or show markup the bot never meant)."""


def shown_text(text: str) -> str:
    """What Telegram displays for `text` in HTML mode; raises InvalidTelegramHtml where it would refuse it."""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "<":
            match = _TAG.match(text, i)
            if not match or match.group(2) not in TAGS:
                raise InvalidTelegramHtml(f"unsupported or unescaped '<' at {i}: {text[i:i + 30]!r}")
            closing, name, attributes = match.groups()
            names = _ATTRIBUTE.findall(attributes)
            if closing and names or any(a not in TAGS[name] for a in names):
                raise InvalidTelegramHtml(f"attribute not allowed at {i}: {match.group(0)!r}")
            if closing:
                if not stack or stack.pop() != name:
                    raise InvalidTelegramHtml(f"unmatched end tag at {i}: {match.group(0)!r}")
            else:
                stack.append(name)
            i = match.end()
        elif char == "&":
            match = _ENTITY.match(text, i)
            if not match:
                raise InvalidTelegramHtml(f"bare '&' at {i}: {text[i:i + 12]!r}")
            out.append(html.unescape(match.group(0)))
            i = match.end()
        elif char == ">":
            raise InvalidTelegramHtml(f"unescaped '>' at {i}")
        else:
            out.append(char)
            i += 1
    if stack:
        raise InvalidTelegramHtml(f"unclosed tags: {stack}")
    return "".join(out)
