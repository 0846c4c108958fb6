"""Reads that would block past their timeout: each ends on time, and so does the process.

Real sources only: a FIFO, an HTTP server on 127.0.0.1 dribbling a byte every half second, a
PostgreSQL table locked by another connection, a SQLite file held by a writer, and subprocesses
(``sync --once`` and a daemon given SIGTERM) timed from the outside, since what used to hang was
the exit of the process, after the sync had already reported ``stale``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from position_sync.app.books.file import FileBook
from position_sync.app.books.http import HttpBook
from position_sync.app.books.runner import DaemonThreadExecutor
from position_sync.app.books.sql import SqlBook
from position_sync.app.config import BookConfig
from position_sync.app.errors import ReadError, ReadErrorKind
from position_sync.app.secrets import Secrets
from tests.books.conftest import Database
from tests.conftest import pg_url_with_password, toml_table, write_scenario
from tests.fakes.dribble_server import DribbleServer

REPO = Path(__file__).resolve().parents[2]
POSITIONS = [{"symbol": "NIFTY25NOVFUT", "quantity": 75, "average_price": 24000}]
# Generous bounds: these are hang checks, not benchmarks.
SLACK = 5.0


@pytest.fixture
def dribble() -> Iterator[DribbleServer]:
    server = DribbleServer(POSITIONS)
    yield server
    server.stop()


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


def _config(tmp_path: Path, book: dict[str, Any], timeout: float) -> Path:
    write_scenario(tmp_path / "scenario.toml", [{"positions": POSITIONS}])
    config = tmp_path / "config.toml"
    text_ = toml_table("[[books]]", {"id": "bot", **book})
    text_ += "\n" + toml_table(
        "[[accounts]]",
        {
            "id": "sim",
            "broker": "simulated",
            "scenario": "scenario.toml",
            "book": "bot",
            "exchange": "NFO",
            "timeout": timeout,
            "interval": 3600,
        },
    )
    config.write_text(text_, encoding="utf-8")
    return config


def _cli(config: Path, data_dir: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "position_sync.cli",
        "--config",
        str(config),
        "--data-dir",
        str(data_dir),
        *args,
    ]


# -- the file book ---------------------------------------------------------------------------


def test_a_fifo_is_refused_without_opening_it_for_a_read(tmp_path: Path) -> None:
    fifo = tmp_path / "book.json"
    os.mkfifo(fifo)
    book = FileBook(BookConfig("bot", "file", path=fifo))
    started = time.monotonic()
    with pytest.raises(ReadError, match=r"FIFO.*not a regular file") as caught:
        book.read(None)
    assert time.monotonic() - started < 1.0
    assert "\n" not in str(caught.value)
    assert book.change_token() is None  # the watcher's probe does not block either


def test_sync_once_on_a_fifo_book_exits_on_time(tmp_path: Path) -> None:
    fifo = tmp_path / "book.json"
    os.mkfifo(fifo)
    config = _config(tmp_path, {"kind": "file", "path": "book.json"}, timeout=1)
    started = time.monotonic()
    done = subprocess.run(
        _cli(config, tmp_path / "data", "sync", "--once", "--json"),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - started < 1 + SLACK + 5  # interpreter start-up included
    assert done.returncode == 2, done.stderr
    assert "FIFO" in done.stdout


def test_a_read_that_never_returns_is_abandoned_and_the_process_exits(tmp_path: Path) -> None:
    """The mechanism itself, beneath every book's own bound: a read blocked for good (here on an
    event no one sets) is given up at the account's timeout, and nothing joins its thread at exit."""
    script = tmp_path / "stuck.py"
    script.write_text(
        "import asyncio, sys, threading\n"
        "from pathlib import Path\n"
        "from position_sync.app.config import parse_settings\n"
        "from position_sync.wiring import build_runtime\n"
        "from position_sync.app.secrets import Secrets\n"
        "settings = parse_settings({'books': [{'id': 'bot', 'kind': 'file', 'path': 'book.json'}],\n"
        "    'accounts': [{'id': 'sim', 'broker': 'simulated', 'scenario': 'scenario.toml',\n"
        "    'book': 'bot', 'timeout': 1}]}, Path(sys.argv[1]))\n"
        "runtime = build_runtime(settings, Path(sys.argv[2]), secrets=Secrets(environ={}))\n"
        "runtime.books['bot'].read = lambda account: threading.Event().wait()\n"
        "async def main():\n"
        "    await runtime.worker.load()\n"
        "    try:\n"
        "        result = await runtime.worker.sync('sim')\n"
        "    finally:\n"
        "        await runtime.close()\n"
        "    print(result.state.value, result.error)\n"
        "asyncio.run(main())\n",
        encoding="utf-8",
    )
    write_scenario(tmp_path / "scenario.toml", [{"positions": POSITIONS}])
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "config.toml"), str(tmp_path / "data")],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - started < 1 + SLACK + 5
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("stale "), done.stdout
    assert "book 'bot' was not read within 1 s" in done.stdout


