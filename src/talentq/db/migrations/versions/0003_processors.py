"""what the deal, outreach and delivery processors need: one current row per key, brand drafts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 16:15:00

- strategy-engine, creator-fit and creator-bundle replace their row on each run (upserts
  on these keys), so a retried or repeated job never adds a second prediction, score or
  bundle;
- contracts keep a brand's own draft for ai-contract to review.
- an agent task's follow-up task is unique per (task, step) that scheduled it, so a retried
  agent-tasks step finds the follow-up instead of adding a second.
- an outreach action that can never be sent is closed as 'failed' with its ``error``, and
  outreach-rotation closes a pitch it moves as 'rotated' (the talent's history stays).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("contracts", sa.Column("brand_draft", sa.Text(), nullable=True))
    op.add_column("outreach_actions", sa.Column("error", sa.Text(), nullable=True))
    op.drop_constraint("ck_outreach_actions_status", "outreach_actions", type_="check")
    op.create_check_constraint(
        "ck_outreach_actions_status",
        "outreach_actions",
        "status IN ('pending', 'sent', 'replied', 'failed', 'rotated')",
    )
    op.create_index(
        "uq_strategy_predictions_user_brand",
        "strategy_predictions",
        ["user_id", sa.literal_column("lower(brand_name)")],
        unique=True,
    )
    op.drop_constraint("uq_creator_fit_scores_prediction_talent", "creator_fit_scores", type_="unique")
    op.create_index(
        "uq_creator_fit_scores_user_talent_brand",
        "creator_fit_scores",
        ["user_id", "talent_id", sa.literal_column("lower(brand_name)")],
        unique=True,
    )
    op.drop_index(op.f("ix_creator_bundles_brand_id"), table_name="creator_bundles")
    op.create_unique_constraint(op.f("creator_bundles_brand_id_key"), "creator_bundles", ["brand_id"])
    op.create_index(
        "uq_agent_tasks_follow_up_of",
        "agent_tasks",
        [sa.literal_column("(input ->> 'followUpOf')")],
        unique=True,
        postgresql_where=sa.text("(input ->> 'followUpOf') IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_agent_tasks_follow_up_of", table_name="agent_tasks")
    op.drop_constraint(op.f("creator_bundles_brand_id_key"), "creator_bundles", type_="unique")
    op.create_index(op.f("ix_creator_bundles_brand_id"), "creator_bundles", ["brand_id"], unique=False)
    op.drop_index("uq_creator_fit_scores_user_talent_brand", table_name="creator_fit_scores")
    op.create_unique_constraint(
        "uq_creator_fit_scores_prediction_talent", "creator_fit_scores", ["prediction_id", "talent_id"]
    )
    op.drop_index("uq_strategy_predictions_user_brand", table_name="strategy_predictions")
    # 0002 knows no 'rotated': such a pitch was closed, as a 'failed' one is.
    op.execute("UPDATE outreach_actions SET status = 'failed' WHERE status = 'rotated'")
    op.drop_constraint("ck_outreach_actions_status", "outreach_actions", type_="check")
    op.create_check_constraint(
        "ck_outreach_actions_status", "outreach_actions", "status IN ('pending', 'sent', 'replied', 'failed')"
    )
    op.drop_column("outreach_actions", "error")
    op.drop_column("contracts", "brand_draft")
