"""The rows of one good sync: one per instrument, judged, with its figures and what it carries.

The hot path of reconciliation: a large account builds 100,000 rows a sync, so each phase is a
plain function over plain values, the common case (a calm match) decided before any other, and
an unchanged match skipped before a row is built at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from functools import partial

from position_sync.app.domain import ZERO, Part, Position, Row, Status, normal
from position_sync.app.reconcile.memory import AccountMemory, JudgeSettings


def judge(
    broker_qty: Decimal,
    local_qty: Decimal,
    broker_avg: Decimal | None,
    local_avg: Decimal | None,
    settings: JudgeSettings,
) -> Status | None:
    """The status of one instrument held by at least one side; None when neither holds it."""
    if broker_qty == ZERO and local_qty == ZERO:
        return None
    if local_qty == ZERO:
        return Status.UNTRACKED
    if broker_qty == ZERO:
        return Status.PHANTOM
    if (broker_qty > ZERO) != (local_qty > ZERO):
        return Status.SIDE_MISMATCH
    if broker_qty != local_qty:
        return Status.QTY_MISMATCH
    if broker_avg is not None and local_avg is not None:
        allowed = settings.price_tolerance_abs + settings.price_tolerance_rel * abs(broker_avg)
        if abs(broker_avg - local_avg) > allowed:
            return Status.PRICE_MISMATCH
    return Status.MATCH


def legs_are_open(parts: Sequence[Part] | None) -> bool:
    """True when a line behind the row is still held, whatever the lines add up to."""
    return parts is not None and any(part.quantity != ZERO for part in parts)


def same_day(a: datetime, b: datetime) -> bool:
    return a.astimezone().date() == b.astimezone().date()


class SyncRows:
    """The rows one good sync built, and what its later phases need to know about them."""

    __slots__ = ("changed", "closing", "phantoms", "rows", "turning_phantom", "untracked", "vanished")

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.changed: list[str] = []  # rows that may carry an event; unchanged matches need no second look
        self.vanished: list[Row] = []  # previous rows neither side holds any more
        self.phantoms: list[Row] = []  # always rows built this sync: problem rows are never reused
        self.untracked: list[Row] = []
        self.closing: set[str] = set()
        self.turning_phantom: set[str] = set()

    def note_change(self, key: str, row: Row, prev: Row | None) -> None:
        """Keep a row that may carry an event, sorted by what rules 3 and the hints look for."""
        self.changed.append(key)
        status = row.status
        if status is Status.PHANTOM:
            self.phantoms.append(row)
        elif status is Status.UNTRACKED:
            self.untracked.append(row)
        if prev is not None:
            if prev.broker_qty and not row.broker_qty and not legs_are_open(row.broker_parts):
                self.closing.add(key)
            if status is Status.PHANTOM and prev.effective_status is not Status.PHANTOM:
                self.turning_phantom.add(key)


def build_rows(
    account: str,
    keys: dict[str, None],
    broker: dict[str, Position],
    book: dict[str, Position],
    broker_parts: dict[str, tuple[Part, ...]],
    book_parts: dict[str, tuple[Part, ...]],
    memory: AccountMemory,
    now: datetime,
    settings: JudgeSettings,
    *,
    same_sides: bool = False,
) -> SyncRows:
    """Every instrument's row, the previous object kept where nothing about it changed.

    ``same_sides``: the sides are the very objects the remembered rows were built from (with
    the same settings). A calm match depends on nothing else (not on the clock, which only a
    problem's streak, a close or a day's end involve), so building it again would give it back
    unchanged: it is kept without looking at its sides.
    """
    built = SyncRows()
    rows = built.rows
    initialised = memory.initialised
    prev_get, b_get, l_get = memory.rows.get, broker.get, book.get
    # Most instruments are held once per side: skip the breakdown lookups when nothing was summed.
    b_parts_get = broker_parts.get if broker_parts else _none
    l_parts_get = book_parts.get if book_parts else _none
    match = Status.MATCH
    for key in keys:
        prev = prev_get(key)
        if (
            same_sides
            and prev is not None
            and prev.status is match
            and not (prev.confirmed or prev.streak)
            and prev.previous_status is None
        ):
            rows[key] = prev
            continue
        bp = b_get(key)
        lp = l_get(key)
        if prev is not None and bp is not None and lp is not None:
            reused = _still_the_same_match(prev, bp, lp)
            if reused is prev:
                rows[key] = prev
                continue
            if reused is not None:  # the same calm match at new prices
                rows[key] = reused
                built.note_change(key, reused, prev)
                continue
        row = build_row(account, key, bp, lp, b_parts_get(key), l_parts_get(key), prev, now, settings)
        if row is None:
            if prev is not None:
                built.vanished.append(prev)
            continue
        rows[key] = row
        if row is prev or (prev is None and not initialised and not row.status.is_problem):
            continue  # unchanged, or a first sync's calm row: no event can come of either
        built.note_change(key, row, prev)
    return built


def _none(_key: str) -> None:
    return None


def _still_the_same_match(prev: Row, bp: Position, lp: Position) -> Row | None:
    """What ``build_row`` would give for a calm match, single line per side, without building it:
    ``prev`` itself when nothing changed, a copy at the new prices when only they moved, None
    when anything else did (then the row is built and judged).

    The steady state of a large account is almost all such rows, and while the market is open
    most of them tick: comparing the inputs here skips building each row and comparing it field
    by field, which dominated a resync.
    """
    if prev.status is not Status.MATCH or prev.confirmed or prev.streak or prev.previous_status is not None:
        return None
    b_qty = bp.quantity
    b_avg = bp.average_price
    if (
        b_qty != lp.quantity
        or b_qty == ZERO
        or b_qty != prev.broker_qty
        or lp.quantity != prev.local_qty
        or b_avg != prev.broker_avg
        or lp.average_price != prev.local_avg
        or (b_avg is not None and lp.average_price is not None and b_avg != lp.average_price)
    ):
        return None
    if bp.realised_pnl != prev.realised_pnl or prev.realised_estimated:
        return None
    if bp.multiplier != prev.multiplier or bp.price_missing_reason != prev.hint or prev.explained:
        return None
    if ((bp.currency or lp.currency) or prev.currency) != prev.currency or prev.local_parts:
        return None
    parts = prev.broker_parts
    if not (len(parts) == 1 and parts[0] == (bp.label, b_qty, b_avg) if bp.label else not parts):
        return None
    last_price = bp.last_price if bp.last_price is not None else prev.last_price
    unrealised = bp.unrealised_pnl
    if unrealised is None and b_avg is not None and last_price is not None:
        unrealised = (last_price - b_avg) * b_qty * bp.multiplier
    if last_price == prev.last_price and unrealised == prev.unrealised_pnl:
        return prev
    return _repriced(prev, last_price, unrealised)


def _repriced(prev: Row, last_price: Decimal | None, unrealised: Decimal | None) -> Row:
    """``prev`` at new prices: every other slot is what ``build_row`` would set from the same sides."""
    row = _empty_row(Row)
    row.account = prev.account
    row.instrument = prev.instrument
    row.status = prev.status
    row.since = prev.since
    row.broker_qty = prev.broker_qty
    row.local_qty = prev.local_qty
    row.broker_avg = prev.broker_avg
    row.local_avg = prev.local_avg
    row.last_price = last_price
    row.unrealised_pnl = unrealised
    row.realised_pnl = prev.realised_pnl
    row.realised_estimated = False
    row.multiplier = prev.multiplier
    row.currency = prev.currency
    row.hint = prev.hint
    row.explained = False
    row.streak = 0
    row.confirmed = False
    row.previous_status = None
    row.broker_parts = prev.broker_parts
    row.local_parts = prev.local_parts
    return row


# ``Row`` is keyword-only, and Python 3.11 passes keywords to a class through a dict: building a
# row by ``Row(account=..., ...)`` costs 2.5 times the positional call it replaced, 100 ms more on a
# 100,000-row first sync. ``build_row`` instead fills the named slots of an empty row, which is
# cheaper than either; a slot it forgot would raise on the first comparison or save of the row.
_empty_row: Callable[[type[Row]], Row] = object.__new__

# ``Part(...)`` goes through the named tuple's Python-level ``__new__``; one per broker line of a
# large account adds up, and this builds the same tuple in C.
_new_part: Callable[[tuple[str, Decimal, Decimal | None]], Part] = partial(tuple.__new__, Part)


def build_row(
    account: str,
    key: str,
    bp: Position | None,
    lp: Position | None,
    b_parts: tuple[Part, ...] | None,
    l_parts: tuple[Part, ...] | None,
    prev: Row | None,
    now: datetime,
    settings: JudgeSettings,
) -> Row | None:
    """One instrument's row, or None when neither side holds it and nothing closed today.

    The phases: judge the two sides, fill the row as they show it now, then let it continue
    the previous row, which is returned as is when nothing about it changed, so the store can
    skip it by identity.
    """
    b_qty = bp.quantity if bp is not None else ZERO
    l_qty = lp.quantity if lp is not None else ZERO
    b_avg = bp.average_price if bp is not None else None
    l_avg = lp.average_price if lp is not None else None
    status: Status | None
    if b_qty == l_qty and b_qty != ZERO and (b_avg is None or l_avg is None or b_avg == l_avg):
        status = Status.MATCH  # the common case, decided without the tolerance arithmetic
        legs_open = closing = False
    else:
        status, legs_open, closing = _judged_beyond_a_match(
            b_qty, l_qty, b_avg, l_avg, b_parts, bp, prev, now, settings
        )
        if status is None:
            return None

    currency = lp.currency if lp is not None else None
    if bp is not None:
        multiplier, last_price, unrealised = _broker_prices(bp, b_qty, b_avg, legs_open, prev)
        realised = bp.realised_pnl
        hint = bp.price_missing_reason if b_qty != ZERO else None
        currency = bp.currency or currency
        if b_parts is None and bp.label:
            b_parts = (_new_part((bp.label, b_qty, b_avg)),)
    else:
        multiplier, last_price, unrealised, realised, hint = Decimal(1), None, None, None, None

    row = _empty_row(Row)
    row.account = account
    row.instrument = key
    row.status = status
    row.since = now
    row.broker_qty = b_qty if bp is not None else None
    row.local_qty = l_qty if lp is not None else None
    row.broker_avg = b_avg
    row.local_avg = l_avg
    row.last_price = last_price
    row.unrealised_pnl = unrealised
    row.realised_pnl = realised
    row.realised_estimated = False
    row.multiplier = multiplier
    row.currency = currency
    row.hint = hint
    row.explained = False
    row.streak = 0
    row.confirmed = False
    row.previous_status = None
    row.broker_parts = b_parts or ()
    row.local_parts = l_parts or ()
    if prev is None:
        return row
    return _continuing(row, prev, closing)


def _judged_beyond_a_match(
    b_qty: Decimal,
    l_qty: Decimal,
    b_avg: Decimal | None,
    l_avg: Decimal | None,
    b_parts: tuple[Part, ...] | None,
    bp: Position | None,
    prev: Row | None,
    now: datetime,
    settings: JudgeSettings,
) -> tuple[Status | None, bool, bool]:
    """The status of a row that is not a plain match, whether its legs are open, whether it closes.

    Legs that net to zero (NRML +35, MIS -35) are still open: judged on the net (0 against a book
    holding none is a match), but never closed, so no close is announced or archived. For an
    instrument neither side holds, a close this sync, a broker line of zero or a close earlier
    today make a closed row (rule 5 keeps it in view until the day ends); otherwise no row.
    """
    legs_open = b_qty == ZERO and legs_are_open(b_parts)
    closing = b_qty == ZERO and not legs_open and prev is not None and bool(prev.broker_qty)
    status = judge(b_qty, l_qty, b_avg, l_avg, settings)
    if status is None:
        closed_earlier_today = (
            prev is not None and prev.effective_status is Status.CLOSED and same_day(prev.since, now)
        )
        if legs_open:
            status = Status.MATCH
        elif closing or bp is not None or closed_earlier_today:
            status = Status.CLOSED
    return status, legs_open, closing


def _continuing(row: Row, prev: Row, closing: bool) -> Row:
    """The row as it continues the previous sync's, or the previous row itself if nothing changed.

    What the broker did not say this time is the last known: the multiplier and last price of
    an instrument it no longer lists, the currency; a realised P&L it did not give is estimated
    for a close or kept for a row closed earlier. The status keeps its ``since`` while it holds,
    and a problem its count of syncs and whether it was reported.
    """
    if row.broker_qty is None:
        row.multiplier = prev.multiplier
        row.last_price = prev.last_price
    if row.realised_pnl is None:
        row.realised_pnl, row.realised_estimated = _realised_from(prev, closing, row.status)
    if row.currency is None:
        row.currency = prev.currency
    status = row.status
    if prev.status is status or prev.effective_status is status:
        row.since = prev.since
    row.streak = prev.streak
    row.confirmed = prev.confirmed
    if (
        not status.is_problem
        and not prev.confirmed
        # Prices first: a ticking price (most changed rows) is told apart without comparing
        # every field of both rows.
        and row.last_price == prev.last_price
        and row.unrealised_pnl == prev.unrealised_pnl
        and row == prev
    ):
        return prev
    return row


def _broker_prices(
    bp: Position, b_qty: Decimal, b_avg: Decimal | None, legs_open: bool, prev: Row | None
) -> tuple[Decimal, Decimal | None, Decimal | None]:
    """Multiplier, last price and unrealised P&L as the broker gave them.

    A broker that sent no last price this time keeps the previous one; an unrealised P&L the
    broker did not give is worked out from the prices, for a position (or its legs) still held.
    """
    last_price = bp.last_price
    if last_price is None and prev is not None:
        last_price = prev.last_price
    unrealised = None
    if b_qty != ZERO or legs_open:
        unrealised = bp.unrealised_pnl
        if unrealised is None and b_avg is not None and last_price is not None:
            unrealised = (last_price - b_avg) * b_qty * bp.multiplier
    return bp.multiplier, last_price, unrealised


def _realised_from(prev: Row, closing: bool, status: Status) -> tuple[Decimal | None, bool]:
    """The realised P&L the broker did not give, and whether it is an estimate.

    A close without the broker's figure is estimated from the last price; a row closed earlier
    keeps what it had; anything else has none.
    """
    if closing:
        if prev.last_price is not None and prev.broker_avg is not None:
            quantity = prev.broker_qty or ZERO
            return normal((prev.last_price - prev.broker_avg) * quantity * prev.multiplier), True
        return None, False
    if status is Status.CLOSED:
        return prev.realised_pnl, prev.realised_estimated
    return None, False
