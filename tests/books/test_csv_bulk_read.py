"""A CSV book read a column at a time says exactly what reading it record by record says.

The record-by-record read (``csv.DictReader``, names and values stripped, blank records skipped,
each line labelled by the reader's line number) is the definition; ``reference`` below is that
read. Generated files mix what CSV books hold: Windows line ends, blank lines, quoted fields
spanning lines, a header name spelt twice or with spaces, short and long rows, empty prices, and
values that are no numbers, whose sentence must stay the same.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from position_sync.app.books import FileBook
from position_sync.app.books.rows import LineReader, RecordError
from position_sync.app.config import BookConfig
from position_sync.app.domain import BookSnapshot
from position_sync.app.errors import ReadError, ReadErrorKind

HEADERS = st.sampled_from(
    [
        ["symbol", "quantity", "average_price"],
        ["symbol", "quantity"],
        [" symbol ", "quantity", "average_price", "note"],
        ["symbol", "quantity", "symbol", "average_price"],
        ["symbol ", "quantity", "symbol", "symbol "],
        ["average_price", "symbol", "quantity"],
    ]
)
CELLS = st.one_of(
    st.sampled_from(
        ["NSE:INFY", " NSE:TCS ", "", "  ", "10", "-5", "100.50", "0.0000001", "1e3", "1,000", "x"]
    ),
    st.sampled_from(['"A,B"', '"multi\nline"', "7.10", "0", "-0.00", " 12 "]),
    st.integers(min_value=-1000, max_value=1000).map(str),
)

VALID = {
    "symbol": st.sampled_from(["NSE:INFY", " NSE:TCS ", "BTC/USDT:USDT"]),
    "quantity": st.one_of(
        st.integers(min_value=-500, max_value=500).map(str), st.sampled_from(["1.50", " 7 "])
    ),
    "average_price": st.sampled_from(["100.50", "7.10", "", "0", "-0.00", "12", "0.0000001"]),
}


def reference(text: str, config: BookConfig) -> LineReader:
    """The record-by-record read, as ``FileBook`` did it before it read columns."""
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames
    lines = LineReader(config)
    for record in reader:
        line = reader.line_num
        clean = {(k or "").strip(): (v.strip() if isinstance(v, str) else v) for k, v in record.items()}
        if not any(v for v in clean.values() if isinstance(v, str)):
            continue
        try:
            lines.add(clean, f"line {line}")
        except RecordError as exc:
            raise ReadError(ReadErrorKind.SOURCE, f"book.csv line {line}: {exc}") from None
    return lines


@st.composite
def csv_books(draw: st.DrawFn) -> str:
    header = draw(HEADERS)
    end = draw(st.sampled_from(["\n", "\r\n"]))
    rows = []
    if draw(st.booleans()):  # a well-formed book, read a column at a time
        for _ in range(draw(st.integers(min_value=1, max_value=6))):
            rows.append(",".join(draw(VALID.get(name.strip(), st.just("x"))) for name in header))
        return end.join([",".join(header), *rows]) + draw(st.sampled_from(["", end, end + end]))
    for _ in range(draw(st.integers(min_value=0, max_value=6))):
        width = len(header) + draw(st.sampled_from([0, 0, 0, 0, -1, 1]))
        row = [draw(CELLS) for _ in range(max(width, 0))]
        if draw(st.integers(min_value=0, max_value=9)) == 0:
            row = []  # a blank line
        rows.append(",".join(row))
    return end.join([",".join(header), *rows]) + draw(st.sampled_from(["", end, end + end]))


def outcome(read: object) -> tuple[str, object]:
    try:
        snapshot = read() if callable(read) else read
    except ReadError as exc:
        return "error", str(exc).split("book.csv", 1)[-1]
    if isinstance(snapshot, LineReader):
        snapshot = snapshot.snapshot()
    assert isinstance(snapshot, BookSnapshot)
    spelt = [(p.instrument, str(p.quantity), str(p.average_price), p.label) for p in snapshot.positions]
    return "read", (spelt, snapshot.fingerprint)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(csv_books())
def test_a_csv_book_read_whole_is_the_book_read_record_by_record(tmp_path: Path, text: str) -> None:
    path = tmp_path / "book.csv"
    path.write_bytes(text.encode())
    config = BookConfig("bot", "file", path=path)
    got = outcome(lambda: FileBook(config).read(None))
    expected = outcome(lambda: reference(text, config))
    assert got == expected


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ("symbol,quantity,average_price\nNSE:INFY,10,1500.50\nNSE:TCS,-5,\n", ["line 2", "line 3"]),
        ("symbol,quantity\r\nNSE:INFY,10\r\nNSE:TCS,-5\r\n\r\n", ["line 2", "line 3"]),
        ('symbol,quantity\n"NSE:INFY",10\n\nNSE:TCS,-5\n', ["line 2", "line 4"]),
    ],
)
def test_a_csv_book_labels_each_line_by_its_line(tmp_path: Path, text: str, labels: list[str]) -> None:
    """The first two are read a column at a time (an empty price, Windows line ends and blank
    lines at the end), the third record by record (a quote, a blank line inside)."""
    path = tmp_path / "book.csv"
    path.write_text(text)
    snapshot = FileBook(BookConfig("bot", "file", path=path)).read(None)
    assert [p.label for p in snapshot.positions] == labels


@pytest.mark.parametrize(
    "header", ["symbol ,quantity,symbol,symbol ", "symbol,quantity,symbol,x", " symbol,quantity,symbol , x"]
)
def test_a_header_name_spelt_twice_reads_the_column_the_record_read_reads(
    tmp_path: Path, header: str
) -> None:
    text = f"{header}\nNSE:A,1,NSE:B,NSE:C\nNSE:D,2,NSE:E,NSE:F\n"
    path = tmp_path / "book.csv"
    path.write_text(text)
    config = BookConfig("bot", "file", path=path)
    assert outcome(FileBook(config).read(None)) == outcome(reference(text, config))
