"""The positions table as Qt sees it: the sorted index and the row presenter, adapted to Qt.

Nothing is decided here. ``ui.positions_index`` keeps the rows in display order and says each
insert, removal, move and change as it makes it; this model wraps those steps in Qt's begin/end
calls and carries persistent indexes (the selection, the current row) across a re-sort by key.
``ui.row_presenter`` says what each cell shows. ``data`` runs for every role of every visible
cell on each repaint, so it is lookups only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from position_sync.app.domain import Row, Status
from position_sync.app.store.acks import AckState
from position_sync.ui.positions_columns import COLUMNS, Col
from position_sync.ui.positions_index import Entry, Key, Plan, PositionsIndex
from position_sync.ui.positions_order import FilterSpec
from position_sync.ui.row_presenter import AccountInfo, Repaint, RowPresenter

AnyIndex = QModelIndex | QPersistentModelIndex

RowRole = Qt.ItemDataRole.UserRole + 1
KeyRole = Qt.ItemDataRole.UserRole + 2
_LAST_COLUMN = len(COLUMNS) - 1
_DISPLAY = Qt.ItemDataRole.DisplayRole.value
_ALIGNMENT = Qt.ItemDataRole.TextAlignmentRole.value
_TOOLTIP = Qt.ItemDataRole.ToolTipRole.value
_LOOK_SLOT = {
    Qt.ItemDataRole.ForegroundRole.value: 0,
    Qt.ItemDataRole.BackgroundRole.value: 1,
    Qt.ItemDataRole.FontRole.value: 2,
    Qt.ItemDataRole.DecorationRole.value: 3,
}


class _QtSteps:
    """The index's steps as Qt's begin/end signals of one model."""

    def __init__(self, model: PositionsModel) -> None:
        self._model = model
        self.index: PositionsIndex | None = None
        self._persistent: list[QModelIndex] = []
        self._keys: list[tuple[Key, int] | None] = []

    def inserting(self, first: int, last: int) -> None:
        self._model.beginInsertRows(QModelIndex(), first, last)

    def inserted(self) -> None:
        self._model.endInsertRows()

    def removing(self, first: int, last: int) -> None:
        self._model.beginRemoveRows(QModelIndex(), first, last)

    def removed(self) -> None:
        self._model.endRemoveRows()

    def moving(self, source: int, destination: int) -> None:
        self._model.beginMoveRows(QModelIndex(), source, source, QModelIndex(), destination)

    def moved(self) -> None:
        self._model.endMoveRows()

    def reordering(self) -> None:
        """Note the rows of persistent indexes by key, before the index re-sorts."""
        assert self.index is not None
        model = self._model
        model.layoutAboutToBeChanged.emit()
        self._persistent = model.persistentIndexList()
        key_at = self.index.key_at
        self._keys = [(key_at(p.row()), p.column()) if p.isValid() else None for p in self._persistent]

    def reordered(self) -> None:
        assert self.index is not None
        model = self._model
        position_of = self.index.position_of
        new_indexes = []
        for old in self._keys:
            position = position_of(old[0]) if old is not None else None
            new_indexes.append(
                QModelIndex() if old is None or position is None else model.index(position, old[1])
            )
        model.changePersistentIndexList(self._persistent, new_indexes)
        self._persistent, self._keys = [], []
        model.layoutChanged.emit()

    def changed(self, first: int, last: int) -> None:
        model = self._model
        model.dataChanged.emit(model.index(first, 0), model.index(last, _LAST_COLUMN))


class PositionsModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        now = datetime.now(UTC)
        steps = _QtSteps(self)
        self._index = steps.index = PositionsIndex(steps, now)
        self._presenter = RowPresenter(now)
        self._holds: set[str] = set()

    # -- Qt interface ----------------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._index)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        column = COLUMNS[Col(section)]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.title
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{column.group} — {column.tip}" if column.group else column.tip
        if role == Qt.ItemDataRole.TextAlignmentRole:
            horizontal = Qt.AlignmentFlag.AlignRight if column.numeric else Qt.AlignmentFlag.AlignLeft
            return horizontal | Qt.AlignmentFlag.AlignVCenter
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: AnyIndex, role: int = _DISPLAY) -> Any:
        """Called for every role of every visible cell on each repaint: lookups only."""
        number = index.row()
        if number < 0:
            return None
        entry: Entry = self._index.entry_at(number)
        if role == _DISPLAY:
            return self._presenter.cells(entry)[index.column()]
        slot = _LOOK_SLOT.get(role)
        if slot is not None:
            return self._presenter.looks(entry)[index.column()][slot]
        if role == _ALIGNMENT:
            return self._presenter.alignments[index.column()]
        if role == _TOOLTIP:
            return self._presenter.tooltip(entry)
        if role == RowRole:
            return entry.row
        if role == KeyRole:
            return entry.row.key
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Header clicks land here; a negative column means the default order (problems first)."""
        self._index.sort(
            Col(column) if 0 <= column < len(COLUMNS) else Col.STATUS,
            column >= 0 and order == Qt.SortOrder.DescendingOrder,
        )

    # -- reading ---------------------------------------------------------------------------

    @property
    def sort_column(self) -> Col:
        return self._index.sort_column

    @property
    def sort_order(self) -> Qt.SortOrder:
        return Qt.SortOrder.DescendingOrder if self._index.descending else Qt.SortOrder.AscendingOrder

    @property
    def filter(self) -> FilterSpec:
        return self._index.filter

    def row_at(self, display_row: int) -> Row:
        return self._index.row_at(display_row)

    def cell_texts(self, display_row: int) -> tuple[str, ...]:
        """What each cell of a row says, as ``data`` shows it (for measuring the columns)."""
        return self._presenter.cells(self._index.entry_at(display_row))

    def marked(self, display_row: int) -> bool:
        """Whether the row may carry an acknowledgement's or a snooze's icon by its instrument."""
        return self._index.entry_at(display_row).ack is not None

    def row_for(self, key: Key) -> Row | None:
        return self._index.row_for(key)

    def ack_for(self, key: Key) -> AckState | None:
        return self._index.ack_for(key)

    def muted(self, account: str, instrument: str, now: datetime | None = None) -> bool:
        """Acknowledged (and unchanged since) or snoozed; ``now`` is the caller's clock."""
        return self._index.muted(account, instrument, now)

    def index_of(self, key: Key, column: int = 0) -> QModelIndex:
        position = self._index.position_of(key)
        return QModelIndex() if position is None else self.index(position, column)

    def rows(self) -> Iterable[Row]:
        return self._index.rows()

    def total(self) -> int:
        return self._index.total()

    def counts(self) -> Counter[Status]:
        return self._index.counts()

    def unmuted_problems(self) -> int:
        return self._index.unmuted_problems()

    def accounts(self) -> list[str]:
        return self._index.accounts()

    def count_of(self, account: str) -> int:
        """How many rows the account has, shown or filtered out."""
        return self._index.count_of(account)

    # -- updating --------------------------------------------------------------------------

    def set_now(self, now: datetime) -> None:
        """Advance the clock that stale ages and snoozes are judged by; repaints only those rows."""
        self._presenter.set_now(now)
        self._index.set_now(now)  # a snooze running out moves its row back among the loud ones

    def set_dark(self, dark: bool) -> None:
        if self._presenter.set_dark(dark):
            self._index.repaint_all()

    def set_account_info(self, account: str, info: AccountInfo) -> None:
        repaint = self._presenter.set_account_info(account, info)
        if repaint is Repaint.NONE:
            return
        touched = self._index.entries_of(account)
        if repaint is Repaint.STALE:
            touched = [entry for entry in touched if entry.row.status is Status.STALE]
        self._presenter.forget(entry.key for entry in touched)
        self._index.repaint(touched)

    def set_acks(self, states: Mapping[Key, AckState]) -> None:
        """Replace every acknowledgement at once (start-up, or after another process wrote some)."""
        self._index.set_acks(states)

    def update_acks(self, states: Mapping[Key, AckState]) -> int:
        """Bring the acknowledgements to a fresh read; returns how many keys changed."""
        return self._index.update_acks(states)

    def set_ack(self, key: Key, state: AckState | None) -> None:
        self._index.set_ack(key, state)

    def set_filter(self, spec: FilterSpec) -> None:
        self._index.set_filter(spec)

    def plan(self, account: str, rows: Mapping[str, Row]) -> Plan:
        """The diff against what the table shows; only reads, so the diff thread may run it.
        ``rows`` must be a ``positions_index.snapshot``."""
        return self._index.plan(account, rows)

    def apply_plan(self, plan: Plan, *, defer_moves: bool = False) -> tuple[int, int, int]:
        """Apply a diff on the UI thread; returns (added, changed, removed)."""
        counts = self._index.apply_plan(plan, defer_moves=defer_moves)
        self._presenter.forget(plan.removed)
        return counts

    def apply_account(self, account: str, rows: Mapping[str, Row]) -> tuple[int, int, int]:
        """Bring one account to its complete new picture; returns (added, changed, removed)."""
        if self._index.count_of(account):
            return self.apply_plan(self.plan(account, rows))
        return self._index.apply_account(account, rows)  # new to the table: no diff to make

    def settle_moves(self) -> None:
        """Put the rows deferred by ``apply_plan(defer_moves=True)`` in their places, in one go."""
        self._index.settle_moves()

    def hold_order(self, reason: str, held: bool = True) -> None:
        """Keep every row in its place while any reason holds ("key", "mouse", "menu"); the rows
        that would have moved meanwhile move once the last reason lets go."""
        if held:
            self._holds.add(reason)
        else:
            self._holds.discard(reason)
        if bool(self._holds) != self._index.held:
            self._index.hold(bool(self._holds))

    @property
    def order_held(self) -> bool:
        return self._index.held

    def remove_account(self, account: str) -> None:
        self.apply_account(account, {})
        self._presenter.forget_account(account)
