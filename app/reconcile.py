"""Pure reconciliation: (broker, book, what we knew) -> (rows, events, what we know now).

No I/O and no clock of its own, so every safety rule can be tested exhaustively: a failed read
turns the account stale and produces no phantom/untracked/closed event (rule 1), zero is closed
(rule 2), a mass disappearance is held for one more sync (rule 3), and problems are reported
once, after they held for ``confirm_syncs`` good syncs and the book settled (rule 4's input).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from app.domain import (
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
from app.errors import ReadError, ReadErrorKind
from app.symbols import compact, similarity, symbol_part


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


@dataclass
class _Side:
    """One side's lines of one instrument, summed."""

    quantity: Decimal = ZERO
    parts: list[Part] = field(default_factory=list)
    cost: Decimal = ZERO
    costed_qty: Decimal = ZERO
    last_price: Decimal | None = None
    unrealised: Decimal | None = None
    realised: Decimal | None = None
    multiplier: Decimal = Decimal(1)
    currency: str | None = None
    symbols: set[str] = field(default_factory=set)
    price_missing: str | None = None

    def add(self, position: Position, default_label: str) -> None:
        self.quantity += position.quantity
        self.parts.append(Part(position.label or default_label, position.quantity, position.average_price))
        if position.average_price is not None and position.quantity != ZERO:
            self.cost += position.average_price * abs(position.quantity)
            self.costed_qty += abs(position.quantity)
        if position.last_price is not None:
            self.last_price = position.last_price
        if position.unrealised_pnl is not None:
            self.unrealised = (self.unrealised or ZERO) + position.unrealised_pnl
        if position.realised_pnl is not None:
            self.realised = (self.realised or ZERO) + position.realised_pnl
        if position.multiplier != 1:
            self.multiplier = position.multiplier
        self.currency = self.currency or position.currency
        self.symbols.add(position.symbol or position.instrument)
        self.price_missing = self.price_missing or position.price_missing_reason

    @property
    def average(self) -> Decimal | None:
        if self.costed_qty == ZERO:
            return None
        return normal(self.cost / self.costed_qty)


def _sum_sides(positions: Iterable[Position], default_label: str) -> dict[str, _Side]:
    sides: dict[str, _Side] = {}
    for position in positions:
        side = sides.get(position.instrument)
        if side is None:
            side = sides[position.instrument] = _Side()
        side.add(position, default_label)
    return sides


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
    return _good(account, broker, book, memory, settings, now)


