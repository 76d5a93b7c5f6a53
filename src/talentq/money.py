"""Money as the platform keeps it: integer minor units plus an ISO 4217 currency code.

Amounts are never floats and never added across currencies; ``totals_by_currency`` is how
reports sum. ``minor_units`` knows each currency's exponent (JPY has none, KWD three), so a
fee of 1,500 JPY is 1500 and not 150000, and ``format_minor`` prints it back for humans.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Final


def _codes(words: str) -> frozenset[str]:
    # Space-separated words: 180 quoted strings, one per line, would hide the list.
    return frozenset(words.split())


_ZERO_DECIMALS: Final = _codes("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF")
_THREE_DECIMALS: Final = _codes("BHD IQD JOD KWD LYD OMR TND")
_FOUR_DECIMALS: Final = _codes("CLF UYW")

#: The active ISO 4217 currencies (funds codes included, precious metals and test codes not).
CURRENCIES: Final = _codes(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
    BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN
    ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD
    JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT
    MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG
    QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT
    TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XCD XOF XPF
    YER ZAR ZMW ZWG
    """
)


def is_currency(code: object) -> bool:
    """True for an active ISO 4217 code in upper case ("EUR"), False for anything else."""
    return isinstance(code, str) and code in CURRENCIES


def minor_units(currency: str) -> int:
    """Digits after the decimal point for ``currency``; raises ValueError for an unknown code."""
    if currency not in CURRENCIES:
        raise ValueError(f"unknown currency {currency!r}: not an ISO 4217 code")
    if currency in _ZERO_DECIMALS:
        return 0
    if currency in _THREE_DECIMALS:
        return 3
    return 4 if currency in _FOUR_DECIMALS else 2


def to_minor(amount: Decimal | int | str, currency: str) -> int:
    """``Decimal("12.50")`` EUR -> 1250; refuses an amount finer than the currency allows."""
    value = Decimal(amount) * (10 ** minor_units(currency))
    if value != value.to_integral_value():
        raise ValueError(f"{amount} {currency} has more decimals than {currency} allows")
    return int(value)


def format_minor(amount_minor: int, currency: str) -> str:
    """1250, "EUR" -> "EUR 12.50"; 1500, "JPY" -> "JPY 1,500"."""
    digits = minor_units(currency)
    major = Decimal(amount_minor).scaleb(-digits)
    return f"{currency} {major:,.{digits}f}"


def totals_by_currency(amounts: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Sum (currency, minor units) pairs per currency: never one total across currencies."""
    totals: dict[str, int] = {}
    for currency, amount in amounts:
        totals[currency] = totals.get(currency, 0) + amount
    return dict(sorted(totals.items()))


def split_minor(total_minor: int, shares: Iterable[int]) -> list[int]:
    """``total_minor`` split by integer weights, exact: the rounding remainder goes to the last part.

    ``split_minor(100001, [50, 50])`` -> ``[50000, 50001]``: installments always add up to the fee.
    """
    weights = list(shares)
    if not weights or any(w < 0 for w in weights) or sum(weights) == 0:
        raise ValueError(f"shares must be non-negative with a positive sum, got {weights}")
    whole = sum(weights)
    parts = [total_minor * w // whole for w in weights[:-1]]
    return [*parts, total_minor - sum(parts)]
