"""The store's operations: load what reconciliation remembers, save one sync, read the picture.

Blocking by design: the sync worker runs every call on one dedicated thread, so the event loop
(and the window) never waits on the disk. Saving a sync is one transaction, compared against the
rows the caller last saved: the worker's memory, which it replaces only after the save committed,
so a crash mid-save leaves the previous picture whole on disk and in memory, and the store keeps
no second copy of it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import chain
from operator import attrgetter
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from position_sync.app.domain import PROBLEM_STATUSES, AccountState, Event, EventKind, Row, Status
from position_sync.app.private import private_dir, private_file, tighten_sqlite_files
from position_sync.app.reconcile import AccountMemory, ClosedPosition, Outcome
from position_sync.app.store.codec import (
    ROW_COLUMNS,
    from_iso,
    iso,
    rows_from_records,
    undec,
)
from position_sync.app.store.engine import StoreError, make_engine, migrate, sqlite_url
from position_sync.app.store.foreign import refuse_foreign
from position_sync.app.store.identity import sqlite_file
from position_sync.app.store.metrics import Metrics, last_point, metrics_of, metrics_record
from position_sync.app.store.models import (
    account_state,
    closed_positions,
    current_rows,
    events,
    row_history,
    sync_metrics,
    sync_runs,
)
from position_sync.app.store.revisions import CHANGES, notify
from position_sync.app.store.row_writes import dialect_insert, row_changes, write_rows
from position_sync.app.store.wal import WalTrimmer

DB_NAME = "position-sync.db"


class Fence(Protocol):
    """A daemon's right to save an account on a shared store (``app.team.leases``)."""

    holder: str

    def fence(self, connection: Connection, account: str) -> None:
        """First in a save's transaction: raises (a ``StoreError``) to refuse the save."""
        ...


@dataclass(frozen=True)
class AccountStatus:
    account: str
    state: AccountState
    error: str | None
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    held: bool = False  # a mass disappearance waits for the next sync to confirm it (rule 3)


@dataclass(frozen=True)
class StoredEvent:
    id: int
    event: Event


@dataclass(frozen=True)
class HistoryPoint:
    at: datetime
    status: str
    broker_qty: Any
    local_qty: Any
    broker_avg: Any
    local_avg: Any
    realised_pnl: Any
    hint: str | None


