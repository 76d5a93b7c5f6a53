"""Reporting crons: the managers' daily brief, the agency's weekly report and one weekly report per talent.

Each reads in a fixed number of statements, stores weekly reports by upsert (one per kind, week and
talent) and emails through ``email-send`` with job ids keyed by manager and day or week: a re-run sends
nothing twice. "Now" is the run's tick (``talentq.jobs.tick_time``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from loguru import logger
from sqlalchemy import Integer, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import col

from talentq import job_ids
from talentq.db.tables import (
    Approval,
    Brand,
    Contract,
    Deal,
    Deliverable,
    Invoice,
    OutreachAction,
    Report,
    Talent,
    User,
)
from talentq.domain.money import amount_text, totals_text
from talentq.domain.time import find_zone, local_midnight, previous_week
from talentq.jobs import JobContext, tick_time, uses_tables
from talentq.queues import EMAIL_SEND, EmailSend

#: The crons' names in the schedule: each run's tick is its "now" (see ``talentq.jobs.tick_time``).
SEND_DAILY_BRIEF_DIGEST: Final = "send-daily-brief-digest"
WEEKLY_REPORTS: Final = "weekly-reports"
WEEKLY_TALENT_REPORTS: Final = "weekly-talent-reports"

AGENCY_WEEKLY: Final = "agency_weekly"
TALENT_WEEKLY: Final = "talent_weekly"
#: How many managers with an unknown time zone the brief's result lists by id (all are counted).
UNKNOWN_ZONE_LISTED: Final = 100
#: A brief lists at most this many items of each kind (deliverables, overdue invoices, approvals)
#: and says "and N more" for the rest; its counts and overdue totals cover them all.
BRIEF_ITEMS_LISTED: Final = 20

# --- send-daily-brief-digest -------------------------------------------------------------------

# The rows behind each of a manager's three lists (``m`` is the manager's row below).
_DUE_TODAY: Final = """
    FROM deliverables AS d JOIN talents AS t ON t.id = d.talent_id
    WHERE t.manager_id = m.user_id AND d.due_at >= m.day_start AND d.due_at < m.day_end
      AND d.status <> 'approved'
"""
_OVERDUE: Final = """
    FROM invoices AS i
        JOIN deals AS dl ON dl.id = i.deal_id
        JOIN talents AS t ON t.id = dl.talent_id
    WHERE t.manager_id = m.user_id AND i.status = 'overdue'
"""
_WAITING: Final = """
    FROM approvals AS a
    WHERE a.requested_by_id = m.user_id AND a.status = 'pending' AND a.expires_at > :now
