"""A book read a column at a time says exactly what reading it line by line says.

``LineReader.add_all`` builds the positions and the fingerprint's lines from whole columns; the
line-by-line read (``add``) is the definition. Generated columns mix the shapes books hold: ints
(repeated, as quantities are), plain texts that need their trailing zeros or an exponent dropped
for the fingerprint (``100.50``, ``0.0000001``), zeros of every spelling, missing prices, and
values the bulk read must leave to the line-by-line one.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from position_sync.app.books.rows import LineReader
from position_sync.app.config import BookConfig

SYMBOLS = st.sampled_from(["NSE:INFY", " NSE:TCS ", "BTC/USDT:USDT", "A", "AB"])
INTS = st.integers(min_value=-(10**18), max_value=10**18)
SMALL_INTS = st.integers(min_value=-3, max_value=500)
TEXTS = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**6), max_value=10**6).map(
        str
    ),
    st.sampled_from(
        [
            "0",
            "-0",
            "0.00",
            "100",
            "100.00",
            "100.50",
            "0.0000001",
            "1.",
            "-.5",
            ".5",
            "5.0",
            "-12.50",
            "1000.000",
            "\u0661\u0662",
            "1.5E+3",
            "007.10",
            "+3",
            "1_000",
            " 12.50 ",
        ]
    ),
    st.sampled_from(["123456789012345678.1", "12345678901234567890", "nan", "-Infinity", "", "1,000", "x"]),
)
ODD = st.sampled_from([True, 2.5, Decimal("1.50"), Decimal("-0.0"), None])
MIXED = st.one_of(SMALL_INTS, INTS, TEXTS, ODD)


@st.composite
def books(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Records whose columns are mostly of one kind each, as a real book's are."""
    quantities = draw(st.sampled_from([SMALL_INTS, INTS, TEXTS, MIXED]))
    prices = draw(st.sampled_from([SMALL_INTS, TEXTS, MIXED]))
    records = []
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        record: dict[str, Any] = {"symbol": draw(SYMBOLS), "quantity": draw(quantities)}
        if draw(st.booleans()):
            record["average_price"] = draw(prices)
        records.append(record)
    return records


def line_by_line(records: list[dict[str, Any]]) -> LineReader | None:
    lines = LineReader(BookConfig("bot", "file"))
    try:
        for number, record in enumerate(records, 1):
            lines.add(record, f"entry {number}")
    except ValueError:
        return None
    return lines


@settings(max_examples=400, deadline=None)
@given(books())
def test_a_book_read_whole_is_the_book_read_line_by_line(records: list[dict[str, Any]]) -> None:
    bulk = LineReader(BookConfig("bot", "file"))
    whole = bulk.add_all(records, "entry")
    lines = line_by_line(records)
    if not whole:
        assert bulk.positions == []  # left as it was, for the line-by-line read
        return
    assert lines is not None, "the bulk read accepted a book the line-by-line read refuses"
    assert bulk.positions == lines.positions
    # Equal Decimals can be spelt apart (100.50 and 100.5): the positions keep the book's spelling.
    spelt = [(str(p.quantity), str(p.average_price), p.label) for p in bulk.positions]
    assert spelt == [(str(p.quantity), str(p.average_price), p.label) for p in lines.positions]
    assert bulk.fingerprint() == lines.fingerprint()


def test_the_usual_book_is_read_whole_with_repeated_quantities_and_odd_prices() -> None:
    records = [
        {"symbol": f"NSE:S{n}", "quantity": n % 3, "average_price": price}
        for n, price in enumerate(["100.50", "0.0000001", "100", "-0", None, "12345678901234567.5"])
    ]
    bulk = LineReader(BookConfig("bot", "file"))
    assert bulk.add_all(records, "entry")
    lines = line_by_line(records)
    assert lines is not None
    assert bulk.positions == lines.positions
    assert bulk.fingerprint() == lines.fingerprint()
    assert [p.label for p in bulk.positions] == [f"entry {n}" for n in range(1, 7)]


def test_a_line_added_after_a_whole_read_is_in_the_fingerprint() -> None:
    config = BookConfig("bot", "file")
    reader = LineReader(config)
    assert reader.add_all([{"symbol": "A", "quantity": 1}], "entry")
    reader.add({"symbol": "B", "quantity": "2.50"}, "entry 2")
    lines = line_by_line([{"symbol": "A", "quantity": 1}, {"symbol": "B", "quantity": "2.50"}])
    assert lines is not None
    assert reader.fingerprint() == lines.fingerprint()


def test_labels_are_the_same_whether_written_now_or_kept_from_a_longer_book() -> None:
    longer = LineReader(BookConfig("bot", "file"))
    assert longer.add_all([{"symbol": f"S{n}", "quantity": 1} for n in range(5)], "entry")
    shorter = LineReader(BookConfig("bot", "file"))
    assert shorter.add_all([{"symbol": f"S{n}", "quantity": 1} for n in range(3)], "entry")
    again = LineReader(BookConfig("bot", "file"))
    assert again.add_all([{"symbol": f"S{n}", "quantity": 1} for n in range(7)], "entry")
    assert [p.label for p in shorter.positions] == ["entry 1", "entry 2", "entry 3"]
    assert [p.label for p in again.positions] == [f"entry {n}" for n in range(1, 8)]
