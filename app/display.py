"""Words and number formats a person reads: shared by the window, notifications and the CLI.

Kept Qt-free so a notification sentence built headless reads exactly like the row in the window,
and so the wording of a status ("held by your book, not at the broker") lives in one place.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from position_sync.app.domain import Event, EventKind, Part, Row, Status, normal

MINUS = "\u2212"  # as wide as "+" in tabular fonts, so signed columns stay aligned
_HYPHEN_MINUS = re.compile(r"(?<![\w.])-(?=\d)")  # a negative number, not a hyphenated name

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
    EventKind.SYNC_RECOVERED: "Sync recovered",
    EventKind.LOGIN_REQUIRED: "Login required",
    EventKind.MASS_CHANGE_HELD: "Mass change held",
}

# Only currencies whose sign is unambiguous. USDT has none of its own ("₮" is the Mongolian
# tögrög), so it is shown as a code suffix like every currency not listed here.
CURRENCY_SYMBOLS = {"INR": "₹", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
_CENT = Decimal("0.01")
_STATUS_VALUES = frozenset(s.value for s in Status)


def with_minus(text: str) -> str:
    """Negative numbers in a sentence written by the core (``changed from 50 to -65``) with the
    minus sign the grid shows; hyphens inside names (``BAJAJ-AUTO``, ``2026-11-21``) stay."""
    return _HYPHEN_MINUS.sub(MINUS, text)


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


def money(value: Decimal | None) -> Decimal | None:
    """A computed amount of money (P&L) to the cent: ``-631.2999999999993`` is ``-631.3``.

    Trailing zeros go, as for every number the core hands out (``normal``); ``fmt_money`` shows
    cents again.

    Brokers compute P&L in floating point and the core multiplies prices by quantities; neither
    is more exact than the cent a person reads.
    """
    if value is None:
        return None
    return normal(value.quantize(_CENT, rounding=ROUND_HALF_UP))


def leg_average(value: Decimal | None, parts: Sequence[Part]) -> Decimal | None:
    """An average price the core worked out from several legs, to the legs' own precision.

    Quantities and prices keep the digits the broker sent; an average of several legs is a
    quotient (``801.0961538461538461538461538``), rounded to the finest decimal place its legs
    are quoted in (the nearest to the instrument's tick a position carries), cents at least.
    A single leg's price is the broker's own and is left alone.
    """
    if value is None or len(parts) < 2:  # the usual row, decided before looking at its legs
        return value
    priced = [part.average_price for part in parts if part.average_price is not None]
    if value is None or len(priced) < 2:
        return value
    places = 2
    for price in priced:
        exponent = (normal(price) or Decimal(0)).as_tuple().exponent
        if isinstance(exponent, int):
            places = max(places, -exponent)
    return normal(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


class Figures(NamedTuple):
    """A row's prices and P&L as every output shows them (JSON, text and the window alike)."""

    broker_avg: Decimal | None
    local_avg: Decimal | None
    last_price: Decimal | None
    unrealised_pnl: Decimal | None
    realised_pnl: Decimal | None


def figures(row: Row) -> Figures:
    """The one place a row's computed figures are rounded for output (see ``money``)."""
    return Figures(
        leg_average(row.broker_avg, row.broker_parts),
        leg_average(row.local_avg, row.local_parts),
        row.last_price,
        money(row.unrealised_pnl),
        money(row.realised_pnl),
    )


_COLLAPSED_OCC = re.compile(r"^((?:OPT:)?)([A-Z0-9.]{1,5}) (\d{6}[CP]\d{8})$")


def instrument_label(key: str) -> str:
    """The key as a person reads it: an OCC option symbol with its padding back.

    Keys compare with runs of spaces folded to one (``app.symbols.clean``), which turns
    ``SPX   200117P03205000`` into ``SPX 200117P03205000``; the OCC symbol is a fixed-width
    format (root padded to six), so it is shown the way IB and the OCC write it.
    """
    match = _COLLAPSED_OCC.match(key)
    if match is None:
        return key
    prefix, root, rest = match.groups()
    return f"{prefix}{root.ljust(6)}{rest}"


def plain_detail(event: Event) -> str:
    """An event's detail for logs, the CLI and JSON, with its realised P&L to the cent."""
    pnl = event.data.get("realised_pnl") if event.data else None

    def rounded(match: re.Match[str]) -> str:
        value = Decimal(str(pnl)) if pnl is not None else Decimal(match.group(1))
        return f"realised P&L {money(value):f}"

    return _PNL.sub(rounded, event.detail or "")


def clock(moment: datetime | None, now: datetime | None = None, *, seconds: bool = False) -> str:
    """``14:02`` today, ``21 Nov 14:02`` on another day, in the user's local time.

    ``seconds`` for logs and timelines, where several things happen within one minute and their
    order must be readable: ``14:02:07``, ``21 Nov 14:02:07``.
    """
    if moment is None:
        return ""
    local = moment.astimezone()
    today = (now or datetime.now(local.tzinfo)).astimezone().date()
    time_format = "%H:%M:%S" if seconds else "%H:%M"
    if local.date() == today:
        return local.strftime(time_format)
    return local.strftime(f"%d %b {time_format}")


_RAW_STATUS = re.compile(r"\b(" + "|".join(sorted((s.value for s in Status), key=len, reverse=True)) + r")\b")
_PNL = re.compile(r"realised P&L (-?\d+(?:\.\d+)?)")


_ALIAS_HINT = re.compile(
    r"^did you mean (\S+)\? same quantity at the broker; add the alias .+ to the account$"
)
_SPELLING_HINT = re.compile(r"^did you mean (\S+)\? the book holds the same quantity under that spelling$")


def short_hint(hint: str | None) -> str:
    """A hint as short as a table cell allows; the whole sentence stays in the tooltip.

    The look-alike hints carry a ready-to-paste alias line, far wider than any column: the
    cell keeps the question and what to do about it.
    """
    if not hint:
        return ""
    if match := _ALIAS_HINT.match(hint):
        return f"did you mean {match.group(1)}? add the alias"
    if match := _SPELLING_HINT.match(hint):
        return f"same as the book's {match.group(1)}?"
    return with_minus(hint)


def event_detail(event: Event, currency: str | None = None) -> str:
    """An event's detail in the window's words, without repeating what its kind already says.

    The core writes details for logs and the CLI (``phantom: broker none, book 50``); a person
    reading "Phantom detected" next to it needs neither the raw status name again nor
    ``price_mismatch`` spelled as an identifier, and reads P&L as money: ``−₹1,650.00``.
    """
    text = event.detail or ""
    head, sep, rest = text.partition(": ")
    if sep and head in _STATUS_VALUES:
        label = status_label(Status(head))
        if event_label(event.kind).lower().startswith(label.lower()):
            text = rest  # "Phantom detected: phantom: …" would say phantom twice
        elif event.kind.value.endswith("_resolved"):
            text = f"now {label.lower()} — {rest}"
        else:
            text = f"{label} — {rest}"
    text = _RAW_STATUS.sub(lambda m: status_label(Status(m.group(1))).lower(), text)
    pnl = event.data.get("realised_pnl") if event.data else None

    def amount(match: re.Match[str]) -> str:
        value = Decimal(str(pnl)) if pnl is not None else Decimal(match.group(1))
        return f"realised P&L {fmt_money(money(value), currency, signed=True)}"

    return with_minus(_PNL.sub(amount, text))


def event_text(event: Event, currency: str | None = None) -> str:
    """``Phantom detected: broker none, book 50``: kind and detail in one line.

    A detail that already begins with the kind's word ("closed at the broker: was 150") stands
    alone, capitalised, rather than as "Closed: closed at the broker".
    """
    label = event_label(event.kind)
    detail = event_detail(event, currency)
    if not detail:
        return label
    if detail.lower().startswith(label.split()[0].lower()):
        return detail[0].upper() + detail[1:]
    return f"{label}: {detail}"


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
