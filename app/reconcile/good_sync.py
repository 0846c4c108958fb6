"""A sync whose two sides were both read, as its phases in order.

Index each side, start or keep the book's settle clock, list the instruments to judge, build
their rows, hold the sync if it would change too much at once (rule 3), add hints, then
announce what changed. Each phase lives with its own rule; this module only orders them.
"""

from __future__ import annotations

from datetime import datetime

from position_sync.app.domain import ZERO, AccountState, BookSnapshot, BrokerSnapshot, Position, Row, Status
from position_sync.app.reconcile.events import announce
from position_sync.app.reconcile.hints import apply_hints
from position_sync.app.reconcile.mass import hold, mass_changes
from position_sync.app.reconcile.memory import AccountMemory, JudgedFrom, JudgeSettings, Outcome
from position_sync.app.reconcile.rows import build_rows, same_day
from position_sync.app.reconcile.sides import index_side
from position_sync.app.reconcile.stale import recovered


def good_sync(
    account: str,
    broker: BrokerSnapshot,
    book: BookSnapshot,
    memory: AccountMemory,
    settings: JudgeSettings,
    now: datetime,
) -> Outcome:
    """Judge every instrument of two sides read this sync, against what the last sync knew."""
    # The very sides the last good sync judged into the rows remembered: their indexes are as
    # they were, and so is every calm match (``build_rows``).
    same = memory.judged_from_same(broker.positions, book.positions, settings)
    broker_index = same.broker_index if same else index_side(broker.positions, "broker")
    book_index = same.book_index if same else index_side(book.positions, "book")
    b_map, b_parts = broker_index
    l_map, l_parts = book_index
    book_changed_at, settled = _settle_clock(memory, book, settings, now)
    keys = _instruments(b_map, l_map, memory.rows, now)
    built = build_rows(
        account, keys, b_map, l_map, b_parts, l_parts, memory, now, settings, same_sides=same is not None
    )
    if memory.initialised and memory.held is None:
        held = mass_changes(account, memory.rows, l_map, built.closing | built.turning_phantom, settings)
        if held:
            return hold(account, memory, held, book, book_changed_at, now)
    apply_hints(built.rows, broker.orders, l_map, built.phantoms, built.untracked)
    events, closed = announce(account, built, b_map, memory, settings, settled, now)
    events[:0] = recovered(account, memory, now)
    new_memory = AccountMemory(
        account=account,
        rows=built.rows,
        state=AccountState.OK,
        error=None,
        last_success_at=now,
        book_fingerprint=book.fingerprint,
        book_changed_at=book_changed_at,
        held=None,
        initialised=True,
        judged_from=JudgedFrom(
            broker.positions, book.positions, settings, built.rows, broker_index, book_index
        ),
    )
    return Outcome(built.rows, events, new_memory, closed)


def _settle_clock(
    memory: AccountMemory, book: BookSnapshot, settings: JudgeSettings, now: datetime
) -> tuple[datetime | None, bool]:
    """When what the book says last changed, and whether it has stayed so for ``settle_seconds``.

    The clock restarts only when what the book says changed. Its modification time counts on the
    first sync (a file written a moment ago may be mid-write) and alongside a changed
    fingerprint, never on its own: a trading system that rewrites the same positions every
    second, or a service stamping ``generated_at``, would otherwise never settle, and its
    problems would never be reported.
    """
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
    return book_changed_at, settled


def _instruments(
    broker: dict[str, Position], book: dict[str, Position], previous: dict[str, Row], now: datetime
) -> dict[str, None]:
    """What to judge: whatever either side holds, and what the last picture still needs.

    A previous row open at the broker that neither side lists any more is judged, so its close
    is seen; one closed earlier today stays in view until the day ends (rule 5).
    """
    keys = dict.fromkeys(broker)
    keys.update(dict.fromkeys(book))
    for key, old in previous.items():
        if key not in keys and (
            (old.broker_qty or ZERO) != ZERO
            or (old.effective_status is Status.CLOSED and same_day(old.since, now))
        ):
            keys[key] = None
    return keys
