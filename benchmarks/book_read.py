"""Reading a 10,000-row book from SQLite and from PostgreSQL, whole read (SqlBook.read).

Then the same book with a ``change_probe`` that answers as before: the read runs the probe and
returns the last snapshot, without the query (within ``full_read_seconds``).

PostgreSQL: ``POSITION_SYNC_TEST_PG`` (default the server .ci/run starts on 127.0.0.1) with
the password in ``POSITION_SYNC_TEST_PG_PASSWORD`` (default "postgres"); skipped if unreachable.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from position_sync.app.books.sql import SqlBook
from position_sync.app.config import BookConfig
from position_sync.app.secrets import Secrets

N = 10_000
ROWS = [
    (f"NSE:SYM{i:05d}", (i % 500) + 1, f"{100 + i % 997}.{i % 100:02d}", "BUY" if i % 3 else "SELL")
    for i in range(N)
]


def timed(book: SqlBook, repeat: int = 7) -> tuple[float, int]:
    book.read(None)  # connect and warm up
    samples = []
    count = 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = len(book.read(None).positions)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), count


def sqlite_figure(directory: Path) -> None:
    path = directory / "book.db"
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE positions (symbol TEXT, quantity NUMERIC, average_price NUMERIC, side TEXT, closed_at TEXT)"
        )
        connection.executemany(
            "INSERT INTO positions (symbol, quantity, average_price, side) VALUES (?, ?, ?, ?)", ROWS
        )
    config = BookConfig(
        "bench",
        "sql",
        url=f"sqlite:///{path}",
        fields={"side": "side"},
        options={"table": "positions", "where": "closed_at IS NULL"},
    )
    seconds, count = timed(SqlBook(config, Secrets(environ={})))
    print(f"SQLite,     {count:,} rows: {seconds * 1000:7.1f} ms (median of 7)")
    probed = replace(config, options={**config.options, "change_probe": "SELECT count(*) FROM positions"})
    seconds, count = timed(SqlBook(probed, Secrets(environ={})))
    print(f"SQLite,     {count:,} rows, probe unchanged: {seconds * 1000:7.2f} ms (median of 7)")


def postgres_figure() -> None:
    url = os.environ.get("POSITION_SYNC_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    password = os.environ.get("POSITION_SYNC_TEST_PG_PASSWORD", "postgres")
    admin = create_engine(make_url(url).set(password=password))
    try:
        with admin.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS bench_book CASCADE"))
            connection.execute(text("CREATE SCHEMA bench_book"))
            connection.execute(
                text(
                    "CREATE TABLE bench_book.positions (symbol TEXT, quantity NUMERIC, average_price NUMERIC, side TEXT, status TEXT DEFAULT 'active')"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO bench_book.positions (symbol, quantity, average_price, side) VALUES (:s, :q, :p, :d)"
                ),
                [{"s": s, "q": q, "p": p, "d": d} for s, q, p, d in ROWS],
            )
    except Exception as exc:
        print(f"PostgreSQL: not reachable at {url} ({exc.__class__.__name__}); skipped")
        return
    options = {"table": "bench_book.positions", "where": "status = 'active'", "password_env": "PG_PASSWORD"}
    config = BookConfig("bench", "sql", url=url, fields={"side": "side"}, options=options)
    secrets = Secrets(environ={"PG_PASSWORD": password})
    seconds, count = timed(SqlBook(config, secrets))
    print(f"PostgreSQL, {count:,} rows: {seconds * 1000:7.1f} ms (median of 7)")
    probe = "SELECT count(*) FROM bench_book.positions"
    probed = replace(config, options={**config.options, "change_probe": probe})
    seconds, count = timed(SqlBook(probed, secrets))
    print(f"PostgreSQL, {count:,} rows, probe unchanged: {seconds * 1000:7.2f} ms (median of 7)")
    with admin.begin() as connection:
        connection.execute(text("DROP SCHEMA bench_book CASCADE"))


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        sqlite_figure(Path(directory))
    postgres_figure()


if __name__ == "__main__":
    main()
