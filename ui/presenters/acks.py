"""Acknowledgements and snoozes of the selected rows, and those written elsewhere.

The user's own are written on the store thread and folded into what the table shows at once;
those written by ``position-sync ack`` or another desktop sharing the store are read again
every ``ACK_RELOAD``, and only the rows whose state differs are touched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QInputDialog, QLabel, QLineEdit

from position_sync.app.display import clock
from position_sync.app.domain import Row
from position_sync.app.store import acks as ack_store
from position_sync.ui.plain_text import make_plain
from position_sync.ui.positions_index import Key
from position_sync.ui.presenters.context import Context
from position_sync.ui.presenters.positions import PositionsPresenter
from position_sync.ui.window import MainWindow

ACK_RELOAD = timedelta(seconds=30)  # acknowledgements written elsewhere (CLI, another desktop)


class AcksPresenter(QObject):
    """``changed()`` after the table's acknowledgements changed; ``release()`` lets kept-aside
    notifications through when a reload cleared a snooze (True if any was)."""

    def __init__(
        self,
        window: MainWindow,
        context: Context,
        positions: PositionsPresenter,
        changed: Callable[[], None],
        release: Callable[[], bool],
        parent: QObject,
    ) -> None:
        super().__init__(parent)  # the controller: it outlives the window's C++ side
        self._window = window
        self._context = context
        self._positions = positions
        self._changed = changed
        self._release = release
        self._read_at: datetime | None = None
        self._reading: asyncio.Future[int] | None = None
        window.acknowledge_requested.connect(self.acknowledge_selected)
        window.snooze_requested.connect(self.snooze_selected)
        window.clear_ack_requested.connect(self.clear_selected)

    # -- the user's own --------------------------------------------------------------------

    def acknowledge_selected(self) -> None:
        rows = self._positions.selected_problem_rows()
        if not rows:
            self._window.show_message("Select a mismatch to acknowledge it.", 5000)
            return
        dialog = QInputDialog(self._window)
        dialog.setWindowTitle("Acknowledge mismatch")
        names = ", ".join(r.instrument for r in rows[:3]) + (
            f" and {len(rows) - 3} more" if len(rows) > 3 else ""
        )
        dialog.setLabelText(
            f"Acknowledge {names}.\nIt stays visible and marked, and stops notifying until it changes.\nNote:"
        )
        for label in dialog.findChildren(QLabel):
            make_plain(label)  # the instruments are a book's or broker's spelling: text, not markup
        dialog.setTextEchoMode(QLineEdit.EchoMode.Normal)
        dialog.setOkButtonText("Acknowledge")
        dialog.textValueSelected.connect(lambda note: self._context.keep(self.acknowledge(rows, note)))
        dialog.open()

    async def acknowledge(self, rows: list[Row], note: str) -> None:
        store = self._context.store
        now = self._context.clock()
        records = await self._context.read(
            lambda: [ack_store.acknowledge(store, row, note.strip(), now) for row in rows]
        )
        self._fold(records)
        self._window.show_message(f"Acknowledged {len(records)} row(s).", 5000)

    def snooze_selected(self, minutes: int) -> None:
        rows = self._positions.selected_problem_rows() or self._positions.selected_rows()
        if not rows:
            self._window.show_message("Select a row to snooze it.", 5000)
            return
        self._context.keep(self.snooze(rows, timedelta(minutes=minutes)))

    async def snooze(self, rows: list[Row], duration: timedelta) -> None:
        store = self._context.store
        now = self._context.clock()
        until = now + duration
        records = await self._context.read(
            lambda: [ack_store.snooze(store, r.account, r.instrument, until, now) for r in rows]
        )
        self._fold(records)
        self._window.show_message(f"Snoozed {len(records)} row(s) until {clock(until)}.", 5000)

    def clear_selected(self) -> None:
        keys = self._positions.selected_keys()
        if keys:
            self._context.keep(self.clear(keys))

    async def clear(self, keys: list[Key]) -> None:
        store = self._context.store
        now = self._context.clock()
        await self._context.read(lambda: [ack_store.clear(store, a, i, now) for a, i in keys])
        for key in keys:
            self._positions.set_ack(key, None)
        self._changed()

    def _fold(self, records: list[ack_store.Acknowledgement]) -> None:
        positions = self._positions
        for record in records:
            current = positions.ack_for(record.key) or ack_store.AckState()
            state = ack_store.fold([r for r in (current.ack, current.snooze, record) if r is not None])
            positions.set_ack(record.key, state.get(record.key))
        self._changed()

    # -- written elsewhere -----------------------------------------------------------------

    async def read(self) -> Mapping[Key, ack_store.AckState]:
        """Every account's current acknowledgements, read on the store thread."""
        store = self._context.store
        ids = self._context.worker.account_ids
        return await self._context.read(lambda: ack_store.current(store, ids))

    def loaded(self, states: Mapping[Key, ack_store.AckState]) -> None:
        """A new runtime's acknowledgements, all at once."""
        self._read_at = self._context.clock()
        self._positions.set_acks(states)

    def reload_if_due(self, now: datetime) -> None:
        if self._read_at is not None and now - self._read_at >= ACK_RELOAD:
            self.reload_soon()

    def reload_soon(self) -> None:
        """Start a reload of the acknowledgements unless one is running."""
        if self._reading is None or self._reading.done():
            self._read_at = self._context.clock()
            self._reading = self._context.keep(self.reload())

    async def reload(self) -> int:
        """Acknowledgements written elsewhere reach this window: read off the UI thread, only
        the rows whose state differs are touched. Returns how many rows changed."""
        generation = self._context.generation()
        states = await self.read()
        self._read_at = self._context.clock()
        if generation != self._context.generation():
            return 0  # a new runtime loaded its own
        changed = self._positions.update_acks(states)
        if changed:
            self._release()  # a cleared snooze may let a kept-aside alert through
            self._changed()
        return changed
