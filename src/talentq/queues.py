"""The catalogue: the 21 queues of the platform, each with its payload model and policies.

Both sides use it: the producer (``talentq.client``) refuses what the catalogue refuses
before anything reaches Redis, and the worker validates every payload against the same
model again. Names are spelt exactly as the seed spells them (``contract_finalisation``
keeps its underscore); payload fields are camelCase on the wire and accept snake_case.

This module imports no worker code, so the web API can import it alone.
"""

from __future__ import annotations

import difflib
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)
from pydantic.alias_generators import to_camel

from talentq.domain.addresses import MAX_ADDRESS_CHARS, checked_address
from talentq.errors import InvalidPayloadError

#: The arq queue (a Redis sorted set) every queue lives on until it gets a lane of its own.
#: It is arq's default, so a raw ``ArqRedis.enqueue_job("email-send", {...})`` lands here too.
DEFAULT_ARQ_QUEUE: Final = "arq:queue"

#: Queues that existed in the BullMQ worker and are gone; enqueueing or binding them is refused.
REMOVED: Final[Mapping[str, str]] = {"deal-package": "dealPackage schema removed"}


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """ "; did you mean 'x'?" for the closest known name, or "" when none is close.

    Close is spelt alike, or the same words in another order or case, or with ``_`` for ``-``
    (``send-email`` for ``email-send``).
    """
    names = list(known)

    def words(text: str) -> list[str]:
        return sorted(text.lower().replace("_", "-").split("-"))

    same_words = [candidate for candidate in names if words(candidate) == words(name)]
    close = same_words or difflib.get_close_matches(name, names, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


Id = Annotated[int, Field(gt=0)]
#: One email address, ``a@b.co`` or ``Name <a@b.co>``, checked as the mail transport parses it.
Address = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ADDRESS_CHARS),
    AfterValidator(checked_address),
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Payload(BaseModel):
    """Base of every payload model: camelCase on the wire, snake_case accepted, no unknown fields."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
    )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a job is tried and how long to wait between tries."""

    max_tries: int = 5
    backoff_base: float = 2.0
    backoff_cap: float = 300.0

    def __post_init__(self) -> None:
        if self.max_tries < 1:
            raise ValueError(f"max_tries must be >= 1, got {self.max_tries}")
        if not 0 < self.backoff_base <= self.backoff_cap:
            raise ValueError(
                f"need 0 < backoff_base <= backoff_cap, got {self.backoff_base}, {self.backoff_cap}"
            )

    def delay(self, job_try: int, rand: float | None = None) -> float:
        """Seconds to wait after failed try ``job_try`` (1-based): exponential, capped, with jitter.

        "Equal jitter": half the exponential step is fixed, half random, so consecutive
        delays never shrink while workers that failed together still spread out.
        """
        step = min(self.backoff_cap, self.backoff_base * 2.0 ** (job_try - 1))
        r = random.random() if rand is None else rand
        return step / 2 + step / 2 * r


def field_problems(exc: ValidationError) -> list[tuple[str, str]]:
    """(field, problem) for every error of a payload's validation, ``<payload>`` for the whole."""
    return [
        (".".join(str(part) for part in error["loc"]) or "<payload>", error["msg"])
        for error in exc.errors(include_url=False)
    ]


P = TypeVar("P", bound="Payload")


@dataclass(frozen=True, slots=True)
class QueueSpec(Generic[P]):
    """One catalogue entry: a queue's name and the payload model ``P`` its jobs carry."""

    name: str
    payload: type[P]
    description: str
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = 300.0
    disabled: str | None = None
    arq_queue: str = DEFAULT_ARQ_QUEUE

    def validate(self, data: Any) -> P:
        """Validate a raw payload; raises ``InvalidPayloadError`` naming every bad field."""
        if type(data) is not dict and not isinstance(data, Mapping):  # dict first: the hot path
            raise InvalidPayloadError(
                self.name, [("<payload>", f"must be a JSON object, got {type(data).__name__}")]
            )
        try:
            return self.payload.model_validate(data)
        except ValidationError as exc:
            raise InvalidPayloadError(self.name, field_problems(exc)) from None

    def wire(self, payload: P) -> dict[str, Any]:
        """The JSON object that goes into Redis: camelCase, only the fields that were set."""
        return payload.model_dump(mode="json", exclude_unset=True)


# --- payload models, in the seed's order --------------------------------------------------


class GmailIngest(Payload):
    user_id: Id
    full_sync: bool = False


class SocialRefresh(Payload):
    talent_id: Id


class EmailSend(Payload):
    to: Address
    subject: Text
    body: Text
    html: str | None = None
    reply_to: Address | None = None
    cc: list[Address] = Field(default_factory=list, max_length=10)


class TaskRef(Payload):
    task_id: Id


class MessageRef(Payload):
    message_id: Id


class DealDraftRef(Payload):
    # The seed's wire name stays; it is the id of a deal in stage "draft".
    deal_draft_id: Id


class TalentRef(Payload):
    talent_id: Id


class SessionRef(Payload):
    session_id: Id


class ContractRef(Payload):
    contract_id: Id


class DeliverableRef(Payload):
    deliverable_id: Id


class ContractFinalisation(Payload):
    user_id: Id
    # Checked field by field by the processor, which names each missing term.
    terms: dict[str, Any] = Field(min_length=1)


class ActionRef(Payload):
    action_id: Id


class BrandCrm(Payload):
    user_id: Id
    brand_id: Id


class StrategyEngine(Payload):
    user_id: Id
    brand_name: Text


