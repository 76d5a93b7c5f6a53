"""Email addresses: the one check of an address, used by producers and workers alike.

The client checks ``email-send``'s ``to`` with it before anything reaches Redis, the worker checks
the payload again, and the mail transport parses with it: an address refused anywhere is
refused everywhere, with the same reason.
"""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr
from typing import Final

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
