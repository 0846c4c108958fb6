"""The positions table as one ``QAbstractTableModel`` that sorts and filters itself.

A sync of 10,000 rows must reach the screen without a reset and without stalling the window, and
the trader's selection and scroll position must survive it. A ``QSortFilterProxyModel`` would ask
Python for every comparison (hundreds of thousands of calls per sort), so this model keeps its
visible rows in display order with a parallel list of precomputed sort keys: finding a row is a
bisection, a changed row is one ``dataChanged``, a row whose key changed is one ``beginMoveRows``,
and only large bursts fall back to one layout change with persistent indexes carried over.
Display strings are built lazily, for the rows actually painted.
"""

from __future__ import annotations

import bisect
import gc
import operator
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QColor, QFont, QIcon

from position_sync.app.display import (
    clock,
    figures,
    fmt_money,
    fmt_qty,
    instrument_label,
    short_hint,
    span,
    status_label,
    status_meaning,
)
from position_sync.app.domain import ZERO, AccountState, Row, Status
from position_sync.app.store.acks import AckState
from position_sync.ui import status_style
from position_sync.ui.plain_text import escape, markup
from position_sync.ui.resources import icon

Key = tuple[str, str]
AnyIndex = QModelIndex | QPersistentModelIndex

RowRole = Qt.ItemDataRole.UserRole + 1
KeyRole = Qt.ItemDataRole.UserRole + 2
_SKEY = operator.attrgetter("skey")
_EKEY = operator.attrgetter("key")
_SMALL_BURST = 48  # structural changes handled one by one below this; one layout change above


class Col(IntEnum):
    ACCOUNT = 0
    INSTRUMENT = 1
    BROKER_QTY = 2
    LOCAL_QTY = 3
    DIFF = 4
    BROKER_AVG = 5
    LOCAL_AVG = 6
    LAST = 7
    UNREALISED = 8
    REALISED = 9
    STATUS = 10
    SINCE = 11
    HINT = 12


@dataclass(frozen=True)
class Column:
    title: str
    group: str | None = None
    numeric: bool = False
    tip: str = ""


COLUMNS: dict[Col, Column] = {
    Col.ACCOUNT: Column("Account", tip="the broker login"),
    Col.INSTRUMENT: Column("Instrument", tip="the instrument key, the same whichever side spelled it"),
    Col.BROKER_QTY: Column("Broker", "Quantity", True, "signed quantity the broker holds"),
    Col.LOCAL_QTY: Column("Local", "Quantity", True, "signed quantity your book holds"),
    Col.DIFF: Column("Diff", "Quantity", True, "broker minus local: what your book is missing"),
    Col.BROKER_AVG: Column("Broker", "Average price", True, "the broker's average price"),
    Col.LOCAL_AVG: Column("Local", "Average price", True, "your book's average price"),
    Col.LAST: Column("Last", "Market", True, "last traded price"),
    Col.UNREALISED: Column("Unrealised", "P&L", True, "unrealised P&L at the broker"),
    Col.REALISED: Column("Realised", "P&L", True, "realised P&L at the broker (today)"),
    Col.STATUS: Column("Status", tip="how the two sides compare"),
    Col.SINCE: Column("Since", tip="when the row took its current status"),
    Col.HINT: Column("Hint", tip="what may explain the difference"),
}


@dataclass(frozen=True)
class FilterSpec:
    """What the user narrowed the table to; the default shows everything."""

    account: str | None = None
    statuses: frozenset[Status] | None = None
    text: str = ""
    only_problems: bool = False

    def accepts(self, row: Row) -> bool:
        if self.account is not None and row.account != self.account:
            return False
        status = row.effective_status
        if self.only_problems and not status.is_problem:
            return False
        if self.statuses is not None and row.status not in self.statuses and status not in self.statuses:
            return False
        if self.text:
            needle = self.text.casefold()
            haystack = f"{row.account} {row.instrument} {row.hint or ''} {status_label(status)}"
            if needle not in haystack.casefold():
                return False
        return True


@dataclass
class AccountInfo:
    currency: str | None = None
    state: AccountState = AccountState.OK
    last_success_at: datetime | None = None
    error: str | None = None


