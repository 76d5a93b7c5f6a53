"""the talent platform's domain tables (users, talents, brands, deals, ...)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 15:42:07.904626
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "brands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=True),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("instagram_handle", sa.String(length=100), nullable=True),
        sa.Column("contact_email", sa.String(length=320), nullable=True),
        sa.Column("billing_email", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("domain"),
        sa.UniqueConstraint("name"),
    )
    op.create_index(op.f("ix_brands_category"), "brands", ["category"], unique=False)
    op.create_table(
        "outbound_emails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Text(), nullable=False),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("reply_to", sa.String(length=320), nullable=True),
        sa.Column("status", sa.String(length=10), server_default="pending", nullable=False),
        sa.Column("provider_id", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name="ck_outbound_emails_status"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id"),
    )
    op.create_index(op.f("ix_outbound_emails_status"), "outbound_emails", ["status"], unique=False)
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("digest_opt_in", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("time_zone", sa.String(length=64), server_default="UTC", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_index(op.f("ix_users_digest_opt_in"), "users", ["digest_opt_in"], unique=False)
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column(
            "payload",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("source_key", sa.String(length=200), nullable=True),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=10), server_default="pending", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'expired')", name="ck_approvals_status"
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_key"),
    )
    op.create_index(op.f("ix_approvals_created_at"), "approvals", ["created_at"], unique=False)
    op.create_index(op.f("ix_approvals_expires_at"), "approvals", ["expires_at"], unique=False)
    op.create_index(op.f("ix_approvals_requested_by_id"), "approvals", ["requested_by_id"], unique=False)
    op.create_index(op.f("ix_approvals_status"), "approvals", ["status"], unique=False)
    op.create_table(
        "brand_crm_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=30), server_default="prospect", nullable=False),
        sa.Column("last_contact_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("open_deals", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "open_deal_value",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("replies", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("score", sa.Float(), server_default=sa.text("0.0"), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "brand_id", name="uq_brand_crm_records_user_brand"),
    )
    op.create_index(op.f("ix_brand_crm_records_brand_id"), "brand_crm_records", ["brand_id"], unique=False)
    op.create_index(
        op.f("ix_brand_crm_records_refreshed_at"), "brand_crm_records", ["refreshed_at"], unique=False
    )
    op.create_index(op.f("ix_brand_crm_records_user_id"), "brand_crm_records", ["user_id"], unique=False)
    op.create_table(
        "creator_bundles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column(
            "talent_ids",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("budget_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), server_default="USD", nullable=False),
        sa.Column(
            "rationale",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="ck_creator_bundles_currency"),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_creator_bundles_brand_id"), "creator_bundles", ["brand_id"], unique=False)
    op.create_table(
        "mail_connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=20), server_default="gmail", nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("refresh_token", sa.Text(), nullable=True),
        sa.Column("sync_cursor", sa.String(length=200), nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "address", name="uq_mail_connections_provider_address"),
    )
    op.create_index(op.f("ix_mail_connections_active"), "mail_connections", ["active"], unique=False)
    op.create_index(
        "ix_mail_connections_sync_due",
        "mail_connections",
        ["last_synced_at"],
        unique=False,
        postgresql_where=sa.text("active"),
    )
    op.create_index(op.f("ix_mail_connections_user_id"), "mail_connections", ["user_id"], unique=False)
    op.create_table(
        "strategy_predictions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=True),
        sa.Column("brand_name", sa.String(length=200), nullable=False),
        sa.Column("predicted_spend_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), server_default="USD", nullable=False),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("timing", sa.String(length=100), nullable=True),
        sa.Column("confidence", sa.Float(), server_default=sa.text("0.0"), nullable=False),
        sa.Column(
            "reasons",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="ck_strategy_predictions_currency"),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_strategy_predictions_brand_id"), "strategy_predictions", ["brand_id"], unique=False
    )
    op.create_index(
        op.f("ix_strategy_predictions_brand_name"), "strategy_predictions", ["brand_name"], unique=False
    )
    op.create_index(
        op.f("ix_strategy_predictions_user_id"), "strategy_predictions", ["user_id"], unique=False
    )
    op.create_table(
        "talents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("handle", sa.String(length=100), nullable=False),
        sa.Column("manager_id", sa.Integer(), nullable=False),
        sa.Column(
            "niches",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("audience_size", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("daily_outreach_cap", sa.Integer(), server_default=sa.text("3"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["manager_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("handle"),
    )
    op.create_index(op.f("ix_talents_active"), "talents", ["active"], unique=False)
    op.create_index(op.f("ix_talents_manager_id"), "talents", ["manager_id"], unique=False)
    op.create_table(
        "whatsapp_numbers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("phone_number", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=30), server_default="whatsapp_cloud", nullable=False),
        sa.Column("sync_cursor", sa.String(length=200), nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("phone_number"),
    )
    op.create_index(op.f("ix_whatsapp_numbers_active"), "whatsapp_numbers", ["active"], unique=False)
    op.create_index(op.f("ix_whatsapp_numbers_user_id"), "whatsapp_numbers", ["user_id"], unique=False)
    op.create_table(
        "creator_fit_scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("talent_id", sa.Integer(), nullable=False),
        sa.Column("prediction_id", sa.Integer(), nullable=True),
        sa.Column("brand_name", sa.String(length=200), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column(
            "reasons",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["prediction_id"],
            ["strategy_predictions.id"],
        ),
        sa.ForeignKeyConstraint(
            ["talent_id"],
            ["talents.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("prediction_id", "talent_id", name="uq_creator_fit_scores_prediction_talent"),
    )
    op.create_index(
        op.f("ix_creator_fit_scores_prediction_id"), "creator_fit_scores", ["prediction_id"], unique=False
    )
    op.create_index(
        op.f("ix_creator_fit_scores_talent_id"), "creator_fit_scores", ["talent_id"], unique=False
    )
    op.create_index(op.f("ix_creator_fit_scores_user_id"), "creator_fit_scores", ["user_id"], unique=False)
    op.create_table(
        "inbox_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("provider_message_id", sa.String(length=200), nullable=False),
        sa.Column("thread_id", sa.String(length=200), nullable=True),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column(
            "recipients",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=True),
        sa.Column("routed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("triaged_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "category IN ('deal_offer', 'invoice', 'scheduling', 'deliverable', 'spam', 'other')",
            name="ck_inbox_messages_category",
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["mail_connections.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "connection_id", "provider_message_id", name="uq_inbox_messages_connection_message"
        ),
    )
    op.create_index(op.f("ix_inbox_messages_category"), "inbox_messages", ["category"], unique=False)
    op.create_index(
        op.f("ix_inbox_messages_connection_id"), "inbox_messages", ["connection_id"], unique=False
    )
    op.create_index(op.f("ix_inbox_messages_received_at"), "inbox_messages", ["received_at"], unique=False)
    op.create_index(op.f("ix_inbox_messages_thread_id"), "inbox_messages", ["thread_id"], unique=False)
    op.create_index(
        "ix_inbox_messages_unrouted",
        "inbox_messages",
        ["id"],
        unique=False,
        postgresql_where=sa.text("routed_at IS NULL"),
    )
    op.create_index(op.f("ix_inbox_messages_user_id"), "inbox_messages", ["user_id"], unique=False)
    op.create_table(
        "outreach_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("talent_id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), server_default="initial", nullable=False),
        sa.Column("follow_up_of_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=10), server_default="pending", nullable=False),
        sa.Column("to_address", sa.String(length=320), nullable=True),
        sa.Column("subject", sa.String(length=300), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "(kind = 'follow_up') = (follow_up_of_id IS NOT NULL)", name="ck_outreach_actions_follow_up_of"
        ),
        sa.CheckConstraint("kind IN ('initial', 'follow_up')", name="ck_outreach_actions_kind"),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'replied', 'failed')", name="ck_outreach_actions_status"
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
        ),
        sa.ForeignKeyConstraint(
            ["follow_up_of_id"],
            ["outreach_actions.id"],
        ),
        sa.ForeignKeyConstraint(
            ["talent_id"],
            ["talents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_outreach_actions_brand_id"), "outreach_actions", ["brand_id"], unique=False)
    op.create_index(op.f("ix_outreach_actions_created_at"), "outreach_actions", ["created_at"], unique=False)
    op.create_index(op.f("ix_outreach_actions_replied_at"), "outreach_actions", ["replied_at"], unique=False)
    op.create_index(
        op.f("ix_outreach_actions_scheduled_at"), "outreach_actions", ["scheduled_at"], unique=False
    )
    op.create_index(op.f("ix_outreach_actions_sent_at"), "outreach_actions", ["sent_at"], unique=False)
    op.create_index(op.f("ix_outreach_actions_status"), "outreach_actions", ["status"], unique=False)
    op.create_index(op.f("ix_outreach_actions_talent_id"), "outreach_actions", ["talent_id"], unique=False)
    op.create_index(
        "uq_outreach_actions_one_follow_up",
        "outreach_actions",
        ["follow_up_of_id"],
        unique=True,
        postgresql_where=sa.text("follow_up_of_id IS NOT NULL"),
    )
    op.create_index(
        "uq_outreach_actions_open_pair",
        "outreach_actions",
        ["talent_id", "brand_id"],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("talent_id", sa.Integer(), nullable=True),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "data",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["talent_id"],
            ["talents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_reports_kind"), "reports", ["kind"], unique=False)
    op.create_index(op.f("ix_reports_talent_id"), "reports", ["talent_id"], unique=False)
    op.create_index(
        "uq_reports_kind_period_talent",
        "reports",
        ["kind", "period_start", sa.literal_column("coalesce(talent_id, 0)")],
        unique=True,
    )
    op.create_table(
        "social_stats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("talent_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=30), nullable=False),
        sa.Column("followers", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("engagement_rate", sa.Float(), server_default=sa.text("0.0"), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["talent_id"],
            ["talents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_social_stats_talent_id"), "social_stats", ["talent_id"], unique=False)
    op.create_table(
        "whatsapp_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("talent_id", sa.Integer(), nullable=True),
        sa.Column("provider_message_id", sa.String(length=200), nullable=False),
        sa.Column("phone_from", sa.String(length=32), nullable=False),
        sa.Column("phone_to", sa.String(length=32), nullable=False),
        sa.Column("direction", sa.String(length=10), server_default="inbound", nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["talent_id"],
            ["talents.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider_message_id"),
    )
    op.create_index(
        op.f("ix_whatsapp_messages_received_at"), "whatsapp_messages", ["received_at"], unique=False
    )
    op.create_index(op.f("ix_whatsapp_messages_talent_id"), "whatsapp_messages", ["talent_id"], unique=False)
    op.create_index(op.f("ix_whatsapp_messages_user_id"), "whatsapp_messages", ["user_id"], unique=False)
    op.create_table(
        "deals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("talent_id", sa.Integer(), nullable=True),
        sa.Column("brand_id", sa.Integer(), nullable=True),
        sa.Column("stage", sa.String(length=12), server_default="draft", nullable=False),
        sa.Column("fee_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), server_default="USD", nullable=False),
        sa.Column("source_message_id", sa.Integer(), nullable=True),
        sa.Column(
            "deliverables",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("insights", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column(
            "stage_changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="ck_deals_currency"),
        sa.CheckConstraint(
            "stage IN ('draft', 'negotiating', 'contracted', 'delivered', 'lost')", name="ck_deals_stage"
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
        ),
        sa.ForeignKeyConstraint(
            ["source_message_id"],
            ["inbox_messages.id"],
        ),
        sa.ForeignKeyConstraint(
            ["talent_id"],
            ["talents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_message_id"),
    )
    op.create_index(op.f("ix_deals_brand_id"), "deals", ["brand_id"], unique=False)
    op.create_index(op.f("ix_deals_stage"), "deals", ["stage"], unique=False)
    op.create_index(op.f("ix_deals_stage_changed_at"), "deals", ["stage_changed_at"], unique=False)
    op.create_index(op.f("ix_deals_talent_id"), "deals", ["talent_id"], unique=False)
    op.create_index(op.f("ix_deals_updated_at"), "deals", ["updated_at"], unique=False)
    op.create_table(
        "agent_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column(
            "input",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=10), server_default="queued", nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("deal_id", sa.Integer(), nullable=True),
        sa.Column("steps", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("steps_done", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("max_attempts", sa.Integer(), server_default=sa.text("3"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("timeout_s", sa.Integer(), server_default=sa.text("600"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="ck_agent_tasks_status"),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["deals.id"],
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["inbox_messages.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_agent_tasks_deal_id"), "agent_tasks", ["deal_id"], unique=False)
    op.create_index(op.f("ix_agent_tasks_finished_at"), "agent_tasks", ["finished_at"], unique=False)
    op.create_index(op.f("ix_agent_tasks_kind"), "agent_tasks", ["kind"], unique=False)
    op.create_index(op.f("ix_agent_tasks_message_id"), "agent_tasks", ["message_id"], unique=False)
    op.create_index(op.f("ix_agent_tasks_started_at"), "agent_tasks", ["started_at"], unique=False)
    op.create_index(op.f("ix_agent_tasks_status"), "agent_tasks", ["status"], unique=False)
    op.create_index(
        "uq_agent_tasks_kind_message",
        "agent_tasks",
        ["kind", "message_id"],
        unique=True,
        postgresql_where=sa.text("message_id IS NOT NULL"),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deal_id", sa.Integer(), nullable=False),
        sa.Column(
            "plan",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["deals.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("deal_id"),
    )
    op.create_table(
        "contracts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deal_id", sa.Integer(), nullable=False),
        sa.Column(
            "terms",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=10), server_default="drafting", nullable=False),
        sa.Column("rendered_text", sa.Text(), nullable=True),
        sa.Column("review", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finalised_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('drafting', 'finalised', 'signed')", name="ck_contracts_status"),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["deals.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_contracts_deal_id"), "contracts", ["deal_id"], unique=False)
    op.create_index(op.f("ix_contracts_status"), "contracts", ["status"], unique=False)
    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deal_id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("installment", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), server_default="USD", nullable=False),
        sa.Column("status", sa.String(length=10), server_default="draft", nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="ck_invoices_currency"),
        sa.CheckConstraint("status IN ('draft', 'sent', 'paid', 'overdue')", name="ck_invoices_status"),
        sa.CheckConstraint("amount_minor >= 0", name="ck_invoices_amount_minor"),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["deals.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("deal_id", "installment", name="uq_invoices_deal_installment"),
        sa.UniqueConstraint("number"),
    )
    op.create_index(op.f("ix_invoices_brand_id"), "invoices", ["brand_id"], unique=False)
    op.create_index(op.f("ix_invoices_deal_id"), "invoices", ["deal_id"], unique=False)
    op.create_index(op.f("ix_invoices_due_at"), "invoices", ["due_at"], unique=False)
    op.create_index(op.f("ix_invoices_issued_at"), "invoices", ["issued_at"], unique=False)
    op.create_index(op.f("ix_invoices_paid_at"), "invoices", ["paid_at"], unique=False)
    op.create_index(
        "ix_invoices_sent_due_at",
        "invoices",
        ["due_at"],
        unique=False,
        postgresql_where=sa.text("status = 'sent'"),
    )
    op.create_index(op.f("ix_invoices_status"), "invoices", ["status"], unique=False)
    op.create_table(
        "negotiation_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deal_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="open", nullable=False),
        sa.Column(
            "thread",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("last_step_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["deals.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_negotiation_sessions_deal_id"), "negotiation_sessions", ["deal_id"], unique=False
    )
    op.create_index(op.f("ix_negotiation_sessions_status"), "negotiation_sessions", ["status"], unique=False)
    op.create_table(
        "deliverables",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deal_id", sa.Integer(), nullable=False),
        sa.Column("talent_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("platform", sa.String(length=30), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("review", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'submitted', 'approved', 'changes_requested', 'overdue')",
            name="ck_deliverables_status",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["deals.id"],
        ),
        sa.ForeignKeyConstraint(
            ["talent_id"],
            ["talents.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_deliverables_campaign_id"), "deliverables", ["campaign_id"], unique=False)
    op.create_index(op.f("ix_deliverables_deal_id"), "deliverables", ["deal_id"], unique=False)
    op.create_index(op.f("ix_deliverables_due_at"), "deliverables", ["due_at"], unique=False)
    op.create_index(op.f("ix_deliverables_status"), "deliverables", ["status"], unique=False)
    op.create_index(op.f("ix_deliverables_talent_id"), "deliverables", ["talent_id"], unique=False)


def downgrade() -> None:

    op.drop_index(op.f("ix_deliverables_talent_id"), table_name="deliverables")
    op.drop_index(op.f("ix_deliverables_status"), table_name="deliverables")
    op.drop_index(op.f("ix_deliverables_due_at"), table_name="deliverables")
    op.drop_index(op.f("ix_deliverables_deal_id"), table_name="deliverables")
    op.drop_index(op.f("ix_deliverables_campaign_id"), table_name="deliverables")
    op.drop_table("deliverables")
    op.drop_index(op.f("ix_negotiation_sessions_status"), table_name="negotiation_sessions")
    op.drop_index(op.f("ix_negotiation_sessions_deal_id"), table_name="negotiation_sessions")
    op.drop_table("negotiation_sessions")
    op.drop_index(op.f("ix_invoices_status"), table_name="invoices")
    op.drop_index(
        "ix_invoices_sent_due_at", table_name="invoices", postgresql_where=sa.text("status = 'sent'")
    )
    op.drop_index(op.f("ix_invoices_paid_at"), table_name="invoices")
    op.drop_index(op.f("ix_invoices_issued_at"), table_name="invoices")
    op.drop_index(op.f("ix_invoices_due_at"), table_name="invoices")
    op.drop_index(op.f("ix_invoices_deal_id"), table_name="invoices")
    op.drop_index(op.f("ix_invoices_brand_id"), table_name="invoices")
    op.drop_table("invoices")
    op.drop_index(op.f("ix_contracts_status"), table_name="contracts")
    op.drop_index(op.f("ix_contracts_deal_id"), table_name="contracts")
    op.drop_table("contracts")
    op.drop_table("campaigns")
    op.drop_index(
        "uq_agent_tasks_kind_message",
        table_name="agent_tasks",
        postgresql_where=sa.text("message_id IS NOT NULL"),
    )
    op.drop_index(op.f("ix_agent_tasks_status"), table_name="agent_tasks")
    op.drop_index(op.f("ix_agent_tasks_started_at"), table_name="agent_tasks")
    op.drop_index(op.f("ix_agent_tasks_message_id"), table_name="agent_tasks")
    op.drop_index(op.f("ix_agent_tasks_kind"), table_name="agent_tasks")
    op.drop_index(op.f("ix_agent_tasks_finished_at"), table_name="agent_tasks")
    op.drop_index(op.f("ix_agent_tasks_deal_id"), table_name="agent_tasks")
    op.drop_table("agent_tasks")
    op.drop_index(op.f("ix_deals_updated_at"), table_name="deals")
    op.drop_index(op.f("ix_deals_talent_id"), table_name="deals")
    op.drop_index(op.f("ix_deals_stage_changed_at"), table_name="deals")
    op.drop_index(op.f("ix_deals_stage"), table_name="deals")
    op.drop_index(op.f("ix_deals_brand_id"), table_name="deals")
    op.drop_table("deals")
    op.drop_index(op.f("ix_whatsapp_messages_user_id"), table_name="whatsapp_messages")
    op.drop_index(op.f("ix_whatsapp_messages_talent_id"), table_name="whatsapp_messages")
    op.drop_index(op.f("ix_whatsapp_messages_received_at"), table_name="whatsapp_messages")
    op.drop_table("whatsapp_messages")
    op.drop_index(op.f("ix_social_stats_talent_id"), table_name="social_stats")
    op.drop_table("social_stats")
    op.drop_index("uq_reports_kind_period_talent", table_name="reports")
    op.drop_index(op.f("ix_reports_talent_id"), table_name="reports")
    op.drop_index(op.f("ix_reports_kind"), table_name="reports")
    op.drop_table("reports")
    op.drop_index(
        "uq_outreach_actions_open_pair",
        table_name="outreach_actions",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index(
        "uq_outreach_actions_one_follow_up",
        table_name="outreach_actions",
        postgresql_where=sa.text("follow_up_of_id IS NOT NULL"),
    )
    op.drop_index(op.f("ix_outreach_actions_talent_id"), table_name="outreach_actions")
    op.drop_index(op.f("ix_outreach_actions_status"), table_name="outreach_actions")
    op.drop_index(op.f("ix_outreach_actions_sent_at"), table_name="outreach_actions")
    op.drop_index(op.f("ix_outreach_actions_scheduled_at"), table_name="outreach_actions")
    op.drop_index(op.f("ix_outreach_actions_replied_at"), table_name="outreach_actions")
    op.drop_index(op.f("ix_outreach_actions_created_at"), table_name="outreach_actions")
    op.drop_index(op.f("ix_outreach_actions_brand_id"), table_name="outreach_actions")
    op.drop_table("outreach_actions")
    op.drop_index(op.f("ix_inbox_messages_user_id"), table_name="inbox_messages")
    op.drop_index(
        "ix_inbox_messages_unrouted",
        table_name="inbox_messages",
        postgresql_where=sa.text("routed_at IS NULL"),
    )
    op.drop_index(op.f("ix_inbox_messages_thread_id"), table_name="inbox_messages")
    op.drop_index(op.f("ix_inbox_messages_received_at"), table_name="inbox_messages")
    op.drop_index(op.f("ix_inbox_messages_connection_id"), table_name="inbox_messages")
    op.drop_index(op.f("ix_inbox_messages_category"), table_name="inbox_messages")
    op.drop_table("inbox_messages")
    op.drop_index(op.f("ix_creator_fit_scores_user_id"), table_name="creator_fit_scores")
    op.drop_index(op.f("ix_creator_fit_scores_talent_id"), table_name="creator_fit_scores")
    op.drop_index(op.f("ix_creator_fit_scores_prediction_id"), table_name="creator_fit_scores")
    op.drop_table("creator_fit_scores")
    op.drop_index(op.f("ix_whatsapp_numbers_user_id"), table_name="whatsapp_numbers")
    op.drop_index(op.f("ix_whatsapp_numbers_active"), table_name="whatsapp_numbers")
    op.drop_table("whatsapp_numbers")
    op.drop_index(op.f("ix_talents_manager_id"), table_name="talents")
    op.drop_index(op.f("ix_talents_active"), table_name="talents")
    op.drop_table("talents")
    op.drop_index(op.f("ix_strategy_predictions_user_id"), table_name="strategy_predictions")
    op.drop_index(op.f("ix_strategy_predictions_brand_name"), table_name="strategy_predictions")
    op.drop_index(op.f("ix_strategy_predictions_brand_id"), table_name="strategy_predictions")
    op.drop_table("strategy_predictions")
    op.drop_index(op.f("ix_mail_connections_user_id"), table_name="mail_connections")
    op.drop_index(
        "ix_mail_connections_sync_due", table_name="mail_connections", postgresql_where=sa.text("active")
    )
    op.drop_index(op.f("ix_mail_connections_active"), table_name="mail_connections")
    op.drop_table("mail_connections")
    op.drop_index(op.f("ix_creator_bundles_brand_id"), table_name="creator_bundles")
    op.drop_table("creator_bundles")
    op.drop_index(op.f("ix_brand_crm_records_user_id"), table_name="brand_crm_records")
    op.drop_index(op.f("ix_brand_crm_records_refreshed_at"), table_name="brand_crm_records")
    op.drop_index(op.f("ix_brand_crm_records_brand_id"), table_name="brand_crm_records")
    op.drop_table("brand_crm_records")
    op.drop_index(op.f("ix_approvals_status"), table_name="approvals")
    op.drop_index(op.f("ix_approvals_requested_by_id"), table_name="approvals")
    op.drop_index(op.f("ix_approvals_expires_at"), table_name="approvals")
    op.drop_index(op.f("ix_approvals_created_at"), table_name="approvals")
    op.drop_table("approvals")
    op.drop_index(op.f("ix_users_digest_opt_in"), table_name="users")
    op.drop_table("users")
    op.drop_index(op.f("ix_outbound_emails_status"), table_name="outbound_emails")
    op.drop_table("outbound_emails")
    op.drop_index(op.f("ix_brands_category"), table_name="brands")
    op.drop_table("brands")
