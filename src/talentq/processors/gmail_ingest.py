"""gmail-ingest: pull a manager's new mail, store it once, and hand each new message to ``inbox``.

Reads ``mail_connections``; writes ``inbox_messages`` and the connection's cursor. Safe to
re-run: messages are unique per (connection, provider id); the cursor moves only after
they are committed; every stored message not yet routed (``routed_at`` empty) gets its
``inbox`` job, under an id derived from the message, so a crash between storing and
enqueueing loses nothing and a re-run enqueues nothing twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from talentq import job_ids
from talentq.db.models import utcnow
from talentq.db.tables import InboxMessage, MailConnection
from talentq.errors import ConfigError, PermanentJobError
from talentq.integrations.mailbox import MailboxRejected
from talentq.jobs import JobContext, uses_tables
from talentq.queues import INBOX, GmailIngest, MessageRef


@uses_tables(MailConnection, InboxMessage)
async def handle(ctx: JobContext, payload: GmailIngest) -> dict[str, Any]:
    async with ctx["sessions"]() as session:
        connection = await session.scalar(
            select(MailConnection)
            .where(col(MailConnection.user_id) == payload.user_id, col(MailConnection.provider) == "gmail")
            .where(col(MailConnection.active).is_(True))
            .order_by(col(MailConnection.id))
            .limit(1)
        )
    if connection is None or connection.id is None:
        raise PermanentJobError(f"user {payload.user_id} has no active Gmail connection")
    if not connection.refresh_token:
        raise PermanentJobError(
            f"mail connection {connection.id} has no refresh token: reconnect the mailbox"
        )
    try:
        fetched = await ctx["gmail"].fetch_new(
            connection.refresh_token, connection.sync_cursor, full_sync=payload.full_sync
        )
    except (ConfigError, MailboxRejected) as exc:
        raise PermanentJobError(f"mail connection {connection.id}: {exc}") from exc

    rows = [
        {
            "user_id": connection.user_id,
            "connection_id": connection.id,
            "provider_message_id": m.provider_message_id,
            "thread_id": m.thread_id,
            "sender": m.sender,
            "recipients": m.recipients,
            "subject": m.subject,
            "body": m.body,
            "received_at": m.received_at,
        }
        for m in fetched.messages
    ]
    async with ctx["sessions"].begin() as session:
        inserted = 0
        if rows:
            result = await session.execute(
                insert(InboxMessage)
                .values(rows)
                .on_conflict_do_nothing(index_elements=["connection_id", "provider_message_id"])
                .returning(col(InboxMessage.id))
            )
            inserted = len(result.all())
    # Only now, with the messages committed, does the cursor move past them.
    async with ctx["sessions"].begin() as session:
        await session.execute(
            update(MailConnection)
            .where(col(MailConnection.id) == connection.id)
            .values(sync_cursor=fetched.cursor, last_synced_at=utcnow())
        )
        unrouted = [
            message_id
            for message_id in (
                await session.execute(
                    select(col(InboxMessage.id))
                    .where(
                        col(InboxMessage.connection_id) == connection.id,
                        col(InboxMessage.routed_at).is_(None),
                    )
                    .order_by(col(InboxMessage.id))
                )
            ).scalars()
            if message_id is not None  # a stored row's id, always; the type cannot say so
        ]
    enqueued = await ctx["producer"].enqueue_many(
        INBOX, [MessageRef(message_id=i) for i in unrouted], job_ids=[job_ids.inbox(i) for i in unrouted]
    )
    return {
        "fetched": len(fetched.messages),
        "new": inserted,
        "enqueued": sum(job is not None for job in enqueued),
        "cursor": fetched.cursor,
    }
