"""The talent platform's tables: the agency's managers, talent, brands and the work between them.

Conventions: money is integer minor units plus an ISO currency code; times are
timezone-aware UTC; every foreign key, and every column a cron filters on, is indexed;
uniqueness constraints carry idempotency (a message ingested twice is one row, a deal is
extracted once per message, a talent never has two open outreach actions to one brand).
The seed's ``dealDraft`` model is gone: a draft deal is a ``Deal`` in stage ``draft``.
Status columns are strings checked against their enum by a CHECK constraint.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from talentq.db.models import utcnow
from talentq.domain.vocabulary import DealStage, MessageCategory


def _json(empty: type[list[Any]] | type[dict[str, Any]] | None = None) -> Any:
    """A JSONB column; with ``empty`` (list or dict) it is NOT NULL and starts empty."""
    if empty is None:
        return Field(default=None, sa_column=Column(JSONB, nullable=True))
    server_default = text("'[]'::jsonb" if empty is list else "'{}'::jsonb")
    return Field(
        default_factory=empty, sa_column=Column(JSONB, nullable=False, server_default=server_default)
    )


def _when(*, required: bool = False, index: bool = False, now: bool = False) -> Any:
    """A timezone-aware timestamp: nullable, required, or defaulting to now."""
    column = Column(
        DateTime(timezone=True),
        nullable=not (required or now),
        index=index,
        server_default=func.now() if now else None,
    )
    if now:
        return Field(default_factory=utcnow, sa_column=column)
    return Field(sa_column=column) if required else Field(default=None, sa_column=column)


def _text(*, required: bool = False) -> Any:
    column = Column(Text, nullable=not required)
    return Field(sa_column=column) if required else Field(default=None, sa_column=column)


def _money(*, required: bool = False) -> Any:
    """Integer minor units (cents): never a float for money."""
    column = Column(BigInteger, nullable=not required)
    return Field(sa_column=column) if required else Field(default=None, sa_column=column)


def _dflt(value: str | int | float | bool, **kwargs: Any) -> Any:
    """A column with a default in the database too, so set-based INSERT ... SELECT can omit it."""
    literal = (
        value
        if isinstance(value, str)
        else text(str(value).lower() if isinstance(value, bool) else str(value))
    )
    return Field(default=value, sa_column_kwargs={"server_default": literal}, **kwargs)


def _iso_currency(table: str) -> CheckConstraint:
    return CheckConstraint("currency ~ '^[A-Z]{3}$'", name=f"ck_{table}_currency")


def _one_of(table: str, column: str, values: type[StrEnum]) -> CheckConstraint:
    allowed = ", ".join(f"'{v.value}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=f"ck_{table}_{column}")


class User(SQLModel, table=True):
    """An agency manager."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    email: str = Field(max_length=320, unique=True)
    digest_opt_in: bool = _dflt(True, index=True)
    time_zone: str = _dflt("UTC", max_length=64)
    created_at: datetime = _when(now=True)


class Talent(SQLModel, table=True):
    """A creator the agency represents."""

    __tablename__ = "talents"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    handle: str = Field(max_length=100, unique=True)
    manager_id: int = Field(foreign_key="users.id", index=True)
    niches: list[str] = _json(list)
    audience_size: int = _dflt(0, ge=0)
    active: bool = _dflt(True, index=True)
    daily_outreach_cap: int = _dflt(3, ge=0)
    # The talent's own contacts: reminders go to the talent (the manager in copy) when set.
    email: str | None = Field(default=None, max_length=320)
    whatsapp_number: str | None = Field(default=None, max_length=32)
    created_at: datetime = _when(now=True)


class Brand(SQLModel, table=True):
    __tablename__ = "brands"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    domain: str | None = Field(default=None, max_length=253, unique=True)
    category: str | None = Field(default=None, max_length=100, index=True)
    instagram_handle: str | None = Field(default=None, max_length=100)
    contact_email: str | None = Field(default=None, max_length=320)  # outreach goes here
    billing_email: str | None = Field(default=None, max_length=320)  # invoice reminders go here
    created_at: datetime = _when(now=True)


