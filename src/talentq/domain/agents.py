"""AI agent tasks: the steps an agent may take, and the rules that decide them for a task.

A task of a known kind (``KINDS``) and its context (the deal, talent, brand and manager it
concerns) become an ``AgentPlan``: validated steps, each with its explanation. The step
models here validate the rules' plans, a model's answers and the steps ``agent-tasks`` reads
back from the database, so all three agree on one shape. ``checked_plan`` confines a plan to
its context: an AI may not write to addresses, deals, talent or brands the task does not
concern, nor move a deal further than ``AGENT_MOVES`` allows (an agent opens a negotiation or
gives a deal up; it never contracts one)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from talentq.domain.money import format_minor, is_currency, minor_units
from talentq.domain.vocabulary import describe_content, parse_content

#: The kinds of agent task the ``ai-agent`` queue runs (``inbox_triage`` tasks are inbox-triage's).
KINDS: Final = ("reply_to_brand", "counter_offer", "follow_up", "brand_outreach")

#: Where an agent may move a deal from each stage (a stage not listed: nowhere). Only
#: contract_finalisation contracts a deal, together with its finalised contract and invoices:
#: a deal an agent marked contracted would have neither, and finalisation would refuse it
#: for ever after. ``move_deal_stage`` steps are held to this, when planned and when executed.
AGENT_MOVES: Final[Mapping[str, frozenset[str]]] = {
    "draft": frozenset({"negotiating", "lost"}),
    "negotiating": frozenset({"lost"}),
}
#: Stages in which the agency still talks terms with the brand.
OPEN_STAGES: Final = frozenset({"draft", "negotiating"})
#: A brand that has not answered in this many hours gets a follow-up.
FOLLOW_UP_AFTER_HOURS: Final = 72
#: Without a negotiation-engine recommendation, the counter-offer asks this much above the offer.
DEFAULT_COUNTER_UPLIFT: Final = Decimal("0.15")


class AgentTaskRefused(ValueError):
    """The task cannot be planned as it stands: unknown kind, or context it needs is missing."""


class InvalidStep(ValueError):
    """A step does not validate, names something outside its task, or breaks a deal transition."""


# --- the steps --------------------------------------------------------------------------------

Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Address = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
Id = Annotated[int, Field(gt=0)]


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Why the agent takes this step, in words a manager reads in the task's record.
    explanation: Body


class SendEmail(_Step):
    """Send one email through the ``email-send`` queue."""

    type: Literal["send_email"]
    to: Address
    subject: Line
    body: Body
    reply_to: Address | None = None


class CreateOutreach(_Step):
    """A pending outreach action for a talent towards a brand (the outreach crons send it)."""

    type: Literal["create_outreach"]
    talent_id: Id
    brand_id: Id
    to: Address | None = None
    subject: Line
    message: Body


def allowed_moves(stage: str) -> frozenset[str]:
    """The stages an agent may move a deal in ``stage`` to (``AGENT_MOVES``)."""
    return AGENT_MOVES.get(stage, frozenset())


class MoveDealStage(_Step):
    """Move the task's deal to another stage, as ``AGENT_MOVES`` allows only."""

    type: Literal["move_deal_stage"]
    deal_id: Id
    to_stage: Literal["negotiating", "lost"]


class ScheduleFollowUp(_Step):
    """A new ``follow_up`` agent task for the deal, run after ``after_hours``.

    A task rather than a deferred email: when it runs, the agent looks at the deal again,
    and a deal that moved on meanwhile gets no follow-up.
    """

    type: Literal["schedule_follow_up"]
    deal_id: Id
    after_hours: int = Field(ge=1, le=24 * 30)
    note: Line


