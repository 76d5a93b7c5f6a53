"""social-refresh: the social feature is disabled; every job fails permanently with the catalogue's reason.

Reads and writes nothing. The client already refuses the queue; this catches a job that
reached Redis another way (a raw ``enqueue_job``, an old producer) and dead-letters it loudly.
"""

from __future__ import annotations

from typing import Any, Final

from talentq.errors import PermanentJobError
from talentq.jobs import JobContext, uses_tables
from talentq.queues import CATALOGUE, SocialRefresh

#: The catalogue's own words, so the dead letter and the client's refusal say the same thing.
REASON: Final = CATALOGUE["social-refresh"].disabled or "the social feature is disabled"


@uses_tables()
async def handle(ctx: JobContext, payload: SocialRefresh) -> dict[str, Any]:
    raise PermanentJobError(
        f"social-refresh for talent {payload.talent_id} refused: {REASON}; "
        "nothing was read or written (re-enable the feature in queues.py before replaying)"
    )
