"""The event log pane: what the store remembers on start, each result's events as they come.

A presenter of its own so the log's rules (replaced, never added to, when a new runtime loads its
stored events; an event's row asked for by a double-click) stay beside the pane they drive.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QObject, Signal

from position_sync.app.domain import Event
from position_sync.ui.presenters.context import Context
from position_sync.ui.window import MainWindow


class EventsPresenter(QObject):
    """Re-emits the pane's ``row_requested(account, instrument)``."""

    row_requested = Signal(str, str)

    def __init__(self, window: MainWindow, context: Context, parent: QObject) -> None:
        super().__init__(parent)  # the controller: it outlives the window's C++ side
        self.pane = window.events
        self.pane.set_currency_of(context.currency_of)
        self.pane.row_requested.connect(self.row_requested)

    def set_accounts(self, accounts: list[str]) -> None:
        self.pane.set_accounts(accounts)

    def replace(self, events: Iterable[Event]) -> None:
        """The stored log (oldest first), instead of whatever was shown: it includes those already."""
        self.pane.replace(events)

    def add(self, events: Iterable[Event]) -> None:
        self.pane.add(events)
