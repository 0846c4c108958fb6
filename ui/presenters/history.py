"""The History tab: an account's charts and the selected row's quantities and timeline.

Everything here is read from the store, on the store thread, and only while the tab is in front:
a result marks the account's charts out of date instead of reading them, and a quick walk
through the rows reads only the row the trader stops on.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QPalette

from position_sync.app.store import series as series_store
from position_sync.ui.history import TimelineItem
from position_sync.ui.positions_index import Key
from position_sync.ui.presenters.context import Context
from position_sync.ui.timeline import row_timeline
from position_sync.ui.window import MainWindow

ROW_SETTLE_MS = 150  # the current row must stay this long before its history is read


class HistoryPresenter(QObject):
    def __init__(
        self, window: MainWindow, context: Context, current_key: Callable[[], Key | None], parent: QObject
    ) -> None:
        super().__init__(parent)  # the controller: it outlives the window's C++ side
        self.pane = window.history
        self._window = window
        self._context = context
        self._current_key = current_key
        self.pane.set_currency_of(context.currency_of)  # named in the money charts' titles
        self._dirty = True  # the account's charts are older than what the store holds
        self._row_timer = QTimer(self)
        self._row_timer.setSingleShot(True)
        self._row_timer.setInterval(ROW_SETTLE_MS)
        self._row_timer.timeout.connect(self._load_row_history)
        self.pane.account_changed.connect(lambda *_: self._load_account_history())
        self.pane.range_changed.connect(self._load_account_history)
        window.history_opened.connect(self._opened)

    def stop(self) -> None:
        self._row_timer.stop()

    def set_accounts(self, accounts: list[str]) -> None:
        self.pane.set_accounts(accounts)

    def apply_palette(self, palette: QPalette) -> None:
        self.pane.apply_palette(palette)

    def mark_out_of_date(self) -> None:
        self._dirty = True

    def result_shown(self, account: str, selected: Key | None) -> None:
        """A result of ``account`` is on screen: the worker's save recorded a new chart point."""
        if account == self.pane.current_account():
            self._dirty = True
            if self._window.history_in_view():
                self._load_account_history()
        if selected is not None and selected[0] == account and self._window.history_in_view():
            self.row_history_soon()

    def row_history_soon(self) -> None:
        if self._window.history_in_view():
            self._row_timer.start()

    def _opened(self) -> None:
        if self._dirty:
            self._load_account_history()
        self.row_history_soon()

    def _load_account_history(self) -> None:
        account = self.pane.current_account()
        if account is None:
            return
        self._dirty = False
        self._context.keep(self.load_account_history(account))

    async def load_account_history(self, account: str) -> series_store.AccountSeries:
        store = self._context.store
        clock = self._context.clock
        since = self.pane.since(clock())
        series = await self._context.read(lambda: series_store.account_series(store, account, since))
        if self.pane.current_account() == account:
            self.pane.show_account(series, clock())
        return series

    def _load_row_history(self) -> None:
        self._context.keep(self.load_row_history(self._current_key()))

    async def load_row_history(self, key: Key | None) -> None:
        if key is None:
            self.pane.show_row(None, [])
            return
        store = self._context.store
        account, instrument = key
        currency = self._context.currency_of(account)

        def read() -> tuple[series_store.QuantitySeries, list[TimelineItem]]:
            quantities = series_store.quantity_series(store, account, instrument)
            return quantities, row_timeline(store, account, instrument, currency)

        quantities, timeline = await self._context.read(read)
        if self._current_key() == key:
            self.pane.show_row(quantities, timeline, self._context.clock())
