"""History charts (pyqtgraph, date axis) and the selected row's timeline, all from the store.

Left: one account's number of problems, gross exposure and unrealised P&L over time, side by
side and x-linked so a spike in one lines up with the others. Right: the selected row's broker and local quantity as
step lines (a position changes in jumps, never in slopes), and below it the row's history in
words: material changes, events, acknowledgements and snoozes. Long series stay fast through
pyqtgraph's peak downsampling and clip-to-view.

Every series is drawn as steps held until now (a figure is recorded when it changes, and holds
until the next one). An empty series shows a sentence instead of an axis counting from 1970, and
a short one is given at least ``MIN_SPAN`` of time axis so it still carries readable labels.

The value axis always reaches zero (``value_range``): scaled to the data alone, a 0.1 % move of
a large exposure filled the chart top to bottom and read as a cliff. Money charts name their
account and currency in the title; the row chart's legend sits above the plot, off the lines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPalette, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QStackedWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from position_sync.app.display import MINUS, clock
from position_sync.app.store.series import AccountSeries, QuantitySeries, steps
from position_sync.ui.plain_text import markup, tooltip
from position_sync.ui.wrapping import wrap_rows

RANGES: tuple[tuple[str, timedelta | None], ...] = (
    ("Last 24 hours", timedelta(days=1)),
    ("Last 7 days", timedelta(days=7)),
    ("Last 30 days", timedelta(days=30)),
    ("Everything", None),
)
BROKER_COLOUR = "#0072B2"
LOCAL_COLOUR = "#E69F00"
MIN_SPAN = 60.0  # seconds of time axis at least: a few syncs still get labelled ticks
NO_ROW_HISTORY = "No history for this row yet: it appears with the row's first stored change."
NO_ACCOUNT_HISTORY = "No history for this account yet: the charts fill with its syncs."
PICK_A_ROW = "Select a row to see its quantities over time."
EXPOSURE_MEANS = (
    "Gross exposure: for each open row, the larger of the broker's and the book's position "
    "at the last price (the average price where there is none), summed over the account."
)


@dataclass(frozen=True)
class TimelineItem:
    """One line of a row's history in words."""

    at: datetime
    kind: str
    text: str


def compact(value: float) -> str:
    """Axis numbers a trader reads at a glance: 5.93M rather than 6e+06, −250 with the grid's minus."""
    text = f"{value:.4g}"
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            text = f"{value / limit:.4g}{suffix}"
            break
    return text.replace("-", MINUS)


def value_range(values: Sequence[float]) -> tuple[float, float]:
    """The value axis of a chart: from zero (or the lowest value below it) to the highest value
    (or zero above it), so a move reads in proportion to the whole; never empty."""
    low = min(0.0, *values) if values else 0.0
    high = max(0.0, *values) if values else 1.0
    if high == low:
        high = low + 1.0
    return low, high


def _plot(pg: Any, title: str | None) -> Any:
    class CompactAxis(pg.AxisItem):
        def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
            return [compact(v * scale) for v in values]

    plot = pg.PlotItem(axisItems={"bottom": pg.DateAxisItem(utcOffset=None), "left": CompactAxis("left")})
    plot.setTitle(title, size="9pt")
    plot.showGrid(x=True, y=True, alpha=0.15)
    plot.setDownsampling(auto=True, mode="peak")
    plot.setClipToView(True)
    plot.setMenuEnabled(False)
    plot.hideButtons()
    plot.getAxis("left").setWidth(56)
    return plot


