"""Evaluate the served NLU model on the held-out test set (nlu/tests/data/<lang>.yml).

Prints per-language intent accuracy and macro-F1, per-intent F1, the worst confusion pairs,
entity F1 and emergency recall; exits non-zero when a language's accuracy or the emergency
recall is under the thresholds. Talks to the Rasa server over HTTP only (POST /model/parse).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
TEST_DIR = ROOT / "nlu" / "tests" / "data"
LANGS = ("vi", "id", "tl", "ja", "en")
ANNOTATION = re.compile(r"\[(?P<text>[^\]]+)\](?:\((?P<entity>[^)]+)\)|(?P<json>\{[^}]+\}))")


def parse_example(line: str) -> tuple[str, list[tuple[str, int, int, str]]]:
    """Plain text and (entity, start, end, text) spans of an annotated Rasa example."""
    text, entities, pos, out = line, [], 0, []
    for m in ANNOTATION.finditer(text):
        out.append(text[pos : m.start()])
        start = sum(len(p) for p in out)
        value = m.group("text")
        if m.group("entity"):
            entity = m.group("entity").split(":")[0]
        else:
            entity = json.loads(m.group("json"))["entity"]
        out.append(value)
        entities.append((entity, start, start + len(value), value))
        pos = m.end()
    out.append(text[pos:])
    return "".join(out), entities


def load(lang: str) -> list[tuple[str, str, list]]:
    doc = yaml.safe_load((TEST_DIR / f"{lang}.yml").read_text(encoding="utf-8"))
    rows = []
    for block in doc["nlu"]:
        if "intent" not in block:
            continue
        for line in block["examples"].splitlines():
            line = line.strip()
            if line.startswith("- "):
                text, ents = parse_example(line[2:].strip())
                rows.append((block["intent"], text, ents))
    return rows


async def parse_all(url: str, texts: list[str], concurrency: int = 4) -> list[dict]:
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def one(text: str) -> dict:
            async with sem:
                response = await client.post("/model/parse", json={"text": text})
                response.raise_for_status()
                return response.json()

        return await asyncio.gather(*(one(t) for t in texts))


def f1(tp: int, fp: int, fn: int) -> float:
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def predicted_intent(result: dict) -> str:
    """The top intent; the FallbackClassifier's nlu_fallback counts as a miss (the bot would ask)."""
    return (result.get("intent") or {}).get("name") or "nlu_fallback"


def emergency_score(result: dict) -> float:
    return max((r["confidence"] for r in result.get("intent_ranking") or [] if r.get("name") == "emergency"), default=0.0)


#: Japanese written without kana or kanji: romaji, measured as its own row (it is where understanding is weakest).
JAPANESE_SCRIPT = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff66-\uff9f]")


def is_romaji(text: str) -> bool:
    return not JAPANESE_SCRIPT.search(text)


def evaluate(url: str, emergency_floor: float) -> dict:
    """Figures per language, and for the romaji part of the Japanese test set (`subsets`, not gated)."""
    report: dict = {"languages": {}, "subsets": {}, "emergency_floor": emergency_floor}
    for lang in LANGS:
        rows = load(lang)
        results = asyncio.run(parse_all(url, [r[1] for r in rows]))
        report["languages"][lang] = score(rows, results, emergency_floor)
        if lang == "ja":
            romaji = [(row, result) for row, result in zip(rows, results) if is_romaji(row[1])]
            if romaji:
                report["subsets"]["ja-romaji"] = score([r for r, _ in romaji], [p for _, p in romaji], emergency_floor)
    return report


def score(rows: list[tuple[str, str, list]], results: list[dict], emergency_floor: float) -> dict:
    gold = [r[0] for r in rows]
    pred = [predicted_intent(r) for r in results]
    intents = sorted(set(gold))
    per_intent = {}
    for intent in intents:
        tp = sum(g == p == intent for g, p in zip(gold, pred))
        fp = sum(p == intent and g != intent for g, p in zip(gold, pred))
        fn = sum(g == intent and p != intent for g, p in zip(gold, pred))
        per_intent[intent] = f1(tp, fp, fn)
    confusions = Counter((g, p) for g, p in zip(gold, pred) if g != p)
    etp = efp = efn = 0
    for (_, _, gold_ents), result in zip(rows, results):
        g = {(e, s, t) for e, s, t, _ in gold_ents}
        p = {(e["entity"], e["start"], e["end"]) for e in result.get("entities", []) if e.get("extractor") != "RegexEntityExtractor"}
        etp += len(g & p); efp += len(p - g); efn += len(g - p)
    # The bot's emergency decision: top intent, or the emergency score at/above the floor.
    flagged = [p == "emergency" or emergency_score(r) >= emergency_floor for p, r in zip(pred, results)]
    emergency = [f for g, f in zip(gold, flagged) if g == "emergency"]
    false_alarms = sum(f for g, f in zip(gold, flagged) if g != "emergency")
    return {
        "n": len(rows),
        "accuracy": sum(g == p for g, p in zip(gold, pred)) / len(rows),
        "macro_f1": sum(per_intent.values()) / len(per_intent),
        "per_intent_f1": per_intent,
        "confusions": confusions.most_common(5),
        "entity_f1": f1(etp, efp, efn),
        "emergency_recall": sum(emergency) / max(1, len(emergency)),
        "emergency_top_intent_recall": sum(p == "emergency" for g, p in zip(gold, pred) if g == "emergency") / max(1, len(emergency)),
        "emergency_false_alarm_rate": false_alarms / max(1, len(rows) - len(emergency)),
        "missed_emergency": [r[1] for r, f in zip(rows, flagged) if r[0] == "emergency" and not f],
    }


