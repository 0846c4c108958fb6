"""A change of the book reaches the published rows without waiting for the interval."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from position_sync.app.runtime import Runtime
from position_sync.app.sync import SyncResult
from tests.books.conftest import simulated_runtime
from tests.books.test_http_book import PositionsServer

SCENARIO = """
[[steps]]
positions = [{ symbol = "NSE:INFY", quantity = "100", average_price = "1500" }]
"""


def runtime_for(tmp_path: Path, book: dict[str, Any]) -> Runtime:
    # A long interval: only the watcher can explain a quick second sync.
    return simulated_runtime(tmp_path, SCENARIO, book, interval=3600, settle_seconds=0)


class Published:
    def __init__(self) -> None:
        self.results: asyncio.Queue[SyncResult] = asyncio.Queue()

    def __call__(self, result: SyncResult) -> None:
        self.results.put_nowait(result)

    async def next(self, reason: str | None = None, timeout: float = 5.0) -> SyncResult:
        while True:
            result = await asyncio.wait_for(self.results.get(), timeout)
            if reason is None or result.reason == reason:
                return result


@pytest.fixture
async def started() -> AsyncIterator[list[Runtime]]:
    runtimes: list[Runtime] = []
    yield runtimes
    for runtime in runtimes:
        await runtime.close()


async def start(runtime: Runtime, started: list[Runtime]) -> Published:
    published = Published()
    runtime.worker.subscribe(published)
    started.append(runtime)
    await runtime.worker.start()
    first = await published.next()
    assert first.rows["NSE:INFY"].status.value in ("match", "qty_mismatch")
    return published


async def test_file_book_change_syncs_at_once(tmp_path: Path, started: list[Runtime]) -> None:
    book = tmp_path / "book.json"
    book.write_text(json.dumps([{"symbol": "NSE:INFY", "quantity": 100, "average_price": 1500}]))
    published = await start(runtime_for(tmp_path, {"kind": "file", "path": "book.json"}), started)
    await asyncio.sleep(0.3)  # let the watcher take its first reading
    written = time.monotonic()
    book.write_text(json.dumps([{"symbol": "NSE:INFY", "quantity": 60, "average_price": 1500}]))
    result = await published.next("book changed")
    assert result.rows["NSE:INFY"].local_qty == Decimal(60)
    assert result.rows["NSE:INFY"].status.value == "qty_mismatch"
    # The requirement is "within a second"; 2 s leaves room for a loaded CI machine, and
    # benchmarks/book_change.py measures the real figure.
    assert time.monotonic() - written < 2


async def test_sql_change_probe_triggers_a_sync(tmp_path: Path, started: list[Runtime]) -> None:
    with sqlite3.connect(tmp_path / "bot.db") as connection:
        connection.execute(
            "CREATE TABLE positions (symbol TEXT, quantity INTEGER, average_price REAL, updated_at INTEGER)"
        )
        connection.execute("INSERT INTO positions VALUES ('NSE:INFY', 100, 1500, 1)")
    book = {
        "kind": "sql",
        "url": "sqlite:///bot.db",
        "table": "positions",
        "change_probe": "SELECT max(updated_at), count(*) FROM positions",
        "probe_interval": 0.2,
    }
    published = await start(runtime_for(tmp_path, book), started)
    await asyncio.sleep(0.4)
    with sqlite3.connect(tmp_path / "bot.db") as connection:
        connection.execute("UPDATE positions SET quantity = 40, updated_at = 2")
    result = await published.next("book changed")
    assert result.rows["NSE:INFY"].local_qty == Decimal(40)


async def test_http_book_is_polled(tmp_path: Path, started: list[Runtime]) -> None:
    server = PositionsServer()
    try:
        server.serve({"positions": [{"symbol": "NSE:INFY", "quantity": 100, "average_price": 1500}]})
        book = {"kind": "http", "url": server.url, "poll_interval": 0.2}
        published = await start(runtime_for(tmp_path, book), started)
        await asyncio.sleep(0.4)
        server.serve({"positions": [{"symbol": "NSE:INFY", "quantity": 10, "average_price": 1500}]})
        result = await published.next("book changed")
        assert result.rows["NSE:INFY"].local_qty == Decimal(10)
    finally:
        server.close()


async def test_unchanged_book_triggers_nothing(tmp_path: Path, started: list[Runtime]) -> None:
    book = tmp_path / "book.json"
    book.write_text(json.dumps([{"symbol": "NSE:INFY", "quantity": 100, "average_price": 1500}]))
    published = await start(runtime_for(tmp_path, {"kind": "file", "path": "book.json"}), started)
    with pytest.raises(TimeoutError):
        await published.next(timeout=1.0)
