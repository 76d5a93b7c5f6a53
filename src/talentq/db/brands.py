"""Brands as processors and crons look them up: by name, and in the inbox (which mail is a brand's).

One rule says which inbox message is mail from a brand, used by brand-crm, brand-crm-daily,
outreach-follow-ups (replies to pitches) and outreach (a reply before a follow-up goes out):
the sender's address (the last ``x@y`` of the From header, angle brackets, a trailing comment in
parentheses and trailing dots dropped, any case) is the brand's ``contact_email``, or its domain
is the brand's ``domain`` or a subdomain of it; and the message was not triaged as spam (spoofed
From headers are spam's stock in trade). So ``Rachel <rachel@mail.hellofresh.com>``,
``rachel@hellofresh.com (Rachel)`` and ``rachel@hellofresh.com.`` are HelloFresh's,
``scam@nothellofresh.com`` is not, and a brand's person writing from a freemail address counts
only as its contact address. Mail not yet triaged counts.

The limit: any other mail from the brand counts too. A newsletter or a receipt from HelloFresh's
domain is "mail from HelloFresh", so it is CRM activity and marks a pitch to HelloFresh replied;
telling a person's answer from the brand's bulk mail would need the message's content or headers.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from talentq.db.tables import Brand

# Each message gives its keys: its address and the domains it is under ("mail.hellofresh.com",
# "hellofresh.com"; a bare top-level domain is no brand's); each brand gives its contact
# address and its domain. The address: a trailing "(comment)" is cut off the header first (RFC 5322
# allows one after the address: "x@brand.com (Name)"), then the last x@y is taken, and the dots
# that may end it ("x@brand.com.", the root of the DNS) are trimmed. Equal keys are a match: an
# equi-join, so a cron matching a week of mail against every brand hashes instead of testing each
# pair with a pattern.
_BRAND_MAIL = r"""
SELECT DISTINCT mk.message_id, mk.user_id, mk.received_at, bk.brand_id
FROM (
    SELECT m.id AS message_id, m.user_id, m.received_at, k.key
    FROM inbox_messages AS m
    CROSS JOIN LATERAL (
        SELECT lower(rtrim(
            substring(
                regexp_replace(m.sender, '\s*\([^()]*\)\s*$', '') FROM '([^\s<>@()]+@[^\s<>@()]+)>?\s*$'
            ),
            '.'
        )) AS address
    ) AS a
    CROSS JOIN LATERAL (
        SELECT a.address
        UNION ALL
        SELECT array_to_string(d.labels[i:], '.')
        FROM string_to_array(split_part(a.address, '@', 2), '.') AS d(labels),
             generate_subscripts(d.labels, 1) AS i
        WHERE i < cardinality(d.labels)
    ) AS k(key)
    WHERE a.address IS NOT NULL AND m.category IS DISTINCT FROM 'spam' AND ({messages})
) AS mk
JOIN (
    SELECT b.id AS brand_id, k.key
    FROM brands AS b
    CROSS JOIN LATERAL (VALUES (lower(btrim(b.contact_email))), (lower(btrim(b.domain)))) AS k(key)
    WHERE k.key IS NOT NULL AND k.key <> '' AND ({brands})
) AS bk ON bk.key = mk.key
"""


def brand_mail_sql(*, messages: str = "true", brands: str = "true") -> str:
    """SQL of a subquery: one row per (inbox message, brand) where the message is mail from the brand.

    Columns: ``message_id``, ``user_id`` (whose inbox), ``received_at``, ``brand_id``.
    ``messages`` narrows the messages scanned (a condition on ``m``, the inbox_messages row) and
    ``brands`` the brands (on ``b``); their bind parameters belong to the caller's statement.
    """
    return _BRAND_MAIL.format(messages=messages, brands=brands)


async def find_brand(session: AsyncSession, name: str) -> Brand | None:
    """The brand of that name, whatever its case (names are unique as written; the first wins)."""
    return (
        (
            await session.execute(
                select(Brand)
                .where(func.lower(col(Brand.name)) == name.strip().lower())
                .order_by(col(Brand.id))
            )
        )
        .scalars()
        .first()
    )