def print_report(report: dict) -> None:
    print(f"emergency = top intent, or emergency score >= {report['emergency_floor']} (the bot's rule)")
    print(f"{'lang':<10}{'n':>5}{'accuracy':>10}{'macro-F1':>10}{'entity-F1':>11}{'emerg. recall':>15}{'(top only)':>12}{'false alarms':>14}")
    rows = list(report["languages"].items()) + list(report.get("subsets", {}).items())
    for lang, r in rows:
        print(f"{lang:<10}{r['n']:>5}{r['accuracy']:>10.3f}{r['macro_f1']:>10.3f}{r['entity_f1']:>11.3f}"
              f"{r['emergency_recall']:>15.3f}{r['emergency_top_intent_recall']:>12.3f}{r['emergency_false_alarm_rate']:>14.3f}")
    per_intent = defaultdict(list)
    for r in report["languages"].values():
        for intent, value in r["per_intent_f1"].items():
            per_intent[intent].append(value)
    print("\nper-intent F1 (" + " / ".join(report["languages"]) + ")")
    for intent, values in sorted(per_intent.items()):
        print(f"  {intent:<22}" + " ".join(f"{v:.2f}" for v in values))
    print("\nworst confusions (gold -> predicted: count)")
    total = Counter()
    for r in report["languages"].values():
        for (g, p), n in r["confusions"]:
            total[(g, p)] += n
    for (g, p), n in total.most_common(10):
        print(f"  {g} -> {p}: {n}")
    for lang, r in report["languages"].items():
        for text in r["missed_emergency"]:
            print(f"  MISSED EMERGENCY [{lang}] (length {len(text)})")


def reviewed_examples(data_dir: Path = Path(__file__).resolve().parent.parent / "nlu" / "data") -> dict[str, int]:
    """How many reviewed examples (from the admins' learning queue) each language's training data holds."""
    counts = {}
    for path in sorted(data_dir.glob("*/reviewed.yml")):
        counts[path.parent.name] = sum(1 for line in path.read_text(encoding="utf-8").splitlines()
                                       if line.strip().startswith("- ") and not line.strip().startswith("- intent"))
    return counts


def append_history(path: Path, report: dict, model: str) -> None:
    """One line per model: when, which model, how many reviewed examples, and the figures per language.
    Evaluating the same model again replaces its line."""
    import datetime as dt

    line = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "model": model,
        "reviewed_examples": reviewed_examples(),
        "languages": {lang: {k: round(r[k], 3) for k in ("accuracy", "macro_f1", "emergency_recall",
                                                         "emergency_false_alarm_rate")}
                      for lang, r in {**report["languages"], **report.get("subsets", {})}.items()},
    }
    rows = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    rows = [r for r in rows if r.strip() and json.loads(r).get("model") != model] + [json.dumps(line)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:5005")
    parser.add_argument("--min-accuracy", type=float, default=0.0)
    parser.add_argument("--min-emergency-recall", type=float, default=0.0)
    parser.add_argument("--json", help="also write the report to this file")
    parser.add_argument("--history", help="append a one-line summary to this JSONL file (shown to admins)")
    parser.add_argument("--model", default="", help="the model's name, for the history")
    parser.add_argument("--emergency-floor", type=float, default=None,
                        help="emergency score that counts as emergency (default: the bot's NLU_EMERGENCY_FLOOR)")
    args = parser.parse_args(argv)
    if args.emergency_floor is None:
        from bot.config import BotSettings

        args.emergency_floor = BotSettings().nlu_emergency_floor
    report = evaluate(args.url, args.emergency_floor)
    report["emergency_floor"] = args.emergency_floor
    print_report(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str))
    if args.history:
        append_history(Path(args.history), report, args.model)
    failed = [
        f"{lang}: accuracy {r['accuracy']:.3f} < {args.min_accuracy}"
        for lang, r in report["languages"].items() if r["accuracy"] < args.min_accuracy
    ] + [
        f"{lang}: emergency recall {r['emergency_recall']:.3f} < {args.min_emergency_recall}"
        for lang, r in report["languages"].items() if r["emergency_recall"] < args.min_emergency_recall
    ]
    for line in failed:
        print("FAIL " + line, file=sys.stderr)
    print(f"\nNLU evaluation: {'FAILED' if failed else 'passed'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
