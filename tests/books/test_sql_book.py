"""The SQL book on a real SQLite file and a real PostgreSQL server: each schema, read-only, errors."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from position_sync.app.books import sql as sql_book
from position_sync.app.books.sql import SqlBook
from position_sync.app.config import BookConfig, parse_settings
from position_sync.app.errors import ConfigError, ReadError
from position_sync.app.secrets import Secrets
from position_sync.cli import main
from tests.books.conftest import PG_PASSWORD_ENV, Database

REPO = Path(__file__).resolve().parents[2]


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


def test_status_active_in_a_schema_qualified_table(database: Database) -> None:
    """``monitoring.positions`` with ``status = 'active'``: a schema of its own on PostgreSQL, a
    plain table on SQLite (which has no schemas)."""
    t = database.table("positions")
    key = "SERIAL PRIMARY KEY" if database.backend == "postgres" else "INTEGER PRIMARY KEY"
    database.run(
        f"CREATE TABLE {t} (id {key}, tradingsymbol TEXT, qty NUMERIC, avg NUMERIC, status TEXT, acct TEXT)",
        f"INSERT INTO {t} (tradingsymbol, qty, avg, status, acct) VALUES "
        "('NFO:NIFTY26NOVFUT', 75, 24500.25, 'active', 'AB1234'), "
        "('NFO:BANKNIFTY26NOVFUT', 35, 52100, 'closed', 'AB1234'), "
        "('NSE:INFY', 0.5, 1500, 'active', 'OTHER')",
    )
    fields = {"symbol": "tradingsymbol", "quantity": "qty", "average_price": "avg", "account": "acct"}
    book = make_book(database, fields, table=t, where="status = 'active'")
    assert held(book, "AB1234") == {"NFO:NIFTY26NOVFUT": Decimal(75)}
    assert held(book, "OTHER") == {"NSE:INFY": Decimal("0.5")}
    book.check()


def test_unsigned_quantity_with_side_column(database: Database) -> None:
    t = database.table("trades_open")
    database.run(
        f"CREATE TABLE {t} (sym VARCHAR(40), qty REAL, px REAL, side VARCHAR(8))",
        f"INSERT INTO {t} VALUES ('AAPL', 10, 150.25, 'BUY'), ('ESZ5', 2, 5000, 'short'), ('AAPL', 4, 151, 'SELL')",
    )
    fields = {"symbol": "sym", "quantity": "qty", "average_price": "px", "side": "side"}
    book = make_book(database, fields, table=t)
    assert held(book) == {"AAPL": Decimal(6), "ESZ5": Decimal(-2)}
    book.check()


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


# -- a book is never written: one statement, read-only sessions, even past the config check --


def positions_table(db: Database) -> str:
    t = db.table("positions")
    db.run(
        f"CREATE TABLE {t} (symbol VARCHAR(40), quantity INTEGER, average_price INTEGER)",
        f"INSERT INTO {t} VALUES ('A', 1, 1), ('B', 2, 2)",
    )
    return t


def count(db: Database, table: str) -> int:
    with db.admin.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def smuggling(table: str) -> dict[str, str]:
    """What the audit ran: a read, a COMMIT ending the read-only transaction, then a DELETE."""
    return {
        "query": f"SELECT symbol, quantity, average_price FROM {table}; COMMIT; DELETE FROM {table}",
        "where": f"1 = 1; COMMIT; DELETE FROM {table}",
        "change_probe": f"SELECT count(*) FROM {table}; COMMIT; DELETE FROM {table}",
    }


@pytest.mark.parametrize("key", ["query", "where", "change_probe"])
def test_a_second_statement_is_refused_at_config(database: Database, tmp_path: Path, key: str) -> None:
    t = positions_table(database)
    entry: dict[str, Any] = {"id": "bot", "kind": "sql", "url": database.url, **database.book_options()}
    if key != "query":
        entry["table"] = t
    entry[key] = smuggling(t)[key]
    raw = {"books": [entry], "accounts": [{"id": "sim", "broker": "simulated", "book": "bot"}]}
    expected = rf"'books\.bot\.{key}' must be one SQL statement: a ';' may only end it"
    with pytest.raises(ConfigError, match=expected):
        parse_settings(raw, tmp_path / "config.toml")
    # A book built without the config file refuses it too.
    options = {k: v for k, v in entry.items() if k not in ("id", "kind", "url")}
    with pytest.raises(ConfigError, match=rf"books\.bot\.{key}.*one SQL statement"):
        SqlBook(BookConfig("bot", "sql", url=database.url, options=options), Secrets())
    assert count(database, t) == 2


def test_sync_once_exits_3_naming_the_statement(database: Database, tmp_path: Path) -> None:
    t = positions_table(database)
    (tmp_path / "scenario.toml").write_text("[[steps]]\npositions = []\n")
    password = f'password_env = "{PG_PASSWORD_ENV}"\n' if database.backend == "postgres" else ""
    query = smuggling(t)["query"]
    config = tmp_path / "config.toml"
    config.write_text(
        f'[[books]]\nid = "bot"\nkind = "sql"\nurl = "{database.url}"\nquery = "{query}"\n{password}\n'
        '[[accounts]]\nid = "sim"\nbroker = "simulated"\nscenario = "scenario.toml"\nbook = "bot"\n'
    )
    assert main(["--config", str(config), "--data-dir", str(tmp_path / "data"), "sync", "--once"]) == 3
    assert count(database, t) == 2


def test_one_trailing_semicolon_is_fine(database: Database, tmp_path: Path) -> None:
    t = positions_table(database)
    book = make_book(database, query=f"SELECT symbol, quantity, average_price FROM {t} ;  \n")
    book.check()
    assert held(book) == {"A": Decimal(1), "B": Decimal(2)}
    assert book.query is not None and not book.query.endswith(";")


def test_bypassing_the_config_check_a_read_still_cannot_write(database: Database) -> None:
    """Even if a second statement got past the check, the session itself is read-only.

    On PostgreSQL the COMMIT ends the transaction begun with ``SET TRANSACTION READ ONLY``; the
    DELETE after it runs in a new one, and only ``default_transaction_read_only`` refuses it.
    SQLite's driver runs one statement at a time and the file is opened ``mode=ro``.
    """
    t = positions_table(database)
    book = make_book(database, query=f"SELECT symbol, quantity, average_price FROM {t}")
    book.query = smuggling(t)["query"]  # constructed directly, past both checks
    with pytest.raises(ReadError, match=r"read-only|one statement at a time|readonly"):
        book.read(None)
    book.change_probe = smuggling(t)["change_probe"]
    assert book.change_token() is None
    assert count(database, t) == 2
    book.close()


def test_postgres_book_sessions_are_read_only(pg_database: Database) -> None:
    t = positions_table(pg_database)
    book = make_book(pg_database, table=t)
    with book.engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW default_transaction_read_only").scalar() == "on"
        connection.exec_driver_sql("COMMIT")
        with pytest.raises(DBAPIError, match="read-only transaction"):
            connection.exec_driver_sql(f"DELETE FROM {t}")
    assert count(pg_database, t) == 2
    book.close()


# -- mapped columns are checked as the read will use them ---------------------------------


def test_a_column_differing_only_in_case(database: Database) -> None:
    """PostgreSQL's quoted identifiers are case-sensitive: ``"Symbol"`` is not ``symbol``."""
    t = positions_table(database)
    book = make_book(database, {"symbol": "Symbol"}, table=t)
    if database.backend == "postgres":
        with pytest.raises(
            ConfigError, match=r"books\.bot\.fields\.symbol' names column 'Symbol'.*write 'symbol'"
        ):
            book.check()
        with pytest.raises(ReadError, match="Symbol"):
            book.read(None)  # what the check foresaw
    else:
        book.check()  # SQLite compares column names without case, and so does its read
        assert held(book) == {"A": Decimal(1), "B": Decimal(2)}


