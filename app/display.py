"""Words and number formats a person reads: shared by the window, notifications and the CLI.

Kept Qt-free so a notification sentence built headless reads exactly like the row in the window,
and so the wording of a status ("held by your book, not at the broker") lives in one place.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal

from app.domain import EventKind, Status, normal

MINUS = "\u2212"  # as wide as "+" in tabular fonts, so signed columns stay aligned

STATUS_LABELS: dict[Status, str] = {
    Status.MATCH: "Match",
    Status.QTY_MISMATCH: "Qty mismatch",
    Status.SIDE_MISMATCH: "Side mismatch",
    Status.PRICE_MISMATCH: "Price mismatch",
    Status.PHANTOM: "Phantom",
    Status.UNTRACKED: "Untracked",
    Status.CLOSED: "Closed",
    Status.STALE: "Stale",
}

STATUS_MEANINGS: dict[Status, str] = {
    Status.MATCH: "held by both sides: same quantity, average prices within tolerance",
    Status.QTY_MISMATCH: "held by both sides, but the quantities differ",
    Status.SIDE_MISMATCH: "held by both sides, but one is long and the other short",
    Status.PRICE_MISMATCH: "same quantity on both sides, but the average prices differ beyond the tolerance",
    Status.PHANTOM: "held by your book, not at the broker",
    Status.UNTRACKED: "held at the broker, not by your book (a manual trade or a missed fill?)",
    Status.CLOSED: "closed at the broker today; neither side holds it now",
    Status.STALE: "this account could not be read; the last good picture is shown",
}

EVENT_LABELS: dict[EventKind, str] = {
    EventKind.OPENED: "Opened",
    EventKind.CLOSED: "Closed",
    EventKind.QTY_CHANGED: "Quantity changed",
    EventKind.PHANTOM_DETECTED: "Phantom detected",
    EventKind.PHANTOM_RESOLVED: "Phantom resolved",
    EventKind.UNTRACKED_DETECTED: "Untracked detected",
    EventKind.UNTRACKED_RESOLVED: "Untracked resolved",
    EventKind.MISMATCH_DETECTED: "Mismatch detected",
    EventKind.MISMATCH_RESOLVED: "Mismatch resolved",
    EventKind.SYNC_FAILED: "Sync failed",
    EventKind.LOGIN_REQUIRED: "Login required",
    EventKind.MASS_CHANGE_HELD: "Mass change held",
}

CURRENCY_SYMBOLS = {"INR": "₹", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "USDT": "₮"}
_CENT = Decimal("0.01")


def status_label(status: Status) -> str:
    return STATUS_LABELS[status]


def status_meaning(status: Status) -> str:
    return STATUS_MEANINGS[status]


def event_label(kind: EventKind) -> str:
    return EVENT_LABELS.get(kind, kind.value.replace("_", " ").capitalize())


def fmt_qty(value: Decimal | None, *, signed: bool = False) -> str:
    """Grouped, without trailing zeros: a lot size of 0.025 stays 0.025, 1500 reads 1,500."""
    if value is None:
        return ""
    value = normal(value) or Decimal(0)
    text = format(abs(value), ",f")
    if value < 0:
        return MINUS + text
    return ("+" + text) if signed and value > 0 else text


def _money_digits(value: Decimal) -> Decimal:
    """Two decimals at least (prices and P&L read as money), more only when the value has them."""
    value = normal(value) or Decimal(0)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -2:
        return value.quantize(_CENT)
    return value


def fmt_money(value: Decimal | None, currency: str | None = None, *, signed: bool = False) -> str:
    """``₹24,480.00``; unknown currencies as a code suffix; ``signed`` adds "+" to gains."""
    if value is None:
        return ""
    amount = _money_digits(value)
    digits = format(abs(amount), ",f")
    symbol = CURRENCY_SYMBOLS.get((currency or "").upper())
    text = f"{symbol}{digits}" if symbol else (f"{digits} {currency}" if currency else digits)
    if amount < 0:
        return MINUS + text
    return ("+" + text) if signed and amount > 0 else text


def clock(moment: datetime | None, now: datetime | None = None) -> str:
    """``14:02`` today, ``21 Nov 14:02`` on another day, in the user's local time."""
    if moment is None:
        return ""
    local = moment.astimezone()
    today = (now or datetime.now(local.tzinfo)).astimezone().date()
    if local.date() == today:
        return local.strftime("%H:%M")
    return local.strftime("%d %b %H:%M")


def ago(moment: datetime | None, now: datetime) -> str:
    """Short human age: ``just now``, ``5 min ago``, ``3 h ago``, ``2 days ago``."""
    if moment is None:
        return "never"
    return f"{span(now - moment)} ago" if (now - moment).total_seconds() >= 60 else "just now"


def span(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400 * 2:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d|day|days)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400, "day": 86400}


def parse_duration(text: str) -> timedelta:
    """``30m``, ``2h``, ``1d`` or a bare number of minutes; ValueError with the reason otherwise."""
    match = _DURATION.match(text or "")
    if not match:
        raise ValueError(f"expected a duration such as 30m, 2h or 1d, not {text!r}")
    amount = float(match.group(1))
    unit = (match.group(2) or "m").lower()
    seconds = amount * _UNIT_SECONDS.get(unit, 86400)
    if seconds <= 0:
        raise ValueError(f"a duration must be longer than zero, not {text!r}")
    return timedelta(seconds=seconds)
