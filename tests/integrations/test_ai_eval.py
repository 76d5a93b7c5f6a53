"""``talentq ai eval``: the labelled set read (or refused, naming the line and field), the provider
measured, and the rules engine held to floors on the corpus's test part.

The floors are what the engine measures on the test part (``talentq ai eval tests/data/corpus
--part test``), rounded down: a change that makes it worse on mail it was not developed on fails
here. The issue's targets, where the engine is not there yet, are named beside them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from talentq.cli import app
from talentq.domain.vocabulary import CATEGORIES
from talentq.errors import LabelledSetError
from talentq.integrations.ai.evaluate import evaluate, in_test_part, read_labelled, render, same_brand
from talentq.integrations.ai.rules import RulesProvider

CORPUS = Path(__file__).parents[1] / "data" / "corpus"

#: Floors on the test part (703 messages, 318 offers): what the engine measures there, to the percent
#: below. The issue's targets are beside them. The part grew with each batch a new writer added (loft
#: and dock, then quay, barn, reef and kiln): each was measured whole before it joined (the README has
#: the figures), then its development part was developed and trained on. Spam recall met its target
#: when the classifier was trained on more of it (on the 511 messages of before: 82 -> 85 of 87).
TRIAGE_FLOOR = 0.95  # measured 95.7 %, target 95 %
SPAM_RECALL_FLOOR = 0.95  # measured 96.0 % (121 of 126), target 95 %
FEE_FLOOR = 0.92  # measured 92.1 %, target 90 %
DELIVERABLES_FLOOR = 0.91  # measured 91.2 %, target 85 %
BRAND_FLOOR = 0.93  # named (short or long form): measured 93.4 %, target 95 %
BRAND_EXACT_FORM_FLOOR = 0.86  # in the label's own form: measured 86.8 %


def test_the_corpus_is_split_once_by_a_fixed_rule() -> None:
    everything = read_labelled(CORPUS)
    dev, test = read_labelled(CORPUS, "dev"), read_labelled(CORPUS, "test")
    assert len(everything) >= 400
    assert {m.id for m in dev} | {m.id for m in test} == {m.id for m in everything}
    assert not {m.id for m in dev} & {m.id for m in test}
    assert all(in_test_part(m.id) for m in test)
    assert {m.lang for m in everything} >= {"en", "de", "fr", "es", "it"}
    assert {m.category for m in test} == set(CATEGORIES)


async def test_the_rules_engine_holds_its_floors_on_the_test_part() -> None:
    test_part = await evaluate(RulesProvider(), read_labelled(CORPUS, "test"), name="rules engine")
    print("\n" + render(test_part))
    assert test_part.offers_marked_spam == 0  # the target: no deal offer is answered spam
    assert test_part.accuracy >= TRIAGE_FLOOR
    assert test_part.spam_recall is not None
    assert test_part.spam_recall >= SPAM_RECALL_FLOOR
    assert test_part.fee_exact is not None
    assert test_part.fee_exact >= FEE_FLOOR
    assert test_part.deliverables_exact is not None
    assert test_part.deliverables_exact >= DELIVERABLES_FLOOR
    assert test_part.brand_named is not None
    assert test_part.brand_named >= BRAND_FLOOR
    assert test_part.brand_exact is not None
    assert test_part.brand_exact >= BRAND_EXACT_FORM_FLOOR


@pytest.mark.parametrize(
    ("read", "labelled"),
    [
        ("Griffig", "Griffig Boulder Equipment"),
        ("Nuvo Drinks", "nuvo"),
        ("Jardin de Colette", "Le Jardin de Colette"),
        ("HaldenOutdoor", "Halden Outdoor"),
        ("Radwerk GmbH", "radwerk"),
        ("Crème Brûlée Co.", "creme brulee"),
    ],
)
def test_a_brand_in_its_short_or_long_form_is_named_right(read: str, labelled: str) -> None:
    assert same_brand(read, labelled)
    assert same_brand(labelled, read)


@pytest.mark.parametrize(
    ("read", "labelled"),
    [
        ("Glowing", "Glow"),  # words, not letters
        ("Cw Drinks", "Coldwire"),
        ("Side Hustle Hour", "Pennywise"),
        ("Boulder Equipment", "Griffig Boulder Equipment"),  # the brand's own word leads
        ("The", "The Ordinary"),
        (None, "Glow"),
        ("Glow", None),
    ],
)
def test_another_name_is_not_the_brand(read: str | None, labelled: str | None) -> None:
    assert not same_brand(read, labelled)


def _line(**fields: Any) -> str:
    message = {
        "id": "t-0001",
        "lang": "en",
        "category": "deal_offer",
        "sender": "Jo <jo@glow.com>",
        "subject": "Glow x Ava",
        "body": "We would love Ava to make 2 TikToks for Glow. Our budget is $3,000.",
        "html": False,
        "patterns": [],
        "offer": {
            "brand": "Glow",
            "talent": "Ava",
            "fee": {"kind": "exact", "minor": 300_000, "currency": "USD"},
            "deliverables": [{"platform": "tiktok", "count": 2, "optional": False}],
        },
    }
    return json.dumps({**message, **fields})


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("{not json", r"set\.jsonl:2: not JSON"),
        ("[1, 2]", r"set\.jsonl:2: expected a JSON object, got list"),
        (_line(category="offer"), r"set\.jsonl:2 \(t-0001\): category 'offer' is not one of deal_offer, "),
        (_line(subject=None), r"set\.jsonl:2 \(t-0001\): field 'subject' must be a string, got None"),
        (_line(offer=None), r"set\.jsonl:2 \(t-0001\): a deal_offer needs an 'offer' object"),
        (
            _line(category="invoice"),
            r"set\.jsonl:2 \(t-0001\): 'offer' must be null for category 'invoice'",
        ),
        (
            _line(offer={"fee": {"kind": "range", "min_minor": 1}, "deliverables": []}),
            r"offer\.fee of kind 'range' needs 'max_minor'",
        ),
        (
            _line(offer={"fee": {"kind": "unstated"}, "deliverables": [{"platform": "tweet", "count": 1}]}),
            r"offer\.deliverables\[0\]\.platform must be one of tiktok, ",
        ),
    ],
)
def test_a_bad_line_is_refused_naming_its_file_line_and_field(tmp_path: Path, line: str, error: str) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(_line(id="t-0000") + "\n" + line + "\n")
    with pytest.raises(LabelledSetError, match=error):
        read_labelled(path)


def test_an_id_twice_or_no_set_at_all_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(_line() + "\n" + _line() + "\n")
    with pytest.raises(LabelledSetError, match=r"set\.jsonl:2: id 't-0001' appears twice"):
        read_labelled(path)
    with pytest.raises(LabelledSetError, match="no labelled set there"):
        read_labelled(tmp_path / "missing.jsonl")


def test_the_command_prints_the_report_or_json(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    spam = _line(
        id="t-0002",
        category="spam",
        sender="PayPal <service@paypa1-secure.com>",
        subject="Your account is on hold",
        body="Confirm your bank details within 24 hours or your payouts stay frozen: http://paypa1-secure.com",
        offer=None,
    )
    path.write_text(_line() + "\n" + spam + "\n")
    runner = CliRunner()

    shown = runner.invoke(app, ["ai", "eval", str(path), "--misses", "5"], env={"AI_PROVIDER": "rules"})
    assert shown.exit_code == 0, shown.output
    assert "rules engine" in shown.output
    assert "triage accuracy" in shown.output
    assert "confusion (rows: labelled, columns: answered)" in shown.output

    as_json = runner.invoke(app, ["ai", "eval", str(path), "--json"], env={"AI_PROVIDER": "rules"})
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.output)
    assert (report["messages"], report["offers"]) == (2, 1)
    assert report["confusion"]["deal_offer"]["deal_offer"] + report["confusion"]["deal_offer"]["spam"] <= 1
    assert set(report["categories"]) == set(CATEGORIES)

    refused = runner.invoke(app, ["ai", "eval", str(path), "--part", "train"])
    assert refused.exit_code != 0
    assert "'train' is not one of all, dev, test" in refused.output


def test_a_bad_file_ends_the_command_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text("{oops\n")
    result = CliRunner().invoke(app, ["ai", "eval", str(path)])
    assert result.exit_code == 1
    assert "set.jsonl:1: not JSON" in result.output
    assert "Traceback" not in result.output


async def test_a_model_is_measured_the_same_way(tmp_path: Path) -> None:
    """An OpenAI-compatible model answering every question is scored like the rules engine."""
    from talentq.integrations.ai.openai import OpenAICompatibleProvider
    from talentq.settings import Settings

    def model(request: httpx.Request) -> httpx.Response:
        asked = json.loads(request.content)["messages"][0]["content"]
        answer: dict[str, Any] = (
            {"category": "deal_offer", "confidence": 0.9, "reasons": ["an offer"]}
            if asked.startswith("You classify")
            else {
                "fee": {"kind": "exact", "minor": 300_000, "currency": "USD", "text": "$3,000"},
                "brand": "Glow",
                "talent": "Ava",
                "deliverables": [{"platform": "tiktok", "count": 2}],
            }
        )
        return httpx.Response(200, json={"choices": [{"message": {"content": json.dumps(answer)}}]})

    settings = Settings(
        _env_file=None, ai_provider="openai", ai_base_url="https://ai.test/v1", ai_api_key="k", ai_model="m"
    )
    path = tmp_path / "set.jsonl"
    path.write_text(_line() + "\n")
    async with httpx.AsyncClient(transport=httpx.MockTransport(model)) as http:
        report = await evaluate(OpenAICompatibleProvider(http, settings), read_labelled(path), name="m")
    assert (report.accuracy, report.fee_exact, report.deliverables_exact, report.brand_named) == (1, 1, 1, 1)
    assert report.brand_exact == 1
    assert report.talent_exact == 1
