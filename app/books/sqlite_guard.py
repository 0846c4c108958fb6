"""What a SQLite book's connection may do: read, and only for as long as a read may take.

``mode=ro`` keeps the book's own file unwritten, but not the rest of the disk: ``VACUUM INTO
'/tmp/x'`` writes a copy of the book wherever it names, and ``ATTACH DATABASE`` opens another file
read-write (creating it), into which a statement can then insert. So every statement a book runs
passes SQLite's authorizer, which allows only what a read needs and denies everything else at
prepare time, before anything is written.

A statement that runs too long (a runaway ``query``) is interrupted by a progress handler once
the read's deadline has passed, and a book locked by its writer is waited for only up to the
same deadline (the busy timeout), so an abandoned read ends soon after its timeout.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

from sqlalchemy import Engine, event

# Pragmas that only report, whatever their argument (a table or index name).
_REPORTING_PRAGMAS = frozenset(
    {"table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list"}
)
# Pragmas that read a setting when given no value, and would change it when given one.
_SETTING_PRAGMAS = frozenset(
    {"read_uncommitted", "database_list", "data_version", "user_version", "schema_version"}
)
# SQLite's action codes a read needs: reading rows and columns, functions, CTEs, and the
# transaction SQLAlchemy ends every read with (a rollback).
_READ_ACTIONS = frozenset(
    code
    for code in (
        sqlite3.SQLITE_SELECT,
        sqlite3.SQLITE_READ,
        sqlite3.SQLITE_FUNCTION,
        getattr(sqlite3, "SQLITE_RECURSIVE", 33),
        sqlite3.SQLITE_TRANSACTION,
    )
)
# Names for the sentence that refuses a statement. ``VACUUM INTO`` asks for ATTACH first (its
# target is attached), so both are refused by that one code.
_ACTION_NAMES = {
    sqlite3.SQLITE_ATTACH: "ATTACH or VACUUM INTO (writing another file)",
    sqlite3.SQLITE_DETACH: "DETACH",
    sqlite3.SQLITE_INSERT: "INSERT",
    sqlite3.SQLITE_UPDATE: "UPDATE",
    sqlite3.SQLITE_DELETE: "DELETE",
    sqlite3.SQLITE_ALTER_TABLE: "ALTER TABLE",
    sqlite3.SQLITE_ANALYZE: "ANALYZE",
    sqlite3.SQLITE_REINDEX: "REINDEX",
    sqlite3.SQLITE_SAVEPOINT: "SAVEPOINT",
    sqlite3.SQLITE_CREATE_TABLE: "CREATE TABLE",
    sqlite3.SQLITE_CREATE_TEMP_TABLE: "CREATE TEMP TABLE",
    sqlite3.SQLITE_CREATE_VIEW: "CREATE VIEW",
    sqlite3.SQLITE_CREATE_INDEX: "CREATE INDEX",
    sqlite3.SQLITE_CREATE_TRIGGER: "CREATE TRIGGER",
    sqlite3.SQLITE_DROP_TABLE: "DROP TABLE",
}


class ReadGuard:
    """One book's authorizer and deadline; the last refusal is kept per thread for its sentence."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self._refused = threading.local()

    def refused(self) -> str | None:
        """What the authorizer last refused on this thread (and forget it), e.g. ``ATTACH``."""
        what: str | None = getattr(self._refused, "what", None)
        self._refused.what = None
        return what

    def authorize(
        self, action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None
    ) -> int:
        if action in _READ_ACTIONS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA and arg1 is not None:
            name = arg1.lower()
            if name in _REPORTING_PRAGMAS or (name in _SETTING_PRAGMAS and arg2 is None):
                return sqlite3.SQLITE_OK
            self._refused.what = f"PRAGMA {arg1}" + (" with a value" if arg2 is not None else "")
            return sqlite3.SQLITE_DENY
        self._refused.what = _ACTION_NAMES.get(action, f"operation {action}")
        return sqlite3.SQLITE_DENY

    def install(self, engine: Engine) -> None:
        """Every connection of ``engine``: the authorizer, and a deadline for each statement."""

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, record: Any) -> None:
            deadline = {"at": float("inf")}
            record.info["position_sync_deadline"] = deadline

            def past_deadline() -> int:
                return 1 if time.monotonic() > deadline["at"] else 0  # non-zero interrupts

            dbapi_connection.set_authorizer(self.authorize)
            dbapi_connection.set_progress_handler(past_deadline, 1000)

        @event.listens_for(engine, "before_cursor_execute")
        def _on_execute(connection: Any, *_: Any) -> None:
            deadline = connection.connection.info.get("position_sync_deadline")
            if deadline is not None:
                deadline["at"] = time.monotonic() + self.limit
