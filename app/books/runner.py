"""Running reads that may block, so that one which never returns can be abandoned for real.

A book read can block in a place no timeout of ours reaches: ``open()`` on a FIFO, a network file
system that stopped answering, a driver waiting on a lock. ``ThreadPoolExecutor`` would be the
obvious home for such reads, but its worker threads are joined when the interpreter exits, so a
single stuck read kept ``sync --once`` and a SIGTERM'd daemon alive long after the sync had given
up on it. Here each read runs on a daemon thread of its own: the worker awaits it with the
account's timeout, and once the timeout has passed nothing waits for it any more, not even the
exit of the process.

The books bound their own reads as well (SQL statement and lock timeouts, an HTTP deadline,
refusing non-regular files), so an abandoned thread normally ends soon after; the executor only
makes sure that one which does not end cannot hold the program hostage.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

T = TypeVar("T")


class DaemonThreadExecutor(Executor):
    """``submit`` runs each call on a new daemon thread; ``shutdown`` never joins a thread.

    A thread per call rather than a pool: a pool's threads stuck in a read would starve every
    later read of every book, and reads are few (one per account and interval).
    """

    def __init__(self, thread_name_prefix: str = "position-sync-read") -> None:
        self._prefix = thread_name_prefix
        self._lock = threading.Lock()
        self._closed = False
        self._count = 0
        self._running: set[threading.Thread] = set()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule a read after shutdown")
            self._count += 1
            name = f"{self._prefix}-{self._count}"

        def run() -> None:
            try:
                if not future.set_running_or_notify_cancel():
                    return
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:  # handed to whoever awaits the future
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            finally:
                with self._lock:
                    self._running.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=name, daemon=True)
        with self._lock:
            self._running.add(thread)
        thread.start()
        return future

    @property
    def running(self) -> int:
        """Threads still running, abandoned ones included (for tests and diagnostics)."""
        with self._lock:
            return len(self._running)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse new reads; running ones are left to end on their own, never waited for.

        ``wait`` is accepted for the ``Executor`` interface and ignored on purpose: waiting is
        exactly what let a blocked read outlive its timeout.
        """
        with self._lock:
            self._closed = True
