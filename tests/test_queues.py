"""The catalogue: 21 queues as the seed names them, payload models, retry policies."""

from __future__ import annotations

import pytest

from talentq.errors import InvalidPayloadError
from talentq.queues import CATALOGUE, REMOVED, RetryPolicy

SEED_QUEUES = [
    "gmail-ingest", "social-refresh", "email-send", "inbox-triage", "deal-extraction",
    "negotiation-engine", "campaign-builder", "ai-agent", "ai-outreach", "ai-negotiation",
    "ai-contract", "deliverable-reminders", "agent-tasks", "contract_finalisation", "outreach",
    "brand-crm", "strategy-engine", "creator-fit", "creator-bundle", "deliverable-review", "inbox",
]  # fmt: skip

REQUIRED = {
    "gmail-ingest": {"userId"},
    "email-send": {"to", "subject", "body"},
    "inbox-triage": {"taskId"},
    "deal-extraction": {"messageId"},
    "negotiation-engine": {"dealDraftId"},
    "campaign-builder": {"dealDraftId"},
    "ai-agent": {"taskId"},
    "ai-outreach": {"talentId"},
    "ai-negotiation": {"sessionId"},
    "ai-contract": {"contractId"},
    "deliverable-reminders": {"deliverableId"},
    "agent-tasks": {"taskId"},
    "contract_finalisation": {"userId", "terms"},
    "outreach": {"actionId"},
    "brand-crm": {"userId", "brandId"},
    "strategy-engine": {"userId", "brandName"},
    "creator-fit": {"userId", "brandPrediction"},
    "creator-bundle": {"brandId"},
    "deliverable-review": {"deliverableId", "content"},
    "inbox": {"messageId"},
    "social-refresh": {"talentId"},
}


def test_the_21_seed_queues_in_order() -> None:
    """The catalogue holds exactly the seed's 21 queue names, spelt as the seed spells them."""
    assert list(CATALOGUE) == SEED_QUEUES
    assert REMOVED == {"deal-package": "dealPackage schema removed"}


@pytest.mark.parametrize(("queue", "required"), sorted(REQUIRED.items()))
def test_required_fields_are_named_when_missing(queue: str, required: set[str]) -> None:
    """An empty payload fails naming exactly the queue's required fields, camelCase."""
    with pytest.raises(InvalidPayloadError) as caught:
        CATALOGUE[queue].validate({})
    assert set(caught.value.fields) == required
    assert queue in str(caught.value)


def test_camel_case_on_the_wire_and_snake_case_accepted() -> None:
    """Both spellings validate; the wire form is camelCase with only the fields that were set."""
    spec = CATALOGUE["brand-crm"]
    assert spec.wire(spec.validate({"user_id": 1, "brand_id": "2"})) == {"userId": 1, "brandId": 2}
    assert spec.wire(spec.validate({"userId": 1, "brandId": 2})) == {"userId": 1, "brandId": 2}


def test_bad_values_and_unknown_fields_are_refused() -> None:
    """Wrong types, non-positive ids, blank text and unknown fields are named."""
    with pytest.raises(InvalidPayloadError) as caught:
        CATALOGUE["strategy-engine"].validate({"userId": 0, "brandName": "  ", "extra": 1})
    assert set(caught.value.fields) == {"userId", "brandName", "extra"}
    with pytest.raises(InvalidPayloadError, match="must be a JSON object"):
        CATALOGUE["inbox"].validate([1, 2])


def test_nested_prediction_keeps_detail() -> None:
    """creator-fit's brandPrediction needs brandName and keeps the prediction's other fields."""
    payload = CATALOGUE["creator-fit"].validate(
        {"userId": 3, "brandPrediction": {"brandName": "Glossier", "spend": 9}}
    )
    assert CATALOGUE["creator-fit"].wire(payload) == {
        "userId": 3,
        "brandPrediction": {"brandName": "Glossier", "spend": 9},
    }


def test_social_refresh_is_disabled_with_reason() -> None:
    """Only social-refresh is disabled, and it says why."""
    disabled = {name: spec.disabled for name, spec in CATALOGUE.items() if spec.disabled}
    assert list(disabled) == ["social-refresh"]
    assert "disabled" in (disabled["social-refresh"] or "")


def test_backoff_grows_is_capped_and_jittered() -> None:
    """Delays double per try within [step/2, step], never exceed the cap."""
    policy = RetryPolicy(max_tries=10, backoff_base=2.0, backoff_cap=30.0)
    assert policy.delay(1, rand=0.0) == 1.0
    assert policy.delay(1, rand=1.0) == 2.0
    assert policy.delay(3, rand=0.0) == 4.0
    assert policy.delay(9, rand=1.0) == 30.0
    lows = [policy.delay(n, rand=0.0) for n in range(1, 6)]
    highs = [policy.delay(n, rand=0.999) for n in range(1, 6)]
    assert all(high < next_low for high, next_low in zip(highs[:3], lows[1:4], strict=True))


def test_policy_rejects_nonsense() -> None:
    """A policy with no tries or an inverted backoff fails when defined."""
    with pytest.raises(ValueError, match="max_tries"):
        RetryPolicy(max_tries=0)
    with pytest.raises(ValueError, match="backoff_base"):
        RetryPolicy(backoff_base=10, backoff_cap=1)
