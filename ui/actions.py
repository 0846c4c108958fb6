"""The window's actions: made so that each one teaches its shortcut.

A tooltip that names the keys (``Resync now (F5, Ctrl+R)``) and the F1 table of every shortcut
come from the actions themselves, so what the window says and what the keys do cannot part.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from position_sync.ui.resources import icon


def shortcut_names(action: QAction) -> str:
    """``F5, Ctrl+R``: an action's shortcuts as the platform writes them."""
    return ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts())


def describe(action: QAction, text: str, tip: str) -> None:
    """Text, icon text and a tooltip that names the shortcuts (also after the text changes)."""
    label = text.replace("&", "").rstrip("…")
    action.setText(text.replace("&", ""))
    action.setIconText(label)
    names = shortcut_names(action)
    action.setToolTip(f"{label} ({names})\n{tip}" if names else f"{label}\n{tip}")
    action.setStatusTip(tip)


def make_action(
    parent: QWidget,
    text: str,
    shortcuts: Sequence[str],
    tip: str,
    icon_name: str | None = None,
    *,
    checkable: bool = False,
) -> QAction:
    """An action whose tooltip names its shortcuts, so hovering teaches the keyboard."""
    action = QAction(text.replace("&", ""), parent)
    if icon_name:
        action.setIcon(icon(icon_name))
    keys = [QKeySequence(s) for s in shortcuts]
    if keys:
        action.setShortcuts(keys)
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    describe(action, text, tip)
    action.setCheckable(checkable)
    return action


def shortcut_table(actions: list[QAction]) -> list[tuple[str, str]]:
    """(action, shortcuts) for every action that has one, for the F1 dialog and the README."""
    rows = []
    for action in actions:
        if action.shortcuts():
            rows.append((action.iconText(), shortcut_names(action)))  # "Snooze 15 minutes", not "15 minutes"
    return sorted(rows)