"""
# Every manager's items in one statement: the managers and their local-day bounds come in as a
# JSON list (computed with zoneinfo, so a 23- or 25-hour DST day is right), each item list is a
# correlated subquery served by the foreign-key indexes. Each list holds the first :listed items
# and comes with its full count (and the overdue invoices with their totals per currency), so one
# manager with thousands of overdue invoices gets a readable email and the row stays small.
_BRIEF_ITEMS: Final = text(
    f"""
    WITH m AS (
        SELECT * FROM jsonb_to_recordset(CAST(:managers AS jsonb))
            AS m(user_id int, day_start timestamptz, day_end timestamptz)
    )
    SELECT m.user_id,
        coalesce((
            SELECT jsonb_agg(x.item ORDER BY x.at, x.id) FROM (
                SELECT d.due_at AS at, d.id, jsonb_build_object(
                    'id', d.id, 'title', d.title, 'platform', d.platform, 'talent', t.name,
                    'due_at', d.due_at, 'status', d.status) AS item
                {_DUE_TODAY}
                ORDER BY d.due_at, d.id LIMIT :listed
            ) AS x
        ), '[]') AS deliverables,
        (SELECT count(*) {_DUE_TODAY}) AS deliverables_n,
        coalesce((
            SELECT jsonb_agg(x.item ORDER BY x.at, x.id) FROM (
                SELECT i.due_at AS at, i.id, jsonb_build_object(
                    'id', i.id, 'number', i.number, 'talent', t.name,
                    'brand', (SELECT b.name FROM brands AS b WHERE b.id = i.brand_id),
                    'amount_minor', i.amount_minor, 'currency', i.currency, 'due_at', i.due_at) AS item
                {_OVERDUE}
                ORDER BY i.due_at, i.id LIMIT :listed
            ) AS x
        ), '[]') AS invoices,
        (SELECT count(*) {_OVERDUE}) AS invoices_n,
        coalesce((
            SELECT jsonb_object_agg(o.currency, o.total) FROM (
                SELECT i.currency, CAST(sum(i.amount_minor) AS bigint) AS total {_OVERDUE} GROUP BY i.currency
            ) AS o
        ), '{{}}') AS overdue,
        coalesce((
            SELECT jsonb_agg(x.item ORDER BY x.at, x.id) FROM (
                SELECT a.expires_at AS at, a.id, jsonb_build_object(
                    'id', a.id, 'kind', a.kind, 'subject', a.subject, 'expires_at', a.expires_at) AS item
                {_WAITING}
                ORDER BY a.expires_at, a.id LIMIT :listed
            ) AS x
        ), '[]') AS approvals,
        (SELECT count(*) {_WAITING}) AS approvals_n
    FROM m
    ORDER BY m.user_id
    """
).columns(
    user_id=Integer,
    deliverables=JSONB,
    deliverables_n=Integer,
    invoices=JSONB,
    invoices_n=Integer,
    overdue=JSONB,
    approvals=JSONB,
    approvals_n=Integer,
)


@dataclass(frozen=True, slots=True)
class _Listed:
    """The first ``BRIEF_ITEMS_LISTED`` items of one of a brief's lists, and how many there are."""

    items: list[dict[str, Any]]
    total: int

    def more(self) -> list[str]:
        """The line that says how many items the list leaves out, if any."""
        left = self.total - len(self.items)
        return [f"- and {left} more"] if left > 0 else []


@dataclass(frozen=True, slots=True)
class _Manager:
    id: int
    name: str
    email: str
    zone: ZoneInfo
    day: date


@uses_tables(User, Talent, Deliverable, Deal, Invoice, Brand, Approval)
async def send_daily_brief_digest(ctx: JobContext) -> dict[str, Any]:
    """One email per opted-in manager: deliverables due on their local today, overdue invoices, approvals.

    Two statements for all managers. A manager with nothing to report gets no email (counted as
    ``nothing_to_report``); one whose ``time_zone`` is not an IANA name gets the cron zone's day
    rather than no brief (counted in ``unknown_time_zone``, the first ``UNKNOWN_ZONE_LISTED`` ids
    listed in ``unknown_time_zone_managers``). Each list shows its first ``BRIEF_ITEMS_LISTED`` items
    and "and N more"; its count and the overdue totals cover all. ``count``: emails enqueued.

    Limit: one schedule serves every zone, so "today" is each manager's local date at the moment
    of the run. With the seed's ``0 8 * * *`` in the default cron zone (UTC), a manager in
    Honolulu (UTC-10) gets the brief at 22:00 the evening before, for that evening's date: the
    work of a day nearly over, not of the coming morning; Tokyo gets it at 17:00. A brief at
    each manager's own morning would need one run per zone (not in the seed).
    """
    now = tick_time(ctx, SEND_DAILY_BRIEF_DIGEST)
    fallback = ctx["settings"].cron_zone
    async with ctx["sessions"]() as session:
        users = (
            await session.execute(
                select(col(User.id), col(User.name), col(User.email), col(User.time_zone))
                .where(col(User.digest_opt_in).is_(True))
                .order_by(col(User.id))
            )
        ).all()
        managers: dict[int, _Manager] = {}
        unknown_zone: list[int] = []
        for user in users:
            zone = find_zone(user.time_zone)
            if zone is None:
                unknown_zone.append(user.id)
                zone = fallback
            managers[user.id] = _Manager(user.id, user.name, user.email, zone, now.astimezone(zone).date())
        bounds = [
            {
                "user_id": m.id,
                "day_start": local_midnight(m.day, m.zone).isoformat(),
                "day_end": local_midnight(m.day + timedelta(days=1), m.zone).isoformat(),
            }
            for m in managers.values()
        ]
        rows = (
            (
                await session.execute(
                    _BRIEF_ITEMS,
                    {"managers": json.dumps(bounds), "now": now, "listed": BRIEF_ITEMS_LISTED},
                )
            ).all()
            if bounds
            else []
        )
    if unknown_zone:
        logger.warning(
            "{} manager(s) have a time zone that is not an IANA name (first ids {}); their brief uses {}",
            len(unknown_zone),
            unknown_zone[:UNKNOWN_ZONE_LISTED],
            fallback.key,
        )

    briefs = [
        (
            managers[row.user_id],
            _Listed(row.deliverables, row.deliverables_n),
            _Listed(row.invoices, row.invoices_n),
            {currency: int(total) for currency, total in row.overdue.items()},
            _Listed(row.approvals, row.approvals_n),
        )
        for row in rows
        if row.deliverables_n or row.invoices_n or row.approvals_n
    ]
    # One job id per manager and local date: a second run that day (or a re-run of the tick)
    # finds the job, or email-send's outbox row of that id, and sends nothing new.
    fan = await ctx["producer"].fan_out(
        EMAIL_SEND,
        briefs,
        payload=lambda brief: _brief_email(*brief),
        job_id=lambda brief: job_ids.daily_brief_email(brief[0].id, brief[0].day),
    )
    return {
        "count": fan.enqueued,
        "managers": len(managers),
        "briefs": len(briefs),
        "nothing_to_report": len(rows) - len(briefs),
        "unknown_time_zone": len(unknown_zone),
        "unknown_time_zone_managers": unknown_zone[:UNKNOWN_ZONE_LISTED],
        **fan.report(),
    }


