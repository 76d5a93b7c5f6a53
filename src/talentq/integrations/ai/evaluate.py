"""How well an AI provider reads an agency's mail, measured on a labelled set (``talentq ai eval``).

The labelled set is JSONL in the format of ``tests/data/corpus/README.md``: one message per line
with its category and, for a deal offer, its fee, deliverables, brand and talent. The provider
(the rules engine or any OpenAI-compatible model, as ``AI_PROVIDER`` says) classifies every
message and extracts every labelled offer; the report gives accuracy, per-category precision and
recall, the confusion matrix, spam recall and the offers marked spam, and the rates at which
fee and currency, deliverables, brand and talent come out right. An agency runs it on its own
mail before switching providers.

A brand is *named* right when the answer names the same brand as the label, in its short or its
long form ("Griffig" for "Griffig Boulder Equipment", see ``same_brand``): a mail calls a brand by
both, and labellers pick either. The stricter *exact form* rate is reported beside it.

The corpus is split once by a fixed rule (``in_test_part``): the engine is developed on the
development part, and the test part is only measured.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from talentq.domain.mail import DealTerms, Fee
from talentq.domain.vocabulary import CATEGORIES, PLATFORMS
from talentq.errors import LabelledSetError
from talentq.integrations.ai.protocol import AIProvider

Part = Literal["all", "dev", "test"]
PARTS: Final[tuple[Part, ...]] = ("all", "dev", "test")
_FEE_KINDS: Final = ("exact", "range", "none", "unstated")
_FEE_FIELDS: Final = {
    "exact": ("minor", "currency"),
    "range": ("min_minor", "max_minor", "currency"),
    "none": ("why",),
}
# A leading article is part of neither form: "Le Jardin de Colette" is "Jardin de Colette".
_ARTICLES: Final = frozenset(
    {"the", "le", "la", "les", "l", "die", "der", "das", "il", "lo", "el", "los", "las"}
)
# Legal forms a brand's name may carry or drop: "Radwerk GmbH" is Radwerk.
_LEGAL_FORMS: Final = re.compile(
    r"\b(gmbh|ag|inc|llc|ltd|limited|co|corp|sa|sas|sarl|srl|spa|s\.?p\.?a|bv|nv|plc|kg|oy|ab)\b\.?$"
)


@dataclass(frozen=True)
class LabelledMessage:
    id: str
    category: str
    sender: str
    subject: str
    body: str
    lang: str = ""
    offer: dict[str, Any] | None = None


def in_test_part(message_id: str) -> bool:
    """The corpus's split rule, fixed once: a third of the ids, by their SHA-256, are the test part."""
    return int(hashlib.sha256(message_id.encode()).hexdigest(), 16) % 3 == 0


def batch_of(message_id: str) -> str:
    """The batch a corpus message came in: its id's prefix ("loft-0042" → "loft"); "" for an id
    without one (the older labelled set's)."""
    return message_id.split("-")[0] if "-" in message_id else ""


def read_labelled(path: Path, part: Part = "all") -> list[LabelledMessage]:
    """The messages of a JSONL file (or of every ``*.jsonl`` in a directory) in ``part``."""
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise LabelledSetError(f"{path}: no labelled set there (a .jsonl file, or a directory of them)")
    messages: list[LabelledMessage] = []
    seen: set[str] = set()
    for file in files:
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                message = _message(line, f"{file}:{number}")
                if message.id in seen:
                    raise LabelledSetError(f"{file}:{number}: id {message.id!r} appears twice")
                seen.add(message.id)
                messages.append(message)
    if part == "all":
        return messages
    return [m for m in messages if in_test_part(m.id) == (part == "test")]