@dataclass(frozen=True)
class Plan:
    """One account's diff: rows to add, (old, new) pairs that changed, keys to remove."""

    account: str
    added: list[Row]
    changed: list[tuple[Row, Row]]
    removed: list[Key]
    exposures: dict[str, float] = field(default_factory=dict)  # by instrument, worked out with the diff

    def split(self, size: int) -> list[Plan]:
        """Pieces of at most ``size`` rows, each a valid step towards the same picture."""
        items: list[tuple[str, Any]] = (
            [("r", key) for key in self.removed]
            + [("c", pair) for pair in self.changed]
            + [("a", row) for row in self.added]
        )
        pieces = []
        for start in range(0, len(items), size):
            chunk = items[start : start + size]
            pieces.append(
                Plan(
                    self.account,
                    [v for t, v in chunk if t == "a"],
                    [v for t, v in chunk if t == "c"],
                    [v for t, v in chunk if t == "r"],
                    self.exposures,
                )
            )
        return pieces or [self]

    @property
    def size(self) -> int:
        return len(self.added) + len(self.changed) + len(self.removed)


class _Desc:
    """Inverts a sort key so one ascending list serves both sort orders."""

    __slots__ = ("key",)

    def __init__(self, key: tuple[Any, ...]) -> None:
        self.key = key

    def __lt__(self, other: _Desc) -> bool:
        return other.key < self.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)


class _Entry:
    __slots__ = ("ack", "cells", "exposure", "key", "looks", "pending", "row", "skey")

    def __init__(self, row: Row, exposure: float | None = None) -> None:
        self.row = row
        self.key: Key = row.key
        self.exposure = _exposure(row) if exposure is None else exposure
        self.ack: AckState | None = None
        self.skey: Any = None  # the sort key while visible, None while filtered out
        self.pending: Any = None  # a new sort key not applied yet (see ``settle_moves``)
        self.cells: tuple[str, ...] | None = None
        self.looks: tuple[_Look, ...] | None = None

    def invalidate(self) -> None:
        """The row, its acknowledgement or the clock changed: text and looks are worked out anew."""
        self.cells = None
        self.looks = None


# (foreground, background, font, decoration) of one cell: what the view asks of every visible
# cell on every repaint, kept per row so a repaint costs a lookup instead of the style logic.
_Look = tuple[QColor | None, QColor | None, QFont | None, QIcon | None]
_DISPLAY = Qt.ItemDataRole.DisplayRole.value
_ALIGNMENT = Qt.ItemDataRole.TextAlignmentRole.value
_TOOLTIP = Qt.ItemDataRole.ToolTipRole.value
_LOOK_SLOT = {
    Qt.ItemDataRole.ForegroundRole.value: 0,
    Qt.ItemDataRole.BackgroundRole.value: 1,
    Qt.ItemDataRole.FontRole.value: 2,
    Qt.ItemDataRole.DecorationRole.value: 3,
}


def _exposure(row: Row) -> float:
    """``Row.exposure`` in floats: the same order, a quarter of the cost, for sorting 10,000 rows."""
    price = row.last_price or row.broker_avg or row.local_avg
    if price is None:
        return 0.0
    broker = abs(float(row.broker_qty)) if row.broker_qty is not None else 0.0
    local = abs(float(row.local_qty)) if row.local_qty is not None else 0.0
    return abs(max(broker, local) * float(price) * float(row.multiplier))


def _num_key(value: Decimal | None) -> tuple[int, float]:
    return (1, 0.0) if value is None else (0, float(value))


class PositionsModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._entries: dict[Key, _Entry] = {}
        self._by_account: dict[str, set[Key]] = {}
        self._order: list[Key] = []  # visible keys in display order
        self._skeys: list[Any] = []  # their sort keys, ascending
        self._filter = FilterSpec()
        self._sort_column = Col.STATUS
        self._sort_order = Qt.SortOrder.AscendingOrder
        self._accounts: dict[str, AccountInfo] = {}
        self._acks: dict[Key, AckState] = {}
        self._counts: Counter[Status] = Counter()
        self._problems: set[Key] = set()  # keys whose effective status is a problem
        self._deferred: list[_Entry] = []
        self._now = datetime.now(UTC)
        self._dark = False
        self._italic = QFont()
        self._italic.setItalic(True)
        self._bold = QFont()
        self._bold.setBold(True)
        self._icons = {status: status_style.status_icon(status) for status in Status}
        self._ack_icon = icon("ack")
        self._snooze_icon = icon("snooze")
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        left = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        self._alignments = tuple(right if COLUMNS[Col(c)].numeric else left for c in range(len(COLUMNS)))

    # -- Qt interface ----------------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._order)

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
        entry = self._entries[self._order[number]]
        if role == _DISPLAY:
            cells = entry.cells
            if cells is None:
                cells = entry.cells = self._cells(entry)
            return cells[index.column()]
        slot = _LOOK_SLOT.get(role)
        if slot is not None:
            looks = entry.looks
            if looks is None:
                looks = entry.looks = self._looks(entry)
            return looks[index.column()][slot]
        if role == _ALIGNMENT:
            return self._alignments[index.column()]
        if role == _TOOLTIP:
            return self.tooltip(entry)
        if role == RowRole:
            return entry.row
        if role == KeyRole:
            return entry.row.key
        return None

    def _looks(self, entry: _Entry) -> tuple[_Look, ...]:
        row = entry.row
        background = (
            None
            if row.status is Status.STALE
            else status_style.tint(row.status, self._dark, quiet=self._quiet(entry))
        )
        if row.status is Status.STALE:
            font: QFont | None = self._italic
            bold = None
        else:
            font = None
            bold = self._bold if row.status.is_problem else None
        return tuple(
            (
                self._foreground(entry, column),
                background,
                bold if column in (Col.STATUS, Col.DIFF) and font is None else font,
                self._decoration(entry, column),
            )
            for column in range(len(COLUMNS))
        )

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Header clicks land here; a negative column means the default order (problems first)."""
        self._sort_column = Col(column) if 0 <= column < len(COLUMNS) else Col.STATUS
        self._sort_order = order if column >= 0 else Qt.SortOrder.AscendingOrder
        self._relayout()

    # -- reading ---------------------------------------------------------------------------

    @property
    def sort_column(self) -> Col:
        return self._sort_column

    @property
    def sort_order(self) -> Qt.SortOrder:
        return self._sort_order

    @property
    def filter(self) -> FilterSpec:
        return self._filter

    def row_at(self, display_row: int) -> Row:
        return self._entries[self._order[display_row]].row

    def row_for(self, key: Key) -> Row | None:
        entry = self._entries.get(key)
        return entry.row if entry else None

    def ack_for(self, key: Key) -> AckState | None:
        return self._acks.get(key)

    def muted(self, account: str, instrument: str, now: datetime | None = None) -> bool:
        """Acknowledged (and unchanged since) or snoozed: the notifier keeps quiet about it.

        ``now`` judges a snooze by the caller's clock (the controller's, to the second) rather
        than the model's, which only advances with the half-minute repaint of ages.
        """
        state = self._acks.get((account, instrument))
        return state is not None and state.mutes(self.row_for((account, instrument)), now or self._now)

    def index_of(self, key: Key, column: int = 0) -> QModelIndex:
        entry = self._entries.get(key)
        if entry is None or entry.skey is None:
            return QModelIndex()
        return self.index(self._position(entry.skey), column)

    def rows(self) -> Iterable[Row]:
        return (entry.row for entry in self._entries.values())

    def total(self) -> int:
        return len(self._entries)

    def counts(self) -> Counter[Status]:
        """Rows per (effective) status, kept up to date by every change: no pass over 10,000 rows."""
        return +self._counts

    def unmuted_problems(self) -> int:
        entries = self._entries
        return sum(1 for key in self._problems if not self._quiet(entries[key]))

    def _count(self, row: Row, delta: int) -> None:
        status = row.effective_status
        self._counts[status] += delta
        if status.is_problem:
            if delta > 0:
                self._problems.add(row.key)
            else:
                self._problems.discard(row.key)

    def accounts(self) -> list[str]:
        return sorted(self._by_account)

    # -- updating --------------------------------------------------------------------------

    def set_now(self, now: datetime) -> None:
        """Advance the clock that stale ages and snoozes are judged by; repaints only those rows."""
        self._now = now
        touched = [
            entry
            for entry in self._entries.values()
            if entry.skey is not None
            and (entry.row.status is Status.STALE or (entry.ack and entry.ack.snooze))
        ]
        for entry in touched:
            entry.invalidate()
        self._reposition(touched)  # a snooze running out moves its row back among the loud ones

    def set_dark(self, dark: bool) -> None:
        if dark != self._dark:
            self._dark = dark
            for entry in self._entries.values():
                entry.looks = None
            if self._order:
                self.dataChanged.emit(self.index(0, 0), self.index(len(self._order) - 1, len(COLUMNS) - 1))

    def set_account_info(self, account: str, info: AccountInfo) -> None:
        old = self._accounts.get(account)
        self._accounts[account] = info
        if old is not None and old.currency == info.currency:
            if old.last_success_at == info.last_success_at:
                return
            if old.state is AccountState.OK and info.state is AccountState.OK:
                return  # an account that reads fine has no stale rows showing an age
            # Only stale rows show the account's age; the others need no repaint.
            touched = [
                entry
                for key in self._by_account.get(account, ())
                if (entry := self._entries[key]).row.status is Status.STALE
            ]
        else:
            touched = [self._entries[key] for key in self._by_account.get(account, ())]
        for entry in touched:
            entry.invalidate()
        self._emit_changed([e for e in touched if e.skey is not None])

    def set_acks(self, states: Mapping[Key, AckState]) -> None:
        """Replace every acknowledgement at once (start-up, or after another process wrote some)."""
        self._acks = dict(states)
        touched = []
        for key, entry in self._entries.items():
            state = states.get(key)
            if state is not entry.ack:
                entry.ack = state
                entry.invalidate()
                touched.append(entry)
        self._reposition(touched)

    def update_acks(self, states: Mapping[Key, AckState]) -> int:
        """Bring the acknowledgements to a fresh read, touching only rows whose state differs.

        A periodic re-read returns new but equal objects for every row; comparing by value
        keeps it to the rows someone actually acknowledged, snoozed or cleared meanwhile.
        Returns how many keys changed.
        """
        changed = [key for key in self._acks.keys() | states.keys() if self._acks.get(key) != states.get(key)]
        for key in changed:
            self.set_ack(key, states.get(key))
        return len(changed)

    def set_ack(self, key: Key, state: AckState | None) -> None:
        if state is None:
            self._acks.pop(key, None)
        else:
            self._acks[key] = state
        entry = self._entries.get(key)
        if entry is None:
            return
        entry.ack = state
        entry.invalidate()
        self._reposition([entry])

    def set_filter(self, spec: FilterSpec) -> None:
        if spec != self._filter:
            self._filter = spec
            self._refilter()

    def apply_account(self, account: str, rows: Mapping[str, Row]) -> tuple[int, int, int]:
        """Bring one account to its complete new picture; returns (added, changed, removed)."""
        return self.apply_plan(self.plan(account, rows))

    def plan(self, account: str, rows: Mapping[str, Row]) -> Plan:
        """The diff against what the model shows: only reads, so a worker thread may run it.

        Comparing 10,000 rows costs about 10 ms of Python; the window runs it off the UI thread
        for large pictures, one plan at a time, and applies plans in the order they were made.

        The UI thread may change the model meanwhile (``load_cached`` after new settings, or a
        small result shown inline), so this never iterates a live container: the account's key
        set is copied first (``set.copy`` runs in C, under the GIL, so it cannot see a set
        half-changed), and single lookups in ``_entries`` are atomic. ``apply_plan`` re-checks
        every row against the model as it is by then.
        """
        entries = self._entries
        added: list[Row] = []
        changed: list[tuple[Row, Row]] = []
        for instrument, row in rows.items():
            entry = entries.get((account, instrument))
            if entry is None:
                added.append(row)
                continue
            old = entry.row
            if old is not row and old != row:
                changed.append((old, row))
        live = self._by_account.get(account)
        known = live.copy() if live is not None else set()
        # Judged key by key against the copy (a count comparison could be fooled by a key added
        # and another removed between the lookups above and the copy).
        removed = [key for key in known if key[1] not in rows]
        exposures = {row.instrument: _exposure(row) for row in added}
        exposures.update((new.instrument, _exposure(new)) for _, new in changed)
        return Plan(account, added, changed, removed, exposures)

    def apply_plan(self, plan: Plan, *, defer_moves: bool = False) -> tuple[int, int, int]:
        """Apply a diff on the UI thread; rows that moved on since it was made are re-checked.

        ``defer_moves`` (a large diff applied in pieces): rows whose place in the order changed
        are repainted but keep their place until ``settle_moves``, so the order is worked out
        once for the whole diff instead of once per piece.
        """
        entries = self._entries
        exposures = plan.exposures
        removed = [entries[key] for key in plan.removed if key in entries]
        added: list[_Entry] = []
        changed: list[tuple[_Entry, Row]] = []
        for old, new in plan.changed:
            entry = entries.get(new.key)
            if entry is None:
                added.append(_Entry(new, exposures.get(new.instrument)))
            elif entry.row is old or entry.row != new:
                entry.exposure = exposures[new.instrument] if new.instrument in exposures else _exposure(new)
                changed.append((entry, new))
        for row in plan.added:
            entry = entries.get(row.key)
            if entry is None:
                added.append(_Entry(row, exposures.get(row.instrument)))
            elif entry.row != row:
                entry.exposure = _exposure(row)
                changed.append((entry, row))
        if removed or added or changed:
            self._apply(removed, added, changed, defer_moves=defer_moves)
        return len(added), len(changed), len(removed)

    def settle_moves(self) -> None:
        """Put the rows deferred by ``apply_plan(defer_moves=True)`` in their places, in one go."""
        deferred, self._deferred = self._deferred, []
        moved = False
        for entry in deferred:
            if entry.pending is not None and entry.skey is not None:
                entry.skey = entry.pending
                moved = True
            entry.pending = None
        if moved:
            self._relayout(recompute=False)

    def remove_account(self, account: str) -> None:
        self.apply_account(account, {})
        self._accounts.pop(account, None)

    # -- internals: the incremental machinery ---------------------------------------------------

    def _sort_key(self, entry: _Entry) -> Any:
        row = entry.row
        tie = (row.account, row.instrument)
        column = self._sort_column
        if column is Col.STATUS:
            key: tuple[Any, ...] = (
                status_style.rank(row.effective_status),
                1 if entry.ack is not None and self._quiet(entry) else 0,
                -entry.exposure,
                *tie,
            )
        elif column is Col.ACCOUNT:
            key = tie
        elif column is Col.INSTRUMENT:
            key = (row.instrument, row.account)
        elif column is Col.BROKER_QTY:
            key = (*_num_key(row.broker_qty), *tie)
        elif column is Col.LOCAL_QTY:
            key = (*_num_key(row.local_qty), *tie)
        elif column is Col.DIFF:
            key = (float(row.difference), *tie)
        elif column is Col.BROKER_AVG:
            key = (*_num_key(row.broker_avg), *tie)
        elif column is Col.LOCAL_AVG:
            key = (*_num_key(row.local_avg), *tie)
        elif column is Col.LAST:
            key = (*_num_key(row.last_price), *tie)
        elif column is Col.UNREALISED:
            key = (*_num_key(row.unrealised_pnl), *tie)
        elif column is Col.REALISED:
            key = (*_num_key(row.realised_pnl), *tie)
        elif column is Col.SINCE:
            key = (row.since.timestamp(), *tie)
        else:
            key = (row.hint or "\uffff", *tie)
        return _Desc(key) if self._sort_order == Qt.SortOrder.DescendingOrder else key

    def _position(self, skey: Any) -> int:
        return bisect.bisect_left(self._skeys, skey)

    def _apply(
        self,
        removed: list[_Entry],
        added: list[_Entry],
        changed: list[tuple[_Entry, Row]],
        *,
        defer_moves: bool = False,
    ) -> None:
        leaving: list[_Entry] = []
        entering: list[_Entry] = []
        moving: list[tuple[_Entry, Any]] = []  # (entry, old sort key)
        repaint: list[_Entry] = []
        accepts = self._filter.accepts
        count = self._count
        for entry in removed:
            count(entry.row, -1)
            if entry.skey is not None:
                leaving.append(entry)
        for entry, row in changed:
            if entry.row.effective_status is not row.effective_status:
                count(entry.row, -1)
                count(row, 1)
            entry.row = row
            entry.invalidate()
            visible = accepts(row)
            if entry.skey is None:
                if visible:
                    entering.append(entry)
                continue
            if not visible:
                leaving.append(entry)
                continue
            new_key = self._sort_key(entry)
            if new_key == entry.skey:
                entry.pending = None
                repaint.append(entry)
            elif defer_moves:
                entry.pending = new_key
                self._deferred.append(entry)
                repaint.append(entry)
            else:
                entry.pending = None
                moving.append((entry, entry.skey))
                entry.skey = new_key
        for entry in added:
            key = entry.row.key
            count(entry.row, 1)
            entry.ack = self._acks.get(key)
            self._entries[key] = entry
            self._by_account.setdefault(key[0], set()).add(key)
            if accepts(entry.row):
                entering.append(entry)
        self._restructure(leaving, entering, moving)
        for entry in removed:  # only now: views may read a row until its removal is announced
            key = entry.row.key
            del self._entries[key]
            keys = self._by_account.get(key[0])
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_account[key[0]]
        self._emit_changed(repaint + [entry for entry, _ in moving])

    def _restructure(
        self, leaving: list[_Entry], entering: list[_Entry], moving: list[tuple[_Entry, Any]]
    ) -> None:
        for entry in entering:
            entry.skey = self._sort_key(entry)
            entry.pending = None
        if len(leaving) + len(entering) + len(moving) <= _SMALL_BURST:
            for entry in leaving:
                self._remove_one(entry)
            for entry, old in moving:
                self._move_one(entry, old)
            for entry in entering:
                self._insert_one(entry)
            return
        self._remove_many(leaving)
        if moving:
            self._relayout(recompute=False)
        self._insert_many(entering)

    def _remove_one(self, entry: _Entry) -> None:
        position = self._position(entry.skey)
        self.beginRemoveRows(QModelIndex(), position, position)
        del self._order[position]
        del self._skeys[position]
        self.endRemoveRows()
        entry.skey = entry.pending = None

    def _insert_one(self, entry: _Entry) -> None:
        position = self._position(entry.skey)
        self.beginInsertRows(QModelIndex(), position, position)
        self._order.insert(position, entry.key)
        self._skeys.insert(position, entry.skey)
        self.endInsertRows()

    def _move_one(self, entry: _Entry, old: Any) -> None:
        source = self._position(old)
        del self._skeys[source]
        key = self._order.pop(source)
        target = self._position(entry.skey)  # in the list without the row
        destination = target + 1 if target >= source else target
        self._skeys.insert(source, old)
        self._order.insert(source, key)
        if destination in (source, source + 1):
            self._skeys[source] = entry.skey
            return
        self.beginMoveRows(QModelIndex(), source, source, QModelIndex(), destination)
        del self._skeys[source]
        del self._order[source]
        self._skeys.insert(target, entry.skey)
        self._order.insert(target, key)
        self.endMoveRows()

    def _remove_many(self, leaving: list[_Entry]) -> None:
        positions = sorted((self._position(e.skey) for e in leaving), reverse=True)
        for entry in leaving:
            entry.skey = entry.pending = None
        for start, end in _runs_descending(positions):
            self.beginRemoveRows(QModelIndex(), start, end)
            del self._order[start : end + 1]
            del self._skeys[start : end + 1]
            self.endRemoveRows()

    def _insert_many(self, entering: list[_Entry]) -> None:
        if not entering:
            return
        entering.sort(key=lambda e: e.skey)
        # Final positions of the newcomers in the merged list; inserted run by run, ascending,
        # so each run's final position is already right when it goes in.
        final = [bisect.bisect_left(self._skeys, e.skey) + offset for offset, e in enumerate(entering)]
        index = 0
        while index < len(entering):
            start = index
            while index + 1 < len(entering) and final[index + 1] == final[index] + 1:
                index += 1
            first, last = final[start], final[index]
            run = entering[start : index + 1]
            self.beginInsertRows(QModelIndex(), first, last)
            self._order[first:first] = [e.key for e in run]
            self._skeys[first:first] = [e.skey for e in run]
            self.endInsertRows()
            index += 1

    def _relayout(self, *, recompute: bool = True) -> None:
        """Re-sort the visible rows in one layout change, carrying persistent indexes by key."""
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        old_keys = [(self._order[p.row()], p.column()) if p.isValid() else None for p in persistent]
        if recompute:
            for key in self._order:
                entry = self._entries[key]
                entry.skey = self._sort_key(entry)
                entry.pending = None
            self._deferred = []
        entries = self._entries
        collecting = gc.isenabled()
        gc.disable()  # 10,000 fresh list slots must not set off a collection in the middle
        try:
            visible = list(map(entries.__getitem__, self._order))
            visible.sort(key=_SKEY)
            self._skeys = list(map(_SKEY, visible))
            self._order = list(map(_EKEY, visible))
        finally:
            if collecting:
                gc.enable()
        new_indexes = []
        for old in old_keys:
            kept = entries.get(old[0]) if old is not None else None
            if kept is None or kept.skey is None or old is None:
                new_indexes.append(QModelIndex())
            else:
                new_indexes.append(self.index(self._position(kept.skey), old[1]))
        self.changePersistentIndexList(persistent, new_indexes)
        self.layoutChanged.emit()

    def _refilter(self) -> None:
        """A filter change: rows leave and enter as removals and insertions, never a reset."""
        accepts = self._filter.accepts
        leaving = [e for e in self._entries.values() if e.skey is not None and not accepts(e.row)]
        entering = [e for e in self._entries.values() if e.skey is None and accepts(e.row)]
        self._restructure(leaving, entering, [])

    def _reposition(self, touched: list[_Entry]) -> None:
        """Rows whose sort key may have changed (an acknowledgement moves a row down)."""
        moving = []
        repaint = []
        for entry in touched:
            if entry.skey is None:
                continue
            new_key = self._sort_key(entry)
            entry.pending = None
            if new_key != entry.skey:
                moving.append((entry, entry.skey))
                entry.skey = new_key
            else:
                repaint.append(entry)
        self._restructure([], [], moving)
        self._emit_changed(repaint + [e for e, _ in moving])

    def _emit_changed(self, entries: list[_Entry]) -> None:
        if not entries:
            return
        last_column = len(COLUMNS) - 1
        if len(entries) > 256 and len(entries) * 8 > len(self._order):
            # Most rows changed: one signal for all is cheaper than finding each (views repaint
            # only what is on screen either way).
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._order) - 1, last_column))
            return
        positions = sorted(self._position(e.skey) for e in entries if e.skey is not None)
        for start, end in _runs_ascending(positions):
            self.dataChanged.emit(self.index(start, 0), self.index(end, last_column))

    # -- internals: what a row looks like ---------------------------------------------------

    def _quiet(self, entry: _Entry) -> bool:
        return entry.ack is not None and entry.ack.mutes(entry.row, self._now)

    def _currency(self, row: Row) -> str | None:
        if row.currency:
            return row.currency
        info = self._accounts.get(row.account)
        return info.currency if info else None

    def _status_text(self, entry: _Entry) -> str:
        row = entry.row
        text = status_label(row.effective_status)
        if row.status is Status.STALE:
            info = self._accounts.get(row.account)
            age = span(self._now - info.last_success_at) if info and info.last_success_at else "?"
            text = f"Stale {age} · {text}" if row.previous_status else f"Stale {age}"
        if entry.ack is not None:
            if entry.ack.acknowledged(row):
                text += " · acknowledged"
            elif entry.ack.snoozed(self._now) and entry.ack.snooze and entry.ack.snooze.until:
                text += f" · snoozed to {clock(entry.ack.snooze.until, self._now)}"
        return text

    def _cells(self, entry: _Entry) -> tuple[str, ...]:
        row = entry.row
        currency = self._currency(row)
        problem = row.effective_status.is_problem
        diff = row.difference
        shown = figures(row)  # computed figures rounded as JSON and text output show them
        return (
            row.account,
            instrument_label(row.instrument),
            fmt_qty(row.broker_qty),
            fmt_qty(row.local_qty),
            fmt_qty(diff, signed=True) if problem and diff != ZERO else "",
            fmt_money(shown.broker_avg, currency) if row.broker_qty else "",  # no price for nothing held
            fmt_money(shown.local_avg, currency) if row.local_qty else "",
            fmt_money(shown.last_price, currency),
            fmt_money(shown.unrealised_pnl, currency, signed=True),
            fmt_money(shown.realised_pnl, currency, signed=True) + ("*" if row.realised_estimated else ""),
            self._status_text(entry),
            clock(row.since, self._now),
            short_hint(row.hint),  # the whole hint is in the tooltip
        )

    def _foreground(self, entry: _Entry, column: int) -> QColor | None:
        row = entry.row
        if row.status is Status.STALE or (row.status is Status.CLOSED and column != Col.REALISED):
            return status_style.muted_colour(self._dark)
        if column == Col.STATUS or (column == Col.DIFF and row.status.is_problem):
            return status_style.text_colour(row.effective_status, self._dark)
        if column == Col.UNREALISED and row.unrealised_pnl is not None:
            return status_style.pnl_colour(_sign(row.unrealised_pnl), self._dark)
        if column == Col.REALISED and row.realised_pnl is not None:
            return status_style.pnl_colour(_sign(row.realised_pnl), self._dark)
        return None

    def _decoration(self, entry: _Entry, column: int) -> QIcon | None:
        if column == Col.STATUS:
            return self._icons[
                entry.row.status if entry.row.status is Status.STALE else entry.row.effective_status
            ]
        if column == Col.INSTRUMENT and entry.ack is not None:
            if entry.ack.acknowledged(entry.row):
                return self._ack_icon
            if entry.ack.snoozed(self._now):
                return self._snooze_icon
        return None

    def tooltip(self, entry: _Entry) -> str:
        """Says in words what the row's status means, then the detail behind it.

        Rich text of our own; every value from a broker, a book or the user is escaped into it.
        """
        row = entry.row
        status = row.effective_status
        lines = [
            # no-break spaces: rich text would fold an OCC symbol's padding
            markup(
                "<b>{instrument}</b> at {account}",
                instrument=instrument_label(row.instrument).replace(" ", chr(0xA0)),
                account=row.account,
            ),
            f"<b>{status_label(status)}</b>: {status_meaning(status)}",
        ]
        if row.status is Status.STALE:
            info = self._accounts.get(row.account)
            when = clock(info.last_success_at, self._now) if info and info.last_success_at else "never"
            reason = f" ({escape(info.error)})" if info and info.error else ""
            lines.append(
                f"<i>Stale</i>: the account could not be read{reason}; this is the picture from {when}."
            )
        if row.status.is_problem and not row.confirmed:
            lines.append("Not confirmed yet: it must hold for another sync before it notifies.")
        if row.explained:
            lines.append("Explained by working orders.")
        if row.broker_parts:
            lines.append(
                "Broker: " + escape(", ".join(f"{p.label} {fmt_qty(p.quantity)}" for p in row.broker_parts))
            )
        if row.local_parts:
            lines.append(
                "Book: " + escape(", ".join(f"{p.label} {fmt_qty(p.quantity)}" for p in row.local_parts))
            )
        if row.hint:
            lines.append(f"Hint: {escape(row.hint)}")
        if row.realised_estimated:
            lines.append("* realised P&amp;L estimated from the last known price")
        if entry.ack is not None:
            if entry.ack.acknowledged(row) and entry.ack.ack is not None:
                note = f": “{escape(entry.ack.ack.note)}”" if entry.ack.ack.note else ""
                lines.append(
                    f"Acknowledged at {clock(entry.ack.ack.at, self._now)}{note}; quiet until it changes."
                )
            elif entry.ack.ack is not None:
                lines.append("An earlier acknowledgement lapsed: the row changed since.")
            if entry.ack.snoozed(self._now) and entry.ack.snooze and entry.ack.snooze.until:
                lines.append(f"Snoozed until {clock(entry.ack.snooze.until, self._now)}.")
        return "<br>".join(lines)


def _sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)


def _runs_ascending(positions: list[int]) -> Iterable[tuple[int, int]]:
    if not positions:
        return
    start = end = positions[0]
    for position in positions[1:]:
        if position == end + 1:
            end = position
        elif position != end:
            yield start, end
            start = end = position
    yield start, end


def _runs_descending(positions: list[int]) -> Iterable[tuple[int, int]]:
    """Runs of a descending list, yielded from the bottom up so earlier removals keep later indexes valid."""
    if not positions:
        return
    high = low = positions[0]
    for position in positions[1:]:
        if position == low - 1:
            low = position
        else:
            yield low, high
            high = low = position
    yield low, high
