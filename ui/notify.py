"""Notifications behind one small interface: the tray when there is one, the window otherwise.

``NotificationCenter`` feeds sync results to the Qt-free ``NotifyPolicy`` (rule 4: once per key,
grouped, confirmed only, quiet for acknowledged rows), waits a moment so a burst across accounts
becomes one message, then hands each message to the first backend that can show it. Every
message also lands in the in-window list, so nothing is lost when a balloon is missed or no tray
exists; a click on either selects the row it is about.

Nothing goes away unseen: the in-window message stays until it is dismissed or everything it told
has resolved (a message that vanished on a timer was missed by whoever looked away), and the list
counts what nobody has read yet, for the tab and the window title.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QWidget,
)

from position_sync.app.domain import AccountState, Event, Row
from position_sync.app.notify_policy import Alert, Notification, NotifyPolicy
from position_sync.ui.plain_text import escape, markup
from position_sync.ui.resources import icon
from position_sync.ui.tray import Tray

FLUSH_MS = 400  # a burst of results (one per account after "resync all") becomes one message
SEVERITY_ICONS = {3: "status-phantom", 2: "status-qty_mismatch", 1: "status-closed"}
StillOpen = Callable[[Alert], bool]


class Backend(Protocol):
    name: str

    def available(self) -> bool: ...

    def show(self, notification: Notification) -> None: ...

    def withdraw(self, still_open: StillOpen) -> None:
        """Take back a message on screen once nothing it told is still so."""


@dataclass(frozen=True)
class Delivered:
    at: datetime
    notification: Notification
    backend: str


class TrayBackend:
    name = "tray"

    def __init__(self, tray: Tray) -> None:
        self.tray = tray

    def available(self) -> bool:
        return self.tray.can_show_messages()

    def show(self, notification: Notification) -> None:
        self.tray.show_message(notification.title, notification.body, notification.severity)

    def withdraw(self, still_open: StillOpen) -> None:
        """A balloon is the desktop's to time out; the Notifications tab keeps the message."""


class Toast(QFrame):
    """The in-window notification bar, used when no system tray can show a message.

    It stays until dismissed, or until everything it told has resolved (``withdraw``): no timer,
    since a trader who looked away for half a minute must still find it. Emits ``activated`` on
    "Show row" and ``dismissed`` on "Dismiss", each with its notification: both count as read.
    """

    activated = Signal(object)
    dismissed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("toast")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.icon = QLabel()
        self.text = QLabel()
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setWordWrap(True)
        self.show_row = QPushButton("Show row")
        self.show_row.setToolTip("Select the row this notification is about")
        self.dismiss = QPushButton("Dismiss")
        self.dismiss.setToolTip("Hide this message; it stays in the Notifications tab (Ctrl+3)")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.addWidget(self.icon)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.show_row)
        layout.addWidget(self.dismiss)
        self._current: Notification | None = None
        self.show_row.clicked.connect(self._show_row)
        self.dismiss.clicked.connect(self._dismiss)
        self.hide()

    def present(self, notification: Notification, waiting: int = 0) -> None:
        self._current = notification
        colour = {3: "#D1362F", 2: "#E69F00"}.get(notification.severity, "#0072B2")
        self.setStyleSheet(
            f"#toast {{ border: 1px solid {colour}; border-left: 6px solid {colour}; border-radius: 4px; }}"
        )
        self.icon.setPixmap(icon(SEVERITY_ICONS.get(notification.severity, "status-closed")).pixmap(20, 20))
        more = f" <i>(+{waiting} earlier in Notifications)</i>" if waiting else ""
        # Title and body quote brokers and books: escaped inside our own markup.
        self.text.setText(
            markup("<b>{title}</b>", title=notification.title) + f"{more}<br>{escape(notification.body)}"
        )
        self.show()

    def current(self) -> Notification | None:
        return self._current if not self.isHidden() else None

    def withdraw(self, still_open: StillOpen) -> None:
        """Hide once every alert of the message on screen has resolved."""
        current = self.current()
        if current is not None and not any(still_open(a) for a in current.alerts):
            self.hide()

    def _show_row(self) -> None:
        if self._current is not None:
            self.activated.emit(self._current)
        self.hide()

    def _dismiss(self) -> None:
        if self._current is not None:
            self.dismissed.emit(self._current)
        self.hide()


class InWindowBackend:
    name = "window"

    def __init__(self, toast: Toast) -> None:
        self.toast = toast
        self._burst = 0

    def available(self) -> bool:
        return True

    def show(self, notification: Notification) -> None:
        self._burst = self._burst + 1 if not self.toast.isHidden() else 0
        self.toast.present(notification, self._burst)

    def withdraw(self, still_open: StillOpen) -> None:
        self.toast.withdraw(still_open)


