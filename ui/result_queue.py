"""Sync results on their way to the screen, in the order the worker published them.

The worker calls on the loop thread once reconciliation and the store already ran elsewhere, so
what is left is cheap and incremental. A small picture is diffed and shown at once. A large one
is diffed on a thread of its own, so the UI thread only applies the changes (in pieces when
there are many); results queue behind it in order. Each picture is taken as a snapshot the
moment it arrives: the diff thread must never walk a dict the worker still owns.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from position_sync.app.domain import Row
from position_sync.app.sync import SyncResult
from position_sync.ui.positions_index import Plan, snapshot
from position_sync.ui.presenters.context import Keeper
from position_sync.ui.presenters.positions import APPLY_CHUNK, PositionsPresenter

INLINE_ROWS = 2000  # above this a picture is diffed off the UI thread


@dataclass(frozen=True)
class Arrival:
    """A result as it reached the window, its picture frozen on arrival."""

    result: SyncResult
    rows: Mapping[str, Row]

    @classmethod
    def of(cls, result: SyncResult) -> Arrival:
        return cls(result, snapshot(result.rows))


class ResultQueue:
    """``show(arrival, plan)`` runs for each result in order; a None plan was applied already."""

    def __init__(
        self,
        positions: PositionsPresenter,
        show: Callable[[Arrival, Plan | None], None],
        keep: Keeper,
        settled: Callable[[], None],
    ) -> None:
        self._positions = positions
        self._show = show
        self._keep = keep
        self._settled = settled
        self._differ = ThreadPoolExecutor(max_workers=1, thread_name_prefix="position-sync-ui-diff")
        self._queue: deque[Arrival] = deque()
        self._consumer: asyncio.Future[None] | None = None
        self.generation = 0  # bumped when a new runtime replaces the old; older work is dropped

    @property
    def waiting(self) -> bool:
        """Whether results wait to be shown."""
        return bool(self._queue)

    def offer(self, result: SyncResult) -> None:
        """One account's complete new picture, handed over by the worker on the loop thread."""
        arrival = Arrival.of(result)
        # The worker's new picture lives on (its memory, the store's cache): freezing it now
        # keeps the collections the diff and the model's new entries trigger from walking it.
        self._settled()
        if self._queue or len(arrival.rows) > INLINE_ROWS:
            self._queue.append(arrival)
            if self._consumer is None or self._consumer.done():
                self._consumer = self._keep(self._consume())
            return
        self._show(arrival, self._positions.plan(result.account, arrival.rows))

    def renew(self) -> None:
        """A new runtime: results of the old one still queued (or being diffed) are dropped."""
        self.generation += 1
        self._queue.clear()

    async def drain(self) -> None:
        """Wait until every queued result is on screen (tests, the screenshot)."""
        while self._queue or (self._consumer is not None and not self._consumer.done()):
            await asyncio.sleep(0.01)

    def close(self) -> None:
        self._differ.shutdown(wait=True)

    async def _consume(self) -> None:
        """Diff queued results on the diff thread, in order, and show each.

        A new runtime (``renew``) clears the queue while a diff may be running: a result that
        is no longer at the head of the queue when its diff comes back belongs to the old
        runtime and is dropped, never popped from (or shown over) the new one's queue.
        """
        loop = asyncio.get_running_loop()
        positions = self._positions
        while self._queue:
            arrival = self._queue[0]
            generation = self.generation
            plan: Plan | None = await loop.run_in_executor(
                self._differ, positions.plan, arrival.result.account, arrival.rows
            )
            if generation != self.generation or not self._queue or self._queue[0] is not arrival:
                continue
            if plan is not None and plan.size > APPLY_CHUNK:
                await positions.apply_in_pieces(plan)
                plan = None
                if generation != self.generation or not self._queue or self._queue[0] is not arrival:
                    continue
            self._queue.popleft()
            self._show(arrival, plan)
