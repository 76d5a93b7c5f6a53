"""Brand-CRM rules: a manager's relationship with a brand as a stage and a score, from plain facts
(outreach sent and answered, the brand's mail, deals by stage)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

#: Stages from the furthest along down; each has a weight in the score.
STAGE_WEIGHTS: Final = {
    "active": 1.0,  # a contracted deal is running
    "negotiating": 0.7,  # a draft or negotiating deal is open
    "client": 0.8,  # deals delivered, none open
    "engaged": 0.5,  # the brand has written or replied
    "contacted": 0.2,  # outreach sent, no answer yet
    "lost": 0.1,  # only lost deals, no contact since
    "prospect": 0.0,  # nothing yet
}
OPEN_STAGES: Final = ("draft", "negotiating", "contracted")
#: Days over which the recency part of the score falls from 1 to 0.
RECENCY_DAYS: Final = 90


@dataclass
class BrandFacts:
    """What the database says about one manager and one brand."""

    last_sent: datetime | None = None
    last_replied: datetime | None = None
    last_mail: datetime | None = None
    sent: int = 0
    replied_actions: int = 0
    mails: int = 0
    #: stage -> number of deals; and the open deals' (currency, fee) pairs.
    deals: dict[str, int] = field(default_factory=dict)
    open_values: list[tuple[str, int]] = field(default_factory=list)


def replies_of(facts: BrandFacts) -> int:
    """How often the brand wrote back: its mails in the manager's inbox (MAIL_WINDOW), or the pitches
    marked replied (ever).

    Not their sum: outreach-follow-ups marks a pitch replied *from* one of those mails, so with the
    manager's mailbox connected the mails already include every reply (and the brand's unprompted
    mail too). The replied pitches count alone only where mail is missing (no mailbox connected,
    or a reply recorded by hand), so the larger of the two never counts one mail twice.
    """
    return max(facts.mails, facts.replied_actions)


def stage_of(facts: BrandFacts) -> str:
    """The furthest stage the facts support (see STAGE_WEIGHTS)."""
    if facts.deals.get("contracted"):
        return "active"
    if facts.deals.get("draft") or facts.deals.get("negotiating"):
        return "negotiating"
    if facts.deals.get("delivered"):
        return "client"
    if replies_of(facts):
        return "engaged"
    if facts.sent:
        return "contacted"
    return "lost" if facts.deals.get("lost") else "prospect"


def score_of(facts: BrandFacts, last_contact: datetime | None, now: datetime) -> float:
    """How warm the relationship is, 0..1: 0.4 * stage + 0.25 * recency + 0.2 * response + 0.15 * wins.

    - stage: STAGE_WEIGHTS of ``stage_of``;
    - recency: 1 for contact today, falling linearly to 0 at RECENCY_DAYS (0 with no contact);
    - response: replies per outreach sent, at most 1 (1 when the brand wrote unprompted);
    - wins: contracted and delivered deals, a third each, at most 1.
    """
    stage = STAGE_WEIGHTS[stage_of(facts)]
    recency = 0.0
    if last_contact is not None:
        days = max(0.0, (now - last_contact).total_seconds() / 86_400)
        recency = max(0.0, 1 - days / RECENCY_DAYS)
    replies = replies_of(facts)
    response = min(1.0, replies / facts.sent) if facts.sent else (1.0 if replies else 0.0)
    wins = min(1.0, (facts.deals.get("contracted", 0) + facts.deals.get("delivered", 0)) / 3)
    return round(0.4 * stage + 0.25 * recency + 0.2 * response + 0.15 * wins, 3)
