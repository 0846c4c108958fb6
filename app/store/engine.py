"""Opening the store: engine, SQLite pragmas, migrations to the newest revision.

``busy_timeout`` is set before ``journal_mode=WAL`` because switching the journal needs a lock
that another process (a daemon sharing the file) may hold for a moment. ``journal_size_limit``
lets SQLite cut the write-ahead log back whenever a checkpoint empties it (``app.store.wal``
checkpoints it now and then), so the log stays small instead of keeping its largest size.

Alembic takes longer to import than the rest of a headless command together, and a store at
the newest revision needs none of it: the store's revision is read with one query and compared
with the newest script's, found by reading the migration scripts' ``revision`` lines. Alembic
is imported only when they differ (a new store, an older one to upgrade, a newer one to refuse).
"""

from __future__ import annotations

import re
import zlib
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from position_sync.app.paths import migrations_dir

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = migrations_dir()

# The advisory lock taken around migrations of a PostgreSQL store: (Position Sync, this).
ADVISORY_CLASS = zlib.crc32(b"position-sync") & 0x7FFFFFFF
MIGRATION_KEY = zlib.crc32(b"migrate") & 0x7FFFFFFF

# How long a connection waits for another process's lock before a statement fails.
BUSY_TIMEOUT_MS = 5000
# The write-ahead log is cut back to this after a checkpoint empties it; a sync's transaction may
# still grow it beyond while it runs. The size of a few ordinary saves, far below the database.
WAL_SIZE_LIMIT = 1_048_576

_REVISION_LINE = re.compile(
    r"""^(down_revision|revision)\s*(?::[^=]*)?=\s*(?:"([^"]*)"|'([^']*)'|None)""", re.M
)


class StoreError(Exception):
    """The store cannot be opened or used; one sentence for the user."""


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest revision as Alembic sees it (the self-check and the tests compare with it)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


@cache
def scripts_head() -> str | None:
    """The newest revision read from the scripts' own lines, without Alembic: the one revision
    no script names as its ``down_revision``. None when that is not one (a branch, a script
    spelled otherwise), and the store then asks Alembic."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        found = {
            m.group(1): m.group(2) or m.group(3) for m in _REVISION_LINE.finditer(script.read_text("utf-8"))
        }
        if "revision" not in found:
            return None
        revisions.add(found["revision"])
        if found.get("down_revision"):
            downs.add(found["down_revision"])
    heads = revisions - downs
    return heads.pop() if len(heads) == 1 else None


def stored_revision(engine: Engine) -> str | None:
    """The store's revision in one query; None for a store without one (new, or not ours)."""
    try:
        with engine.connect() as connection:
            found = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except SQLAlchemyError:
        return None
    return found[0] if len(found) == 1 else None


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine, target: str = "head", *, upgrade: bool = False) -> None:
    """Bring the database to ``target``; refuse one written by a newer Position Sync.

    A store already at the newest revision is left as it is without importing Alembic.

    A PostgreSQL store is shared by daemons and desktops that may run different versions, so it
    is only *created* implicitly: one that exists at an older revision is upgraded only when
    asked (``upgrade``: ``position-sync store upgrade``), never behind the daemons' back. The
    whole check-and-migrate runs under a transaction-level advisory lock, so two processes
    starting on a new store create it once.
    """
    if target == "head":
        head = scripts_head()
        if head is not None and stored_revision(engine) == head:
            return
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())
    where = engine.url.render_as_string(hide_password=True)
    config = _alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:c, :k)"), {"c": ADVISORY_CLASS, "k": MIGRATION_KEY}
            )
        current = MigrationContext.configure(connection).get_current_revision()
        if current is not None:
            try:
                script.get_revision(current)
            except Exception:
                raise StoreError(
                    f"the database at {where} was written by a newer Position Sync (schema revision "
                    f"{current}); upgrade Position Sync to open it"
                ) from None
        elif inspect(connection).has_table("rows"):
            raise StoreError(
                f"the database at {where} has tables but no schema revision; it was not created by Position Sync"
            )
        wanted = script.get_current_head() if target == "head" else target
        behind = current is not None and current != wanted
        if behind and connection.dialect.name == "postgresql" and not upgrade:
            raise StoreError(
                f"the shared store at {where} is at schema revision {current}, older than this "
                f"Position Sync's {wanted}; it is not upgraded behind the other daemons' and desktops' "
                "back: once they can follow, run 'position-sync store upgrade'"
            )
        config.attributes["connection"] = connection
        command.upgrade(config, target)
