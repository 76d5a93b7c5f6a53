"""Which of the six categories an inbox message is: a trained linear model, with its reasons.

A multinomial logistic regression over the features of ``classify_features`` (word unigrams and
bigrams, a multilingual cue lexicon, a scam screen including the sender's domain), trained by
``python -m talentq.dev.train_classifier`` on the development part of the labelled corpus and
shipped as ``classify_model.json`` (package data). Pure Python, deterministic, a few milliseconds
per message. Every answer lists the cues that pushed it towards its category most.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final

from talentq.domain.mail.classify_features import features
from talentq.domain.mail.terms import Classification
from talentq.domain.vocabulary import CATEGORIES

MODEL_FILE: Final = "classify_model.json"
#: Fewer known words than this, and no cue: too little to place a message anywhere but "other".
MIN_KNOWN_WORDS: Final = 3
#: Most reasons an answer lists.
MAX_REASONS: Final = 5
_SPAM: Final = CATEGORIES.index("spam")


@dataclass(frozen=True)
class Model:
    """The trained weights: per feature, one weight per category (in ``CATEGORIES`` order)."""

    bias: tuple[float, ...]
    weights: dict[str, tuple[float, ...]]
    cue_scale: float

    @classmethod
    def from_json(cls, raw: dict[str, Any], source: str = "the model") -> Model:
        """The model as ``classify_model.json`` (or training) writes it; ``source`` names it in errors."""
        if tuple(raw["categories"]) != CATEGORIES:
            raise ValueError(f"{source} was trained for categories {raw['categories']}, not {CATEGORIES}")
        return cls(
            bias=tuple(raw["bias"]),
            weights={name: tuple(w) for name, w in raw["weights"].items()},
            cue_scale=float(raw["cue_scale"]),
        )


@cache
def model() -> Model:
    """The shipped model, read once."""
    raw = json.loads(resources.files("talentq.domain.mail").joinpath(MODEL_FILE).read_text("utf-8"))
    return Model.from_json(raw, MODEL_FILE)


def classify_message(
    subject: str, body: str, *, sender: str = "", with_model: Model | None = None
) -> Classification:
    """The message's category, how sure the model is (its probability), and why; by the shipped
    model unless ``with_model`` is given (training scores a model it has not shipped)."""
    m = with_model or model()
    found = features(subject, body, sender)
    k = len(CATEGORIES)
    scores = list(m.bias)
    # Each feature's push per category, kept to explain the answer.
    pushes: list[tuple[str, float, tuple[float, ...]]] = []
    # N-grams are scaled to unit length over all of the message's n-grams, as in training.
    scale = 1 / math.sqrt(max(len(found.ngrams), 1))
    for names, value in ((found.ngrams, scale), (found.cues, m.cue_scale)):
        for name in names:
            if (weights := m.weights.get(name)) is not None:
                for c in range(k):
                    scores[c] += value * weights[c]
                pushes.append((name, value, weights))
    known_words = sum(1 for name, _, _ in pushes if name in found.ngrams)
    if not found.cues and known_words < MIN_KNOWN_WORDS:
        # Too little the model knows (an empty note, a string of digits): its answer would be
        # its prior, which leans to the commonest category; such a message is none of the five.
        return Classification("other", 0.5, [f"only {known_words} word(s) the model knows, and no cue"])
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    probabilities = [e / total for e in exps]
    best = max(range(k), key=lambda c: probabilities[c])
    return Classification(
        category=CATEGORIES[best],
        confidence=round(probabilities[best], 3),
        reasons=_reasons(best, pushes, probabilities),
    )


def _reasons(
    best: int, pushes: list[tuple[str, float, tuple[float, ...]]], probabilities: list[float]
) -> list[str]:
    """The features that favour ``best`` over the other categories most, in words."""
    k = len(CATEGORIES)
    # A feature's case for ``best``: its weight there above its mean weight, times its value.
    # Short words ("a", "the", "de") carry weight but explain nothing to a reader.
    ranked = sorted(
        ((value * (w[best] - sum(w) / k), name) for name, value, w in pushes if _explains(name)),
        key=lambda pair: (-pair[0], pair[1]),
    )
    reasons = [_describe(name) for margin, name in ranked[:MAX_REASONS] if margin > 0]
    reasons = list(dict.fromkeys(reasons))
    if not reasons:
        reasons = ["no cue stands out: the category the model leans to without one"]
    if best != _SPAM and probabilities[_SPAM] >= 0.2:
        reasons.append(f"spam probability {probabilities[_SPAM]:.0%}")
    return reasons


def _explains(feature: str) -> bool:
    kind, _, text = feature.partition(":")
    return kind not in {"w", "s"} or len(text) >= 4


def _describe(feature: str) -> str:
    """A feature's name as a reason: cues are named already, n-grams say where they come from."""
    kind, _, text = feature.partition(":")
    if kind == "w":
        return f'word "{text}"'
    if kind == "b":
        return f'words "{text}"'
    if kind == "s":
        return f'subject word "{text}"'
    return feature
