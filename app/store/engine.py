"""Opening the store: engine, SQLite pragmas, migrations to the newest revision.

``busy_timeout`` is set before ``journal_mode=WAL`` because switching the journal needs a lock
that another process (a daemon sharing the file) may hold for a moment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect

from position_sync.app.paths import migrations_dir

MIGRATIONS = migrations_dir()


class StoreError(Exception):
    """The store cannot be opened or used; one sentence for the user."""


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine, target: str = "head") -> None:
    """Bring the database to ``target``; refuse one written by a newer Position Sync."""
    script = ScriptDirectory.from_config(_alembic_config())
    current = current_revision(engine)
    if current is not None:
        try:
            script.get_revision(current)
        except Exception:
            raise StoreError(
                f"the database at {engine.url.render_as_string(hide_password=True)} was written by a newer "
                f"Position Sync (schema revision {current}); upgrade Position Sync to open it"
            ) from None
    elif inspect(engine).has_table("rows"):
        raise StoreError(
            f"the database at {engine.url.render_as_string(hide_password=True)} has tables but no "
            "schema revision; it was not created by Position Sync"
        )
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, target)
