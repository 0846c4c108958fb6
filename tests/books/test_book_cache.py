"""An unchanged book (file or HTTP) is not parsed again, and caching never hides a change.

Counted, not timed: ``FileBook.parses`` counts the reads that had to parse the file.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from position_sync.app.books import FileBook, open_book
from position_sync.app.books.http import HttpBook
from position_sync.app.books.rows import LineReader
from position_sync.app.config import BookConfig, parse_settings
from position_sync.app.errors import ReadError
from position_sync.app.secrets import Secrets


def file_book(path: Path, **entry: Any) -> FileBook:
    raw = {
        "books": [{"id": "bot", "kind": "file", "path": str(path), **entry}],
        "accounts": [{"id": "sim", "broker": "simulated", "book": "bot", "scenario": "s.toml"}],
    }
    book = open_book(parse_settings(raw, path.parent / "config.toml").books["bot"])
    assert isinstance(book, FileBook)
    return book


def write(path: Path, positions: list[dict[str, Any]], mtime_ns: int | None = None) -> None:
    path.write_text(json.dumps({"positions": positions}), encoding="utf-8")
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))


def test_an_unchanged_file_is_not_parsed_again_and_gives_the_same_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "book.json"
    write(path, [{"symbol": "NSE:INFY", "quantity": 10, "average_price": "1500.5"}])
    book = file_book(path)
    first = book.read("sim")
    again = book.read("sim")
    assert again is first
    assert book.parses == 1
    # The watcher's probe of the same bytes shares the parse (no account column).
    assert book.change_token() == first.fingerprint
    assert book.parses == 1


def test_a_rewrite_with_the_same_size_and_time_is_still_a_change(tmp_path: Path) -> None:
    """Within the file system's time granularity a rewrite can keep size and mtime: the content
    hash still tells it apart."""
    path = tmp_path / "book.json"
    stamp = 1_700_000_000_000_000_000
    write(path, [{"symbol": "NSE:INFY", "quantity": 10}], stamp)
    book = file_book(path)
    before = book.read("sim")
    write(path, [{"symbol": "NSE:INFY", "quantity": 20}], stamp)
    assert path.stat().st_size == len(json.dumps({"positions": [{"symbol": "NSE:INFY", "quantity": 10}]}))
    after = book.read("sim")
    assert book.parses == 2
    assert [p.quantity for p in after.positions] == [Decimal(20)]
    assert after.fingerprint != before.fingerprint


def test_a_touched_file_is_read_again_with_its_new_time(tmp_path: Path) -> None:
    path = tmp_path / "book.json"
    write(path, [{"symbol": "NSE:INFY", "quantity": 10}], 1_700_000_000_000_000_000)
    book = file_book(path)
    before = book.read("sim")
    os.utime(path, ns=(1_700_000_100_000_000_000,) * 2)
    after = book.read("sim")
    assert book.parses == 2
    assert after.fingerprint == before.fingerprint
    assert after.modified_at is not None and before.modified_at is not None
    assert after.modified_at > before.modified_at


def test_a_broken_file_after_a_good_one_fails_and_the_good_one_comes_back_parsed(tmp_path: Path) -> None:
    """A failed read is never answered from the cache (safety rule 1)."""
    path = tmp_path / "book.json"
    write(path, [{"symbol": "NSE:INFY", "quantity": 10}])
    book = file_book(path)
    good = book.read("sim")
    path.write_text('{"positions": [{"symbol": "NSE:INFY", "quantity": 1', encoding="utf-8")
    with pytest.raises(ReadError):
        book.read("sim")
    path.unlink()
    with pytest.raises(ReadError):
        book.read("sim")
    write(path, [{"symbol": "NSE:INFY", "quantity": 10}])
    assert book.read("sim").positions == good.positions


def test_each_account_of_a_book_with_an_account_column_has_its_own_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "book.json"
    write(
        path,
        [
            {"symbol": "NSE:INFY", "quantity": 10, "acct": "a"},
            {"symbol": "NSE:TCS", "quantity": 5, "acct": "b"},
        ],
    )
    book = file_book(path, fields={"account": "acct"})
    a = book.read("a")
    b = book.read("b")
    assert [p.instrument for p in a.positions] == ["NSE:INFY"]
    assert [p.instrument for p in b.positions] == ["NSE:TCS"]
    assert book.read("a") is a and book.read("b") is b
    assert book.parses == 2


def test_the_bulk_read_and_the_line_by_line_read_agree(tmp_path: Path) -> None:
    """The usual book is read in bulk; one odd line makes the whole book go line by line, and
    both give the same positions, labels and fingerprint."""
    usual = [{"symbol": f"NSE:S{i}", "quantity": i + 1, "average_price": f"{i}.50"} for i in range(5)]
    odd = [*usual[:4], {**usual[4], "symbol": 12345}]  # a number as symbol: read by the slow path
    path = tmp_path / "usual.json"
    write(path, usual)
    bulk = file_book(path).read("sim")
    path2 = tmp_path / "odd.json"
    write(path2, odd)
    slow = file_book(path2).read("sim")
    assert [p.label for p in bulk.positions] == [f"entry {i}" for i in range(1, 6)]
    assert bulk.positions[:4] == slow.positions[:4]
    assert slow.positions[4].instrument == "12345"
    usual[4]["symbol"] = "12345"
    write(path, usual)
    assert file_book(path).read("sim").fingerprint == slow.fingerprint


class ValidatingServer:
    """Serves a JSON body with an ``ETag``; answers 304 to a matching ``If-None-Match``."""

    def __init__(self) -> None:
        self.body = b"[]"
        self.etag = '"v1"'
        self.statuses: list[int] = []
        self.conditional: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                asked = self.headers.get("If-None-Match")
                server.conditional.append(asked)
                if asked == server.etag:
                    server.statuses.append(304)
                    self.send_response(304)
                    self.end_headers()
                    return
                server.statuses.append(200)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("ETag", server.etag)
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/positions"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def validating() -> Iterator[ValidatingServer]:
    server = ValidatingServer()
    yield server
    server.close()


def test_an_http_book_asks_whether_its_last_answer_holds_and_parses_only_a_new_one(
    validating: ValidatingServer,
) -> None:
    validating.body = json.dumps([{"symbol": "NSE:INFY", "quantity": 10}]).encode()
    book = HttpBook(BookConfig("svc", "http", url=validating.url), Secrets(environ={}))
    first = book.read(None)
    again = book.read(None)
    assert validating.statuses == [200, 304]
    assert validating.conditional == [None, '"v1"']
    assert again is first and book.parses == 1
    # A new answer (new ETag) is fetched whole and parsed.
    validating.body = json.dumps([{"symbol": "NSE:INFY", "quantity": 20}]).encode()
    validating.etag = '"v2"'
    changed = book.read(None)
    assert validating.statuses[-1] == 200 and book.parses == 2
    assert [p.quantity for p in changed.positions] == [Decimal(20)]
    # The same body served again without validators is not parsed again either.
    assert book.read(None) is changed


def test_an_http_book_that_fails_is_never_answered_from_its_cache(validating: ValidatingServer) -> None:
    validating.body = json.dumps([{"symbol": "NSE:INFY", "quantity": 10}]).encode()
    book = HttpBook(BookConfig("svc", "http", url=validating.url), Secrets(environ={}))
    book.read(None)
    validating.etag = '"v2"'
    validating.body = b'[{"symbol": "NSE:INFY", "quantity": '
    with pytest.raises(ReadError):
        book.read(None)


ODD_COLUMNS = [
    [
        {"symbol": "A", "quantity": 1, "average_price": "1.50"},
        {"symbol": "B", "quantity": 0, "average_price": None},
    ],
    [{"symbol": "A", "quantity": "0.000", "average_price": "-0"}, {"symbol": " B ", "quantity": "1_000"}],
    [{"symbol": "A", "quantity": "1e3"}],
    [{"symbol": "A", "quantity": "1,000", "average_price": "2.50"}],
    [{"symbol": "A", "quantity": Decimal("2.50")}],
]


@pytest.mark.parametrize("records", ODD_COLUMNS)
def test_a_column_read_whole_gives_what_reading_line_by_line_gives(records: list[dict[str, Any]]) -> None:
    config = BookConfig("bot", "file")
    bulk = LineReader(config)
    whole = bulk.add_all(records, "entry")
    lines = LineReader(config)
    for number, record in enumerate(records, 1):
        lines.add(record, f"entry {number}")
    if whole:
        assert bulk.positions == lines.positions
        assert [str(p.quantity) for p in bulk.positions] == [str(p.quantity) for p in lines.positions]
    assert (bulk if whole else lines).fingerprint() == lines.fingerprint()


@pytest.mark.parametrize("quantity", [True, "nan", 10**18, "9" * 19, "", None])
def test_a_bad_number_in_a_column_is_left_to_the_line_by_line_read(quantity: object) -> None:
    reader = LineReader(BookConfig("bot", "file"))
    assert not reader.add_all(
        [{"symbol": "A", "quantity": 1}, {"symbol": "B", "quantity": quantity}], "entry"
    )
    assert reader.positions == []
