"""talentq's business rules: plain functions on plain data, importing nothing else of talentq.

No database, no Redis, no HTTP, no job machinery: money, time, vocabulary, mail understanding,
pricing and negotiation, contracts, agent moves, outreach, content review and brand-CRM scoring.
Processors and crons gather the facts, call these rules, and store what they answer.
"""

from __future__ import annotations


class Refused(ValueError):
    """The rules refuse this input, and no retry can change their answer.

    The job wrapper dead-letters a job that raises it at once, as it does a ``PermanentJobError``;
    the message names what was refused and why.
    """