Step = Annotated[SendEmail | CreateOutreach | MoveDealStage | ScheduleFollowUp, Field(discriminator="type")]
_STEP_MODELS: Final[Mapping[str, type[_Step]]] = {
    "send_email": SendEmail,
    "create_outreach": CreateOutreach,
    "move_deal_stage": MoveDealStage,
    "schedule_follow_up": ScheduleFollowUp,
}
STEP_TYPES: Final = tuple(_STEP_MODELS)
_STEP_LIST: Final = TypeAdapter(list[Step])
#: Task input fields that a plan copies into a step, and the step field each must fit.
_INPUT_FIELDS: Final = {
    "to": TypeAdapter(Address),
    "subject": TypeAdapter(Line),
    "message": TypeAdapter(Body),
}
_ADDRESS: Final = _INPUT_FIELDS["to"]


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    return str(error["msg"])


def parse_steps(raw: object) -> list[Step]:
    """Stored steps back into models; ``InvalidStep`` names the first bad step's index and fields."""
    if not isinstance(raw, list):
        raise InvalidStep(f"steps must be a list, got {type(raw).__name__}")
    steps: list[Step] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise InvalidStep(f"steps[{index}] must be an object, got {type(item).__name__}")
        kind = item.get("type")
        model = _STEP_MODELS.get(kind) if isinstance(kind, str) else None
        if model is None:
            raise InvalidStep(f"steps[{index}] has unknown type {kind!r} (known: {', '.join(STEP_TYPES)})")
        try:
            steps.append(model.model_validate(item))  # type: ignore[arg-type]  # one of Step's members
        except ValidationError as exc:
            problems = "; ".join(
                f"field {'.'.join(str(p) for p in error['loc'])!r}: {error['msg']}"
                for error in exc.errors(include_url=False)
            )
            raise InvalidStep(f"steps[{index}] ({kind}): {problems}") from None
    return steps


def dump_steps(steps: Sequence[Step]) -> list[dict[str, Any]]:
    """Steps as stored on the task (JSON, ``type`` first for whoever reads the row)."""
    return [{"type": s.type, **s.model_dump(mode="json", exclude={"type"})} for s in steps]


# --- the context a plan is made from ------------------------------------------------------------


@dataclass(frozen=True)
class DealFacts:
    """The task's deal as an agent sees it (``deliverables`` as stored: parsed where described)."""

    id: int
    stage: str
    fee_minor: int | None
    currency: str
    deliverables: list[dict[str, Any]] = field(default_factory=list)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    insights: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TalentFacts:
    id: int
    name: str
    handle: str
    niches: list[str] = field(default_factory=list)
    audience_size: int = 0


@dataclass(frozen=True)
class BrandFacts:
    id: int
    name: str
    contact_email: str | None = None
    category: str | None = None


@dataclass(frozen=True)
class ManagerFacts:
    id: int
    name: str
    email: str


@dataclass(frozen=True)
class AgentContext:
    """Everything an agent may know about one task: read from the database by ``ai-agent``."""

    task_id: int
    kind: str
    input: dict[str, Any]
    now: datetime
    deal: DealFacts | None = None
    talent: TalentFacts | None = None
    brand: BrandFacts | None = None
    manager: ManagerFacts | None = None

    def addresses(self) -> set[str]:
        """Who the task's emails may go to: the brand's contact, the manager, an ``input.to``."""
        return {
            a.lower()
            for a in (
                self.brand.contact_email if self.brand else None,
                self.manager.email if self.manager else None,
                self.input.get("to") if isinstance(self.input.get("to"), str) else None,
            )
            if a
        }

    def as_prompt(self) -> str:
        """The context as the JSON an AI provider is shown."""
        facts: dict[str, Any] = {"task": {"id": self.task_id, "kind": self.kind, "input": self.input}}
        for name, part in (
            ("deal", self.deal),
            ("talent", self.talent),
            ("brand", self.brand),
            ("manager", self.manager),
        ):
            if part is not None:
                facts[name] = {k: v for k, v in vars(part).items() if v not in (None, [], {})}
        facts["now"] = self.now
        return json.dumps(facts, default=str, indent=1)


@dataclass(frozen=True)
class AgentPlan:
    """The steps decided for a task (possibly none) and why."""

    steps: list[Step]
    reasons: list[str]


# --- checks shared by every provider ---------------------------------------------------------


