"""One badge per account: ok, syncing, stale since HH:MM (reason on hover), login required.

A badge is the answer to "can I trust what I see for this account right now?", so it says it in
words as well as colour, and the login badge carries the button that fixes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

from position_sync.app.display import clock
from position_sync.app.domain import AccountState
from position_sync.ui.plain_text import markup, tooltip
from position_sync.ui.resources import icon

_STYLE = {
    "ok": ("#009E73", "ok"),
    "syncing": ("#0072B2", "syncing…"),
    "stale": ("#E69F00", "stale"),
    "login": ("#D1362F", "login required"),
    "waiting": ("#8E9AA0", "waiting for first sync"),
    "paused": ("#8E9AA0", "paused"),
}


@dataclass(frozen=True)
class BadgeState:
    account: str
    state: AccountState
    syncing: bool
    last_success_at: datetime | None
    error: str | None
    synced_once: bool
    login_possible: bool = False
    login_reason: str = ""


class AccountBadge(QFrame):
    login_requested = Signal(str)
    clicked = Signal(str)

    def __init__(self, account: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.account = account
        self.setObjectName("accountBadge")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 2, 4, 2)
        layout.setSpacing(6)
        self.dot = QLabel("●")
        self.text = QLabel()
        self.login = QToolButton()
        self.login.setText("Log in")
        self.login.setIcon(icon("login"))
        self.login.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.login.setAutoRaise(True)
        self.login.clicked.connect(lambda: self.login_requested.emit(self.account))
        self.login.hide()
        layout.addWidget(self.dot)
        layout.addWidget(self.text)
        layout.addWidget(self.login)
        self.kind = "waiting"

    def mousePressEvent(self, event: object) -> None:
        self.clicked.emit(self.account)

    def show_state(self, badge: BadgeState, now: datetime) -> None:
        if badge.state is AccountState.LOGIN_REQUIRED:
            kind = "login"
        elif badge.syncing:
            kind = "syncing"
        elif badge.state is AccountState.STALE:
            kind = "stale"
        elif badge.last_success_at is None:
            kind = "waiting"
        else:
            kind = "ok"
        colour, word = _STYLE[kind]
        self.kind = kind
        detail = ""
        if kind == "stale":
            detail = f" since {clock(badge.last_success_at, now)}" if badge.last_success_at else ""
        elif kind == "ok":
            detail = f" · {clock(badge.last_success_at, now)}"
        self.dot.setStyleSheet(f"color: {colour}; font-size: 14px;")
        self.text.setText(
            markup("<b>{account}</b> &nbsp;{rest}", account=badge.account, rest=f"{word}{detail}")
        )
        tip = [f"{badge.account}: {word}{detail}"]
        if badge.error and kind in ("stale", "login", "syncing"):
            tip.append(f"Reason: {badge.error}")
        if badge.last_success_at:
            tip.append(f"Last good sync: {clock(badge.last_success_at, now)}")
        if kind == "stale":
            tip.append("Its rows are greyed and show their age; nothing is concluded from a failed read.")
        self.setToolTip(tooltip("\n".join(tip)))
        self.login.setVisible(kind == "login")
        self.login.setEnabled(badge.login_possible)
        self.login.setToolTip(
            tooltip(
                "Start the broker login for this account (Ctrl+L)"
                if badge.login_possible
                else badge.login_reason
            )
        )
        self.setStyleSheet(f"#accountBadge {{ border: 1px solid {colour}; border-radius: 10px; }}")


class AccountsStrip(QWidget):
    login_requested = Signal(str)
    account_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self._layout.addStretch(1)
        self.badges: dict[str, AccountBadge] = {}

    def set_accounts(self, accounts: list[str]) -> None:
        for account in list(self.badges):
            if account not in accounts:
                self.badges.pop(account).deleteLater()
        for position, account in enumerate(accounts):
            if account not in self.badges:
                badge = AccountBadge(account, self)
                badge.login_requested.connect(self.login_requested)
                badge.clicked.connect(self.account_clicked)
                self.badges[account] = badge
                self._layout.insertWidget(position, badge)

    def show_state(self, badge: BadgeState, now: datetime) -> None:
        widget = self.badges.get(badge.account)
        if widget is not None:
            widget.show_state(badge, now)
