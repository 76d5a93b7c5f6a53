"""Money as the platform keeps it: integer minor units plus an ISO 4217 currency code.

Amounts are never floats and never added across currencies; ``totals_by_currency`` is how
reports sum. ``minor_units`` knows each currency's exponent (JPY has none, KWD three), so a
fee of 1,500 JPY is 1500 and not 150000, and ``format_minor`` prints it back for humans.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
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


#: The largest amount the database stores (``BIGINT`` minor units); past it an amount is refused.
MAX_MINOR: Final = 2**63 - 1


def to_minor(amount: Decimal | int | str, currency: str) -> int:
    """``Decimal("12.50")`` EUR -> 1250; refuses an amount finer than the currency allows.

    Only exact inputs are taken: a float (``0.1`` is not one tenth), a bool, NaN, an
    infinity, text that is not a number or an amount past ``MAX_MINOR`` raise ValueError
    naming the amount.
    """
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int | str):
        raise ValueError(
            f"amount {amount!r} is a {type(amount).__name__}: give a Decimal, an int or a numeric string"
        )
    try:
        exact = Decimal(amount)
    except InvalidOperation:
        raise ValueError(f"amount {amount!r} is not a number") from None
    if not exact.is_finite():
        raise ValueError(f"amount {amount!r} is not a finite number")
    # Refused before scaling: "1e999999999" would otherwise become a billion-digit int.
    if exact.adjusted() > len(str(MAX_MINOR)):
        raise ValueError(f"amount {amount!r} {currency} is out of range")
    # Integer arithmetic on the digits: Decimal operations round to the context's 28 digits, which
    # could turn "0.0000000000000000000000000001" into an amount that seems exact.
    sign, digits, exponent = exact.as_tuple()
    assert isinstance(exponent, int)  # finite, checked above
    text = "".join(map(str, digits))
    shift = exponent + minor_units(currency)
    if shift < 0 and text[shift:].strip("0"):
        raise ValueError(f"{amount} {currency} has more decimals than {currency} allows")
    magnitude = int(text) * 10**shift if shift >= 0 else int(text[:shift] or "0")
    minor = -magnitude if sign else magnitude
    if abs(minor) > MAX_MINOR:
        raise ValueError(f"amount {amount!r} {currency} is out of range: at most {MAX_MINOR} minor units")
    return minor


def to_major(amount_minor: int, currency: str) -> Decimal:
    """An amount in major units of its currency: 857000, "USD" -> 8570.00; 1500, "JPY" -> 1500."""
    return Decimal(amount_minor).scaleb(-minor_units(currency))


def format_minor(amount_minor: int, currency: str) -> str:
    """1250, "EUR" -> "EUR 12.50"; 1500, "JPY" -> "JPY 1,500"."""
    return f"{currency} {to_major(amount_minor, currency):,.{minor_units(currency)}f}"


def amount_text(amount_minor: int, currency: str) -> str:
    """``format_minor``; raw minor units for a code it does not know (one odd row must not stop a run)."""
    try:
        return format_minor(amount_minor, currency)
    except ValueError:
        return f"{currency} {amount_minor} (minor units)"


def totals_by_currency(amounts: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Sum (currency, minor units) pairs per currency: never one total across currencies.

    Amounts must be ints (minor units); a float, Decimal or bool is refused with ValueError.
    """
    totals: dict[str, int] = {}
    for currency, amount in amounts:
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ValueError(
                f"amount {amount!r} ({currency}) is a {type(amount).__name__}: totals take int minor units"
            )
        totals[currency] = totals.get(currency, 0) + amount
    return dict(sorted(totals.items()))


def totals_text(totals: Mapping[str, int]) -> str:
    """Per-currency totals for humans: "EUR 1,200.00, USD 35.00", or "none"; never one sum."""
    return ", ".join(amount_text(amount, currency) for currency, amount in sorted(totals.items())) or "none"


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