def _message(line: str, where: str) -> LabelledMessage:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise LabelledSetError(f"{where}: not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(raw, dict):
        raise LabelledSetError(f"{where}: expected a JSON object, got {type(raw).__name__}")

    def text(name: str, *, required: bool = True) -> str:
        value = raw.get(name, None if required else "")
        if not isinstance(value, str):
            raise LabelledSetError(f"{where}: field {name!r} must be a string, got {value!r:.60}")
        return value

    message_id, category = text("id"), text("category")
    where = f"{where} ({message_id})"
    if category not in CATEGORIES:
        raise LabelledSetError(f"{where}: category {category!r} is not one of {', '.join(CATEGORIES)}")
    offer = raw.get("offer")
    if category == "deal_offer":
        if not isinstance(offer, dict):
            raise LabelledSetError(f"{where}: a deal_offer needs an 'offer' object")
        _check_offer(offer, where)
    elif offer is not None:
        raise LabelledSetError(f"{where}: 'offer' must be null for category {category!r}")
    return LabelledMessage(
        id=message_id,
        category=category,
        sender=text("sender", required=False),
        subject=text("subject"),
        body=text("body"),
        lang=text("lang", required=False),
        offer=offer,
    )


def _check_offer(offer: dict[str, Any], where: str) -> None:
    fee = offer.get("fee")
    if not isinstance(fee, dict) or fee.get("kind") not in _FEE_KINDS:
        raise LabelledSetError(f"{where}: offer.fee must be an object whose kind is one of {_FEE_KINDS}")
    for name in _FEE_FIELDS.get(fee["kind"], ()):
        if name not in fee:
            raise LabelledSetError(f"{where}: offer.fee of kind {fee['kind']!r} needs {name!r}")
    deliverables = offer.get("deliverables")
    if not isinstance(deliverables, list):
        raise LabelledSetError(f"{where}: offer.deliverables must be a list")
    for index, item in enumerate(deliverables):
        if not isinstance(item, dict) or item.get("platform") not in PLATFORMS:
            raise LabelledSetError(
                f"{where}: offer.deliverables[{index}].platform must be one of {', '.join(PLATFORMS)}"
            )
        if not isinstance(item.get("count"), int) or item["count"] < 1:
            raise LabelledSetError(f"{where}: offer.deliverables[{index}].count must be an integer ≥ 1")


# --- measuring ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CategoryScore:
    precision: float
    recall: float
    support: int


@dataclass
class Report:
    """What ``evaluate`` measured; rates are fractions (0..1), None when nothing was there to measure."""

    provider: str
    messages: int
    accuracy: float
    categories: dict[str, CategoryScore]
    #: true category -> predicted category -> messages
    confusion: dict[str, dict[str, int]]
    spam_recall: float | None
    offers: int
    offers_marked_spam: int
    fee_exact: float | None
    deliverables_exact: float | None
    #: the same brand, in its short or long form (``same_brand``)
    brand_named: float | None
    #: the brand's name in the label's own form (case, accents, punctuation and legal form aside)
    brand_exact: float | None
    talent_exact: float | None
    ms_per_message: float
    misses: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


async def evaluate(provider: AIProvider, messages: Sequence[LabelledMessage], *, name: str) -> Report:
    """``provider`` measured on ``messages``: each classified, each labelled offer extracted."""
    if not messages:
        raise LabelledSetError("no labelled messages to measure (an empty file, or an empty part)")
    confusion = {true: dict.fromkeys(CATEGORIES, 0) for true in CATEGORIES}
    misses: list[str] = []
    fee_right = content_right = brand_named = brand_exact = talent_right = 0
    started = time.perf_counter()
    for message in messages:
        verdict = await provider.classify_message(message.subject, message.body, sender=message.sender)
        confusion[message.category][verdict.category] += 1
        if verdict.category != message.category:
            misses.append(f"{message.id}: {message.category} read as {verdict.category}")
    offers = [(m, m.offer) for m in messages if m.offer is not None]
    for message, label in offers:
        terms = await provider.extract_deal(message.subject, message.body, sender=message.sender)
        if _fee_matches(terms.fee, label["fee"]):
            fee_right += 1
        else:
            read = _fee_text(asdict(terms.fee))
            misses.append(f"{message.id}: fee {_fee_text(label['fee'])} read as {read}")
        if _content(terms) == _labelled_content(label):
            content_right += 1
        else:
            misses.append(f"{message.id}: deliverables {_labelled_content(label)} read as {_content(terms)}")
        brand_exact += same_name(terms.brand, label.get("brand"))
        if same_brand(terms.brand, label.get("brand")):
            brand_named += 1
        else:
            misses.append(f"{message.id}: brand {label.get('brand')!r} read as {terms.brand!r}")
        talent_right += same_name(terms.talent, label.get("talent"))
    elapsed = time.perf_counter() - started
    total = len(messages)
    spam = sum(confusion["spam"].values())
    return Report(
        provider=name,
        messages=total,
        accuracy=sum(confusion[c][c] for c in CATEGORIES) / total,
        categories={c: _score(confusion, c) for c in CATEGORIES},
        confusion=confusion,
        spam_recall=confusion["spam"]["spam"] / spam if spam else None,
        offers=len(offers),
        offers_marked_spam=confusion["deal_offer"]["spam"],
        fee_exact=_rate(fee_right, len(offers)),
        deliverables_exact=_rate(content_right, len(offers)),
        brand_named=_rate(brand_named, len(offers)),
        brand_exact=_rate(brand_exact, len(offers)),
        talent_exact=_rate(talent_right, len(offers)),
        ms_per_message=elapsed * 1000 / (total + len(offers)),
        misses=misses,
    )


def _rate(right: int, out_of: int) -> float | None:
    return right / out_of if out_of else None


def _score(confusion: dict[str, dict[str, int]], category: str) -> CategoryScore:
    right = confusion[category][category]
    predicted = sum(row[category] for row in confusion.values())
    support = sum(confusion[category].values())
    return CategoryScore(
        precision=right / predicted if predicted else 0.0,
        recall=right / support if support else 0.0,
        support=support,
    )


def _fee_matches(fee: Fee, label: dict[str, Any]) -> bool:
    """The fee as the agency means it: same kind, and the same amounts and currency (or reason)."""
    if fee.kind != label["kind"]:
        return False
    if fee.kind == "exact":
        return (fee.minor, fee.currency) == (label["minor"], label["currency"])
    if fee.kind == "range":
        return (fee.min_minor, fee.max_minor, fee.currency) == (
            label["min_minor"],
            label["max_minor"],
            label["currency"],
        )
    if fee.kind == "none":
        return bool(fee.why == label["why"])
    return True


def _fee_text(fee: dict[str, Any]) -> str:
    kind = fee.get("kind")
    if kind == "exact":
        return f"{fee.get('minor')} {fee.get('currency')}"
    if kind == "range":
        return f"{fee.get('min_minor')}..{fee.get('max_minor')} {fee.get('currency')}"
    if kind == "none":
        return f"none ({fee.get('why')})"
    return "unstated"


def _content(terms: DealTerms) -> list[tuple[str, int, bool]]:
    return sorted((d.platform, d.count, d.optional) for d in terms.deliverables)


def _labelled_content(label: dict[str, Any]) -> list[tuple[str, int, bool]]:
    return sorted((d["platform"], d["count"], bool(d.get("optional", False))) for d in label["deliverables"])


def same_name(read: object, labelled: object) -> bool:
    """A brand or person named the same way, as a reader would compare them (see ``_name``)."""
    return _name(read) == _name(labelled)


def same_brand(read: object, labelled: object) -> bool:
    """The same brand, named in its short or long form: one name's words begin the other's.

    "Griffig" and "Griffig Boulder Equipment", "nuvo" and "Nuvo Drinks", "Le Jardin de Colette" and
    "Jardin de Colette", "Halden Outdoor" and "HaldenOutdoor" name one brand; "Glow" and "Glowing",
    "Coldwire" and "Cw Drinks", a brand and a show it sponsors ("Pennywise", "Side Hustle Hour") do
    not. Whole words only, compared as ``_name`` compares them. The rule cannot tell a short form from
    another brand that begins with the same words ("Glow" and "Glow Recipe"), so it is lenient there.
    """
    if same_name(read, labelled):
        return True
    words = [_name(name).split() for name in (read, labelled)]
    words = [w[1:] if len(w) > 1 and w[0] in _ARTICLES else w for w in words]
    short, long = sorted(words, key=len)
    if not short:
        return False
    return long[: len(short)] == short or "".join(short) == "".join(long)


def _name(name: object) -> str:
    """A brand or person compared as a reader would: case, accents, punctuation and legal form aside."""
    if not isinstance(name, str):
        return ""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    folded = re.sub(r"[^\w\s]", " ", folded)
    folded = " ".join(folded.split())
    return _LEGAL_FORMS.sub("", folded).strip()


# --- the report as text ---------------------------------------------------------------------------


def render(report: Report, *, misses: int = 0) -> str:
    """The report as the command line prints it; ``misses`` of the misses listed at the end."""
    lines = [
        f"{report.provider}: {report.messages} messages, {report.offers} deal offers",
        f"triage accuracy        {_pct(report.accuracy)}",
        f"spam recall            {_pct(report.spam_recall)}",
        f"offers marked spam     {report.offers_marked_spam}",
        f"fee + currency exact   {_pct(report.fee_exact)}",
        f"deliverables exact     {_pct(report.deliverables_exact)}",
        f"brand named            {_pct(report.brand_named)}",
        f"brand exact form       {_pct(report.brand_exact)}",
        f"talent exact           {_pct(report.talent_exact)}",
        f"time per answer        {report.ms_per_message:.2f} ms",
        "",
        f"{'category':<12} {'precision':>9} {'recall':>7} {'n':>4}",
        *(
            f"{c:<12} {_pct(s.precision):>9} {_pct(s.recall):>7} {s.support:>4}"
            for c, s in report.categories.items()
        ),
        "",
        "confusion (rows: labelled, columns: answered)",
        " " * 12 + "".join(f"{c[:8]:>9}" for c in CATEGORIES),
        *(f"{true:<12}" + "".join(f"{n:>9}" for n in row.values()) for true, row in report.confusion.items()),
    ]
    if misses and report.misses:
        lines += ["", f"misses (first {min(misses, len(report.misses))} of {len(report.misses)}):"]
        lines += [f"  {miss}" for miss in report.misses[:misses]]
    return "\n".join(lines)


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.1%}"