def _brief_email(
    manager: _Manager, deliverables: _Listed, invoices: _Listed, overdue: dict[str, int], approvals: _Listed
) -> EmailSend:
    zone = manager.zone
    day = f"{manager.day:%A %d %B %Y}"
    lines = [f"Hello {manager.name},", "", f"Your brief for {day} ({zone.key}).", ""]
    lines.append(f"Deliverables due today ({deliverables.total})")
    lines += [
        f"- {_at(d['due_at'], zone):%H:%M}  {d['talent']}: {d['title']}"
        f"{' (' + d['platform'] + ')' if d['platform'] else ''} - {d['status'].replace('_', ' ')}"
        for d in deliverables.items
    ] or ["- none"]
    lines += deliverables.more()
    lines += ["", f"Overdue invoices ({invoices.total}), outstanding: {totals_text(overdue)}"]
    lines += [
        f"- {i['number']}  {i['brand']}  {amount_text(i['amount_minor'], i['currency'])}, "
        f"{_due(i['due_at'], zone)} ({i['talent']})"
        for i in invoices.items
    ] or ["- none"]
    lines += invoices.more()
    lines += ["", f"Approvals waiting ({approvals.total})"]
    lines += [
        f"- {a['subject']} ({a['kind'].replace('_', ' ')}), expires {_at(a['expires_at'], zone):%d %B %H:%M}"
        for a in approvals.items
    ] or ["- none"]
    lines += approvals.more()
    subject = (
        f"Your brief for {manager.day:%a %d %b}: {_plural(deliverables.total, 'deliverable')} due, "
        f"{_plural(invoices.total, 'overdue invoice')}, {_plural(approvals.total, 'approval')} waiting"
    )
    return EmailSend(to=manager.email, subject=subject, body="\n".join(lines))


# --- weekly-reports --------------------------------------------------------------------------

