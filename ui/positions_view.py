"""The positions table on screen: a two-level header, fixed-height rows, and the filter bar.

The header groups the broker and local columns under "Quantity" and "Average price" so the eye
reads each pair side by side. Columns can be moved, resized and hidden (the header's context
menu); a group's name is drawn over each run of its columns that sit together, so a column
dragged out of its group still says whose it is. The layout is saved with the window's, marked
with a version so a layout saved for other columns is never applied to these.
Rows have one fixed height so the view never asks the model to measure 10,000 rows.

Rows carry book writes, so the row the trader is on must not slide away: the selection follows
its instrument through every re-sort, the current row keeps its place on screen when rows move
around it (the view scrolls with it), and while a key or a mouse button is held on the table no
row changes its place at all (``PositionsModel.hold_order``); the moves wait for the release.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QByteArray, QEvent, QItemSelectionModel, QModelIndex, QPoint, QRect, Qt, Signal
from PySide6.QtGui import QFocusEvent, QKeyEvent, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QStyle,
    QStyleOptionHeader,
    QTableView,
    QWidget,
)

from position_sync.app.display import status_label
from position_sync.app.domain import PROBLEM_STATUSES, Status
from position_sync.ui import status_style
from position_sync.ui.positions_columns import ALWAYS_SHOWN, COLUMNS, DEFAULT_ORDER, Col, heading
from position_sync.ui.positions_fit import ColumnFitter
from position_sync.ui.positions_index import Key
from position_sync.ui.positions_model import KeyRole, PositionsModel
from position_sync.ui.positions_order import FilterSpec

# Until the first rows are shown; then the columns fit their texts (``ui.positions_fit``).
# Everything up to the Hint fits 1280 px, and the Status ends well inside 1024 px.
DEFAULT_WIDTHS = {
    Col.ACCOUNT: 76,
    Col.INSTRUMENT: 190,
    Col.PRODUCT: 72,
    Col.SIDE: 52,
    Col.STATUS: 166,
    Col.BROKER_QTY: 66,
    Col.LOCAL_QTY: 66,
    Col.DIFF: 62,
    Col.HINT: 300,
    Col.BROKER_AVG: 100,
    Col.LOCAL_AVG: 100,
    Col.PRICE_GAP: 136,
    Col.LAST: 96,
    Col.VALUE: 124,
    Col.UNREALISED: 100,
    Col.REALISED: 100,
    Col.SINCE: 50,
}
LAYOUT_VERSION = b"position-sync columns 2\n"  # before the header's own state; bumped with the columns


class GroupedHeader(QHeaderView):
    """A horizontal header whose grouped sections carry their group's name above them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self._groups: dict[int, str] = {int(c): spec.group for c, spec in COLUMNS.items() if spec.group}
        self.setSectionsMovable(True)
        self.setSectionsClickable(True)
        self.setHighlightSections(False)
        self.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)

    def sizeHint(self) -> Any:
        size = super().sizeHint()
        size.setHeight(self.fontMetrics().height() * 2 + 14)
        return size

    def paintSection(self, painter: QPainter, rect: QRect, logical: int) -> None:
        if logical not in self._groups:
            super().paintSection(painter, rect, logical)
            return
        half = rect.height() // 2
        painter.save()
        super().paintSection(
            painter, QRect(rect.left(), rect.top() + half, rect.width(), rect.height() - half), logical
        )
        painter.restore()

    def group_runs(self) -> list[tuple[str, int, int]]:
        """(group, first, last logical section) of each run of one group's columns side by side
        on screen; hidden columns take no room, so they neither end nor split a run."""
        runs: list[tuple[str, int, int]] = []
        current: tuple[str, int, int] | None = None
        for visual in range(self.count()):
            logical = self.logicalIndex(visual)
            if self.isSectionHidden(logical):
                continue
            group = self._groups.get(logical)
            if current is not None and group == current[0]:
                current = (current[0], current[1], logical)
                continue
            if current is not None:
                runs.append(current)
            current = (group, logical, logical) if group else None
        if current is not None:
            runs.append(current)
        return runs

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        painter = QPainter(self.viewport())
        half = self.height() // 2
        for group, first, last in self.group_runs():
            left = self.sectionViewportPosition(first)
            right = self.sectionViewportPosition(last) + self.sectionSize(last)
            if right <= 0 or left >= self.viewport().width():
                continue
            option = QStyleOptionHeader()
            option.initFrom(self)
            option.rect = QRect(left, 0, right - left, half)
            option.text = group
            option.textAlignment = Qt.AlignmentFlag.AlignCenter
            option.position = QStyleOptionHeader.SectionPosition.Middle
            option.orientation = Qt.Orientation.Horizontal
            self.style().drawControl(QStyle.ControlElement.CE_Header, option, painter, self)
        painter.end()