class Store:
    def __init__(self, url: str, *, upgrade: bool = False, user: str | None = None) -> None:
        """``upgrade``: migrate a shared (PostgreSQL) store that is behind (``store upgrade``);
        ``user``: the name written beside acknowledgements, notes and fixes (``[store] user``;
        None: the OS user's)."""
        self.url = url
        self.user = user
        database = _sqlite_path(url)
        try:
            # Read before anything is written or tuned: a foreign database stays as it was.
            refuse_foreign(url)
            if database is not None:
                private_file(database)  # SQLite's -wal and -shm then take this mode too
            self.engine: Engine = make_engine(url)
            migrate(self.engine, upgrade=upgrade)
            if database is not None:
                tighten_sqlite_files(database)  # side files an older version left readable
            # The write-ahead log is truncated every so many saves (SQLite files only).
            self.wal = (
                None
                if database is None
                else WalTrimmer(self.engine, database.with_name(f"{database.name}-wal"))
            )
        except StoreError:
            raise
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(f"the store at {_safe(url)} cannot be opened: {_cause(exc)}") from None
        # Each account's last recorded chart point (exposure, unrealised P&L), owned by the saving
        # thread; a missing entry is read from the table on first use.
        self._points: dict[str, tuple[Decimal, Decimal] | None] = {}

    @classmethod
    def open(cls, data_dir: Path, url: str | None = None, *, user: str | None = None) -> Store:
        return cls(cls.url_for(data_dir, url), user=user)

    @staticmethod
    def url_for(data_dir: Path, url: str | None = None) -> str:
        """The store's URL: the configured one, or the data directory's file (folder made owner-only)."""
        if url is not None:
            return url
        try:
            private_dir(data_dir)
        except OSError as exc:
            raise StoreError(f"the data directory {data_dir} cannot be created: {exc}") from None
        return sqlite_url(data_dir / DB_NAME)

    def close(self) -> None:
        self.engine.dispose()

    # -- loading ---------------------------------------------------------------------------

    def account_statuses(self) -> dict[str, AccountStatus]:
        with self.engine.connect() as connection:
            result = connection.execute(select(account_state))
            return {
                r.account: AccountStatus(
                    r.account,
                    AccountState(r.state),
                    r.error,
                    from_iso(r.last_success_at),
                    from_iso(r.last_attempt_at),
                    r.held is not None,
                )
                for r in result
            }

    def load_memories(
        self, accounts: Collection[str] | None = None
    ) -> tuple[dict[str, AccountMemory], dict[str, dict[str, str]]]:
        """What each account's next reconciliation continues from, and its learned aliases;
        ``accounts``: only these (a daemon taking accounts over reads theirs, not the store)."""
        with self.engine.connect() as connection:
            if accounts is None:
                rows = _read_rows(connection)
            else:
                rows = [row for account in accounts for row in _read_rows(connection, account)]
        by_account: dict[str, dict[str, Row]] = {}
        for row in rows:
            by_account.setdefault(row.account, {})[row.instrument] = row
        memories: dict[str, AccountMemory] = {}
        learned: dict[str, dict[str, str]] = {}
        states = select(account_state)
        if accounts is not None:
            states = states.where(account_state.c.account.in_(list(accounts)))
        with self.engine.connect() as connection:
            for r in connection.execute(states):
                memories[r.account] = memory_of(r, by_account.pop(r.account, {}))
                learned[r.account] = json.loads(r.learned_aliases) if r.learned_aliases else {}
        for account, account_rows in by_account.items():
            memories[account] = AccountMemory(account, account_rows, initialised=True)
        return memories, learned

    # -- saving ----------------------------------------------------------------------------

    def save(
        self,
        account: str,
        outcome: Outcome,
        started_at: datetime,
        finished_at: datetime,
        learned: dict[str, str] | None = None,
        *,
        previous: Mapping[str, Row] | None = None,
        broker: str | None = None,
        fence: Fence | None = None,
    ) -> int:
        """Write one sync in one transaction: only rows that changed, history only when material.

        ``previous`` is the account's rows as its last committed save left them, what the sync
        worker's memory holds: the save compares against them. Without them (a one-off save, a
        test) they are read from the table, in the same transaction.

        ``fence`` (a daemon on a shared store) checks first, in the same transaction, that this
        process still holds the account's lease, and keeps it held until the commit: a daemon
        whose lease expired writes nothing (``LeaseLost``), and the daemon taking the account
        over reads its memory only after this save committed.
        """
        stamp = iso(finished_at)
        assert stamp is not None
        try:
            with self.engine.begin() as connection:
                if fence is not None:
                    fence.fence(connection, account)
                saved = previous if previous is not None else _stored_rows(connection, account)
                changes = row_changes(saved, outcome.rows)
                # The chart figures of a good sync; unchanged rows cannot change them, so a sync
                # where nothing changed skips the pass over its rows.
                charting = outcome.memory.state is AccountState.OK and bool(
                    changes or account not in self._points
                )
                metrics = metrics_of(outcome.rows.values()) if charting else None
                run_id = _insert_run(
                    connection, account, outcome, started_at, stamp, fence.holder if fence else None
                )
                write_rows(connection, account, changes, saved, run_id, stamp)
                _write_events(connection, outcome, run_id)
                point = self._write_chart_point(connection, account, run_id, finished_at, metrics)
                revision = self._save_account(connection, account, outcome.memory, stamp, learned, broker)
                notify(connection, CHANGES, account, "revision", revision)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"saving the sync of {account} to {_safe(self.url)} failed: {_cause(exc)}"
            ) from None
        # Only now that the transaction committed: a failed save leaves the last point as it was.
        if metrics is not None:
            self._points[account] = point
        if self.wal is not None:
            self.wal.saved()
        return run_id

    def _write_chart_point(
        self,
        connection: Connection,
        account: str,
        run_id: int,
        finished_at: datetime,
        metrics: Metrics | None,
    ) -> tuple[Decimal, Decimal] | None:
        """Record the sync's chart point when it moved; the account's last point afterwards.

        The chart draws lines between points, so a point equal to the last one adds nothing.
        """
        point = self._points.get(account)
        if metrics is None:
            return point
        if account not in self._points:
            point = last_point(connection, account)
        if metrics.point != point:
            connection.execute(
                sync_metrics.insert().values(**metrics_record(account, run_id, finished_at, metrics))
            )
            point = metrics.point
        return point

    def _save_account(
        self,
        connection: Any,
        account: str,
        memory: AccountMemory,
        stamp: str,
        learned: dict[str, str] | None,
        broker: str | None,
    ) -> int:
        """Upsert the account's state with its revision raised by one; the new revision."""
        insert = dialect_insert(connection.dialect.name)
        values = {
            "account": account,
            "state": memory.state.value,
            "error": memory.error,
            "last_success_at": iso(memory.last_success_at),
            "last_attempt_at": stamp,
            "book_fingerprint": memory.book_fingerprint,
            "book_changed_at": iso(memory.book_changed_at),
            "held": json.dumps(sorted(memory.held)) if memory.held is not None else None,
            "initialised": memory.initialised,
        }
        if learned is not None:
            values["learned_aliases"] = json.dumps(learned, sort_keys=True)
        if broker is not None:
            values["broker"] = broker
        statement = insert(account_state).values(**values, revision=1)
        updates: dict[str, Any] = {k: statement.excluded[k] for k in values if k != "account"}
        updates["revision"] = account_state.c.revision + 1
        revision = connection.execute(
            statement.on_conflict_do_update(index_elements=[account_state.c.account], set_=updates).returning(
                account_state.c.revision
            )
        ).scalar_one()
        return int(revision)

    # -- reading ---------------------------------------------------------------------------

    def rows(self) -> list[Row]:
        """The current rows as stored: safe from any thread."""
        with self.engine.connect() as connection:
            return _read_rows(connection)

    def events(
        self,
        since: datetime | None = None,
        account: str | None = None,
        kinds: Iterable[str] | None = None,
        limit: int | None = None,
        run_ids: Iterable[int] | None = None,
    ) -> list[StoredEvent]:
        """Stored events, oldest first (newest first when ``limit`` takes the latest few)."""
        query = select(events)
        if since is not None:
            query = query.where(events.c.at >= iso(since))
        if account is not None:
            query = query.where(events.c.account == account)
        if kinds is not None:
            query = query.where(events.c.kind.in_(list(kinds)))
        if run_ids is not None:
            query = query.where(events.c.sync_run_id.in_(list(run_ids)))
        if limit is not None:
            query = query.order_by(events.c.id.desc()).limit(limit)
        else:
            query = query.order_by(events.c.id)
        with self.engine.connect() as connection:
            return [stored_event(r) for r in connection.execute(query)]

    def latest_runs(self) -> dict[str, int]:
        """The newest sync run id of each account."""
        with self.engine.connect() as connection:
            result = connection.execute(select(sync_runs.c.account, sync_runs.c.id).order_by(sync_runs.c.id))
            return {r.account: r.id for r in result}

    def history(self, account: str, instrument: str) -> list[HistoryPoint]:
        query = (
            select(row_history)
            .where(row_history.c.account == account, row_history.c.instrument == instrument)
            .order_by(row_history.c.id)
        )
        with self.engine.connect() as connection:
            return [
                HistoryPoint(
                    at=from_iso(r.at) or datetime.min,
                    status=r.status,
                    broker_qty=undec(r.broker_qty),
                    local_qty=undec(r.local_qty),
                    broker_avg=undec(r.broker_avg),
                    local_avg=undec(r.local_avg),
                    realised_pnl=undec(r.realised_pnl),
                    hint=r.hint,
                )
                for r in connection.execute(query)
            ]

    def closed(self, account: str | None = None) -> list[ClosedPosition]:
        query = select(closed_positions).order_by(closed_positions.c.id)
        if account is not None:
            query = query.where(closed_positions.c.account == account)
        with self.engine.connect() as connection:
            return [
                ClosedPosition(
                    r.account,
                    r.instrument,
                    from_iso(r.closed_at) or datetime.min,
                    Decimal(r.quantity),
                    undec(r.average_price),
                    undec(r.realised_pnl),
                    bool(r.estimated),
                )
                for r in connection.execute(query)
            ]

    def count_history(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(row_history)).scalar_one())


