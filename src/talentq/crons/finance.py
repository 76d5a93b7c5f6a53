"""Money crons: check-overdue-invoices marks sent invoices past due overdue and emails each brand a reminder.

Two statements whatever the number of invoices; a re-run sends nothing twice (one job id per invoice).
An address that is blank is no address; one the email queue refuses is skipped and reported, and
never holds back the other reminders.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import Row, text

from talentq import job_ids
from talentq.db.tables import Brand, Invoice
from talentq.domain.money import amount_text, totals_by_currency
from talentq.jobs import JobContext, tick_time, uses_tables
from talentq.queues import EMAIL_SEND, EmailSend

#: The cron's name in the schedule: its tick is "now" (see ``talentq.jobs.tick_time``).
CHECK_OVERDUE_INVOICES: Final = "check-overdue-invoices"
#: How many invoices without a billing address the result lists by number (all are counted).
NO_ADDRESS_LISTED: Final = 100

# One statement marks the newly overdue and reads every overdue invoice not yet reminded: the new
# ones (from the UPDATE's RETURNING) and older ones whose reminder never went out (a run stopped
# before its emails, or a brand that had no address then). All parts of a statement share one
# snapshot, so the second SELECT still sees this run's invoices as 'sent': none is read twice.
_MARK_OVERDUE: Final = text(
    """
    WITH newly AS (
        UPDATE invoices SET status = 'overdue'
        WHERE status = 'sent' AND due_at < :now
        RETURNING id, number, brand_id, amount_minor, currency, due_at
    ), unreminded AS (
        SELECT id, number, brand_id, amount_minor, currency, due_at, true AS new FROM newly
        UNION ALL
        SELECT id, number, brand_id, amount_minor, currency, due_at, false AS new
        FROM invoices WHERE status = 'overdue' AND reminded_at IS NULL
    )
    SELECT u.id, u.number, u.amount_minor, u.currency, u.due_at, u.new, b.name AS brand,
           coalesce(nullif(btrim(b.billing_email), ''), nullif(btrim(b.contact_email), '')) AS address
    FROM unreminded AS u JOIN brands AS b ON b.id = u.brand_id
    ORDER BY u.id
    """
)
_MARK_REMINDED: Final = text("UPDATE invoices SET reminded_at = :at WHERE id = ANY(:ids)")


@uses_tables(Invoice, Brand)
async def check_overdue_invoices(ctx: JobContext) -> dict[str, Any]:
    """Sent invoices past due become overdue; each gets one reminder to the brand's billing address.

    ``count``: invoices that became overdue in this run; ``overdue_totals``: their amounts per
    currency. Invoices whose brand has neither a billing nor a contact email are marked overdue
    but not reminded (``no_address``); they stay unreminded, so the run after someone adds an
    address reminds them.
    """
    now = tick_time(ctx, CHECK_OVERDUE_INVOICES)
    async with ctx["sessions"].begin() as session:
        rows = (await session.execute(_MARK_OVERDUE, {"now": now})).all()
    newly = [row for row in rows if row.new]
    to_remind = [row for row in rows if row.address is not None]
    no_address = [row for row in rows if row.address is None]

    # The job id is the invoice's: a re-run, or the next day's run after a crash, finds the job
    # (or email-send's outbox row of the same id) and sends nothing twice.
    zone = ctx["settings"].cron_zone
    fan = await ctx["producer"].fan_out(
        EMAIL_SEND,
        to_remind,
        payload=lambda row: _reminder(row, zone),
        job_id=lambda row: job_ids.invoice_reminder_email(row.id),
    )
    # A reminder the queue refused (an address that is no address) is not marked: it is reminded
    # by the run after someone corrects it, as one with no address at all is.
    refused = {r.index for r in fan.refused}
    reminded = [row.id for index, row in enumerate(to_remind) if index not in refused]
    if reminded:
        async with ctx["sessions"].begin() as session:
            await session.execute(_MARK_REMINDED, {"at": now, "ids": reminded})
    return {
        "count": len(newly),
        "overdue_totals": totals_by_currency((row.currency, row.amount_minor) for row in newly),
        "reminders": fan.enqueued,
        "no_address": len(no_address),
        "no_address_invoices": [row.number for row in no_address[:NO_ADDRESS_LISTED]],
        **fan.report(),
    }


def _reminder(row: Row[Any], zone: ZoneInfo) -> EmailSend:
    amount = amount_text(row.amount_minor, row.currency)
    due: datetime | None = row.due_at  # None only for an invoice set overdue by hand
    when = "" if due is None else f" was due on {due.astimezone(zone):%d %B %Y} and"
    return EmailSend(
        to=row.address,
        subject=f"Invoice {row.number} is overdue ({amount})",
        body=(
            f"Hello {row.brand},\n\n"
            f"Invoice {row.number} for {amount}{when} has not been paid yet.\n"
            "Please arrange payment, or reply to this email if it is already on its way.\n\n"
            "Thank you."
        ),
    )
