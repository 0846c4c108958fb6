"""Look before touching: is the database a store URL names ours to open, migrate and tune?

Opening the store switches a SQLite file to WAL (a ``connect`` event) and runs migrations, both
of which change the file for good. A database that belongs to something else (the trading
system's own) must be refused before either happens, so this check reads it on a plain
read-only connection of its own: ``sqlite3`` with ``mode=ro`` for a file, an engine without the
store's connect events for a server. A database is foreign when it holds tables and no schema
revision; one with a revision unknown to this version is left to the migration step, which
names it as written by a newer Position Sync.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from position_sync.app.store.engine import StoreError
from position_sync.app.store.identity import sqlite_file

ALEMBIC_TABLE = "alembic_version"


def refuse_foreign(url: str) -> None:
    """Raise ``StoreError`` for a database Position Sync did not create; change nothing in it."""
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        database = sqlite_file(parsed.database or "")
        if database is None:
            return
        path = Path(database)
        if not path.exists() or path.stat().st_size == 0:
            return  # a new store: nothing in it to belong to anyone else
        tables, revision = _sqlite_contents(path, shown)
    else:
        tables, revision = _server_contents(url)
    if revision is None and tables - {ALEMBIC_TABLE}:
        names = ", ".join(sorted(tables - {ALEMBIC_TABLE})[:5])
        raise StoreError(
            f"the database at {shown} has tables ({names}) but no schema revision; it was not "
            "created by Position Sync and was left unchanged, so give the store a database of its own"
        )


def _sqlite_contents(path: Path, shown: str) -> tuple[set[str], str | None]:
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as exc:
        raise StoreError(f"the store at {shown} cannot be opened: {exc}") from None
    try:
        tables = {
            name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        revision = None
        if ALEMBIC_TABLE in tables:
            found = connection.execute(f"SELECT version_num FROM {ALEMBIC_TABLE}").fetchone()
            revision = found[0] if found else None
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"the store at {shown} is not a SQLite database Position Sync can use: {exc}"
        ) from None
    finally:
        connection.close()
    return tables, revision


def _server_contents(url: str) -> tuple[set[str], str | None]:
    """The tables of the connection's default schema and our revision, on a throw-away engine."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            revision = None
            if ALEMBIC_TABLE in tables:
                revision = connection.execute(text(f"SELECT version_num FROM {ALEMBIC_TABLE}")).scalar()
            connection.rollback()
    finally:
        engine.dispose()
    return tables, revision
