"""The accounts strip and the banner: can the trader trust what each account shows right now?

An account is known to this window beyond its rows: its read state, its last good sync, and
whether it was read at all this session (until then its picture is the store's, unconfirmed).
Each badge says that in words, and the banner says when the whole picture is a cached one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import QObject, Signal

from position_sync.app.display import ago, clock
from position_sync.app.domain import AccountState
from position_sync.app.reconcile import AccountMemory
from position_sync.app.sync import SyncResult
from position_sync.ui.accounts_strip import BadgeState
from position_sync.ui.login import LoginSupport
from position_sync.ui.presenters.context import Context
from position_sync.ui.row_presenter import AccountInfo
from position_sync.ui.window import MainWindow


@dataclass
class AccountView:
    """What the window knows of one account beyond its rows."""

    state: AccountState = AccountState.OK
    error: str | None = None
    last_success_at: datetime | None = None
    last_attempt_at: datetime | None = None  # this session's latest result, good or not
    ok_this_session: bool = False
    read_this_session: bool = False  # any result yet: until then the picture is unverified


class AccountsPresenter(QObject):
    """Re-emits the strip's ``login_requested(account)`` and ``account_clicked(account)``."""

    login_requested = Signal(str)
    account_clicked = Signal(str)

    def __init__(
        self,
        window: MainWindow,
        context: Context,
        syncing: Callable[[str], bool],
        login_support: Callable[[str], LoginSupport],
        parent: QObject,
    ) -> None:
        super().__init__(parent)  # the controller: it outlives the window's C++ side
        self.strip = window.accounts
        self._window = window
        self._context = context
        self._syncing = syncing
        self._login_support = login_support
        self.views: dict[str, AccountView] = {}
        self.strip.login_requested.connect(self.login_requested)
        self.strip.account_clicked.connect(self.account_clicked)

    # -- what is known ---------------------------------------------------------------------

    def load(self, account: str, memory: AccountMemory) -> None:
        """The store's memory of an account, before any read this session."""
        self.views[account] = AccountView(memory.state, memory.error, memory.last_success_at)

    def forget(self, account: str) -> None:
        del self.views[account]

    def record(self, result: SyncResult) -> None:
        view = self.views.setdefault(result.account, AccountView())
        view.state = result.state
        view.error = result.error
        view.last_success_at = result.last_success_at
        view.last_attempt_at = result.finished_at
        view.read_this_session = True
        if result.state is AccountState.OK:
            view.ok_this_session = True

    def info(self, account: str) -> AccountInfo:
        """What the positions table shows of the account: its money, its read state and age."""
        view = self.views[account]
        return AccountInfo(self._context.currency_of(account), view.state, view.last_success_at, view.error)

    def needing_login(self) -> list[str]:
        return [a for a, v in self.views.items() if v.state is AccountState.LOGIN_REQUIRED]

    # -- what is shown ---------------------------------------------------------------------

    def set_accounts(self, accounts: list[str]) -> None:
        self.strip.set_accounts(accounts)

    def show_badges(self) -> None:
        for account in self.views:
            self.show_badge(account)

    def show_badge(self, account: str, *, finished: bool = False) -> None:
        """``finished``: this account's result is being shown, whatever the worker says yet."""
        view = self.views.get(account)
        if view is None:
            return
        syncing = not finished and self._syncing(account)
        support = (
            self._login_support(account) if view.state is AccountState.LOGIN_REQUIRED else LoginSupport(False)
        )
        self.strip.show_state(
            BadgeState(
                account,
                view.state,
                syncing,
                view.last_success_at,
                view.error,
                view.ok_this_session,
                support.possible,
                support.reason,
            ),
            self._context.clock(),
        )

    def refresh_banner(self) -> None:
        """Until every account read fine this session, say the picture is a cached one, and why."""
        views = self.views
        waiting = [a for a, v in views.items() if not v.ok_this_session]
        if not waiting:
            self._window.set_banner(None)
            return
        now = self._context.clock()
        pictures = [v.last_success_at for v in views.values() if v.last_success_at is not None]
        failing = [a for a in waiting if views[a].state is not AccountState.OK]
        reason = ""
        if failing:
            view = views[failing[0]]
            reason = f" — {failing[0]} could not be read: {view.error or view.state.value}"
        if pictures:
            newest = max(pictures)
            text = (
                f"Showing cached data from {clock(newest, now)} ({ago(newest, now)}){reason or ' — syncing…'}"
            )
        else:
            text = f"No cached picture yet: waiting for the first sync of every account{reason}"
        self._window.set_banner(text, "warn" if failing else "info")
