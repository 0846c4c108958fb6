"""What a presenter may use of the controller's run, and nothing more.

Presenters read the store and write acknowledgements or book fixes, always off the UI thread and
always as tasks the controller cancels at quit; the runtime itself is swapped when the settings
change, so presenters ask for it each time instead of keeping one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from position_sync.app.config import Settings
from position_sync.app.feed import Feed
from position_sync.app.runtime import Runtime
from position_sync.app.store import Store

T = TypeVar("T")


class Reader(Protocol):
    """Runs a blocking call (the store, a book's database) on the window's store thread."""

    def __call__(self, function: Callable[[], T], /) -> Awaitable[T]: ...


class Keeper(Protocol):
    """Runs a coroutine as a task the controller cancels and awaits at quit."""

    def __call__(self, coroutine: Coroutine[Any, Any, T], /) -> asyncio.Future[T]: ...


@dataclass(frozen=True)
class Context:
    runtime: Callable[[], Runtime]  # the current one: a new one replaces it on new settings
    read: Reader
    keep: Keeper
    clock: Callable[[], datetime]
    generation: Callable[[], int]  # bumped with each new runtime: older reads are dropped

    @property
    def worker(self) -> Feed:
        return self.runtime().worker

    @property
    def store(self) -> Store:
        return self.runtime().store

    @property
    def settings(self) -> Settings:
        return self.runtime().settings

    def viewing(self) -> bool:
        """Whether this window only watches a store the daemons write (``app.team.viewer``)."""
        return self.runtime().settings.team.viewer

    def currency_of(self, account: str) -> str | None:
        try:
            return self.settings.account(account).currency
        except Exception:
            return None
