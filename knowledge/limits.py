"""How long a topic's first reply may be, per language: the whole first message a trainee sees (title, answer,
the number to call, the source line, and on Zalo the numbered buttons), so that it fits on one phone screen.
Japanese carries about twice the meaning per character."""

from __future__ import annotations

FIRST_REPLY_LIMITS: dict[str, int] = {"vi": 500, "id": 500, "tl": 500, "en": 500, "ja": 250}

#: The part of the limit an entry's `answer` may use: the rest is for the title, the contact line, the source
#: line and Zalo's buttons (the admin editor warns above it; tests check the whole reply).
ANSWER_LIMITS: dict[str, int] = {"vi": 300, "id": 300, "tl": 300, "en": 300, "ja": 130}