class HistoryPane(QWidget):
    """Asks for data through signals; the controller answers with ``show_*`` from the store."""

    account_changed = Signal(object)
    range_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.account = QComboBox()
        self.account.setToolTip("Whose history the charts on the left show")
        self.range = QComboBox()
        for label, span in RANGES:
            self.range.addItem(label, span)
        self.range.setCurrentIndex(1)
        self.range.setToolTip("How far back the charts reach")
        self.row_title = QLabel("Select a row to see its quantities over time")
        self.row_title.setTextFormat(Qt.TextFormat.RichText)
        self.timeline = QTreeWidget()
        self.timeline.setHeaderLabels(["When", "What"])
        self.timeline.setRootIsDecorated(False)
        self.timeline.setColumnWidth(0, 130)
        self.timeline.setAlternatingRowColors(True)
        wrap_rows(self.timeline)  # a long "What" (a book fix names every column) wraps, never cut
        self.charts_stack = QStackedWidget()
        self.charts_placeholder = self._placeholder(NO_ACCOUNT_HISTORY)
        self.charts_stack.addWidget(self.charts_placeholder)
        self.row_stack = QStackedWidget()
        self.row_placeholder = self._placeholder(PICK_A_ROW)
        self.row_stack.addWidget(self.row_placeholder)
        self.built = False
        self.currency_of: Callable[[str], str | None] = lambda _account: None

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(QLabel("Account"))
        top.addWidget(self.account)
        top.addWidget(self.range)
        top.addStretch(1)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(top)
        left_layout.addWidget(self.charts_stack, 1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.row_title)
        row_split = QSplitter(Qt.Orientation.Vertical)
        row_split.addWidget(self.row_stack)
        row_split.addWidget(self.timeline)
        row_split.setSizes([200, 140])
        right_layout.addWidget(row_split)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("historySplitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setSizes([900, 500])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.splitter)
        self.account.currentIndexChanged.connect(
            lambda *_: self.account_changed.emit(self.account.currentData())
        )
        self.range.currentIndexChanged.connect(lambda *_: self.range_changed.emit())

    @staticmethod
    def _placeholder(text: str) -> QLabel:
        label = QLabel(text)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setWordWrap(True)
        label.setStyleSheet("color: palette(placeholder-text); padding: 12px;")
        return label

    def showEvent(self, event: QShowEvent) -> None:
        self.build()
        super().showEvent(event)

    def build(self) -> None:
        """Create the charts on first use: pyqtgraph (and numpy) cost a third of a second to
        import, which the first paint of the positions should not wait for."""
        if self.built:
            return
        self.built = True
        import pyqtgraph as pg

        self.charts = pg.GraphicsLayoutWidget()
        self.problems_plot = _plot(pg, "Problems")
        self.exposure_plot = _plot(pg, "Gross exposure")
        self.pnl_plot = _plot(pg, "Unrealised P&L")
        for column, plot in enumerate((self.problems_plot, self.exposure_plot, self.pnl_plot)):
            self.charts.addItem(plot, row=0, col=column)  # side by side: the pane is wide, not tall
        self.exposure_plot.setXLink(self.problems_plot)
        self.pnl_plot.setXLink(self.problems_plot)
        self.problems_curve = self.problems_plot.plot(
            pen=pg.mkPen("#D1362F", width=2), fillLevel=0, brush=(209, 54, 47, 40)
        )
        self.exposure_curve = self.exposure_plot.plot(pen=pg.mkPen("#0072B2", width=2))
        self.pnl_curve = self.pnl_plot.plot(pen=pg.mkPen("#009E73", width=2))
        self.pnl_plot.addLine(y=0, pen=pg.mkPen((128, 128, 128, 120), style=Qt.PenStyle.DashLine))
        self.row_plot = _plot(pg, None)  # the legend above says what the lines are
        self.row_chart = pg.GraphicsLayoutWidget()
        # The legend gets a row of its own above the plot: inside it, it covered the lines.
        self.legend = legend = pg.LegendItem(colCount=2, labelTextSize="8pt", frame=False)
        self.row_chart.addItem(legend, row=0, col=0)
        self.row_chart.addItem(self.row_plot, row=1, col=0)
        self.row_chart.ci.layout.setRowStretchFactor(1, 1)
        self.broker_curve = self.row_plot.plot(pen=pg.mkPen(BROKER_COLOUR, width=2))
        self.local_curve = self.row_plot.plot(pen=pg.mkPen(LOCAL_COLOUR, width=2, style=Qt.PenStyle.DashLine))
        legend.addItem(self.broker_curve, "broker quantity")
        legend.addItem(self.local_curve, "local (book) quantity")
        legend.layout.setContentsMargins(0, 0, 0, 0)
        legend.setMaximumHeight(legend.layout.minimumHeight() + 2)
        self.charts.setToolTip(EXPOSURE_MEANS)
        self.charts_stack.addWidget(self.charts)
        self.row_stack.addWidget(self.row_chart)
        self.apply_palette(self.palette())

    def apply_palette(self, palette: QPalette) -> None:
        """Follow the light or dark palette: pyqtgraph has its own colours otherwise."""
        if not self.built:
            return
        import pyqtgraph as pg

        background = palette.color(QPalette.ColorRole.Base)
        foreground = palette.color(QPalette.ColorRole.Text)
        for widget in (self.charts, self.row_chart):
            widget.setBackground(background)
        for plot in (self.problems_plot, self.exposure_plot, self.pnl_plot, self.row_plot):
            for name in ("left", "bottom"):
                axis = plot.getAxis(name)
                axis.setPen(pg.mkPen(QColor(foreground).darker(110)))
                axis.setTextPen(pg.mkPen(foreground))
            if plot.titleLabel.text:
                plot.titleLabel.setText(plot.titleLabel.text, color=foreground.name())
        self.legend.setLabelTextColor(foreground)

    def set_accounts(self, accounts: list[str]) -> None:
        current = self.account.currentData()
        self.account.blockSignals(True)
        self.account.clear()
        for account in accounts:
            self.account.addItem(account, account)
        index = self.account.findData(current)
        self.account.setCurrentIndex(index if index >= 0 else 0)
        self.account.blockSignals(False)
        if self.account.currentData() != current:
            self.account_changed.emit(self.account.currentData())

    def set_currency_of(self, currency_of: Callable[[str], str | None]) -> None:
        """How to learn an account's currency, named in its money charts' titles."""
        self.currency_of = currency_of

    def titles(self, account: str | None) -> tuple[str, str, str]:
        """The account charts' titles: whose figures, and in which currency."""
        if account is None:
            return ("Problems", "Gross exposure", "Unrealised P&L")
        currency = self.currency_of(account)
        unit = f"in {currency}" if currency else "currency not set"
        return (
            f"Problems at {account}",
            f"Gross exposure of {account}, {unit}",
            f"Unrealised P&L of {account}, {unit}",
        )

    def current_account(self) -> str | None:
        data = self.account.currentData()
        return str(data) if data is not None else None

    def since(self, now: datetime | None = None) -> datetime | None:
        span: timedelta | None = self.range.currentData()
        return None if span is None else (now or datetime.now(UTC)) - span

    def show_account(self, series: AccountSeries, now: datetime | None = None) -> None:
        self.build()
        until = (now or datetime.now(UTC)).timestamp()
        charts = (
            (self.problems_plot, self.problems_curve, series.problems),
            (self.exposure_plot, self.exposure_curve, series.gross_exposure),
            (self.pnl_plot, self.pnl_curve, series.unrealised_pnl),
        )
        foreground = self.palette().color(QPalette.ColorRole.Text).name()
        for (plot, curve, recorded), title in zip(charts, self.titles(series.account), strict=True):
            curve.setData(*steps(recorded.times, recorded.values, until))
            plot.setTitle(title, size="9pt", color=foreground)
        times = series.problems.times + series.gross_exposure.times
        if not times:
            self.charts_placeholder.setText(NO_ACCOUNT_HISTORY)
            self.charts_stack.setCurrentWidget(self.charts_placeholder)
            return
        self.charts_stack.setCurrentWidget(self.charts)
        for plot, _curve, recorded in charts:
            _value_axis(plot, recorded.values)
        _time_range(self.problems_plot, min(times), until)  # the other two are x-linked to it

    def show_row(
        self,
        series: QuantitySeries | None,
        timeline: list[TimelineItem],
        now: datetime | None = None,
    ) -> None:
        self.build()
        if series is None:
            self.row_title.setText(PICK_A_ROW)
            self.broker_curve.setData([], [])
            self.local_curve.setData([], [])
            self.row_placeholder.setText(PICK_A_ROW)
            self.row_stack.setCurrentWidget(self.row_placeholder)
            self.timeline.clear()
            return
        moment = now or datetime.now(UTC)
        until = moment.timestamp()
        self.row_title.setText(
            markup("<b>{instrument}</b> at {account}", instrument=series.instrument, account=series.account)
        )
        self.broker_curve.setData(*steps(series.times, series.broker, until))
        self.local_curve.setData(*steps(series.times, series.local, until))
        if series.times:
            self.row_stack.setCurrentWidget(self.row_chart)
            _value_axis(self.row_plot, [*series.broker, *series.local])
            _time_range(self.row_plot, series.times[0], until)
        else:
            self.row_placeholder.setText(NO_ROW_HISTORY)
            self.row_stack.setCurrentWidget(self.row_placeholder)
        self.timeline.clear()
        items = []
        for item in sorted(timeline, key=lambda t: t.at, reverse=True):
            line = QTreeWidgetItem([clock(item.at, moment, seconds=True), item.text])
            line.setToolTip(1, tooltip(item.text))
            line.setData(0, Qt.ItemDataRole.UserRole, item.kind)
            items.append(line)
        self.timeline.addTopLevelItems(items)

    def row_placeholder_shown(self) -> bool:
        return self.row_stack.currentWidget() is self.row_placeholder

    def curve_data(self) -> dict[str, Any]:
        """What the charts hold (all of it, not only what the view clips to), for tests."""
        self.build()
        curves = {
            "problems": self.problems_curve,
            "exposure": self.exposure_curve,
            "unrealised": self.pnl_curve,
            "broker": self.broker_curve,
            "local": self.local_curve,
        }
        return {
            name: (
                [] if curve.xData is None else list(curve.xData),
                [] if curve.yData is None else list(curve.yData),
            )
            for name, curve in curves.items()
        }


def _value_axis(plot: Any, values: Sequence[float]) -> None:
    """Time follows the data; the value axis is ``value_range``, with a little room around it."""
    plot.enableAutoRange(axis="x")
    plot.disableAutoRange(axis="y")
    low, high = value_range(values)
    plot.setYRange(low, high, padding=0.06)


def _time_range(plot: Any, start: float, end: float) -> None:
    """At least ``MIN_SPAN`` of time axis ending now, so a few seconds of history get labels."""
    if end - start < MIN_SPAN:
        plot.setXRange(end - MIN_SPAN, end, padding=0.02)
