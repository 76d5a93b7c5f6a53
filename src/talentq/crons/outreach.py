"""Outreach crons: rotate stale pitches, fan out ai-outreach, plan and send the day's outreach,
follow up unanswered pitches, and queue the brand CRM refreshes and strategy predictions.

Each cron is a fixed number of SQL statements whatever the rows (an UPDATE or INSERT with
CTEs, or one SELECT; two for follow-ups) and at most one fan-out (``Producer.fan_out``: a payload
a queue refuses is skipped and reported, the others go out). Database constraints
keep re-runs harmless: one open action per talent and brand, one follow-up per action; fan-out
job ids carry a stable key, and the tick where a re-run of the same tick must enqueue nothing new.
Mail counts as a brand's by the one rule in ``talentq.db.brands``. "Now" is the run's tick
(``talentq.jobs.tick_time``): it decides every window and stamps every row a cron writes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from sqlalchemy import select, text
from sqlmodel import col

from talentq import job_ids
from talentq.db.brands import brand_mail_sql
from talentq.db.tables import (
    Brand,
    BrandCrmRecord,
    Deal,
    InboxMessage,
    OutreachAction,
    Talent,
)
from talentq.domain.outreach import TALENT_RECENT
from talentq.jobs import JobContext, tick_time, uses_tables
from talentq.queues import (
    AI_OUTREACH,
    BRAND_CRM,
    OUTREACH,
    STRATEGY_ENGINE,
    ActionRef,
    BrandCrm,
    StrategyEngine,
    TalentRef,
)

#: The crons' names in the schedule: each run's tick is its "now" (see ``talentq.jobs.tick_time``).
OUTREACH_ROTATION: Final = "outreach-rotation"
DAILY_OUTREACH_PLAN: Final = "daily-outreach-plan"
OUTREACH_FOLLOW_UPS: Final = "outreach-follow-ups"
BRAND_CRM_DAILY: Final = "brand-crm-daily"
STRATEGY_PREDICTIONS: Final = "strategy-predictions"

#: A pending pitch not sent this long after it was drafted is stale: rotation offers it to another talent.
STALE_AFTER: Final = timedelta(days=14)
#: A pitch that was scheduled this long ago and is still pending had its send; it can rotate too.
SEND_GRACE: Final = timedelta(days=1)
#: A due action still pending is queued again by each daily plan for this long (its job may have
#: died with a worker or used up its retries) and counts in its talent's cap meanwhile; after
#: that its failure is in the dead letters and it no longer holds the cap; rotation re-plans it.
REQUEUE_WITHIN: Final = timedelta(days=3)
#: A sent pitch without a reply this long after sending gets one follow-up...
FOLLOW_UP_AFTER: Final = timedelta(days=5)
#: ...unless it is older than this: the first run must not chase every pitch ever sent. Replies
#: are looked for over the same window: mail received since, to pitches sent since.
FOLLOW_UP_WITHIN: Final = timedelta(days=30)
#: Mail from a brand counts as CRM activity when received this recently; older mail was counted
#: by earlier daily runs, and matching every message ever received against the brands is not cheap.
INBOX_LOOKBACK: Final = timedelta(days=7)
#: A (manager, brand) pair is one the agency works with while it has a deal or a pitch this recent.
WORKS_WITH_WITHIN: Final = timedelta(days=365)

# The stale pending initial pitches of each (manager, brand), oldest first, and the candidate
# talents for that (manager, brand), best first, are two arrays per group; unnest zips them, so
# the k-th pitch goes to the k-th candidate and pitches beyond the candidates stay (unnest pads
# the shorter array with NULLs). A candidate has no open pitch to the brand and none (sent,
# drafted, or rotated away) this quarter, so no two pitches of a brand move to one talent and
# the open-pair unique index holds. Arrays per group, not a join of numbered rows: its plan
# cannot go quadratic on a misestimate. A moved pitch is closed as 'rotated' (it stays in its
# talent's history, which the quarter rule and ai-outreach read) and a new pending pitch is
# inserted for the new talent, with a plain, factual draft (the old one named the old talent).
# A stale pitch left without a candidate whose talent is inactive or has a cap of 0 can never be
# sent: it is closed as 'failed' with the reason (an active talent's stays: it may still go out).
_ROTATE = r"""
WITH stale AS (
    SELECT t.manager_id, o.brand_id, array_agg(o.id ORDER BY o.created_at, o.id) AS actions
    FROM outreach_actions AS o
    JOIN talents AS t ON t.id = o.talent_id
    WHERE o.status = 'pending' AND o.kind = 'initial' AND o.created_at < :stale_before
      AND (o.scheduled_at IS NULL OR o.scheduled_at < :unsent_before)
      AND o.approval_id IS NULL  -- one before its approver is theirs to decide, not rotation's
    GROUP BY t.manager_id, o.brand_id
),
candidates AS (
    SELECT s.manager_id, s.brand_id,
           array_agg(
               c.id ORDER BY c.niches @> jsonb_build_array(b.category) DESC, c.audience_size DESC, c.id
           ) AS talents
    FROM stale AS s
    JOIN brands AS b ON b.id = s.brand_id
    JOIN talents AS c ON c.manager_id = s.manager_id AND c.active AND c.daily_outreach_cap > 0
    WHERE NOT EXISTS (
        SELECT 1 FROM outreach_actions AS p
        WHERE p.talent_id = c.id AND p.brand_id = s.brand_id
          AND (p.status = 'pending' OR p.created_at >= :quarter_start OR p.sent_at >= :quarter_start)
    )
    GROUP BY s.manager_id, s.brand_id
),
pairs AS (
    SELECT pair.action_id, pair.talent_id
    FROM stale AS s
    JOIN candidates AS c ON c.manager_id = s.manager_id AND c.brand_id = s.brand_id
    CROSS JOIN LATERAL unnest(s.actions, c.talents) AS pair(action_id, talent_id)
    WHERE pair.action_id IS NOT NULL AND pair.talent_id IS NOT NULL
),
closed AS (
    UPDATE outreach_actions AS o
    SET status = 'rotated', error = 'rotated to talent ' || c.id || ' (@' || c.handle || ')'
    FROM pairs AS p
    JOIN talents AS c ON c.id = p.talent_id
    WHERE o.id = p.action_id AND o.status = 'pending'
    RETURNING o.brand_id, o.to_address, p.talent_id
),
rotated AS (
    INSERT INTO outreach_actions (talent_id, brand_id, kind, status, to_address, subject, message, created_at)
    SELECT c.id, b.id, 'initial', 'pending', coalesce(x.to_address, b.contact_email),
           left(c.name || ' x ' || b.name, 300),
           concat(
               'Hi ', b.name, E' team,\n\nI represent ', c.name, ' (@', c.handle, '), who creates ',
               coalesce(
                   (SELECT string_agg(n, ', ') FROM jsonb_array_elements_text(c.niches) AS n), 'original'
               ),
               ' content for an audience of ', to_char(c.audience_size, 'FM999,999,999,990'),
               '. Would you be open to a short call about a collaboration with ', b.name, '?'
           ),
           :now
    FROM closed AS x
    JOIN talents AS c ON c.id = x.talent_id
    JOIN brands AS b ON b.id = x.brand_id
    RETURNING id
),
abandoned AS (
    UPDATE outreach_actions AS o
    SET status = 'failed',
        error = 'closed by outreach-rotation: talent ' || t.id || ' (@' || t.handle || ') '
                || CASE WHEN t.active THEN 'has a daily outreach cap of 0' ELSE 'is inactive' END
                || ' and no other talent of the manager can take the pitch to brand ' || b.id
                || ' (' || quote_literal(b.name) || ')'
    FROM talents AS t, brands AS b
    WHERE t.id = o.talent_id AND b.id = o.brand_id AND (NOT t.active OR t.daily_outreach_cap <= 0)
      AND o.id IN (SELECT unnest(s.actions) FROM stale AS s)
      AND NOT EXISTS (SELECT FROM pairs AS p WHERE p.action_id = o.id)
      AND o.status = 'pending'
    RETURNING o.id
)
SELECT (SELECT count(*) FROM rotated) AS rotated,
       (SELECT count(*) FROM abandoned) AS closed,
       (SELECT coalesce(sum(cardinality(actions)), 0) FROM stale) AS stale
