"""What feeds a window or a command its pictures: the sync worker, or a viewer of a shared store.

The window does not care where a picture comes from: ``SyncWorker`` makes one by reading the
broker and the book, ``StoreViewer`` (``app.team.viewer``) by reading what a daemon saved in a
shared store. Both publish a ``SyncResult`` per account and answer the same questions (which
accounts, what each last showed, whether one is being synced, when the next sync is due), so the
window is written once, against this protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from position_sync.app.reconcile import AccountMemory
from position_sync.app.sync import SyncResult

Subscriber = Callable[[SyncResult], None]


class Feed(Protocol):
    async def load(self) -> None:
        """Read what the store holds; no broker is touched."""

    async def start(self) -> None:
        """Begin publishing new pictures (syncs on their intervals, or the store's changes)."""

    async def stop(self) -> None: ...

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Called on the loop thread with every new picture; returns the unsubscribe."""

    @property
    def account_ids(self) -> list[str]: ...

    def memory(self, account_id: str) -> AccountMemory: ...

    def is_syncing(self, account_id: str | None = None) -> bool: ...

    def next_due(self, account_id: str) -> datetime | None: ...

    @property
    def paused(self) -> bool: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def trigger(self, account_id: str, reason: str = "push") -> None:
        """A fresh picture of one account soon, without waiting for it."""

    async def sync(self, account_id: str, reason: str = "manual") -> SyncResult:
        """A fresh picture of one account now (a viewer asks the daemon holding it)."""

    async def sync_all(self, reason: str = "manual") -> list[SyncResult]: ...
