"""Pure reconciliation: (broker, book, what we knew) -> (rows, events, what we know now).

No I/O and no clock of its own, so every safety rule can be tested exhaustively: a failed read
turns the account stale and produces no phantom/untracked/closed event (rule 1), zero is closed
(rule 2), a mass disappearance is held for one more sync (rule 3), and problems are reported
once, after they held for ``confirm_syncs`` good syncs and the book settled (rule 4's input).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from functools import partial

from position_sync.app.domain import (
    MISMATCH_STATUSES,
    ZERO,
    AccountState,
    BookSnapshot,
    BrokerSnapshot,
    Event,
    EventKind,
    Part,
    Position,
    Row,
    Status,
    WorkingOrder,
    normal,
)
from position_sync.app.errors import ReadError, ReadErrorKind
from position_sync.app.lookalike import can_be_same
from position_sync.app.symbols import compact, similarity, symbol_part


@dataclass(frozen=True)
class JudgeSettings:
    """The per-account knobs of reconciliation (see ``AccountConfig`` for their defaults)."""

    price_tolerance_rel: Decimal = Decimal("0.001")
    price_tolerance_abs: Decimal = Decimal("0.01")
    confirm_syncs: int = 2
    settle_seconds: float = 5.0
    mass_change_fraction: Decimal = Decimal("0.5")
    mass_change_min: int = 3


@dataclass(frozen=True)
class ClosedPosition:
    """A position the broker closed, archived with its realised P&L (rule 5)."""

    account: str
    instrument: str
    closed_at: datetime
    quantity: Decimal
    average_price: Decimal | None
    realised_pnl: Decimal | None
    estimated: bool


@dataclass(frozen=True)
class AccountMemory:
    """What reconciliation needs from the previous sync of one account."""

    account: str
    rows: dict[str, Row] = field(default_factory=dict)
    state: AccountState = AccountState.OK
    error: str | None = None
    last_success_at: datetime | None = None
    book_fingerprint: str | None = None
    book_changed_at: datetime | None = None
    held: frozenset[str] | None = None
    initialised: bool = False


@dataclass(frozen=True)
class Outcome:
    rows: dict[str, Row]
    events: list[Event]
    memory: AccountMemory
    closed: list[ClosedPosition] = field(default_factory=list)
    held: bool = False

    @property
    def state(self) -> AccountState:
        return self.memory.state


class _Merged:
    """Several lines of one instrument on one side, summed; single lines skip this entirely."""

    __slots__ = ("parts", "position")

    def __init__(self, lines: list[Position], default_label: str) -> None:
        quantity = ZERO
        cost = ZERO
        costed = ZERO
        unrealised: Decimal | None = None
        realised: Decimal | None = None
        last_price: Decimal | None = None
        multiplier = Decimal(1)
        currency: str | None = None
        missing: str | None = None
        aliases: list[str] = []
        parts = []
        net = sum((line.quantity for line in lines), ZERO)
        unknown_cost = False
        for number, line in enumerate(lines, 1):
            quantity += line.quantity
            parts.append(Part(line.label or f"{default_label} {number}", line.quantity, line.average_price))
            # The average of what is held: lines on the side of the net position. A sale today
            # (a negative line at the sale price) reduces the holding, not its cost basis. One
            # held line of unknown average makes the whole average unknown: the average of the
            # others alone would be compared with the book's average of all of them.
            if line.quantity != ZERO and (line.quantity > 0) == (net > 0):
                if line.average_price is None:
                    unknown_cost = True
                else:
                    cost += line.average_price * abs(line.quantity)
                    costed += abs(line.quantity)
            if line.last_price is not None:
                last_price = line.last_price
            if line.unrealised_pnl is not None:
                unrealised = (unrealised or ZERO) + line.unrealised_pnl
            if line.realised_pnl is not None:
                realised = (realised or ZERO) + line.realised_pnl
            if line.multiplier != 1:
                multiplier = line.multiplier
            currency = currency or line.currency
            missing = missing or line.price_missing_reason
            aliases.extend(line.aliases)
        self.parts = tuple(parts)
        self.position = Position(
            instrument=lines[0].instrument,
            quantity=normal(quantity) or ZERO,
            average_price=normal(cost / costed) if costed and not unknown_cost else None,
            last_price=last_price,
            unrealised_pnl=unrealised,
            realised_pnl=realised,
            symbol=lines[0].symbol,
            multiplier=multiplier,
            currency=currency,
            aliases=tuple(aliases),
            price_missing_reason=missing,
        )


def _index(
    positions: Iterable[Position], default_label: str
) -> tuple[dict[str, Position], dict[str, tuple[Part, ...]]]:
    """Positions by key, several lines of one key summed, with their breakdown kept apart."""
    by_key: dict[str, Position] = {}
    several: dict[str, list[Position]] = {}
    for position in positions:
        key = position.instrument
        first = by_key.get(key)
        if first is None:
            by_key[key] = position
        elif key in several:
            several[key].append(position)
        else:
            several[key] = [first, position]
    parts: dict[str, tuple[Part, ...]] = {}
    for key, lines in several.items():
        merged = _Merged(lines, default_label)
        by_key[key] = merged.position
        parts[key] = merged.parts
    return by_key, parts


def _category(status: Status | None) -> str | None:
    if status is Status.PHANTOM:
        return "phantom"
    if status is Status.UNTRACKED:
        return "untracked"
    if status in MISMATCH_STATUSES:
        return "mismatch"
    return None


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


_LOOKALIKE = 0.75
_MAX_LOOKALIKES = 50


def _fmt(value: Decimal | None) -> str:
    return "none" if value is None else f"{normal(value):f}"


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


def _same_day(a: datetime, b: datetime) -> bool:
    return a.astimezone().date() == b.astimezone().date()


def _pending(orders: Sequence[WorkingOrder]) -> dict[str, tuple[Decimal, list[str]]]:
    pending: dict[str, tuple[Decimal, list[str]]] = {}
    for order in orders:
        total, texts = pending.get(order.instrument, (ZERO, []))
        side = "BUY" if order.quantity > 0 else "SELL"
        texts.append(order.description or f"{side} {_fmt(abs(order.quantity))} pending")
        pending[order.instrument] = (total + order.quantity, texts)
    return pending


def reconcile(
    account: str,
    broker: BrokerSnapshot | ReadError,
    book: BookSnapshot | ReadError,
    memory: AccountMemory,
    settings: JudgeSettings,
    now: datetime,
) -> Outcome:
    if isinstance(broker, ReadError) or isinstance(book, ReadError):
        return _stale(account, broker, book, memory, now)
    with _collector_paused():
        return _good(account, broker, book, memory, settings, now)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while rows are built.

    Rows, parts and events hold no reference cycles, yet creating 100,000 of them triggers
    dozens of collections that walk the whole heap: half the time of a large reconciliation.
    Reference counting still frees everything as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _stale(
    account: str,
    broker: BrokerSnapshot | ReadError,
    book: BookSnapshot | ReadError,
    memory: AccountMemory,
    now: datetime,
) -> Outcome:
    """Rule 1 for a side that could not be read: the sentence names the side and what failed."""
    errors = []
    login = False
    if isinstance(broker, ReadError):
        errors.append(f"broker: {broker.message}")
        login = broker.kind is ReadErrorKind.LOGIN_EXPIRED
    if isinstance(book, ReadError):
        errors.append(f"book: {book.message}")
    return failed(account, "; ".join(errors), memory, now, login=login)


def failed(account: str, error: str, memory: AccountMemory, now: datetime, *, login: bool = False) -> Outcome:
    """Rule 1 for any failure of a sync: keep the last good picture, marked stale.

    Only failure events come out, once per distinct error (a daemon that fails the same way
    every minute reports it once). Shared by unreadable sides and by a sync that failed
    unexpectedly after reading them, so both look the same to the user and the store.
    """
    state = AccountState.LOGIN_REQUIRED if login else AccountState.STALE
    rows = {
        key: row
        if row.status is Status.STALE
        else replace(row, status=Status.STALE, previous_status=row.status)
        for key, row in memory.rows.items()
    }
    events: list[Event] = []
    if state is AccountState.LOGIN_REQUIRED:
        if memory.state is not AccountState.LOGIN_REQUIRED:
            events.append(Event(now, account, EventKind.LOGIN_REQUIRED, None, error))
    elif memory.state is AccountState.OK or memory.error != error:
        events.append(Event(now, account, EventKind.SYNC_FAILED, None, error))
    new_memory = replace(memory, rows=rows, state=state, error=error)
    return Outcome(rows, events, new_memory)


def _good(
    account: str,
    broker: BrokerSnapshot,
    book: BookSnapshot,
    memory: AccountMemory,
    settings: JudgeSettings,
    now: datetime,
) -> Outcome:
    b_map, b_parts = _index(broker.positions, "broker")
    l_map, l_parts = _index(book.positions, "book")

    # The settle clock restarts only when what the book says changed. Its modification time
    # counts on the first sync (a file written a moment ago may be mid-write) and alongside a
    # changed fingerprint, never on its own: a trading system that rewrites the same positions
    # every second, or a service stamping ``generated_at``, would otherwise never settle, and its
    # problems would never be reported.
    first = memory.book_fingerprint is None
    book_changed = first or memory.book_fingerprint != book.fingerprint
    book_changed_at = memory.book_changed_at
    if book_changed and not first:
        book_changed_at = now
    if (
        book_changed
        and book.modified_at is not None
        and (book_changed_at is None or book.modified_at > book_changed_at)
    ):
        book_changed_at = min(book.modified_at, now)
    settled = book_changed_at is None or (now - book_changed_at).total_seconds() >= settings.settle_seconds

    previous = memory.rows
    keys = dict.fromkeys(b_map)
    keys.update(dict.fromkeys(l_map))
    for key, old in previous.items():
        if key not in keys and (
            (old.broker_qty or ZERO) != ZERO
            or (old.effective_status is Status.CLOSED and _same_day(old.since, now))
        ):
            keys[key] = None

    rows: dict[str, Row] = {}
    closing: set[str] = set()
    turning_phantom: set[str] = set()
    changed: list[str] = []  # rows that may carry an event; unchanged matches need no second look
    vanished: list[Row] = []
    phantoms: list[Row] = []  # always rows built this sync: problem rows are never reused
    untracked: list[Row] = []
    initialised = memory.initialised
    prev_get, b_get, l_get = previous.get, b_map.get, l_map.get
    # Most instruments are held once per side: skip the breakdown lookups when nothing was summed.
    b_parts_get = b_parts.get if b_parts else _none
    l_parts_get = l_parts.get if l_parts else _none
    for key in keys:
        prev = prev_get(key)
        bp = b_get(key)
        lp = l_get(key)
        if prev is not None and bp is not None and lp is not None and _still_the_same_match(prev, bp, lp):
            rows[key] = prev
            continue
        row: Row | None = _build_row(
            account, key, bp, lp, b_parts_get(key), l_parts_get(key), prev, now, settings
        )
        if row is None:
            if prev is not None:
                vanished.append(prev)
            continue
        rows[key] = row
        if row is prev:
            continue
        status = row.status
        if prev is None and not initialised and not status.is_problem:
            continue  # a first sync's calm row: no event can come of it
        changed.append(key)
        if status is Status.PHANTOM:
            phantoms.append(row)
        elif status is Status.UNTRACKED:
            untracked.append(row)
        if prev is not None:
            if prev.broker_qty and not row.broker_qty and not legs_are_open(row.broker_parts):
                closing.add(key)
            if row.status is Status.PHANTOM and prev.effective_status is not Status.PHANTOM:
                turning_phantom.add(key)

    if memory.initialised and memory.held is None:
        held = _mass_changes(account, previous, l_map, closing | turning_phantom, settings)
        if held:
            return _hold(account, memory, held, book, book_changed_at, now)

    pending = _pending(broker.orders) if broker.orders else {}
    _apply_hints(rows, pending, l_map, phantoms, untracked)
    confirmed_mass = memory.held or frozenset()
    events: list[Event] = []
    closed: list[ClosedPosition] = []
    for key in changed:
        current = rows[key]
        prev = prev_get(key)
        if current.status.is_problem or (prev is not None and prev.confirmed):
            bp = b_get(key)
            instant = (
                current.status is Status.PHANTOM
                and bp is not None
                and bp.quantity == ZERO
                and not legs_are_open(current.broker_parts)
            )
            events.extend(
                _confirm(account, current, prev, settings, settled, now, key in confirmed_mass, instant)
            )
        if memory.initialised and (prev.broker_qty if prev is not None else None) != current.broker_qty:
            events.extend(_position_events(account, current, prev, now))
        if key in closing and prev is not None:
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
    for prev in vanished:
        category = _category(prev.effective_status)
        if category and prev.confirmed:
            events.append(
                Event(now, account, _RESOLVED[category], prev.instrument, "no longer held by either side")
            )

    new_memory = AccountMemory(
        account=account,
        rows=rows,
        state=AccountState.OK,
        error=None,
        last_success_at=now,
        book_fingerprint=book.fingerprint,
        book_changed_at=book_changed_at,
        held=None,
        initialised=True,
    )
    return Outcome(rows, events, new_memory, closed)


def _is_mass(changed: int, before: int, settings: JudgeSettings) -> bool:
    """Rule 3's threshold, the same for either side: at least the minimum and above the fraction."""
    return changed >= settings.mass_change_min and Decimal(changed) > settings.mass_change_fraction * Decimal(
        before
    )


