"""A sentence inside a menu: why the items below it are off.

Qt shows no status tip for a disabled menu item and most desktops no tooltip either, so a greyed
item alone says nothing. The reason goes where the eye already is, into the menu itself.
"""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget, QWidgetAction

from position_sync.ui.plain_text import plain_label


class MenuNote(QWidgetAction):
    """A word-wrapped sentence at the top of every menu it is added to; hidden while empty."""

    WIDTH = 340

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._text = ""
        self.setVisible(False)

    def text_shown(self) -> str:
        return self._text

    def set_note(self, text: str | None) -> None:
        self._text = text or ""
        for widget in self.createdWidgets():
            if isinstance(widget, QLabel):
                self._fill(widget)
        self.setVisible(bool(text))

    def createWidget(self, parent: QWidget) -> QWidget:
        label = plain_label(parent=parent)  # it may quote a config file's names
        label.setWordWrap(True)
        label.setContentsMargins(10, 4, 10, 4)
        self._fill(label)
        return label

    def _fill(self, label: QLabel) -> None:
        label.setText(self._text)
        label.setFixedWidth(self.WIDTH)
        label.setFixedHeight(max(label.heightForWidth(self.WIDTH), label.fontMetrics().height() + 8))