class BrandPrediction(Payload):
    """A strategy-engine prediction as creator-fit receives it; extra detail is kept."""

    model_config = ConfigDict(extra="allow")
    brand_name: Text


class CreatorFit(Payload):
    user_id: Id
    brand_prediction: BrandPrediction


class CreatorBundle(Payload):
    brand_id: Id


#: The most content deliverable-review takes: far past any platform's longest post (63,206
#: characters), low enough that one job cannot carry 100 MB into Redis and the database.
MAX_REVIEW_CONTENT_CHARS: Final = 2_000_000


class DeliverableReview(Payload):
    """``submittedAt`` (optional, timezone-aware): when the content was submitted, set by the producer.

    deliverable-review orders submissions by it: an older one never overwrites a newer review. A
    replay from the dead letters reuses the payload, so it keeps the time; without it the job's
    enqueue time stands in, which arq keeps across retries but a replay (a new job) does not.
    """

    deliverable_id: Id
    content: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_REVIEW_CONTENT_CHARS)
    ]
    submitted_at: AwareDatetime | None = None


_AI = RetryPolicy(max_tries=4, backoff_base=10.0, backoff_cap=600.0)
_MAIL = RetryPolicy(max_tries=8, backoff_base=5.0, backoff_cap=1800.0)

GMAIL_INGEST: Final = QueueSpec(
    "gmail-ingest", GmailIngest, "pull new mail for a user's mailbox", _MAIL, timeout=600
)
SOCIAL_REFRESH: Final = QueueSpec(
    "social-refresh",
    SocialRefresh,
    "refresh a talent's social stats",
    RetryPolicy(max_tries=1),
    disabled="the social feature is disabled: its models are not in active use",
)
EMAIL_SEND: Final = QueueSpec(
    "email-send", EmailSend, "write the outbox row and send it over SMTP", _MAIL, timeout=120
)
INBOX_TRIAGE: Final = QueueSpec("inbox-triage", TaskRef, "classify a stored message", _AI, timeout=120)
DEAL_EXTRACTION: Final = QueueSpec(
    "deal-extraction", MessageRef, "create a draft deal from an offer", _AI, timeout=120
)
NEGOTIATION_ENGINE: Final = QueueSpec(
    "negotiation-engine", DealDraftRef, "negotiation insights for a draft deal", _AI, timeout=120
)
CAMPAIGN_BUILDER: Final = QueueSpec(
    "campaign-builder", DealDraftRef, "campaign plan for a draft deal", _AI, timeout=120
)
AI_AGENT: Final = QueueSpec("ai-agent", TaskRef, "decide the steps of an AI agent task", _AI, timeout=180)
AI_OUTREACH: Final = QueueSpec("ai-outreach", TalentRef, "draft outreach for a talent", _AI, timeout=180)
AI_NEGOTIATION: Final = QueueSpec(
    "ai-negotiation", SessionRef, "next step of a negotiation session", _AI, timeout=180
)
AI_CONTRACT: Final = QueueSpec("ai-contract", ContractRef, "draft or review a contract", _AI, timeout=180)
DELIVERABLE_REMINDERS: Final = QueueSpec(
    "deliverable-reminders", DeliverableRef, "remind a talent of a due deliverable"
)
AGENT_TASKS: Final = QueueSpec("agent-tasks", TaskRef, "execute the steps an agent task decided", timeout=300)
CONTRACT_FINALISATION: Final = QueueSpec(
    "contract_finalisation", ContractFinalisation, "finalise a contract from agreed terms"
)
OUTREACH: Final = QueueSpec("outreach", ActionRef, "put one due outreach action before its approver")
BRAND_CRM: Final = QueueSpec("brand-crm", BrandCrm, "refresh a brand's CRM record for a user")
STRATEGY_ENGINE: Final = QueueSpec(
    "strategy-engine", StrategyEngine, "predict a brand's strategy", _AI, timeout=180
)
CREATOR_FIT: Final = QueueSpec(
    "creator-fit", CreatorFit, "score talent against a brand prediction", _AI, timeout=180
)
CREATOR_BUNDLE: Final = QueueSpec(
    "creator-bundle", CreatorBundle, "propose a bundle of creators for a brand", _AI, timeout=180
)
DELIVERABLE_REVIEW: Final = QueueSpec(
    "deliverable-review", DeliverableReview, "review submitted content", _AI, timeout=120
)
INBOX: Final = QueueSpec("inbox", MessageRef, "route a stored message")

_SPECS: Final[tuple[QueueSpec[Any], ...]] = (
    GMAIL_INGEST,
    SOCIAL_REFRESH,
    EMAIL_SEND,
    INBOX_TRIAGE,
    DEAL_EXTRACTION,
    NEGOTIATION_ENGINE,
    CAMPAIGN_BUILDER,
    AI_AGENT,
    AI_OUTREACH,
    AI_NEGOTIATION,
    AI_CONTRACT,
    DELIVERABLE_REMINDERS,
    AGENT_TASKS,
    CONTRACT_FINALISATION,
    OUTREACH,
    BRAND_CRM,
    STRATEGY_ENGINE,
    CREATOR_FIT,
    CREATOR_BUNDLE,
    DELIVERABLE_REVIEW,
    INBOX,
)

CATALOGUE: Final[Mapping[str, QueueSpec[Any]]] = {spec.name: spec for spec in _SPECS}
if len(CATALOGUE) != len(_SPECS):  # pragma: no cover - guards edits to the tuple above
    raise RuntimeError("queues.py: a queue name appears twice in the catalogue")
if set(CATALOGUE) & set(REMOVED):  # pragma: no cover
    raise RuntimeError("queues.py: a removed queue is still in the catalogue")
