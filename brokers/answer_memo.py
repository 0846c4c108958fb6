"""An unchanged broker answer is not rebuilt: the same raw answer hands back the same objects.

A daemon at rest reads the same answer from its broker sync after sync. The core skips keying
and judging only when it is handed the *very* positions tuple of the last sync
(``AccountMemory.judged_from_same`` compares by identity), so an adapter that builds fresh
``Position`` objects from an unchanged answer makes every sync at rest pay for the whole
account twice: once here, once in the core. Each adapter therefore keeps one ``AnswerMemo``
per thing it builds, keyed on what it decoded from the wire *before* building (the list of
dicts a client library returned, a tuple of the stream entries it holds), and hands back what
it built last time when the key compares equal: one comparison done in C instead of a rebuild.

The rules every use keeps, because a wrong memo shows a stale picture, which is worse than slow:

- Everything the built value depends on is in the key: besides the raw rows, the market list
  or contract details joined in, marks fetched apart, the day a key file is refreshed on. What
  cannot be put in the key is not memoised.
- Only a complete, good answer is remembered (``remember`` is called after the build and every
  check of the answer succeeded), and a failed read raises before the memo is asked: a failure
  is never answered with the remembered value (safety rule 1).
- Keys are compared with ``==``, which for the JSON an exchange sends is equality of content:
  ``[{"qty": "1"}] == [{"qty": "1"}]`` decoded twice. Values that are equal by ``==`` build
  equal positions (``1`` and ``1.0`` are the same Decimal once read), save one corner: JSON's
  ``true`` equals ``1``, so an answer that turned a number into ``true`` between two syncs, which
  the builder would refuse, is taken as the previous one. Where "the same" must mean the same
  objects (IB's contract compares equal by conId alone, whatever its details), wrap them in
  ``Same``.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class AnswerMemo(Generic[T]):
    """What was built from the last good answer, and the key of that answer."""

    __slots__ = ("_built", "_key")

    def __init__(self) -> None:
        self._key: object = None
        self._built: T | None = None

    def recall(self, key: object) -> T | None:
        """What was built from an answer equal to ``key``; None when there is none."""
        built = self._built
        if built is not None and self._key == key:
            return built
        return None

    def remember(self, key: object, built: T) -> T:
        """Keep ``built`` as what ``key`` builds; call only once the whole answer was good.

        ``key`` is kept as it is, so it must not be changed afterwards: decoded answers are
        fresh objects per request, and a table that changes in place is copied first.
        """
        self._key, self._built = key, built
        return built

    def forget(self) -> None:
        self._key, self._built = None, None


class Same:
    """A key part equal only to one holding the very same objects, in the same order.

    For state kept between reads whose objects are replaced, never changed, when the broker says
    something new (IB's stream entries): identity then means "no message since", and it is
    checked in C (``map(operator.is_)``) however many entries there are.
    """

    __slots__ = ("items",)

    def __init__(self, items: Sequence[object]) -> None:
        self.items = tuple(items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Same):
            return NotImplemented
        mine, theirs = self.items, other.items
        return len(mine) == len(theirs) and all(map(operator.is_, mine, theirs))

    def __hash__(self) -> int:
        return hash(tuple(map(id, self.items)))
