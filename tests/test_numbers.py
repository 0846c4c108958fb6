"""Every number read from a broker or a book is bounded when parsed (``to_decimal``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from app.domain import to_decimal


@pytest.mark.parametrize(
    "value", ["1e999999", "9e999999", "-1e15", "1E+20", 1e300, "nan", "NaN", "inf", "-Infinity", float("nan")]
)
def test_numbers_beyond_any_position_or_price_are_refused(value: Any) -> None:
    with pytest.raises(ValueError) as caught:
        to_decimal(value)
    assert len(str(caught.value)) < 120, "the sentence quotes a short form of the value"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1E-99999999", Decimal(0)),  # in plain notation it would be 100 MB
        (5.551115123125783e-17, Decimal("0.000000000000000056")),
        ("0.123456789012345678", Decimal("0.123456789012345678")),
        ("999999999999999.5", Decimal("999999999999999.5")),
        ("0.1", Decimal("0.1")),
    ],
)
def test_finer_than_eighteen_places_is_rounded_not_refused(value: Any, expected: Decimal) -> None:
    result = to_decimal(value)
    assert result == expected
    assert len(format(result, "f")) < 40


def test_a_huge_string_is_not_echoed_whole() -> None:
    with pytest.raises(ValueError) as caught:
        to_decimal("1" * 1_000_000)
    assert len(str(caught.value)) < 120
