"""Mail understanding's speed: milliseconds per message to classify and to extract an offer.

The budget is 5 ms to classify one message on this machine (issue 15). Every message of the
labelled corpus (``tests/data/corpus``: plain and HTML bodies, quoted threads, five languages)
is classified, and every labelled offer extracted, ``--rounds`` times after one warm-up round
(the model is read once, on first use). Printed side by side from one run: per-message median,
95th percentile and worst, the ratio of the 95th percentile to the budget, and the two steps'
ratio to each other (the machine is noisy; compare ratios).

Run from the repository root (a few seconds; no services needed)::

    .venv/bin/python bench/bench_mail.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from talentq.domain.mail import classify_message, extract_deal
from talentq.integrations.ai.evaluate import LabelledMessage, read_labelled

CORPUS = Path("tests/data/corpus")
BUDGET_MS = 5.0


def _timings(
    messages: list[LabelledMessage], step: Callable[[LabelledMessage], object], rounds: int
) -> list[float]:
    for message in messages:  # warm-up: the model and the compiled patterns are loaded once
        step(message)
    spent: list[float] = []
    for _ in range(rounds):
        for message in messages:
            started = time.perf_counter()
            step(message)
            spent.append((time.perf_counter() - started) * 1000)
    return spent


def _line(name: str, spent: list[float]) -> tuple[str, float]:
    ordered = sorted(spent)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    median = statistics.median(ordered)
    return (
        f"{name:<10} {len(spent):>6} calls  median {median:6.2f} ms  p95 {p95:6.2f} ms  "
        f"worst {ordered[-1]:6.2f} ms  p95/budget {p95 / BUDGET_MS:.2f}",
        median,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    messages = read_labelled(CORPUS)
    offers = [m for m in messages if m.offer is not None]
    classify = _timings(messages, lambda m: classify_message(m.subject, m.body, sender=m.sender), args.rounds)
    extract = _timings(offers, lambda m: extract_deal(m.subject, m.body, sender=m.sender), args.rounds)
    print(f"{len(messages)} messages, {len(offers)} offers, {args.rounds} rounds; budget {BUDGET_MS} ms")
    shown_classify, classify_median = _line("classify", classify)
    shown_extract, extract_median = _line("extract", extract)
    print(shown_classify)
    print(shown_extract)
    print(f"extract/classify median: {extract_median / classify_median:.2f}")


if __name__ == "__main__":
    main()
