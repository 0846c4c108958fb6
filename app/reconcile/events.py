"""What a good sync announces: problems confirmed or resolved, and what the broker did.

Rule 4's input: a problem is reported once it held for ``confirm_syncs`` good syncs and the book
settled, and its resolution only if it was reported. Broker-side facts (opened, closed,
quantity changed) are told as they happen, and every close is archived with its P&L (rule 5).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from position_sync.app.domain import MISMATCH_STATUSES, ZERO, Event, EventKind, Position, Row, Status, normal
from position_sync.app.reconcile.memory import AccountMemory, ClosedPosition, JudgeSettings
from position_sync.app.reconcile.rows import SyncRows, legs_are_open

_DETECTED = {
    "phantom": EventKind.PHANTOM_DETECTED,
    "untracked": EventKind.UNTRACKED_DETECTED,
    "mismatch": EventKind.MISMATCH_DETECTED,
}
_RESOLVED = {
    "phantom": EventKind.PHANTOM_RESOLVED,
    "untracked": EventKind.UNTRACKED_RESOLVED,
    "mismatch": EventKind.MISMATCH_RESOLVED,
}


def fmt(value: Decimal | None) -> str:
    return "none" if value is None else f"{normal(value):f}"


def announce(
    account: str,
    built: SyncRows,
    broker: dict[str, Position],
    memory: AccountMemory,
    settings: JudgeSettings,
    settled: bool,
    now: datetime,
) -> tuple[list[Event], list[ClosedPosition]]:
    """The events of the rows that changed and of those that vanished, and the closes to archive."""
    confirmed_mass = memory.held or frozenset()
    events: list[Event] = []
    closed: list[ClosedPosition] = []
    rows = built.rows
    prev_get = memory.rows.get
    for key in built.changed:
        current = rows[key]
        prev = prev_get(key)
        if current.status.is_problem or (prev is not None and prev.confirmed):
            instant = _reads_as_closed_phantom(current, broker.get(key))
            events.extend(
                _confirm(account, current, prev, settings, settled, now, key in confirmed_mass, instant)
            )
        if memory.initialised and (prev.broker_qty if prev is not None else None) != current.broker_qty:
            events.extend(_position_events(account, current, prev, now))
        if key in built.closing and prev is not None:
            closed.append(
                ClosedPosition(
                    account,
                    key,
                    now,
                    prev.broker_qty or ZERO,
                    prev.broker_avg,
                    current.realised_pnl,
                    current.realised_estimated,
                )
            )
    events.extend(_vanished(account, built.vanished, now))
    return events, closed


def _reads_as_closed_phantom(row: Row, bp: Position | None) -> bool:
    """A phantom the broker lists at zero with no leg open: closed there, reported at once."""
    return (
        row.status is Status.PHANTOM
        and bp is not None
        and bp.quantity == ZERO
        and not legs_are_open(row.broker_parts)
    )


def _vanished(account: str, vanished: list[Row], now: datetime) -> list[Event]:
    """A reported problem whose instrument neither side holds any more is resolved."""
    events = []
    for prev in vanished:
        category = _category(prev.effective_status)
        if category and prev.confirmed:
            events.append(
                Event(now, account, _RESOLVED[category], prev.instrument, "no longer held by either side")
            )
    return events


def _category(status: Status | None) -> str | None:
    if status is Status.PHANTOM:
        return "phantom"
    if status is Status.UNTRACKED:
        return "untracked"
    if status in MISMATCH_STATUSES:
        return "mismatch"
    return None


def _confirm(
    account: str,
    row: Row,
    prev: Row | None,
    settings: JudgeSettings,
    settled: bool,
    now: datetime,
    bonus: bool,
    instant: bool,
) -> list[Event]:
    """Rule 4's input: a problem is reported once it held long enough, resolved only if reported.

    Updates the row's ``streak`` and ``confirmed`` in place: the row was built this sync and
    nobody else holds it yet.
    """
    events: list[Event] = []
    category = _category(row.status)
    prev_category = _category(prev.effective_status) if prev is not None else None
    reported = prev is not None and prev.confirmed and prev_category is not None
    if reported and category is None and row.status is Status.MATCH:
        # Resolved only when back to a match: a mismatch whose position then closed at the
        # broker is told by its ``closed`` event, not by a green "resolved".
        assert prev_category is not None
        events.append(Event(now, account, _RESOLVED[prev_category], row.instrument, _describe(row)))
    if category is None:
        row.streak, row.confirmed = 0, False
        return events
    if category == prev_category and prev is not None:
        streak, confirmed = prev.streak + 1, prev.confirmed
    else:
        streak, confirmed = 1, False
    if bonus or (reported and category != prev_category):
        # A reported problem that turned into another (a mismatch gone phantom) was confirmed
        # as a problem already: the new one is reported at once, never as a resolution.
        streak = max(streak, settings.confirm_syncs)
    if not confirmed and not row.explained and (instant or (streak >= settings.confirm_syncs and settled)):
        confirmed = True
        events.append(Event(now, account, _DETECTED[category], row.instrument, _describe(row)))
    # Once reported, the count no longer matters: capping it keeps an unchanged problem row
    # unchanged, so the store does not rewrite it every sync.
    row.streak = min(streak, settings.confirm_syncs) if confirmed else streak
    row.confirmed = confirmed
    return events


def _describe(row: Row) -> str:
    text = f"{row.status.value}: broker {fmt(row.broker_qty)}, book {fmt(row.local_qty)}"
    if row.status is Status.PRICE_MISMATCH:
        text += f", average {fmt(row.broker_avg)} at the broker against {fmt(row.local_avg)} in the book"
    if row.hint:
        text += f" ({row.hint})"
    return text


def _position_events(account: str, row: Row, prev: Row | None, now: datetime) -> list[Event]:
    """Broker-side facts: opened, closed, quantity changed.

    A net of zero with legs still open is neither opened nor closed: the quantity changed.
    """
    before = (prev.broker_qty or ZERO) if prev else ZERO
    after = row.broker_qty or ZERO
    if before == after:
        return []
    if before == ZERO and not (prev is not None and legs_are_open(prev.broker_parts)):
        return [Event(now, account, EventKind.OPENED, row.instrument, f"opened at the broker: {fmt(after)}")]
    if after == ZERO and not legs_are_open(row.broker_parts):
        detail = f"closed at the broker: was {fmt(before)}"
        if row.realised_pnl is not None:
            estimate = " (estimated)" if row.realised_estimated else ""
            detail += f", realised P&L {fmt(row.realised_pnl)}{estimate}"
        data = {"realised_pnl": None if row.realised_pnl is None else str(row.realised_pnl)}
        return [Event(now, account, EventKind.CLOSED, row.instrument, detail, data)]
    detail = f"quantity at the broker changed from {fmt(before)} to {fmt(after)}"
    if after == ZERO:
        legs = ", ".join(f"{part.label} {fmt(part.quantity)}" for part in row.broker_parts if part.quantity)
        detail += f" (legs still open: {legs})"
    return [Event(now, account, EventKind.QTY_CHANGED, row.instrument, detail)]
