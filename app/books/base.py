"""The local side: what every kind of book offers the sync worker."""

from __future__ import annotations

from typing import Protocol

from position_sync.app.domain import BookSnapshot


class Book(Protocol):
    """A book is read whole each sync, off the event loop.

    ``read`` returns the positions of one account (``account`` matches the book's account column
    when it has one) or raises ``app.errors.ReadError`` naming the book and the cause: a failed
    read must never look like an empty book (safety rule 1).
    """

    id: str

    def read(self, account: str | None) -> BookSnapshot: ...
