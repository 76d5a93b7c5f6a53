"""What a sender's domain says of who writes: its organisation, and whether it is free mail."""

from __future__ import annotations

import pytest

from talentq.domain.addresses import is_free_mail, registrable_domain
from talentq.domain.mail.classify_features import sender_cues
from talentq.domain.mail.parties import sender_domain


@pytest.mark.parametrize(
    ("domain", "organisation"),
    [
        ("brand.de", "brand.de"),
        ("mail.hellofresh.com", "hellofresh.com"),
        ("news.brand.co.uk", "brand.co.uk"),
        ("fornitori.acquamonteverde.it", "acquamonteverde.it"),
        ("student.ucl.ac.uk", "ucl.ac.uk"),
        ("yerbapampa.com.ar", "yerbapampa.com.ar"),
        ("Brand.COM.", "brand.com"),
        ("brand.gob.es", "brand.gob.es"),
        ("brand.go.jp", "brand.go.jp"),
        ("smith.me.uk", "smith.me.uk"),
        ("localhost", "localhost"),
    ],
)
def test_the_organisation_of_a_domain_leaves_its_subdomains_aside(domain: str, organisation: str) -> None:
    assert registrable_domain(domain) == organisation


@pytest.mark.parametrize(
    ("domain", "free"),
    [
        ("gmail.com", True),
        ("gmx.at", True),
        ("t-online.de", True),
        ("yahoo.co.uk", True),
        ("outlook.fr", True),
        ("proton.me", True),
        ("mail.hellofresh.com", False),
        ("gmail-partners.com", False),
        ("orange.fr", True),
        ("orange.com", False),  # the company, not its free mail
        ("smith.me.uk", False),
    ],
)
def test_free_mail_is_known_by_its_provider_in_any_country(domain: str, free: bool) -> None:
    assert is_free_mail(domain) is free


def test_mail_reading_and_the_scam_screen_share_that_reading() -> None:
    """A subdomain no longer names the sender's organisation "mail"; free mail is free mail in both."""
    assert sender_domain("Ana <ana@mail.lunaverde-shop.it>") == "lunaverde-shop"
    assert sender_domain("Papa <herbert.krueger@t-online.de>") == ""
    assert "sender: free mail address" in sender_cues("Papa <herbert.krueger@t-online.de>")
    assert "sender: free mail address" not in sender_cues("Ana <ana@mail.lunaverde-shop.it>")
