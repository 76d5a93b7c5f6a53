"""Train the brand ranker's weights (``talentq/domain/mail/brand_model.json``).

A conditional logit over the candidates ``talentq.domain.mail.brands.brand_candidates`` reads from
each deal offer of the corpus's development part (the test part, ``sha256(id) % 3 == 0``, is never
read here): it learns the weights under which the labelled brand scores highest among its mail's
candidates. Full-batch gradient descent in a fixed order, standard library only, so that CI's fresh
venv can run it and ``--check`` can show the shipped weights are what this script trains::

    python -m talentq.dev.train_brand_ranker            # write the model
    python -m talentq.dev.train_brand_ranker --check    # exit 1 when the shipped model differs
    python -m talentq.dev.train_brand_ranker --cv 5     # k-fold accuracy on the development part
    python -m talentq.dev.train_brand_ranker --by-batch # accuracy on each batch, trained without it

``--by-batch`` is how a change to the candidates or features is judged: k-fold folds mix every
writer's mail, so they flatter the ranker; a batch held out is a writer it has not read.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from talentq.domain.mail.brands import MODEL_FILE, Candidate, brand_candidates
from talentq.domain.mail.extract import brand_reading, offer_creator, offer_text
from talentq.domain.mail.parties import NAMES_LIMIT
from talentq.integrations.ai.evaluate import batch_of, read_labelled, same_brand, same_name

CORPUS: Final = Path("tests/data/corpus")
MODEL: Final = Path(__file__).parents[1] / "domain" / "mail" / MODEL_FILE
#: Shipped weights are rounded to this many decimals; ``--check`` allows a difference of one unit.
DECIMALS: Final = 4


@dataclass(frozen=True)
class Settings:
    """What 5-fold cross-validation over the development part chose."""

    l2: float = 3e-4
    iterations: int = 800
    learning_rate: float = 0.5


SETTINGS: Final = Settings()


@dataclass(frozen=True)
class Mail:
    """An offer as training reads it: its candidates and which of them name the labelled brand."""

    id: str
    candidates: list[Candidate]
    right: frozenset[int]
    #: The candidates that name the brand in its short or long form (``same_brand``), as eval counts.
    named: frozenset[int]


def offers(corpus: Path) -> list[Mail]:
    """The development part's deal offers, read as ``extract_deal`` reads them."""
    out = []
    for message in read_labelled(corpus, "dev"):
        if message.offer is None:
            continue
        read = offer_text(message.subject, message.body)
        creator = offer_creator(read, message.sender)
        subject, current, sender = brand_reading(read, message.sender)
        found = brand_candidates(subject, current[:NAMES_LIMIT], sender, creator=creator)
        brand = message.offer.get("brand")
        right = frozenset(k for k, c in enumerate(found) if same_name(c.name, brand))
        named = frozenset(k for k, c in enumerate(found) if same_brand(c.name, brand))
        out.append(Mail(message.id, found, right, named))
    return out


def fit(mails: Sequence[Mail], settings: Settings = SETTINGS) -> dict[str, float]:
    """Weights maximising the labelled brands' likelihood among their mails' candidates, L2-penalised."""
    learnable = [m for m in mails if m.right]
    names = sorted({k for m in learnable for c in m.candidates for k in c.features})
    weights = dict.fromkeys(names, 0.0)
    for _ in range(settings.iterations):
        grad = dict.fromkeys(names, 0.0)
        for mail in learnable:
            scores = [c.score(weights) for c in mail.candidates]
            top = max(scores)
            exp = [math.exp(s - top) for s in scores]
            total, right = sum(exp), sum(exp[k] for k in mail.right)
            for k, candidate in enumerate(mail.candidates):
                # d(-log P(right))/d(score_k) = P(k) - P(k | right)
                pull = exp[k] / total - (exp[k] / right if k in mail.right else 0.0)
                for feature, value in candidate.features.items():
                    grad[feature] += pull * value
        for feature in names:
            weights[feature] -= settings.learning_rate * (
                grad[feature] / len(learnable) + settings.l2 * weights[feature]
            )
    return {k: round(v, DECIMALS) for k, v in weights.items() if round(v, DECIMALS) != 0.0}


def picks_right(weights: dict[str, float], mail: Mail, *, named: bool = False) -> bool:
    """Whether the weights pick the labelled brand (``named``: in its short or long form)."""
    if not mail.candidates:
        return False
    best = max(
        range(len(mail.candidates)),
        key=lambda k: (mail.candidates[k].score(weights), -len(mail.candidates[k].name)),
    )
    return best in (mail.named if named else mail.right)


def cross_validate(mails: Sequence[Mail], folds: int) -> float:
    """Share of offers whose brand a model trained on the other folds picks (fold = position % k)."""
    right = 0
    for fold in range(folds):
        held = [m for k, m in enumerate(mails) if k % folds == fold]
        weights = fit([m for k, m in enumerate(mails) if k % folds != fold])
        right += sum(picks_right(weights, m) for m in held)
    return right / len(mails)


def by_batch(mails: Sequence[Mail]) -> dict[str, tuple[int, int, int]]:
    """Per batch (``batch_of``: "loft-0042" → "loft"): how many of its offers a model trained on
    every other batch picks right in the label's form, in its short or long form, of how many."""
    out: dict[str, tuple[int, int, int]] = {}
    for batch in sorted({batch_of(m.id) for m in mails}):
        weights = fit([m for m in mails if batch_of(m.id) != batch])
        held = [m for m in mails if batch_of(m.id) == batch]
        out[batch] = (
            sum(picks_right(weights, m) for m in held),
            sum(picks_right(weights, m, named=True) for m in held),
            len(held),
        )
    return out


def render(weights: dict[str, float]) -> str:
    return json.dumps({"weights": dict(sorted(weights.items()))}, indent=1, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--check", action="store_true", help="exit 1 when the shipped model differs")
    parser.add_argument("--cv", type=int, metavar="K", help="print K-fold accuracy on the development part")
    parser.add_argument("--by-batch", action="store_true", help="print accuracy on each batch held out")
    args = parser.parse_args(argv)
    mails = offers(args.corpus)
    unreachable = [m.id for m in mails if not m.right]
    print(
        f"{len(mails)} offers; the labelled brand is among no candidates of {len(unreachable)}: {unreachable}"
    )
    if args.by_batch:
        scores = by_batch(mails)
        for batch, (exact, named, total) in scores.items():
            print(f"{batch:8} exact form {exact / total:6.1%}  named {named / total:6.1%}  of {total}")
        exact, named, total = (sum(column) for column in zip(*scores.values(), strict=True))
        print(f"held out one batch at a time: exact form {exact / total:.1%}, named {named / total:.1%}")
        return 0
    if args.cv:
        print(f"{args.cv}-fold accuracy: {cross_validate(mails, args.cv):.1%}")
        return 0
    weights = fit(mails)
    if args.check:
        shipped = json.loads(args.model.read_text(encoding="utf-8"))["weights"]
        unit = 10.0**-DECIMALS
        differ = sorted(
            k
            for k in set(shipped) | set(weights)
            if abs(shipped.get(k, 0.0) - weights.get(k, 0.0)) > unit * 1.01
        )
        if differ:
            print(
                f"{args.model} differs from a fresh training in {differ}; run without --check",
                file=sys.stderr,
            )
            return 1
        print(f"{args.model} is what training gives")
        return 0
    args.model.write_text(render(weights), encoding="utf-8")
    print(f"wrote {args.model}: {len(weights)} weights")
    return 0


if __name__ == "__main__":
    sys.exit(main())
