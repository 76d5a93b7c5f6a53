"""Asking about mail: classifying a message and extracting an offer's terms."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Final, TypeVar

from pydantic import BaseModel, Field

from talentq.domain.mail import Classification, DealTerms, Deliverable, Fee, classify_message, extract_deal
from talentq.domain.mail.terms import FeeKind, NoFeeWhy
from talentq.domain.vocabulary import MAX_UNITS, PLATFORMS, MessageCategory, Platform
from talentq.integrations.ai.capability import Capability


@dataclass(frozen=True)
class Mail:
    """A message to read: its subject, body and sender, and the day it arrived (dates in it are
    relative to it)."""

    subject: str
    body: str
    reference: date | None = None
    sender: str = ""

    def as_request(self) -> str:
        when = f"Received on {self.reference.isoformat()}.\n" if self.reference else ""
        sender = f"From: {self.sender}\n" if self.sender else ""
        return f"{when}{sender}Subject: {self.subject}\n\n{self.body}"


class ClassificationAnswer(BaseModel):
    category: MessageCategory
    confidence: float = Field(ge=0, le=1)
    reasons: list[str] = Field(default_factory=list)


class DeliverableAnswer(BaseModel):
    platform: Platform
    count: int = Field(ge=1, le=MAX_UNITS)
    optional: bool = False


_MINOR = Field(default=None, ge=0, le=10**14)


class FeeAnswer(BaseModel):
    kind: FeeKind
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    minor: int | None = _MINOR
    min_minor: int | None = _MINOR
    max_minor: int | None = _MINOR
    why: NoFeeWhy | None = None
    text: str = Field(default="", max_length=200)

    def result(self) -> Fee:
        """The fee, once its fields agree with its kind (ValueError, and the model is asked again)."""
        if self.kind == "exact" and (self.minor is None or self.currency is None):
            raise ValueError("an exact fee needs minor and currency")
        if self.kind == "range" and (
            self.min_minor is None or self.max_minor is None or self.currency is None
        ):
            raise ValueError("a fee range needs min_minor, max_minor and currency")
        if self.min_minor is not None and self.max_minor is not None and self.min_minor > self.max_minor:
            raise ValueError(f"fee range {self.min_minor}..{self.max_minor} runs backwards")
        if self.kind == "none" and self.why is None:
            raise ValueError("a fee of kind none needs why")
        return Fee(self.kind, self.currency, self.minor, self.min_minor, self.max_minor, self.why, self.text)


class DealAnswer(BaseModel):
    fee: FeeAnswer = Field(default_factory=lambda: FeeAnswer(kind="unstated"))
    brand: str | None = Field(default=None, max_length=200)
    talent: str | None = Field(default=None, max_length=200)
    starts_on: date | None = None
    ends_on: date | None = None
    deliverables: list[DeliverableAnswer] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)

    def result(self) -> DealTerms:
        return DealTerms(
            fee=self.fee.result(),
            deliverables=[Deliverable(d.platform, d.count, d.optional) for d in self.deliverables],
            brand=self.brand,
            talent=self.talent,
            reasons=self.reasons,
            starts_on=self.starts_on,
            ends_on=self.ends_on,
        )


CLASSIFY_PROMPT: Final = (
    "You classify email sent to a talent agency. Answer with a JSON object: "
    f'{{"category": one of {", ".join(MessageCategory)}; '
    '"confidence": 0..1; "reasons": [short strings]}. '
    "deal_offer: a brand or its agency proposes paid or gifted work; invoice: paying or being paid; "
    "scheduling: arranging a time; deliverable: content already agreed (drafts, feedback, go-live); "
    "spam: junk or a scam (crypto wallets, a fee the creator must pay, look-alike payment senders, "
    "follower selling); other: everything else (newsletters, even about someone else's deal, internal "
    "memos, thank-you notes, job applications)."
)
EXTRACT_PROMPT: Final = (
    "You extract the terms of a brand's sponsorship offer to a creator. Answer with a JSON object: "
    '{"fee": {"kind": "exact" | "range" | "none" | "unstated", "currency": ISO 4217 code or null, '
    '"minor": total in minor units (cents; JPY and KRW have none) for exact, "min_minor" and '
    '"max_minor" for a range, "why": "gifted" | "product_only" | "commission_only" for none, '
    '"text": the words the fee is read from}; "brand": the advertiser (never its media agency); '
    '"talent": the creator as the mail names them, or null; '
    f'"deliverables": [{{"platform": one of {", ".join(PLATFORMS)}; "count": integer; '
    '"optional": boolean}]; "starts_on" and "ends_on": the campaign window as YYYY-MM-DD or null; '
    '"reasons": [strings]}. The fee is the total the brand offers now for what it asks: never a rate '
    "card, an earlier counter-offer, last campaign's price or a fee the creator would pay; a price per "
    "unit is multiplied by the count; a range stays a range; no currency written means kind unstated "
    '(never guess one); "2 stories a month for 3 months" is 6.'
)

_Answer = TypeVar("_Answer", Classification, DealTerms)


def _note_first(result: _Answer, note: str) -> _Answer:
    """The rules' answer with ``note`` (why the rules answered) as its first reason."""
    return replace(result, reasons=[note, *result.reasons])


CLASSIFY_MESSAGE: Final[Capability[Mail, ClassificationAnswer, Classification]] = Capability(
    name="classify_message",
    rules=lambda mail: classify_message(mail.subject, mail.body, sender=mail.sender),
    prompt=CLASSIFY_PROMPT,
    request=Mail.as_request,
    answer=ClassificationAnswer,
    read=lambda answer, _: Classification(answer.category.value, answer.confidence, answer.reasons),
    what=lambda _: "classification",
    falls_back=True,
    noted=_note_first,
)
EXTRACT_DEAL: Final[Capability[Mail, DealAnswer, DealTerms]] = Capability(
    name="extract_deal",
    rules=lambda mail: extract_deal(mail.subject, mail.body, sender=mail.sender, reference=mail.reference),
    prompt=EXTRACT_PROMPT,
    request=Mail.as_request,
    answer=DealAnswer,
    read=lambda answer, _: answer.result(),
    what=lambda _: "deal terms",
    falls_back=True,
    noted=_note_first,
)