def test_the_read_executor_never_waits_for_its_threads() -> None:
    """Daemon threads, and a shutdown that returns at once: what the exit of a process needs."""
    release = threading.Event()
    executor = DaemonThreadExecutor()
    future = executor.submit(release.wait)
    assert executor.running == 1
    assert all(t.daemon for t in threading.enumerate() if t.name.startswith("position-sync-read"))
    release.set()
    for _ in range(100):
        if executor.running == 0:
            break
        time.sleep(0.01)
    assert executor.running == 0
    assert future.result() is True
    executor.shutdown(wait=True)  # returns at once; a read after it is refused
    with pytest.raises(RuntimeError):
        executor.submit(release.wait)


# -- the HTTP book ---------------------------------------------------------------------------


def test_a_dribbling_server_meets_the_total_deadline(dribble: DribbleServer) -> None:
    book = HttpBook(BookConfig("bot", "http", url=dribble.url, options={"timeout": 1}), Secrets(environ={}))
    assert book.read(None).positions  # healthy first
    dribble.dribbling = True
    started = time.monotonic()
    with pytest.raises(ReadError, match=r"did not arrive whole within 1 s") as caught:
        book.read(None)
    assert caught.value.kind is ReadErrorKind.TIMEOUT
    assert time.monotonic() - started < 1 + SLACK
    book.close()


def test_the_accounts_timeout_shortens_the_http_deadline(dribble: DribbleServer) -> None:
    book = HttpBook(BookConfig("bot", "http", url=dribble.url, options={"timeout": 60}), Secrets(environ={}))
    book.limit_reads(1)
    dribble.dribbling = True
    started = time.monotonic()
    with pytest.raises(ReadError, match=r"within 1 s"):
        book.read(None)
    assert time.monotonic() - started < 1 + SLACK
    book.close()


def test_the_daemon_stops_on_sigterm_while_a_read_is_blocked(tmp_path: Path, dribble: DribbleServer) -> None:
    """A read that would take 30 s (the account's timeout) is under way; SIGTERM ends it all."""
    dribble.dribbling = True
    config = _config(tmp_path, {"kind": "http", "url": dribble.url, "timeout": 60}, timeout=30)
    process = subprocess.Popen(
        _cli(config, tmp_path / "data", "daemon"),
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # printed once the worker has started its first sync
        assert line.startswith("position-sync daemon:"), line
        time.sleep(1.5)  # the first read is now waiting on the dribble
        assert process.poll() is None
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        assert time.monotonic() - started < 3, "SIGTERM must stop the daemon within a second or two"
        assert code == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# -- SQL books -------------------------------------------------------------------------------


def _sql_book(db: Database, table: str, limit: float, **options: Any) -> SqlBook:
    book = SqlBook(
        BookConfig("bot", "sql", url=db.url, options={**db.book_options(), "table": table, **options}),
        Secrets(),
    )
    book.limit_reads(limit)
    return book


@pytest.mark.postgres
def test_a_locked_postgres_table_ends_the_read_at_the_lock_timeout(pg_database: Database) -> None:
    t = pg_database.table("positions")
    pg_database.run(
        f"CREATE TABLE {t} (symbol TEXT, quantity NUMERIC, average_price NUMERIC)",
        f"INSERT INTO {t} VALUES ('NSE:INFY', 10, 1500)",
    )
    book = _sql_book(pg_database, t, 1)
    assert book.read(None).positions
    locker = create_engine(pg_url_with_password())
    try:
        with locker.connect() as connection:
            connection.execute(text(f"LOCK TABLE {t} IN ACCESS EXCLUSIVE MODE"))  # held until rollback
            started = time.monotonic()
            with pytest.raises(ReadError, match=r"lock timeout|statement timeout") as caught:
                book.read(None)
            assert time.monotonic() - started < 1 + SLACK
            assert "\n" not in str(caught.value)
            connection.rollback()
        assert book.read(None).positions  # the lock gone, the book reads again
    finally:
        book.close()
        locker.dispose()


def test_a_sqlite_book_held_by_its_writer_ends_the_read_at_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "book.db"
    writer = create_engine(f"sqlite:///{path}")
    with writer.begin() as connection:
        connection.execute(
            text("CREATE TABLE positions (symbol TEXT, quantity NUMERIC, average_price NUMERIC)")
        )
        connection.execute(text("INSERT INTO positions VALUES ('NSE:INFY', 10, 1500)"))
    db = Database("sqlite", f"sqlite:///{path}", writer, "", path)
    book = _sql_book(db, "positions", 1)
    assert book.read(None).positions
    raw = writer.raw_connection()
    try:
        raw.driver_connection.execute("BEGIN EXCLUSIVE")  # type: ignore[union-attr]
        started = time.monotonic()
        with pytest.raises(ReadError, match=r"locked"):
            book.read(None)
        assert time.monotonic() - started < 1 + SLACK
    finally:
        raw.rollback()
        raw.close()
        book.close()
        writer.dispose()


def test_a_runaway_sqlite_query_is_stopped_at_the_deadline(tmp_path: Path) -> None:
    path = tmp_path / "book.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(
            text("CREATE TABLE positions (symbol TEXT, quantity NUMERIC, average_price NUMERIC)")
        )
    engine.dispose()
    endless = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
        "SELECT 'X' AS symbol, COUNT(*) AS quantity, 1 AS average_price FROM n"
    )
    book = SqlBook(BookConfig("bot", "sql", url=f"sqlite:///{path}", options={"query": endless}), Secrets())
    book.limit_reads(1)
    started = time.monotonic()
    with pytest.raises(ReadError, match=r"ran longer than 1 s and was stopped"):
        book.read(None)
    assert time.monotonic() - started < 1 + SLACK
    book.close()


