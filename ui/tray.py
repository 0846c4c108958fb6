"""The tray icon: its colour is the worst status (green, amber, red); its menu the main actions.

Some desktops have no tray at all, and a tray can appear late (a panel restarting), so
availability is checked again on a timer; until it is there the window stays the way back in,
and notifications go to the window instead (see ``ui.notify``).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from position_sync.ui.plain_text import notification_text, tooltip
from position_sync.ui.resources import tray_icon
from position_sync.ui.status_style import HEALTH_COLOURS, Health

RETRY_MS = 10_000


class Tray(QObject):
    """Wraps ``QSystemTrayIcon`` so the rest of the window never asks whether a tray exists."""

    show_requested = Signal()
    message_clicked = Signal()
    availability_changed = Signal(bool)

    def __init__(self, actions: list[QAction | None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.health = Health.GOOD
        self.icon = QSystemTrayIcon(tray_icon(HEALTH_COLOURS[self.health]), self)
        self.icon.setToolTip("Position Sync")
        self.menu = QMenu()
        for action in actions:
            if action is None:
                self.menu.addSeparator()
            else:
                self.menu.addAction(action)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.icon.messageClicked.connect(self.message_clicked)
        self._retry = QTimer(self)
        self._retry.setInterval(RETRY_MS)
        self._retry.timeout.connect(self.ensure_visible)
        self._shown = False

    @staticmethod
    def system_has_tray() -> bool:
        return QSystemTrayIcon.isSystemTrayAvailable()

    def ensure_visible(self) -> bool:
        """Show the icon if a tray exists now; otherwise keep looking every few seconds."""
        available = self.system_has_tray()
        if available:
            self.icon.show()
            self._retry.stop()
        elif not self._retry.isActive():
            self._retry.start()
        if available != self._shown:
            self._shown = available
            self.availability_changed.emit(available)
        return available

    def is_shown(self) -> bool:
        return self._shown and self.icon.isVisible()

    def can_show_messages(self) -> bool:
        return self.is_shown() and QSystemTrayIcon.supportsMessages()

    def set_health(self, health: Health, summary: str) -> None:
        if health is not self.health:
            self.health = health
            self.icon.setIcon(tray_icon(HEALTH_COLOURS[health]))
        self.icon.setToolTip(tooltip(f"Position Sync — {summary}"))

    def show_message(self, title: str, body: str, severity: int) -> None:
        kind = {
            3: QSystemTrayIcon.MessageIcon.Critical,
            2: QSystemTrayIcon.MessageIcon.Warning,
        }.get(severity, QSystemTrayIcon.MessageIcon.Information)
        self.icon.showMessage(notification_text(title), notification_text(body), kind, 10_000)

    def hide(self) -> None:
        self._retry.stop()
        self.icon.hide()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self.show_requested.emit()