def _mass_changes(
    account: str,
    previous: dict[str, Row],
    book_now: dict[str, Position],
    broker_affected: set[str],
    settings: JudgeSettings,
) -> list[tuple[str, set[str]]]:
    """What a sync would change at once on either side, as (sentence, instruments), if too much.

    Broker side: positions that would close or turn phantom, out of the account's open ones.
    Book side: positions the book held at the last good sync and no longer holds, out of those
    it held; a book truncated to its header by a non-atomic rewrite would otherwise turn every
    broker position untracked at once. Both are held by the one rule, and confirmed alike.
    """
    found: list[tuple[str, set[str]]] = []
    if len(broker_affected) >= settings.mass_change_min:
        open_before = sum(1 for r in previous.values() if r.effective_status is not Status.CLOSED)
        if _is_mass(len(broker_affected), open_before, settings):
            found.append(
                (
                    f"{len(broker_affected)} of {open_before} positions at {account} would close or turn "
                    "phantom at once",
                    broker_affected,
                )
            )
    # Set arithmetic first: in the steady state the book holds every key it held, and this is
    # all the work done.
    dropped = {key for key in previous.keys() - book_now.keys() if previous[key].local_qty}
    dropped.update(
        key for key, p in book_now.items() if not p.quantity and (old := previous.get(key)) and old.local_qty
    )
    if len(dropped) >= settings.mass_change_min:
        book_before = sum(1 for r in previous.values() if r.local_qty)
        if _is_mass(len(dropped), book_before, settings):
            found.append(
                (
                    f"the book of {account} no longer holds {len(dropped)} of the {book_before} positions "
                    "it held",
                    dropped,
                )
            )
    return found