# The deals won and lost in [:start, :end), one row per deal, for both weekly reports (CTEs to follow
# a WITH). A deal is won in the week its contract was first finalised (contract_finalisation moves
# it to 'contracted' then), whatever its stage now: one contracted and delivered within the week
# still counts. A deal with no finalised contract at all (moved by hand) counts in the week it
# was moved to 'contracted', by stage_changed_at, the nearest date the schema keeps: only while it
# is still 'contracted', so moving it on to 'delivered' (which changes that date) does not win it
# again in a later week, and once a contract is finalised only the finalisation counts. The price:
# a deal moved by hand through 'contracted' to 'delivered' before its week's report ran is not
# counted as won. Lost: in stage 'lost', changed in the week. A deal contracted and lost in the
# same week counts in both.
_DEAL_OUTCOMES: Final = """
    won AS (
        SELECT d.talent_id, d.currency, d.fee_minor
        FROM deals AS d
            JOIN (
                SELECT deal_id, min(finalised_at) AS finalised_at FROM contracts
                WHERE finalised_at IS NOT NULL GROUP BY deal_id
            ) AS c ON c.deal_id = d.id
        WHERE c.finalised_at >= :start AND c.finalised_at < :end
        UNION ALL
        SELECT d.talent_id, d.currency, d.fee_minor
        FROM deals AS d
        WHERE d.stage = 'contracted'
          AND d.stage_changed_at >= :start AND d.stage_changed_at < :end
          AND NOT EXISTS (SELECT FROM contracts AS c WHERE c.deal_id = d.id AND c.finalised_at IS NOT NULL)
    ), outcomes AS (
        SELECT talent_id, 'won' AS outcome, currency, fee_minor FROM won
        UNION ALL
        SELECT talent_id, 'lost', currency, fee_minor
        FROM deals WHERE stage = 'lost' AND stage_changed_at >= :start AND stage_changed_at < :end
    )
"""

# Money per currency as {"EUR": 120000, ...} (never one total), with the count of rows behind it.
# Each measure is one aggregate over the period; the report is stored by upsert in the same statement.
_AGENCY_REPORT: Final = text(
    "WITH"
    + _DEAL_OUTCOMES
    + """
    , deal_moves AS (
        SELECT outcome, currency, count(*) AS n, coalesce(sum(fee_minor), 0) AS total
        FROM outcomes GROUP BY outcome, currency
    ), money AS (
        SELECT currency,
            count(*) FILTER (WHERE issued_at >= :start AND issued_at < :end) AS invoiced_n,
            coalesce(sum(amount_minor) FILTER (WHERE issued_at >= :start AND issued_at < :end), 0)
                AS invoiced,
            count(*) FILTER (WHERE paid_at >= :start AND paid_at < :end) AS collected_n,
            coalesce(sum(amount_minor) FILTER (WHERE paid_at >= :start AND paid_at < :end), 0)
                AS collected,
            count(*) FILTER (WHERE status = 'overdue') AS overdue_n,
            coalesce(sum(amount_minor) FILTER (WHERE status = 'overdue'), 0) AS overdue
        FROM invoices
        WHERE (issued_at >= :start AND issued_at < :end) OR (paid_at >= :start AND paid_at < :end)
            OR status = 'overdue'
        GROUP BY currency
    ), outreach AS (
        SELECT count(*) AS sent, count(*) FILTER (WHERE replied_at IS NOT NULL) AS replied
        FROM outreach_actions WHERE sent_at >= :start AND sent_at < :end
    )
    INSERT INTO reports (kind, period_start, period_end, created_at, data)
    SELECT CAST(:kind AS text), CAST(:start AS timestamptz), CAST(:end AS timestamptz),
        CAST(:now AS timestamptz), jsonb_build_object(
        'time_zone', CAST(:zone AS text),
        'deals_won', (SELECT jsonb_build_object(
            'count', coalesce(sum(n), 0),
            'value', coalesce(jsonb_object_agg(currency, total), '{}'))
            FROM deal_moves WHERE outcome = 'won'),
        'deals_lost', (SELECT jsonb_build_object(
            'count', coalesce(sum(n), 0),
            'value', coalesce(jsonb_object_agg(currency, total), '{}'))
            FROM deal_moves WHERE outcome = 'lost'),
        'invoiced', (SELECT jsonb_build_object(
            'count', coalesce(sum(invoiced_n), 0),
            'totals', coalesce(jsonb_object_agg(currency, invoiced) FILTER (WHERE invoiced_n > 0), '{}'))
            FROM money),
        'collected', (SELECT jsonb_build_object(
            'count', coalesce(sum(collected_n), 0),
            'totals', coalesce(jsonb_object_agg(currency, collected) FILTER (WHERE collected_n > 0), '{}'))
            FROM money),
        'overdue', (SELECT jsonb_build_object(
            'count', coalesce(sum(overdue_n), 0),
            'totals', coalesce(jsonb_object_agg(currency, overdue) FILTER (WHERE overdue_n > 0), '{}'))
            FROM money),
        'outreach', (SELECT jsonb_build_object(
            'sent', sent, 'replied', replied,
            'reply_rate', round(replied::numeric / nullif(sent, 0), 4)) FROM outreach)
    )
    ON CONFLICT (kind, period_start, (coalesce(talent_id, 0)))
        DO UPDATE SET period_end = EXCLUDED.period_end, data = EXCLUDED.data
    RETURNING id, data
    """
).columns(id=Integer, data=JSONB)