def check_context(context: AgentContext) -> None:
    """Refuse a task no provider should plan: unknown kind, or missing what its kind needs."""
    if context.kind not in KINDS:
        raise AgentTaskRefused(
            f"agent task {context.task_id} has unknown kind {context.kind!r} (known: {', '.join(KINDS)})"
        )
    _check_input(context)
    if context.kind == "brand_outreach":
        _require(context, talent=True, brand=True)
        _require_address(context)
        return
    _require(context, deal=True)
    deal = context.deal
    assert deal is not None  # _require checked it
    if context.kind == "follow_up" and deal.stage not in OPEN_STAGES:
        return  # nothing to write: the plan is empty, and says why
    if context.kind in ("reply_to_brand", "counter_offer") and deal.stage not in OPEN_STAGES:
        raise AgentTaskRefused(
            f"agent task {context.task_id} ({context.kind}): deal {deal.id} is in stage {deal.stage!r}, "
            f"not one of {', '.join(sorted(OPEN_STAGES))}"
        )
    _require(context, talent=True, brand=True, manager=True)
    assert context.manager is not None  # _require checked it
    _check_address(context, context.manager.email, f"manager {context.manager.id}'s email")
    if context.kind == "counter_offer" and deal.fee_minor is None:
        raise AgentTaskRefused(
            f"agent task {context.task_id} (counter_offer): deal {deal.id} has no fee to counter"
        )
    _require_address(context)


def _require(
    context: AgentContext,
    *,
    deal: bool = False,
    talent: bool = False,
    brand: bool = False,
    manager: bool = False,
) -> None:
    missing = [
        f"a {name} ({source})"
        for name, needed, part, source in (
            ("deal", deal, context.deal, "set its deal_id"),
            ("talent", talent, context.talent, "the deal's, or input talentId"),
            ("brand", brand, context.brand, "the deal's, or input brandId"),
            ("manager", manager, context.manager, "the talent's manager"),
        )
        if needed and part is None
    ]
    if missing:
        raise AgentTaskRefused(
            f"agent task {context.task_id} ({context.kind}) needs {' and '.join(missing)}, and has none"
        )


def _given(value: object) -> bool:
    """An input value a plan uses: absent, null and blank strings are not given (templates fill in)."""
    return value is not None and not (isinstance(value, str) and not value.strip())


def _check_input(context: AgentContext) -> None:
    """Each input field a step copies must fit that step's field: no retry makes a bad one valid."""
    for key, adapter in _INPUT_FIELDS.items():
        value = context.input.get(key)
        if not _given(value):
            continue
        try:
            adapter.validate_python(value)
        except ValidationError as exc:
            raise AgentTaskRefused(
                f"agent task {context.task_id} ({context.kind}): input {key!r} is not valid "
                f"({_first_problem(exc)}): {value!r:.80}"
            ) from None


def _check_address(context: AgentContext, address: str, whose: str) -> None:
    try:
        _ADDRESS.validate_python(address)
    except ValidationError as exc:
        raise AgentTaskRefused(
            f"agent task {context.task_id} ({context.kind}): {whose} {address!r:.80} is not an email "
            f"address ({_first_problem(exc)}): correct it, then replay the task"
        ) from None


def _require_address(context: AgentContext) -> None:
    """Someone to write to: the input's ``to`` (checked by ``_check_input``), else the brand's contact."""
    brand = context.brand
    assert brand is not None
    if _given(context.input.get("to")):
        return
    if not brand.contact_email:
        raise AgentTaskRefused(
            f"agent task {context.task_id} ({context.kind}): brand {brand.id} "
            f"({brand.name}) has no contact_email, and the task's input has no 'to'"
        )
    _check_address(context, brand.contact_email, f"brand {brand.id}'s contact_email")


