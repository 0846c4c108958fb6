"""The file book: JSON and CSV layouts, field mappings, sides, sums, accounts, and clear failures."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from position_sync.app.books import FileBook, open_book
from position_sync.app.config import BookConfig, parse_settings
from position_sync.app.domain import BookSnapshot, BrokerSnapshot, Part, Position, Status
from position_sync.app.errors import ReadError, ReadErrorKind
from position_sync.app.reconcile import AccountMemory, JudgeSettings, reconcile
from position_sync.app.symbols import Resolver
from tests.conftest import T0

FIELDS = {
    "symbol": "tradingsymbol",
    "quantity": "qty",
    "average_price": "avg",
    "side": "side",
    "account": "acct",
}


def book_config(path: Path, **entry: Any) -> BookConfig:
    """A book as the config file would declare it (so ``fields`` is checked the real way)."""
    raw = {
        "books": [{"id": "bot", "kind": "file", "path": str(path), **entry}],
        "accounts": [{"id": "sim", "broker": "simulated", "book": "bot", "scenario": "s.toml"}],
    }
    return parse_settings(raw, path.parent / "config.toml").books["bot"]


def read(path: Path, account: str | None = "sim", **entry: Any) -> BookSnapshot:
    book = open_book(book_config(path, **entry))
    assert isinstance(book, FileBook)
    return book.read(account)


def quantities(snapshot: BookSnapshot) -> list[tuple[str, Decimal]]:
    return [(p.instrument, p.quantity) for p in snapshot.positions]


def read_error(path: Path, **entry: Any) -> str:
    with pytest.raises(ReadError) as caught:
        read(path, **entry)
    assert caught.value.kind is ReadErrorKind.SOURCE
    message = str(caught.value)
    assert message.startswith("book 'bot': "), message
    assert str(path) in message
    assert "\n" not in message
    return message


# -- layouts -----------------------------------------------------------------------------


def test_a_json_list(tmp_path: Path) -> None:
    path = tmp_path / "book.json"
    path.write_text(
        '[{"symbol": "NIFTY26NOVFUT", "quantity": 75, "average_price": 24500.05},'
        ' {"symbol": "NSE:INFY", "quantity": "-100"}]',
        encoding="utf-8",
    )
    snapshot = read(path)
    assert snapshot.positions == (
        Position(
            "NIFTY26NOVFUT",
            Decimal(75),
            Decimal("24500.05"),
            label="entry 1",
            symbol="NIFTY26NOVFUT",
        ),
        Position("NSE:INFY", Decimal(-100), label="entry 2", symbol="NSE:INFY"),
    )
    assert snapshot.fingerprint
    assert snapshot.modified_at is not None and snapshot.modified_at.tzinfo is not None


def test_a_json_object_with_positions(tmp_path: Path) -> None:
    path = tmp_path / "book.json"
    payload = {"updated": "now", "positions": [{"symbol": "BTCUSDT", "quantity": 0.1}]}
    path.write_text(json.dumps(payload), encoding="utf-8")
    snapshot = read(path)
    assert quantities(snapshot) == [("BTCUSDT", Decimal("0.1"))]
    assert str(snapshot.positions[0].quantity) == "0.1"  # parsed exactly, not via a float


def test_the_fingerprint_follows_the_content(tmp_path: Path) -> None:
    path = tmp_path / "book.json"
    path.write_text('[{"symbol": "A", "quantity": 1}]', encoding="utf-8")
    first = read(path).fingerprint
    assert read(path).fingerprint == first
    path.write_text('[{"symbol": "A", "quantity": 2}]', encoding="utf-8")
    assert read(path).fingerprint != first


def test_a_csv_with_header(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_text(
        "symbol,quantity,average_price\n"
        "NIFTY26NOVFUT,75,24500\n"
        "\n"
        'NSE:INFY,"-1,000",1500.50\n'
        " NSE:TCS , 5 , \n",
        encoding="utf-8",
    )
    snapshot = read(path)
    assert quantities(snapshot) == [
        ("NIFTY26NOVFUT", Decimal(75)),
        ("NSE:INFY", Decimal(-1000)),
        ("NSE:TCS", Decimal(5)),
    ]
    assert [p.label for p in snapshot.positions] == ["line 2", "line 4", "line 5"]
    assert snapshot.positions[1].average_price == Decimal("1500.50")
    assert snapshot.positions[2].average_price is None


def test_a_csv_with_a_byte_order_mark_and_a_declared_format(tmp_path: Path) -> None:
    path = tmp_path / "book.txt"
    path.write_bytes("\ufeffsymbol,quantity\nNSE:TCS,50\n".encode())
    assert quantities(read(path, format="csv")) == [("NSE:TCS", Decimal(50))]


@pytest.mark.parametrize(
    ("side", "quantity", "signed"),
    [
        ("BUY", "75", Decimal(75)),
        ("SELL", "75", Decimal(-75)),
        ("long", "2", Decimal(2)),
        ("short", "2", Decimal(-2)),
        ("Sell", "-3", Decimal(-3)),
        ("ASK", "0.1", Decimal("-0.1")),  # a DEX dashboard's order-book sides
        ("BID", "0.1", Decimal("0.1")),
        ("ask", "0.1", Decimal("-0.1")),
    ],
)
def test_a_side_column_signs_unsigned_quantities(
    tmp_path: Path, side: str, quantity: str, signed: Decimal
) -> None:
    path = tmp_path / "book.csv"
    path.write_text(
        f"tradingsymbol,qty,avg,side,acct\nNIFTY26NOVFUT,{quantity},24500,{side},sim\n", encoding="utf-8"
    )
    [position] = read(path, fields=FIELDS).positions
    assert position.quantity == signed
    assert position.average_price == Decimal(24500)
    assert position.instrument == "NIFTY26NOVFUT"


def test_a_fields_mapping_in_json(tmp_path: Path) -> None:
    path = tmp_path / "book.json"
    records = [
        {"tradingsymbol": "BANKNIFTY26NOVFUT", "qty": 35, "avg": "52100", "side": "SELL", "acct": "sim"},
        {"tradingsymbol": "NSE:SBIN", "qty": 100, "avg": 812, "side": "BUY", "acct": "sim"},
    ]
    path.write_text(json.dumps(records), encoding="utf-8")
    snapshot = read(path, fields=FIELDS)
    assert quantities(snapshot) == [("BANKNIFTY26NOVFUT", Decimal(-35)), ("NSE:SBIN", Decimal(100))]


def test_several_rows_of_one_instrument_are_summed_with_their_breakdown(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_text(
        "tradingsymbol,qty,avg,side,acct,strategy\n"
        "NIFTY26NOVFUT,50,24480,BUY,sim,trend\n"
        "NSE:INFY,100,1500,BUY,sim,swing\n"
        "NIFTY26NOVFUT,25,24540,BUY,sim,\n"
        "NIFTY26NOVFUT,10,24600,SELL,sim,hedge\n",
        encoding="utf-8",
    )
    fields = {**FIELDS, "label": "strategy"}
    snapshot = read(path, fields=fields)
    assert [p.label for p in snapshot.positions] == ["trend", "swing", "line 4", "hedge"]

    resolver = Resolver(exchange="NFO")
    book = BookSnapshot(tuple(resolver.key_book(snapshot.positions)), snapshot.fingerprint)
    broker = BrokerSnapshot(
        tuple(
            resolver.key_broker(
                [
                    Position("NIFTY26NOVFUT", Decimal(65), Decimal("24511.76"), label="NRML"),
                    Position("NSE:INFY", Decimal(100), Decimal(1500), label="CNC"),
                ]
            )
        )
    )
    result = reconcile("sim", broker, book, AccountMemory("sim"), JudgeSettings(), T0)
    row = result.rows["NFO:NIFTY26NOVFUT"]
    assert row.local_qty == Decimal(65)
    assert row.status is Status.MATCH
    assert row.local_parts == (
        Part("trend", Decimal(50), Decimal(24480)),
        Part("line 4", Decimal(25), Decimal(24540)),
        Part("hedge", Decimal(-10), Decimal(24600)),
    )


def test_only_the_account_s_own_rows_count(tmp_path: Path) -> None:
    path = tmp_path / "book.json"
    records = [
        {"tradingsymbol": "NSE:TCS", "qty": 5, "side": "BUY", "acct": "sim"},
        {"tradingsymbol": "NSE:TCS", "qty": 7, "side": "BUY", "acct": "AB1234"},
        {"tradingsymbol": "NSE:SBIN", "qty": 9, "side": "SELL", "acct": " AB1234 "},
        {"tradingsymbol": "NSE:WIPRO", "qty": "oops", "side": "BUY", "acct": "elsewhere"},
    ]
    path.write_text(json.dumps(records), encoding="utf-8")
    assert quantities(read(path, account="sim", fields=FIELDS)) == [("NSE:TCS", Decimal(5))]
    assert quantities(read(path, account="AB1234", fields=FIELDS)) == [
        ("NSE:TCS", Decimal(7)),
        ("NSE:SBIN", Decimal(-9)),
    ]
    assert quantities(read(path, account="nobody", fields=FIELDS)) == []


def test_an_empty_book_is_an_empty_read_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "book.json"
    path.write_text('{"positions": []}', encoding="utf-8")
    assert read(path).positions == ()
    csv_path = tmp_path / "book.csv"
    csv_path.write_text("symbol,quantity\n", encoding="utf-8")
    assert read(csv_path).positions == ()


# -- failures: a failed read must never look like an empty book -------------------------


def test_a_missing_file(tmp_path: Path) -> None:
    message = read_error(tmp_path / "nowhere" / "book.json")
    assert "file not found" in message


def test_a_bad_json_line(tmp_path: Path) -> None:
    path = tmp_path / "book.json"
    path.write_text('{"positions": [\n  {"symbol": "A", "quantity": 1},\n  {"symbol": "B" "quantity": 2}\n]}')
    message = read_error(path)
    assert "line 3" in message
    assert "not valid JSON" in message


def test_a_half_written_json_file(tmp_path: Path) -> None:
    path = tmp_path / "book.json"
    path.write_text('{"positions": [{"symbol": "A", "quantity": 1},', encoding="utf-8")
    assert "not valid JSON" in read_error(path)


def test_a_non_numeric_quantity_in_json_names_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "book.json"
    path.write_text(
        json.dumps(
            {"positions": [{"symbol": "A", "quantity": 1}, {"symbol": "NSE:TCS", "quantity": "fifty"}]}
        )
    )
    message = read_error(path)
    assert "positions[1]" in message
    assert "'quantity' 'fifty' of NSE:TCS is not a number" in message


def test_an_entry_of_a_json_list_is_named_by_its_index(tmp_path: Path) -> None:
    path = tmp_path / "book.json"
    path.write_text(json.dumps([{"symbol": "A", "quantity": 1}, {"symbol": "B", "quantity": None}]))
    message = read_error(path)
    assert "[1]" in message and "positions[1]" not in message  # a bare list has no 'positions' key
    assert "'quantity' is missing for B" in message


def test_a_non_numeric_quantity_in_csv_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_text("symbol,quantity\nA,1\nB,2\nNSE:TCS,1O\n", encoding="utf-8")
    message = read_error(path)
    assert "line 4" in message
    assert "'quantity' '1O' of NSE:TCS is not a number" in message


def test_a_bad_side_value(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_text(
        "tradingsymbol,qty,avg,side,acct\nX,1,1,BUY,sim\nNSE:TCS,5,1,HOLD,sim\n", encoding="utf-8"
    )
    message = read_error(path, fields=FIELDS)
    assert "line 3" in message
    assert "'side' 'HOLD' of NSE:TCS is not BUY/SELL, long/short or BID/ASK" in message


def test_a_missing_side_value_in_json(tmp_path: Path) -> None:
    path = tmp_path / "book.json"
    path.write_text(json.dumps([{"tradingsymbol": "NSE:TCS", "qty": 5, "acct": "sim"}]))
    message = read_error(path, fields=FIELDS)
    assert "[0]" in message and "'side'" in message


def test_a_csv_missing_the_quantity_column(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_text("tradingsymbol,avg,side,acct\nNSE:TCS,1,BUY,sim\n", encoding="utf-8")
    message = read_error(path, fields=FIELDS)
    assert "line 1" in message
    assert "no 'qty' column" in message


def test_an_empty_csv(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_text("", encoding="utf-8")
    assert "needs a header line" in read_error(path)


def test_a_json_document_of_the_wrong_shape(tmp_path: Path) -> None:
    path = tmp_path / "book.json"
    path.write_text('{"rows": []}', encoding="utf-8")
    assert "'positions' list" in read_error(path)
    path.write_text("[1, 2]", encoding="utf-8")
    assert "must be an object" in read_error(path)


def test_a_file_that_is_not_text(tmp_path: Path) -> None:
    path = tmp_path / "book.json"
    path.write_bytes(b"\xff\xfe\x00\x81garbage")
    assert "not UTF-8" in read_error(path)


def test_a_symbol_missing(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_text("symbol,quantity\n,5\n", encoding="utf-8")
    message = read_error(path)
    assert "line 2" in message and "'symbol' is missing" in message


def test_a_bad_entry_of_a_json_book_is_named_by_its_line(tmp_path: Path) -> None:
    path = tmp_path / "book.json"
    document = {
        "generated_at": "2026-11-20T09:15:00Z",
        "strategies": {"a": [1, 2, {"positions": "not these"}]},
        "positions": [
            {"symbol": "NSE:INFY", "quantity": 100},
            {"symbol": "NSE:TCS", "quantity": "abc", "note": '[{,}] "quoted"'},
        ],
    }
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    lines = path.read_text().splitlines()
    expected = next(n for n, line in enumerate(lines, 1) if '"NSE:TCS"' in line) - 1  # the entry's "{"
    assert lines[expected - 1].strip() == "{"
    message = read_error(path)
    assert f"book.json line {expected} (positions[1]): 'quantity' 'abc' of NSE:TCS is not a number" in message
    # A bare list, its entries on one line each.
    path.write_text('[\n{"symbol": "A", "quantity": 1},\n\n{"symbol": "B", "quantity": null}\n]\n')
    assert "book.json line 4 ([1]): 'quantity' is missing for B" in read_error(path)
    # A list under another key, on the first line.
    path.write_text('{"rows": [{"symbol": "A", "quantity": "x"}]}')
    assert "book.json line 1 (rows[0])" in read_error(path, list_key="rows")


def test_the_fingerprint_is_of_the_positions_not_the_bytes(tmp_path: Path) -> None:
    """A rewrite with a new stamp, other spacing or order is no change; a new quantity is."""
    path = tmp_path / "book.json"
    lines = [{"symbol": "A", "quantity": 1, "average_price": 10}, {"symbol": "B", "quantity": -2}]
    path.write_text(json.dumps({"generated_at": "09:15:00", "positions": lines}))
    book = open_book(book_config(path))
    assert isinstance(book, FileBook)
    first, token = book.read("sim").fingerprint, book.change_token()
    path.write_text(json.dumps({"positions": list(reversed(lines)), "generated_at": "09:15:01"}, indent=4))
    assert book.read("sim").fingerprint == first
    assert book.change_token() == token is not None
    path.write_text(json.dumps({"positions": [{**lines[0], "quantity": "1.0"}, lines[1]]}))
    assert book.read("sim").fingerprint == first  # 1 and 1.0 are one quantity
    path.write_text(json.dumps({"positions": [{**lines[0], "quantity": 3}, lines[1]]}))
    assert book.read("sim").fingerprint != first
    assert book.change_token() != token