@uses_tables(Report, Deal, Contract, Invoice, OutreachAction, User)
async def weekly_reports(ctx: JobContext) -> dict[str, Any]:
    """The agency's report for last week (Monday to Monday, cron zone): stored, emailed to every manager.

    Deals won (contract finalised) and lost, revenue invoiced (issued) and collected (paid) in
    the week, invoices overdue now, and the reply rate of the outreach sent in the week. Money is
    per currency. A re-run of the week replaces the stored figures and emails nobody twice.
    ``count``: emails enqueued.
    """
    zone = ctx["settings"].cron_zone
    now = tick_time(ctx, WEEKLY_REPORTS)
    start, end = previous_week(now, zone)
    week = start.astimezone(zone).date()
    async with ctx["sessions"].begin() as session:
        report = (
            await session.execute(
                _AGENCY_REPORT,
                {"kind": AGENCY_WEEKLY, "start": start, "end": end, "zone": zone.key, "now": now},
            )
        ).one()
        managers = (
            await session.execute(
                select(col(User.id), col(User.name), col(User.email)).order_by(col(User.id))
            )
        ).all()
    subject, body = _agency_email(report.data, week)
    fan = await ctx["producer"].fan_out(
        EMAIL_SEND,
        managers,
        payload=lambda manager: EmailSend(
            to=manager.email, subject=subject, body=f"Hello {manager.name},\n\n{body}"
        ),
        job_id=lambda manager: job_ids.weekly_report_email(week, manager.id),
    )
    return {
        "count": fan.enqueued,
        "report_id": report.id,
        "week": week.isoformat(),
        "managers": len(managers),
        **fan.report(),
    }


def _agency_email(data: Mapping[str, Any], week: date) -> tuple[str, str]:
    period = f"{week:%d %B} to {week + timedelta(days=6):%d %B %Y}"
    subject = f"Agency weekly report, week of {week:%d %B %Y}"
    body = "\n".join(
        [
            f"The agency's week, {period} ({data['time_zone']}):",
            "",
            *_week_lines(data),
        ]
    )
    return subject, body


def _week_lines(data: Mapping[str, Any]) -> list[str]:
    """The figures both weekly reports share, one line each, money per currency."""
    won, lost, outreach = data["deals_won"], data["deals_lost"], data["outreach"]
    rate = outreach["reply_rate"]
    return [
        f"Deals won: {won['count']} ({totals_text(won['value'])})",
        f"Deals lost: {lost['count']} ({totals_text(lost['value'])})",
        f"Invoiced: {data['invoiced']['count']} invoice(s), {totals_text(data['invoiced']['totals'])}",
        f"Collected: {data['collected']['count']} invoice(s), {totals_text(data['collected']['totals'])}",
        f"Overdue now: {data['overdue']['count']} invoice(s), {totals_text(data['overdue']['totals'])}",
        f"Outreach: {outreach['sent']} sent, {outreach['replied']} replied"
        + ("" if rate is None else f" (reply rate {float(rate):.1%})"),
    ]