def memory_of(state: Any, rows: dict[str, Row]) -> AccountMemory:
    """An account's memory from its ``account_state`` record and its stored rows."""
    held = json.loads(state.held) if state.held else None
    return AccountMemory(
        account=state.account,
        rows=rows,
        state=AccountState(state.state),
        error=state.error,
        last_success_at=from_iso(state.last_success_at),
        book_fingerprint=state.book_fingerprint,
        book_changed_at=from_iso(state.book_changed_at),
        held=frozenset(held) if held is not None else None,
        initialised=bool(state.initialised),
    )


def _stored_rows(connection: Connection, account: str) -> dict[str, Row]:
    """The account's rows as the table holds them, for a caller that did not hand its own."""
    return {row.instrument: row for row in _read_rows(connection, account)}


def _read_rows(connection: Connection, account: str | None = None) -> list[Row]:
    """Current rows, through the driver's own ``fetchall`` and straight into ``Row`` objects.

    Iterating a result row by row through SQLAlchemy cost as much as decoding the rows, so the
    records come a slice at a time from the driver's ``fetchmany``; the statement is still built
    and compiled by SQLAlchemy for the store's dialect, and errors still come wrapped as
    SQLAlchemy's.
    """
    query = select(*(current_rows.c[name] for name in ROW_COLUMNS))
    if account is not None:
        query = query.where(current_rows.c.account == account)
    compiled = query.compile(dialect=connection.dialect)
    values = compiled.construct_params()
    parameters: Any = (
        tuple(values[name] for name in compiled.positiontup or ()) if compiled.positional else values
    )
    result = connection.exec_driver_sql(compiled.string, parameters)
    # In slices rather than all at once: the raw records of 100,000 rows take as much memory as
    # the rows themselves, and need not all be alive together.
    return rows_from_records(ROW_COLUMNS, chain.from_iterable(result.partitions(10_000)))


