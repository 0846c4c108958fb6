"""A SQL book with a change probe is not read again while the probe says nothing changed.

On a real SQLite file and a real PostgreSQL server. Counted, never timed: every statement the
book's engine sends is recorded (``before_cursor_execute``), and the age of the last full read
comes from a clock the test moves.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from position_sync.app.books.sql import DEFAULT_FULL_READ_SECONDS, SqlBook
from position_sync.app.config import BookConfig, parse_settings
from position_sync.app.errors import ConfigError, ReadError
from position_sync.app.secrets import Secrets
from tests.books.conftest import Database


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Sent:
    """The statements a book's engine sent, in order."""

    def __init__(self, book: SqlBook) -> None:
        self.statements: list[str] = []
        event.listen(book.engine, "before_cursor_execute", self._record)

    def _record(self, _connection: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        self.statements.append(statement)

    def count(self, statement: str | None) -> int:
        assert statement is not None
        return self.statements.count(statement)


def positions_table(db: Database, *, account: bool = False) -> str:
    t = db.table("positions")
    extra = ", acct VARCHAR(20)" if account else ""
    db.run(
        f"CREATE TABLE {t} (symbol VARCHAR(40), quantity NUMERIC(18,6), average_price NUMERIC(18,6), "
        f"updated_at INTEGER{extra})",
    )
    if account:
        db.run(
            f"INSERT INTO {t} VALUES ('NSE:INFY', 10, 1500, 1, 'A'), ('NSE:TCS', -5, 4100, 2, 'A'), "
            "('NSE:SBIN', 7, 800, 3, 'B')"
        )
    else:
        db.run(f"INSERT INTO {t} VALUES ('NSE:INFY', 10, 1500, 1), ('NSE:TCS', -5, 4100, 2)")
    return t


def probed_book(
    db: Database,
    t: str,
    probe: str | None = "counted",
    fields: dict[str, str] | None = None,
    **options: Any,
) -> tuple[SqlBook, Clock]:
    if probe == "counted":
        probe = f"SELECT count(*), max(updated_at) FROM {t}"
    settings = {"query": f"SELECT symbol, quantity, average_price FROM {t}", **options}
    if probe is not None:
        settings["change_probe"] = probe
    config = BookConfig(
        "bot", "sql", url=db.url, fields=fields or {}, options={**db.book_options(), **settings}
    )
    book = SqlBook(config, Secrets())
    clock = Clock()
    book.clock = clock
    return book, clock


def held(book: SqlBook, account: str | None = None) -> dict[str, Decimal]:
    return {p.instrument: p.quantity for p in book.read(account).positions}


def test_an_unchanged_probe_gives_the_same_snapshot_without_running_the_query(database: Database) -> None:
    book, _ = probed_book(database, positions_table(database))
    sent = Sent(book)
    first = book.read(None)
    again = book.read(None)
    assert again is first
    assert sent.count(book.query) == 1
    assert sent.count(book.change_probe) == 2
    assert {p.instrument for p in first.positions} == {"NSE:INFY", "NSE:TCS"}


def test_a_changed_probe_reads_the_rows_again(database: Database) -> None:
    t = positions_table(database)
    book, _ = probed_book(database, t)
    sent = Sent(book)
    first = book.read(None)
    database.run(f"UPDATE {t} SET quantity = 25, updated_at = 3 WHERE symbol = 'NSE:INFY'")
    changed = book.read(None)
    assert changed is not first
    assert sent.count(book.query) == 2
    assert held(book) == {"NSE:INFY": Decimal(25), "NSE:TCS": Decimal(-5)}
    assert sent.count(book.query) == 2  # the read after the change is trusted again


def test_a_probe_that_misses_a_delete_delays_it_by_at_most_full_read_seconds(database: Database) -> None:
    """``max(updated_at)`` alone does not move when a row below the newest is deleted: the old
    picture stands until the last full read is ``full_read_seconds`` old, then the rows are read
    again although the probe still answers the same."""
    t = positions_table(database)
    book, clock = probed_book(database, t, probe=f"SELECT max(updated_at) FROM {t}", full_read_seconds=30)
    sent = Sent(book)
    first = book.read(None)
    database.run(f"DELETE FROM {t} WHERE symbol = 'NSE:INFY'")
    clock.now += 29
    assert book.read(None) is first
    assert sent.count(book.query) == 1
    clock.now += 1
    assert held(book) == {"NSE:TCS": Decimal(-5)}
    assert sent.count(book.query) == 2
    assert sent.count(book.change_probe) == 3


def test_the_bound_is_counted_from_the_last_full_read(database: Database) -> None:
    book, clock = probed_book(database, positions_table(database))
    sent = Sent(book)
    book.read(None)
    clock.now += DEFAULT_FULL_READ_SECONDS - 1
    book.read(None)
    clock.now += 2  # 61 s after the full read, 2 s after the trusted one
    fresh = book.read(None)
    assert sent.count(book.query) == 2
    clock.now += DEFAULT_FULL_READ_SECONDS - 1
    assert book.read(None) is fresh
    assert sent.count(book.query) == 2


def test_full_read_seconds_zero_always_reads_in_full(database: Database) -> None:
    book, _ = probed_book(database, positions_table(database), full_read_seconds=0)
    sent = Sent(book)
    first = book.read(None)
    again = book.read(None)
    assert again is not first and again == first
    assert sent.count(book.query) == 2
    assert sent.count(book.change_probe) == 0  # never trusted, so not asked by a read
    assert book.change_token() is not None  # it still triggers syncs


def test_a_book_without_a_probe_reads_in_full_every_time(database: Database) -> None:
    book, _ = probed_book(database, positions_table(database), probe=None)
    sent = Sent(book)
    first = book.read(None)
    assert book.read(None) is not first
    assert sent.count(book.query) == 2


def test_a_failing_probe_is_a_read_error_and_is_never_answered_from_the_last_read(database: Database) -> None:
    t = positions_table(database)
    stamp = database.table("stamp")
    database.run(f"CREATE TABLE {stamp} (revision INTEGER)", f"INSERT INTO {stamp} VALUES (7)")
    book, _ = probed_book(database, t, probe=f"SELECT revision FROM {stamp}")
    sent = Sent(book)
    first = book.read(None)
    database.run(f"DROP TABLE {stamp}")
    with pytest.raises(ReadError, match="book 'bot'"):
        book.read(None)
    assert sent.count(book.query) == 1  # the rows are not read on a failed probe
    # The probe answers as before again: the failure forgot the last read, so this one is full.
    database.run(f"CREATE TABLE {stamp} (revision INTEGER)", f"INSERT INTO {stamp} VALUES (7)")
    again = book.read(None)
    assert again is not first and again == first
    assert sent.count(book.query) == 2


def test_a_failing_read_after_a_changed_probe_is_a_read_error(database: Database) -> None:
    t = positions_table(database)
    book, _ = probed_book(database, t)
    book.read(None)
    database.run(f"INSERT INTO {t} VALUES (NULL, 3, 800, 9)")
    with pytest.raises(ReadError, match="missing or empty"):
        book.read(None)
    with pytest.raises(ReadError, match="missing or empty"):  # the same probe answer: not trusted
        book.read(None)


def test_each_account_has_its_own_last_read(database: Database) -> None:
    t = positions_table(database, account=True)
    book, _ = probed_book(
        database,
        t,
        fields={"account": "acct"},
        query=f"SELECT symbol, quantity, average_price, acct FROM {t}",
    )
    sent = Sent(book)
    a = book.read("A")
    b = book.read("B")
    assert {p.instrument for p in a.positions} == {"NSE:INFY", "NSE:TCS"}
    assert {p.instrument for p in b.positions} == {"NSE:SBIN"}
    assert book.read("A") is a and book.read("B") is b
    assert sent.count(book.query) == 2


@pytest.mark.parametrize(
    ("value", "words"),
    [(-1, "must be 0 seconds or more"), ("soon", "must be a number"), (float("nan"), "finite")],
)
def test_full_read_seconds_is_checked_at_config(tmp_path: Path, value: object, words: str) -> None:
    raw = {
        "books": [
            {
                "id": "bot",
                "kind": "sql",
                "url": "sqlite:///book.db",
                "table": "positions",
                "change_probe": "SELECT max(updated_at) FROM positions",
                "full_read_seconds": value,
            }
        ],
        "accounts": [{"id": "sim", "broker": "simulated", "book": "bot", "scenario": "s.toml"}],
    }
    with pytest.raises(ConfigError, match=r"books\.bot\.full_read_seconds") as raised:
        parse_settings(raw, tmp_path / "config.toml")
    assert words in str(raised.value)


def test_full_read_seconds_is_read_from_the_config(tmp_path: Path) -> None:
    book: dict[str, Any] = {"id": "bot", "kind": "sql", "url": "sqlite:///book.db", "table": "positions"}
    raw = {
        "books": [book],
        "accounts": [{"id": "sim", "broker": "simulated", "book": "bot", "scenario": "s.toml"}],
    }
    config = parse_settings(raw, tmp_path / "config.toml").books["bot"]
    assert SqlBook(config, Secrets()).full_read_seconds == DEFAULT_FULL_READ_SECONDS
    book["full_read_seconds"] = 5
    config = parse_settings(raw, tmp_path / "config.toml").books["bot"]
    assert SqlBook(config, Secrets()).full_read_seconds == 5.0
