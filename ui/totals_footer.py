"""The totals footer under the positions grid: a line per account and currency, as in TWS.

Figures only, worked out elsewhere (``ui.totals``); this widget says them. A partial total is
marked in words and in the warning colour beside its amount, and its tooltip names what is
missing, so a smaller number never passes for the whole. Account ids are outside text: plain.
"""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from position_sync.app.display import fmt_money
from position_sync.app.domain import ZERO, Status
from position_sync.ui import status_style
from position_sync.ui.plain_text import plain_label, tooltip
from position_sync.ui.totals import Figure, Line

HEADINGS = ("Unrealised P&L", "Realised P&L", "Gross exposure")
ABOUT = (
    "Totals of every row of each account, whatever the filter shows. Currencies are never "
    "added together: each has its own line. Gross exposure is the sum of the absolute market "
    "values (quantity × last price × multiplier) of what the broker holds."
)
VISIBLE_LINES = 4  # more lines than this scroll inside the footer: the grid keeps the room
_WHAT = {0: "unrealised P&L", 1: "realised P&L", 2: "last price"}


def partial_text(figure: Figure, what: str, rows: int) -> str:
    """Why a total is partial: ``3 of 12 rows have no realised P&L: NSE:INFY, ...``."""
    named = ", ".join(figure.missing)
    more = figure.unknown - len(figure.missing)
    if more > 0:
        named += f" and {more} more"
    rows_word = "row has" if figure.unknown == 1 else "rows have"
    if figure.none_known:
        return f"Unknown: {figure.unknown} of {rows} {rows_word} no {what} from the broker ({named})."
    return (
        f"Partial: {figure.unknown} of {rows} {rows_word} no {what} from the broker ({named}); "
        "the total counts only the others."
    )


class TotalsFooter(QFrame):
    """``show_lines`` replaces what is shown; hidden while there is nothing to total."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("totalsFooter")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self._lines: list[Line] = []
        self._cells: list[list[QLabel]] = []
        inner = QWidget()
        self._grid = QGridLayout(inner)
        self._grid.setContentsMargins(4, 2, 4, 2)
        self._grid.setHorizontalSpacing(18)
        self._grid.setVerticalSpacing(1)
        caption = QLabel("Totals")
        caption.setToolTip(tooltip(ABOUT))
        self._headings = [caption] + [QLabel(text) for text in HEADINGS]
        small = QFont(self.font())
        small.setPointSizeF(max(small.pointSizeF() * 0.9, 7.0))
        for column, label in enumerate(self._headings):
            label.setFont(small)
            label.setToolTip(tooltip(ABOUT))
            if column:
                label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self._grid.addWidget(label, 0, column)
        self._grid.setColumnStretch(len(HEADINGS) + 1, 1)
        self._scroll = QScrollArea(self)
        self._scroll.setWidget(inner)
        self._scroll.setWidgetResizable(True)
        self._scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._scroll)
        self.hide()

    # -- what is shown ----------------------------------------------------------------------

    def show_lines(self, lines: list[Line]) -> None:
        self._lines = list(lines)
        self._render()

    def lines(self) -> list[Line]:
        return list(self._lines)

    def texts(self) -> list[list[str]]:
        """Each shown line's cells as text (label, three figures, note), for tests and copying."""
        return [[label.text() for label in cells] for cells in self._cells[: len(self._lines)]]

    def tooltips(self) -> list[list[str]]:
        return [[label.toolTip() for label in cells] for cells in self._cells[: len(self._lines)]]

    # -- drawing ----------------------------------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self._lines:
            self._render()  # gains, losses and warnings have their own colours per palette

    def _row(self, number: int) -> list[QLabel]:
        while len(self._cells) <= number:
            cells = [plain_label() for _ in range(len(HEADINGS) + 2)]
            line = len(self._cells) + 1
            for column, label in enumerate(cells):
                if 0 < column <= len(HEADINGS):
                    label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self._grid.addWidget(label, line, column)
            self._cells.append(cells)
        return self._cells[number]

    def _render(self) -> None:
        dark = status_style.is_dark(self.palette())
        warn = status_style.text_colour(Status.QTY_MISMATCH, dark).name()
        muted = status_style.muted_colour(dark).name()
        for number, line in enumerate(self._lines):
            cells = self._row(number)
            name = cells[0]
            name.setText(line.label)
            weight = "font-weight: bold;" if line.overall else ""
            name.setStyleSheet(weight)
            name.setToolTip(tooltip(f"{line.label}: {line.sums.rows} rows"))
            sums = line.sums
            notes: list[str] = []
            for column, figure in enumerate((sums.unrealised, sums.realised, sums.gross), start=1):
                label = cells[column]
                signed = column < 3
                text = fmt_money(figure.amount, sums.currency, signed=signed)
                colour = self._pnl_colour(figure.amount, dark) if signed else None
                if figure.none_known:
                    text, colour = "unknown", warn
                    label.setToolTip(tooltip(partial_text(figure, _WHAT[column - 1], sums.rows)))
                elif figure.partial:
                    text += " (partial)"
                    colour = warn
                    label.setToolTip(tooltip(partial_text(figure, _WHAT[column - 1], sums.rows)))
                else:
                    label.setToolTip(tooltip(f"{HEADINGS[column - 1]} of {line.label}"))
                label.setText(text)
                label.setStyleSheet(f"color: {colour}; {weight}" if colour else weight)
            if sums.stale:
                notes.append("stale: the last good picture")
            note = cells[-1]
            note.setText(" · ".join(notes))
            note.setStyleSheet(f"color: {muted};")
            for label in cells:
                label.show()
        for cells in self._cells[len(self._lines) :]:
            for label in cells:
                label.hide()
        self._fit()
        self.setVisible(bool(self._lines))

    def _fit(self) -> None:
        shown = min(len(self._lines), VISIBLE_LINES) + 1
        line = self.fontMetrics().height() + 2
        self._scroll.setFixedHeight(shown * line + 6)

    @staticmethod
    def _pnl_colour(amount: Decimal, dark: bool) -> str | None:
        sign = (amount > ZERO) - (amount < ZERO)
        colour: QColor | None = status_style.pnl_colour(sign, dark)
        return colour.name() if colour is not None else None
