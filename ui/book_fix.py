""" "Fix my book" from the window: the same plan, confirmation and transaction as ``position-sync fix``.

These are the only writes the program makes outside its own store, so the window adds nothing
of its own to them: ``app.fix.BookFixer`` plans (which rows and columns change, from what to
what), the dialog shows exactly those lines and defaults to Cancel, and only an explicit "Write
to book" runs the transaction. Planning and writing talk to the trader's database, so both run
on the window's store thread, never on the UI thread. A written fix triggers a sync of its
account at once, so the row the user fixed turns green (or shows why not) within a second.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from position_sync.app.domain import Event, Status
from position_sync.app.fix import BookFixer, FixError, FixPlan, action_fits, write_refusal
from position_sync.app.runtime import Runtime
from position_sync.ui.plain_text import markup, message_box
from position_sync.ui.window import MainWindow

T = TypeVar("T")
Runner = Callable[[Callable[[], T]], Awaitable[T]]
Keeper = Callable[[Coroutine[Any, Any, Any]], Any]

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


class BookFixes(QObject):
    """The Row menu's "Fix book" actions, enabled only where the action fits and the book allows it."""

    def __init__(
        self, window: MainWindow, runtime: Callable[[], Runtime], run: Runner[Any], keep: Keeper
    ) -> None:
        super().__init__(window)
        self.window = window
        self._runtime = runtime
        self._run = run
        self._keep = keep
        self.dialog: FixPlanDialog | None = None  # the one on screen (tests accept it)
        self.actions: dict[str, QAction] = {
            "close-phantom": window.act_fix_close,
            "adopt": window.act_fix_adopt,
            "take-broker": window.act_fix_take,
        }
        self._tips = {name: action.statusTip() for name, action in self.actions.items()}
        for name, action in self.actions.items():
            action.triggered.connect(lambda _=False, n=name: self.request(n))
        window.act_fix_undo.triggered.connect(self.request_undo)
        window.table.selectionModel().currentRowChanged.connect(lambda *_: self.refresh())
        self.refresh()

    def _fixer(self) -> BookFixer:
        runtime = self._runtime()
        return BookFixer(runtime.settings, runtime.store)

    def refresh(self) -> None:
        """Grey out what cannot apply to the current row, saying why in the status tip."""
        key = self.window.table.current_key()
        row = self.window.model.row_for(key) if key is not None else None
        refusal: str | None = "Select a row first"
        if row is not None:
            settings = self._runtime().settings
            try:
                book = settings.books[settings.account(row.account).book]
            except (KeyError, LookupError):
                refusal = f"{row.account} is no longer in the configuration"
            else:
                refusal = write_refusal(book)
        for name, action in self.actions.items():
            fits = (
                row is not None and row.status is not Status.STALE and action_fits(name, row.effective_status)
            )
            action.setEnabled(refusal is None and fits)
            action.setStatusTip(refusal or self._tips[name])

    # -- the flow: plan on a thread, show, write on a thread --------------------------------

    def request(self, action: str) -> None:
        key = self.window.table.current_key()
        if key is None:
            self.window.statusBar().showMessage("Select the row whose book line to fix.", 5000)
            return
        account, instrument = key
        fixer = self._fixer()
        self._keep(
            self._plan_and_ask(lambda: fixer.plan(account, instrument, action), HEADINGS[action], fixer)
        )

    def request_undo(self) -> None:
        fixer = self._fixer()
        self._keep(self._plan_and_ask(fixer.plan_undo, "Undo the last book fix?", fixer))

    async def _plan_and_ask(self, make_plan: Callable[[], FixPlan], heading: str, fixer: BookFixer) -> None:
        try:
            plan = await self._run(make_plan)
        except FixError as exc:
            self._refused("No fix written", str(exc))
            return
        dialog = FixPlanDialog(plan, heading, self.window)
        dialog.accepted.connect(lambda: self._keep(self._write(fixer, plan)))
        dialog.finished.connect(lambda _code: self._forget(dialog))
        self.dialog = dialog
        dialog.open()  # not exec(): no nested loop inside the qasync loop

    def _forget(self, dialog: FixPlanDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None

    async def _write(self, fixer: BookFixer, plan: FixPlan) -> Event | None:
        try:
            event = await self._run(lambda: fixer.apply(plan))
        except FixError as exc:
            self._refused("Book not changed", str(exc))
            return None
        self.window.events.add([event])
        self.window.statusBar().showMessage(
            f"{event.detail} — syncing {plan.account} now (Ctrl+Shift+Z undoes it).", 15000
        )
        self._runtime().worker.trigger(plan.account, "book fixed")
        return event

    def _refused(self, title: str, sentence: str) -> None:
        self.window.statusBar().showMessage(f"{title}: {sentence}", 15000)
        box = message_box(
            QMessageBox.Icon.Warning, title, sentence, QMessageBox.StandardButton.Ok, self.window
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
