"""an outbox row says when its email is being handed to the server, so a lost worker never resends

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 08:00:00

- 'sending': email-send marks the row before the SMTP handoff and 'sent' after it; a run that
  finds a row still 'sending' knows the worker before it stopped in the middle of the handoff.
- 'uncertain': such a row. The email may have gone out; it is not sent again by itself (the job
  is dead-lettered saying so, and a replay sends it), so a killed worker never doubles an email.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("ck_outbound_emails_status", "outbound_emails", type_="check")
    op.create_check_constraint(
        "ck_outbound_emails_status",
        "outbound_emails",
        "status IN ('pending', 'sending', 'sent', 'uncertain', 'failed')",
    )


def downgrade() -> None:
    # 0003 knows neither: a handoff in flight is pending again, an uncertain one failed.
    op.execute("UPDATE outbound_emails SET status = 'pending' WHERE status = 'sending'")
    op.execute("UPDATE outbound_emails SET status = 'failed' WHERE status = 'uncertain'")
    op.drop_constraint("ck_outbound_emails_status", "outbound_emails", type_="check")
    op.create_check_constraint(
        "ck_outbound_emails_status", "outbound_emails", "status IN ('pending', 'sent', 'failed')"
    )
