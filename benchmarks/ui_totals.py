"""Totalling one account of 10,000 positions for the footer under the grid (``ui.totals``).

The window totals an account from each new picture: in one go up to ``INLINE_ROWS`` rows, above
that in pieces of ``PIECE_ROWS`` with the loop turning in between. This prints what one pass
costs at 10,000 rows (the reason it is split), and what the UI thread pays at once: a pass of
``INLINE_ROWS``, and one piece. Median and worst of several runs; no Qt needed:
``python -m benchmarks.ui_totals``.
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from position_sync.app.domain import Row, Status
from position_sync.ui.presenters.totals import INLINE_ROWS, PIECE_ROWS
from position_sync.ui.totals import account_totals

RUNS = 15
INLINE_GOAL_MS = 3.0  # "a few ms": what the UI thread may spend per result on totals


def picture(count: int) -> list[Row]:
    now = datetime.now(UTC)
    rows = []
    for i in range(count):
        qty = Decimal(i % 500 + 1)
        realised = Decimal("3.5") if i % 3 else None  # a third without: the total is partial
        rows.append(
            Row(
                account="big",
                instrument=f"NSE:SYM{i:05d}",
                status=Status.PHANTOM if i % 100 == 0 else Status.MATCH,
                since=now,
                broker_qty=None if i % 100 == 0 else qty,
                local_qty=qty,
                broker_avg=Decimal("100.5"),
                local_avg=Decimal("100.5"),
                last_price=Decimal("101.25") + i % 7,
                unrealised_pnl=Decimal("12.5"),
                realised_pnl=realised,
                currency="INR",
            )
        )
    return rows


def measure(count: int) -> tuple[float, float]:
    rows = picture(count)
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        account_totals(rows, "INR")
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


def main() -> None:
    median, worst = measure(10_000)
    print(f"totals of 10,000 rows in one pass: {median:5.1f} ms (worst {worst:5.1f}): taken in pieces")
    for count, what in ((INLINE_ROWS, "the most totalled in one go"), (PIECE_ROWS, "one piece")):
        median, worst = measure(count)
        verdict = "ok" if median < INLINE_GOAL_MS else "OVER GOAL"
        print(
            f"totals of {count:,} rows ({what}): {median:5.1f} ms (worst {worst:5.1f})"
            f"  goal < {INLINE_GOAL_MS:.0f} ms at once on the UI thread: {verdict}"
        )


if __name__ == "__main__":
    main()