def _hold(
    account: str,
    memory: AccountMemory,
    changes: list[tuple[str, set[str]]],
    book: BookSnapshot,
    book_changed_at: datetime | None,
    now: datetime,
) -> Outcome:
    """Rule 3: keep the previous picture and say why, until the next good sync confirms."""
    affected = set().union(*(instruments for _, instruments in changes))
    detail = "; ".join(sentence for sentence, _ in changes)
    detail += "; the change is held until the next sync confirms it"
    event = Event(now, account, EventKind.MASS_CHANGE_HELD, None, detail, {"instruments": sorted(affected)})
    kept = {
        key: replace(row, status=row.effective_status, previous_status=None)
        if row.status is Status.STALE
        else row
        for key, row in memory.rows.items()
    }
    fresh = replace(
        memory,
        rows=kept,
        state=AccountState.OK,
        error=None,
        last_success_at=now,
        held=frozenset(affected),
        book_fingerprint=book.fingerprint,
        book_changed_at=book_changed_at,
    )
    return Outcome(kept, [event], fresh, held=True)


# ``Part(...)`` goes through the named tuple's Python-level ``__new__``; one per broker line of a
# large account adds up, and this builds the same tuple in C.
_new_part: Callable[[tuple[str, Decimal, Decimal | None]], Part] = partial(tuple.__new__, Part)


