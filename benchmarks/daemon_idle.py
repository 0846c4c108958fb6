"""What a daemon at rest costs: CPU per sync of a 10,000-position account where nothing changed.

A running worker (simulated broker, JSON file book) syncs the account until its scenario
reaches its last step, which repeats; from then on neither side changes. Then each of 30 syncs
is timed in CPU seconds of the whole process (``time.process_time``: every thread, the store's
and the book reader's included), and the median is printed with how often the book was parsed
while at rest. The simulated broker's answer needs no decoding (its scenario is read at start),
so the whole figure counts against the goal: under 30 ms a sync beyond decoding the broker's
answer. For scale, the same run times one sync forced to do the full work (a new book object
and new broker positions each time, same content): what every sync cost before. Asserts nothing.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from position_sync.app.config import load_settings
from position_sync.app.domain import BookSnapshot, BrokerSnapshot, Position
from position_sync.app.secrets import Secrets
from position_sync.app.sync import SyncWorker
from position_sync.wiring import build_runtime

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data10k import write

SYNCS = 30


def _fresh(positions: tuple[Position, ...]) -> tuple[Position, ...]:
    """Equal positions in new objects: an answer decoded again from the wire."""
    return tuple(
        Position(
            p.instrument,
            p.quantity,
            p.average_price,
            p.last_price,
            p.unrealised_pnl,
            p.realised_pnl,
            p.label,
            p.symbol,
            p.multiplier,
            p.currency,
            p.aliases,
            p.price_missing_reason,
        )
        for p in positions
    )


async def measure(folder: Path) -> None:
    settings = load_settings(write(folder))
    runtime = build_runtime(settings, folder / "data", secrets=Secrets(environ={}))
    worker = runtime.worker
    assert isinstance(worker, SyncWorker)
    await worker.load()
    account = worker.account_ids[0]
    book = runtime.books[settings.account(account).book]
    adapter = worker._accounts[account].adapter
    for _ in range(4):  # through the scenario's steps to the one that repeats
        await worker.sync(account, "interval")
    parses_before = getattr(book, "parses", None)
    idle: list[float] = []
    for _ in range(SYNCS):
        start = time.process_time()
        await worker.sync(account, "interval")
        idle.append(time.process_time() - start)
    parses = getattr(book, "parses", None)

    # The same syncs with every input rebuilt: new positions from the broker, a new book object.
    real_fetch, real_read = adapter.fetch, book.read

    async def fetch_anew() -> BrokerSnapshot:
        snapshot = await real_fetch()
        return BrokerSnapshot(_fresh(snapshot.positions), snapshot.orders)

    def read_anew(key: str | None) -> BookSnapshot:
        snapshot = real_read(key)
        return BookSnapshot(_fresh(snapshot.positions), snapshot.fingerprint, snapshot.modified_at)

    adapter.fetch = fetch_anew  # type: ignore[method-assign]
    book.read = read_anew  # type: ignore[method-assign,assignment]
    rebuilt: list[float] = []
    for _ in range(SYNCS // 3):
        start = time.process_time()
        await worker.sync(account, "interval")
        rebuilt.append(time.process_time() - start)
    await runtime.close()
    rows = len(worker.memory(account).rows)
    print(f"rows:                                   {rows:,}")
    print(f"CPU per sync at rest (median of {SYNCS}):    {statistics.median(idle) * 1000:6.1f} ms")
    print(f"  max:                                  {max(idle) * 1000:6.1f} ms")
    if parses is not None and parses_before is not None:
        print(f"book parses while at rest:              {parses - parses_before}")
    print(
        f"CPU per sync, every input rebuilt:      {statistics.median(rebuilt) * 1000:6.1f} ms (same content)"
    )
    print(
        f"at rest vs rebuilt:                     {statistics.median(idle) / statistics.median(rebuilt):6.2f}x"
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="position-sync-idle-") as temporary:
        asyncio.run(measure(Path(temporary)))


if __name__ == "__main__":
    main()
