"""Rule 1: a sync that failed keeps the last good picture, marked stale, and says why once;
the first good sync after it says that it recovered.

No phantom, untracked or closed event can come of a side that could not be read: an empty
answer from a broker that is down is not an empty account.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from position_sync.app.domain import AccountState, BookSnapshot, BrokerSnapshot, Event, EventKind, Status
from position_sync.app.errors import ReadError, ReadErrorKind
from position_sync.app.reconcile.memory import AccountMemory, Outcome


def unreadable(
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


def recovered(account: str, memory: AccountMemory, now: datetime) -> list[Event]:
    """The end of rule 1's outage: an account that was stale (or waiting for a login) and was
    read again says so once, with the failure it had, so a failure told is never left open."""
    if memory.state is AccountState.OK:
        return []
    since = memory.last_success_at
    last = f"; the last good sync before it was at {since.isoformat(timespec='seconds')}" if since else ""
    return [Event(now, account, EventKind.SYNC_RECOVERED, None, f"read again after: {memory.error}{last}")]
