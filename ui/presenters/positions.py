"""The positions pane: pictures into the table, the selection, and the filter bar.

The only code that drives the table, its model and the filter bar. Large diffs are applied in
pieces with the loop turning in between, so a price tick on 10,000 rows never freezes the window;
the trader's current row survives a filter change; a row asked for by a notification or an event
is revealed even when the filter hid it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from PySide6.QtCore import QObject, Signal

from position_sync.app.domain import Row, Status
from position_sync.app.store.acks import AckState
from position_sync.ui.positions_index import Key, Plan
from position_sync.ui.positions_order import FilterSpec
from position_sync.ui.row_presenter import AccountInfo
from position_sync.ui.window import MainWindow

APPLY_CHUNK = 500  # rows of one diff applied between two turns of the loop


@dataclass(frozen=True)
class Tally:
    """What the summary counts: rows in all, rows per status, problems nobody muted, and rows per
    account (an account that cannot be read leaves that many rows unverified)."""

    total: int
    counts: Counter[Status]
    loud: int
    by_account: Mapping[str, int] = field(default_factory=dict)

    @property
    def problems(self) -> int:
        return sum(n for status, n in self.counts.items() if status.is_problem)


class PositionsPresenter(QObject):
    """Emits ``current_changed`` when the current row changes (the charts and the fixes follow it)."""

    current_changed = Signal()

    def __init__(self, window: MainWindow, settled: Callable[[], None], parent: QObject) -> None:
        super().__init__(parent)  # the controller: it outlives the window's C++ side
        self.model = window.model
        self.table = window.table
        self.filters = window.filters
        self._settled = settled  # after each piece of a large diff: see ``ui.responsiveness``
        self.filters.changed.connect(self._filter_changed)
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self.current_changed.emit())

    # -- reading ---------------------------------------------------------------------------

    def current_key(self) -> Key | None:
        return self.table.current_key()

    def current_row(self) -> Row | None:
        key = self.table.current_key()
        return self.model.row_for(key) if key is not None else None

    def selected_keys(self) -> list[Key]:
        return self.table.selected_keys()

    def selected_rows(self) -> list[Row]:
        rows = (self.model.row_for(key) for key in self.table.selected_keys())
        return [r for r in rows if r is not None]

    def selected_problem_rows(self) -> list[Row]:
        return [r for r in self.selected_rows() if r.effective_status.is_problem]

    def ack_for(self, key: Key) -> AckState | None:
        return self.model.ack_for(key)

    def muted(self, account: str, instrument: str, now: datetime) -> bool:
        return self.model.muted(account, instrument, now)

    def rows(self) -> Iterable[Row]:
        return self.model.rows()

    def tally(self) -> Tally:
        model = self.model
        by_account = {account: model.count_of(account) for account in model.accounts()}
        return Tally(model.total(), model.counts(), model.unmuted_problems(), by_account)

    # -- pictures --------------------------------------------------------------------------

    def set_now(self, now: datetime) -> None:
        self.model.set_now(now)

    def set_dark(self, dark: bool) -> None:
        self.model.set_dark(dark)

    def set_acks(self, states: Mapping[Key, AckState]) -> None:
        self.model.set_acks(states)

    def update_acks(self, states: Mapping[Key, AckState]) -> int:
        return self.model.update_acks(states)

    def set_ack(self, key: Key, state: AckState | None) -> None:
        self.model.set_ack(key, state)

    def load_account(self, account: str, info: AccountInfo, rows: Mapping[str, Row]) -> None:
        self.model.set_account_info(account, info)
        self.model.apply_account(account, rows)

    def remove_account(self, account: str) -> None:
        self.model.remove_account(account)

    def plan(self, account: str, rows: Mapping[str, Row]) -> Plan:
        """The diff of a snapshot against the table; safe on the diff thread."""
        return self.model.plan(account, rows)

    def show(self, account: str, info: AccountInfo, plan: Plan | None, now: datetime | None) -> None:
        """One account's result: its read state, then its diff (None: already applied in pieces).
        ``now`` when the account could not be read: its rows turn stale and age from then."""
        if now is not None:
            self.model.set_now(now)
        self.model.set_account_info(account, info)
        if plan is not None:
            self.model.apply_plan(plan)

    async def apply_in_pieces(self, plan: Plan) -> None:
        """Many changed rows (a price tick on 10,000): applied in pieces with the loop turning in
        between, rows re-sorted once at the end, the table repainted once."""
        self.table.setUpdatesEnabled(False)
        try:
            for piece in plan.split(APPLY_CHUNK):
                self.model.apply_plan(piece, defer_moves=True)
                self._settled()  # this piece's entries stay: later collections skip them
                await asyncio.sleep(0)
            self.model.settle_moves()
        finally:
            self.table.setUpdatesEnabled(True)
        await asyncio.sleep(0)

    # -- the selection and the filter ------------------------------------------------------

    def set_accounts(self, accounts: list[str]) -> None:
        self.filters.set_accounts(accounts)

    def reveal(self, key: Key) -> None:
        """Select and show a row; when the filter hides it, show everything first."""
        if not self.table.select_key(key):
            self.filters.show_everything()
            self.table.select_key(key)
        self.table.setFocus()

    def clear_selection(self) -> None:
        self.table.clearSelection()

    def toggle_account(self, account: str) -> None:
        """An account's badge was clicked: show only that account, or everything again."""
        self.filters.toggle_account(account)

    def _filter_changed(self, spec: FilterSpec) -> None:
        key = self.table.current_key()
        self.model.set_filter(spec)
        if key is not None:
            self.table.select_key(key)
