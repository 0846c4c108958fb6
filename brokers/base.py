"""The one small protocol every broker adapter meets.

Adapters are read-only towards the broker: they fetch what it holds and may announce that
something changed; placing, modifying or cancelling orders is outside this protocol on purpose.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from position_sync.app.domain import BrokerSnapshot

PushHandler = Callable[[], None]


@runtime_checkable
class BrokerAdapter(Protocol):
    """What the sync worker needs of a broker.

    ``fetch`` returns the whole current picture or raises ``app.errors.ReadError`` (or its
    ``LoginRequired``); it never returns an empty snapshot for a failed read. ``on_push`` lets an
    adapter with a live feed ask for a sync of its account at once.
    """

    account_id: str

    async def fetch(self) -> BrokerSnapshot: ...

    def on_push(self, handler: PushHandler) -> None: ...

    async def close(self) -> None: ...