class NotificationList(QListWidget):
    """Every message ever shown this session, newest first; a click selects its row.

    Unread messages are bold and counted; ``unread_changed(count, worst severity)`` tells the tab
    and the title. A message is read once it is clicked, its in-window message is dismissed or
    followed, or the list itself is looked at (``mark_read``).
    """

    activated_notification = Signal(object)
    unread_changed = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setAlternatingRowColors(True)
        self._unread: dict[int, QListWidgetItem] = {}  # by the id of the notification it shows
        self.itemActivated.connect(self._activated)
        self.itemClicked.connect(self._activated)

    def add(self, delivered: Delivered) -> None:
        notification = delivered.notification
        where = "tray" if delivered.backend == "tray" else "window"
        item = QListWidgetItem(
            f"{delivered.at.astimezone():%H:%M:%S}  {notification.title}\n{notification.body}  ({where})"
        )
        item.setIcon(icon(SEVERITY_ICONS.get(notification.severity, "status-closed")))
        item.setData(Qt.ItemDataRole.UserRole, notification)
        item.setToolTip("Unread: click to select its row")
        bold = QFont(self.font())
        bold.setBold(True)
        item.setFont(bold)
        self.insertItem(0, item)
        self._unread[id(notification)] = item
        self._tell()

    def notifications(self) -> list[Notification]:
        return [self.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.count())]

    def unread(self) -> int:
        return len(self._unread)

    def mark_read(self, notification: Notification | None = None) -> None:
        """One message read (clicked, dismissed, followed), or every one (the list was looked at)."""
        if notification is None:
            items = list(self._unread.values())
            self._unread.clear()
        else:
            found = self._unread.pop(id(notification), None)
            items = [found] if found is not None else []
        if not items:
            return
        for item in items:
            item.setFont(self.font())
            item.setToolTip("Click to select its row")
        self._tell()

    def _tell(self) -> None:
        worst = max(
            (item.data(Qt.ItemDataRole.UserRole).severity for item in self._unread.values()), default=0
        )
        self.unread_changed.emit(len(self._unread), worst)

    def _activated(self, item: QListWidgetItem) -> None:
        notification = item.data(Qt.ItemDataRole.UserRole)
        self.mark_read(notification)
        self.activated_notification.emit(notification)


class NotificationCenter(QObject):
    """Emits ``activated(notification)`` when the user clicks a message, wherever it was shown."""

    activated = Signal(object)
    delivered = Signal(object)

    def __init__(
        self,
        policy: NotifyPolicy,
        backends: list[Backend],
        history: NotificationList,
        parent: QObject | None = None,
        clock: type[datetime] = datetime,
    ) -> None:
        super().__init__(parent)
        self.policy = policy
        self.backends = backends
        self.history = history
        self._clock = clock
        self._last_tray: Notification | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(FLUSH_MS)
        self._timer.timeout.connect(self.flush)
        history.activated_notification.connect(self.activated)

    def offer(self, account: str, state: AccountState, rows: Mapping[str, Row], events: list[Event]) -> None:
        if self.policy.offer(account, state, rows, events) and not self._timer.isActive():
            self._timer.start()
        for backend in self.backends:
            backend.withdraw(self.policy.still_open)  # what this result resolved goes away

    def release(self) -> bool:
        """Detections kept aside while muted whose mute has ended: shown with the next flush."""
        released = bool(self.policy.release())
        if released and not self._timer.isActive():
            self._timer.start()
        return released

    def flush(self) -> list[Delivered]:
        self._timer.stop()
        delivered = [self.deliver(n) for n in self.policy.flush()]
        return delivered

    def deliver(self, notification: Notification) -> Delivered:
        backend_name = "window"
        for backend in self.backends:
            try:
                if backend.available():
                    backend.show(notification)
                    backend_name = backend.name
                    break
            except Exception:  # a broken tray must never cost a message: the next backend takes it
                continue
        if backend_name == "tray":
            self._last_tray = notification
        delivered = Delivered(self._clock.now().astimezone(), notification, backend_name)
        self.history.add(delivered)
        self.delivered.emit(delivered)
        return delivered

    def stop(self) -> None:
        """At quit: nothing more is shown (the window may already be gone)."""
        self._timer.stop()
        self.policy.flush()

    def tray_message_clicked(self) -> None:
        if self._last_tray is not None:
            self.activated.emit(self._last_tray)
