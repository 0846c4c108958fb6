"""The window's first second: the stored picture on screen before the runtime is built.

Building the runtime imports every used broker's client library and builds its adapter (the
demo parses its scenario), which cost more than reading the store and painting the table. So the
window starts on a runtime with the store and no adapters (``picture_runtime``): its worker
(``PictureWorker``) answers what the panes ask of a worker from the stored picture alone, and
syncs nothing. Once the window has painted (``first_paint``), the controller builds the real
runtime off the UI thread and hands its worker the very memories on screen
(``Controller.go_live``), so the rows are read once and shared, not held twice.

The store is claimed before it is read, as the real runtime would: a store another process syncs
is refused before any window shows, with the same sentence as before.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QWidget

from position_sync.app.config import Settings
from position_sync.app.reconcile import AccountMemory
from position_sync.app.runtime import Runtime, open_claimed_store
from position_sync.app.store import Store
from position_sync.app.store.identity import refuse_store_on_book
from position_sync.app.sync import StoredMemories, SyncResult, SyncWorker

log = logging.getLogger(__name__)
FIRST_PAINT_WAIT_S = 2.0  # a window that never paints (minimised, no compositor) waits no longer


class PictureWorker(SyncWorker):
    """The stored picture behind the worker's reading interface, until the runtime stands.

    Accounts are the settings' enabled ones, in their order, each with what the store
    remembers of it (an empty memory when nothing yet), as ``SyncWorker.load`` makes them. A
    sync asked for meanwhile (the Resync button) waits for the real worker and is its sync.
    """

    def __init__(self, settings: Settings, store: Store) -> None:
        super().__init__(settings, store, {}, {})
        self._ids = [a.id for a in settings.accounts if a.enabled]
        self.stored: StoredMemories | None = None
        self._successor: asyncio.Future[SyncWorker] | None = None

    async def load(self, stored: StoredMemories | None = None) -> None:
        """Read the store on the worker's own thread, once; kept for the real worker."""
        if self.stored is None:
            self.stored = stored if stored is not None else await self._in_db(self.store.load_memories)

    @property
    def account_ids(self) -> list[str]:
        return list(self._ids)

    def memory(self, account_id: str) -> AccountMemory:
        if account_id not in self._ids:
            raise KeyError(account_id)
        memories = self.stored[0] if self.stored is not None else {}
        return memories.get(account_id) or AccountMemory(account_id)

    def is_syncing(self, account_id: str | None = None) -> bool:
        """Nothing syncs before the runtime stands."""
        return False

    def next_due(self, account_id: str) -> None:
        """No interval runs yet: the start-up sync comes first."""
        return None

    async def sync(self, account_id: str, reason: str = "manual") -> SyncResult:
        return await (await self._real()).sync(account_id, reason)

    async def sync_all(self, reason: str = "manual") -> list[SyncResult]:
        return await (await self._real()).sync_all(reason)

    def hand_over(self, worker: SyncWorker) -> None:
        """The real worker is running: syncs asked of this one go to it."""
        future = self._future()
        if not future.done():
            future.set_result(worker)

    async def _real(self) -> SyncWorker:
        return await asyncio.shield(self._future())

    def _future(self) -> asyncio.Future[SyncWorker]:
        if self._successor is None:
            self._successor = asyncio.get_running_loop().create_future()
        return self._successor


def picture_runtime(settings: Settings, data_dir: Path) -> Runtime:
    """The store, claimed and opened, behind a ``PictureWorker``; nothing else is built.

    Raises ``ConfigError`` or ``StoreError`` (``StoreBusy`` when another process syncs it) with
    one sentence, like ``wiring.build_runtime``.
    """
    url = Store.url_for(data_dir, settings.store_url)
    if settings.store_url is None:
        refuse_store_on_book(url, settings.books, settings.path, field=None)
    store, claim = open_claimed_store(settings, url, "window")
    return Runtime(settings, data_dir, store, PictureWorker(settings, store), {}, claim)


class _PaintSpy(QObject):
    """Sets ``future`` at the first paint of ``window`` or any widget in it."""

    def __init__(self, window: QWidget, future: asyncio.Future[None]) -> None:
        super().__init__()
        self._window = window
        self._future = future

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            not self._future.done()
            and event.type() == QEvent.Type.Paint
            and isinstance(watched, QWidget)
            and watched.window() is self._window
        ):
            self._future.set_result(None)
        return False


async def first_paint(window: QWidget, timeout: float = FIRST_PAINT_WAIT_S) -> bool:
    """Wait until the shown ``window`` has painted (the whole pass: the wait ends on the loop's
    next turn after it); False when it did not within ``timeout`` seconds."""
    instance = QApplication.instance()
    if instance is None:
        return False
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    spy = _PaintSpy(window, future)
    instance.installEventFilter(spy)
    try:
        await asyncio.wait_for(asyncio.shield(future), timeout)
        return True
    except TimeoutError:
        log.info("the window did not paint within %.1f s; starting the runtime anyway", timeout)
        return False
    finally:
        instance.removeEventFilter(spy)
