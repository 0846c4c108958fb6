"""Everything one run needs: store, books, worker, and the claim on the store.

What a runtime is lives in the core; building one from the settings needs the adapters'
registry, so that is the entry point's wiring (``position_sync.wiring``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from position_sync.app.books import Book, check_books, open_book
from position_sync.app.broker import AdapterContext
from position_sync.app.config import Settings
from position_sync.app.errors import ConfigError
from position_sync.app.feed import Feed
from position_sync.app.secrets import Secrets
from position_sync.app.store import Store
from position_sync.app.store.ownership import StoreClaim, claim_store


@dataclass
class Runtime:
    settings: Settings
    data_dir: Path
    store: Store
    worker: Feed  # a SyncWorker, or a StoreViewer in a viewer's window (``app.team.viewer``)
    books: dict[str, Book]

    # This process's ownership of the store (one writer per store); None for an in-memory one.
    claim: StoreClaim | None = None

    # What its adapters were built with, and share (IB's connections): this runtime's alone.
    adapter_context: AdapterContext | None = None

    def check_books(self) -> None:
        """Mapped columns a SQL table lacks are configuration errors (exit 3), found before syncing.

        Blocking (it connects to the book's database): the CLI calls it up front; the window
        leaves it to the reads, whose failures name the same column.
        """
        check_books(self.books)
        self._check_first_reads()

    def _check_first_reads(self) -> None:
        """A book whose source is missing while none of its accounts was ever read is a
        configuration mistake (exit 3), like a missing scenario file; after a first good read it
        is an outage, which the sync reports as ``stale``."""
        read = {a for a, status in self.store.account_statuses().items() if status.last_success_at}
        for book_id, book in self.books.items():
            missing = getattr(book, "missing_source", None)
            accounts = [a.id for a in self.settings.accounts if a.enabled and a.book == book_id]
            if not callable(missing) or not accounts or read & set(accounts):
                continue
            reason = missing()
            if reason is not None:
                raise ConfigError(
                    self.settings.path,
                    f"books.{book_id}.path",
                    f"{reason}; {', '.join(accounts)} never read it, so it is taken for a mistake "
                    "in the config rather than an outage",
                )

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


# Settings in, a runtime out: what the entry point hands the window, so the window can rebuild
# its runtime on new settings without reaching the adapters itself.
RuntimeMaker = Callable[[Settings], "Runtime"]


def open_claimed_store(
    settings: Settings, url: str, purpose: str, wait: float = 0.0
) -> tuple[Store, StoreClaim | None]:
    """The store, owned by this process first (one writer per store), then opened.

    A shared store is not owned whole: each account is leased by whoever syncs it
    (``app.team.leases``), so nothing is claimed. ``StoreBusy`` when another process owns it.
    """
    claim = None if settings.team.shared else claim_store(url, purpose=purpose, wait=wait)
    try:
        return Store(url, user=settings.team.user), claim
    except BaseException:
        if claim is not None:
            claim.release()
        raise


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