def checked_plan(steps: Sequence[Step], reasons: Sequence[str], context: AgentContext) -> AgentPlan:
    """The plan, once every step is confined to the task's context; ``InvalidStep`` otherwise."""
    known = context.addresses()
    deal = context.deal
    stage = deal.stage if deal else None
    for index, step in enumerate(steps):
        where = f"steps[{index}] ({step.type})"
        if isinstance(step, SendEmail) and step.to.lower() not in known:
            raise InvalidStep(f"{where}: {step.to!r} is not an address of this task's brand or manager")
        if isinstance(step, MoveDealStage | ScheduleFollowUp) and (deal is None or step.deal_id != deal.id):
            raise InvalidStep(f"{where}: deal {step.deal_id} is not this task's deal")
        if isinstance(step, MoveDealStage):
            assert stage is not None
            if step.to_stage not in allowed_moves(stage):
                raise InvalidStep(
                    f"{where}: an agent cannot move deal {step.deal_id} from {stage!r} to {step.to_stage!r}"
                )
            stage = step.to_stage
        if isinstance(step, CreateOutreach) and (
            context.talent is None
            or context.brand is None
            or (step.talent_id, step.brand_id) != (context.talent.id, context.brand.id)
        ):
            raise InvalidStep(
                f"{where}: talent {step.talent_id} and brand {step.brand_id} are not this task's"
            )
    return AgentPlan(steps=list(steps), reasons=list(reasons))


# --- the rules ----------------------------------------------------------------------------------