"""

# What each active talent has already spent of today's cap: pitches sent today, pitches
# scheduled today, and recent pending ones whose time passed (they are queued again below); one
# already before its approver (``approval_id``) is a person's to send, and is queued no more.
# The oldest unscheduled pending actions fill what is left; the statement returns those it
# scheduled and those that were already due (the data-modifying CTE's rows are not in the
# snapshot the rest of the statement reads, so the two sets are disjoint).
_PLAN = """
WITH used AS (
    SELECT o.talent_id, count(*) AS n
    FROM outreach_actions AS o
    WHERE o.sent_at >= :day_start
       OR (o.scheduled_at >= :day_start AND o.scheduled_at < :day_end)
       OR (o.status = 'pending' AND o.approval_id IS NULL
           AND o.scheduled_at >= :requeue_since AND o.scheduled_at < :day_start)
    GROUP BY o.talent_id
),
ranked AS (
    SELECT o.id,
           row_number() OVER (PARTITION BY o.talent_id ORDER BY o.created_at, o.id) AS k,
           t.daily_outreach_cap - coalesce(u.n, 0) AS room
    FROM outreach_actions AS o
    JOIN talents AS t ON t.id = o.talent_id AND t.active
    LEFT JOIN used AS u ON u.talent_id = o.talent_id
    WHERE o.status = 'pending' AND o.scheduled_at IS NULL
),
planned AS (
    UPDATE outreach_actions AS o
    SET scheduled_at = :now
    FROM ranked AS r
    WHERE o.id = r.id AND r.k <= r.room AND o.status = 'pending' AND o.scheduled_at IS NULL
    RETURNING o.id
)
SELECT id, true AS planned FROM planned
UNION ALL
SELECT o.id, false
FROM outreach_actions AS o
JOIN talents AS t ON t.id = o.talent_id AND t.active
WHERE o.status = 'pending' AND o.approval_id IS NULL
  AND o.scheduled_at <= :now AND o.scheduled_at >= :requeue_since
