"""The event log, newest first, filterable by account and kind, each event linked to its row.

New events arrive at the top as row insertions (never a reset), and the log keeps a bounded
number in memory: the store has them all (``position-sync events``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from position_sync.app.display import clock, event_detail, event_label
from position_sync.app.domain import Event, EventKind
from position_sync.ui import status_style
from position_sync.ui.plain_text import tooltip

AnyIndex = QModelIndex | QPersistentModelIndex
EventRole = Qt.ItemDataRole.UserRole + 1
KEEP = 5000
HEADERS = ("Time", "Account", "Instrument", "Event", "Detail")


def kind_icon(kind: EventKind) -> QIcon:
    """A kind's icon, for the filter's list (a mismatch there stands for all three kinds)."""
    return status_style.event_icon(kind)


class EventsModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._events: list[Event] = []  # newest first
        self.currency_of: Callable[[str], str | None] = lambda _account: None

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._events)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        event = self._events[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return clock(event.at, seconds=True)
            if column == 1:
                return event.account
            if column == 2:
                return event.instrument or ""
            if column == 3:
                return event_label(event.kind)
            return event_detail(event, self.currency_of(event.account))
        if role == Qt.ItemDataRole.DecorationRole and column == 3:
            return status_style.event_icon(event.kind, event.detail)
        if role == Qt.ItemDataRole.ToolTipRole:
            where = f" {event.instrument}" if event.instrument else ""
            link = "\nDouble-click to select its row." if event.instrument else ""
            detail = event_detail(event, self.currency_of(event.account))
            return tooltip(
                f"{event.at.astimezone():%Y-%m-%d %H:%M:%S} {event.account}{where}\n{detail}{link}"
            )
        if role == EventRole:
            return event
        return None

    def prepend(self, events: Iterable[Event]) -> None:
        """Newest first: a batch arrives oldest first and goes in on top, in one insertion."""
        batch = list(events)[::-1]
        if not batch:
            return
        self.beginInsertRows(QModelIndex(), 0, len(batch) - 1)
        self._events[0:0] = batch
        self.endInsertRows()
        if len(self._events) > KEEP:
            self.beginRemoveRows(QModelIndex(), KEEP, len(self._events) - 1)
            del self._events[KEEP:]
            self.endRemoveRows()

    def replace(self, events: Iterable[Event]) -> None:
        """The whole log at once (a new runtime's stored events): one reset, not a second copy."""
        self.beginResetModel()
        self._events = list(events)[::-1][:KEEP]
        self.endResetModel()

    def events(self) -> list[Event]:
        return list(self._events)


class EventsFilter(QSortFilterProxyModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.account: str | None = None
        self.kind: EventKind | None = None

    def set(self, account: str | None, kind: EventKind | None) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt 6.9+; invalidateFilter() is deprecated there
            self.beginFilterChange()
            self.account, self.kind = account, kind
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.account, self.kind = account, kind
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:
        event = self.sourceModel().index(source_row, 0, source_parent).data(EventRole)
        if self.account is not None and event.account != self.account:
            return False
        return self.kind is None or event.kind is self.kind


class EventsPane(QWidget):
    """Emits ``row_requested(account, instrument)`` when an event is activated."""

    row_requested = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = EventsModel(self)
        self.proxy = EventsFilter(self)
        self.proxy.setSourceModel(self.model)
        self.account = QComboBox()
        self.account.addItem("All accounts", None)
        self.kind = QComboBox()
        self.kind.addItem("All events", None)
        for kind in EventKind:
            self.kind.addItem(kind_icon(kind), event_label(kind), kind)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.horizontalHeader().setStretchLastSection(True)
        for column, width in enumerate((80, 90, 200, 160)):
            self.table.setColumnWidth(column, width)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(QLabel("Account"))
        top.addWidget(self.account)
        top.addWidget(QLabel("Event"))
        top.addWidget(self.kind)
        top.addStretch(1)
        top.addWidget(QLabel("Double-click an event to select its row"))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.table)
        self.account.currentIndexChanged.connect(self._refilter)
        self.kind.currentIndexChanged.connect(self._refilter)
        self.table.activated.connect(self._activated)

    def set_accounts(self, accounts: list[str]) -> None:
        current = self.account.currentData()
        self.account.blockSignals(True)
        while self.account.count() > 1:
            self.account.removeItem(1)
        for account in accounts:
            self.account.addItem(account, account)
        self.account.setCurrentIndex(max(self.account.findData(current), 0))
        self.account.blockSignals(False)
        self._refilter()

    def add(self, events: Iterable[Event]) -> None:
        self.model.prepend(events)

    def replace(self, events: Iterable[Event]) -> None:
        """Events oldest first, as ``add`` takes them, replacing whatever was shown."""
        self.model.replace(events)

    def set_currency_of(self, currency_of: Callable[[str], str | None]) -> None:
        """How an account's money is shown in the details (realised P&L)."""
        self.model.currency_of = currency_of

    def _refilter(self, *_: Any) -> None:
        self.proxy.set(self.account.currentData(), self.kind.currentData())

    def _activated(self, index: QModelIndex) -> None:
        event = index.data(EventRole)
        if event is not None and event.instrument:
            self.row_requested.emit(event.account, event.instrument)
