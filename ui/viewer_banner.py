"""The strip that tells a viewer's user what they are looking at: whose picture, how old, live or not.

A viewer shows what daemons elsewhere saved, so the one thing it must never do is pass an old
picture for a live one. The strip sits above the window's own banner, always visible in a viewer,
and turns amber the moment the store cannot be read (the last picture stays on screen).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QBoxLayout, QLabel

from position_sync.ui.window import MainWindow

COLOURS = {"info": "#0072B2", "warn": "#E69F00"}


class ViewerBanner(QLabel):
    def __init__(self, window: MainWindow) -> None:
        parent = window.banner.parentWidget()
        assert parent is not None  # the banner is in the window's layout from the start
        super().__init__(parent)
        self.setObjectName("viewerBanner")
        # It quotes the database's error sentence and a daemon's name: plain text, never markup.
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(True)
        self.setContentsMargins(10, 5, 10, 5)
        self.kind = ""
        layout = parent.layout()
        if isinstance(layout, QBoxLayout):
            layout.insertWidget(layout.indexOf(window.banner), self)
        self.show_text("Viewer: reading the store…", "info")

    def show_text(self, text: str, kind: str) -> None:
        if kind != self.kind:
            colour = COLOURS.get(kind, COLOURS["info"])
            self.setStyleSheet(
                f"#viewerBanner {{ border: 1px solid {colour}; border-left: 6px solid {colour}; "
                "border-radius: 4px; }"
            )
            self.kind = kind
        if text != self.text():
            self.setText(text)