class BrandCrmRecord(SQLModel, table=True):
    """A manager's relationship with a brand, refreshed by brand-crm."""

    __tablename__ = "brand_crm_records"
    __table_args__ = (UniqueConstraint("user_id", "brand_id", name="uq_brand_crm_records_user_brand"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    brand_id: int = Field(foreign_key="brands.id", index=True)
    stage: str = _dflt("prospect", max_length=30)
    last_contact_at: datetime | None = _when()
    open_deals: int = _dflt(0)
    # Currency -> minor units: deals in different currencies are never added together.
    open_deal_value: dict[str, int] = _json(dict)
    replies: int = _dflt(0)
    score: float = _dflt(0.0)
    refreshed_at: datetime | None = _when(index=True)


class MailConnection(SQLModel, table=True):
    """A manager's connected mailbox."""

    __tablename__ = "mail_connections"
    __table_args__ = (
        UniqueConstraint("provider", "address", name="uq_mail_connections_provider_address"),
        # gmail-sync: active connections not synced lately.
        Index("ix_mail_connections_sync_due", "last_synced_at", postgresql_where=text("active")),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    provider: str = _dflt("gmail", max_length=20)
    address: str = Field(max_length=320)
    refresh_token: str | None = _text()
    sync_cursor: str | None = Field(default=None, max_length=200)
    last_synced_at: datetime | None = _when()
    active: bool = _dflt(True, index=True)


class InboxMessage(SQLModel, table=True):
    __tablename__ = "inbox_messages"
    __table_args__ = (
        UniqueConstraint("connection_id", "provider_message_id", name="uq_inbox_messages_connection_message"),
        _one_of("inbox_messages", "category", MessageCategory),
        # Stored but not yet handed to the inbox queue: a re-run of gmail-ingest finds them here.
        Index("ix_inbox_messages_unrouted", "id", postgresql_where=text("routed_at IS NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    connection_id: int = Field(foreign_key="mail_connections.id", index=True)
    provider_message_id: str = Field(max_length=200)
    thread_id: str | None = Field(default=None, max_length=200, index=True)
    sender: str = Field(max_length=320)
    recipients: list[str] = _json(list)
    subject: str = _text(required=True)
    body: str = _text(required=True)
    received_at: datetime = _when(required=True, index=True)
    category: str | None = Field(default=None, max_length=20, index=True)
    routed_at: datetime | None = _when()
    triaged_at: datetime | None = _when()


class WhatsAppNumber(SQLModel, table=True):
    """A connected WhatsApp number that whatsapp-sync pulls messages for."""

    __tablename__ = "whatsapp_numbers"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    phone_number: str = Field(max_length=32, unique=True)
    provider: str = _dflt("whatsapp_cloud", max_length=30)
    sync_cursor: str | None = Field(default=None, max_length=200)
    last_synced_at: datetime | None = _when()
    active: bool = _dflt(True, index=True)
    # Why the last sync of this number failed (the others were synced); None once one succeeds.
    last_error: str | None = _text()


class WhatsAppMessage(SQLModel, table=True):
    __tablename__ = "whatsapp_messages"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    talent_id: int | None = Field(default=None, foreign_key="talents.id", index=True)
    provider_message_id: str = Field(max_length=200, unique=True)
    phone_from: str = Field(max_length=32)
    phone_to: str = Field(max_length=32)
    direction: str = _dflt("inbound", max_length=10)
    body: str = _text(required=True)
    received_at: datetime = _when(required=True, index=True)


class TaskStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class AgentTask(SQLModel, table=True):
    """One AI agent task: its input, the steps it decided, and how far their execution got."""

    __tablename__ = "agent_tasks"
    __table_args__ = (
        _one_of("agent_tasks", "status", TaskStatus),
        # One task of a kind per message: a retried inbox job does not triage twice.
        Index(
            "uq_agent_tasks_kind_message",
            "kind",
            "message_id",
            unique=True,
            postgresql_where=text("message_id IS NOT NULL"),
        ),
        # One follow-up task per (task, step) that scheduled it: a retried agent-tasks step finds it.
        Index(
            "uq_agent_tasks_follow_up_of",
            text("(input ->> 'followUpOf')"),
            unique=True,
            postgresql_where=text("(input ->> 'followUpOf') IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=50, index=True)
    input: dict[str, Any] = _json(dict)
    status: str = _dflt(TaskStatus.QUEUED.value, max_length=10, index=True)
    message_id: int | None = Field(default=None, foreign_key="inbox_messages.id", index=True)
    deal_id: int | None = Field(default=None, foreign_key="deals.id", index=True)
    steps: list[dict[str, Any]] | None = _json()
    steps_done: int = _dflt(0)
    attempts: int = _dflt(0)
    max_attempts: int = _dflt(3)
    last_error: str | None = _text()
    timeout_s: int = _dflt(600)
    created_at: datetime = _when(now=True)
    started_at: datetime | None = _when(index=True)
    finished_at: datetime | None = _when(index=True)


class Deal(SQLModel, table=True):
    """A brand deal for a talent; stage ``draft`` is what the seed called a dealDraft."""

    __tablename__ = "deals"
    __table_args__ = (
        _iso_currency("deals"),
        _one_of("deals", "stage", DealStage),
    )

    id: int | None = Field(default=None, primary_key=True)
    talent_id: int | None = Field(default=None, foreign_key="talents.id", index=True)
    brand_id: int | None = Field(default=None, foreign_key="brands.id", index=True)
    stage: str = _dflt(DealStage.DRAFT.value, max_length=12, index=True)
    fee_minor: int | None = _money()
    currency: str = _dflt("USD", max_length=3)
    # An amount as the brand wrote it, kept when it cannot be priced (no currency named): never guessed.
    fee_text: str | None = _text()
    # Why a person must look at this deal (e.g. its fee has no currency); None when nothing is pending.
    attention: str | None = _text()
    # The fee as the offer stated it (talentq.domain.mail.Fee: exact, range, none with why, or
    # unstated), kept whatever fee_minor becomes.
    offered_fee: dict[str, Any] | None = _json()
    # Extraction runs once per message: the unique source is its idempotency key.
    source_message_id: int | None = Field(default=None, foreign_key="inbox_messages.id", unique=True)
    deliverables: list[dict[str, Any]] = _json(list)
    starts_at: datetime | None = _when()
    ends_at: datetime | None = _when()
    insights: dict[str, Any] | None = _json()
    created_at: datetime = _when(now=True)
    # Set by every UPDATE through SQLAlchemy; processors moving a stage set stage_changed_at too.
    updated_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(
            DateTime(timezone=True), nullable=False, index=True, server_default=func.now(), onupdate=utcnow
        ),
    )
    stage_changed_at: datetime = _when(now=True, index=True)


class NegotiationSession(SQLModel, table=True):
    __tablename__ = "negotiation_sessions"

    id: int | None = Field(default=None, primary_key=True)
    deal_id: int = Field(foreign_key="deals.id", index=True)
    status: str = _dflt("open", max_length=20, index=True)
    thread: list[dict[str, Any]] = _json(list)
    last_step_at: datetime | None = _when()
    created_at: datetime = _when(now=True)


class Campaign(SQLModel, table=True):
    __tablename__ = "campaigns"

    id: int | None = Field(default=None, primary_key=True)
    deal_id: int = Field(foreign_key="deals.id", unique=True)
    plan: dict[str, Any] = _json(dict)
    starts_at: datetime | None = _when()
    ends_at: datetime | None = _when()
    created_at: datetime = _when(now=True)


class ContractStatus(StrEnum):
    DRAFTING = "drafting"
    FINALISED = "finalised"
    SIGNED = "signed"


class Contract(SQLModel, table=True):
    __tablename__ = "contracts"
    __table_args__ = (_one_of("contracts", "status", ContractStatus),)

    id: int | None = Field(default=None, primary_key=True)
    deal_id: int = Field(foreign_key="deals.id", index=True)
    terms: dict[str, Any] = _json(dict)
    status: str = _dflt(ContractStatus.DRAFTING.value, max_length=10, index=True)
    rendered_text: str | None = _text()
    # The brand's own draft, when they sent one: ai-contract reviews it against the agreed terms.
    brand_draft: str | None = _text()
    review: dict[str, Any] | None = _json()
    created_at: datetime = _when(now=True)
    finalised_at: datetime | None = _when()
    signed_at: datetime | None = _when()


class DeliverableStatus(StrEnum):
    PENDING = "pending"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    CHANGES_REQUESTED = "changes_requested"
    OVERDUE = "overdue"


class Deliverable(SQLModel, table=True):
    __tablename__ = "deliverables"
    __table_args__ = (_one_of("deliverables", "status", DeliverableStatus),)

    id: int | None = Field(default=None, primary_key=True)
    deal_id: int = Field(foreign_key="deals.id", index=True)
    talent_id: int = Field(foreign_key="talents.id", index=True)
    campaign_id: int | None = Field(default=None, foreign_key="campaigns.id", index=True)
    title: str = Field(max_length=300)
    platform: str | None = Field(default=None, max_length=30)
    due_at: datetime = _when(required=True, index=True)
    status: str = _dflt(DeliverableStatus.PENDING.value, max_length=20, index=True)
    content: str | None = _text()
    review: dict[str, Any] | None = _json()
    reminded_at: datetime | None = _when()


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    SENT = "sent"
    PAID = "paid"
    OVERDUE = "overdue"


class Invoice(SQLModel, table=True):
    __tablename__ = "invoices"
    __table_args__ = (
        _iso_currency("invoices"),
        _one_of("invoices", "status", InvoiceStatus),
        CheckConstraint("amount_minor >= 0", name="ck_invoices_amount_minor"),
        # A retried contract_finalisation writes the same schedule, not a second one.
        UniqueConstraint("deal_id", "installment", name="uq_invoices_deal_installment"),
        # check-overdue-invoices: sent invoices by due date.
        Index("ix_invoices_sent_due_at", "due_at", postgresql_where=text("status = 'sent'")),
    )

    id: int | None = Field(default=None, primary_key=True)
    deal_id: int = Field(foreign_key="deals.id", index=True)
    brand_id: int = Field(foreign_key="brands.id", index=True)
    number: str = Field(max_length=40, unique=True)
    installment: int = _dflt(1, ge=1)
    amount_minor: int = _money(required=True)
    currency: str = _dflt("USD", max_length=3)
    status: str = _dflt(InvoiceStatus.DRAFT.value, max_length=10, index=True)
    issued_at: datetime | None = _when(index=True)
    due_at: datetime | None = _when(index=True)
    paid_at: datetime | None = _when(index=True)
    reminded_at: datetime | None = _when()


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class Approval(SQLModel, table=True):
    """Something a person must approve before it happens: an email the AI wrote, a contract.

    An approval whose ``payload`` holds an ``email`` sends it, once, when approved (see
    ``talentq.approvals``); ``requested_by_id`` is the manager who owns the talent: the approver.
    """

    __tablename__ = "approvals"
    __table_args__ = (_one_of("approvals", "status", ApprovalStatus),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=50)
    subject: str = Field(max_length=300)
    payload: dict[str, Any] = _json(dict)
    # What asked for it ("negotiation:12:3"): a retried job finds its approval instead of adding one.
    source_key: str | None = Field(default=None, max_length=200, unique=True)
    requested_by_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    status: str = _dflt(ApprovalStatus.PENDING.value, max_length=10, index=True)
    created_at: datetime = _when(now=True, index=True)
    expires_at: datetime = _when(required=True, index=True)
    decided_at: datetime | None = _when()
    decided_by_id: int | None = Field(default=None, foreign_key="users.id")
    reason: str | None = _text()  # a rejection's reason; an auto-send's rule
    email_job_id: str | None = _text()  # the email-send job approving enqueued


class OutreachStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    REPLIED = "replied"
    #: Never sent: ``error`` says why (no address, a blank subject, the brand answered meanwhile).
    FAILED = "failed"
    #: Closed by outreach-rotation, which drafted the pitch afresh for another talent: kept as history.
    ROTATED = "rotated"
    #: Never sent: its approval expired undecided. It holds no brand: a new pitch may go.
    EXPIRED = "expired"
    #: Never sent: a person rejected it (``error`` says who and why).
    REJECTED = "rejected"


class OutreachKind(StrEnum):
    INITIAL = "initial"
    FOLLOW_UP = "follow_up"


class OutreachAction(SQLModel, table=True):
    __tablename__ = "outreach_actions"
    __table_args__ = (
        _one_of("outreach_actions", "status", OutreachStatus),
        _one_of("outreach_actions", "kind", OutreachKind),
        CheckConstraint(
            "(kind = 'follow_up') = (follow_up_of_id IS NOT NULL)", name="ck_outreach_actions_follow_up_of"
        ),
        # Never two open actions for one talent and brand, and never a second follow-up.
        Index(
            "uq_outreach_actions_open_pair",
            "talent_id",
            "brand_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "uq_outreach_actions_one_follow_up",
            "follow_up_of_id",
            unique=True,
            postgresql_where=text("follow_up_of_id IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    talent_id: int = Field(foreign_key="talents.id", index=True)
    brand_id: int = Field(foreign_key="brands.id", index=True)
    kind: str = _dflt(OutreachKind.INITIAL.value, max_length=10)
    follow_up_of_id: int | None = Field(default=None, foreign_key="outreach_actions.id")
    status: str = _dflt(OutreachStatus.PENDING.value, max_length=10, index=True)
    to_address: str | None = Field(default=None, max_length=320)
    subject: str | None = Field(default=None, max_length=300)
    message: str | None = _text()
    scheduled_at: datetime | None = _when(index=True)
    sent_at: datetime | None = _when(index=True)
    replied_at: datetime | None = _when(index=True)
    created_at: datetime = _when(now=True, index=True)
    error: str | None = _text()  # why a failed, rotated, expired or rejected action was closed
    # The approval this action waits for once it is due (it stays 'pending' meanwhile).
    approval_id: int | None = Field(default=None, foreign_key="approvals.id", index=True)


class StrategyPrediction(SQLModel, table=True):
    """A manager's current prediction for a brand: strategy-engine replaces it, never adds a second."""

    __tablename__ = "strategy_predictions"
    __table_args__ = (
        _iso_currency("strategy_predictions"),
        Index("uq_strategy_predictions_user_brand", "user_id", text("lower(brand_name)"), unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    brand_id: int | None = Field(default=None, foreign_key="brands.id", index=True)
    brand_name: str = Field(max_length=200, index=True)
    predicted_spend_minor: int | None = _money()
    currency: str = _dflt("USD", max_length=3)
    category: str | None = Field(default=None, max_length=100)
    timing: str | None = Field(default=None, max_length=100)
    confidence: float = _dflt(0.0)
    reasons: list[str] = _json(list)
    created_at: datetime = _when(now=True)


class CreatorFitScore(SQLModel, table=True):
    """A talent's fit with a brand for a manager: creator-fit replaces it on each run."""

    __tablename__ = "creator_fit_scores"
    __table_args__ = (
        Index(
            "uq_creator_fit_scores_user_talent_brand",
            "user_id",
            "talent_id",
            text("lower(brand_name)"),
            unique=True,
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    talent_id: int = Field(foreign_key="talents.id", index=True)
    prediction_id: int | None = Field(default=None, foreign_key="strategy_predictions.id", index=True)
    brand_name: str = Field(max_length=200)
    score: float
    reasons: list[str] = _json(list)
    created_at: datetime = _when(now=True)


class CreatorBundle(SQLModel, table=True):
    """The current bundle proposal for a brand: creator-bundle replaces it on each run."""

    __tablename__ = "creator_bundles"
    __table_args__ = (_iso_currency("creator_bundles"),)

    id: int | None = Field(default=None, primary_key=True)
    brand_id: int = Field(foreign_key="brands.id", unique=True)
    talent_ids: list[int] = _json(list)
    budget_minor: int | None = _money()
    currency: str = _dflt("USD", max_length=3)
    rationale: list[str] = _json(list)
    created_at: datetime = _when(now=True)


class EmailStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # being handed to the server now
    SENT = "sent"
    UNCERTAIN = "uncertain"  # a run stopped during the handoff: it may have gone out
    FAILED = "failed"


class OutboundEmail(SQLModel, table=True):
    """The outbox: one row per email-send job (keyed by job id, so a retry never sends twice)."""

    __tablename__ = "outbound_emails"
    __table_args__ = (_one_of("outbound_emails", "status", EmailStatus),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    to_address: str = Field(max_length=320)
    subject: str = _text(required=True)
    body: str = _text(required=True)
    html: str | None = _text()
    reply_to: str | None = Field(default=None, max_length=320)
    cc: str | None = _text()  # the copied addresses, comma-separated
    status: str = _dflt(EmailStatus.PENDING.value, max_length=10, index=True)
    provider_id: str | None = _text()  # a Message-ID made from the job id: as long as that is
    error: str | None = _text()
    created_at: datetime = _when(now=True)
    sent_at: datetime | None = _when()


class Report(SQLModel, table=True):
    """A weekly report: the agency's, or one talent's; one per kind, period and talent."""

    __tablename__ = "reports"
    __table_args__ = (
        Index(
            "uq_reports_kind_period_talent",
            "kind",
            "period_start",
            text("coalesce(talent_id, 0)"),
            unique=True,
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=30, index=True)
    talent_id: int | None = Field(default=None, foreign_key="talents.id", index=True)
    period_start: datetime = _when(required=True)
    period_end: datetime = _when(required=True)
    data: dict[str, Any] = _json(dict)
    created_at: datetime = _when(now=True)


class SocialStat(SQLModel, table=True):
    """The disabled social feature's table: kept, but nothing active reads or writes it."""

    __tablename__ = "social_stats"

    id: int | None = Field(default=None, primary_key=True)
    talent_id: int = Field(foreign_key="talents.id", index=True)
    platform: str = Field(max_length=30)
    followers: int = _dflt(0)
    engagement_rate: float = _dflt(0.0)
    captured_at: datetime = _when(now=True)