ORDER BY id
"""

# Replies first: a sent pitch (or follow-up) is answered when mail from its brand reached the
# talent's manager after it went out; it is marked replied at the first such mail, and a
# pending follow-up of it is closed, not sent. One statement: the follow-ups below then see it.
# The first mail after each pitch comes from one pass over each (manager, brand)'s pitches and
# mail, latest first: the earliest mail seen so far when a pitch comes up is the first after it
# (a mail at the pitch's very instant sorts after the pitch, so it is not counted). A sort,
# where joining every pitch to every mail of its pair would grow with their product.
_REPLIES = rf"""
WITH sent AS (
    SELECT o.id, t.manager_id AS user_id, o.brand_id, o.sent_at
    FROM outreach_actions AS o
    JOIN talents AS t ON t.id = o.talent_id
    WHERE o.status = 'sent' AND o.replied_at IS NULL AND o.sent_at >= :since
),
timeline AS (
    SELECT e.id,
           min(e.received_at) OVER (
               PARTITION BY e.user_id, e.brand_id ORDER BY e.at DESC, e.id IS NULL ROWS UNBOUNDED PRECEDING
           ) AS received_at
    FROM (
        SELECT id, user_id, brand_id, sent_at AS at, CAST(NULL AS timestamptz) AS received_at FROM sent
        UNION ALL
        SELECT NULL, bm.user_id, bm.brand_id, bm.received_at, bm.received_at
        FROM ({brand_mail_sql(messages="m.received_at >= :since")}) AS bm
    ) AS e
),
replied AS (
    UPDATE outreach_actions AS o
    SET status = 'replied', replied_at = r.received_at
    FROM timeline AS r
    WHERE o.id = r.id AND r.received_at IS NOT NULL AND o.status = 'sent'
    RETURNING o.id, o.brand_id, o.replied_at
),
closed AS (
    UPDATE outreach_actions AS f
    SET status = 'failed',
        error = 'follow-up not needed: brand ' || b.id || ' (' || quote_literal(b.name) || ') replied to '
                || 'outreach action ' || r.id || ' at '
                || to_char(r.replied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')
    FROM replied AS r
    JOIN brands AS b ON b.id = r.brand_id
    WHERE f.follow_up_of_id = r.id AND f.status = 'pending'
    RETURNING f.id
)
SELECT (SELECT count(*) FROM replied) AS replied, (SELECT count(*) FROM closed) AS closed
"""

# ON CONFLICT DO NOTHING, with no target, stands on both partial unique indexes: one follow-up
# per action, and one open action per talent and brand (two unanswered pitches of one talent
# to one brand get one follow-up between them; the other waits until that one is sent).
# The new rows are counted in the statement: the result is one row, whatever was made.
_FOLLOW_UP = r"""
WITH made AS (
    INSERT INTO outreach_actions
        (talent_id, brand_id, kind, follow_up_of_id, status, to_address, subject, message, created_at)
    SELECT o.talent_id, o.brand_id, 'follow_up', o.id, 'pending',
           coalesce(o.to_address, b.contact_email),
           left('Re: ' || coalesce(o.subject, t.name || ' x ' || b.name), 300),
           concat_ws(
               E'\n\n',
               'Hi ' || b.name || ' team,',
               'Following up on my note of ' || to_char(o.sent_at AT TIME ZONE 'UTC', 'FMDD Mon YYYY')
                   || ' about ' || t.name || ' (@' || t.handle || '). Happy to share rates, audience '
                   || 'data and campaign ideas: would a short call this week suit you?',
               E'--- original message ---\n' || o.message
           ),
           :now
    FROM outreach_actions AS o
    JOIN talents AS t ON t.id = o.talent_id AND t.active
    JOIN brands AS b ON b.id = o.brand_id
    WHERE o.kind = 'initial' AND o.status = 'sent' AND o.replied_at IS NULL
      AND o.sent_at < :sent_before AND o.sent_at >= :sent_after
      AND NOT EXISTS (SELECT 1 FROM outreach_actions AS f WHERE f.follow_up_of_id = o.id)
    ORDER BY o.sent_at, o.id
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM made
"""

# A deal belongs to its talent's manager, or, before a talent is known, to the manager whose
# mailbox the offer came in to.
_DEAL_OWNER = """
    FROM deals AS d
    LEFT JOIN talents AS t ON t.id = d.talent_id
    LEFT JOIN inbox_messages AS m ON m.id = d.source_message_id
"""

# The latest activity of each (manager, brand) pair: deals created or updated (updated_at is
# set on creation too), pitches created, sent or replied to, and recent mail from the brand
# (talentq.db.brands' rule, as brand-crm counts it); pairs whose latest activity is after their
# CRM record's refresh, or that have no record yet.
_CRM_DUE = rf"""
WITH activity AS (
    SELECT coalesce(t.manager_id, m.user_id) AS user_id, d.brand_id, max(d.updated_at) AS at
    {_DEAL_OWNER}
    WHERE d.brand_id IS NOT NULL AND coalesce(t.manager_id, m.user_id) IS NOT NULL
    GROUP BY 1, 2
    UNION ALL
    SELECT t.manager_id, o.brand_id, max(greatest(o.created_at, o.sent_at, o.replied_at))
    FROM outreach_actions AS o
    JOIN talents AS t ON t.id = o.talent_id
    GROUP BY 1, 2
    UNION ALL
    SELECT bm.user_id, bm.brand_id, max(bm.received_at)
    FROM ({brand_mail_sql(messages="m.received_at >= :mail_since")}) AS bm
    GROUP BY 1, 2
)
SELECT a.user_id, a.brand_id
FROM activity AS a
LEFT JOIN brand_crm_records AS r ON r.user_id = a.user_id AND r.brand_id = a.brand_id
GROUP BY a.user_id, a.brand_id, r.refreshed_at
HAVING r.refreshed_at IS NULL OR max(a.at) > r.refreshed_at
ORDER BY a.user_id, a.brand_id
"""

# The (manager, brand) pairs the agency works with: a deal in any stage (a lost one is history
# the prediction learns from) or a pitch, touched within WORKS_WITH_WITHIN.
_WORKS_WITH = f"""
SELECT pairs.user_id, pairs.brand_id, b.name
FROM (
    SELECT coalesce(t.manager_id, m.user_id) AS user_id, d.brand_id
    {_DEAL_OWNER}
    WHERE d.brand_id IS NOT NULL AND d.updated_at >= :since
    UNION
    SELECT t.manager_id, o.brand_id
    FROM outreach_actions AS o
    JOIN talents AS t ON t.id = o.talent_id
    WHERE greatest(o.created_at, o.sent_at, o.replied_at) >= :since
) AS pairs
JOIN brands AS b ON b.id = pairs.brand_id
-- strategy-engine refuses an empty brand name, and one refused payload would refuse the batch.
WHERE pairs.user_id IS NOT NULL AND btrim(b.name) <> ''
ORDER BY pairs.user_id, pairs.brand_id
"""


@uses_tables(OutreachAction, Talent, Brand)
async def outreach_rotation(ctx: JobContext) -> dict[str, Any]:
    """Stale pending pitches move to another active talent of the same manager; one statement.

    The new talent has no open pitch to the brand and none in the last quarter; talents whose
    niches include the brand's category come first, then the larger audience. The old pitch is
    closed as 'rotated' (its talent keeps it in their history, so the brand does not hear from
    them again this quarter) and a new one is inserted for the new talent: drafted afresh,
    unscheduled, created now. A pitch with no such talent stays where it is, unless its own talent
    is inactive or has a daily cap of 0: that one can never be sent and is closed as 'failed' with
    the reason (``closed``), so it no longer holds the brand. ``stale`` counts them all.
    """
    now = tick_time(ctx, OUTREACH_ROTATION)
    async with ctx["sessions"].begin() as session:
        row = (
            await session.execute(
                text(_ROTATE),
                {
                    "now": now,
                    "stale_before": now - STALE_AFTER,
                    "unsent_before": now - SEND_GRACE,
                    "quarter_start": now - TALENT_RECENT,
                },
            )
        ).one()
    return {"count": int(row.rotated), "closed": int(row.closed), "stale": int(row.stale)}


async def pitching_talents(ctx: JobContext) -> list[int]:
    """Ids of the active talents that may pitch (a daily cap above 0), in one SELECT."""
    async with ctx["sessions"]() as session:
        ids = (
            await session.execute(
                select(col(Talent.id))
                .where(col(Talent.active).is_(True), col(Talent.daily_outreach_cap) > 0)
                .order_by(col(Talent.id))
            )
        ).scalars()
        return [int(talent_id) for talent_id in ids if talent_id is not None]


@uses_tables(Talent)
async def weekly_outreach(ctx: JobContext) -> dict[str, Any]:
    """One ai-outreach per active talent that may pitch (a daily cap above 0): one SELECT, one fan-out."""
    talents = await pitching_talents(ctx)
    fan = await ctx["producer"].fan_out(
        AI_OUTREACH,
        talents,
        payload=lambda talent: TalentRef(talent_id=talent),
        job_id=lambda talent: job_ids.talent_outreach(talent, ctx["job_id"]),
    )
    return {"count": fan.enqueued, "talents": len(talents), **fan.report()}


@uses_tables(OutreachAction, Talent)
async def daily_outreach_plan(ctx: JobContext) -> dict[str, Any]:
    """Schedule today's pitches within each talent's daily cap; queue an ``outreach`` per due action.

    "Today" is the UTC day. Due: pending actions of active talents whose scheduled time has come
    (the ones scheduled now, and those still unsent within ``REQUEUE_WITHIN`` of their time). The
    job id is the action's, so an action already queued is not queued twice, and the processor
    sends only pending actions.
    """
    now = tick_time(ctx, DAILY_OUTREACH_PLAN)
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    params = {
        "now": now,
        "day_start": day_start,
        "day_end": day_start + timedelta(days=1),
        "requeue_since": now - REQUEUE_WITHIN,
    }
    async with ctx["sessions"].begin() as session:
        rows = (await session.execute(text(_PLAN), params)).all()
    due = [int(row.id) for row in rows]
    fan = await ctx["producer"].fan_out(
        OUTREACH, due, payload=lambda action: ActionRef(action_id=action), job_id=job_ids.outreach
    )
    return {
        "count": fan.enqueued,
        "scheduled": sum(bool(row.planned) for row in rows),
        "due": len(due),
        **fan.report(),
    }


@uses_tables(OutreachAction, Talent, Brand, InboxMessage)
async def outreach_follow_ups(ctx: JobContext) -> dict[str, Any]:
    """Record the brands' replies, then one pending follow-up per initial pitch still unanswered 5+ days on.

    Two statements in one transaction: pitches answered since they went out are marked replied
    (and a pending follow-up of theirs closed); the follow-ups are made for the rest, never a second.
    """
    now = tick_time(ctx, OUTREACH_FOLLOW_UPS)
    async with ctx["sessions"].begin() as session:
        replies = (await session.execute(text(_REPLIES), {"since": now - FOLLOW_UP_WITHIN})).one()
        made = await session.scalar(
            text(_FOLLOW_UP),
            {"now": now, "sent_before": now - FOLLOW_UP_AFTER, "sent_after": now - FOLLOW_UP_WITHIN},
        )
    return {"count": int(made or 0), "replied": int(replies.replied), "closed": int(replies.closed)}


@uses_tables(Deal, OutreachAction, Talent, InboxMessage, Brand, BrandCrmRecord)
async def brand_crm_daily(ctx: JobContext) -> dict[str, Any]:
    """One brand-crm per (manager, brand) pair with activity since its CRM record was refreshed."""
    now = tick_time(ctx, BRAND_CRM_DAILY)
    async with ctx["sessions"]() as session:
        pairs = [
            (int(row.user_id), int(row.brand_id))
            for row in await session.execute(text(_CRM_DUE), {"mail_since": now - INBOX_LOOKBACK})
        ]
    fan = await ctx["producer"].fan_out(
        BRAND_CRM,
        pairs,
        payload=lambda pair: BrandCrm(user_id=pair[0], brand_id=pair[1]),
        job_id=lambda pair: job_ids.brand_crm(*pair, ctx["job_id"]),
    )
    return {"count": fan.enqueued, "pairs": len(pairs), **fan.report()}


@uses_tables(Deal, OutreachAction, Talent, InboxMessage, Brand)
async def strategy_predictions(ctx: JobContext) -> dict[str, Any]:
    """One strategy-engine per (manager, brand) pair with a deal or a pitch in the last year.

    Predictions are per manager (one current prediction per manager and brand), so the jobs
    are too. Job ids use the brand's id: its name may hold any character.
    """
    now = tick_time(ctx, STRATEGY_PREDICTIONS)
    async with ctx["sessions"]() as session:
        rows = (await session.execute(text(_WORKS_WITH), {"since": now - WORKS_WITH_WITHIN})).all()
    fan = await ctx["producer"].fan_out(
        STRATEGY_ENGINE,
        rows,
        payload=lambda row: StrategyEngine(user_id=row.user_id, brand_name=row.name),
        job_id=lambda row: job_ids.strategy(row.user_id, row.brand_id, ctx["job_id"]),
    )
    return {"count": fan.enqueued, "pairs": len(rows), **fan.report()}
