"""The SQLite store's write-ahead log stays bounded over a day of saves, without holding readers.

Before, SQLite's own checkpoints copied the log into the database but left the file at its
largest size: after a day of minute syncs the log was as big as the database again.
"""

from __future__ import annotations

import itertools
import sqlite3
import time
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from position_sync.app.domain import Row
from position_sync.app.reconcile import AccountMemory, Outcome
from position_sync.app.store import Store
from position_sync.app.store.engine import WAL_SIZE_LIMIT
from position_sync.app.store.repository import DB_NAME
from tests.conftest import T0, make_row

ROWS = 150
SAVES = 160
LIMIT = 64 * 1024  # the trigger for these tests, small so that a few saves reach it


def picture(tick: int) -> dict[str, Row]:
    """Every price ticks every sync, as in a day of minute syncs: every row is written."""
    return {
        f"NSE:SYM{i:03d}": make_row(f"NSE:SYM{i:03d}", last_price=Decimal(100 + (tick + i) % 37))
        for i in range(ROWS)
    }


def outcome(rows: dict[str, Row]) -> Outcome:
    memory = AccountMemory(account="acct", rows=rows, last_success_at=T0, initialised=True)
    return Outcome(rows, [], memory, [])


def wal_of(data: Path) -> Path:
    return data / f"{DB_NAME}-wal"


def wal_sizes_over_saves(store: Store, data: Path) -> list[int]:
    sizes = []
    previous: dict[str, Row] = {}
    for tick in range(SAVES):
        rows = picture(tick)
        at = T0 + timedelta(minutes=tick)
        store.save("acct", outcome(rows), at, at + timedelta(milliseconds=5), previous=previous)
        previous = rows
        sizes.append(wal_of(data).stat().st_size if wal_of(data).exists() else 0)
    return sizes


def test_the_log_stays_under_its_limit_plus_one_save(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    try:
        assert store.wal is not None
        store.wal.limit = LIMIT
        sizes = wal_sizes_over_saves(store, tmp_path)
        checkpoints = store.wal.checkpoints
    finally:
        store.close()
    one_save = max(b - a for a, b in itertools.pairwise(sizes))
    assert checkpoints > 5
    assert max(sizes) <= LIMIT + one_save, (max(sizes), one_save)


def test_without_the_checkpoints_the_same_saves_grow_the_log_past_that(tmp_path: Path) -> None:
    """The load above is enough to matter: SQLite alone lets the log grow far past the bound."""
    store = Store.open(tmp_path)
    try:
        store.wal = None
        sizes = wal_sizes_over_saves(store, tmp_path)
    finally:
        store.close()
    one_save = max(b - a for a, b in itertools.pairwise(sizes))
    assert max(sizes) > 4 * (LIMIT + one_save)


def test_sqlite_cuts_the_log_back_after_its_own_checkpoints_too(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    try:
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_size_limit").scalar() == WAL_SIZE_LIMIT
    finally:
        store.close()


def test_a_reader_on_the_log_is_not_blocked_and_does_not_hold_the_save_up(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    rows = picture(0)
    at = T0
    store.save("acct", outcome(rows), at, at, previous={})
    reader = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    try:
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM rows").fetchone() == (ROWS,)  # a snapshot held
        assert store.wal is not None
        changed = {k: replace(r, last_price=Decimal(7)) for k, r in rows.items()}
        store.save("acct", outcome(changed), at, at, previous=rows)
        began = time.monotonic()
        assert store.wal.truncate() is False  # postponed: the reader still needs the log
        assert time.monotonic() - began < 2.0  # a short wait, not the store's five seconds
        # The reader goes on, on its snapshot, and new readers start while it holds it.
        assert reader.execute("SELECT count(*) FROM rows").fetchone() == (ROWS,)
        other = sqlite3.connect(tmp_path / DB_NAME)
        assert other.execute("SELECT min(last_price) FROM rows").fetchone() == ("7",)
        other.close()
        reader.execute("COMMIT")
        assert store.wal.truncate() is True
        assert wal_of(tmp_path).stat().st_size == 0
    finally:
        reader.close()
        store.close()