def plan_agent_steps(context: AgentContext) -> AgentPlan:
    """The deterministic plan for a task: templates and arithmetic, each step explained."""
    check_context(context)
    planner = {
        "reply_to_brand": _reply_to_brand,
        "counter_offer": _counter_offer,
        "follow_up": _follow_up,
        "brand_outreach": _brand_outreach,
    }[context.kind]
    steps, reasons = planner(context)
    try:
        validated = _STEP_LIST.validate_python(steps)
    except ValidationError as exc:
        # check_context vetted the input; what is left is a template filled past a field's limit
        # (a brand or talent name of hundreds of characters): the task's data, not a passing fault.
        problems = "; ".join(
            f"steps[{error['loc'][0]}] field {'.'.join(str(p) for p in error['loc'][2:])!r}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
        raise AgentTaskRefused(
            f"agent task {context.task_id} ({context.kind}): its planned steps do not validate: {problems}"
        ) from None
    # The rules' own output goes through the same gate as an AI's answer.
    return checked_plan(validated, reasons, context)


def _parties(context: AgentContext) -> tuple[DealFacts, TalentFacts, BrandFacts, ManagerFacts]:
    deal, talent, brand, manager = context.deal, context.talent, context.brand, context.manager
    if deal is None or talent is None or brand is None or manager is None:  # check_context refuses it
        raise AgentTaskRefused(f"agent task {context.task_id}: deal, talent, brand or manager missing")
    return deal, talent, brand, manager


def _to(context: AgentContext) -> str:
    given = context.input.get("to")
    if isinstance(given, str) and _given(given):
        return given.strip()
    address = context.brand.contact_email if context.brand else None
    if address is None:  # check_context refuses it
        raise AgentTaskRefused(f"agent task {context.task_id}: no address to write to")
    return address


def _reply_to_brand(context: AgentContext) -> tuple[list[dict[str, Any]], list[str]]:
    deal, talent, brand, manager = _parties(context)
    note = _input_text(context, "message") or (
        "We are reviewing the details and will come back to you shortly with our thoughts on "
        "usage rights and the timeline."
    )
    body = (
        f"Hi {brand.name} team,\n\n"
        f"Thank you for your offer for {talent.name} (@{talent.handle}): {_terms(deal)}.\n"
        f"{_first_name(talent)} is interested in working with you. {note}\n\n"
        f"Best regards,\n{manager.name}"
    )
    steps: list[dict[str, Any]] = [
        _email(context, f"Re: {brand.name} x {talent.name}", body, "answer the brand's offer on the deal")
    ]
    reasons = [f"deal {deal.id} is in stage {deal.stage!r}: the brand is waiting for an answer"]
    steps += _open_negotiation(deal, "a reply to the brand opens the negotiation")
    steps.append(_follow_up_step(deal, "the reply"))
    return steps, reasons


def _counter_offer(context: AgentContext) -> tuple[list[dict[str, Any]], list[str]]:
    deal, talent, brand, manager = _parties(context)
    assert deal.fee_minor is not None  # check_context
    counter, why = _counter_amount(context, deal)
    audience = f" and an audience of {talent.audience_size:,}" if talent.audience_size else ""
    body = (
        f"Hi {brand.name} team,\n\n"
        f"Thank you for your offer of {format_minor(deal.fee_minor, deal.currency)} for "
        f"{talent.name} (@{talent.handle}). Given the scope ({_scope(deal)}){audience}, "
        f"we would propose {format_minor(counter, deal.currency)} for the same deliverables.\n"
        f"{_input_text(context, 'message') or 'We are happy to talk through usage rights and timing.'}\n\n"
        f"Best regards,\n{manager.name}"
    )
    steps = [
        _email(
            context,
            f"{brand.name} x {talent.name}: our proposal",
            body,
            f"propose {format_minor(counter, deal.currency)} against the brand's "
            f"{format_minor(deal.fee_minor, deal.currency)}",
        ),
        *_open_negotiation(deal, "a counter-offer means the deal is being negotiated"),
        _follow_up_step(deal, "the counter-offer"),
    ]
    return steps, [why]


def _follow_up(context: AgentContext) -> tuple[list[dict[str, Any]], list[str]]:
    if context.deal is not None and context.deal.stage not in OPEN_STAGES:
        deal = context.deal
        return [], [f"deal {deal.id} moved on to stage {deal.stage!r}: no follow-up is needed"]
    deal, talent, brand, manager = _parties(context)
    note = _input_text(context, "note")
    body = (
        f"Hi {brand.name} team,\n\n"
        f"Just following up on {talent.name}'s partnership with you ({_terms(deal)}). "
        f"Is this still planned, and is there anything you need from us to move forward?\n\n"
        f"Best regards,\n{manager.name}"
    )
    reason = f"deal {deal.id} is still in stage {deal.stage!r}" + (f" after {note}" if note else "")
    return [
        _email(context, f"Following up: {brand.name} x {talent.name}", body, "nudge the brand for an answer")
    ], [reason]


def _brand_outreach(context: AgentContext) -> tuple[list[dict[str, Any]], list[str]]:
    talent, brand = context.talent, context.brand
    if talent is None or brand is None:  # check_context refuses it
        raise AgentTaskRefused(f"agent task {context.task_id}: talent or brand missing")
    niches = " and ".join(talent.niches[:2]) or "lifestyle"
    reach = f" for an audience of {talent.audience_size:,}" if talent.audience_size else ""
    message = (
        f"Hi {brand.name} team,\n\n"
        f"{talent.name} (@{talent.handle}) creates {niches} content{reach}. "
        f"We think {_first_name(talent)} would be a natural fit for {brand.name}"
        f"{f' in {brand.category}' if brand.category else ''}, and would love to explore a partnership.\n\n"
        f"{_input_text(context, 'message') or 'Could we set up a short call to share ideas?'}"
    )
    fit = [n for n in talent.niches if brand.category and n.lower() == brand.category.lower()]
    reasons = [
        f"{talent.name}'s niche {fit[0]!r} matches {brand.name}'s category"
        if fit
        else f"the task asks to pitch {talent.name} to {brand.name}"
    ]
    step = {
        "type": "create_outreach",
        "talent_id": talent.id,
        "brand_id": brand.id,
        "to": _to(context),
        "subject": f"{talent.name} x {brand.name}",
        "message": message,
        "explanation": "a pending outreach action; the outreach crons schedule and send it",
    }
    return [step], reasons


def _email(context: AgentContext, subject: str, body: str, why: str) -> dict[str, Any]:
    subject = _input_text(context, "subject") or subject
    return {
        "type": "send_email",
        "to": _to(context),
        "subject": subject,
        "body": body,
        "reply_to": context.manager.email if context.manager else None,
        "explanation": why,
    }


def _open_negotiation(deal: DealFacts, why: str) -> list[dict[str, Any]]:
    if deal.stage != "draft":
        return []
    return [{"type": "move_deal_stage", "deal_id": deal.id, "to_stage": "negotiating", "explanation": why}]


def _follow_up_step(deal: DealFacts, what: str) -> dict[str, Any]:
    return {
        "type": "schedule_follow_up",
        "deal_id": deal.id,
        "after_hours": FOLLOW_UP_AFTER_HOURS,
        "note": f"no answer to {what}",
        "explanation": f"if the brand has not answered {what} in {FOLLOW_UP_AFTER_HOURS} hours, nudge them",
    }


def _counter_amount(context: AgentContext, deal: DealFacts) -> tuple[int, str]:
    """The counter-offer in minor units and the reason for it; never at or below the offer."""
    assert deal.fee_minor is not None
    asked = context.input.get("counterMinor")
    if asked is not None:
        if isinstance(asked, bool) or not isinstance(asked, int) or asked <= deal.fee_minor:
            raise AgentTaskRefused(
                f"agent task {context.task_id} (counter_offer): input counterMinor {asked!r} must be an "
                f"integer above the brand's offer of {deal.fee_minor} minor units"
            )
        return asked, f"the manager asked for {format_minor(asked, deal.currency)}"
    recommended = _recommended_counter(deal)
    if recommended is not None and recommended > deal.fee_minor:
        return recommended, (
            f"negotiation-engine recommends {format_minor(recommended, deal.currency)} for deal {deal.id}"
        )
    # Round up to a whole unit of the currency: "EUR 4,600.00", not "EUR 4,599.99".
    unit = 10 ** minor_units(deal.currency) if is_currency(deal.currency) else 1
    raised = Decimal(deal.fee_minor) * (1 + DEFAULT_COUNTER_UPLIFT) / unit
    counter = int(raised.to_integral_value(rounding=ROUND_CEILING)) * unit
    return counter, (
        f"no recommendation on deal {deal.id}: {DEFAULT_COUNTER_UPLIFT:.0%} above the offer of "
        f"{format_minor(deal.fee_minor, deal.currency)}"
    )


def _recommended_counter(deal: DealFacts) -> int | None:
    """negotiation-engine's counter-offer (``insights["negotiation"]``), if it priced this deal's currency."""
    stored = deal.insights.get("negotiation")
    if not isinstance(stored, dict) or stored.get("currency") != deal.currency:
        return None
    value = stored.get("counter_offer_minor")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _terms(deal: DealFacts) -> str:
    fee = format_minor(deal.fee_minor, deal.currency) if deal.fee_minor is not None else "a fee to agree"
    window = ""
    if deal.starts_at and deal.ends_at:
        window = f", {deal.starts_at:%d %b} to {deal.ends_at:%d %b %Y}"
    return f"{fee} for {_scope(deal)}{window}"


def _scope(deal: DealFacts) -> str:
    """The deal's content worded as its contract words it; unparseable deliverables stay vague."""
    content, problems = parse_content(deal.deliverables)
    return "the content we discussed" if problems else describe_content(content)


def _first_name(talent: TalentFacts) -> str:
    return talent.name.split()[0] if talent.name.strip() else talent.handle


def _input_text(context: AgentContext, key: str) -> str | None:
    value = context.input.get(key)
    return value.strip() if isinstance(value, str) and value.strip() else None


# --- where a task runs ----------------------------------------------------------------------

#: Tasks of this kind belong to the inbox-triage queue (written by the inbox processor).
TRIAGE_KIND: Final = "inbox_triage"
#: The queue that runs the tasks of ``TRIAGE_KIND``, and no other kind.
TRIAGE_QUEUE: Final = "inbox-triage"


def queue_for(kind: str, has_steps: bool) -> str:
    """The queue that carries a task on from where it stands."""
    if kind == TRIAGE_KIND:
        return TRIAGE_QUEUE
    return "agent-tasks" if has_steps else "ai-agent"
