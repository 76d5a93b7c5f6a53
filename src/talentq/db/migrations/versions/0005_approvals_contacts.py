"""a person approves what the AI wrote before it goes out; talents' own contacts; fees kept as written

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 09:00:00

- approvals: who decided (``decided_by_id``) and why (``reason``), and the email job approving
  sent (``email_job_id``).
- outreach_actions: ``approval_id``, the approval a pitch or follow-up waits for (it stays
  'pending' meanwhile), and two ways such an action ends unsent: 'expired' (nobody decided in
  time: it does not hold the brand) and 'rejected' (a person said no).
- talents: ``email`` and ``whatsapp_number``, so reminders reach the talent.
- deals: ``fee_text`` (an amount as the brand wrote it, kept when it cannot be priced, e.g. no
  currency) and ``attention`` (why a person must look at the deal).
- whatsapp_numbers: ``last_error``, why a number's last sync failed (the others were synced).
- outbound_emails: ``cc``, the addresses an email copied (a talent's reminder copies the manager).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OUTREACH_BEFORE = "status IN ('pending', 'sent', 'replied', 'failed', 'rotated')"
_OUTREACH_AFTER = "status IN ('pending', 'sent', 'replied', 'failed', 'rotated', 'expired', 'rejected')"


def upgrade() -> None:
    op.add_column("approvals", sa.Column("decided_by_id", sa.Integer(), nullable=True))
    op.create_foreign_key("approvals_decided_by_id_fkey", "approvals", "users", ["decided_by_id"], ["id"])
    op.add_column("approvals", sa.Column("reason", sa.Text(), nullable=True))
    op.add_column("approvals", sa.Column("email_job_id", sa.Text(), nullable=True))

    op.add_column("outreach_actions", sa.Column("approval_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        "outreach_actions_approval_id_fkey", "outreach_actions", "approvals", ["approval_id"], ["id"]
    )
    op.create_index(
        op.f("ix_outreach_actions_approval_id"), "outreach_actions", ["approval_id"], unique=False
    )
    op.drop_constraint("ck_outreach_actions_status", "outreach_actions", type_="check")
    op.create_check_constraint("ck_outreach_actions_status", "outreach_actions", _OUTREACH_AFTER)

    op.add_column("talents", sa.Column("email", sa.String(length=320), nullable=True))
    op.add_column("talents", sa.Column("whatsapp_number", sa.String(length=32), nullable=True))

    op.add_column("deals", sa.Column("fee_text", sa.Text(), nullable=True))
    op.add_column("deals", sa.Column("attention", sa.Text(), nullable=True))
    op.add_column("whatsapp_numbers", sa.Column("last_error", sa.Text(), nullable=True))
    op.add_column("outbound_emails", sa.Column("cc", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("outbound_emails", "cc")
    op.drop_column("whatsapp_numbers", "last_error")
    op.drop_column("deals", "attention")
    op.drop_column("deals", "fee_text")
    op.drop_column("talents", "whatsapp_number")
    op.drop_column("talents", "email")
    # 0004 knows neither ending: an expired or rejected pitch was closed unsent, as a failed one is.
    op.execute("UPDATE outreach_actions SET status = 'failed' WHERE status IN ('expired', 'rejected')")
    op.drop_constraint("ck_outreach_actions_status", "outreach_actions", type_="check")
    op.create_check_constraint("ck_outreach_actions_status", "outreach_actions", _OUTREACH_BEFORE)
    op.drop_index(op.f("ix_outreach_actions_approval_id"), table_name="outreach_actions")
    op.drop_constraint("outreach_actions_approval_id_fkey", "outreach_actions", type_="foreignkey")
    op.drop_column("outreach_actions", "approval_id")
    op.drop_column("approvals", "email_job_id")
    op.drop_column("approvals", "reason")
    op.drop_constraint("approvals_decided_by_id_fkey", "approvals", type_="foreignkey")
    op.drop_column("approvals", "decided_by_id")
