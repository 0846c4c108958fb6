"""Reconcile 100,000 broker positions against 100,000 book positions.

Prints the time of ``app.reconcile.reconcile`` and its ratio to the floor: a minimal dict join
over the same data in the same run (index both sides by key, compare quantities). The ratio uses
the floor timed with the cyclic GC paused, as reconcile pauses it, so like is compared with like;
floor and reconcile runs alternate, so a noisy machine's drift falls on both. Two cases: a first
sync (no previous rows) and a steady-state sync (the previous rows of an identical sync), the
latter with the sides read again and with the very same side objects (a daemon at rest).
Goal: at most 3x the floor.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from position_sync.app.domain import BookSnapshot, BrokerSnapshot, Position
from position_sync.app.reconcile import AccountMemory, JudgeSettings, reconcile

N = 100_000


def make_sides(n: int) -> tuple[BrokerSnapshot, BookSnapshot]:
    broker = []
    book = []
    for i in range(n):
        key = f"NSE:SYM{i:06d}"
        qty = Decimal(i % 500 + 1)
        price = Decimal(f"{100 + i % 997}.{i % 100:02d}")
        broker.append(Position(key, qty, price, last_price=price + 1, label="NRML"))
        # 1% quantity mismatches, 1% phantoms/untracked by key shift, the rest match.
        if i % 100 == 1:
            book.append(Position(key, qty + 1, price, symbol=key))
        elif i % 100 == 2:
            book.append(Position(f"NSE:OTHER{i:06d}", qty, price, symbol=key))
        else:
            book.append(Position(key, qty, price, symbol=key))
    return BrokerSnapshot(tuple(broker)), BookSnapshot(tuple(book), "fp")


def floor(broker: BrokerSnapshot, book: BookSnapshot) -> dict[str, bool]:
    b = {p.instrument: p for p in broker.positions}
    local = {p.instrument: p for p in book.positions}
    out = {}
    for key in b.keys() | local.keys():
        bp = b.get(key)
        lp = local.get(key)
        out[key] = (bp.quantity if bp else 0) == (lp.quantity if lp else 0)
    return out


def timed_pairs(
    floor_run: Callable[[], object], runs: dict[str, Callable[[], object]], repeat: int = 9
) -> tuple[float, dict[str, float]]:
    """Medians of the floor and of each run, timed in turns so that drift of a noisy machine
    (another process, CPU frequency) falls on all of them alike. The cyclic GC is paused around
    the floor, as reconcile pauses it around its own work."""
    floors: list[float] = []
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        gc.disable()
        start = time.perf_counter()
        floor_run()
        floors.append(time.perf_counter() - start)
        gc.enable()
        gc.collect()
        for name, function in runs.items():
            start = time.perf_counter()
            function()
            samples[name].append(time.perf_counter() - start)
            gc.collect()
    return statistics.median(floors), {name: statistics.median(v) for name, v in samples.items()}


def timed(function: Callable[[], object], repeat: int = 7) -> float:
    """Median wall time with the cyclic GC running."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    broker, book = make_sides(N)
    settings = JudgeSettings()
    now = datetime(2026, 11, 21, 10, tzinfo=UTC)
    empty = AccountMemory("bench")
    first = reconcile("bench", broker, book, empty, settings, now)
    warm = first.memory
    later = now + timedelta(seconds=10)
    # The same sides read again (equal objects, as a book parsed again gives), and the very same
    # objects (a book not parsed again, an adapter whose answer did not change): the latter is
    # what a daemon at rest judges, and reconcile then keeps calm matches without a look.
    broker_again = BrokerSnapshot(tuple(replace(p) for p in broker.positions))
    book_again = BookSnapshot(tuple(replace(p) for p in book.positions), book.fingerprint)
    t_floor_gc = timed(lambda: floor(broker, book))
    t_floor, times = timed_pairs(
        lambda: floor(broker, book),
        {
            "cold": lambda: reconcile("bench", broker, book, empty, settings, now),
            "warm": lambda: reconcile("bench", broker_again, book_again, warm, settings, later),
            "same": lambda: reconcile("bench", broker, book, warm, settings, later),
        },
    )
    t_cold, t_warm, t_same = times["cold"], times["warm"], times["same"]
    print(f"positions per side:          {N:,}")
    print(f"rows out:                    {len(first.rows):,}")
    print(f"floor (minimal dict join):   {t_floor * 1000:8.1f} ms   (GC paused, as in reconcile)")
    print(f"floor with the GC running:   {t_floor_gc * 1000:8.1f} ms")
    print(f"reconcile, first sync:       {t_cold * 1000:8.1f} ms   ratio {t_cold / t_floor:4.2f}x")
    print(f"reconcile, steady state:     {t_warm * 1000:8.1f} ms   ratio {t_warm / t_floor:4.2f}x")
    print(f"  the very same sides again: {t_same * 1000:8.1f} ms   ratio {t_same / t_floor:4.2f}x")
    print("goal: at most 3x the floor")


if __name__ == "__main__":
    main()
