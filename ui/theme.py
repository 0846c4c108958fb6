"""Light and dark palettes that follow the system, on one style everywhere (Fusion).

Fusion looks the same on every platform and honours a palette fully, so the status colours are
tuned once per scheme. Qt reports the system's colour scheme (and its changes) through
``QStyleHints``; where a platform reports none (offscreen, Xvfb, some desktops), the light
palette is used unless the user chose one in the settings (``[ui] theme``).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

STYLE_SHEET = """
QToolBar { spacing: 4px; padding: 2px 6px; }
QStatusBar QLabel { padding: 0 6px; }
#banner { border-radius: 4px; padding: 2px; }
"""


_STYLED = "positionSyncFusion"  # an application property: the style was set once already


def system_is_dark() -> bool:
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def dark_palette() -> QPalette:
    palette = QPalette()
    window, base, text = QColor("#23272E"), QColor("#1B1E23"), QColor("#E3E6EA")
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: QColor("#22262C"),
        QPalette.ColorRole.ToolTipBase: QColor("#2B3038"),
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: QColor("#2B3038"),
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.Highlight: QColor("#2F6DB5"),
        QPalette.ColorRole.HighlightedText: QColor("#FFFFFF"),
        QPalette.ColorRole.Link: QColor("#5DB7F0"),
        QPalette.ColorRole.PlaceholderText: QColor("#8A929B"),
        QPalette.ColorRole.Mid: QColor("#3A4048"),
        QPalette.ColorRole.Dark: QColor("#15181C"),
        QPalette.ColorRole.Light: QColor("#3A4048"),
    }
    for role, colour in roles.items():
        palette.setColor(role, colour)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6B737C"))
    return palette


def light_palette() -> QPalette:
    palette = QApplication.style().standardPalette()
    palette.setColor(QPalette.ColorRole.Highlight, QColor("#2F6DB5"))
    palette.setColor(QPalette.ColorRole.AlternateBase, QColor("#F6F7F9"))
    return palette


def wants_dark(choice: str = "system") -> bool:
    """``dark``/``light`` as the user chose; ``system`` asks the platform."""
    if choice == "dark":
        return True
    if choice == "light":
        return False
    return system_is_dark()


def apply(app: QApplication, choice: str = "system") -> bool:
    """Set style, palette and style sheet for the chosen scheme; returns whether it is dark.

    Called again on every scheme change and every new set of settings, so it changes only what
    differs: ``setStyle`` deletes the previous ``QStyle`` while live widgets may still hold it,
    so the style is set once per application; the style sheet is set again (re-polishing every
    widget) only when the palette changed, which is what makes widgets take it.
    """
    if app.property(_STYLED) is not True:
        app.setStyle("Fusion")
        app.setProperty(_STYLED, True)
    dark = wants_dark(choice)
    palette = dark_palette() if dark else light_palette()
    changed = app.palette() != palette
    if changed:
        app.setPalette(palette)
    if changed or app.styleSheet() != STYLE_SHEET:
        app.setStyleSheet(STYLE_SHEET)  # under a style sheet, widgets take a new palette on re-polish
    return dark
