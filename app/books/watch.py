"""Watching books for changes, so a sync follows the trading system's write within a second.

Polling rather than OS file notifications: it behaves the same on every platform and network
drive, costs one ``stat`` per file per quarter second, and the same loop serves SQL change
probes and HTTP books, which have no notifications at all.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from typing import Protocol, runtime_checkable

from position_sync.app.books.runner import DaemonThreadExecutor
from position_sync.app.supervise import supervised

log = logging.getLogger(__name__)


@runtime_checkable
class Watchable(Protocol):
    """A book with a cheap signal that changes whenever its content may have."""

    id: str
    watch_interval: float

    def change_token(self) -> str | None: ...


class BookWatcher:
    """Polls each watchable book and calls ``on_change(book_id)`` when its token changes.

    A token of None (probe failed, file missing) is not a change: the next sync reports the
    failure itself, and flapping between None and a value would trigger syncs for nothing.
    """

    def __init__(
        self,
        books: Mapping[str, object],
        on_change: Callable[[str], None],
        executor: Executor | None = None,
        wanted: Callable[[str], bool] = lambda _book_id: True,
    ) -> None:
        """``wanted(book_id)``: whether the book matters now (a daemon on a shared store watches
        only the books of the accounts it holds; the others are another daemon's to watch)."""
        self._books = [b for b in books.values() if isinstance(b, Watchable)]
        self._on_change = on_change
        self._wanted = wanted
        # Never the loop's default executor: ``asyncio.run`` joins its threads at exit, and a
        # probe stuck on a blocked source would keep the process alive.
        self._executor = executor if executor is not None else DaemonThreadExecutor("position-sync-watch")
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def watched(self) -> Sequence[str]:
        return [b.id for b in self._books]

    def start(self) -> None:
        for book in self._books:
            task = supervised(f"the watcher of book {book.id}", functools.partial(self._watch, book))
            self._tasks.append(asyncio.create_task(task, name=f"watch-{book.id}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _watch(self, book: Watchable) -> None:
        loop = asyncio.get_running_loop()
        last = await loop.run_in_executor(self._executor, book.change_token)
        while True:
            await asyncio.sleep(book.watch_interval)
            if not self._wanted(book.id):
                continue
            try:
                token = await loop.run_in_executor(self._executor, book.change_token)
            except Exception:
                log.exception("watching book %s failed", book.id)
                continue
            if token is not None and token != last:
                log.info("book %s changed", book.id)
                last = token
                try:
                    self._on_change(book.id)
                except Exception:  # the watcher outlives a failing reaction to one change
                    log.exception("reacting to a change of book %s failed", book.id)
