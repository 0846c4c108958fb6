"""Broker and book numbers are bounded when parsed (``to_decimal``), so none can crash or flood."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from position_sync.app.domain import MAX_DECIMAL_PLACES, ZERO, NumberOutOfBounds, normal, to_decimal


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


@given(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.integers(min_value=-40, max_value=12),
)
@settings(max_examples=3000, deadline=None)
def test_normal_is_the_text_round_trip_at_every_size(digits: int, exponent: int) -> None:
    """``normal`` skips the text below 10**26; what it gives is what the text gave, digit for digit."""
    value = Decimal(digits).scaleb(exponent)
    by_text = ZERO if value == ZERO else Decimal(format(value.normalize(), "f"))
    assert str(normal(value)) == str(by_text)


def test_normal_keeps_what_is_not_finite() -> None:
    assert str(normal(Decimal("Infinity"))) == "Infinity"
    assert normal(Decimal("NaN")).is_nan()  # type: ignore[union-attr]
