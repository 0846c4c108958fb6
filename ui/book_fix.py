"""The confirmation of a book fix: exactly the writes the plan will make, Cancel by default.

A fix writes to the trader's own database, so what the user confirms must be the plan itself,
line by line, and pressing Enter must never write. The flow around it (plan, confirm, write,
sync) is ``ui.presenters.fixes``.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from position_sync.app.fix import FixPlan
from position_sync.ui.plain_text import markup

HEADINGS = {
    "close-phantom": "Close the phantom in your book?",
    "adopt": "Adopt the broker's position into your book?",
    "take-broker": "Take the broker's quantity and price into your book?",
}


class FixPlanDialog(QDialog):
    """Shows a plan line by line; accepting it is the user's confirmation to write."""

    def __init__(self, plan: FixPlan, heading: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plan = plan
        self.setWindowTitle(heading)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        intro = QLabel(
            markup(
                "<b>{heading}</b><br>Position Sync will make exactly these writes to book <b>{book}</b> ",
                heading=heading,
                book=plan.book,
            )
            + "in one transaction. It then reads the book back and writes nothing "
            "unless the book holds what this action promises. The fix is recorded as an event, and "
            "<i>Undo last book fix</i> (Ctrl+Shift+Z) reverts it."
        )
        intro.setWordWrap(True)
        self.lines = QPlainTextEdit("\n".join(plan.describe()))
        self.lines.setReadOnly(True)
        self.lines.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.lines.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        buttons = QDialogButtonBox()
        self.write_button = buttons.addButton("Write to book", QDialogButtonBox.ButtonRole.AcceptRole)
        cancel = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        # Enter must not write: the safe answer is the default one.
        self.write_button.setAutoDefault(False)
        cancel.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.lines, 1)
        layout.addWidget(buttons)
        self.resize(760, 300)
