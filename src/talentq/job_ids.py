"""Job ids: how each queue names its jobs, one function per rule, in one place.

arq runs a job id once while the job waits and for an hour after it ends (its result is kept),
so a job id says which piece of work a job is: enqueueing the same work again (a retried
processor, a cron tick run twice, a double click) finds the id taken and adds nothing, while a
new piece of work (the next attempt of a task, the next reminder, next week's report) gets an id
of its own. Every id is ``"<queue>:<parts>"``; a job of a cron's fan-out carries the tick's own
job id, so each tick enqueues its jobs once and the next tick enqueues them again.
"""

from __future__ import annotations

from datetime import date, datetime

from talentq.domain.deliverables import reminder_key


def _id(queue: str, *parts: object) -> str:
    return ":".join((queue, *(str(part) for part in parts)))


# --- the inbox pipeline ----------------------------------------------------------------------


def inbox(message_id: int) -> str:
    """Route a stored message: once per message."""
    return _id("inbox", message_id)


def triage(task_id: int) -> str:
    """The first run of a message's triage task, as the inbox queue hands it on."""
    return _id("inbox-triage", task_id)


def deal_extraction(message_id: int) -> str:
    """Extract the offer of a message triage classified ``deal_offer``: once per message.

    Not ``deal-extraction:{id}``, which the inbox queue sent before triage classified messages:
    such a job, still kept an hour, would make arq refuse this one.
    """
    return _id("deal-extraction", message_id, "triaged")


# --- agent tasks -----------------------------------------------------------------------------


def agent_task(queue: str, task_id: int, attempts: int, why: str = "") -> str:
    """A run of an agent task on ``queue`` (ai-agent, agent-tasks, inbox-triage), per attempt and reason.

    A repeat finds the job; a new attempt gets its own, since arq refuses an id while the job
    waits or its result is kept (an hour). ``why``: "recover" or "retry" when a cron sends it.
    """
    return _id(queue, task_id, *([why] if why else []), attempts)


# --- a cron tick's fan-out -------------------------------------------------------------------


def mailbox_sync(user_id: int, tick: str) -> str:
    """gmail-ingest of a user's mailbox for the tick whose job id is ``tick``."""
    return _id("gmail-ingest", user_id, tick)


def talent_outreach(talent_id: int, tick: str) -> str:
    """ai-outreach drafting for a talent, per tick."""
    return _id("ai-outreach", talent_id, tick)


def brand_crm(user_id: int, brand_id: int, tick: str) -> str:
    """A (manager, brand) CRM refresh, per tick."""
    return _id("brand-crm", user_id, brand_id, tick)


def strategy(user_id: int, brand_id: int, tick: str) -> str:
    """A (manager, brand) strategy prediction, per tick."""
    return _id("strategy-engine", user_id, brand_id, tick)


def outreach(action_id: int) -> str:
    """Putting a due outreach action before its approver: once per action."""
    return _id("outreach", action_id)


def deliverable_reminder(deliverable_id: int, last_reminded: datetime | None) -> str:
    """The reminder of a deliverable after the one sent at ``last_reminded`` (None: the first)."""
    return _id("deliverable-reminders", deliverable_id, reminder_key(last_reminded))


# --- email-send: one id per email, by what it is for -----------------------------------------


def approved_email(approval_id: int) -> str:
    """The one email an approval may send."""
    return _id("email-send", "approval", approval_id)


def agent_email(task_id: int, step: int) -> str:
    """The email of an agent task's ``send_email`` step (addressed to its own manager)."""
    return _id("email-send", "agent", task_id, step)


def contract_finalised_email(contract_id: int) -> str:
    """The notice that a contract was finalised: once per contract."""
    return _id("email-send", "contract", contract_id)


def reminder_email(deliverable_id: int, last_reminded: datetime | None) -> str:
    """A deliverable reminder's email: one per reminder (see ``deliverable_reminder``)."""
    return _id("email-send", "deliverable-reminder", deliverable_id, reminder_key(last_reminded))


def review_email(deliverable_id: int, submitted_ms: int, digest: str) -> str:
    """A content review's notice: one per submission (its time) and content (its digest)."""
    return _id("email-send", "deliverable-review", deliverable_id, submitted_ms, digest[:16])


def invoice_reminder_email(invoice_id: int) -> str:
    """The reminder of an overdue invoice: once per invoice."""
    return _id("email-send", "invoice-overdue", invoice_id)


def daily_brief_email(manager_id: int, day: date) -> str:
    """A manager's brief of ``day`` (their local day)."""
    return _id("email-send", "daily-brief", manager_id, day.isoformat())


def weekly_report_email(week: date, user_id: int) -> str:
    """A manager's report of the week starting ``week``."""
    return _id("email-send", "weekly-report", week.isoformat(), user_id)


def talent_report_email(talent_id: int, week: date) -> str:
    """A talent's report of the week starting ``week``."""
    return _id("email-send", "talent-report", talent_id, week.isoformat())


# --- replays ---------------------------------------------------------------------------------


def replay(job_id: str, nonce: str) -> str:
    """A dead letter's job enqueued again by hand: a new id each time (``nonce``), naming the old."""
    return f"{job_id}:replay:{nonce}"
