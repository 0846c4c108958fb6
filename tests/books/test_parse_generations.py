"""A parsed book's positions go straight to the collector's old generation.

Counted, not timed: which generation holds the positions after a read, and how many objects are
frozen. Each test starts with nothing frozen and leaves nothing frozen.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from position_sync.app.books import FileBook
from position_sync.app.config import BookConfig
from position_sync.app.domain import BookSnapshot


@pytest.fixture(autouse=True)
def nothing_frozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def read_book(tmp_path: Path, lines: int) -> BookSnapshot:
    path = tmp_path / "book.json"
    positions = [{"symbol": f"NSE:S{n}", "quantity": n + 1, "average_price": "10.5"} for n in range(lines)]
    path.write_text(json.dumps({"positions": positions}))
    return FileBook(BookConfig("bot", "file", path=path)).read(None)


def test_a_parse_leaves_its_positions_old_and_nothing_frozen(tmp_path: Path) -> None:
    snapshot = read_book(tmp_path, 2_000)
    old = {id(o) for o in gc.get_objects(generation=2)}
    assert gc.get_freeze_count() == 0
    assert all(id(p) in old for p in snapshot.positions)
    assert gc.isenabled()


def test_when_the_window_froze_objects_a_parse_freezes_its_own_and_unfreezes_none(tmp_path: Path) -> None:
    kept = [[n] for n in range(100)]  # what the window froze after its last result
    gc.freeze()
    frozen = gc.get_freeze_count()
    snapshot = read_book(tmp_path, 2_000)
    assert gc.get_freeze_count() >= frozen + len(snapshot.positions)
    assert len(kept) == 100