# --- weekly-talent-reports ---------------------------------------------------------------------

# Every active talent's report in one statement: per-talent aggregates grouped once each, joined to
# the talents, upserted, and returned with the manager's address.
_TALENT_REPORTS: Final = text(
    "WITH"
    + _DEAL_OUTCOMES
    + """
    , deal_moves AS (
        SELECT talent_id, outcome, currency, count(*) AS n, coalesce(sum(fee_minor), 0) AS total
        FROM outcomes WHERE talent_id IS NOT NULL
        GROUP BY talent_id, outcome, currency
    ), deals_by_talent AS (
        SELECT talent_id,
            jsonb_build_object(
                'count', coalesce(sum(n) FILTER (WHERE outcome = 'won'), 0),
                'value', coalesce(jsonb_object_agg(currency, total) FILTER (WHERE outcome = 'won'), '{}')
            ) AS won,
            jsonb_build_object(
                'count', coalesce(sum(n) FILTER (WHERE outcome = 'lost'), 0),
                'value', coalesce(jsonb_object_agg(currency, total) FILTER (WHERE outcome = 'lost'), '{}')
            ) AS lost
        FROM deal_moves GROUP BY talent_id
    ), money AS (
        SELECT dl.talent_id, i.currency,
            count(*) FILTER (WHERE i.issued_at >= :start AND i.issued_at < :end) AS invoiced_n,
            coalesce(sum(i.amount_minor) FILTER (WHERE i.issued_at >= :start AND i.issued_at < :end), 0)
                AS invoiced,
            count(*) FILTER (WHERE i.paid_at >= :start AND i.paid_at < :end) AS collected_n,
            coalesce(sum(i.amount_minor) FILTER (WHERE i.paid_at >= :start AND i.paid_at < :end), 0)
                AS collected,
            count(*) FILTER (WHERE i.status = 'overdue') AS overdue_n,
            coalesce(sum(i.amount_minor) FILTER (WHERE i.status = 'overdue'), 0) AS overdue
        FROM invoices AS i JOIN deals AS dl ON dl.id = i.deal_id
        WHERE dl.talent_id IS NOT NULL AND (
            (i.issued_at >= :start AND i.issued_at < :end) OR (i.paid_at >= :start AND i.paid_at < :end)
            OR i.status = 'overdue')
        GROUP BY dl.talent_id, i.currency
    ), money_by_talent AS (
        SELECT talent_id,
            jsonb_build_object('count', sum(invoiced_n), 'totals', coalesce(
                jsonb_object_agg(currency, invoiced) FILTER (WHERE invoiced_n > 0), '{}')) AS invoiced,
            jsonb_build_object('count', sum(collected_n), 'totals', coalesce(
                jsonb_object_agg(currency, collected) FILTER (WHERE collected_n > 0), '{}')) AS collected,
            jsonb_build_object('count', sum(overdue_n), 'totals', coalesce(
                jsonb_object_agg(currency, overdue) FILTER (WHERE overdue_n > 0), '{}')) AS overdue
        FROM money GROUP BY talent_id
    ), work AS (
        SELECT talent_id, count(*) AS due,
            count(*) FILTER (WHERE status = 'approved') AS approved,
            count(*) FILTER (WHERE status = 'overdue') AS overdue
        FROM deliverables WHERE due_at >= :start AND due_at < :end
        GROUP BY talent_id
    ), outreach AS (
        SELECT talent_id, count(*) AS sent, count(*) FILTER (WHERE replied_at IS NOT NULL) AS replied
        FROM outreach_actions WHERE sent_at >= :start AND sent_at < :end
        GROUP BY talent_id
    ), stored AS (
        INSERT INTO reports (kind, talent_id, period_start, period_end, created_at, data)
        SELECT CAST(:kind AS text), t.id, CAST(:start AS timestamptz), CAST(:end AS timestamptz),
            CAST(:now AS timestamptz), jsonb_build_object(
            'time_zone', CAST(:zone AS text),
            'talent', t.name,
            'handle', t.handle,
            'deals_won', coalesce(d.won, '{"count": 0, "value": {}}'),
            'deals_lost', coalesce(d.lost, '{"count": 0, "value": {}}'),
            'invoiced', coalesce(mo.invoiced, '{"count": 0, "totals": {}}'),
            'collected', coalesce(mo.collected, '{"count": 0, "totals": {}}'),
            'overdue', coalesce(mo.overdue, '{"count": 0, "totals": {}}'),
            'deliverables', jsonb_build_object(
                'due', coalesce(w.due, 0), 'approved', coalesce(w.approved, 0),
                'overdue', coalesce(w.overdue, 0)),
            'outreach', jsonb_build_object(
                'sent', coalesce(o.sent, 0), 'replied', coalesce(o.replied, 0),
                'reply_rate', round(o.replied::numeric / nullif(o.sent, 0), 4))
        )
        FROM talents AS t
            LEFT JOIN deals_by_talent AS d ON d.talent_id = t.id
            LEFT JOIN money_by_talent AS mo ON mo.talent_id = t.id
            LEFT JOIN work AS w ON w.talent_id = t.id
            LEFT JOIN outreach AS o ON o.talent_id = t.id
        WHERE t.active
        ON CONFLICT (kind, period_start, (coalesce(talent_id, 0)))
            DO UPDATE SET period_end = EXCLUDED.period_end, data = EXCLUDED.data
        RETURNING id, talent_id, data
    )
    SELECT s.id, s.talent_id, s.data, u.id AS manager_id, u.name AS manager_name, u.email AS manager_email
    FROM stored AS s JOIN talents AS t ON t.id = s.talent_id JOIN users AS u ON u.id = t.manager_id
    ORDER BY s.talent_id
    """
).columns(id=Integer, talent_id=Integer, data=JSONB, manager_id=Integer)


