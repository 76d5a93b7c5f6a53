"""Train the message classifier's model (``talentq/domain/mail/classify_model.json``).

A multinomial logistic regression over the features of ``talentq.domain.mail.classify_features``,
trained by full-batch Adam on the development part of the labelled corpus (``tests/data/corpus``;
the test part, ``sha256(id) % 3 == 0``, is never read here) and the older ``inbox_messages.json``.
Standard library only, so that CI's fresh venv can run it, and deterministic (fixed order, no
randomness, exact float sums), so that ``--check`` can show the shipped model is what this script
trains::

    python -m talentq.dev.train_classifier            # write the model
    python -m talentq.dev.train_classifier --check    # exit 1 when the shipped model differs
    python -m talentq.dev.train_classifier --by-batch # accuracy on each batch, trained without it

``--by-batch`` is how a change to the features is judged: the development part's fitted accuracy is
near 100 %, and a batch held out is mail by a writer the model has not read, as new mail is.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from talentq.domain.mail.classify import Model, classify_message
from talentq.domain.mail.classify_features import features
from talentq.domain.vocabulary import CATEGORIES
from talentq.integrations.ai.evaluate import batch_of, read_labelled

CORPUS: Final = Path("tests/data/corpus")
INBOX: Final = Path("tests/data/inbox_messages.json")
MODEL: Final = Path(__file__).parents[1] / "domain" / "mail" / "classify_model.json"


@dataclass(frozen=True)
class Settings:
    """What training chose on cross-validation over the development part."""

    #: An n-gram is kept when at least this many training messages have it (rarer ones are noise
    #: on a few hundred messages, and would make the model file large).
    min_df: int = 2
    #: L2 penalty on the weights (the bias is not penalised).
    l2: float = 3e-5
    #: Value of a cue feature; n-grams together have unit length.
    cue_scale: float = 1.0
    iterations: int = 150
    learning_rate: float = 0.1
    #: Weights smaller than this in every category are dropped from the shipped model.
    prune_below: float = 0.004


SETTINGS: Final = Settings()
#: Fixed-point unit of training's sums (see ``_fit``).
_ONE: Final = 2**32


@dataclass(frozen=True)
class Example:
    id: str
    category: str
    subject: str
    body: str
    sender: str


def load_inbox(path: Path) -> list[Example]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [Example(m["id"], m["category"], m["subject"], m["body"], m.get("sender", "")) for m in data]


def training_set(corpus: Path, inbox: Path) -> list[Example]:
    """The development part of the corpus and the older labelled set."""
    # The corpus's own reader and split rule (``talentq ai eval`` uses the same): one of each.
    dev = [Example(m.id, m.category, m.subject, m.body, m.sender) for m in read_labelled(corpus, "dev")]
    return dev + load_inbox(inbox)


@dataclass(frozen=True)
class Encoded:
    """A message as training reads it: feature indices, n-gram scale, and its category."""

    ngrams: list[int]
    cues: list[int]
    scale: float
    label: int


def _feature_sets(examples: Sequence[Example]) -> list[tuple[frozenset[str], frozenset[str]]]:
    out = []
    for e in examples:
        f = features(e.subject, e.body, e.sender)
        out.append((f.ngrams, f.cues))
    return out


def train(
    examples: Sequence[Example],
    settings: Settings = SETTINGS,
    sets: Sequence[tuple[frozenset[str], frozenset[str]]] | None = None,
) -> dict[str, Any]:
    """The model (as the JSON the classifier loads) trained on ``examples``."""
    sets = sets if sets is not None else _feature_sets(examples)
    df: dict[str, int] = {}
    for ngrams, _ in sets:
        for g in ngrams:
            df[g] = df.get(g, 0) + 1
    ngram_names = sorted(g for g, n in df.items() if n >= settings.min_df)
    cue_names = sorted({c for _, cues in sets for c in cues})
    names = ngram_names + cue_names
    index = {name: i for i, name in enumerate(names)}
    docs = [
        Encoded(
            ngrams=sorted(index[g] for g in ngrams if g in index),
            cues=sorted(index[c] for c in cues),
            # Over all of the message's n-grams, kept or not: the classifier cannot know which
            # were kept once the model is pruned.
            scale=1 / math.sqrt(max(len(ngrams), 1)),
            label=CATEGORIES.index(e.category),
        )
        for e, (ngrams, cues) in zip(examples, sets, strict=True)
    ]
    weights, bias = _fit(docs, len(names), len(ngram_names), settings)
    kept = {
        name: [round(weights[c][i], 4) for c in range(len(CATEGORIES))]
        for i, name in enumerate(names)
        if max(abs(weights[c][i]) for c in range(len(CATEGORIES))) >= settings.prune_below
    }
    return {
        "categories": list(CATEGORIES),
        "cue_scale": settings.cue_scale,
        "bias": [round(b, 4) for b in bias],
        "weights": kept,
    }


def _fit(
    docs: Sequence[Encoded], n_features: int, n_ngrams: int, settings: Settings
) -> tuple[list[list[float]], list[float]]:
    """Minimise the mean cross-entropy plus the L2 penalty by full-batch Adam.

    Gradients go through an inverted index (feature -> messages) so that each sum is one call of
    ``sum`` over a ``map``. Sums run over integers (weights and residuals in fixed point, units of
    ``2**-32``): exact, hence the same on every Python version (3.12 changed how ``sum`` adds
    floats) and fast (``math.fsum`` is five times slower)."""
    k, n = len(CATEGORIES), len(docs)
    postings: list[list[int]] = [[] for _ in range(n_features)]
    for d, doc in enumerate(docs):
        for i in doc.ngrams:
            postings[i].append(d)
        for i in doc.cues:
            postings[i].append(d)
    weights = [[0.0] * n_features for _ in range(k)]
    bias = [0.0] * k
    moment = [[0.0] * n_features for _ in range(k)]
    second = [[0.0] * n_features for _ in range(k)]
    moment_b, second_b = [0.0] * k, [0.0] * k
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    cue_scale = settings.cue_scale
    for step in range(1, settings.iterations + 1):
        # Residuals (p - y) / n per category and message, scaled for each block.
        residual_ngram: list[list[int]] = [[0] * n for _ in range(k)]
        residual_cue: list[list[int]] = [[0] * n for _ in range(k)]
        fixed = [[round(x * _ONE) for x in w] for w in weights]
        for d, doc in enumerate(docs):
            scores = [
                bias[c]
                + doc.scale * sum(map(fixed[c].__getitem__, doc.ngrams)) / _ONE
                + cue_scale * sum(map(fixed[c].__getitem__, doc.cues)) / _ONE
                for c in range(k)
            ]
            top = max(scores)
            exps = [math.exp(s - top) for s in scores]
            total = math.fsum(exps)  # six terms: exactness is cheap here
            for c in range(k):
                r = (exps[c] / total - (1.0 if c == doc.label else 0.0)) / n
                residual_ngram[c][d] = round(r * doc.scale * _ONE)
                residual_cue[c][d] = round(r * cue_scale * _ONE)
        correction1, correction2 = 1 - beta1**step, 1 - beta2**step
        step_size = settings.learning_rate / correction1
        l2 = settings.l2
        for c in range(k):
            rn, rc, w = residual_ngram[c], residual_cue[c], weights[c]
            # List comprehensions rather than a loop with indices: a third of the time.
            grad = [sum(map(rn.__getitem__, p)) / _ONE for p in postings[:n_ngrams]]
            grad += [sum(map(rc.__getitem__, p)) / _ONE for p in postings[n_ngrams:]]
            grad = [g + l2 * wi for g, wi in zip(grad, w, strict=True)]
            moment[c] = [beta1 * m + (1 - beta1) * g for m, g in zip(moment[c], grad, strict=True)]
            second[c] = [beta2 * v + (1 - beta2) * g * g for v, g in zip(second[c], grad, strict=True)]
            weights[c] = [
                wi - step_size * m / (math.sqrt(v / correction2) + eps)
                for wi, m, v in zip(w, moment[c], second[c], strict=True)
            ]
            gb = sum(rc) / _ONE / cue_scale
            moment_b[c] = beta1 * moment_b[c] + (1 - beta1) * gb
            second_b[c] = beta2 * second_b[c] + (1 - beta2) * gb * gb
            bias[c] -= step_size * moment_b[c] / (math.sqrt(second_b[c] / correction2) + eps)
    return weights, bias


def by_batch(examples: Sequence[Example], settings: Settings = SETTINGS) -> dict[str, tuple[int, int]]:
    """Per corpus batch, how many of its messages a model trained on every other batch (and the
    older set) answers right, of how many."""
    sets = _feature_sets(examples)
    out: dict[str, tuple[int, int]] = {}
    for batch in sorted({batch_of(e.id) for e in examples} - {""}):
        kept = [k for k, e in enumerate(examples) if batch_of(e.id) != batch]
        held = Model.from_json(train([examples[k] for k in kept], settings, [sets[k] for k in kept]))
        right = [
            classify_message(e.subject, e.body, sender=e.sender, with_model=held).category == e.category
            for e in examples
            if batch_of(e.id) == batch
        ]
        out[batch] = (sum(right), len(right))
    return out


def dump(model: dict[str, Any]) -> str:
    """The model file's text: sorted keys, one line, so that equal models are equal files."""
    return json.dumps(model, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="the labelled corpus directory")
    parser.add_argument("--inbox", type=Path, default=INBOX, help="the older labelled set")
    parser.add_argument("--out", type=Path, default=MODEL, help="where the model is written")
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing")
    parser.add_argument("--by-batch", action="store_true", help="print accuracy on each batch held out")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.by_batch:
        scores = by_batch(training_set(args.corpus, args.inbox))
        for batch, (right, total) in scores.items():
            print(f"{batch:8} {right / total:6.1%} of {total}")
        right, total = (sum(pair) for pair in zip(*scores.values(), strict=True))
        print(f"held out one batch at a time: {right / total:.1%} of {total}")
        return 0
    text = dump(train(training_set(args.corpus, args.inbox)))
    if args.check:
        if args.out.read_text(encoding="utf-8") != text:
            print(f"{args.out} differs from a fresh training: retrain and commit it", file=sys.stderr)
            return 1
        print(f"{args.out} is what training gives")
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(text) // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
