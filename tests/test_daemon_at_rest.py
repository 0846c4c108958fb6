"""A daemon at rest does almost nothing: the book is not parsed again, the sides not keyed again,
calm matches not judged again, and nothing is written but the sync's own record.

Counted through the real worker (simulated broker, JSON file book, SQLite store), never timed;
and a change of either side after rest is seen at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from position_sync.app.books import FileBook
from position_sync.app.config import parse_settings
from position_sync.app.domain import BookSnapshot, BrokerSnapshot, Status
from position_sync.app.secrets import Secrets
from position_sync.app.symbols import Resolver
from position_sync.app.sync import SyncWorker
from position_sync.wiring import build_runtime
from tests.reconcile_helpers import pos

POSITIONS = [(f"NSE:SYM{i:03d}", i + 1, f"{100 + i}.5") for i in range(50)]


def write_scenario(folder: Path, quantity_of_first: int) -> None:
    lines = [
        f'  {{ symbol = "{s}", quantity = "{quantity_of_first if i == 0 else q}", average_price = "{p}" }},'
        for i, (s, q, p) in enumerate(POSITIONS)
    ]
    (folder / "scenario.toml").write_text("[[steps]]\npositions = [\n" + "\n".join(lines) + "\n]\n")


def write_book(folder: Path, extra: int = 0) -> None:
    book = [
        {"symbol": s, "quantity": q + (extra if i == 1 else 0), "average_price": p}
        for i, (s, q, p) in enumerate(POSITIONS)
    ]
    (folder / "book.json").write_text(json.dumps({"positions": book}))


def counting(target: Any, name: str) -> list[int]:
    """Count the calls of ``target.name`` (wrapped in place)."""
    calls = [0]
    original: Callable[..., Any] = getattr(target, name)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    setattr(target, name, wrapped)
    return calls


async def test_a_daemon_at_rest_parses_and_keys_nothing_again(tmp_path: Path) -> None:
    write_scenario(tmp_path, POSITIONS[0][1])
    write_book(tmp_path)
    raw = {
        "books": [{"id": "bot", "kind": "file", "path": "book.json"}],
        "accounts": [
            {
                "id": "sim",
                "broker": "simulated",
                "scenario": "scenario.toml",
                "book": "bot",
                "settle_seconds": 0,
            }
        ],
    }
    runtime = build_runtime(
        parse_settings(raw, tmp_path / "config.toml"), tmp_path / "data", secrets=Secrets(environ={})
    )
    worker = runtime.worker
    assert isinstance(worker, SyncWorker)
    await worker.load()
    book = runtime.books["bot"]
    assert isinstance(book, FileBook)
    resolver: Resolver = worker._accounts["sim"].resolver
    keyings = counting(resolver, "key_broker")
    try:
        first = await worker.sync("sim")
        assert first.rows["NSE:SYM000"].status is Status.MATCH
        for _ in range(5):
            again = await worker.sync("sim")
        assert book.parses == 1
        assert keyings[0] == 1
        assert all(again.rows[k] is first.rows[k] for k in first.rows)  # identity, all along
        assert runtime.store.count_history() == len(POSITIONS)  # the first sync's rows only

        # The book changes: parsed once more, keyed once more, the change seen at once.
        write_book(tmp_path, extra=3)
        changed = await worker.sync("sim")
        assert book.parses == 2 and keyings[0] == 2
        assert changed.rows["NSE:SYM001"].status is Status.QTY_MISMATCH
        assert changed.rows["NSE:SYM000"] is first.rows["NSE:SYM000"]
    finally:
        await runtime.close()


def test_keying_the_very_same_sides_again_hands_back_the_previous_result() -> None:
    resolver = Resolver(exchange="NSE")
    broker = BrokerSnapshot((pos("INFY", 5, 100, aliases=("INFOSYS",)),))
    book = BookSnapshot((pos("INFOSYS", 5, 100),), "f")
    keyed = resolver.key_sides(broker, book)
    assert keyed[1].positions[0].instrument == "NSE:INFY"  # the learned alias
    again = resolver.key_sides(BrokerSnapshot(broker.positions, broker.orders), book)  # a new {} of spellings
    assert again[0] is keyed[0] and again[1] is keyed[1]
    # Anything it depends on changed: keyed anew.
    resolver.learned.clear()
    fresh = resolver.key_sides(broker, book)
    assert fresh[0] is not keyed[0]
    assert fresh[1].positions[0].instrument == "NSE:INFY"
    other_book = BookSnapshot(book.positions, "f")
    assert resolver.key_sides(broker, other_book)[1] is not fresh[1]
    spelled = BrokerSnapshot(broker.positions, (), {"INFY-EQ": "NSE:INFY"})
    assert resolver.key_sides(spelled, other_book)[0] is not fresh[0]
