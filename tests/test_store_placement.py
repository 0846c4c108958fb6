"""Where the store may live and who may write it: never inside a book's database, never in a
foreign database (checked before anything changes it), owner-only files, one writer per store."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from position_sync.app.config import load_settings
from position_sync.app.errors import ConfigError
from position_sync.app.store import Store, StoreError
from position_sync.app.store.ownership import AdvisoryLockOwnership, FileLockOwnership, StoreBusy
from position_sync.app.store.repository import DB_NAME
from position_sync.cli import main
from position_sync.wiring import build_runtime
from tests.conftest import Project, fresh_database, toml_table

POSITIONS = [{"symbol": "NIFTY25NOVFUT", "quantity": 75, "average_price": 24000}]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


# -- owner-only files ----------------------------------------------------------------------


@pytest.mark.usefixtures("loose_umask")
def test_the_data_directory_and_every_file_in_it_are_owner_only(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write(broker_steps=[{"positions": POSITIONS}], book=POSITIONS)
    data = project.data_dir / "nested" / "data"
    assert main(["--config", str(project.config), "--data-dir", str(data), "sync", "--once"]) == 0
    assert _mode(data) == 0o700
    assert _mode(data.parent) == 0o700  # made here too, so made owner-only
    files = [p for p in data.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {DB_NAME, f"{DB_NAME}.owner", "sim.json"} <= names, names
    assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}
    assert all(_mode(p) == 0o700 for p in data.rglob("*") if p.is_dir())


@pytest.mark.usefixtures("loose_umask")
def test_wal_and_shm_files_are_owner_only_and_old_loose_files_are_tightened(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "data")
    try:
        with store.engine.connect() as connection:  # keeps the -wal and -shm files in place
            connection.execute(text("SELECT 1"))
            for suffix in ("", "-wal", "-shm"):
                assert _mode(tmp_path / "data" / f"{DB_NAME}{suffix}") == 0o600, suffix
    finally:
        store.close()
    os.chmod(tmp_path / "data" / DB_NAME, 0o644)  # as an older version left it
    Store.open(tmp_path / "data").close()
    assert _mode(tmp_path / "data" / DB_NAME) == 0o600


def test_an_existing_data_directory_keeps_its_mode(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)  # --data-dir pointing at a folder the user chose, e.g. their home
    Store.open(tmp_path).close()
    assert _mode(tmp_path) == 0o755
    assert _mode(tmp_path / DB_NAME) == 0o600


# -- the store is never a book's database --------------------------------------------------


def _book_database(path: Path) -> Path:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE positions (symbol TEXT, quantity TEXT)")
        connection.execute("INSERT INTO positions VALUES ('NIFTY25NOVFUT', '75')")
    connection.close()
    return path


def _config_with_sql_book(root: Path, store_url: str | None, book_url: str = "sqlite:///trading.db") -> Path:
    text_ = toml_table("[[books]]", {"id": "bot", "kind": "sql", "url": book_url, "table": "positions"})
    text_ += "\n" + toml_table(
        "[[accounts]]", {"id": "sim", "broker": "simulated", "scenario": "s.toml", "book": "bot"}
    )
    if store_url is not None:
        text_ += "\n" + toml_table("[store]", {"url": store_url})
    config = root / "config.toml"
    config.write_text(text_, encoding="utf-8")
    return config


def _untouched(book: Path) -> None:
    with sqlite3.connect(book) as connection:
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == {"positions"}
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    connection.close()
    assert not book.with_name(book.name + "-wal").exists()


@pytest.mark.parametrize(
    "spelling",
    ["sqlite:///trading.db", "sqlite:///./sub/../trading.db", "sqlite:///link.db", "ABSOLUTE"],
)
def test_a_store_naming_the_books_database_is_refused_at_config_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spelling: str
) -> None:
    book = _book_database(tmp_path / "trading.db")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.db").symlink_to(book)
    url = f"sqlite:///{book}" if spelling == "ABSOLUTE" else spelling
    config = _config_with_sql_book(tmp_path, url)
    with pytest.raises(ConfigError, match="database of book 'bot'"):
        load_settings(config)
    capsys.readouterr()
    assert main(["--config", str(config), "--data-dir", str(tmp_path / "d"), "sync", "--once"]) == 3
    err = capsys.readouterr().err
    assert "store.url" in err and "Traceback" not in err and err.count("\n") == 1
    _untouched(book)


def test_a_book_naming_the_default_store_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    book = _book_database(data / DB_NAME)
    config = _config_with_sql_book(tmp_path, None, f"sqlite:///{book}")
    for command in (["status"], ["events"], ["sync", "--once"]):
        assert main(["--config", str(config), "--data-dir", str(data), *command]) == 3, command
        assert "books.bot.url" in capsys.readouterr().err
    _untouched(book)


@pytest.mark.parametrize(
    ("book_url", "refused"),
    [
        ("postgresql+psycopg2://trader@localhost/trading", True),
        ("postgresql+psycopg://reader@127.0.0.1:5432/trading", True),
        ("postgresql+psycopg2://trader@localhost/positions_of_position_sync", False),
        ("postgresql+psycopg2://trader@db.example/trading", False),
    ],
)
def test_a_store_on_the_books_postgresql_database_is_refused(
    tmp_path: Path, book_url: str, refused: bool
) -> None:
    config = _config_with_sql_book(tmp_path, "postgresql+psycopg2://ps@localhost:5432/trading", book_url)
    if refused:
        with pytest.raises(ConfigError, match="database of book 'bot'"):
            load_settings(config)
    else:
        assert load_settings(config).store_url is not None


def test_a_foreign_sqlite_database_is_refused_before_anything_changes_in_it(tmp_path: Path) -> None:
    book = _book_database(tmp_path / "theirs.db")
    with pytest.raises(StoreError, match="not created by Position Sync") as caught:
        Store(f"sqlite:///{book}")
    assert "positions" in str(caught.value)
    _untouched(book)


@pytest.fixture
def pg_database(pg_admin: Engine) -> Iterator[str]:
    with fresh_database(pg_admin, "ps_place") as url:
        yield url


def test_a_foreign_postgresql_database_is_refused_unchanged(pg_database: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(pg_database)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE positions (symbol TEXT)"))
        with pytest.raises(StoreError, match="not created by Position Sync"):
            Store(pg_database)
        assert set(inspect(engine).get_table_names()) == {"positions"}
    finally:
        engine.dispose()


# -- one writer per store ------------------------------------------------------------------


def test_a_held_store_refuses_sync_once_daemon_and_window_but_not_reads(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    book = [{**POSITIONS[0], "quantity": 50}]  # a mismatch, so there is something to acknowledge
    project.write(broker_steps=[{"positions": POSITIONS}], book=book)
    base = ["--config", str(project.config), "--data-dir", str(project.data_dir)]
    assert main([*base, "sync", "--once"]) == 1
    database = project.data_dir / DB_NAME
    # Another process's claim: a lock on its own open file, as a daemon elsewhere holds it.
    other = FileLockOwnership(database.with_name(f"{DB_NAME}.owner"), str(database), "daemon")
    other.acquire()
    try:
        capsys.readouterr()
        assert main([*base, "sync", "--once", "--wait", "0.5"]) == 3
        err = capsys.readouterr().err
        assert f"daemon, pid {os.getpid()}" in err and "after waiting 0.5 s" in err, err
        assert err.count("\n") == 1
        assert main([*base, "daemon"]) == 3
        with pytest.raises(StoreBusy, match="in use by another Position Sync"):
            build_runtime(load_settings(project.config), project.data_dir, purpose="window")
        assert main([*base, "status"]) == 1
        assert main([*base, "events"]) == 0
        assert main([*base, "ack", "sim", "NFO:NIFTY25NOVFUT", "--note", "known"]) == 0
    finally:
        other.release()
    # The one mismatch is acknowledged now: 0, and 1 only when asked for the strict code.
    assert main([*base, "sync", "--once", "--wait", "0"]) == 0
    assert main([*base, "sync", "--once", "--wait", "0", "--strict"]) == 1


async def test_one_process_shares_its_claim_between_runtimes(project: Project) -> None:
    """The window builds its new runtime before closing the old one when settings change."""
    project.write(broker_steps=[{"positions": POSITIONS}], book=POSITIONS)
    settings = load_settings(project.config)
    old = build_runtime(settings, project.data_dir, purpose="window")
    new = build_runtime(settings, project.data_dir, purpose="window")
    await old.close()
    database = project.data_dir / DB_NAME
    other = FileLockOwnership(database.with_name(f"{DB_NAME}.owner"), str(database), "daemon")
    assert not other.try_acquire(), "the new runtime still owns the store"
    await new.close()
    assert other.try_acquire()
    other.release()


def test_postgresql_ownership_is_an_advisory_lock_released_with_its_session(pg_database: str) -> None:
    first = AdvisoryLockOwnership(pg_database, "the team store", "daemon")
    second = AdvisoryLockOwnership(pg_database, "the team store", "sync --once")
    try:
        first.acquire()
        with pytest.raises(StoreBusy, match=r"in use by another Position Sync \(position-sync daemon pid"):
            second.acquire(wait=0.3)
        first.release()
        second.acquire()
    finally:
        first.release()
        second.release()
