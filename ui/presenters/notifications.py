"""Notifications: the tray's balloons or the window's toast, and the Notifications tab.

The policy (once per key, grouped, quiet for muted rows) is the core's; this presenter builds
the delivery around it and turns a click on any message, wherever it was shown, into one
request for the row it is about; following or dismissing a message counts as reading it.
"""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import QObject, Signal

from position_sync.app.domain import AccountState, Event, Row
from position_sync.app.notify_policy import Notification, NotifyPolicy
from position_sync.ui.notify import InWindowBackend, NotificationCenter, TrayBackend
from position_sync.ui.tray import Tray
from position_sync.ui.window import MainWindow


class NotificationsPresenter(QObject):
    """Emits ``row_requested(account, instrument or None)`` when a message is clicked."""

    row_requested = Signal(str, object)

    def __init__(self, window: MainWindow, tray: Tray, policy: NotifyPolicy, parent: QObject) -> None:
        super().__init__(parent)
        self.center = NotificationCenter(
            policy, [TrayBackend(tray), InWindowBackend(window.toast)], window.notifications, parent
        )
        self._read = window.notifications.mark_read
        self.center.activated.connect(self._activated)
        window.toast.activated.connect(self._activated)
        window.toast.dismissed.connect(self._read)
        tray.message_clicked.connect(self.center.tray_message_clicked)

    def offer(self, account: str, state: AccountState, rows: Mapping[str, Row], events: list[Event]) -> None:
        self.center.offer(account, state, rows, events)

    def release(self) -> bool:
        return self.center.release()

    def stop(self) -> None:
        self.center.stop()

    def _activated(self, notification: Notification) -> None:
        self._read(notification)  # followed from wherever it was shown: read
        self.row_requested.emit(*notification.target)
