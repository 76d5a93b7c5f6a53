"""deals keep the fee the offer stated: an amount, a range, no cash fee, or none stated

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 11:00:00

- deals: ``offered_fee``, the fee as deal-extraction read it from the offer (its kind — exact,
  range, none with why, unstated — its amounts in minor units, currency and the words it was read
  from). ``fee_minor`` stays the deal's working fee: set from an exact offer in an ISO currency,
  else left for a person (``attention`` says why).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("deals", sa.Column("offered_fee", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("deals", "offered_fee")