def test_a_query_ending_in_a_semicolon_is_still_checked(database: Database) -> None:
    """A query's rows are looked up by the exact names its result carries, on every database."""
    t = positions_table(database)
    book = make_book(
        database, {"symbol": "Symbol"}, query=f"SELECT symbol, quantity, average_price FROM {t};"
    )
    with pytest.raises(
        ConfigError, match=r"books\.bot\.fields\.symbol' names column 'Symbol', which the query"
    ):
        book.check()


def test_sync_once_exits_3_naming_a_column_of_another_case(
    pg_database: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t = positions_table(pg_database)
    (tmp_path / "scenario.toml").write_text("[[steps]]\npositions = []\n")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[[books]]\nid = "bot"\nkind = "sql"\nurl = "{pg_database.url}"\ntable = "{t}"\n'
        f'password_env = "{PG_PASSWORD_ENV}"\nfields = {{ symbol = "Symbol" }}\n\n'
        '[[accounts]]\nid = "sim"\nbroker = "simulated"\nscenario = "scenario.toml"\nbook = "bot"\n'
    )
    assert main(["--config", str(config), "--data-dir", str(tmp_path / "d"), "sync", "--once"]) == 3
    assert "'books.bot.fields.symbol' names column 'Symbol'" in capsys.readouterr().err


# -- passwords and unreachable servers ----------------------------------------------------


def test_an_unset_password_variable_is_named(pg_database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    t = positions_table(pg_database)
    monkeypatch.delenv(PG_PASSWORD_ENV)
    book = make_book(pg_database, table=t)
    with pytest.raises(
        ReadError, match=rf"book 'bot' \(.*\): environment variable {PG_PASSWORD_ENV} is not set"
    ) as caught:
        book.read(None)
    assert "fe_sendauth" not in str(caught.value)
    book.check()  # a read failure, not a configuration error: left to the reads
    assert book.change_token() is None


def test_an_unanswering_server_cannot_stall_the_config_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that accepts the connection and never answers: the check gives up, it does not hang."""
    monkeypatch.setattr(sql_book, "CONNECT_TIMEOUT", 2)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # the kernel completes the handshake; nothing ever answers
        port = listener.getsockname()[1]
        config = BookConfig(
            "bot",
            "sql",
            url=f"postgresql+psycopg2://127.0.0.1:{port}/trading",
            options={"table": "positions"},
        )
        book = SqlBook(config, Secrets(environ={}))
        done = threading.Event()

        def check() -> None:
            book.check()
            done.set()

        threading.Thread(target=check, daemon=True).start()
        assert done.wait(60), "the config check is still waiting for a server that never answers"
        book.close()


def test_a_named_test_server_that_is_unreachable_fails_rather_than_skips(tmp_path: Path) -> None:
    """``.ci/run`` names its server in POSITION_SYNC_TEST_PG: if it is not there, tests fail."""
    probe = tmp_path / "test_probe.py"
    probe.write_text(
        "from tests.conftest import pg_admin  # noqa: F401\n\n\ndef test_needs_pg(pg_admin):\n    pass\n"
    )
    environ = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTHONWARNINGS")}
    environ["POSITION_SYNC_TEST_PG"] = "postgresql+psycopg2://postgres@127.0.0.1:1/postgres"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(probe)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=environ,
        timeout=120,
    )
    assert run.returncode == 1, run.stdout
    assert run.stdout.rstrip().splitlines()[-1].startswith("1 error")  # not "1 skipped"
    assert "PostgreSQL is not reachable" in run.stdout
