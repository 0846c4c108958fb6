"""Rule 3: a sync that would change too much at once is held for one more sync to confirm.

A broker answering with an empty account for a moment, or a book caught half-rewritten, would
otherwise close or turn phantom most of an account in one sync and report all of it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from position_sync.app.domain import AccountState, BookSnapshot, Event, EventKind, Position, Row, Status
from position_sync.app.reconcile.memory import AccountMemory, JudgeSettings, Outcome
from position_sync.app.reconcile.stale import recovered


def _is_mass(changed: int, before: int, settings: JudgeSettings) -> bool:
    """Rule 3's threshold, the same for either side: at least the minimum and above the fraction."""
    return changed >= settings.mass_change_min and Decimal(changed) > settings.mass_change_fraction * Decimal(
        before
    )


def mass_changes(
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


def hold(
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
    return Outcome(kept, [*recovered(account, memory, now), event], fresh, held=True)
