"""The SQL book on a real SQLite file and a real PostgreSQL server: each schema, read-only, errors."""

from __future__ import annotations

import hashlib
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.books.sql import SqlBook
from app.config import BookConfig
from app.errors import ConfigError, ReadError
from app.secrets import Secrets
from tests.books.conftest import PG_PASSWORD_ENV, Database


def make_book(db: Database, fields: dict[str, str] | None = None, **options: Any) -> SqlBook:
    config = BookConfig(
        "bot", "sql", url=db.url, fields=fields or {}, options={**db.book_options(), **options}
    )
    return SqlBook(config, Secrets())


def held(book: SqlBook, account: str | None = None) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for p in book.read(account).positions:
        totals[p.instrument] = totals.get(p.instrument, Decimal(0)) + p.quantity
    return totals


def test_open_rows_have_closed_at_null(database: Database) -> None:
    t = database.table("positions")
    database.run(
        f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, symbol VARCHAR(40), quantity NUMERIC(18,6), "
        "average_price NUMERIC(18,6), closed_at VARCHAR(40))",
        f"INSERT INTO {t} VALUES (1, 'NSE:INFY', 100, 1500.5, NULL), (2, 'NSE:TCS', -5, 4100, NULL), "
        f"(3, 'NSE:SBIN', 10, 800, '2026-11-20T10:00:00'), (4, 'NSE:INFY', 20, 1510, NULL)",
    )
    book = make_book(database, table=t, where="closed_at IS NULL")
    assert held(book) == {"NSE:INFY": Decimal(120), "NSE:TCS": Decimal(-5)}
    book.check()
    infy = [p for p in book.read(None).positions if p.instrument == "NSE:INFY"]
    assert [p.average_price for p in infy] == [Decimal("1500.5"), Decimal(1510)]


def test_schema_qualified_status_active_postgres(pg_database: Database) -> None:
    t = pg_database.table("positions")  # a schema of its own, like monitoring.positions
    pg_database.run(
        f"CREATE TABLE {t} (id SERIAL PRIMARY KEY, tradingsymbol TEXT, qty NUMERIC, avg NUMERIC, "
        "status TEXT, acct TEXT)",
        f"INSERT INTO {t} (tradingsymbol, qty, avg, status, acct) VALUES "
        "('NFO:NIFTY26NOVFUT', 75, 24500.25, 'active', 'AB1234'), "
        "('NFO:BANKNIFTY26NOVFUT', 35, 52100, 'closed', 'AB1234'), "
        "('NSE:INFY', 0.5, 1500, 'active', 'OTHER')",
    )
    fields = {"symbol": "tradingsymbol", "quantity": "qty", "average_price": "avg", "account": "acct"}
    book = make_book(pg_database, fields, table=t, where="status = 'active'")
    assert held(book, "AB1234") == {"NFO:NIFTY26NOVFUT": Decimal(75)}
    assert held(book, "OTHER") == {"NSE:INFY": Decimal("0.5")}


def test_unsigned_quantity_with_side_column(database: Database) -> None:
    t = database.table("trades_open")
    database.run(
        f"CREATE TABLE {t} (sym VARCHAR(40), qty REAL, px REAL, side VARCHAR(8))",
        f"INSERT INTO {t} VALUES ('AAPL', 10, 150.25, 'BUY'), ('ESZ5', 2, 5000, 'short'), ('AAPL', 4, 151, 'SELL')",
    )
    fields = {"symbol": "sym", "quantity": "qty", "average_price": "px", "side": "side"}
    book = make_book(database, fields, table=t)
    assert held(book) == {"AAPL": Decimal(6), "ESZ5": Decimal(-2)}


def test_query_instead_of_table(database: Database) -> None:
    t = database.table("fills")
    database.run(
        f"CREATE TABLE {t} (symbol VARCHAR(40), qty INTEGER, price NUMERIC(12,2))",
        f"INSERT INTO {t} VALUES ('X', 5, 10), ('X', -2, 12), ('Y', 1, 1)",
    )
    query = f"SELECT symbol, SUM(qty) AS quantity, MAX(price) AS average_price FROM {t} GROUP BY symbol"
    book = make_book(database, query=query)
    assert held(book) == {"X": Decimal(3), "Y": Decimal(1)}
    book.check()


