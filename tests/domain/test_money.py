"""Money helpers: exponents per currency, exact splits, totals that never mix currencies."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from talentq.domain.money import (
    MAX_MINOR,
    amount_text,
    format_minor,
    is_currency,
    minor_units,
    split_minor,
    to_minor,
    totals_by_currency,
    totals_text,
)


def test_currencies_are_iso_codes_with_their_own_exponents() -> None:
    """EUR has cents, JPY none, KWD fils in thousandths; "EURO" and "usd" are not codes."""
    assert (minor_units("EUR"), minor_units("JPY"), minor_units("KWD")) == (2, 0, 3)
    assert is_currency("GBP")
    assert not is_currency("EURO")
    assert not is_currency("usd")
    assert not is_currency(None)
    with pytest.raises(ValueError, match="unknown currency 'XYZ'"):
        minor_units("XYZ")


def test_amounts_convert_exactly_and_print_for_humans() -> None:
    """12.50 EUR is 1250 cents; 1500 JPY stays 1500; a third of a cent is refused."""
    assert to_minor(Decimal("12.50"), "EUR") == 1250
    assert to_minor("1500", "JPY") == 1500
    with pytest.raises(ValueError, match="more decimals"):
        to_minor("0.005", "EUR")
    assert format_minor(123456, "EUR") == "EUR 1,234.56"
    assert format_minor(1500, "JPY") == "JPY 1,500"


def test_splits_add_up_to_the_total_and_totals_stay_per_currency() -> None:
    """Installments always sum to the fee; totals are kept per currency."""
    assert split_minor(100001, [50, 50]) == [50000, 50001]
    assert sum(split_minor(999_999, [30, 30, 40])) == 999_999
    with pytest.raises(ValueError, match="positive sum"):
        split_minor(100, [])
    assert totals_by_currency([("USD", 100), ("EUR", 5), ("USD", 1)]) == {"EUR": 5, "USD": 101}


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (True, "amount True is a bool"),
        (12.5, "amount 12.5 is a float"),
        (None, "amount None is a NoneType"),
        ("twelve", "amount 'twelve' is not a number"),
        ("", "amount '' is not a number"),
        ("NaN", "amount 'NaN' is not a finite number"),
        (Decimal("-Infinity"), "amount Decimal('-Infinity') is not a finite number"),
        ("1e999999999", "amount '1e999999999' EUR is out of range"),
        (str(MAX_MINOR), f"amount '{MAX_MINOR}' EUR is out of range"),
        # Finer than a cent by a digit Decimal's 28-digit context would round away.
        ("1." + "0" * 30 + "1", "has more decimals than EUR allows"),
    ],
)
def test_inexact_or_unparsable_amounts_are_refused(amount: object, message: str) -> None:
    """Floats, bools, NaN, infinities, words and out-of-range amounts: a ValueError naming the amount."""
    with pytest.raises(ValueError, match=re.escape(message)):
        to_minor(amount, "EUR")  # type: ignore[arg-type]  # the point: wrong types at run time


def test_exact_amounts_keep_every_digit() -> None:
    """Negative, exponent and trailing-zero forms convert exactly, up to the database's BIGINT."""
    assert to_minor("-0.50", "EUR") == -50
    assert to_minor("1E+3", "JPY") == 1000
    assert to_minor("12.500000", "KWD") == 12_500
    assert to_minor(Decimal(MAX_MINOR).scaleb(-2), "USD") == MAX_MINOR
    assert to_minor(7, "BHD") == 7_000


def test_totals_take_only_int_minor_units_and_print_per_currency() -> None:
    """A float, Decimal or bool amount is refused; totals print per currency, never one sum."""
    for bad in (1.5, Decimal("1"), True):
        with pytest.raises(ValueError, match="totals take int minor units"):
            totals_by_currency([("USD", 100), ("USD", bad)])  # type: ignore[list-item]
    assert totals_text({"USD": 3500, "EUR": 120_000}) == "EUR 1,200.00, USD 35.00"
    assert totals_text({}) == "none"
    assert amount_text(99, "XYZ") == "XYZ 99 (minor units)"
