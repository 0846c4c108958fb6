""" "Fix my book": the only writes Position Sync ever makes, and only when the user asks.

Opt-in per SQL book (``writable = true`` with a ``[books.ID.write]`` mapping). Each action is
planned first (exactly which rows and columns change, from what to what), shown, confirmed, then
written in one transaction that also re-reads the book and rolls back unless the book now says
what the action promised. Nothing is ever deleted to close a phantom: the row is marked closed
with a reason. The last action can be undone; undo checks the rows still hold what the action
wrote, so it never overwrites a later change by the trading system.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from position_sync.app.books.rows import RecordError, belongs, side_sign, to_position
from position_sync.app.books.sql import connect_args, describe_db_error, safe_url
from position_sync.app.config import AccountConfig, BookConfig, Settings
from position_sync.app.domain import ZERO, Event, EventKind, Row, Status, to_decimal
from position_sync.app.fix_actions import ACTIONS, DEFAULT_REASON
from position_sync.app.secrets import Secrets
from position_sync.app.store import Store
from position_sync.app.store.codec import iso
from position_sync.app.store.fixes import last_fix, mark_undone, record_fix
from position_sync.app.symbols import Resolver, similarity, symbol_part

_NEEDS: dict[str, frozenset[Status]] = {
    "close-phantom": frozenset({Status.PHANTOM}),
    "adopt": frozenset({Status.UNTRACKED}),
    "take-broker": frozenset({Status.QTY_MISMATCH, Status.SIDE_MISMATCH, Status.PRICE_MISMATCH}),
}


class FixError(Exception):
    """The action cannot be done as asked; one sentence, nothing written."""


class FixNotAllowed(FixError):
    """The book's configuration does not allow fixes (read-only, no usable write mapping).

    Told apart from a refusal of this one action because the remedy is an edit of the config
    file, and ``position-sync fix`` exits 3 (configuration) for it.
    """


class FixFailed(FixError):
    """The writes were attempted and rolled back (the book changed meanwhile, a database error)."""


def action_fits(action: str, status: Status) -> bool:
    """Whether ``action`` applies to a row of ``status`` (the window greys out the others)."""
    return status in _NEEDS[action]


def write_refusal(book: BookConfig, action: str | None = None) -> str | None:
    """Why fixes (or this ``action``) cannot write to ``book``, or None when they can: one
    sentence, said before anything is planned (the window's menu, the CLI before its prompt)."""
    try:
        mapping = WriteMapping.from_book(book)
    except FixNotAllowed as exc:
        return str(exc)
    if action == "adopt":
        return mapping.adopt_refusal(book)
    return None


@dataclass(frozen=True)
class WriteMapping:
    """Which columns the actions write: ``key`` identifies a row for the update and the undo."""

    table: str
    key: str
    closed_at: str | None = None
    status: str | None = None
    closed_value: str = "closed"
    open_value: str | None = None
    reason: str | None = None
    external: str | None = None
    external_value: str = "external"

    @classmethod
    def from_book(cls, book: BookConfig) -> WriteMapping:
        where = f"book '{book.id}'"
        # ``is True``: only the TOML boolean opens a book for writing (the config refuses
        # ``writable = "no"``, which Python would take for true).
        if book.kind != "sql" or book.options.get("writable") is not True:
            raise FixNotAllowed(
                f"{where} is read-only: fixes need a SQL book with writable = true and a "
                f"[books.write] mapping (see the README)"
            )
        raw = book.options.get("write")
        if not isinstance(raw, dict):
            raise FixNotAllowed(f"{where} is writable but has no [write] table naming its key column")
        table = raw.get("table", book.options.get("table"))
        if not isinstance(table, str) or not table:
            raise FixNotAllowed(f"{where}: fixes need 'table' (a query-only book cannot be written)")
        key = raw.get("key")
        if not isinstance(key, str) or not key:
            raise FixNotAllowed(f"{where}: write.key must name the table's primary key column")
        known = {f for f in cls.__dataclass_fields__ if f != "table"}
        unknown = sorted(set(raw) - known - {"table"})
        if unknown:
            raise FixNotAllowed(
                f"{where}: write.{unknown[0]} is not a write setting ({', '.join(sorted(known))})"
            )
        values = {k: str(v) for k, v in raw.items() if k in known}
        mapping = cls(table=table, **values)
        if mapping.closed_at is None and mapping.status is None:
            raise FixNotAllowed(f"{where}: write needs 'closed_at' or 'status' to mark a closed row")
        return mapping

    def adopt_refusal(self, book: BookConfig) -> str | None:
        """Why adopt cannot insert a line this book would count as open, or None.

        A book that tells open lines by their status column (it has no ``closed_at``, or its
        ``where`` names the status column) needs ``open_value`` for an adopted line: inserted
        without one, the line's status would be empty, the re-read would not count it, and the
        write would be rolled back after the user had confirmed it.
        """
        if self.status is None or self.open_value is not None:
            return None
        where = book.options.get("where")
        if self.closed_at is not None and not (
            isinstance(where, str) and re.search(rf"\b{re.escape(self.status)}\b", where, re.IGNORECASE)
        ):
            return None
        return (
            f"book '{book.id}' tells open lines by its {self.status} column, so adopt needs "
            f"[books.write] open_value, the {self.status} of an open line (for example "
            f'open_value = "open"); without it the new line would not count as open'
        )


@dataclass(frozen=True)
class Write:
    """One row change: ``before`` is None for an inserted row."""

    op: str  # "update", "insert" or "delete"
    key: Any
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    def describe(self, table: str, key_column: str) -> str:
        if self.op == "insert":
            columns = ", ".join(f"{k} = {_show(v)}" for k, v in (self.after or {}).items())
            return f"INSERT INTO {table}: {columns}"
        if self.op == "delete":
            return f"DELETE FROM {table} WHERE {key_column} = {_show(self.key)} (the row the action inserted)"
        changes = ", ".join(
            f"{k}: {_show((self.before or {}).get(k))} -> {_show(v)}" for k, v in (self.after or {}).items()
        )
        return f"UPDATE {table} WHERE {key_column} = {_show(self.key)}: {changes}"


@dataclass(frozen=True)
class FixPlan:
    action: str
    account: str
    instrument: str
    book: str
    table: str
    key_column: str
    writes: tuple[Write, ...]
    expected_qty: Decimal | None  # what the book must hold afterwards; None for an undo
    undo_of: int | None = None

    def describe(self) -> list[str]:
        title = f"undo of fix #{self.undo_of}" if self.undo_of else self.action
        head = f"{title} for {self.instrument} at {self.account}: {len(self.writes)} write(s) to book '{self.book}'"
        return [head, *("  " + w.describe(self.table, self.key_column) for w in self.writes)]


def _show(value: Any) -> str:
    return "NULL" if value is None else repr(value) if isinstance(value, str) else str(value)


def _plain(value: Any) -> Any:
    """A column value as JSON can keep it (Decimals and times as tagged text)."""
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, datetime):
        return {"time": value.isoformat()}
    if isinstance(value, float):
        return {"decimal": repr(value)}
    return value


