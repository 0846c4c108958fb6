"""Fault matrix, blocking books: a read that would block is stale on time, and nothing hangs.

Each case runs ``sync --once`` with a 1 s account timeout against a book that blocks: a FIFO
where the book file was, an HTTP server dribbling a byte every half second, a PostgreSQL book
table locked by another connection. The faulted run must hold (safety rule 1) and return within
the timeout plus a few seconds, where it used to hang far past the sentence that said ``stale``.
In process, the sync itself always gave up on time; what hung was the read left behind (and the
exit waiting for it), so each case also checks that no read is still running once the timeout
and a few seconds have passed, with the fault still in place.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.books.conftest import Database, pg_database  # noqa: F401  (the fixture, for the PG case)
from tests.conftest import pg_url_with_password, toml_table, write_book, write_scenario
from tests.fakes.dribble_server import DribbleServer
from tests.faults.harness import SETTING_IDS, account_settings, assert_fault_held, assert_good, sync_once

POSITIONS = [
    {"symbol": "NIFTY25NOVFUT", "quantity": 75, "average_price": 24000},
    {"symbol": "BANKNIFTY25NOVFUT", "quantity": -35, "average_price": 51000},
    {"symbol": "FINNIFTY25NOVFUT", "quantity": 40, "average_price": 23000},
]
INSTRUMENTS = {f"NFO:{p['symbol']}" for p in POSITIONS}
TIMEOUT = 1
# A hang check, not a benchmark: the faulted run returns within the timeout and a few seconds.
SLACK = 5.0

# The fault, held (a FIFO in place, the server dribbling, the table locked) while it is entered.
Fault = Callable[[], AbstractContextManager[None]]


def _write_config(root: Path, book: dict[str, Any], setting: str) -> Path:
    write_scenario(root / "scenario.toml", [{"positions": POSITIONS}])
    account = {
        "id": "sim",
        "broker": "simulated",
        "scenario": "scenario.toml",
        "book": "bot",
        "exchange": "NFO",
        "timeout": TIMEOUT,
        **account_settings(setting),
    }
    config = root / "config.toml"
    config.write_text(
        toml_table("[[books]]", {"id": "bot", **book}) + "\n" + toml_table("[[accounts]]", account)
    )
    return config


def _fifo_book(root: Path) -> tuple[dict[str, Any], Fault]:
    book = write_book(root / "book.json", POSITIONS)

    @contextmanager
    def fault() -> Iterator[None]:
        book.unlink()
        os.mkfifo(book)  # opened for reading, it would wait for a writer that never comes
        yield

    return {"kind": "file", "path": "book.json"}, fault


@pytest.fixture
def dribble() -> Iterator[DribbleServer]:
    server = DribbleServer(POSITIONS)
    yield server
    server.stop()


def _book_reads_running() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("position-sync-books")]


def _run(
    root: Path,
    book: dict[str, Any],
    fault: Fault,
    setting: str,
    capsys: pytest.CaptureFixture[str],
    words: str,
) -> None:
    config = _write_config(root, book, setting)
    data_dir = root / "data"
    good = sync_once(config, data_dir, capsys)
    assert_good(good, "sim", INSTRUMENTS)
    with fault():
        started = time.monotonic()
        faulted = sync_once(config, data_dir, capsys)
        elapsed = time.monotonic() - started
        while _book_reads_running() and time.monotonic() - started < TIMEOUT + SLACK:
            time.sleep(0.1)
        assert not _book_reads_running(), "a read abandoned at its timeout must also end"
    assert elapsed < TIMEOUT + SLACK, f"the faulted sync took {elapsed:.1f} s"
    assert_fault_held(good, faulted, "sim", config=config, data_dir=data_dir, capsys=capsys, words=words)


@pytest.mark.parametrize("setting", SETTING_IDS)
def test_a_fifo_book_holds_the_picture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setting: str
) -> None:
    book, fault = _fifo_book(tmp_path)
    _run(tmp_path, book, fault, setting, capsys, "FIFO")


@pytest.mark.parametrize("setting", SETTING_IDS)
def test_a_dribbling_http_book_holds_the_picture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dribble: DribbleServer, setting: str
) -> None:
    @contextmanager
    def fault() -> Iterator[None]:
        dribble.dribbling = True
        yield

    # The book's own timeout is generous; the account's 1 s bounds the whole read.
    _run(tmp_path, {"kind": "http", "url": dribble.url, "timeout": 30}, fault, setting, capsys, "book 'bot'")


@pytest.mark.postgres
@pytest.mark.parametrize("setting", SETTING_IDS)
def test_a_locked_postgres_book_holds_the_picture(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    pg_database: Database,  # noqa: F811  (the fixture imported above)
    setting: str,
) -> None:
    t = pg_database.table("positions")
    pg_database.run(f"CREATE TABLE {t} (symbol TEXT, quantity NUMERIC, average_price NUMERIC)")
    for p in POSITIONS:
        pg_database.run(f"INSERT INTO {t} VALUES ('{p['symbol']}', {p['quantity']}, {p['average_price']})")
    locker = create_engine(pg_url_with_password())

    @contextmanager
    def fault() -> Iterator[None]:
        # What the trading system does while it rewrites its book: the table locked, for long.
        with locker.connect() as connection:
            connection.execute(text(f"LOCK TABLE {t} IN ACCESS EXCLUSIVE MODE"))
            yield
            connection.rollback()

    book = {"kind": "sql", "url": pg_database.url, "table": t, **pg_database.book_options()}
    try:
        _run(tmp_path, book, fault, setting, capsys, "book 'bot'")
    finally:
        locker.dispose()
