"""The store's operations: load what reconciliation remembers, save one sync, read the picture.

Blocking by design: the sync worker runs every call on one dedicated thread, so the event loop
(and the window) never waits on the disk. Saving a sync is one transaction, and the in-memory
copy of the saved rows is updated only after it commits, so a crash mid-save leaves the previous
picture whole on disk and in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, and_, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from app.domain import AccountState, Event, EventKind, Row
from app.reconcile import AccountMemory, ClosedPosition, Outcome
from app.store.codec import from_iso, iso, material, row_from_record, row_record, undec
from app.store.engine import StoreError, make_engine, migrate, sqlite_url
from app.store.models import (
    account_state,
    closed_positions,
    current_rows,
    events,
    row_history,
    sync_runs,
)

DB_NAME = "position-sync.db"
_UPDATE_COLUMNS = [c.name for c in current_rows.columns if c.name not in ("account", "instrument")]


@dataclass(frozen=True)
class AccountStatus:
    account: str
    state: AccountState
    error: str | None
    last_success_at: datetime | None
    last_attempt_at: datetime | None


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
    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine: Engine = make_engine(url)
            migrate(self.engine)
        except StoreError:
            raise
        except SQLAlchemyError as exc:
            raise StoreError(
                f"the store at {_safe(url)} cannot be opened: {exc.__class__.__name__}: {exc}"
            ) from None
        self._saved: dict[tuple[str, str], Row] = {}
        self._loaded = False

    @classmethod
    def open(cls, data_dir: Path, url: str | None = None) -> Store:
        if url is None:
            try:
                data_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"the data directory {data_dir} cannot be created: {exc}") from None
            url = sqlite_url(data_dir / DB_NAME)
        return cls(url)

    def close(self) -> None:
        self.engine.dispose()

    # -- loading ---------------------------------------------------------------------------

    def load_rows(self) -> list[Row]:
        with self.engine.connect() as connection:
            result = connection.execute(select(current_rows))
            rows = [row_from_record(r) for r in result]
        self._saved = {row.key: row for row in rows}
        self._loaded = True
        return rows

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
                )
                for r in result
            }

    def load_memories(self) -> tuple[dict[str, AccountMemory], dict[str, dict[str, str]]]:
        """What each account's next reconciliation continues from, and its learned aliases."""
        rows = self.load_rows()
        by_account: dict[str, dict[str, Row]] = {}
        for row in rows:
            by_account.setdefault(row.account, {})[row.instrument] = row
        memories: dict[str, AccountMemory] = {}
        learned: dict[str, dict[str, str]] = {}
        with self.engine.connect() as connection:
            for r in connection.execute(select(account_state)):
                held = json.loads(r.held) if r.held else None
                memories[r.account] = AccountMemory(
                    account=r.account,
                    rows=by_account.pop(r.account, {}),
                    state=AccountState(r.state),
                    error=r.error,
                    last_success_at=from_iso(r.last_success_at),
                    book_fingerprint=r.book_fingerprint,
                    book_changed_at=from_iso(r.book_changed_at),
                    held=frozenset(held) if held is not None else None,
                    initialised=bool(r.initialised),
                )
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
    ) -> int:
        """Write one sync in one transaction: only rows that changed, history only when material."""
        if not self._loaded:
            self.load_rows()
        stamp = iso(finished_at)
        assert stamp is not None
        saved = self._saved
        changed: list[Row] = []
        for row in outcome.rows.values():
            old = saved.get(row.key)
            if old is row or old == row:
                continue
            changed.append(row)
        gone = [key for key in saved if key[0] == account and key[1] not in outcome.rows]
        memory = outcome.memory
        problems = sum(1 for r in outcome.rows.values() if r.effective_status.is_problem)
        outcome_name = "held" if outcome.held else memory.state.value
        try:
            with self.engine.begin() as connection:
                run_id = connection.execute(
                    sync_runs.insert().values(
                        account=account,
                        started_at=iso(started_at),
                        finished_at=stamp,
                        outcome=outcome_name,
                        error=memory.error,
                        rows=len(outcome.rows),
                        problems=problems,
                        events=len(outcome.events),
                    )
                ).inserted_primary_key[0]
                if changed:
                    records = [row_record(row, stamp) for row in changed]
                    connection.execute(self._upsert_rows(connection.dialect.name), records)
                    history = [
                        _history_record(row, run_id, stamp)
                        for row in changed
                        if (old := saved.get(row.key)) is None or material(old) != material(row)
                    ]
                    if history:
                        connection.execute(row_history.insert(), history)
                if gone:
                    connection.execute(
                        delete(current_rows).where(
                            and_(
                                current_rows.c.account == account,
                                current_rows.c.instrument.in_([key[1] for key in gone]),
                            )
                        )
                    )
                if outcome.events:
                    connection.execute(events.insert(), [_event_record(e, run_id) for e in outcome.events])
                if outcome.closed:
                    connection.execute(closed_positions.insert(), [_closed_record(c) for c in outcome.closed])
                self._save_account(connection, account, memory, stamp, learned)
        except SQLAlchemyError as exc:
            raise StoreError(f"saving the sync of {account} to {_safe(self.url)} failed: {exc}") from None
        for key in gone:
            del saved[key]
        for row in changed:
            saved[row.key] = row
        return int(run_id)

    @staticmethod
    def _upsert_rows(dialect: str) -> Any:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(current_rows)
        return statement.on_conflict_do_update(
            index_elements=[current_rows.c.account, current_rows.c.instrument],
            set_={name: statement.excluded[name] for name in _UPDATE_COLUMNS},
        )

    def _save_account(
        self, connection: Any, account: str, memory: AccountMemory, stamp: str, learned: dict[str, str] | None
    ) -> None:
        insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
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
        statement = insert(account_state).values(**values)
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=[account_state.c.account],
                set_={k: statement.excluded[k] for k in values if k != "account"},
            )
        )

    # -- reading ---------------------------------------------------------------------------

    def rows(self) -> list[Row]:
        return self.load_rows()

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
            return [_stored_event(r) for r in connection.execute(query)]

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


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "the configured store"


def _history_record(row: Row, run_id: int, stamp: str) -> dict[str, Any]:
    return {
        "account": row.account,
        "instrument": row.instrument,
        "at": stamp,
        "sync_run_id": run_id,
        "status": row.status.value,
        "broker_qty": None if row.broker_qty is None else str(row.broker_qty),
        "local_qty": None if row.local_qty is None else str(row.local_qty),
        "broker_avg": None if row.broker_avg is None else str(row.broker_avg),
        "local_avg": None if row.local_avg is None else str(row.local_avg),
        "realised_pnl": None if row.realised_pnl is None else str(row.realised_pnl),
        "hint": row.hint,
    }


def _event_record(event: Event, run_id: int) -> dict[str, Any]:
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


def _stored_event(record: Any) -> StoredEvent:
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
