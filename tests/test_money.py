"""Money helpers: exponents per currency, exact splits, totals that never mix currencies."""

from __future__ import annotations

from decimal import Decimal

import pytest

from talentq.money import format_minor, is_currency, minor_units, split_minor, to_minor, totals_by_currency


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
