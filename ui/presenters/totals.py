"""The totals footer: each account's totals worked out from its picture as it reaches the grid.

An account's totals are one pass over its rows (``ui.totals``): a small account is totalled at
once; a large one in pieces of ``PIECE_ROWS`` with the loop turning in between, so a price tick
on 10,000 rows never holds the UI thread for more than a fraction of a millisecond at a time. Not
on a thread: a pass of pure Python there competes for the GIL with the table's repaint, which
calls into Python for every cell (measured: longer stalls than the pieces). Pictures arrive as
snapshots (``positions_index.snapshot``) nobody changes any more. Only the newest picture of an
account is totalled to the end: a newer one stops the older pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from PySide6.QtCore import QObject

from position_sync.app.domain import Row
from position_sync.ui.presenters.context import Context
from position_sync.ui.totals import AccountTotals, Sums, Totals, account_totals
from position_sync.ui.window import MainWindow

INLINE_ROWS = 2000  # up to this many rows (under 1 ms) an account is totalled in one go
PIECE_ROWS = 1000  # rows totalled between two turns of the loop


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
            self._context.keep(self._total_in_pieces(account, rows, currency, number))

    def remove(self, account: str) -> None:
        self._asked.pop(account, None)
        self.totals.remove_account(account)
        self.footer.show_lines(self.totals.lines())

    async def _total_in_pieces(
        self, account: str, rows: Mapping[str, Row], currency: str | None, number: int
    ) -> None:
        totals = AccountTotals(currency)
        values = list(rows.values())
        for start in range(0, len(values), PIECE_ROWS):
            await asyncio.sleep(0)
            if self._asked.get(account) != number:
                return  # a newer picture (or the account's removal) came meanwhile
            totals.add(values[start : start + PIECE_ROWS])
        self._set(account, totals.sums())

    def _set(self, account: str, sums: dict[str | None, Sums]) -> None:
        self.totals.set_account(account, sums)
        self.footer.show_lines(self.totals.lines())
