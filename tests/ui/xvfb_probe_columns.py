"""Run by ``test_xvfb_columns`` on a virtual display: the demo at a given window size, then a report.

``python -m tests.ui.xvfb_probe_columns WIDTH HEIGHT PNG DATA_DIR`` plays the real ``--demo
--screenshot`` to its last step at that size and, just before the picture is taken, prints one
JSON line per cell of the Status and Hint columns: its text, the width its text needs and the
width the style gives it (what the delegate elides to), and whether the cell lies on screen
without scrolling sideways. The test judges; this only measures, the way the painter does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PySide6.QtCore import QModelIndex
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QAbstractItemView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from position_sync.cli import main
from position_sync.ui import main as window_main
from position_sync.ui import screenshot
from position_sync.ui.positions_columns import Col
from position_sync.ui.positions_model import KeyRole


def fit_of(view: QAbstractItemView, index: QModelIndex) -> tuple[str, int, int]:
    """(text, width it needs, width it has) of one cell, as the style paints it: elided when the
    text needs more than the item's text rectangle less its margins."""
    style = view.style()
    margin = style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, view) + 1
    option = QStyleOptionViewItem()
    option.initFrom(view)
    option.rect = view.visualRect(index)
    delegate = view.itemDelegate()
    assert isinstance(delegate, QStyledItemDelegate)
    delegate.initStyleOption(option, index)
    room = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, option, view).width()
    return option.text, QFontMetrics(option.font).horizontalAdvance(option.text), room - 2 * margin


def report(shooter: screenshot.ScreenshotWhenReady) -> None:
    view = shooter.controller.window.table
    model = view.model()
    for column in (Col.STATUS, Col.HINT):
        right = view.columnViewportPosition(int(column)) + view.columnWidth(int(column))
        for row in range(model.rowCount()):
            index = model.index(row, int(column))
            text, needs, room = fit_of(view, index)
            line = {
                "key": list(index.data(KeyRole)),
                "column": column.name,
                "text": text,
                "needs": needs,
                "room": room,
                "on_screen": right <= view.viewport().width(),
                "window": [shooter.controller.window.width(), shooter.controller.window.height()],
            }
            print("CELL " + json.dumps(line), flush=True)


def run(width: int, height: int, picture: Path, data: Path) -> int:
    window_main.SCREENSHOT_SIZE = (width, height)  # the standard picture is larger than 1280 px
    capture = screenshot.ScreenshotWhenReady.capture

    def measured(self: screenshot.ScreenshotWhenReady, early: bool = False) -> None:
        self.controller.notifier.flush()
        report(self)
        capture(self, early)

    screenshot.ScreenshotWhenReady.capture = measured  # type: ignore[method-assign]
    return main(["--demo", "--data-dir", str(data), "--screenshot", str(picture)])


if __name__ == "__main__":
    sys.exit(run(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])))
