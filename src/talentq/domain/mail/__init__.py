"""Mail understanding: which of the six categories a message is, and the terms of an offer.

Deterministic, offline, and explained: every answer carries the cues behind it. Measured against
the labelled corpus in ``tests/data/corpus/`` (``talentq ai eval``)."""

from __future__ import annotations

from talentq.domain.mail.classify import classify_message
from talentq.domain.mail.extract import extract_deal
from talentq.domain.mail.terms import Classification, DealTerms, Deliverable, Fee

__all__ = ["Classification", "DealTerms", "Deliverable", "Fee", "classify_message", "extract_deal"]