def _stale(
    account: str,
    broker: BrokerSnapshot | ReadError,
    book: BookSnapshot | ReadError,
    memory: AccountMemory,
    now: datetime,
) -> Outcome:
    """Rule 1: keep the last good picture, marked stale; only failure events come out."""
    errors = []
    login = False
    if isinstance(broker, ReadError):
        errors.append(f"broker: {broker.message}")
        login = broker.kind is ReadErrorKind.LOGIN_EXPIRED
    if isinstance(book, ReadError):
        errors.append(f"book: {book.message}")
    error = "; ".join(errors)
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
    broker_sides = _sum_sides(broker.positions, "broker")
    book_sides = _sum_sides(book.positions, "book")
    pending = _pending(broker.orders)

    book_changed_at = memory.book_changed_at
    if memory.book_fingerprint is not None and memory.book_fingerprint != book.fingerprint:
        book_changed_at = now
    if book.modified_at is not None and (book_changed_at is None or book.modified_at > book_changed_at):
        book_changed_at = min(book.modified_at, now)
    settled = book_changed_at is None or (now - book_changed_at).total_seconds() >= settings.settle_seconds

    keys = set(broker_sides) | set(book_sides)
    for key, row in memory.rows.items():
        if (row.broker_qty or ZERO) != ZERO or (
            row.effective_status is Status.CLOSED and _same_day(row.since, now)
        ):
            keys.add(key)

    rows: dict[str, Row] = {}
    events: list[Event] = []
    closed: list[ClosedPosition] = []
    closing: set[str] = set()
    turning_phantom: set[str] = set()
    resolved_rows: list[Row] = []

    for key in sorted(keys):
        prev = memory.rows.get(key)
        b_side = broker_sides.get(key)
        l_side = book_sides.get(key)
        b_qty = b_side.quantity if b_side else ZERO
        l_qty = l_side.quantity if l_side else ZERO
        prev_b = (prev.broker_qty or ZERO) if prev else ZERO
        prev_status = prev.effective_status if prev else None
        broker_says_zero = b_side is not None and b_qty == ZERO
        status = judge(
            b_qty, l_qty, b_side.average if b_side else None, l_side.average if l_side else None, settings
        )
        is_closing = prev is not None and prev_b != ZERO and b_qty == ZERO
        if status is None:
            if (
                is_closing
                or broker_says_zero
                or (prev_status is Status.CLOSED and prev is not None and _same_day(prev.since, now))
            ):
                status = Status.CLOSED
            else:
                if prev is not None:
                    resolved_rows.append(prev)
                continue
        if is_closing:
            closing.add(key)
        if status is Status.PHANTOM and prev_status is not Status.PHANTOM and prev is not None:
            turning_phantom.add(key)
        rows[key] = _build_row(account, key, status, b_side, l_side, prev, now, is_closing)

    held_now = memory.held is not None
    affected = closing | turning_phantom
    open_before = sum(1 for r in memory.rows.values() if r.effective_status is not Status.CLOSED)
    if (
        memory.initialised
        and not held_now
        and len(affected) >= settings.mass_change_min
        and Decimal(len(affected)) > settings.mass_change_fraction * Decimal(open_before)
    ):
        detail = (
            f"{len(affected)} of {open_before} positions at {account} would close or turn phantom at "
            f"once; the change is held until the next sync confirms it"
        )
        event = Event(
            now, account, EventKind.MASS_CHANGE_HELD, None, detail, {"instruments": sorted(affected)}
        )
        fresh = replace(
            memory,
            state=AccountState.OK,
            error=None,
            last_success_at=now,
            held=frozenset(affected),
            book_fingerprint=book.fingerprint,
            book_changed_at=book_changed_at,
        )
        kept = {
            k: replace(r, status=r.effective_status, previous_status=None) if r.status is Status.STALE else r
            for k, r in memory.rows.items()
        }
        fresh = replace(fresh, rows=kept)
        return Outcome(kept, [event], fresh, held=True)

    confirmed_mass = memory.held or frozenset()
    _apply_hints(rows, pending, {k: min(s.symbols) for k, s in book_sides.items() if s.symbols})
    for key, row in list(rows.items()):
        prev = memory.rows.get(key)
        row, row_events = _confirm(
            account,
            row,
            prev,
            settings,
            settled,
            now,
            bonus=key in confirmed_mass,
            instant=(
                row.status is Status.PHANTOM and key in broker_sides and broker_sides[key].quantity == ZERO
            ),
        )
        rows[key] = row
        events.extend(row_events)
        if memory.initialised:
            events.extend(_position_events(account, row, prev, now))
        if prev is not None and key in closing:
            closed.append(
                ClosedPosition(
                    account,
                    key,
                    now,
                    prev.broker_qty or ZERO,
                    prev.broker_avg,
                    row.realised_pnl,
                    row.realised_estimated,
                )
            )
    for prev in resolved_rows:
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


def _build_row(
    account: str,
    key: str,
    status: Status,
    b_side: _Side | None,
    l_side: _Side | None,
    prev: Row | None,
    now: datetime,
    is_closing: bool,
) -> Row:
    b_qty = b_side.quantity if b_side else None
    l_qty = l_side.quantity if l_side else None
    multiplier = b_side.multiplier if b_side else (prev.multiplier if prev else Decimal(1))
    last_price = (
        b_side.last_price if b_side and b_side.last_price is not None else (prev.last_price if prev else None)
    )
    broker_avg = b_side.average if b_side else None
    local_avg = l_side.average if l_side else None
    realised = b_side.realised if b_side else None
    estimated = False
    if is_closing and realised is None and prev is not None:
        # The broker gave no realised P&L for the close: estimate it from the last known price.
        if prev.last_price is not None and prev.broker_avg is not None and prev.broker_qty:
            realised = normal((prev.last_price - prev.broker_avg) * prev.broker_qty * prev.multiplier)
            estimated = True
    elif realised is None and prev is not None and status is Status.CLOSED:
        realised, estimated = prev.realised_pnl, prev.realised_estimated
    unrealised = b_side.unrealised if b_side else None
    if unrealised is None and b_qty and broker_avg is not None and last_price is not None:
        unrealised = normal((last_price - broker_avg) * b_qty * multiplier)
    if b_qty is not None and b_qty == ZERO:
        unrealised = None
    hint = None
    if b_side is not None and b_side.price_missing and b_qty:
        hint = b_side.price_missing
    since = prev.since if prev is not None and prev.effective_status is status else now
    currency = (b_side.currency if b_side else None) or (l_side.currency if l_side else None)
    return Row(
        account=account,
        instrument=key,
        status=status,
        since=since,
        broker_qty=normal(b_qty),
        local_qty=normal(l_qty),
        broker_avg=broker_avg,
        local_avg=local_avg,
        last_price=last_price,
        unrealised_pnl=unrealised,
        realised_pnl=normal(realised),
        realised_estimated=estimated,
        multiplier=multiplier,
        currency=currency or (prev.currency if prev else None),
        hint=hint,
        broker_parts=tuple(b_side.parts) if b_side else (),
        local_parts=tuple(l_side.parts) if l_side else (),
        streak=prev.streak if prev else 0,
        confirmed=prev.confirmed if prev else False,
        previous_status=None,
    )


