"""Broker and book numbers are bounded when parsed (``to_decimal``), so none can crash or flood."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from position_sync.app.domain import MAX_DECIMAL_PLACES, NumberOutOfBounds, to_decimal


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.1", Decimal("0.1")),
        (0.1, Decimal("0.1")),
        (100.0, Decimal("100")),
        ("1,250.50", Decimal("1250.50")),
        ("999999999999999999.9", Decimal("999999999999999999.9")),
        ("-0.000000000000000000000001", Decimal("-1E-24")),
        ("1.5" + "0" * 200, Decimal("1.5")),  # trailing zeros are not decimal places
        (1.2345678901234566e-07, Decimal("1.2345678901234566E-7")),  # a float's repr fits
        ("0E-99999999", Decimal(0)),
        ("-0", Decimal(0)),
    ],
)
def test_sane_numbers_are_read_exactly(value: Any, expected: Decimal) -> None:
    assert to_decimal(value) == expected


def test_any_zero_is_plain_zero() -> None:
    """``0E-99999999`` would print as 100 MB of zeros in plain notation."""
    assert format(to_decimal("0E-99999999"), "f") == "0"


@pytest.mark.parametrize(
    "value",
    ["1e999999", "9e999999", "-1e18", "1000000000000000000", 1e300, 10**40, Decimal("1E+18")],
)
def test_magnitudes_of_1e18_and_beyond_are_refused(value: Any) -> None:
    with pytest.raises(NumberOutOfBounds, match="below 1e18"):
        to_decimal(value)


@pytest.mark.parametrize(
    "value", ["1E-99999999", "0." + "0" * MAX_DECIMAL_PLACES + "1", "1." + "3" * 10_000_000]
)
def test_too_many_decimal_places_are_refused(value: str) -> None:
    with pytest.raises(NumberOutOfBounds, match=f"at most {MAX_DECIMAL_PLACES} decimal places"):
        to_decimal(value)


@pytest.mark.parametrize("value", ["NaN", "nan", "sNaN", "Infinity", "-inf", float("nan"), float("inf")])
def test_nan_and_infinities_are_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="finite"):
        to_decimal(value)


def test_a_refusal_quotes_a_long_value_cut_short() -> None:
    with pytest.raises(ValueError) as caught:
        to_decimal("x" * 1_000_000)
    assert len(str(caught.value)) < 100
