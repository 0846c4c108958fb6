"""From a change of the book file to the updated row published: median and max of 20 changes.

A running worker (simulated broker, JSON file book, an interval of an hour so only the book
watcher can explain a sync) publishes to a subscriber; the clock runs from the file write to
the published result showing the new quantity. Goal: under 1 s.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from position_sync.app.config import parse_settings
from position_sync.app.secrets import Secrets
from position_sync.app.sync import SyncResult
from position_sync.wiring import build_runtime

CHANGES = 20


async def measure(directory: Path) -> list[float]:
    (directory / "scenario.toml").write_text(
        '[[steps]]\npositions = [{ symbol = "NSE:INFY", quantity = "100", average_price = "1500" }]\n'
    )
    book = directory / "book.json"
    book.write_text(json.dumps([{"symbol": "NSE:INFY", "quantity": 100, "average_price": 1500}]))
    raw = {
        "books": [{"id": "bot", "kind": "file", "path": "book.json"}],
        "accounts": [
            {"id": "sim", "broker": "simulated", "scenario": "scenario.toml", "book": "bot", "interval": 3600}
        ],
    }
    runtime = build_runtime(
        parse_settings(raw, directory / "config.toml"), directory / "data", secrets=Secrets(environ={})
    )
    seen: asyncio.Queue[SyncResult] = asyncio.Queue()
    runtime.worker.subscribe(seen.put_nowait)
    await runtime.worker.start()
    await seen.get()
    await asyncio.sleep(0.5)
    latencies = []
    try:
        for i in range(CHANGES):
            quantity = 200 + i
            written = time.perf_counter()
            book.write_text(json.dumps([{"symbol": "NSE:INFY", "quantity": quantity, "average_price": 1500}]))
            while True:
                result = await asyncio.wait_for(seen.get(), 10)
                if result.rows["NSE:INFY"].local_qty == quantity:
                    latencies.append(time.perf_counter() - written)
                    break
            await asyncio.sleep(0.3)
    finally:
        await runtime.close()
    return latencies


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        latencies = asyncio.run(measure(Path(directory)))
    print(f"book file change -> updated row published, {len(latencies)} changes")
    print(
        f"  median {statistics.median(latencies) * 1000:6.1f} ms, max {max(latencies) * 1000:6.1f} ms (goal: under 1 s)"
    )


if __name__ == "__main__":
    main()
