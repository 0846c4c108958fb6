"""Keeping SQLite's write-ahead log small while a daemon or the window saves all day.

SQLite's own checkpoints (at 1,000 pages, passive) copy the log into the database but leave the
log file at the largest size it ever had, so after a day of syncs the files on disk were about
twice the database. After a save that left the log over ``WAL_SIZE_LIMIT`` (one ``stat``), and
anyway every ``EVERY_SAVES`` saves or ``EVERY_SECONDS``, the saving thread asks for a
``TRUNCATE`` checkpoint, which copies the log into the database and cuts it to zero bytes; with
``journal_size_limit`` (set with the other pragmas) SQLite's own checkpoints cut it back too. So
the log stays under the limit plus one save.

A checkpoint never blocks readers (the window reads the same file from another process): new
readers go on while it waits, and it waits for the old ones for ``WAIT_MS`` at most instead of
the store's five seconds, so the save that triggered it is not held up by a long read. One that
could not finish (a reader still on the log) is simply tried again a period later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from position_sync.app.store.engine import BUSY_TIMEOUT_MS, WAL_SIZE_LIMIT

log = logging.getLogger(__name__)

# Besides the size, a checkpoint after this many saves or this many seconds since the last one,
# whichever is first, so a log that never reaches the limit is emptied too.
EVERY_SAVES = 100
EVERY_SECONDS = 300.0
# How long the checkpoint waits for readers that are still on the log before giving up for now.
WAIT_MS = 200


class WalTrimmer:
    """Watches one SQLite store's write-ahead log after each save and truncates it when due.

    Called by the thread that saves, right after a save committed, so the checkpoint never
    competes with this process's own writes.
    """

    def __init__(
        self,
        engine: Engine,
        wal: Path,
        *,
        limit: int = WAL_SIZE_LIMIT,
        every_saves: int = EVERY_SAVES,
        every_seconds: float = EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.wal = wal
        self.limit = limit
        self.every_saves = every_saves
        self.every_seconds = every_seconds
        self._clock = clock
        self._saves = 0
        self._since = clock()
        self.checkpoints = 0  # completed ones, for tests and benchmarks

    def saved(self) -> None:
        self._saves += 1
        if (
            self._saves >= self.every_saves
            or self._clock() - self._since >= self.every_seconds
            or self._wal_size() > self.limit
        ):
            self.truncate()

    def _wal_size(self) -> int:
        try:
            return self.wal.stat().st_size
        except OSError:  # no log yet (or gone): nothing to cut
            return 0

    def truncate(self) -> bool:
        """One ``TRUNCATE`` checkpoint; whether it completed. A failure is logged, never raised:
        the save before it committed, and a log left long only costs disk space until the next."""
        self._saves = 0
        self._since = self._clock()
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql(f"PRAGMA busy_timeout={WAIT_MS}")
                try:
                    busy = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").scalar()
                finally:
                    connection.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except SQLAlchemyError as exc:
            log.warning("could not checkpoint the store's write-ahead log: %s", exc)
            return False
        if busy:
            log.debug("write-ahead log checkpoint postponed: a reader is still on it")
            return False
        self.checkpoints += 1
        return True
