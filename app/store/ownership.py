"""One writer per store: the process that syncs a store owns it until it ends.

Two processes syncing one store each keep their own memory of the last picture, so one close at
the broker is announced and archived twice. Whoever syncs (``sync --once``, the daemon, the
window) therefore claims the store first; reads (``status``, ``events``) and the small user
writes (``ack``, ``fix``'s record) do not.

A claim is held by something the operating system or the server drops when the process dies,
so a crash or ``kill -9`` never leaves a stale claim behind:

- a SQLite store: ``flock`` (``msvcrt.locking`` on Windows) on ``<database>.owner`` next to the
  database file, which also records the holder (pid, host, what it runs) for the refusal;
- a server store (PostgreSQL): a session-level advisory lock on a connection kept open for the
  claim, keyed by the store's schema; ``application_name`` names the holder in
  ``pg_stat_activity``.

A claim is keyed by a *scope*, today always ``"store"``; a store shared by several daemons can
later claim ``"account:<id>"`` scopes through the same interface. Claims within one process are
shared (the window swapping its runtime for new settings claims the store it already holds).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import zlib
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from position_sync.app.private import FILE_MODE
from position_sync.app.store.engine import ADVISORY_CLASS, StoreError
from position_sync.app.store.identity import sqlite_file

STORE_SCOPE = "store"
POLL_SECONDS = 0.2


class StoreBusy(StoreError):
    """Another process owns the store: exit 3 with one sentence naming it."""


class Ownership(ABC):
    """The right to write one scope of one store, held until ``release`` or the process ends."""

    def __init__(self, where: str, purpose: str) -> None:
        self.where = where
        self.purpose = purpose

    @abstractmethod
    def try_acquire(self) -> bool:
        """Take the claim if it is free; False (nothing held) when another process has it."""

    @abstractmethod
    def holder(self) -> str | None:
        """Who holds the claim, in words ("daemon, pid 41 on host desk"), when that is known."""

    @abstractmethod
    def release(self) -> None:
        """Give the claim up; harmless when nothing is held."""

    def acquire(self, wait: float = 0.0) -> None:
        """Take the claim, waiting up to ``wait`` seconds for another process to give it up."""
        deadline = time.monotonic() + max(wait, 0.0)
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                holder = self.holder()
                who = f" ({holder})" if holder else ""
                waited = f" after waiting {wait:g} s" if wait > 0 else ""
                raise StoreBusy(
                    f"the store at {self.where} is in use by another Position Sync{who}{waited}; "
                    "only one process may sync a store, so stop that one or read the picture with "
                    "'position-sync status' or 'events'"
                )
            time.sleep(POLL_SECONDS)

    def describe_self(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "purpose": self.purpose,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }


def describe(info: dict[str, Any]) -> str:
    host = f" on host {info['host']}" if info.get("host") else ""
    since = f", since {info['since']}" if info.get("since") else ""
    return f"{info.get('purpose') or 'a process'}, pid {info.get('pid')}{host}{since}"


class FileLockOwnership(Ownership):
    """A SQLite store's claim: an exclusive lock on ``<database>.owner``, dropped by the kernel."""

    def __init__(self, lock_path: Path, where: str, purpose: str) -> None:
        super().__init__(where, purpose)
        self.path = lock_path
        self._file: IO[str] | None = None

    def try_acquire(self) -> bool:
        if self._file is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        handle = os.fdopen(fd, "r+", encoding="utf-8")
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, FILE_MODE)
            if not _lock(handle):
                handle.close()
                return False
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(self.describe_self()))
            handle.flush()
        except BaseException:
            handle.close()
            raise
        self._file = handle
        return True

    def holder(self) -> str | None:
        try:
            info = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return None
        return describe(info) if isinstance(info, dict) and info.get("pid") else None

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor drops the lock
            self._file = None


