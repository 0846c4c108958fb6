"""What a viewer reads of a shared store: revisions, one account's picture, who feeds it, what it may do.

Blocking, like the rest of the store: the viewer runs these on its one store thread. Nothing
here writes: a viewer's one write, a resync asked of the daemon, is ``app.team.requests.request_sync``.

One account's picture is read so that its parts agree: its state row (with the revision) first,
then its rows and its new events, then the revision again; a save committed in between makes
the read start over, so a viewer never shows rows of one sync beside the state of another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select, text

from position_sync.app.reconcile import AccountMemory
from position_sync.app.store.codec import from_iso, rows_from_records
from position_sync.app.store.models import (
    account_leases,
    account_state,
    acknowledgements,
    current_rows,
    events,
    sync_runs,
)
from position_sync.app.store.repository import StoredEvent, memory_of, stored_event
from position_sync.app.store.revisions import revision_in

# A save committing between the parts of a read makes it start over, at most this often.
CONSISTENT_TRIES = 5


@dataclass(frozen=True)
class Marks:
    """What the slow poll compares: each account's revision and the newest acknowledgement."""

    revisions: dict[str, int]
    newest_ack: int


@dataclass(frozen=True)
class AccountPicture:
    """One account as the store holds it now, with the events after the last one seen."""

    revision: int
    memory: AccountMemory
    broker: str | None
    last_attempt_at: datetime | None
    events: list[StoredEvent]
    run_id: int | None
    held: bool


@dataclass(frozen=True)
class Feeder:
    """The daemon holding an account's lease: ``live`` while the lease has not expired."""

    holder: str
    since: datetime | None
    live: bool


@dataclass(frozen=True)
class Privileges:
    """What the connection's database role may write, and the sentence when it may not."""

    acknowledge: bool
    resync: bool
    role: str | None = None

    def refusal(self, action: str) -> str:
        role = f"your database role {self.role}" if self.role else "your database role"
        return f"{role} can only read: {action} needs a role that may write to the shared store"


def marks(engine: Engine) -> Marks:
    with engine.connect() as connection:
        revisions = {
            r.account: int(r.revision or 0)
            for r in connection.execute(select(account_state.c.account, account_state.c.revision))
        }
        newest = connection.execute(select(func.max(acknowledgements.c.id))).scalar()
    return Marks(revisions, int(newest or 0))


def newest_events(engine: Engine) -> dict[str, int]:
    """Each account's newest event id: where a viewer starts telling events as new."""
    with engine.connect() as connection:
        query = select(events.c.account, func.max(events.c.id)).group_by(events.c.account)
        return {account: int(newest) for account, newest in connection.execute(query)}


def read_account(engine: Engine, account: str, after_event: int) -> AccountPicture | None:
    """``account``'s picture, its parts from one revision; None when the store has no such account."""
    for _ in range(CONSISTENT_TRIES):
        with engine.connect() as connection:
            state = connection.execute(
                select(account_state).where(account_state.c.account == account)
            ).first()
            if state is None:
                return None
            result = connection.execute(select(current_rows).where(current_rows.c.account == account))
            rows = rows_from_records(list(result.keys()), result)
            new_events = [
                stored_event(r)
                for r in connection.execute(
                    select(events)
                    .where(events.c.account == account, events.c.id > after_event)
                    .order_by(events.c.id)
                )
            ]
            run_id = connection.execute(
                select(func.max(sync_runs.c.id)).where(sync_runs.c.account == account)
            ).scalar()
            again = revision_in(connection, account)
        if again == int(state.revision or 0):
            memory = memory_of(state, {row.instrument: row for row in rows})
            return AccountPicture(
                revision=again,
                memory=memory,
                broker=state.broker,
                last_attempt_at=from_iso(state.last_attempt_at),
                events=new_events,
                run_id=None if run_id is None else int(run_id),
                held=memory.held is not None,
            )
    raise RuntimeError(f"{account} kept changing while it was read ({CONSISTENT_TRIES} tries)")


def revision_of(engine: Engine, account: str) -> int:
    with engine.connect() as connection:
        return revision_in(connection, account)


def feeders(engine: Engine) -> dict[str, Feeder]:
    """Which daemon holds each account's lease (team mode); empty when none does."""
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            now = connection.execute(text("SELECT extract(epoch FROM clock_timestamp())")).scalar()
        else:
            now = connection.execute(text("SELECT CAST(strftime('%s', 'now') AS REAL)")).scalar()
        leases = connection.execute(
            select(
                account_leases.c.account,
                account_leases.c.holder,
                account_leases.c.since,
                account_leases.c.expires_at,
            )
        ).all()
    clock = float(now or 0.0)
    return {r.account: Feeder(r.holder, from_iso(r.since), float(r.expires_at) > clock) for r in leases}


def privileges(engine: Engine) -> Privileges:
    """What the database lets this connection write: the window disables what it may not.

    The database enforces it either way; asking first only lets the window say so before the
    user tries. A read-only session (``default_transaction_read_only``) writes nothing whatever
    its grants. SQLite has no roles: whoever opens the file writes it.
    """
    with engine.connect() as connection:
        if connection.dialect.name != "postgresql":
            return Privileges(acknowledge=True, resync=True)
        row = connection.execute(
            text(
                "SELECT current_user AS role,"
                " has_table_privilege(current_user, 'acknowledgements', 'INSERT') AS ack,"
                " has_table_privilege(current_user, 'sync_requests', 'INSERT') AS request,"
                " current_setting('transaction_read_only') AS read_only"
            )
        ).one()
    writable = row.read_only != "on"
    return Privileges(
        acknowledge=bool(row.ack) and writable, resync=bool(row.request) and writable, role=row.role
    )
