"""The positions table's column widths follow what the cells say, so nothing important is clipped.

A clipped status ("Phantom · acknow…") or price ("₹1,52,1…") is worse than a wide table: the
trader reads the wrong thing. Fixed default widths are either too wide for a 1280 px screen (the
Hint column, last and stretching, gets nothing) or too narrow for the texts a row can take later.
So every column but the last is fitted to its texts: exactly, the first time rows are shown
(unless a remembered layout came first), and afterwards wider at once, narrower only when the
texts need clearly less (a column must not twitch as "Stale 9 s" turns "Stale 10 s"), and on a
large table, measured on screen only, never narrower. A column the user sized by hand is left
alone. The Hint column gets the rest of the screen right of the columns before it (those after
it scroll); a longer hint is elided, whole in the row's tooltip.

Measuring asks the model for the row's texts (kept by the row presenter) and the font for their
widths, not the delegate for every cell's size: a small table is measured whole, a large one
(10,000 rows) on the rows on screen, again whenever it scrolls.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QApplication, QStyle, QTableView

from position_sync.ui.positions_columns import Col
from position_sync.ui.positions_model import PositionsModel
from position_sync.ui.row_presenter import BOLD_WHEN_WRONG

MEASURE_ALL_UP_TO = 200  # rows; above, only those on screen
HINT = int(Col.HINT)  # fitted last: it gets the rest of the screen
HINT_MINIMUM = 160
SHRINK_SLACK = 24  # px a column must have to spare before it narrows
_ICON_COLUMNS = {int(Col.STATUS)}  # always an icon; the instrument has one when acknowledged
_BOLD_COLUMNS = {int(c) for c in BOLD_WHEN_WRONG}  # bold on problem rows: measured bold


class ColumnFitter(QObject):
    def __init__(self, view: QTableView, model: PositionsModel) -> None:
        super().__init__(view)
        self._view = view
        self._model = model
        self._exact = True  # the first fit with rows sets widths; later ones only widen
        self._fitting = False
        self.by_hand: set[int] = set()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.fit)
        for signal in (
            model.rowsInserted,
            model.rowsRemoved,
            model.dataChanged,
            model.layoutChanged,
            model.modelReset,
        ):
            signal.connect(self.soon)
        view.verticalScrollBar().valueChanged.connect(self.soon)
        header = view.horizontalHeader()
        header.sortIndicatorChanged.connect(self.soon)
        header.sectionResized.connect(self._resized)

    def soon(self, *_: Any) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def keep_widths(self) -> None:
        """Widths came from a remembered layout: widen them where texts need it, never narrow."""
        self._exact = False

    def _resized(self, logical: int, _old: int, _new: int) -> None:
        if self._fitting or logical == HINT:
            return
        if QApplication.mouseButtons() & Qt.MouseButton.LeftButton:
            self.by_hand.add(logical)  # dragged: the user's width from now on

    def needed(self) -> list[int]:
        """The width each column's texts and header need, over the rows measured."""
        view, model = self._view, self._model
        count = model.rowCount()
        if count <= MEASURE_ALL_UP_TO:
            rows: range = range(count)
        else:
            first = max(0, view.rowAt(0))
            last = view.rowAt(view.viewport().height() - 1)
            rows = range(first, (last if last >= 0 else count - 1) + 1)
        style = view.style()
        margin = style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, view) + 1
        icon = view.iconSize().width()
        if icon <= 0:
            icon = style.pixelMetric(QStyle.PixelMetric.PM_SmallIconSize, None, view)
        plain = QFontMetrics(view.font())
        bold_font = QFont(view.font())
        bold_font.setBold(True)
        bold = QFontMetrics(bold_font)
        columns = model.columnCount()
        widest = [0] * columns
        marked = False
        for position in rows:
            texts = model.cell_texts(position)
            marked = marked or model.marked(position)
            for column in range(columns):
                metrics = bold if column in _BOLD_COLUMNS else plain
                width = metrics.horizontalAdvance(texts[column])
                if width > widest[column]:
                    widest[column] = width
        header = view.horizontalHeader()
        header_metrics = QFontMetrics(header.font())
        header_margin = style.pixelMetric(QStyle.PixelMetric.PM_HeaderMargin, None, header)
        sorted_column = header.sortIndicatorSection()
        needs = []
        for column in range(columns):
            text = 2 * margin + 2 + widest[column] if widest[column] else 0
            if widest[column] and (column in _ICON_COLUMNS or (column == int(Col.INSTRUMENT) and marked)):
                text += icon + 2 * margin
            title = str(model.headerData(column, Qt.Orientation.Horizontal) or "")
            heading = header_metrics.horizontalAdvance(title) + 4 * header_margin
            if column == sorted_column:
                heading += header_metrics.height() + header_margin  # the sort arrow
            needs.append(max(text, heading))
        return needs

    def fit(self) -> None:
        view = self._view
        if self._model.rowCount() == 0:
            return
        needs = self.needed()
        whole = self._model.rowCount() <= MEASURE_ALL_UP_TO  # else a narrower need is only the screen's
        self._fitting = True
        try:
            for column, need in enumerate(needs):
                if column in self.by_hand or column == HINT:
                    continue
                width = view.columnWidth(column)
                narrower = need != width if self._exact else whole and need < width - SHRINK_SLACK
                if need > width or narrower:
                    view.setColumnWidth(column, need)
            if HINT not in self.by_hand:
                view.setColumnWidth(HINT, self._hint_width(needs[HINT]))
        finally:
            self._fitting = False
        self._exact = False

    def _hint_width(self, need: int) -> int:
        """The rest of the screen right of the columns before it (what is right of the Hint
        scrolls), at least ``HINT_MINIMUM``, at most what its longest text needs."""
        view = self._view
        header = view.horizontalHeader()
        left = sum(
            view.columnWidth(column)
            for column in range(header.count())
            if not header.isSectionHidden(column) and header.visualIndex(column) < header.visualIndex(HINT)
        )
        rest = view.viewport().width() - left
        return max(HINT_MINIMUM, min(need, rest))