def _insert_run(
    connection: Connection,
    account: str,
    outcome: Outcome,
    started_at: datetime,
    stamp: str,
    synced_by: str | None,
) -> int:
    """The sync's own record, whose id every event and history record of it points to."""
    memory = outcome.memory
    inserted = connection.execute(
        sync_runs.insert().values(
            account=account,
            started_at=iso(started_at),
            finished_at=stamp,
            outcome="held" if outcome.held else memory.state.value,
            error=memory.error,
            rows=len(outcome.rows),
            problems=_count_problems(outcome.rows.values()),
            events=len(outcome.events),
            synced_by=synced_by,
        )
    ).inserted_primary_key
    assert inserted is not None
    return int(inserted[0])


def _write_events(connection: Connection, outcome: Outcome, run_id: int) -> None:
    """The sync's events, and the positions it closed (archived with their P&L)."""
    if outcome.events:
        connection.execute(events.insert(), [event_record(e, run_id) for e in outcome.events])
    if outcome.closed:
        connection.execute(closed_positions.insert(), [_closed_record(c) for c in outcome.closed])


def _count_problems(rows: Collection[Row]) -> int:
    """Rows whose (effective) status is a problem; stale rows count by what they were."""
    counts = Counter(map(attrgetter("status"), rows))
    problems = sum(counts[status] for status in PROBLEM_STATUSES)
    if counts[Status.STALE]:
        problems += sum(
            1 for row in rows if row.status is Status.STALE and row.previous_status in PROBLEM_STATUSES
        )
    return problems


def _cause(exc: SQLAlchemyError | OSError) -> str:
    """The driver's own words ("database or disk is full"), on one line.

    ``str()`` of a SQLAlchemy error appends the SQL, its parameters (position data) and a
    documentation link on further lines; a ``StoreError`` is one sentence for the user.
    """
    cause = getattr(exc, "orig", None) or exc
    text = " ".join(str(cause).split("\n", 1)[0].split()) or cause.__class__.__name__
    return f"{cause.__class__.__name__}: {text}"


def _sqlite_path(url: str) -> Path | None:
    """The file of a SQLite store, None for a server or an in-memory database."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = sqlite_file(parsed.database or "")
    return None if database is None else Path(database)


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "the configured store"


def event_record(event: Event, run_id: int | None) -> dict[str, Any]:
    """An event as a row of the events table; ``run_id`` is None for events outside a sync."""
    return {
        "at": iso(event.at),
        "account": event.account,
        "instrument": event.instrument,
        "kind": event.kind.value,
        "detail": event.detail,
        "data": json.dumps(event.data, sort_keys=True) if event.data else None,
        "sync_run_id": run_id,
    }


def _closed_record(closed: ClosedPosition) -> dict[str, Any]:
    return {
        "account": closed.account,
        "instrument": closed.instrument,
        "closed_at": iso(closed.closed_at),
        "quantity": str(closed.quantity),
        "average_price": None if closed.average_price is None else str(closed.average_price),
        "realised_pnl": None if closed.realised_pnl is None else str(closed.realised_pnl),
        "estimated": closed.estimated,
    }


def stored_event(record: Any) -> StoredEvent:
    """An ``events`` record as the event it stores, with its id."""
    at = from_iso(record.at)
    assert at is not None
    return StoredEvent(
        record.id,
        Event(
            at=at,
            account=record.account,
            kind=EventKind(record.kind),
            instrument=record.instrument,
            detail=record.detail,
            data=json.loads(record.data) if record.data else {},
        ),
    )
