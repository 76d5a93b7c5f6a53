"""Outreach rules: pitches to the best fits, strategy forecasts, creator fit and bundles."""

from __future__ import annotations

from datetime import date

from talentq.domain.outreach import (
    MAX_BUNDLE,
    BundleCandidate,
    DealFact,
    FitBrand,
    FitTalent,
    OutreachBrand,
    OutreachTalent,
    audience_scale,
    build_bundle,
    draft_outreach,
    estimated_fee,
    predict_strategy,
    score_creator_fit,
)

AVA = OutreachTalent(
    id=1,
    name="Ava Chen",
    handle="avacooks",
    niches=["food", "lifestyle"],
    audience_size=820_000,
    manager_name="Maya Okafor",
)


TODAY = date(2026, 11, 28)


def test_drafts_go_to_the_best_fits_first_and_never_below_the_floor() -> None:
    """A past partner and a food brand are pitched, best first; an unrelated brand is not; the limit holds."""
    brands = [
        OutreachBrand(10, "Gadgets", "tech"),
        OutreachBrand(11, "Oatly", "food", typical_audience=430_000),
        OutreachBrand(12, "Sephora", "beauty", deals_with_talent=1, wins_with_talent=1),
        OutreachBrand(13, "Airbnb", "travel"),
    ]

    drafts = draft_outreach(AVA, brands, limit=3)

    # Oatly: 0.5 * 1 + 0.2 * (430k / 820k); Sephora: 0.3 * 1 + 0.2 * 0.5; Airbnb: 0.5 * 0.5 + 0.1
    assert [(d.brand_id, d.score) for d in drafts] == [(11, 0.605), (12, 0.4), (13, 0.35)]
    assert drafts[0].reasons == [
        "fit 0.60",
        "niche 'food' is the brand's category",
        "audience 820,000 vs the brand's typical creator 430,000",
    ]
    assert "After our last collaboration with Sephora, Ava would love to work with you again." in (
        drafts[1].message
    )
    assert (
        "Ava's food, lifestyle audience overlaps closely with Airbnb's travel customers." in drafts[2].message
    )
    assert [d.brand_id for d in draft_outreach(AVA, brands, limit=1)] == [11]
    assert draft_outreach(AVA, [brands[0]], limit=5) == []
    assert draft_outreach(AVA, brands, limit=0) == []


def deal(fee: int | None, currency: str, month: int, year: int = 2025, brand: str = "HelloFresh") -> DealFact:
    return DealFact(brand, "food", "delivered", fee, currency, date(year, month, 10))


def test_strategy_takes_the_median_of_one_currency_and_the_usual_month() -> None:
    """Three EUR fees and one USD fee: the EUR median; May twice out of four: next May."""
    history = [
        deal(300_000, "EUR", 5),
        deal(500_000, "EUR", 5, 2024),
        deal(900_000, "EUR", 9),
        deal(10**9, "USD", 1),
    ]

    forecast = predict_strategy("HelloFresh", "food", history, [], today=TODAY)

    assert (forecast.predicted_spend_minor, forecast.currency) == (500_000, "EUR")
    assert (forecast.category, forecast.timing, forecast.confidence) == ("food", "May 2027", 0.9)
    assert forecast.reasons == [
        "median of 3 EUR fee(s) in HelloFresh's own deals: EUR 5,000.00 "
        "(1 deal(s) in other currencies not mixed in)",
        "2 of 4 deal(s) started in May",
        "category 'food'",
    ]


def test_strategy_falls_back_to_similar_brands_then_to_the_default() -> None:
    """No own deals: similar brands at lower confidence; none at all: the stated default at 0.1."""
    similar = [deal(200_000, "GBP", 12, brand="Oatly"), deal(400_000, "GBP", 1, brand="Oatly")]

    peers = predict_strategy("Huel", "food", [], similar, today=TODAY)
    blind = predict_strategy("Nobody", None, [], [], today=TODAY)

    # GBP 2,000 and 4,000: the lower middle; December and January tie, December comes round first
    assert (peers.predicted_spend_minor, peers.currency, peers.confidence) == (200_000, "GBP", 0.3)
    assert peers.timing == "December 2026"
    assert "deals with other food brands" in peers.reasons[0]
    assert (blind.predicted_spend_minor, blind.currency, blind.confidence, blind.timing) == (
        300_000,
        "USD",
        0.1,
        None,
    )


