"""The confirmation of a book fix: exactly the writes the plan will make, Cancel by default.

A fix writes to the trader's own database, so what the user confirms must be the plan itself,
line by line, and pressing Enter must never write. A write names every column it changes, which
makes long lines: they wrap at the dialog's width with a hanging indent, so each write still
reads as one item and nothing hides past a scroll bar. The flow around it (plan, confirm, write,
sync) is ``ui.presenters.fixes``.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QFontMetrics, QTextBlockFormat, QTextCursor, QTextOption
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QTextEdit,
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
        self.lines = plan_view(plan.describe())
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
        self.resize(760, 340)


def plan_view(lines: list[str]) -> QTextEdit:
    """The plan's lines, read-only, wrapped at the width with a hanging indent under each."""
    view = QTextEdit()
    view.setReadOnly(True)
    view.setAcceptRichText(False)
    view.setLineWrapMode(QTextEdit.LineWrapMode.WidgetWidth)
    view.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    view.setFont(font)
    hang = QFontMetrics(font).horizontalAdvance("    ")
    cursor = QTextCursor(view.document())
    for number, line in enumerate(lines):
        text = line.lstrip(" ")
        depth = len(line) - len(text)  # the plan indents its writes under its heading
        block = QTextBlockFormat()
        block.setLeftMargin(hang * (depth // 2 + 1))
        block.setTextIndent(-hang)  # the first line out, its continuations in
        if number == 0:
            cursor.setBlockFormat(block)
        else:
            cursor.insertBlock(block)
        cursor.insertText(text)  # plain text: the values are the book's, never markup
    return view
