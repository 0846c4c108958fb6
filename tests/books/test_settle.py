"""A book that says the same thing settles, however often it is rewritten or re-stamped.

Reconciliation reports a problem only once the book has been unchanged for ``settle_seconds``.
"Unchanged" must mean the positions: a trading system that rewrites its file every second, or a
service whose answer carries ``generated_at``, would otherwise never settle, and its phantoms,
untracked positions and mismatches would never be reported. A real change of a position still
restarts the wait.

The syncs here run through the real runtime (file and HTTP books, store, worker) on a clock the
test moves, one second per sync, so nothing depends on the machine's speed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from position_sync.app.runtime import Runtime
from tests.books.conftest import simulated_runtime
from tests.books.test_http_book import PositionsServer

SETTLE = 5
# The broker holds nothing: the book's line is a phantom from the first sync.
SCENARIO = """
[[steps]]
positions = []
"""


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


def runtime_for(tmp_path: Path, book: dict[str, Any], clock: Clock) -> Runtime:
    return simulated_runtime(
        tmp_path, SCENARIO, book, clock, exchange="NSE", confirm_syncs=2, settle_seconds=SETTLE
    )


async def walk(
    runtime: Runtime, clock: Clock, before_each: Callable[[int], None], syncs: int
) -> list[tuple[int, str, str]]:
    """Sync once a second for ``syncs`` seconds; (second, instrument, kind) of every problem event."""
    found: list[tuple[int, str, str]] = []
    start = clock.now
    try:
        await runtime.worker.load()
        for second in range(syncs):
            clock.now = start + timedelta(seconds=second)
            before_each(second)
            result = await runtime.worker.sync("sim", "test")
            assert result.state.value == "ok", result.error
            found += [(second, e.instrument or "", e.kind.value) for e in result.events]
    finally:
        await runtime.close()
    return found


def write_file(path: Path, quantity: int, moment: datetime) -> None:
    """What a trading system does every second: rewrite the whole file, newly dated."""
    path.write_text(
        json.dumps({"positions": [{"symbol": "TCS", "quantity": quantity, "average_price": 4100}]}, indent=1)
    )
    os.utime(path, (moment.timestamp(), moment.timestamp()))


async def test_a_file_rewritten_every_second_with_the_same_positions_settles(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "book.json"
    runtime = runtime_for(tmp_path, {"kind": "file", "path": "book.json"}, clock)
    events = await walk(runtime, clock, lambda _: write_file(path, 5, clock.now), 8)
    # Held twice and unchanged for settle_seconds since the first sync (second 0): reported at 5.
    assert events == [(SETTLE, "NSE:TCS", "phantom_detected")]


async def test_a_real_change_of_the_file_restarts_the_settle_clock(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "book.json"
    runtime = runtime_for(tmp_path, {"kind": "file", "path": "book.json"}, clock)

    def rewrite(second: int) -> None:
        write_file(path, 5 if second < 3 else 6, clock.now)  # the quantity changes at second 3

    events = await walk(runtime, clock, rewrite, 11)
    assert events == [(3 + SETTLE, "NSE:TCS", "phantom_detected")]


@pytest.fixture
def server() -> Iterator[PositionsServer]:
    s = PositionsServer()
    yield s
    s.close()


def serve(server: PositionsServer, quantity: int, clock: Clock) -> None:
    server.serve(
        {
            "generated_at": clock.now.isoformat(),
            "positions": [{"symbol": "TCS", "quantity": quantity, "average_price": 4100}],
        }
    )


async def test_an_http_book_stamped_with_generated_at_settles(
    tmp_path: Path, server: PositionsServer
) -> None:
    clock = Clock()
    runtime = runtime_for(tmp_path, {"kind": "http", "url": server.url}, clock)
    events = await walk(runtime, clock, lambda _: serve(server, 5, clock), 8)
    # An HTTP answer has no modification time: nothing says the book is mid-change at the first
    # sync, so the phantom is reported as soon as it held twice (second 1), new stamp or not.
    assert events == [(1, "NSE:TCS", "phantom_detected")]


async def test_a_real_change_of_an_http_book_restarts_the_settle_clock(
    tmp_path: Path, server: PositionsServer
) -> None:
    clock = Clock()
    runtime = runtime_for(tmp_path, {"kind": "http", "url": server.url}, clock)
    events = await walk(runtime, clock, lambda second: serve(server, 5 if second < 1 else 6, clock), 9)
    assert events == [(1 + SETTLE, "NSE:TCS", "phantom_detected")]