def test_a_currency_tie_goes_to_the_latest_deal() -> None:
    """One USD and one EUR deal: the currency of the more recent one wins."""
    forecast = predict_strategy(
        "X", "food", [deal(100_000, "USD", 3), deal(200_000, "EUR", 8)], [], today=TODAY
    )
    assert (forecast.predicted_spend_minor, forecast.currency) == (200_000, "EUR")


def test_creator_fit_follows_its_formula() -> None:
    """0.4 niche + 0.2 audience + 0.25 history + 0.15 availability, with a reason for each."""
    brand = FitBrand("Glossier", "beauty", 800_000, "USD")
    talents = [
        FitTalent(1, "Priya", ["beauty", "skincare"], 640_000, brand_deals=1, brand_wins=1, due_soon=1),
        FitTalent(2, "Elena", ["fashion"], 990_000, category_deals=2, due_soon=5),
        FitTalent(3, "Jonah", ["gaming"], 5_000),
    ]

    priya, elena, jonah = score_creator_fit(brand, talents)

    assert priya.score == round(0.4 + 0.2 * audience_scale(640_000) + 0.25 + 0.15 * 0.8, 3)
    assert elena.score == round(0.4 * 0.5 + 0.2 * audience_scale(990_000) + 0.25 * 0.4 + 0.15 * 0.2, 3)
    assert jonah.score == 0.15
    assert elena.reasons == [
        "niche 'fashion' is related to the brand's category 'beauty' (0.5)",
        "audience 990,000 (0.74)",
        "2 deal(s) with beauty brands (0.4)",
        "5 deliverable(s) due in the next 21 days (0.2)",
    ]


def candidate(
    talent_id: int, niches: list[str], platforms: list[str], fee: int, fit: float
) -> BundleCandidate:
    return BundleCandidate(talent_id, f"T{talent_id}", niches, platforms, 500_000, fee, "test", fit)


def test_a_bundle_is_complementary_within_budget_and_capped() -> None:
    """Best fits first; a creator over the budget left or adding nothing new is skipped; at most four."""
    candidates = [
        candidate(1, ["beauty"], ["tiktok"], 400_000, 0.9),
        candidate(2, ["beauty"], ["tiktok"], 100_000, 0.85),  # nothing new
        candidate(3, ["fashion"], ["youtube"], 700_000, 0.8),  # over the 600,000 left
        candidate(4, ["skincare"], ["instagram"], 200_000, 0.7),
        candidate(5, ["food"], ["tiktok"], 10_000, 0.1),  # below MIN_BUNDLE_FIT
    ]

    bundle = build_bundle("Glossier", "beauty", candidates, budget_minor=1_000_000, currency="USD")

    assert (bundle.talent_ids, bundle.total_minor) == ([1, 4], 600_000)
    assert bundle.rationale == [
        "budget USD 10,000.00 for Glossier",
        "T1: fit 0.90, USD 4,000.00 (test), brings beauty, tiktok",
        "T2: adds no niche or platform the bundle lacks",
        "T3: USD 7,000.00 is over the USD 6,000.00 left",
        "T4: fit 0.70, USD 2,000.00 (test), brings instagram, skincare",
        "total USD 6,000.00 of USD 10,000.00",
    ]
    many = [candidate(n, [f"niche{n}"], [], 1, 0.9) for n in range(10)]
    assert len(build_bundle("B", None, many, budget_minor=100, currency="USD").talent_ids) == MAX_BUNDLE
    nobody = build_bundle("B", "beauty", candidates[:1], budget_minor=1, currency="USD")
    assert (nobody.talent_ids, nobody.rationale[-1]) == ([], "no creator fits the brand within the budget")


def test_a_fee_is_estimated_from_the_audience_in_minor_units() -> None:
    """10 per 1,000 followers: 820,000 followers cost USD 8,200.00, or KWD 8,200.000."""
    assert (estimated_fee(820_000, "USD"), estimated_fee(820_000, "KWD")) == (820_000, 8_200_000)