def _unplain(value: Any) -> Any:
    if isinstance(value, dict) and "decimal" in value:
        return Decimal(value["decimal"])
    if isinstance(value, dict) and "time" in value:
        return datetime.fromisoformat(value["time"])
    return value


class BookFixer:
    def __init__(self, settings: Settings, store: Store, secrets: Secrets | None = None) -> None:
        self.settings = settings
        self.store = store
        self.secrets = secrets or Secrets()

    # -- planning --------------------------------------------------------------------------

    def plan(
        self,
        account_id: str,
        instrument: str,
        action: str,
        *,
        reason: str | None = None,
        now: datetime | None = None,
    ) -> FixPlan:
        if action not in ACTIONS:
            raise FixError(f"unknown action '{action}' (choose {', '.join(ACTIONS)})")
        account = self.settings.account(account_id)
        book = self.settings.books[account.book]
        mapping = WriteMapping.from_book(book)
        refusal = mapping.adopt_refusal(book) if action == "adopt" else None
        if refusal is not None:
            raise FixNotAllowed(refusal)  # said before the plan is shown, never after a confirmation
        row = self._row(account, instrument)
        instrument = row.instrument
        status = row.effective_status
        if status not in _NEEDS[action]:
            wanted = " or ".join(sorted(s.value for s in _NEEDS[action]))
            raise FixError(f"{action} is for {wanted} rows; {instrument} at {account_id} is {status.value}")
        if row.status is Status.STALE:
            raise FixError(f"{account_id} is stale: sync it successfully before fixing its book")
        moment = now or datetime.now(UTC)
        engine = self._engine(book)
        try:
            with engine.connect() as connection:
                lines = self._book_lines(connection, account, book, mapping, instrument)
        except SQLAlchemyError as exc:
            raise FixError(f"book '{book.id}' cannot be read: {describe_db_error(exc)}") from None
        finally:
            engine.dispose()
        if action == "close-phantom":
            return self._plan_close(
                account, book, mapping, instrument, lines, reason or DEFAULT_REASON, moment
            )
        if action == "adopt":
            return self._plan_adopt(account, book, mapping, row, lines)
        return self._plan_take_broker(account, book, mapping, row, lines)

    def _row(self, account: AccountConfig, spelling: str) -> Row:
        """The stored row the user means: by its key, or by any spelling the book could use.

        ``tcs`` in an NSE account is ``NSE:TCS``, exactly as the sync keys the book's lines
        (default exchange, case, aliases and learned broker spellings).
        """
        rows = {r.instrument: r for r in self.store.rows() if r.account == account.id}
        if spelling in rows:
            return rows[spelling]
        key = self._resolver(account).key(spelling)
        if key in rows:
            return rows[key]
        if not rows:
            raise FixError(
                f"{account.id} has no rows in the store yet; run `position-sync sync --once` first"
            )
        # Compared without the exchange prefix, which every key of an account shares.
        ranked = sorted(((similarity(key, r), r) for r in rows), reverse=True)
        close = [r for score, r in ranked[:3] if score >= 0.6]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise FixError(
            f"{account.id} has no row {key} in the last sync{hint}; `position-sync status` lists the rows"
        )

    def _plan_close(
        self,
        account: AccountConfig,
        book: BookConfig,
        mapping: WriteMapping,
        instrument: str,
        lines: list[dict[str, Any]],
        reason: str,
        moment: datetime,
    ) -> FixPlan:
        if not lines:
            raise FixError(f"book '{book.id}' holds no open line of {instrument} any more; nothing to close")
        after: dict[str, Any] = {}
        if mapping.closed_at:
            after[mapping.closed_at] = iso(moment)
        if mapping.status:
            after[mapping.status] = mapping.closed_value
        if mapping.reason:
            after[mapping.reason] = reason
        writes = tuple(
            Write("update", line[mapping.key], {k: line.get(k) for k in after}, dict(after)) for line in lines
        )
        return FixPlan(
            "close-phantom", account.id, instrument, book.id, mapping.table, mapping.key, writes, ZERO
        )

    def _plan_adopt(
        self,
        account: AccountConfig,
        book: BookConfig,
        mapping: WriteMapping,
        row: Row,
        lines: list[dict[str, Any]],
    ) -> FixPlan:
        if lines:
            raise FixError(f"book '{book.id}' already holds {row.instrument}; use take-broker instead")
        quantity = row.broker_qty or ZERO
        values: dict[str, Any] = {book.field_name("symbol"): self._spelling(account, row.instrument)}
        values.update(self._quantity_columns(book, quantity))
        if row.broker_avg is not None:
            values[book.field_name("average_price")] = row.broker_avg
        if "account" in book.fields:
            values[book.fields["account"]] = account.book_account or account.id
        if mapping.external:
            values[mapping.external] = mapping.external_value
        if mapping.status and mapping.open_value is not None:
            values[mapping.status] = mapping.open_value
        write = Write("insert", None, None, values)
        return FixPlan(
            "adopt", account.id, row.instrument, book.id, mapping.table, mapping.key, (write,), quantity
        )

    def _plan_take_broker(
        self,
        account: AccountConfig,
        book: BookConfig,
        mapping: WriteMapping,
        row: Row,
        lines: list[dict[str, Any]],
    ) -> FixPlan:
        if len(lines) != 1:
            raise FixError(
                f"book '{book.id}' holds {len(lines)} lines of {row.instrument}; take-broker sets one line, "
                "so split the broker's quantity between them by hand"
            )
        line = lines[0]
        quantity = row.broker_qty or ZERO
        after = self._quantity_columns(book, quantity)
        if row.broker_avg is not None:
            after[book.field_name("average_price")] = row.broker_avg
        write = Write("update", line[mapping.key], {k: line.get(k) for k in after}, after)
        return FixPlan(
            "take-broker", account.id, row.instrument, book.id, mapping.table, mapping.key, (write,), quantity
        )

    @staticmethod
    def _quantity_columns(book: BookConfig, quantity: Decimal) -> dict[str, Any]:
        if "side" in book.fields:
            return {
                book.field_name("quantity"): abs(quantity),
                book.fields["side"]: "SELL" if quantity < 0 else "BUY",
            }
        return {book.field_name("quantity"): quantity}

    @staticmethod
    def _spelling(account: AccountConfig, instrument: str) -> str:
        """How the book writes it: without the prefix of the account's default exchange."""
        if account.exchange and instrument.startswith(f"{account.exchange}:"):
            return symbol_part(instrument)
        return instrument

    # -- reading the book as the sync does -------------------------------------------------

    def _engine(self, book: BookConfig) -> Engine:
        assert book.url is not None
        url = make_url(book.url)
        if url.username is not None:
            password = self.secrets.get(book.id, book.options, "password")
            env_name = book.options.get("password_env")
            if not password and isinstance(env_name, str) and env_name:
                raise FixError(
                    f"book '{book.id}': environment variable {env_name} is not set (it holds the password)"
                )
            if password:
                url = url.set(password=password)
        if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).is_absolute():
            base = self.settings.path.parent if self.settings.path else Path.cwd()
            url = url.set(database=str(base / url.database))
        self._where = safe_url(url)
        # Not the book's read-only session, of course; the same connect timeout, though.
        return create_engine(url, connect_args=connect_args(url, read_only=False))

    def _book_lines(
        self,
        connection: Connection,
        account: AccountConfig,
        book: BookConfig,
        mapping: WriteMapping,
        instrument: str,
    ) -> list[dict[str, Any]]:
        """The open lines of the table that the sync counts for ``instrument``."""
        preparer = connection.dialect.identifier_preparer
        table = ".".join(preparer.quote(p) for p in mapping.table.split("."))
        statement = f"SELECT * FROM {table}"
        where = book.options.get("where")
        if where:
            statement += f" WHERE {where}"
        try:
            records = [dict(r) for r in connection.execute(text(statement)).mappings()]
        except SQLAlchemyError as exc:
            raise FixError(f"book '{book.id}' cannot be read: {describe_db_error(exc)}") from None
        resolver = self._resolver(account)
        lines = []
        for record in records:
            if not belongs(record, book, account.book_account or account.id):
                continue
            try:
                position = to_position(record, book)
            except RecordError:
                continue
            if resolver.key(position.symbol or position.instrument) == instrument:
                if mapping.key not in record:
                    raise FixNotAllowed(
                        f"book '{book.id}': write.key '{mapping.key}' is not a column of {mapping.table}"
                    )
                lines.append(record)
        return lines

    def _resolver(self, account: AccountConfig) -> Resolver:
        _, learned = self.store.load_memories()
        return Resolver(account.exchange, account.market, account.aliases, dict(learned.get(account.id, {})))

    # -- writing ---------------------------------------------------------------------------

    def apply(self, plan: FixPlan, now: datetime | None = None) -> Event:
        """Write the plan in one transaction, check the book now says what it promised, record it."""
        moment = now or datetime.now(UTC)
        account = self.settings.account(plan.account)
        book = self.settings.books[plan.book]
        mapping = WriteMapping.from_book(book)
        done: list[Write] = []
        engine = self._engine(book)
        try:
            with engine.begin() as connection:
                for write in plan.writes:
                    done.append(self._execute(connection, plan, write))
                lines = self._book_lines(connection, account, book, mapping, plan.instrument)
                total = sum(
                    (
                        to_decimal(line[book.field_name("quantity")]) * self._sign(book, line)
                        for line in lines
                    ),
                    ZERO,
                )
                if plan.expected_qty is not None and total != plan.expected_qty:
                    raise FixFailed(
                        f"after the writes book '{book.id}' would hold {total} of {plan.instrument}, not "
                        f"{plan.expected_qty} (does its 'where' select the rows written?); nothing was written"
                    )
        except SQLAlchemyError as exc:
            raise FixFailed(
                f"writing to book '{book.id}' failed, nothing was written: {describe_db_error(exc)}"
            ) from None
        except (FixFailed, FixNotAllowed):
            raise
        except FixError as exc:
            # Raised inside the transaction (the re-read failed): it rolled back.
            raise FixFailed(f"{exc}; nothing was written") from None
        finally:
            engine.dispose()
        records = [
            {"op": w.op, "key": _plain(w.key), "before": _json_cols(w.before), "after": _json_cols(w.after)}
            for w in done
        ]
        if plan.undo_of is not None:
            event = Event(
                moment,
                plan.account,
                EventKind.BOOK_FIX_UNDONE,
                plan.instrument,
                f"undid fix #{plan.undo_of} in book '{plan.book}'",
                {"writes": records},
            )
            mark_undone(self.store, plan.undo_of, moment, event)
            return event
        detail = f"{plan.action} in book '{plan.book}': " + "; ".join(
            w.describe(plan.table, plan.key_column) for w in done
        )
        event = Event(
            moment,
            plan.account,
            EventKind.BOOK_FIXED,
            plan.instrument,
            detail,
            {"action": plan.action, "book": plan.book, "writes": records},
        )
        record_fix(self.store, moment, plan.account, plan.instrument, plan.book, plan.action, records, event)
        return event

    @staticmethod
    def _sign(book: BookConfig, line: Mapping[str, Any]) -> int:
        """The line's sign by the same side words the sync reads (SLD and -1 are short too)."""
        if "side" not in book.fields:
            return 1
        return side_sign(line.get(book.fields["side"])) or 1

    def _execute(self, connection: Connection, plan: FixPlan, write: Write) -> Write:
        preparer = connection.dialect.identifier_preparer
        table = ".".join(preparer.quote(p) for p in plan.table.split("."))
        key = preparer.quote(plan.key_column)
        if write.op == "insert":
            assert write.after is not None
            columns = list(write.after)
            names = ", ".join(preparer.quote(c) for c in columns)
            params = {f"v{i}": _param(write.after[c]) for i, c in enumerate(columns)}
            placeholders = ", ".join(f":v{i}" for i in range(len(columns)))
            result = connection.execute(
                text(f"INSERT INTO {table} ({names}) VALUES ({placeholders}) RETURNING {key}"), params
            )
            return Write("insert", result.scalar_one(), None, write.after)
        if write.op == "delete":
            guard, params = _guard(preparer, write.before or {})
            params["k"] = write.key
            result = connection.execute(text(f"DELETE FROM {table} WHERE {key} = :k{guard}"), params)
        else:
            assert write.after is not None
            sets = ", ".join(f"{preparer.quote(c)} = :s{i}" for i, c in enumerate(write.after))
            params = {f"s{i}": _param(v) for i, v in enumerate(write.after.values())}
            guard, guard_params = _guard(preparer, write.before or {})
            params.update(guard_params)
            params["k"] = write.key
            result = connection.execute(text(f"UPDATE {table} SET {sets} WHERE {key} = :k{guard}"), params)
        if result.rowcount != 1:
            raise FixFailed(
                f"row {plan.key_column} = {write.key} of {plan.table} changed since the action was planned "
                "(or is gone); nothing was written"
            )
        return write

    # -- undo ------------------------------------------------------------------------------

    def plan_undo(self) -> FixPlan:
        record = last_fix(self.store)
        if record is None:
            raise FixError("there is no fix to undo")
        writes = []
        for item in reversed(record.writes):
            key = _unplain(item["key"])
            after = {k: _unplain(v) for k, v in (item["after"] or {}).items()}
            before = {k: _unplain(v) for k, v in (item["before"] or {}).items()}
            if item["op"] == "insert":
                writes.append(Write("delete", key, after, None))
            else:
                writes.append(Write("update", key, after, before))
        mapping = WriteMapping.from_book(self.settings.books[record.book])
        # No quantity promise here: undo is the exact inverse, guarded row by row by what the
        # action wrote, so the book returns to what it held before.
        return FixPlan(
            record.action,
            record.account,
            record.instrument,
            record.book,
            mapping.table,
            mapping.key,
            tuple(writes),
            None,
            undo_of=record.id,
        )


