"""The sync worker on the window's loop (qasync), where it differs from plain asyncio.

qasync's ``call_later`` hands back a plain ``asyncio.Handle`` without ``when()``; the book
watcher's second change used to raise on it and die silently, so later book edits waited for
the account's interval. Here a book is changed three times on a qasync loop and each change
must reach a sync of its own, followed by its "book settled" sync.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from position_sync.app.config import parse_settings
from position_sync.app.domain import BrokerSnapshot, Position
from position_sync.app.runtime import build_books
from position_sync.app.secrets import Secrets
from position_sync.app.store import Store
from position_sync.app.sync import SyncResult, SyncWorker
from tests.conftest import write_book
from tests.ui.conftest import run


class Holding:
    """A broker that always holds 100 INFY."""

    account_id = "a"

    async def fetch(self) -> BrokerSnapshot:
        return BrokerSnapshot((Position("NSE:INFY", Decimal(100)),))

    def on_push(self, handler: object) -> None:
        return None

    async def close(self) -> None:
        return None


def test_every_book_change_syncs_on_the_qasync_loop(tmp_path: Path, qloop: asyncio.AbstractEventLoop) -> None:
    book = tmp_path / "book.json"
    write_book(book, [{"symbol": "NSE:INFY", "quantity": 100}])
    raw = {
        "books": [{"id": "bot", "kind": "file", "path": "book.json"}],
        "accounts": [
            # A long interval: only the book's changes can bring the syncs this test waits for.
            {
                "id": "a",
                "broker": "simulated",
                "scenario": "x.toml",
                "book": "bot",
                "interval": 3600,
                "settle_seconds": 0,
            }
        ],
    }
    settings = parse_settings(raw, tmp_path / "config.toml")
    store = Store.open(tmp_path / "data")
    worker = SyncWorker(settings, store, {"a": Holding()}, build_books(settings, Secrets(environ={})))
    reasons: list[str] = []
    changed = asyncio.Event()
    started = asyncio.Event()

    def seen(result: SyncResult) -> None:
        reasons.append(result.reason)
        started.set()
        if result.reason == "book settled":
            changed.set()

    worker.subscribe(seen)

    async def scenario() -> None:
        await worker.start()
        await asyncio.wait_for(started.wait(), 10)
        await asyncio.sleep(1.5)  # the watcher has taken the book as it is now
        for quantity in (90, 80, 70):
            changed.clear()
            write_book(book, [{"symbol": "NSE:INFY", "quantity": quantity}], age_seconds=0)
            await asyncio.wait_for(changed.wait(), 10)
        await worker.stop()

    try:
        run(qloop, scenario(), timeout=40)
    finally:
        store.close()
    assert reasons.count("book changed") >= 3, reasons
    assert reasons.count("book settled") >= 3, reasons
