"""Word-wrapped cells in a tree view, whose rows grow to the wrapped text.

``QTreeView.setWordWrap`` wraps what it paints but measures each row as one line (it asks the
delegate for a size with no column width), so a long text is cut at the row's bottom instead of
ending in "…". This delegate measures with the column's real width, and the view lays its rows
out again whenever a column is resized.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem, QTreeView


class WrappingDelegate(QStyledItemDelegate):
    def __init__(self, view: QTreeView) -> None:
        super().__init__(view)
        self._view = view

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        measured = QStyleOptionViewItem(option)
        # A valid rectangle of the column's width: the style wraps only within one.
        measured.rect = QRect(0, 0, self._view.columnWidth(index.column()), option.fontMetrics.height())
        return super().sizeHint(measured, index)


def wrap_rows(view: QTreeView) -> None:
    """Wrap every cell's text at its column's width, rows as tall as their text needs."""
    view.setWordWrap(True)
    view.setUniformRowHeights(False)
    view.setItemDelegate(WrappingDelegate(view))
    view.header().sectionResized.connect(lambda *_: view.scheduleDelayedItemsLayout())
