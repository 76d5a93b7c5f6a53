"""Mail crons: gmail-sync fans one gmail-ingest out per mailbox due a sync."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from sqlalchemy import or_, select
from sqlmodel import col

from talentq.db.domain import MailConnection
from talentq.db.models import utcnow
from talentq.jobs import JobContext, uses_tables

#: A mailbox synced more recently than this is skipped (gmail-ingest may still be running).
SYNC_EVERY: Final = timedelta(minutes=10)


@uses_tables(MailConnection)
async def gmail_sync(ctx: JobContext) -> dict[str, Any]:
    """One statement selects the users due a sync; one script call enqueues their gmail-ingest jobs."""
    cutoff = utcnow() - SYNC_EVERY
    async with ctx["sessions"]() as session:
        users = list(
            (
                await session.execute(
                    select(col(MailConnection.user_id))
                    .where(col(MailConnection.active).is_(True), col(MailConnection.provider) == "gmail")
                    .where(
                        or_(
                            col(MailConnection.last_synced_at).is_(None),
                            col(MailConnection.last_synced_at) < cutoff,
                        )
                    )
                    .distinct()
                    .order_by(col(MailConnection.user_id))
                )
            ).scalars()
        )
    # Job ids carry the tick, so a tick that runs twice enqueues nothing new.
    ids = await ctx["producer"].enqueue_many(
        "gmail-ingest",
        [{"userId": u} for u in users],
        job_ids=[f"gmail-ingest:{u}:{ctx['job_id']}" for u in users],
    )
    return {"count": sum(job is not None for job in ids), "users": users}
