"""Loading 100,000 stored rows (``Store.rows``, what every ``sync --once`` starts from) vs its floor.

The floor, in the same run on the same file: plain ``sqlite3`` selecting the same columns of
the ``rows`` table and turning every number column into a ``Decimal``, keyed by (account,
instrument), with the cyclic GC paused as the store pauses it. Floor and store alternate, the median of each is printed, and the ratio. Goal: at
most 2x. The rows are what a first sync of benchmarks/sync_scaling.py's account saves (every
row with its broker line as a part). Asserts nothing.
"""

from __future__ import annotations

import gc
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from position_sync.app.domain import BookSnapshot, BrokerSnapshot, Position
from position_sync.app.reconcile import AccountMemory, JudgeSettings, reconcile
from position_sync.app.store import Store
from position_sync.app.store.models import current_rows

N = 100_000
ROUNDS = 5
NUMBERS = (
    "broker_qty",
    "local_qty",
    "broker_avg",
    "local_avg",
    "last_price",
    "unrealised_pnl",
    "realised_pnl",
    "multiplier",
)


def fill(store: Store) -> None:
    broker, book = [], []
    for i in range(N):
        key = f"NSE:SYM{i:06d}"
        qty = Decimal(i % 500 + 1)
        price = Decimal(f"{100 + i % 997}.{i % 100:02d}")
        broker.append(Position(key, qty, price, last_price=price + 1, label="CNC", symbol=key))
        book.append(Position(key, qty + (1 if i % 100 == 7 else 0), price, symbol=key))
    now = datetime.now(UTC)
    outcome = reconcile(
        "big",
        BrokerSnapshot(tuple(broker)),
        BookSnapshot(tuple(book), "f"),
        AccountMemory("big"),
        JudgeSettings(),
        now,
    )
    store.save("big", outcome, now, now)


def floor(path: Path) -> Callable[[], object]:
    names = [c.name for c in current_rows.columns if c.name != "updated_at"]
    columns = ", ".join(names)
    numbers = [names.index(name) for name in NUMBERS]

    def run() -> object:
        gc.disable()  # as the store pauses it while it builds rows: like is compared with like
        try:
            with sqlite3.connect(path) as connection:
                records = connection.execute(f"SELECT {columns} FROM rows").fetchall()
            return {(r[0], r[1]): [None if r[i] is None else Decimal(r[i]) for i in numbers] for r in records}
        finally:
            gc.enable()

    return run


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="position-sync-load-") as temporary:
        store = Store.open(Path(temporary))
        fill(store)
        plain = floor(Path(temporary) / "position-sync.db")
        floors, loads = [], []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            plain()
            floors.append(time.perf_counter() - start)
            start = time.perf_counter()
            rows = store.rows()
            loads.append(time.perf_counter() - start)
        store.close()
    f, s = statistics.median(floors), statistics.median(loads)
    print(f"rows loaded:                         {len(rows):,}")
    print(f"floor (sqlite3 + Decimals), median:  {f * 1000:7.1f} ms")
    print(
        f"Store.rows(), median of {ROUNDS}:          {s * 1000:7.1f} ms   {s / f:4.2f}x the floor (goal: at most 2x)"
    )


if __name__ == "__main__":
    main()
