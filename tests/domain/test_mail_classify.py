"""The trained message classifier: its answers on the labelled sets, its scam screen, its speed,
and that the shipped model is what the training script trains."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from talentq.dev import train_classifier
from talentq.domain.mail.classify import classify_message
from talentq.domain.mail.classify_features import features, sender_cues
from talentq.domain.vocabulary import CATEGORIES
from talentq.integrations.ai.evaluate import read_labelled

DATA = Path(__file__).parents[1] / "data"
#: The older labelled set's floor (the rules engine's test asks the same of it).
INBOX_FLOOR = 0.90
#: Development part: the model is trained on it, so it should fit it almost entirely.
DEV_FLOOR = 0.97


def test_answers_a_category_with_reasons() -> None:
    got = classify_message(
        "Invoice INV-2041 - March campaign",
        "Hi, please find attached our invoice for the March campaign, due in 30 days. IBAN below.",
        sender="Accounts <accounts@brand.com>",
    )
    assert got.category == "invoice"
    assert 0 <= got.confidence <= 1
    assert got.reasons
    assert all(isinstance(r, str) and r for r in got.reasons)


def test_empty_message_is_answered() -> None:
    got = classify_message("", "")
    assert got.category in CATEGORIES
    assert 0 <= got.confidence <= 1


@pytest.mark.parametrize(
    ("sender", "cue"),
    [
        ("PayPal Support <service@paypa1-secure.com>", "scam: sender claims a brand its domain is not"),
        ("PayPal <service@paypa1.com>", "scam: look-alike sender domain"),
        ("Stripe <notify@pay-pal-secure.net>", "scam: sender claims a brand its domain is not"),
        ("Meta Support <help@meta-support-team.com>", "scam: sender claims a brand its domain is not"),
        ("Comptabilité Lumière Skin <compta@lumiere-skln.fr>", "scam: look-alike sender domain"),
    ],
)
def test_the_sender_screen_sees_look_alike_domains(sender: str, cue: str) -> None:
    assert cue in sender_cues(sender)


@pytest.mark.parametrize(
    "sender",
    [
        "PayPal <service@paypal.com>",
        "Instagram <no-reply@mail.instagram.com>",
        "Anna Weber <anna@lumiere-skin.fr>",
        # A company whose name starts with a provider's ("Ledger") is not claiming to be it.
        "Sarah Whitman <sarah.whitman@ledgerly.io>",
        "",
        "not an address",
    ],
)
def test_the_sender_screen_leaves_real_domains_alone(sender: str) -> None:
    assert not {c for c in sender_cues(sender) if c.startswith("scam:")}


def test_scam_signs_are_also_read_together() -> None:
    found = features(
        "RE: Remittance advice",
        "Our payment to you was blocked. Please log in with your email and password to confirm "
        "your bank details.",
        "Comptabilité Lumière Skin <compta@lumiere-skln.fr>",
    )
    assert "scam: look-alike sender asks about money or a login" in found.cues
    assert "scam: two or more scam signs" in found.cues


def test_a_fee_to_be_featured_is_a_scam_sign_a_product_feature_is_not() -> None:
    magazine = features(
        "Ihr Talent auf unserem Cover",
        "Wir möchten Ihr Talent auf der Titelseite porträtieren.\nFür Layout und Druck erheben wir "
        "einen Redaktionskostenbeitrag von 349 €.",
    )
    assert "scam: pay to be featured" in magazine.cues
    offer = features(
        "LinkedIn partnership",
        "2 LinkedIn posts, each mentioning our new invoice-matching feature. Fee: $2,000.",
    )
    assert "scam: pay to be featured" not in offer.cues


def test_cues_do_not_fire_on_look_alike_words_of_another_language() -> None:
    """French "termine" is not a German "Termin", nor "est" a US time zone."""
    found = features("Lien cassé", "Le lien se termine par un espace, il est faux.")
    assert "cue: meeting word" not in found.cues
    assert "cue: time of day" not in found.cues


def test_a_fee_asked_of_the_creator_is_spam() -> None:
    got = classify_message(
        "You've been selected as a brand ambassador!",
        "Congratulations! To join our ambassador program just pay a small registration fee of $49 "
        "and we will ship your starter kit. Spots are limited, reply within 24 hours.",
        sender="Glow Team <ambassadors@glow-official.shop>",
    )
    assert got.category == "spam"
    assert any("fee asked of the creator" in r for r in got.reasons), got.reasons


@pytest.mark.parametrize(
    ("sender", "cue"),
    [
        ("Clipline <no-reply@clipline.app>", "sender: an automated mailbox"),
        ("Clipline <notifications@clipline.app>", "sender: an automated mailbox"),
        ("Clipline <seguridad@clipline.app>", "sender: an automated mailbox"),
        ("Creator Weekly <newsletter@creatorweekly.com>", "sender: a newsletter's mailbox"),
        ("Creadores Hoy <boletin@creadoreshoy.es>", "sender: a newsletter's mailbox"),
    ],
)
def test_the_sender_screen_sees_mailboxes_no_person_writes_from(sender: str, cue: str) -> None:
    assert cue in sender_cues(sender)
    assert not {"sender: an automated mailbox", "sender: a newsletter's mailbox"} & sender_cues(
        "Anna Weber <anna.weber@lumiere-skin.fr>"
    )


@pytest.mark.parametrize(
    ("subject", "body", "cue"),
    [
        ("La Lettre #214", "Cette semaine : trois marques.", "cue: newsletter issue (subject)"),
        ("N°142 - Les coulisses", "Au sommaire", "cue: newsletter issue (subject)"),
        # something to pay up front before the "offer" starts
        ("Vous avez été repérée", "Réalisez un book photo (forfait 290 €, payable à l'avance).",
         "scam: fee asked of the creator"),
        ("Paid collab", "Please place an order on our store first, we refund it once the post is live.",
         "scam: fee asked of the creator"),
        ("Markenbotschafterin", "Um teilzunehmen, musst du nur eine Bestellung ab 59 € aufgeben.",
         "scam: fee asked of the creator"),
        ("Más visibilidad", "Le ponemos en la primera página de Google y le damos reseñas de 5 estrellas.",
         "scam: follower or traffic selling"),
    ],
)  # fmt: skip
def test_newsletters_and_upfront_costs_are_read(subject: str, body: str, cue: str) -> None:
    assert cue in features(subject, body).cues


def test_inbox_messages_accuracy() -> None:
    """The older labelled set (trained on too) stays at the rules engine's floor or above."""
    messages = json.loads((DATA / "inbox_messages.json").read_text())
    right = sum(
        classify_message(m["subject"], m["body"], sender=m.get("sender", "")).category == m["category"]
        for m in messages
    )
    assert right / len(messages) >= INBOX_FLOOR


def test_development_part_is_fitted_and_no_offer_is_spam() -> None:
    """On what it was trained on the model is nearly always right, and never calls an offer spam
    (the test part is measured by ``talentq ai eval --part test``, not asserted here)."""
    dev = read_labelled(DATA / "corpus", "dev")
    got = {m.id: classify_message(m.subject, m.body, sender=m.sender).category for m in dev}
    right = sum(got[m.id] == m.category for m in dev)
    assert right / len(dev) >= DEV_FLOOR
    assert not [m.id for m in dev if m.category == "deal_offer" and got[m.id] == "spam"]


def test_shipped_model_is_what_training_gives() -> None:
    """``python -m talentq.dev.train_classifier --check``: the JSON equals a fresh training."""
    root = Path(__file__).parents[2]
    assert (
        train_classifier.main(
            [
                "--corpus",
                str(root / "tests" / "data" / "corpus"),
                "--inbox",
                str(root / "tests" / "data" / "inbox_messages.json"),
                "--check",
            ]
        )
        == 0
    )
