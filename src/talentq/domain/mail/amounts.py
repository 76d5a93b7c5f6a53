"""Money as brands write it: amounts in any European or English notation, with their currency.

``2.500 €``, ``€3.000,00``, ``1 200,50 €``, ``CHF 1'500.-``, ``$2,500.00``, ``2.5k``, ``£1,200``,
``¥300,000``, ``3.000 Euro``, ``2500 dollars``, ``R$ 8.000,00``, ``3 500 $ CA``; and two amounts joined
into a range ("between €2,000 and €3,000", "$1,500-$2,000", "2-3k"). Pure reading: which amount is
the fee is decided in :mod:`talentq.domain.mail.extract`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

from talentq.domain.money import is_currency, minor_units

_SYMBOLS: Final = {
    "r$": "BRL", "ca$": "CAD", "c$": "CAD", "au$": "AUD", "a$": "AUD", "us$": "USD", "nz$": "NZD",
    "$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₩": "KRW", "fr.": "CHF", "sfr.": "CHF",
}  # fmt: skip
_CODES: Final = frozenset(
    [
        "USD",
        "EUR",
        "GBP",
        "CHF",
        "CAD",
        "AUD",
        "NZD",
        "SEK",
        "NOK",
        "DKK",
        "JPY",
        "KRW",
        "COP",
        "ARS",
        "BRL",
        "MXN",
        "CLP",
        "PLN",
        "CZK",
        "INR",
        "HKD",
        "SGD",
    ]
)
_WORDS: Final = {
    "euro": "EUR", "euros": "EUR", "dollar": "USD", "dollars": "USD", "dólares": "USD", "dollari": "USD",
    "pound": "GBP", "pounds": "GBP", "quid": "GBP", "sterling": "GBP", "franken": "CHF", "francs": "CHF",
    "yen": "JPY", "kronor": "SEK", "kr": "SEK", "pesosmexicanos": "MXN", "mexicanpesos": "MXN",
}  # fmt: skip

# A number: thousands grouped by . , ' ' or a (narrow) space, an optional decimal part; or plain digits.
# Bounded repetitions and a look-behind keep it linear on a megabyte of digits.
_NUMBER: Final = re.compile(
    r"(?<![\d.,'\u2019])(\d{1,3}(?:[.,'\u2019\u00a0\u202f ]\d{3}){1,4}(?:[.,]\d{1,2})?|"
    r"\d{1,12}(?:[.,]\d{1,2})?)(?!\d)"
    r"(?:\s?(?P<k>k|K|Tsd\.?|tausend|thousand|mil)\b)?(?P<dash>[.,][-\u2013](?!\s?\d))?"
)
_CODE_ALT: Final = "|".join(sorted(_CODES))
#: Currencies written with a bare "$" and named by their code after the number ("$25,000 MXN").
_DOLLAR_CODES: Final = frozenset(["USD", "CAD", "AUD", "NZD", "MXN", "COP", "ARS", "CLP", "HKD", "SGD"])
_PREFIX: Final = re.compile(
    rf"(R\$|CA\$|C\$|AU\$|A\$|US\$|NZ\$|\$|€|£|¥|₩|\bS?Fr\.|\b(?:{_CODE_ALT})\b)\s?$", re.IGNORECASE
)
_SUFFIX: Final = re.compile(
    rf"^\s?(\$\s?CA(?:D)?\b|\$|€|£|¥|₩|\b(?:{_CODE_ALT})\b|"
    r"(?:euros?|dollars?|dólares|dollari|pounds?|quid|sterling|franken|francs|yen|kronor|kr|"
    r"pesos mexicanos|mexican pesos)\b)",
    re.IGNORECASE,
)
# Joins two amounts into a range: "-", "to", "and" after "between", "bis", "à"…
_RANGE_JOIN: Final = re.compile(
    r"^\s*(?:-|\u2013|\u2014|to|bis|à|a|al|hasta|tot)\s*$|^\s*(?:and|und|et|y|e|en|or)\s+(?:i\s+|les\s+|"
    r"the\s+|los\s+)?$",
    re.IGNORECASE,
)
_BETWEEN: Final = re.compile(
    r"(?:between|zwischen|entre|tra|fra|tussen|from|von|de)\s+(?:i\s+|les\s+|the\s+|los\s+)?$", re.IGNORECASE
)

#: A change of figure, not a range: "raise our offer from €1,500 to €1,900", "alzare la proposta da
#: 1.500 € a 1.900 €": the verb and its "from" just before the first amount, which is the old figure.
CHANGE_FROM: Final = (
    r"(?:up from|(?:rais|increas|alzar|aumenta|subir|augment|erhöh|anheb|verhog|bump|go up|move up|lower|"
    r"reduc|senk|ridur|bajar|baiss)\w*[^.\n\d]{0,40}\b(?:from|da|de|von|van|dal|dai|del|dalla|des))\s+"
    r"(?:\w+\s+)?$"
)
_CHANGE_FROM: Final = re.compile(CHANGE_FROM, re.IGNORECASE)


@dataclass(frozen=True)
class Amount:
    """One amount (or range) as written: major units, currency when the text names one."""

    value: Decimal
    currency: str | None
    start: int  # span including the currency sign
    end: int
    text: str
    high: Decimal | None = None  # the upper end when a range

    @property
    def is_range(self) -> bool:
        return self.high is not None


def parse_number(raw: str) -> Decimal | None:
    """``1.500,00`` → 1500.00, ``2,500.00`` → 2500.00, ``1'500`` → 1500, ``2.500`` → 2500,
    ``12.50`` → 12.50."""
    digits = raw.replace("\u00a0", " ").replace("\u202f", " ")
    last = max(digits.rfind("."), digits.rfind(","))
    decimal_part = ""
    # A final . or , with one or two digits after it is the decimal mark; three digits make a group.
    if last >= 0 and 1 <= len(digits) - last - 1 <= 2:
        digits, decimal_part = digits[:last], digits[last + 1 :]
    whole = re.sub(r"[.,'\u2019 ]", "", digits)
    try:
        return Decimal(f"{whole}.{decimal_part}" if decimal_part else whole)
    except InvalidOperation:
        return None


def currency_of(token: str) -> str | None:
    token = re.sub(r"\s+", "", token).lower()
    if token.startswith("$ca") or token == "$cad":
        return "CAD"
    if token in _SYMBOLS:
        return _SYMBOLS[token]
    if token.upper() in _CODES:
        return token.upper()
    return _WORDS.get(token)


def to_minor(value: Decimal, currency: str | None) -> int:
    """Major units to minor units as ISO 4217 has them for ``currency`` (x100 for euros, x1 for
    yen), rounded to the unit; x100 for an amount with no known currency."""
    digits = minor_units(currency) if is_currency(currency) and currency is not None else 2
    return int(value.scaleb(digits).to_integral_value())


def find_amounts(text: str) -> list[Amount]:
    """Every amount in ``text`` in order, currency attached where written, ranges joined."""
    singles: list[Amount] = []
    for match in _NUMBER.finditer(text):
        value = parse_number(match.group(1))
        if value is None:
            continue
        if match.group("k"):
            value *= 1000
        start, end = match.start(), match.end()
        currency = None
        if prefix := _PREFIX.search(text[max(0, start - 6) : start]):
            currency = currency_of(prefix.group(1))
            start -= len(text[max(0, start - 6) : start]) - prefix.start()
        if suffix := _SUFFIX.match(text[end : end + 17]):
            named = currency_of(suffix.group(1))
            # A bare "$" says dollars; the code after the number says whose ("$25,000 MXN").
            if currency is None or (
                currency == "USD" and named in _DOLLAR_CODES and prefix and prefix.group(1) == "$"
            ):
                currency = named
            end += suffix.end()
        singles.append(Amount(value, currency, start, end, text[start:end].strip()))
    return _join_ranges(text, singles)


def _join_ranges(text: str, singles: list[Amount]) -> list[Amount]:
    out: list[Amount] = []
    i = 0
    while i < len(singles):
        low = singles[i]
        if i + 1 < len(singles):
            high = singles[i + 1]
            between = text[low.end : high.start]
            joined = _RANGE_JOIN.match(between)
            needs_between = joined is not None and not re.match(
                r"^\s*(?:-|\u2013|\u2014|to|bis|à|a|al|hasta|tot)\s*$", between
            )
            if (
                joined
                and (not needs_between or _BETWEEN.search(text[max(0, low.start - 20) : low.start]))
                and not _CHANGE_FROM.search(text, max(0, low.start - 60), low.start)
                and (currency := _range_currency(low, high, text))
            ):
                low_value = low.value
                # "2-3k": the thousands written once apply to both ends.
                if high.value >= 1000 > low_value and high.value / 1000 > low_value:
                    low_value *= 1000
                if low_value < high.value:
                    out.append(
                        Amount(
                            low_value, currency, low.start, high.end,
                            text[low.start : high.end].strip(), high.value,
                        )
                    )  # fmt: skip
                    i += 2
                    continue
        out.append(low)
        i += 1
    return out


def _range_currency(low: Amount, high: Amount, text: str) -> str | None:
    """The currency of two amounts read as a range: the one they share, the one either names, or the
    code the upper end names after a bare "$" on the lower ("$25,000 to $35,000 MXN"); None when they
    differ."""
    if low.currency is None or high.currency is None or low.currency == high.currency:
        return low.currency or high.currency
    if low.currency == "USD" and high.currency in _DOLLAR_CODES and text[low.start : low.end].startswith("$"):
        return high.currency
    return None
