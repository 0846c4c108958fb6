"""A row's history in words, for the History tab: material changes, events, the user's word.

Blocking (it reads the store): the controller runs it on its reader thread. Each line says one
thing once, in the window's words: a status label rather than ``price_mismatch``, money with its
currency and sign, and an event's kind not repeated by its detail.
"""

from __future__ import annotations

from position_sync.app.display import clock, event_text, fmt_money, fmt_qty, status_label, with_minus
from position_sync.app.domain import Status
from position_sync.app.store import acks as ack_store
from position_sync.app.store import series as series_store
from position_sync.app.store.repository import HistoryPoint, Store
from position_sync.ui.history import TimelineItem


def change_text(point: HistoryPoint, currency: str | None) -> str:
    """``Qty mismatch: broker 70, book 35`` (with realised P&L and the hint when there are any)."""
    broker = fmt_qty(point.broker_qty) if point.broker_qty is not None else "none"
    local = fmt_qty(point.local_qty) if point.local_qty is not None else "none"
    try:
        label = status_label(Status(point.status))
    except ValueError:  # a status written by a newer version: shown as stored
        label = point.status
    text = f"{label}: broker {broker}, book {local}"
    if point.status == Status.PRICE_MISMATCH.value and point.broker_avg is not None:
        text += (
            f", average {fmt_money(point.broker_avg, currency)} at the broker against "
            f"{fmt_money(point.local_avg, currency) or 'none'} in the book"
        )
    if point.realised_pnl is not None and point.status == Status.CLOSED.value:
        text += f", realised P&L {fmt_money(point.realised_pnl, currency, signed=True)}"
    if point.hint:
        text += f" ({with_minus(point.hint)})"
    return text


def ack_text(record: ack_store.Acknowledgement) -> str:
    if record.kind is ack_store.AckKind.ACK:
        note = f": “{record.note}”" if record.note else ""
        try:
            status = status_label(Status(record.status)).lower() if record.status else "the row"
        except ValueError:
            status = record.status or "the row"
        return f"Acknowledged ({status}){note}"
    if record.kind is ack_store.AckKind.SNOOZE:
        until = clock(record.until, record.at)
        return f"Snoozed until {until}" + (f": {record.note}" if record.note else "")
    if record.kind is ack_store.AckKind.NOTE:
        return f"Note: “{record.note}”"
    return "Acknowledgement and snooze cleared"


def row_timeline(store: Store, account: str, instrument: str, currency: str | None) -> list[TimelineItem]:
    """Every line of one row's history, unordered (the pane sorts newest first)."""
    timeline = [
        TimelineItem(point.at, "change", change_text(point, currency))
        for point in store.history(account, instrument)
    ]
    timeline += [
        TimelineItem(event.at, "event", event_text(event, currency))
        for event in series_store.row_events(store, account, instrument)
    ]
    timeline += [
        TimelineItem(
            record.at, record.kind.value, ack_text(record) + (f" ({record.by})" if record.by else "")
        )
        for record in ack_store.records(store, account, instrument)
    ]
    return timeline
