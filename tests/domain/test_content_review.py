"""Content review rules: disclosure, handles, links, claims and length, read as a person would."""

from __future__ import annotations

import pytest

from talentq.domain.content_review import DISCLOSURE_VISIBLE_CHARS, requirements, review

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("content", "rules"),
    [
        ("#ad with @glossier", set()),
        ("#AD with @Glossier.", set()),
        ("#adventure with @glossier", {"disclosure"}),
        ("#ad with @glossierx and @glossier.shop", {"brand_handle"}),
        ("paid   partnership with\n@glossier", set()),
        ("#ad @glossier: this serum heals everything", {"claim_wording"}),
        ("#ad @glossier: clinically\nproven to glow", set()),  # the contract approves that claim
        ("#ad @glossier: miracles happen", set()),  # "miracles" is not the word "miracle"
    ],
)
def test_rules_read_content_as_a_person_would(content: str, rules: set[str]) -> None:
    """Case, line breaks and word edges: what counts as a disclosure, a tag and a claim."""
    needs = requirements(
        platform="instagram_reel",
        terms={"approvedClaims": ["Clinically proven"]},
        contract_label="contract 1 (signed)",
        brand_handle="glossier",
    )
    assert {f.rule for f in review(content, needs).findings} == rules


@pytest.mark.parametrize(
    ("content", "findings"),
    [
        ("sweet treats for the weekend", []),
        ("she treats her team to brunch", []),
        ("a little miracle in a bottle", [("claim_wording", "warning", "miracle")]),
        ("time heals, and so does sleep", [("claim_wording", "warning", "heals")]),
        ("this cures acne overnight", [("forbidden_claim", "error", "cures acne")]),
        ("it treats my eczema", [("forbidden_claim", "error", "treats my eczema")]),
        ("the cure for hair loss", [("forbidden_claim", "error", "the cure for hair loss")]),
        ("a miracle cure", [("forbidden_claim", "error", "miracle cure")]),
        ("Guaranteed\nresults!", [("forbidden_claim", "error", "guaranteed results")]),
        ("lose 5 kg in a week", [("forbidden_claim", "error", "lose 5 kg in")]),
        ("I lose 10lbs in a month", [("forbidden_claim", "error", "lose 10lbs in")]),
        ("whitening strips", [("forbidden_claim", "error", "whitening")]),  # the contract's own
        (
            "it heals acne, heals!",
            [("forbidden_claim", "error", "heals acne"), ("claim_wording", "warning", "heals")],
        ),
    ],
)
def test_claims_are_phrases_and_single_words_only_warn(
    content: str, findings: list[tuple[str, str, str]]
) -> None:
    """Built-in claims block as phrases; a lone "treats" is nothing, "heals" or "miracle" only warns."""
    needs = requirements(
        platform="instagram",
        terms={"forbiddenClaims": ["Whitening"]},
        contract_label="contract 1 (signed)",
        brand_handle=None,
    )
    outcome = review(f"#ad {content}", needs)
    assert [(f.rule, f.severity) for f in outcome.findings] == [(rule, sev) for rule, sev, _ in findings]
    for finding, (_, _, quoted) in zip(outcome.findings, findings, strict=True):
        assert f'"{quoted}"' in finding.detail
    assert outcome.verdict == (
        "changes_requested" if any(s == "error" for _, s, _ in findings) else "approved"
    )


def test_a_contract_can_approve_a_built_in_claim_and_word() -> None:
    """approvedClaims lifts the exact phrase matched and a claim word; other claims still block."""
    needs = requirements(
        platform="instagram",
        terms={"approvedClaims": ["clinically proven", "Miracle"]},
        contract_label="contract 2 (signed)",
        brand_handle=None,
    )
    outcome = review("#ad clinically proven, a small miracle, and it cures acne", needs)
    assert [(f.rule, f.detail[:25]) for f in outcome.findings] == [
        ("forbidden_claim", 'the claim "cures acne" is')
    ]


def test_a_late_disclosure_is_a_warning_and_bad_terms_are_reported() -> None:
    """A disclosure past the cut warns without blocking; a malformed term is named, not fatal."""
    needs = requirements(
        platform="tiktok",
        terms={"requiredLinks": 42, "requiredHandle": "@glossier"},
        contract_label="contract 3 (signed)",
        brand_handle=None,
    )
    outcome = review("@glossier " + "x" * DISCLOSURE_VISIBLE_CHARS + " #sponsored", needs)
    assert outcome.verdict == "approved"
    assert [(f.rule, f.severity) for f in outcome.findings] == [
        ("terms", "warning"),
        ("disclosure", "warning"),
    ]
    assert "contract 3 (signed) term 'requiredLinks'" in outcome.findings[0].detail


def test_unknown_platforms_are_held_to_the_longest_post() -> None:
    """A platform without a rule: a warning naming it, and the longest platform limit still applies."""
    needs = requirements(platform="blog", terms=None, contract_label=None, brand_handle=None)
    outcome = review("#ad " + "word " * 20_000, needs)
    assert outcome.verdict == "changes_requested"
    assert [(f.rule, f.severity) for f in outcome.findings] == [("length", "warning"), ("length", "error")]
    assert "platform 'blog' has no length rule" in outcome.findings[0].detail