def _param(value: Any) -> Any:
    """Decimals go to the driver as text: SQLite has no decimal type and would round via float."""
    return str(value) if isinstance(value, Decimal) else value


def _guard(preparer: Any, expected: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``AND col = :g0 ...``: the row must still hold what the plan saw (optimistic check)."""
    parts = []
    params: dict[str, Any] = {}
    for i, (column, value) in enumerate(expected.items()):
        if value is None:
            parts.append(f"{preparer.quote(column)} IS NULL")
        elif isinstance(value, datetime) or (isinstance(value, str) and _is_time(value)):
            # A time column reads back in the database's own format: presence is what is checked.
            parts.append(f"{preparer.quote(column)} IS NOT NULL")
        elif isinstance(value, (Decimal, float, int)) and not isinstance(value, bool):
            parts.append(f"CAST({preparer.quote(column)} AS NUMERIC) = CAST(:g{i} AS NUMERIC)")
            params[f"g{i}"] = str(value)
        else:
            parts.append(f"CAST({preparer.quote(column)} AS TEXT) = :g{i}")
            params[f"g{i}"] = str(value)
    return ("".join(f" AND {p}" for p in parts), params)


def _is_time(text_value: str) -> bool:
    try:
        datetime.fromisoformat(text_value)
    except ValueError:
        return False
    return len(text_value) >= 19


def _json_cols(columns: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if columns is None else {k: _plain(v) for k, v in columns.items()}
