"""Everything one run needs, built from the settings: store, adapters, books, worker.

Shared by the CLI, the daemon and the window so that all three check the configuration the
same way before anything touches the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from position_sync.app.books import Book, check_books, open_book
from position_sync.app.config import Settings
from position_sync.app.secrets import Secrets
from position_sync.app.store import Store
from position_sync.app.store.identity import refuse_store_on_book
from position_sync.app.store.ownership import StoreClaim, claim_store
from position_sync.app.sync import Clock, SyncWorker, utcnow
from position_sync.brokers.base import BrokerAdapter
from position_sync.brokers.registry import AdapterContext, create_adapter


@dataclass
class Runtime:
    settings: Settings
    data_dir: Path
    store: Store
    worker: SyncWorker
    books: dict[str, Book]

    # This process's ownership of the store (one writer per store); None for an in-memory one.
    claim: StoreClaim | None = None

    def check_books(self) -> None:
        """Mapped columns a SQL table lacks are configuration errors (exit 3), found before syncing.

        Blocking (it connects to the book's database): the CLI calls it up front; the window
        leaves it to the reads, whose failures name the same column.
        """
        check_books(self.books)

    async def close(self) -> None:
        try:
            await self.worker.stop()
            self.store.close()
            for book in self.books.values():
                close = getattr(book, "close", None)
                if callable(close):
                    close()
        finally:
            if self.claim is not None:
                self.claim.release()  # last: nothing of this runtime writes any more


def build_adapters(settings: Settings, data_dir: Path, secrets: Secrets) -> dict[str, BrokerAdapter]:
    context = AdapterContext(data_dir=data_dir, secrets=secrets)
    return {a.id: create_adapter(a, context) for a in settings.accounts if a.enabled}


def build_books(settings: Settings, secrets: Secrets) -> dict[str, Book]:
    """Every configured book, each told how long its reads may take.

    The worker abandons a read at its account's timeout; a book that can bound its own reads
    (SQL statement and lock timeouts, an HTTP deadline) is told the longest timeout of the
    accounts reading it, so an abandoned read also ends on the source's side soon after.
    """
    books = {b.id: open_book(b, secrets, settings.path) for b in settings.books.values()}
    for book_id, book in books.items():
        timeouts = [a.timeout for a in settings.accounts if a.enabled and a.book == book_id]
        limit_reads = getattr(book, "limit_reads", None)
        if timeouts and callable(limit_reads):
            limit_reads(max(timeouts))
    return books


def build_runtime(
    settings: Settings,
    data_dir: Path,
    *,
    secrets: Secrets | None = None,
    clock: Clock = utcnow,
    purpose: str = "position-sync",
    wait: float = 0.0,
) -> Runtime:
    """Raises ``ConfigError`` or ``StoreError`` with one sentence; nothing is fetched yet.

    The runtime syncs, so it owns its store first (``StoreBusy`` when another process does,
    after waiting up to ``wait`` seconds); ``purpose`` ("daemon", "window") names this process
    in the sentence a second one gets. The store's memory is loaded only after that.
    """
    url = Store.url_for(data_dir, settings.store_url)
    if settings.store_url is None:
        refuse_store_on_book(url, settings.books, settings.path, field=None)
    secrets = secrets or Secrets()
    books = build_books(settings, secrets)
    adapters = build_adapters(settings, data_dir, secrets)
    claim = claim_store(url, purpose=purpose, wait=wait)
    try:
        store = Store(url)
    except BaseException:
        if claim is not None:
            claim.release()
        raise
    worker = SyncWorker(settings, store, adapters, books, clock=clock)
    return Runtime(settings, data_dir, store, worker, books, claim)
