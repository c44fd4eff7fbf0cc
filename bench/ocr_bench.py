"""Accuracy and speed of the payslip reader (knowledge/payslip_ocr.py) on generated payslips.

Renders N payslips per layout (tests/payslip/render.py), each clean and "photographed" (tilt, blur, uneven light,
noise, JPEG), reads them, and prints the share of printed numbers read exactly right — clean and degraded
apart, per layout and per item kind — with the numbers read that the payslip does not have (false finds) and the
time per image. Targets: at least 90 % right on clean renders, 75 % on degraded ones, under 5 s an image; prints
MET or NOT MET and exits 1 when a target is missed.

Then the verdicts (knowledge/payslip.judge, against Tokyo's ¥1,226 of FY2025): for each generated payslip what the
check says of its printed numbers (the money owed a month, the lines flagged), and how often the verdict on the
numbers read from the photo is the same (the same amount owed, the same status on every line). A number the reader
missed would be asked in the chat, so "same" here is the stricter test: no question asked.

The time target is checked on CPU time (this process and its tesseract children): the reader runs one thread at
a time, so on an idle machine CPU time is the wall time, and on a busy one (a test suite beside it) it still
measures the reader rather than its neighbours. Wall time and the load average are printed beside it.

    .venv/bin/python bench/ocr_bench.py [--n 5] [--seed 1000] [--show-misses]

Needs tesseract (scripts/ensure_tesseract.sh).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import datetime as dt  # noqa: E402

from knowledge import payslip as verdicts  # noqa: E402
from knowledge.payslip_items import BY_KEY  # noqa: E402
from knowledge.wages import MinimumRate  # noqa: E402
from knowledge.payslip_ocr import read_payslip  # noqa: E402
from tests.payslip.render import LAYOUTS, render  # noqa: E402

TARGETS = {"clean": 0.90, "degraded": 0.75}
TOKYO = MinimumRate(prefecture="Tokyo", yen_per_hour=1226, effective_from=dt.date(2025, 10, 3), fiscal_year=2025)
MAX_SECONDS_PER_IMAGE = 5.0


@dataclass
class Tally:
    """Right and total counts per group (a layout, an item kind), plus false finds and time."""

    right: Counter[str] = field(default_factory=Counter)
    total: Counter[str] = field(default_factory=Counter)
    false_finds: int = 0
    #: Payslips whose verdict on the numbers read equals the verdict on the printed numbers.
    same_verdicts: int = 0
    payslips: int = 0
    #: (layout, seed, owed a month, flagged lines) of the printed numbers, clean renders only.
    verdicts: list[tuple[str, int, str, str]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # wall time
    cpu_seconds: list[float] = field(default_factory=list)  # this process and its children

    def add(self, groups: tuple[str, ...], ok: bool) -> None:
        for group in groups:
            self.total[group] += 1
            self.right[group] += ok

    def share(self, group: str) -> float:
        return self.right[group] / self.total[group] if self.total[group] else 0.0


def _cpu_seconds() -> float:
    """CPU time used so far by this process and the tesseract processes it waited for."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(n: int, first_seed: int, show_misses: bool) -> dict[str, Tally]:
    """Read every rendered payslip and count, per condition, the numbers read exactly right."""
    tallies = {"clean": Tally(), "degraded": Tally()}
    for layout in LAYOUTS:
        for seed in range(first_seed, first_seed + n):
            for condition, tally in tallies.items():
                payslip = render(seed, layout, degraded=condition == "degraded")
                data = payslip.encode("jpeg" if payslip.degraded else "png", quality=85)
                started, cpu_started = time.perf_counter(), _cpu_seconds()
                reading = read_payslip(data, None)
                tally.seconds.append(time.perf_counter() - started)
                tally.cpu_seconds.append(_cpu_seconds() - cpu_started)
                for key, truth in payslip.values.items():
                    got = reading.items.get(key)
                    ok = got is not None and got.value == truth
                    tally.add(("all", layout, str(BY_KEY[key].kind)), ok)
                    if show_misses and not ok:
                        print(f"  miss {condition} {layout} seed {seed} {key}: printed {payslip.labels[key]} "
                              f"{payslip.printed[key]}, read {got.value if got else None}"
                              f"{f' ({got.label_seen})' if got else ''}")
                tally.false_finds += sum(1 for key in reading.items if key not in payslip.values)
                truth = verdicts.judge(verdicts.Payslip(dict(payslip.values)), TOKYO)
                read = verdicts.judge(verdicts.Payslip(reading.values()), TOKYO)
                tally.payslips += 1
                tally.same_verdicts += _summary(truth) == _summary(read)
                if condition == "clean":
                    flagged = ", ".join(f"{line.key} {line.status}" for line in truth.lines
                                        if line.status is not verdicts.Status.ok) or "none"
                    tally.verdicts.append((layout, seed, f"¥{truth.owed_per_month:,.0f}", flagged))
    return tallies


def _summary(result: verdicts.PayslipVerdict) -> tuple:
    return result.owed_per_month, tuple((line.key, line.status) for line in result.lines)


def report(tallies: dict[str, Tally]) -> bool:
    """Print the table; True when every target is met."""
    met = True
    for condition, tally in tallies.items():
        share = tally.share("all")
        cpu, slowest = sum(tally.cpu_seconds) / len(tally.cpu_seconds), max(tally.cpu_seconds)
        wall = sum(tally.seconds) / len(tally.seconds)
        print(f"{condition}: {tally.right['all']}/{tally.total['all']} = {share:.1%} right "
              f"(target {TARGETS[condition]:.0%}); false finds {tally.false_finds}; "
              f"{cpu:.2f} s CPU per image (slowest {slowest:.2f} s, target < {MAX_SECONDS_PER_IMAGE:.0f} s); "
              f"wall {wall:.2f} s (slowest {max(tally.seconds):.2f} s)")
        groups = [g for g in tally.total if g != "all"]
        print("   " + "  ".join(f"{group} {tally.share(group):.0%} ({tally.total[group]})" for group in groups))
        met &= share >= TARGETS[condition] and slowest < MAX_SECONDS_PER_IMAGE
    print("verdicts on the printed numbers (Tokyo, ¥1,226 an hour):")
    for layout, seed, owed, flagged in tallies["clean"].verdicts:
        print(f"   {layout:6} seed {seed}: owed {owed} a month; flagged: {flagged}")
    for condition, tally in tallies.items():
        print(f"{condition}: the verdict on the numbers read equals the verdict on the printed ones for "
              f"{tally.same_verdicts}/{tally.payslips} payslips")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("MET" if met else "NOT MET")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5, help="payslips per layout (default 5)")
    parser.add_argument("--seed", type=int, default=1000, help="first seed (default 1000)")
    parser.add_argument("--show-misses", action="store_true", help="print every number read wrong or not at all")
    args = parser.parse_args()
    return 0 if report(run(args.n, args.seed, args.show_misses)) else 1


if __name__ == "__main__":
    sys.exit(main())
