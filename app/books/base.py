"""The local side: what every kind of book offers the sync worker."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from position_sync.app.domain import BookSnapshot


class Book(Protocol):
    """A book is read whole each sync, off the event loop.

    ``read`` returns the positions of one account (``account`` matches the book's account column
    when it has one) or raises ``app.errors.ReadError`` naming the book and the cause: a failed
    read must never look like an empty book (safety rule 1).
    """

    id: str

    def read(self, account: str | None) -> BookSnapshot: ...


@runtime_checkable
class Forgetful(Protocol):
    """A book whose read may answer from what it read before on a sign its source cannot vouch
    for: a SQL book trusting its change probe, which a probe such as ``max(updated_at)`` can
    miss. When the user asks to look now (resync, a fix written, a viewer's request), the sync
    worker has it ``forget``, so that look is a full read. Books whose reuse is exact (a file's
    content hash, an HTTP 304) need not be."""

    def forget(self) -> None: ...
