"""Mail crons: gmail-sync fans one gmail-ingest out per mailbox due a sync; whatsapp-sync pulls messages."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from talentq.db.domain import MailConnection, WhatsAppMessage, WhatsAppNumber
from talentq.db.models import utcnow
from talentq.integrations.whatsapp import WhatsAppClient, missing_settings
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


@uses_tables(WhatsAppNumber, WhatsAppMessage)
async def whatsapp_sync(ctx: JobContext) -> dict[str, Any]:
    """New messages of every connected number into the database: three statements, however many numbers.

    Not configured: a skip result naming the settings to set, not a failure every ten minutes.
    """
    missing = missing_settings(ctx["settings"])
    if missing:
        return {"count": 0, "skipped": f"WhatsApp is not configured: set {' and '.join(missing)}"}
    client = WhatsAppClient(ctx["http"], ctx["settings"])
    async with ctx["sessions"]() as session:
        numbers = list(
            (
                await session.execute(select(WhatsAppNumber).where(col(WhatsAppNumber.active).is_(True)))
            ).scalars()
        )
    rows: list[dict[str, Any]] = []
    cursors: list[dict[str, Any]] = []
    for number in numbers:
        items, cursor = await client.messages_since(number.phone_number, number.sync_cursor)
        rows += [
            {
                "user_id": number.user_id,
                "provider_message_id": item.provider_message_id,
                "phone_from": item.phone_from,
                "phone_to": item.phone_to,
                "direction": item.direction,
                "body": item.body,
                "received_at": item.received_at,
            }
            for item in items
        ]
        cursors.append({"number_id": number.id, "cursor": cursor})
    stored = 0
    async with ctx["sessions"].begin() as session:
        # One INSERT per 1,000 messages: a statement carries at most 32,767 parameters.
        for start in range(0, len(rows), 1000):
            result = await session.execute(
                insert(WhatsAppMessage)
                .values(rows[start : start + 1000])
                .on_conflict_do_nothing(index_elements=["provider_message_id"])
                .returning(col(WhatsAppMessage.id))
            )
            stored += len(result.all())
        if cursors:
            # Every number's cursor in one UPDATE, in the transaction that stores its messages.
            await session.execute(
                text(
                    "UPDATE whatsapp_numbers AS n SET sync_cursor = v.cursor, last_synced_at = now() "
                    "FROM jsonb_to_recordset(CAST(:cursors AS jsonb)) AS v(number_id int, cursor text) "
                    "WHERE n.id = v.number_id"
                ),
                {"cursors": json.dumps(cursors)},
            )
    return {"count": stored, "numbers": len(numbers)}
