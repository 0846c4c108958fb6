"""How each status looks: colour, icon, label and the sentence that says what it means.

The colours come from the Okabe–Ito palette, chosen to stay apart for the common kinds of colour
blindness; every status also has its own icon shape and its name in text, so colour is never
the only cue. Matches stay calm (no tint); problems get a soft tint of their colour and the
tray turns amber or red. An event carries the icon of the status it reports (``event_icon``),
so "Mismatch detected" in the log looks like the row it points at: a side mismatch as a side
mismatch, not as a quantity one.
"""

from __future__ import annotations

from enum import IntEnum

from PySide6.QtGui import QColor, QIcon, QPalette

from position_sync.app.display import status_label, status_meaning
from position_sync.app.domain import AccountState, EventKind, Status
from position_sync.ui.resources import icon

STATUS_COLOURS: dict[Status, str] = {
    Status.MATCH: "#009E73",
    Status.QTY_MISMATCH: "#E69F00",
    Status.SIDE_MISMATCH: "#D55E00",
    Status.PRICE_MISMATCH: "#0072B2",
    Status.PHANTOM: "#D1362F",
    Status.UNTRACKED: "#B8549A",
    Status.CLOSED: "#7F8C8D",
    Status.STALE: "#8E9AA0",
}
# Brighter text variants for dark backgrounds (the light ones lack contrast there).
_DARK_TEXT: dict[Status, str] = {
    Status.MATCH: "#3DD6A3",
    Status.QTY_MISMATCH: "#FFC24D",
    Status.SIDE_MISMATCH: "#FF8A4C",
    Status.PRICE_MISMATCH: "#5DB7F0",
    Status.PHANTOM: "#FF6B60",
    Status.UNTRACKED: "#E58FCB",
    Status.CLOSED: "#A5B1B2",
    Status.STALE: "#A5B1B2",
}
GAIN = ("#1B7F4B", "#4CD38A")
LOSS = ("#C0392B", "#FF7B6E")
MUTED_TEXT = ("#8A949B", "#7D878E")


class Health(IntEnum):
    """The tray's three colours, ordered so ``max`` gives the worst."""

    GOOD = 0
    WARN = 1
    BAD = 2


HEALTH_COLOURS = {Health.GOOD: "#009E73", Health.WARN: "#E69F00", Health.BAD: "#D1362F"}
HEALTH_WORDS = {Health.GOOD: "all positions match", Health.WARN: "needs a look", Health.BAD: "mismatches"}


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Base).lightness() < 128


def status_icon(status: Status) -> QIcon:
    return icon(f"status-{status.value}")


# Events that report a status show its icon; the others have icons of their own, in the grey of
# facts (opened, quantity changed) or the amber of a warning (a mass change held back).
_EVENT_STATUS: dict[EventKind, Status] = {
    EventKind.PHANTOM_DETECTED: Status.PHANTOM,
    EventKind.UNTRACKED_DETECTED: Status.UNTRACKED,
    EventKind.MISMATCH_DETECTED: Status.QTY_MISMATCH,  # unless the detail names another kind
    EventKind.CLOSED: Status.CLOSED,
    EventKind.SYNC_FAILED: Status.STALE,
}
_EVENT_ICONS: dict[EventKind, str] = {
    EventKind.OPENED: "event-opened",
    EventKind.QTY_CHANGED: "event-qty_changed",
    EventKind.MASS_CHANGE_HELD: "event-held",
    EventKind.LOGIN_REQUIRED: "login",
}
_MISMATCHES = {s.value: s for s in (Status.QTY_MISMATCH, Status.SIDE_MISMATCH, Status.PRICE_MISMATCH)}


def event_icon_name(kind: EventKind, detail: str = "") -> str:
    """The icon file of an event; ``detail`` (``side_mismatch: broker -65, book 65``) tells the
    mismatches apart. Anything resolved or recovered is back to the match's tick."""
    if kind is EventKind.MISMATCH_DETECTED:
        mismatch = _MISMATCHES.get(detail.partition(":")[0].strip(), Status.QTY_MISMATCH)
        return f"status-{mismatch.value}"
    if kind.value.endswith(("_resolved", "_recovered")):
        return f"status-{Status.MATCH.value}"
    status = _EVENT_STATUS.get(kind)
    if status is not None:
        return f"status-{status.value}"
    return _EVENT_ICONS.get(kind, "event-info")


def event_icon(kind: EventKind, detail: str = "") -> QIcon:
    return icon(event_icon_name(kind, detail))


def text_colour(status: Status, dark: bool) -> QColor:
    return QColor(_DARK_TEXT[status] if dark else STATUS_COLOURS[status])


def tint(status: Status, dark: bool, *, quiet: bool = False) -> QColor | None:
    """Row background: none for calm rows, a soft wash of the status colour for problems.

    ``quiet`` (acknowledged or snoozed) halves the wash: still marked, no longer shouting.
    """
    if not status.is_problem:
        return None
    colour = QColor(STATUS_COLOURS[status])
    alpha = 58 if dark else 34
    colour.setAlpha(alpha // 2 if quiet else alpha)
    return colour


def pnl_colour(value_sign: int, dark: bool) -> QColor | None:
    if value_sign > 0:
        return QColor(GAIN[dark])
    if value_sign < 0:
        return QColor(LOSS[dark])
    return None


def muted_colour(dark: bool) -> QColor:
    return QColor(MUTED_TEXT[dark])


def label(status: Status) -> str:
    return status_label(status)


def meaning(status: Status) -> str:
    return status_meaning(status)


def account_health(state: AccountState) -> Health:
    if state is AccountState.LOGIN_REQUIRED:
        return Health.BAD
    if state is AccountState.STALE:
        return Health.WARN
    return Health.GOOD
