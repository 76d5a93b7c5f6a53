"""Mail crons: gmail-sync fans one gmail-ingest out per mailbox due a sync; whatsapp-sync pulls messages.

A number whose sync fails is recorded (``last_error``) and the others are synced; only when every
number fails (the provider itself is down) does the run fail.

"Now" is the run's tick (``talentq.jobs.tick_time``).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Final

from loguru import logger
from sqlalchemy import or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from talentq import job_ids
from talentq.db.tables import MailConnection, WhatsAppMessage, WhatsAppNumber
from talentq.integrations.whatsapp import missing_settings
from talentq.jobs import JobContext, tick_time, uses_tables
from talentq.queues import GMAIL_INGEST, GmailIngest

#: The crons' names in the schedule: each run's tick is its "now" (see ``talentq.jobs.tick_time``).
GMAIL_SYNC: Final = "gmail-sync"
WHATSAPP_SYNC: Final = "whatsapp-sync"

#: A mailbox synced more recently than this is skipped (gmail-ingest may still be running).
SYNC_EVERY: Final = timedelta(minutes=10)


@uses_tables(MailConnection)
async def gmail_sync(ctx: JobContext) -> dict[str, Any]:
    """One statement selects the users due a sync; one script call enqueues their gmail-ingest jobs."""
    cutoff = tick_time(ctx, GMAIL_SYNC) - SYNC_EVERY
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
    fan = await ctx["producer"].fan_out(
        GMAIL_INGEST,
        users,
        payload=lambda user: GmailIngest(user_id=user),
        job_id=lambda user: job_ids.mailbox_sync(user, ctx["job_id"]),
    )
    return {"count": fan.enqueued, "users": users, **fan.report()}


@uses_tables(WhatsAppNumber, WhatsAppMessage)
async def whatsapp_sync(ctx: JobContext) -> dict[str, Any]:
    """New messages of every connected number into the database: three statements, however many numbers.

    Not configured: a skip result naming the settings to set, not a failure every ten minutes.
    """
    client = ctx["whatsapp"]
    if client is None:
        missing = " and ".join(missing_settings(ctx["settings"]))
        return {"count": 0, "skipped": f"WhatsApp is not configured: set {missing}"}
    async with ctx["sessions"]() as session:
        numbers = list(
            (
                await session.execute(select(WhatsAppNumber).where(col(WhatsAppNumber.active).is_(True)))
            ).scalars()
        )
    rows: list[dict[str, Any]] = []
    outcomes: list[dict[str, Any]] = []  # per number: its new cursor, or why it failed
    failed: list[tuple[WhatsAppNumber, Exception]] = []
    for number in numbers:
        try:
            items, cursor = await client.messages_since(number.phone_number, number.sync_cursor)
        except Exception as exc:
            # One number the provider refuses (or that fails) must not keep the others from syncing.
            failed.append((number, exc))
            outcomes.append({"number_id": number.id, "cursor": None, "error": f"{type(exc).__name__}: {exc}"})
            continue
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
        outcomes.append({"number_id": number.id, "cursor": cursor, "error": None})
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
        if outcomes:
            # Every number in one UPDATE, in the transaction that stores its messages: a synced one
            # moves its cursor and clears its error; a failed one keeps its cursor and says why.
            await session.execute(
                text(
                    "UPDATE whatsapp_numbers AS n "
                    "SET sync_cursor = CASE WHEN v.error IS NULL THEN v.cursor ELSE n.sync_cursor END, "
                    "last_synced_at = CASE WHEN v.error IS NULL THEN :now ELSE n.last_synced_at END, "
                    "last_error = v.error "
                    "FROM jsonb_to_recordset(CAST(:outcomes AS jsonb)) "
                    "AS v(number_id int, cursor text, error text) "
                    "WHERE n.id = v.number_id"
                ),
                {"outcomes": json.dumps(outcomes), "now": tick_time(ctx, WHATSAPP_SYNC)},
            )
    if failed and len(failed) == len(numbers):
        raise failed[0][1]  # nothing synced: the provider itself is in trouble; the run fails loudly
    for number, error in failed:
        logger.warning(
            "whatsapp-sync: number {} ({}) not synced: {!r}", number.id, number.phone_number, error
        )
    return {
        "count": stored,
        "numbers": len(numbers),
        **({"failed": len(failed), "failedNumbers": [number.id for number, _ in failed]} if failed else {}),
    }
