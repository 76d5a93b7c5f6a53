"""Email addresses: the one check of an address, used by producers and workers alike, and what a
sender's domain says of who writes.

The client checks ``email-send``'s ``to`` with it before anything reaches Redis, the worker checks
the payload again, and the mail transport parses with it: an address refused anywhere is
refused everywhere, with the same reason. Mail reading (brand, scam screen) and deal-extraction
take a sender's organisation (``registrable_domain``) and free-mail providers from here.
"""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr
from typing import Final

#: Mail providers anyone can sign up with, by their domain's label ("gmx" for gmx.de and gmx.net): a
#: sender there writes as a person, whatever name it shows.
FREE_MAIL_PROVIDERS: Final = frozenset(
    {
        "gmail", "googlemail", "outlook", "hotmail", "yahoo", "icloud", "aol", "gmx", "t-online",
        "libero", "proton", "protonmail",
    }
)  # fmt: skip
#: Free mail whose label is also a company's or a word (orange.com is the company): whole domains.
_FREE_MAIL_DOMAINS: Final = frozenset({"orange.fr", "free.fr", "web.de", "live.com", "me.com", "mac.com"})
#: Second-level labels that belong to a country's public suffix: "co.uk", "com.au", "gob.es", "go.jp".
_SECOND_LEVEL: Final = frozenset(
    {
        "co", "com", "org", "net", "ac", "gov", "edu", "or", "ne", "go", "gob", "gouv", "ltd", "plc", "nic",
        "mil", "sch", "nhs", "me",
    }
)  # fmt: skip
#: The longest "to" an outbound email takes (email-send's payload and ``outbound_emails.to_address``).
MAX_ADDRESS_CHARS: Final = 320


def parse_address(address: str) -> Address:
    """One address (``a@b.co`` or ``Name <a@b.co>``); ``ValueError`` saying what is wrong with it."""
    try:
        parsed = EmailMessage()
        parsed["To"] = address
        addresses = parsed["To"].addresses
    except (ValueError, IndexError, TypeError) as exc:
        raise ValueError(f"address {address!r} is malformed: {exc}") from None
    if len(addresses) != 1 or not addresses[0].username or "." not in addresses[0].domain:
        raise ValueError(f"address {address!r} is malformed: need exactly one name@domain")
    parsed_address: Address = addresses[0]
    return parsed_address


def checked_address(address: str) -> str:
    """``address`` unchanged if ``parse_address`` takes it (a pydantic validator)."""
    parse_address(address)
    return address


def named_address(name: str, email: str) -> str:
    """``"Maya Okafor <maya@agency.test>"``, or the bare address when the named form would not fit."""
    named = formataddr((name, email))
    return named if len(named) <= MAX_ADDRESS_CHARS else email


def registrable_domain(domain: str) -> str:
    """The organisation's domain, its subdomains aside: "mail.hellofresh.com" → "hellofresh.com",
    "news.brand.co.uk" → "brand.co.uk", "brand.de" → "brand.de"."""
    labels = domain.lower().strip(".").split(".")
    suffix = 2 if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2 else 1
    return ".".join(labels[-(suffix + 1) :])


def is_free_mail(domain: str) -> bool:
    """Whether ``domain`` is a free-mail provider's (gmail.com, gmx.de, yahoo.co.uk, proton.me)."""
    organisation = registrable_domain(domain)
    return organisation in _FREE_MAIL_DOMAINS or organisation.split(".")[0] in FREE_MAIL_PROVIDERS
