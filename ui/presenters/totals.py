"""The totals footer: each account's totals worked out from its picture as it reaches the grid.

An account's totals are one pass over its rows (``ui.totals``): a small account is totalled at
once, a large one on the store thread, so a price tick on 10,000 rows adds nothing to the UI
thread. Pictures arrive as snapshots (``positions_index.snapshot``) nobody changes any more, so
another thread may walk them. Only the newest picture asked for an account is shown: a slow
pass that comes back after a newer one is dropped.
"""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import QObject

from position_sync.app.domain import Row
from position_sync.ui.presenters.context import Context
from position_sync.ui.totals import Sums, Totals, account_totals
from position_sync.ui.window import MainWindow

INLINE_ROWS = 2000  # up to this many rows (about 1 ms) an account is totalled on the UI thread


class TotalsPresenter(QObject):
    def __init__(self, window: MainWindow, context: Context, parent: QObject) -> None:
        super().__init__(parent)  # the controller: it outlives the window's C++ side
        self.footer = window.totals
        self.totals = Totals()
        self._context = context
        self._asked: dict[str, int] = {}  # per account, the number of the newest picture
        self._count = 0

    def show(self, account: str, rows: Mapping[str, Row]) -> None:
        """``rows``, one account's complete picture (a snapshot), totalled for the footer."""
        currency = self._context.currency_of(account)
        self._count += 1
        self._asked[account] = number = self._count
        if len(rows) <= INLINE_ROWS:
            self._set(account, account_totals(rows.values(), currency))
        else:
            self._context.keep(self._total_elsewhere(account, rows, currency, number))

    def remove(self, account: str) -> None:
        self._asked.pop(account, None)
        self.totals.remove_account(account)
        self.footer.show_lines(self.totals.lines())

    async def _total_elsewhere(
        self, account: str, rows: Mapping[str, Row], currency: str | None, number: int
    ) -> None:
        sums = await self._context.read(lambda: account_totals(rows.values(), currency))
        if self._asked.get(account) == number:
            self._set(account, sums)

    def _set(self, account: str, sums: dict[str | None, Sums]) -> None:
        self.totals.set_account(account, sums)
        self.footer.show_lines(self.totals.lines())