def _lock(handle: IO[str]) -> bool:
    """Try an exclusive, non-blocking lock on the file; False when someone holds it."""
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class AdvisoryLockOwnership(Ownership):
    """A server store's claim: ``pg_try_advisory_lock`` on a session kept open for it.

    The server releases the lock when the session ends, including when the process dies and its
    connection drops. The key is (Position Sync, crc32 of "<schema>/<scope>").
    """

    def __init__(self, url: str, where: str, purpose: str, scope: str = STORE_SCOPE) -> None:
        super().__init__(where, purpose)
        self.url = url
        self.scope = scope
        name = f"position-sync {purpose} pid {os.getpid()} on {socket.gethostname()}"[:63]
        self._engine: Engine = create_engine(url, poolclass=NullPool, connect_args={"application_name": name})
        self._connection: Connection | None = None
        self._key: int | None = None

    def _session(self) -> Connection:
        connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        schema = connection.execute(text("SELECT current_schema()")).scalar() or "public"
        self._key = zlib.crc32(f"{schema}/{self.scope}".encode()) & 0x7FFFFFFF
        return connection

    def try_acquire(self) -> bool:
        if self._connection is not None:
            return True
        connection = self._session()
        taken = connection.execute(
            text("SELECT pg_try_advisory_lock(:c, :k)"), {"c": ADVISORY_CLASS, "k": self._key}
        ).scalar()
        if taken:
            self._connection = connection
            return True
        connection.close()
        return False

    def holder(self) -> str | None:
        with self._engine.connect() as connection:
            row = connection.execute(
                text(
                    "SELECT a.application_name, a.client_addr, a.backend_start FROM pg_locks l "
                    "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                    "AND l.granted AND l.classid = :c AND l.objid = :k AND l.database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"c": ADVISORY_CLASS, "k": self._key},
            ).first()
        if row is None:
            return None
        name = row.application_name or "a session"
        client = f" from {row.client_addr}" if row.client_addr else ""
        return f"{name}{client}"

    def release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()  # the session ends, and with it the lock
            finally:
                self._connection = None
        self._engine.dispose()


class _Shared:
    """One process's claim on one store, counted so the window can swap runtimes under it."""

    def __init__(self, ownership: Ownership) -> None:
        self.ownership = ownership
        self.count = 0


_held: dict[str, _Shared] = {}
_held_lock = threading.Lock()


class StoreClaim:
    """What a runtime holds; ``release`` once (later calls do nothing)."""

    def __init__(self, key: str) -> None:
        self._key: str | None = key

    def release(self) -> None:
        with _held_lock:
            key, self._key = self._key, None
            if key is None:
                return
            shared = _held[key]
            shared.count -= 1
            if shared.count == 0:
                del _held[key]
                shared.ownership.release()


def ownership_for(url: str, purpose: str) -> tuple[str, Ownership] | None:
    """The claim a store URL needs (with its identity), None for a private in-memory store."""
    parsed = make_url(url)
    where = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        database = sqlite_file(parsed.database or "")
        if database is None:
            return None
        path = Path(database).expanduser().resolve()
        lock = path.with_name(path.name + ".owner")
        return str(lock), FileLockOwnership(lock, str(path), purpose)
    if parsed.get_backend_name() == "postgresql":
        return where, AdvisoryLockOwnership(url, where, purpose)
    raise StoreError(
        f"the store at {where} is neither SQLite nor PostgreSQL, so Position Sync cannot make "
        "sure it is the only one syncing it"
    )


def claim_store(url: str, *, purpose: str, wait: float = 0.0) -> StoreClaim | None:
    """Own the store at ``url`` for this process, waiting up to ``wait`` s; ``StoreBusy`` if not."""
    found = ownership_for(url, purpose)
    if found is None:
        return None
    key, ownership = found
    with _held_lock:
        shared = _held.get(key)
        if shared is None:
            try:
                ownership.acquire(wait)
            except SQLAlchemyError as exc:
                ownership.release()
                cause = " ".join(str(getattr(exc, "orig", None) or exc).split("\n", 1)[0].split())
                raise StoreError(f"the store at {ownership.where} cannot be opened: {cause}") from None
            except BaseException:
                ownership.release()
                raise
            shared = _held[key] = _Shared(ownership)
        else:
            ownership.release()  # the claim this process holds already serves
        shared.count += 1
    return StoreClaim(key)