def test_reads_never_write(database: Database) -> None:
    t = database.table("positions")
    database.run(
        f"CREATE TABLE {t} (symbol VARCHAR(40), quantity INTEGER, average_price INTEGER)",
        f"INSERT INTO {t} VALUES ('A', 1, 1)",
    )
    before = hashlib.sha1(database.path.read_bytes()).hexdigest() if database.path else None
    # A query that tries to delete: the read-only connection refuses, the account goes stale.
    if database.backend == "postgres":
        query = f"WITH gone AS (DELETE FROM {t} RETURNING *) SELECT * FROM gone"
    else:
        query = f"DELETE FROM {t} RETURNING *"
    with pytest.raises(ReadError, match=r"read-only|readonly"):
        make_book(database, query=query).read(None)
    book = make_book(database, table=t)
    for _ in range(3):
        assert held(book) == {"A": Decimal(1)}
    if database.path:
        assert hashlib.sha1(database.path.read_bytes()).hexdigest() == before


def test_missing_table_column_and_bad_query_are_stale_sentences(database: Database) -> None:
    t = database.table("positions")
    database.run(f"CREATE TABLE {t} (symbol VARCHAR(40), qty INTEGER)")
    with pytest.raises(ReadError, match=r"book 'bot' \(.*\): .*(no such table|does not exist)"):
        make_book(database, table=database.table("nope")).read(None)
    with pytest.raises(ReadError, match=r"book 'bot'.*quantity"):
        make_book(database, table=t).read(None)
    with pytest.raises(ReadError, match=r"book 'bot'.*(syntax|SELEKT)"):
        make_book(database, query="SELEKT 1").read(None)


def test_mapping_to_a_missing_column_is_a_config_error(database: Database) -> None:
    t = database.table("positions")
    database.run(f"CREATE TABLE {t} (symbol VARCHAR(40), qty INTEGER, avg INTEGER)")
    book = make_book(database, {"quantity": "qty", "average_price": "average"}, table=t)
    with pytest.raises(
        ConfigError, match=r"books\.bot\.fields\.average_price.*'average'.*\(it has: symbol, qty, avg\)"
    ):
        book.check()
    # Unreachable or missing tables are not config errors: the reads report them.
    make_book(database, table=database.table("absent")).check()


def test_connection_refused_and_bad_password(pg_database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    refused = BookConfig(
        "bot",
        "sql",
        url="postgresql+psycopg2://postgres@127.0.0.1:1/postgres",
        options={"table": "x", **pg_database.book_options()},
    )
    with pytest.raises(
        ReadError,
        match=r"book 'bot' \(postgresql\+psycopg2://postgres@127.0.0.1:1/postgres\): .*(refused|failed)",
    ):
        SqlBook(refused, Secrets()).read(None)
    monkeypatch.setenv(PG_PASSWORD_ENV, "wrong-password")
    book = make_book(pg_database, table=pg_database.table("positions"))
    with pytest.raises(ReadError, match=r"password authentication failed"):
        book.read(None)
    assert "wrong-password" not in str(book.where_text)


def test_password_never_in_the_url() -> None:
    config = BookConfig("bot", "sql", url="postgresql://u:secret@localhost/db", options={"table": "p"})
    with pytest.raises(ConfigError, match="must not hold a password"):
        SqlBook(config, Secrets())


def test_sqlite_path_relative_to_config(tmp_path: Path) -> None:
    import sqlite3

    with sqlite3.connect(tmp_path / "bot.db") as connection:
        connection.execute("CREATE TABLE positions (symbol TEXT, quantity INTEGER, average_price REAL)")
        connection.execute("INSERT INTO positions VALUES ('A', 3, 1.5)")
    config = BookConfig("bot", "sql", url="sqlite:///bot.db", options={"table": "positions"})
    book = SqlBook(config, Secrets(), tmp_path / "config.toml")
    assert [(p.instrument, p.quantity) for p in book.read(None).positions] == [("A", Decimal(3))]
    assert os.path.exists(tmp_path / "bot.db")