# ``Row`` is keyword-only, and Python 3.11 passes keywords to a class through a dict: building a
# row by ``Row(account=..., ...)`` costs 2.5 times the positional call it replaced, 100 ms more on a
# 100,000-row first sync. ``_build_row`` instead fills the named slots of an empty row, which is
# cheaper than either; a slot it forgot would raise on the first comparison or save of the row.
_empty_row: Callable[[type[Row]], Row] = object.__new__


def _none(_key: str) -> None:
    return None


def _still_the_same_match(prev: Row, bp: Position, lp: Position) -> bool:
    """True when ``_build_row`` would rebuild ``prev`` unchanged: a calm match, single line per side.

    The steady state of a large account is almost all such rows; comparing the inputs here
    skips building a new row and comparing it field by field, which dominated a resync.
    """
    if prev.status is not Status.MATCH or prev.confirmed or prev.streak or prev.previous_status is not None:
        return False
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
        return False
    last_price = bp.last_price if bp.last_price is not None else prev.last_price
    if last_price != prev.last_price or bp.realised_pnl != prev.realised_pnl or prev.realised_estimated:
        return False
    if bp.multiplier != prev.multiplier or bp.price_missing_reason != prev.hint or prev.explained:
        return False
    if ((bp.currency or lp.currency) or prev.currency) != prev.currency or prev.local_parts:
        return False
    unrealised = bp.unrealised_pnl
    if unrealised is None and b_avg is not None and last_price is not None:
        unrealised = (last_price - b_avg) * b_qty * bp.multiplier
    if unrealised != prev.unrealised_pnl:
        return False
    parts = prev.broker_parts
    if bp.label:
        return len(parts) == 1 and parts[0] == (bp.label, b_qty, b_avg)
    return not parts


