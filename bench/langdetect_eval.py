"""Measure the combined language detector (and lingua alone) per language on the held-out NLU test set.

Run: .venv/bin/python bench/langdetect_eval.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import langdetect  # noqa: E402
from scripts.nlu_eval import LANGS, load  # noqa: E402


def main() -> int:
    langdetect.warm_up()
    print(f"{'lang':<5}{'n':>5}{'lingua alone':>14}{'combined':>10}{'unsure':>8}{'wrong':>7}")
    started = time.perf_counter()
    total = 0
    for lang in LANGS:
        rows = load(lang)
        lingua_ok = combined_ok = unsure = wrong = 0
        for _, text, _ in rows:
            lingua = langdetect._lingua_probabilities(text)
            lingua_ok += max(lingua, key=lingua.get) == lang
            result = langdetect.detect(text)
            combined_ok += result.lang == lang
            unsure += result.lang is None
            wrong += result.lang not in (None, lang)
        total += len(rows)
        n = len(rows)
        print(f"{lang:<5}{n:>5}{lingua_ok / n:>14.3f}{combined_ok / n:>10.3f}{unsure / n:>8.3f}{wrong / n:>7.3f}")
    print(f"\n{total} messages in {time.perf_counter() - started:.1f} s "
          f"(no client language code, no history: the hardest case)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