class PositionsView(QTableView):
    """The table; ``current_key`` and ``select_key`` speak in (account, instrument) keys."""

    def __init__(self, model: PositionsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHorizontalHeader(GroupedHeader(self))
        self.setModel(model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setShowGrid(False)
        self.setAlternatingRowColors(False)
        self.setCornerButtonEnabled(False)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        vertical = self.verticalHeader()
        vertical.setVisible(False)
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(self.fontMetrics().height() + 10)
        header = self.horizontalHeader()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._header_menu_at)
        self.default_columns()
        self.setSortingEnabled(True)
        header.setSortIndicator(int(Col.STATUS), Qt.SortOrder.AscendingOrder)
        self.fitter = ColumnFitter(self, model)  # widths follow the texts: see ``ui.positions_fit``
        self._place: tuple[Key, int] | None = None  # the current row and its top, while rows move
        for before, after in (
            (model.layoutAboutToBeChanged, model.layoutChanged),
            (model.rowsAboutToBeMoved, model.rowsMoved),
            (model.rowsAboutToBeInserted, model.rowsInserted),
            (model.rowsAboutToBeRemoved, model.rowsRemoved),
        ):
            before.connect(self._remember_place)
            after.connect(self._keep_place)

    # -- the current row stays put ---------------------------------------------------------

    def _remember_place(self, *_: Any) -> None:
        if self._place is not None:
            return
        current = self.currentIndex()
        if not current.isValid():
            return
        top = self.visualRect(current).top()
        if 0 <= top < self.viewport().height():  # on screen: keep it where the eye is
            key = current.data(KeyRole)
            self._place = ((str(key[0]), str(key[1])), top)

    def _keep_place(self, *_: Any) -> None:
        place, self._place = self._place, None
        if place is None:
            return
        key, top = place
        index = self.positions().index_of(key)
        if not index.isValid():
            return
        self.executeDelayedItemsLayout()  # the scroll range for the new row count
        shift = self.visualRect(index).top() - top
        if shift:
            bar = self.verticalScrollBar()
            bar.setValue(bar.value() + shift)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride:
            self.positions().hold_order("key")  # a shortcut fires on the press: hold from there
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        self.positions().hold_order("key")
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        super().keyReleaseEvent(event)
        if not event.isAutoRepeat():
            self.positions().hold_order("key", False)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.positions().hold_order("mouse")
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton:
            self.positions().hold_order("mouse", False)

    def focusOutEvent(self, event: QFocusEvent) -> None:
        """A dialog opened by the key, another window: no release will come here."""
        super().focusOutEvent(event)
        model = self.positions()
        model.hold_order("key", False)
        model.hold_order("mouse", False)

    def positions(self) -> PositionsModel:
        model = self.model()
        assert isinstance(model, PositionsModel)
        return model

    def current_key(self) -> Key | None:
        index = self.currentIndex()
        if not index.isValid():
            rows = self.selectionModel().selectedRows()
            if not rows:
                return None
            index = rows[0]
        key = index.data(KeyRole)
        return (str(key[0]), str(key[1])) if key else None

    def selected_keys(self) -> list[Key]:
        keys = (i.data(KeyRole) for i in self.selectionModel().selectedRows())
        return [(str(k[0]), str(k[1])) for k in keys if k]

    def select_key(self, key: Key) -> bool:
        """Select and reveal a row (a notification or an event asked for it); False if hidden."""
        index = self.positions().index_of(key)
        if not index.isValid():
            return False
        self.selectionModel().setCurrentIndex(
            index,
            QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
        )
        self.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
        return True

    def default_order(self) -> None:
        self.horizontalHeader().setSortIndicator(int(Col.STATUS), Qt.SortOrder.AscendingOrder)

    # -- the columns: which, where, how wide ------------------------------------------------

    def shown_columns(self) -> list[Col]:
        """The visible columns, left to right."""
        header = self.horizontalHeader()
        logical = (header.logicalIndex(v) for v in range(header.count()))
        return [Col(c) for c in logical if not header.isSectionHidden(c)]

    def default_columns(self) -> None:
        """Every column shown, in ``DEFAULT_ORDER``, at its default width."""
        header = self.horizontalHeader()
        for position, column in enumerate(DEFAULT_ORDER):
            header.setSectionHidden(int(column), False)
            current = header.visualIndex(int(column))
            if current != position:
                header.moveSection(current, position)
        for column, width in DEFAULT_WIDTHS.items():
            self.setColumnWidth(int(column), width)

    def set_column_shown(self, column: Col, shown: bool) -> None:
        if column in ALWAYS_SHOWN and not shown:
            return
        self.horizontalHeader().setSectionHidden(int(column), not shown)

    def column_state(self) -> QByteArray:
        """Order, widths, hidden columns and the sort, for the window's saved layout."""
        return QByteArray(LAYOUT_VERSION) + self.horizontalHeader().saveState()

    def restore_column_state(self, state: QByteArray) -> bool:
        """Apply a saved ``column_state``; False (defaults kept) for one saved for other columns."""
        data = bytes(state.data())
        if not data.startswith(LAYOUT_VERSION):
            return False
        header = self.horizontalHeader()
        if not header.restoreState(QByteArray(data[len(LAYOUT_VERSION) :])):
            self.default_columns()
            return False
        for column in ALWAYS_SHOWN:
            header.setSectionHidden(int(column), False)
        return True

    def header_menu(self) -> QMenu:
        """One checkable entry per column, in the order shown, and a way back to the defaults."""
        header = self.horizontalHeader()
        menu = QMenu(self)
        menu.setToolTipsVisible(True)
        order = sorted(COLUMNS, key=lambda c: header.visualIndex(int(c)))
        for column in order:
            spec = COLUMNS[column]
            text = f"{spec.title} ({spec.group})" if spec.group else spec.title
            action = menu.addAction(text.replace("&", "&&"))  # "P&L", not a shortcut on L
            action.setCheckable(True)
            action.setChecked(not header.isSectionHidden(int(column)))
            action.setData(int(column))
            if column in ALWAYS_SHOWN:
                action.setEnabled(False)
                action.setToolTip(f"{spec.title} is always shown: a row is read by it")
            else:
                action.setToolTip(spec.tip)
                action.toggled.connect(lambda shown, c=column: self.set_column_shown(c, shown))
        menu.addSeparator()
        reset = menu.addAction("Reset columns")
        reset.setToolTip("Every column back, in the default order and widths")
        reset.triggered.connect(self.default_columns)
        return menu

    def _header_menu_at(self, position: QPoint) -> None:
        menu = self.header_menu()
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(self.horizontalHeader().mapToGlobal(position))

    def copy_rows(self) -> str:
        """Tab-separated text of the selected rows, the columns as shown, for a chat or a spreadsheet."""
        model = self.positions()
        columns = self.shown_columns()
        lines = ["\t".join(heading(column) for column in columns)]
        for index in sorted(self.selectionModel().selectedRows(), key=QModelIndex.row):
            lines.append("\t".join(str(model.index(index.row(), c).data() or "") for c in columns))
        return "\n".join(lines)


class FilterBar(QWidget):
    """Account, status, text, and "only problems": emits a complete ``FilterSpec`` on change."""

    changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        self.account = QComboBox()
        self.account.addItem("All accounts", None)
        self.account.setToolTip("Show one account only")
        self.status = QComboBox()
        self.status.addItem("All statuses", None)
        # Stale rows are unverified: as much the trader's business as a known problem.
        self.status.addItem("Problems and stale", frozenset(PROBLEM_STATUSES | {Status.STALE}))
        for status in Status:
            self.status.addItem(status_style.status_icon(status), status_label(status), frozenset({status}))
        self.status.setToolTip("Show one status only")
        self.text = QLineEdit()
        self.text.setPlaceholderText("Filter by instrument, account or hint")
        self.text.setClearButtonEnabled(True)
        self.text.setToolTip("Filter the rows by text (Ctrl+F)")
        self.text.setMinimumWidth(200)
        self.only_problems = QCheckBox("Only problems")
        self.only_problems.setToolTip(
            "Hide matches and closed rows; stale rows stay, their account could not be read (Ctrl+Shift+M)"
        )
        self.summary = QLabel()
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setMinimumWidth(120)  # never wider than the screen: it may shrink
        layout.addWidget(QLabel("Account"))
        layout.addWidget(self.account)
        layout.addWidget(QLabel("Status"))
        layout.addWidget(self.status)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.only_problems)
        layout.addStretch(0)
        layout.addWidget(self.summary)
        self.account.currentIndexChanged.connect(self._emit)
        self.status.currentIndexChanged.connect(self._emit)
        self.text.textChanged.connect(self._emit)
        self.only_problems.toggled.connect(self._emit)

    def set_accounts(self, accounts: list[str]) -> None:
        current = self.account.currentData()
        known = [self.account.itemData(i) for i in range(1, self.account.count())]
        if known == accounts:
            return
        self.account.blockSignals(True)
        while self.account.count() > 1:
            self.account.removeItem(1)
        for account in accounts:
            self.account.addItem(account, account)
        index = self.account.findData(current)
        self.account.setCurrentIndex(max(index, 0))
        self.account.blockSignals(False)
        self._emit()

    def spec(self) -> FilterSpec:
        return FilterSpec(
            account=self.account.currentData(),
            statuses=self.status.currentData(),
            text=self.text.text().strip(),
            only_problems=self.only_problems.isChecked(),
        )

    def _emit(self, *_: Any) -> None:
        self.changed.emit(self.spec())

    def show_everything(self) -> None:
        """Every account, every status, no text: a row asked for is never hidden by the filter."""
        self.account.setCurrentIndex(0)
        self.status.setCurrentIndex(0)
        self.text.clear()
        self.only_problems.setChecked(False)

    def toggle_account(self, account: str) -> None:
        """Only ``account``, or every account again when it is the one shown."""
        index = self.account.findData(account)
        if index >= 0:
            self.account.setCurrentIndex(0 if self.account.currentIndex() == index else index)

    def focus_text(self) -> None:
        self.text.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.text.selectAll()
