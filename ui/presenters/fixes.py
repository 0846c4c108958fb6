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

from position_sync.app.config import BookConfig
from position_sync.app.display import status_label
from position_sync.app.domain import Event, Row, Status
from position_sync.app.fix import BookFixer, FixError, FixPlan, action_fits, write_refusal
from position_sync.ui.book_fix import HEADINGS, FixPlanDialog
from position_sync.ui.plain_text import message_box
from position_sync.ui.presenters.context import Context
from position_sync.ui.presenters.events import EventsPresenter
from position_sync.ui.presenters.positions import PositionsPresenter
from position_sync.ui.window import MainWindow

FITS = {
    "close-phantom": "phantom rows",
    "adopt": "untracked rows",
    "take-broker": "qty, side and price mismatches",
}
# The same sentence the viewer presenter shows (``ui.presenters.viewer``), kept here to stay a leaf.
VIEWER_REFUSAL = "A viewer does not write to books: fix the book on the machine of the daemon that reads it"
NAMES = {"close-phantom": "Close phantom", "adopt": "Adopt", "take-broker": "Take broker's figures"}


def fix_reasons(
    row: Row | None, book_of: Callable[[str], BookConfig]
) -> tuple[dict[str, str | None], str | None]:
    """Why each "Fix book" action is off for ``row`` (None: it is on), and one note for the menu.

    A reason that holds for all three (no row, a stale account, a book that cannot be written)
    is the note itself; otherwise the note names the row's status and what does apply to it.
    """
    common: str | None = None
    if row is None:
        common = "Select a row to fix its line in the book."
    elif row.status is Status.STALE:
        common = f"{row.account} is stale: sync it successfully before fixing its book."
    else:
        try:
            book = book_of(row.account)
        except (KeyError, LookupError):
            common = f"{row.account} is no longer in the configuration."
        else:
            refusal = write_refusal(book)
            common = refusal  # the core's sentence, as the CLI says it
    if common is not None or row is None:
        return dict.fromkeys(HEADINGS, common), common
    state = _is(row.effective_status)
    reasons: dict[str, str | None] = {}
    for name in HEADINGS:
        if not action_fits(name, row.effective_status):
            reasons[name] = f"only for {FITS[name]}; {row.instrument} {state}"
        else:
            reasons[name] = write_refusal(book, name)
    fitting = [name for name in HEADINGS if action_fits(name, row.effective_status)]
    if not fitting:
        return reasons, f"{row.instrument} {state}: nothing to fix in the book."
    name = fitting[0]
    refusal = reasons[name]
    if refusal is None:
        return reasons, f"{row.instrument} {state}: only {NAMES[name]} applies."
    return reasons, f"{row.instrument} {state}: {NAMES[name]} would apply, but {refusal}."


def done_message(plan: FixPlan) -> str:
    """One short line for the status bar: what was written where; every column is in the event."""
    writes = f"{len(plan.writes)} write{'s' if len(plan.writes) != 1 else ''}"
    if plan.undo_of is not None:
        done = f"Fix #{plan.undo_of} undone in book '{plan.book}' for {plan.instrument} ({writes})"
        return f"{done}; syncing {plan.account} now. Every column is in the Events tab."
    done = f"Book '{plan.book}' fixed: {NAMES.get(plan.action, plan.action)} for {plan.instrument} ({writes})"
    return f"{done}; syncing {plan.account} now. Ctrl+Shift+Z undoes it; every column is in the Events tab."


def _is(status: Status) -> str:
    """``is a phantom``, ``is untracked``, ``matches``: a status as the end of a sentence."""
    if status is Status.MATCH:
        return "matches"
    if status in (Status.UNTRACKED, Status.CLOSED):
        return f"is {status_label(status).lower()}"
    return f"is a {status_label(status).lower()}"


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
        """Grey out what cannot apply to the current row, and say why: in each action's tips and
        in a sentence at the top of the Fix book menu, where a disabled item's tip never shows."""
        reasons, note = fix_reasons(self._positions.current_row(), self._book_of)
        if self._context.viewing():  # a viewer writes to no book
            reasons, note = dict.fromkeys(HEADINGS, VIEWER_REFUSAL), VIEWER_REFUSAL
        for name in HEADINGS:
            self._window.set_fix_state(name, reasons[name])
        self._window.set_fix_note(note)

    def _book_of(self, account: str) -> BookConfig:
        settings = self._context.settings
        return settings.books[settings.account(account).book]

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
        self._window.show_message(done_message(plan), 15000)
        self._context.worker.trigger(plan.account, "book fixed")
        return event

    def _refused(self, title: str, sentence: str) -> None:
        self._window.show_message(f"{title}: {sentence}", 15000)
        box = message_box(
            QMessageBox.Icon.Warning, title, sentence, QMessageBox.StandardButton.Ok, self._window
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