def _apply_hints(
    rows: dict[str, Row], pending: dict[str, tuple[Decimal, list[str]]], spellings: dict[str, str]
) -> None:
    """Explain gaps by working orders, and suggest aliases for phantom/untracked look-alikes."""
    for key, row in rows.items():
        if not row.status.is_problem or key not in pending:
            continue
        total, texts = pending[key]
        if (row.broker_qty or ZERO) + total == (row.local_qty or ZERO):
            rows[key] = replace(row, explained=True, hint=f"{', '.join(texts)} would close the gap")
    phantoms = [r for r in rows.values() if r.status is Status.PHANTOM and not r.explained]
    untracked = [r for r in rows.values() if r.status is Status.UNTRACKED and not r.explained]
    if not phantoms or not untracked:
        return
    by_qty: dict[Decimal, list[Row]] = {}
    for row in untracked:
        by_qty.setdefault(row.broker_qty or ZERO, []).append(row)
    for phantom in phantoms:
        candidates = by_qty.get(phantom.local_qty or ZERO, [])
        best: tuple[float, Row] | None = None
        for candidate in candidates:
            score = (
                1.0
                if compact(candidate.instrument) == compact(phantom.instrument)
                else similarity(candidate.instrument, phantom.instrument)
            )
            if score >= 0.75 and (best is None or score > best[0]):
                best = (score, candidate)
        if best is None:
            continue
        match = best[1]
        spelling = spellings.get(phantom.instrument) or symbol_part(phantom.instrument)
        rows[phantom.instrument] = replace(
            phantom,
            hint=(
                f"did you mean {match.instrument}? same quantity at the broker; add the alias "
                f'"{spelling}" = "{match.instrument}" to the account'
            ),
        )
        rows[match.instrument] = replace(
            match,
            hint=f"did you mean {phantom.instrument}? the book holds the same quantity under that spelling",
        )


def _confirm(
    account: str,
    row: Row,
    prev: Row | None,
    settings: JudgeSettings,
    settled: bool,
    now: datetime,
    *,
    bonus: bool,
    instant: bool,
) -> tuple[Row, list[Event]]:
    """Rule 4's input: a problem is reported once it held long enough, and resolved only if reported."""
    events: list[Event] = []
    category = _category(row.status)
    prev_category = _category(prev.effective_status) if prev else None
    if prev is not None and prev.confirmed and prev_category and prev_category != category:
        events.append(Event(now, account, _RESOLVED[prev_category], row.instrument, _describe(row)))
    if category is None:
        return replace(row, streak=0, confirmed=False), events
    if category == prev_category and prev is not None:
        streak, confirmed = prev.streak + 1, prev.confirmed
    else:
        streak, confirmed = 1, False
    if bonus:
        streak = max(streak, settings.confirm_syncs)
    if not confirmed and not row.explained and (instant or (streak >= settings.confirm_syncs and settled)):
        confirmed = True
        events.append(Event(now, account, _DETECTED[category], row.instrument, _describe(row)))
    return replace(row, streak=streak, confirmed=confirmed), events


def _describe(row: Row) -> str:
    text = f"{row.status.value}: broker {_fmt(row.broker_qty)}, book {_fmt(row.local_qty)}"
    if row.status is Status.PRICE_MISMATCH:
        text += f", average {_fmt(row.broker_avg)} at the broker against {_fmt(row.local_avg)} in the book"
    if row.hint:
        text += f" ({row.hint})"
    return text


def _position_events(account: str, row: Row, prev: Row | None, now: datetime) -> list[Event]:
    """Broker-side facts: opened, closed, quantity changed."""
    before = (prev.broker_qty or ZERO) if prev else ZERO
    after = row.broker_qty or ZERO
    if before == after:
        return []
    if before == ZERO:
        return [Event(now, account, EventKind.OPENED, row.instrument, f"opened at the broker: {_fmt(after)}")]
    if after == ZERO:
        detail = f"closed at the broker: was {_fmt(before)}"
        if row.realised_pnl is not None:
            estimate = " (estimated)" if row.realised_estimated else ""
            detail += f", realised P&L {_fmt(row.realised_pnl)}{estimate}"
        data = {"realised_pnl": None if row.realised_pnl is None else str(row.realised_pnl)}
        return [Event(now, account, EventKind.CLOSED, row.instrument, detail, data)]
    return [
        Event(
            now,
            account,
            EventKind.QTY_CHANGED,
            row.instrument,
            f"quantity at the broker changed from {_fmt(before)} to {_fmt(after)}",
        )
    ]
