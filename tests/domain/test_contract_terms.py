"""Contract terms: the review rules a contract sets, read in either spelling, refused by name if malformed."""

from __future__ import annotations

from typing import Any

import pytest

from talentq.domain.content_review import MAX_CLAIM_CHARS, MAX_RULE_ENTRIES
from talentq.domain.contracts import read_terms, stored_terms


def agreed(contract_id: int, **changes: Any) -> dict[str, Any]:
    """Commercial terms as contract_finalisation receives them (camelCase)."""
    return {
        "contractId": contract_id,
        "feeMinor": 857_001,
        "currency": "USD",
        "deliverables": [{"platform": "tiktok", "count": 2}, {"platform": "instagram_story", "count": 1}],
        "startsOn": "2027-04-01",
        "endsOn": "2027-04-15",
        **changes,
    }


pytestmark = pytest.mark.integration


def test_review_rules_are_read_in_either_spelling_and_stored_snake_case() -> None:
    """camelCase or snake_case in, normalised values out; stored snake_case, rules left unset stored not."""
    values, problems = read_terms(
        {
            "required_handle": " @hellofresh_uk ",
            "requiredLinks": ["https://www.hellofresh.co.uk/ava?c=AVA20", "hellofresh.co.uk/ava"],
            "approvedClaims": ["Risk-free", "risk-FREE", "  doctor   recommended "],
            "forbidden_claims": [],
        }
    )
    assert problems == []
    assert values == {
        "requiredHandle": "@hellofresh_uk",
        "requiredLinks": ("https://www.hellofresh.co.uk/ava?c=AVA20", "hellofresh.co.uk/ava"),
        "approvedClaims": ("Risk-free", "doctor recommended"),  # one "risk-free", whatever its case
        "forbiddenClaims": (),
    }
    commercial, _ = read_terms(agreed(7))
    stored = stored_terms({**commercial, **values})
    assert {k: v for k, v in stored.items() if k.startswith(("required", "approved", "forbidden"))} == {
        "required_handle": "@hellofresh_uk",
        "required_links": ["https://www.hellofresh.co.uk/ava?c=AVA20", "hellofresh.co.uk/ava"],
        "approved_claims": ["Risk-free", "doctor recommended"],
    }
    # A handle given without its "@", or none at all (null: the brand's own handle applies)
    assert read_terms({"requiredHandle": "glossier.uk"})[0] == {"requiredHandle": "@glossier.uk"}
    assert read_terms({"requiredHandle": None}) == ({"requiredHandle": None}, [])
    assert "required_handle" not in stored_terms({**commercial, "requiredHandle": None})


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (
            {"requiredHandle": 42},
            "terms.requiredHandle must be a handle like '@glossier' or 'glossier' (letters, digits, '.', "
            "'_' or '-', at most 30), or null for none, got 42",
        ),
        (
            {"required_handle": "@hello fresh"},
            "terms.required_handle must be a handle like '@glossier' or 'glossier' (letters, digits, '.', "
            "'_' or '-', at most 30), or null for none, got '@hello fresh'",
        ),
        (
            {"requiredHandle": ["@hellofresh"]},
            "terms.requiredHandle must be a handle like '@glossier' or 'glossier' (letters, digits, '.', "
            "'_' or '-', at most 30), or null for none, got ['@hellofresh']",
        ),
        (
            {"requiredLinks": "hellofresh.co.uk/ava"},
            "terms.requiredLinks must be a list of URLs or domains (like 'https://glossier.com/you'), "
            "got 'hellofresh.co.uk/ava'",
        ),
        (
            {"requiredLinks": ["hellofresh.co.uk/ava", "the link in bio", 7, "https://"]},
            "terms.requiredLinks[1] 'the link in bio' is not a URL or a domain like 'glossier.com/you'; "
            "terms.requiredLinks[2] must be a non-empty string, got 7; "
            "terms.requiredLinks[3] 'https://' is not a URL or a domain like 'glossier.com/you'",
        ),
        ({"approvedClaims": "risk-free"}, "terms.approvedClaims must be a list of claims, got 'risk-free'"),
        (
            {"approved_claims": {"claim": "risk-free"}},
            "terms.approved_claims must be a list of claims, got {'claim': 'risk-free'}",
        ),
        (
            {"forbiddenClaims": ["cheapest meal kit", "  ", None]},
            "terms.forbiddenClaims[1] must be a non-empty string, got '  '; "
            "terms.forbiddenClaims[2] must be a non-empty string, got None",
        ),
        (
            {"forbiddenClaims": ["x" * (MAX_CLAIM_CHARS + 1)]},
            f"terms.forbiddenClaims[0] is {MAX_CLAIM_CHARS + 1} characters; "
            f"a claim is at most {MAX_CLAIM_CHARS}",
        ),
        (
            {"forbiddenClaims": [f"claim {n}" for n in range(MAX_RULE_ENTRIES + 1)]},
            f"terms.forbiddenClaims lists {MAX_RULE_ENTRIES + 1} entries; at most {MAX_RULE_ENTRIES}",
        ),
    ],
)
def test_a_review_rule_of_the_wrong_shape_is_named(raw: dict[str, Any], problem: str) -> None:
    """The term (and the entry) as it was spelt, what it must be, and what it was."""
    values, problems = read_terms(raw)
    assert (values, problems) == ({}, [problem])
