""" "Fix my book" from the window: the same plan, confirmation and transaction as ``position-sync fix``.

These are the only writes the program makes outside its own store, so the window adds nothing
of its own to them: ``app.fix.BookFixer`` plans (which rows and columns change, from what to
what), the dialog (``ui.book_fix``) shows exactly those lines and defaults to Cancel, and only
an explicit "Write to book" runs the transaction. Planning and writing talk to the trader's
database, so both run on the window's store thread, never on the UI thread. A written fix
triggers a sync of its account at once, so the row the user fixed turns green (or shows why
not) within a second.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QMessageBox

from position_sync.app.domain import Event, Status
from position_sync.app.fix import BookFixer, FixError, FixPlan, action_fits, write_refusal
from position_sync.ui.book_fix import HEADINGS, FixPlanDialog
from position_sync.ui.plain_text import message_box
from position_sync.ui.presenters.context import Context
from position_sync.ui.presenters.events import EventsPresenter
from position_sync.ui.presenters.positions import PositionsPresenter
from position_sync.ui.window import MainWindow


class FixesPresenter(QObject):
    """The Row menu's "Fix book" actions, enabled only where the action fits and the book allows it."""

    def __init__(
        self,
        window: MainWindow,
        context: Context,
        positions: PositionsPresenter,
        events: EventsPresenter,
        parent: QObject,
    ) -> None:
        super().__init__(parent)  # the controller: it outlives the window's C++ side
        self._window = window
        self._context = context
        self._positions = positions
        self._events = events
        self.dialog: FixPlanDialog | None = None  # the one on screen (tests accept it)
        window.fix_requested.connect(self.request)
        window.undo_fix_requested.connect(self.request_undo)
        positions.current_changed.connect(self.refresh)
        self.refresh()

    def _fixer(self) -> BookFixer:
        runtime = self._context.runtime()
        return BookFixer(runtime.settings, runtime.store)

    def refresh(self) -> None:
        """Grey out what cannot apply to the current row, saying why in the status tip."""
        row = self._positions.current_row()
        refusal: str | None = "Select a row first"
        if row is not None:
            settings = self._context.settings
            try:
                book = settings.books[settings.account(row.account).book]
            except (KeyError, LookupError):
                refusal = f"{row.account} is no longer in the configuration"
            else:
                refusal = write_refusal(book)
        for name in HEADINGS:
            fits = (
                row is not None and row.status is not Status.STALE and action_fits(name, row.effective_status)
            )
            self._window.set_fix_state(name, refusal, fits)

    # -- the flow: plan on a thread, show, write on a thread --------------------------------

    def request(self, action: str) -> None:
        key = self._positions.current_key()
        if key is None:
            self._window.show_message("Select the row whose book line to fix.", 5000)
            return
        account, instrument = key
        fixer = self._fixer()
        self._context.keep(
            self._plan_and_ask(lambda: fixer.plan(account, instrument, action), HEADINGS[action], fixer)
        )

    def request_undo(self) -> None:
        fixer = self._fixer()
        self._context.keep(self._plan_and_ask(fixer.plan_undo, "Undo the last book fix?", fixer))

    async def _plan_and_ask(self, make_plan: Callable[[], FixPlan], heading: str, fixer: BookFixer) -> None:
        try:
            plan = await self._context.read(make_plan)
        except FixError as exc:
            self._refused("No fix written", str(exc))
            return
        dialog = FixPlanDialog(plan, heading, self._window)
        dialog.accepted.connect(lambda: self._context.keep(self._write(fixer, plan)))
        dialog.finished.connect(lambda _code: self._forget(dialog))
        self.dialog = dialog
        dialog.open()  # not exec(): no nested loop inside the qasync loop

    def _forget(self, dialog: FixPlanDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None

    async def _write(self, fixer: BookFixer, plan: FixPlan) -> Event | None:
        try:
            event = await self._context.read(lambda: fixer.apply(plan))
        except FixError as exc:
            self._refused("Book not changed", str(exc))
            return None
        self._events.add([event])
        self._window.show_message(
            f"{event.detail} — syncing {plan.account} now (Ctrl+Shift+Z undoes it).", 15000
        )
        self._context.worker.trigger(plan.account, "book fixed")
        return event

    def _refused(self, title: str, sentence: str) -> None:
        self._window.show_message(f"{title}: {sentence}", 15000)
        box = message_box(
            QMessageBox.Icon.Warning, title, sentence, QMessageBox.StandardButton.Ok, self._window
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
