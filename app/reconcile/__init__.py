"""Pure reconciliation: (broker, book, what we knew) -> (rows, events, what we know now).

No I/O and no clock of its own, so every safety rule can be tested exhaustively: a failed read
turns the account stale and produces no phantom/untracked/closed event (rule 1, ``stale``), zero
is closed (rule 2, ``rows``), a mass disappearance is held for one more sync (rule 3, ``mass``),
and problems are reported once, after they held for ``confirm_syncs`` good syncs and the book
settled (rule 4's input, ``events``). ``good_sync`` puts the phases of a good sync in order.
"""

from __future__ import annotations

from datetime import datetime

from position_sync.app.collector import collector_paused
from position_sync.app.domain import BookSnapshot, BrokerSnapshot
from position_sync.app.errors import ReadError
from position_sync.app.reconcile.good_sync import good_sync
from position_sync.app.reconcile.memory import AccountMemory, ClosedPosition, JudgeSettings, Outcome
from position_sync.app.reconcile.rows import judge, legs_are_open
from position_sync.app.reconcile.stale import failed, unreadable

__all__ = [
    "AccountMemory",
    "ClosedPosition",
    "JudgeSettings",
    "Outcome",
    "failed",
    "judge",
    "legs_are_open",
    "reconcile",
]


def reconcile(
    account: str,
    broker: BrokerSnapshot | ReadError,
    book: BookSnapshot | ReadError,
    memory: AccountMemory,
    settings: JudgeSettings,
    now: datetime,
) -> Outcome:
    if isinstance(broker, ReadError) or isinstance(book, ReadError):
        return unreadable(account, broker, book, memory, now)
    with collector_paused():
        return good_sync(account, broker, book, memory, settings, now)