@uses_tables(Report, Talent, User, Deal, Contract, Invoice, Deliverable, OutreachAction)
async def weekly_talent_reports(ctx: JobContext) -> dict[str, Any]:
    """One report per active talent for last week (cron zone), stored by upsert and emailed to their manager.

    One statement whatever the number of talents. ``count``: emails enqueued (a re-run of the
    week stores the same reports again and enqueues none).
    """
    zone = ctx["settings"].cron_zone
    now = tick_time(ctx, WEEKLY_TALENT_REPORTS)
    start, end = previous_week(now, zone)
    week = start.astimezone(zone).date()
    async with ctx["sessions"].begin() as session:
        rows = (
            await session.execute(
                _TALENT_REPORTS,
                {"kind": TALENT_WEEKLY, "start": start, "end": end, "zone": zone.key, "now": now},
            )
        ).all()
    fan = await ctx["producer"].fan_out(
        EMAIL_SEND,
        rows,
        payload=lambda row: _talent_email(row.data, row.manager_name, row.manager_email, week),
        job_id=lambda row: job_ids.talent_report_email(row.talent_id, week),
    )
    return {"count": fan.enqueued, "reports": len(rows), "week": week.isoformat(), **fan.report()}


def _talent_email(data: Mapping[str, Any], manager: str, address: str, week: date) -> EmailSend:
    work = data["deliverables"]
    lines = [
        f"Hello {manager},",
        "",
        f"{data['talent']} (@{data['handle']}), week of {week:%d %B %Y} ({data['time_zone']}):",
        "",
        *_week_lines(data),
        f"Deliverables due in the week: {work['due']} "
        f"({work['approved']} approved, {work['overdue']} overdue)",
    ]
    subject = f"Weekly report for {data['talent']}, week of {week:%d %B %Y}"
    return EmailSend(to=address, subject=subject, body="\n".join(lines))


# --- shared -------------------------------------------------------------------------------------


def _at(stamp: str, zone: ZoneInfo) -> datetime:
    """A timestamp from a JSON document (ISO 8601 with offset) in ``zone``."""
    return datetime.fromisoformat(stamp).astimezone(zone)


def _due(stamp: str | None, zone: ZoneInfo) -> str:
    return "no due date" if stamp is None else f"due {_at(stamp, zone):%d %B %Y}"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