# -- SQLite: a read only reads -----------------------------------------------------------------


@pytest.fixture
def sqlite_book_file(tmp_path: Path) -> Path:
    path = tmp_path / "book.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(
            text("CREATE TABLE positions (symbol TEXT, quantity NUMERIC, average_price NUMERIC)")
        )
        connection.execute(text("INSERT INTO positions VALUES ('NSE:INFY', 10, 1500)"))
    engine.dispose()
    return path


def _query_book(path: Path, **options: str) -> SqlBook:
    return SqlBook(BookConfig("bot", "sql", url=f"sqlite:///{path}", options=options), Secrets())


def test_vacuum_into_is_refused_and_writes_no_file(sqlite_book_file: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    book = _query_book(sqlite_book_file, query=f"VACUUM INTO '{copy}'")
    with pytest.raises(ReadError, match=r"statement refused: .*read-only.*VACUUM INTO") as caught:
        book.read(None)
    assert "\n" not in str(caught.value)
    assert not copy.exists()
    book.close()


def test_attach_then_insert_is_refused_and_writes_no_file(sqlite_book_file: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    # The probe and the query share the book's engine (and may share its one pooled connection):
    # an ATTACH by one would leave a writable database for the other.
    book = _query_book(
        sqlite_book_file,
        change_probe=f"ATTACH DATABASE '{other}' AS x",
        query="INSERT INTO x.positions SELECT * FROM main.positions RETURNING *",
    )
    assert book.change_token() is None
    with pytest.raises(ReadError, match=r"statement refused|no such table: x\.positions"):
        book.read(None)
    assert not other.exists()
    book.close()
    with pytest.raises(ReadError, match=r"statement refused: .*ATTACH"):
        _query_book(sqlite_book_file, query=f"ATTACH DATABASE '{other}' AS x").read(None)
    assert not other.exists()
    with pytest.raises(ReadError, match=r"statement refused: .*INSERT"):
        _query_book(sqlite_book_file, query="INSERT INTO positions VALUES ('A', 1, 1) RETURNING *").read(None)


def test_reads_and_the_config_check_still_work_under_the_authorizer(sqlite_book_file: Path) -> None:
    book = SqlBook(
        BookConfig("bot", "sql", url=f"sqlite:///{sqlite_book_file}", options={"table": "positions"}),
        Secrets(),
    )
    book.check()  # PRAGMA table_info is a read
    assert [p.instrument for p in book.read(None).positions] == ["NSE:INFY"]
    cte = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3) "
        "SELECT symbol, quantity * (SELECT COUNT(*) FROM n) AS quantity, average_price FROM positions"
    )
    assert [p.quantity for p in _query_book(sqlite_book_file, query=cte).read(None).positions] == [30]
    with pytest.raises(ReadError, match=r"statement refused: .*PRAGMA user_version with a value"):
        _query_book(sqlite_book_file, change_probe="SELECT 1", query="PRAGMA user_version = 7").read(None)
