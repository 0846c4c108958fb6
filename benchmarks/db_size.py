"""Database size after a day of syncs: 1,440 syncs (one a minute) of 500 positions, 5 changing each time.

Driven through ``reconcile`` and ``Store.save`` exactly as the sync worker does (not the CLI, so
it runs in seconds rather than as 1,440 processes). Each sync every last price ticks (rows are
updated, no history), and 5 positions change quantity on both sides, as when the trading system
books its fills (history records and ``qty_changed`` events). Prints the size of the SQLite file
including its WAL after a checkpoint. Goal: under 5 MB. Asserts nothing about size or time.

Also prints what is on disk while the store is still open at the end of the day, as a daemon
leaves it: the database, its write-ahead log and their total. Issue 19's goal: the WAL bounded
(checkpointed and truncated), not a second copy of the database that never shrinks.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from position_sync.app.domain import BookSnapshot, BrokerSnapshot, Position
from position_sync.app.reconcile import AccountMemory, JudgeSettings, reconcile
from position_sync.app.store import Store
from position_sync.app.store.repository import DB_NAME

SYNCS = 1_440
POSITIONS = 500
CHANGING = 5
ACCOUNT = "kite:AB1234"
START = datetime(2026, 11, 20, 3, 45, tzinfo=UTC)  # 09:15 in India


def sides(quantities: list[int], sync: int) -> tuple[BrokerSnapshot, BookSnapshot]:
    broker = []
    book = []
    for i, qty in enumerate(quantities):
        key = f"NFO:SYM{i:03d}FUT"
        average = Decimal(f"{1000 + i}.{i % 100:02d}")
        last = average + Decimal(sync % 37) - 18  # every price ticks every sync
        broker.append(Position(key, Decimal(qty), average, last_price=last, label="NRML", currency="INR"))
        book.append(Position(key, Decimal(qty), average, symbol=key, label="entry 1"))
    return BrokerSnapshot(tuple(broker)), BookSnapshot(tuple(book), fingerprint=f"book-{sync}")


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def file_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def main() -> None:
    settings = JudgeSettings()
    quantities = [25 * (1 + i % 8) for i in range(POSITIONS)]
    with tempfile.TemporaryDirectory(prefix="position-sync-bench-") as temporary:
        store = Store.open(Path(temporary))
        memory = AccountMemory(ACCOUNT)
        began = time.perf_counter()
        for sync in range(SYNCS):
            for j in range(CHANGING):
                i = (sync * CHANGING + j) % POSITIONS
                quantities[i] += 25 if sync % 2 == 0 else -25
            broker, book = sides(quantities, sync)
            now = START + timedelta(minutes=sync)
            outcome = reconcile(ACCOUNT, broker, book, memory, settings, now)
            store.save(ACCOUNT, outcome, now, now + timedelta(milliseconds=40), previous=memory.rows)
            memory = outcome.memory
        elapsed = time.perf_counter() - began
        counts = {
            "row_history": store.count_history(),
            "events": len(store.events()),
            "current rows": len(store.rows()),
        }
        database = Path(temporary) / DB_NAME
        open_database = file_size(database)
        open_wal = file_size(database.with_name(DB_NAME + "-wal"))
        open_total = size(database)
        store.close()
        before = size(database)
        with sqlite3.connect(database) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            runs = connection.execute("SELECT count(*) FROM sync_runs").fetchone()[0]
        after = size(database)
    print(f"syncs:                          {SYNCS:,} of {POSITIONS} positions, {CHANGING} changing each")
    print(
        f"time for all syncs:             {elapsed:.1f} s ({elapsed / SYNCS * 1000:.1f} ms per reconcile + save)"
    )
    print(f"sync_runs / history / events:   {runs:,} / {counts['row_history']:,} / {counts['events']:,}")
    print(f"current rows:                   {counts['current rows']:,}")
    print(
        f"open at the end of the day:     database {open_database / 1e6:.2f} MB, WAL {open_wal / 1e6:.2f} MB"
    )
    print(
        f"on disk while open:             {open_total / 1e6:.2f} MB (database + WAL + shared memory), "
        f"WAL {open_wal / max(open_database, 1):.2f}x the database"
    )
    print(f"size before checkpoint:         {before / 1e6:.2f} MB (database + WAL + shared memory)")
    print(
        f"size after checkpoint:          {after / 1e6:.2f} MB (database + WAL + shared memory)   goal < 5 MB"
    )


if __name__ == "__main__":
    main()