def _build_row(
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

    The previous row object is returned as is when nothing about it changed, so the store can
    skip it by identity.
    """
    b_qty = bp.quantity if bp is not None else ZERO
    l_qty = lp.quantity if lp is not None else ZERO
    b_avg = bp.average_price if bp is not None else None
    l_avg = lp.average_price if lp is not None else None
    status: Status | None
    if b_qty == l_qty and b_qty != ZERO and (b_avg is None or l_avg is None or b_avg == l_avg):
        status = Status.MATCH  # the common case, decided without the tolerance arithmetic
    else:
        status = judge(b_qty, l_qty, b_avg, l_avg, settings)
    prev_b = (prev.broker_qty or ZERO) if prev is not None else ZERO
    # Legs that net to zero (NRML +35, MIS -35) are still open: judged on the net (0 against a
    # book holding none is a match), but never closed, so no close is announced or archived.
    legs_open = b_qty == ZERO and legs_are_open(b_parts)
    is_closing = prev_b != ZERO and b_qty == ZERO and not legs_open
    if status is None and legs_open:
        status = Status.MATCH
    if status is None:
        closed_earlier_today = (
            prev is not None and prev.effective_status is Status.CLOSED and _same_day(prev.since, now)
        )
        if not (is_closing or bp is not None or closed_earlier_today):
            return None
        status = Status.CLOSED

    multiplier = bp.multiplier if bp is not None else (prev.multiplier if prev is not None else Decimal(1))
    last_price = bp.last_price if bp is not None else None
    if last_price is None and prev is not None:
        last_price = prev.last_price
    realised = bp.realised_pnl if bp is not None else None
    estimated = False
    if realised is None and prev is not None:
        if is_closing:
            # The broker gave no realised P&L for the close: estimate it from the last price.
            if prev.last_price is not None and prev.broker_avg is not None:
                realised = normal((prev.last_price - prev.broker_avg) * prev_b * prev.multiplier)
                estimated = True
        elif status is Status.CLOSED:
            realised, estimated = prev.realised_pnl, prev.realised_estimated
    unrealised = None
    if b_qty != ZERO or legs_open:
        unrealised = bp.unrealised_pnl if bp is not None else None
        if unrealised is None and b_avg is not None and last_price is not None:
            unrealised = (last_price - b_avg) * b_qty * multiplier
    hint = bp.price_missing_reason if bp is not None and b_qty != ZERO else None
    if b_parts is None and bp is not None and bp.label:
        b_parts = (_new_part((bp.label, b_qty, b_avg)),)
    currency = (bp.currency if bp is not None else None) or (lp.currency if lp is not None else None)
    if currency is None and prev is not None:
        currency = prev.currency
    since = now
    if prev is not None and (prev.status is status or prev.effective_status is status):
        since = prev.since
    row = _empty_row(Row)
    row.account = account
    row.instrument = key
    row.status = status
    row.since = since
    row.broker_qty = b_qty if bp is not None else None
    row.local_qty = l_qty if lp is not None else None
    row.broker_avg = b_avg
    row.local_avg = l_avg
    row.last_price = last_price
    row.unrealised_pnl = unrealised
    row.realised_pnl = realised
    row.realised_estimated = estimated
    row.multiplier = multiplier
    row.currency = currency
    row.hint = hint
    row.explained = False
    row.streak = prev.streak if prev is not None else 0
    row.confirmed = prev.confirmed if prev is not None else False
    row.previous_status = None
    row.broker_parts = b_parts or ()
    row.local_parts = l_parts or ()
    if prev is not None and not status.is_problem and not prev.confirmed and row == prev:
        return prev
    return row


def _apply_hints(
    rows: dict[str, Row],
    pending: dict[str, tuple[Decimal, list[str]]],
    book: dict[str, Position],
    phantom_rows: list[Row],
    untracked_rows: list[Row],
) -> None:
    """Explain gaps by working orders, and suggest aliases for phantom/untracked look-alikes."""
    for key, (total, texts) in pending.items():
        row = rows.get(key)
        if row is None or not row.status.is_problem:
            continue
        if (row.broker_qty or ZERO) + total == (row.local_qty or ZERO):
            row.explained = True
            row.hint = f"{', '.join(texts)} would close the gap"
    phantoms = [r for r in phantom_rows if not r.explained]
    if not phantoms:
        return
    untracked = [r for r in untracked_rows if not r.explained]
    by_qty: dict[Decimal, list[Row]] = {}
    by_compact: dict[str, list[Row]] = {}
    for row in untracked:
        by_qty.setdefault(row.broker_qty or ZERO, []).append(row)
        by_compact.setdefault(compact(row.instrument), []).append(row)
    for phantom in phantoms:
        quantity = phantom.local_qty or ZERO
        # only spellings that can be one instrument (app.lookalike): never two contracts
        same = [
            r
            for r in by_compact.get(compact(phantom.instrument), [])
            if r.broker_qty == quantity and can_be_same(r.instrument, phantom.instrument)
        ]
        match = same[0] if len(same) == 1 else None
        candidates = by_qty.get(quantity, [])
        if match is None and len(candidates) <= _MAX_LOOKALIKES:
            scored = [
                (similarity(c.instrument, phantom.instrument), c)
                for c in candidates
                if can_be_same(c.instrument, phantom.instrument)
            ]
            scored = [pair for pair in scored if pair[0] >= _LOOKALIKE]
            if scored:
                match = max(scored, key=lambda pair: pair[0])[1]
        if match is None:
            continue
        position = book.get(phantom.instrument)
        spelling = (position.symbol if position is not None else None) or symbol_part(phantom.instrument)
        phantom.hint = (
            f"did you mean {match.instrument}? same quantity at the broker; add the alias "
            f'"{spelling}" = "{match.instrument}" to the account'
        )
        match.hint = (
            f"did you mean {phantom.instrument}? the book holds the same quantity under that spelling"
        )


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
    if prev is not None and prev.confirmed and prev_category and prev_category != category:
        events.append(Event(now, account, _RESOLVED[prev_category], row.instrument, _describe(row)))
    if category is None:
        row.streak, row.confirmed = 0, False
        return events
    if category == prev_category and prev is not None:
        streak, confirmed = prev.streak + 1, prev.confirmed
    else:
        streak, confirmed = 1, False
    if bonus:
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
    text = f"{row.status.value}: broker {_fmt(row.broker_qty)}, book {_fmt(row.local_qty)}"
    if row.status is Status.PRICE_MISMATCH:
        text += f", average {_fmt(row.broker_avg)} at the broker against {_fmt(row.local_avg)} in the book"
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
        return [Event(now, account, EventKind.OPENED, row.instrument, f"opened at the broker: {_fmt(after)}")]
    if after == ZERO and not legs_are_open(row.broker_parts):
        detail = f"closed at the broker: was {_fmt(before)}"
        if row.realised_pnl is not None:
            estimate = " (estimated)" if row.realised_estimated else ""
            detail += f", realised P&L {_fmt(row.realised_pnl)}{estimate}"
        data = {"realised_pnl": None if row.realised_pnl is None else str(row.realised_pnl)}
        return [Event(now, account, EventKind.CLOSED, row.instrument, detail, data)]
    detail = f"quantity at the broker changed from {_fmt(before)} to {_fmt(after)}"
    if after == ZERO:
        legs = ", ".join(f"{part.label} {_fmt(part.quantity)}" for part in row.broker_parts if part.quantity)
        detail += f" (legs still open: {legs})"
    return [Event(now, account, EventKind.QTY_CHANGED, row.instrument, detail)]
