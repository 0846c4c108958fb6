"""CPU per sync of a real broker account at rest: the adapters' answer memo against a rebuild.

Issue 19 asks that a daemon at rest costs almost nothing. The core skips keying and judging when
an adapter hands back the very positions of the last sync (``brokers.answer_memo``); this prints
what that is worth with a real adapter and its real client library against the fakes in
``tests/fakes``: Kite (kiteconnect over HTTP) and Binance USD-M (ccxt), a few thousand positions
each and a JSON file book holding the same, synced through the real ``SyncWorker`` and store.

Each fake runs in a child process, so the CPU counted (``time.process_time`` of this process:
the loop, the adapter's threads and the store's) is the monitor's alone, the answer's decoding
by the client library included. In one run, after the account reaches rest, ``--syncs`` syncs
are timed as they are and as many with every memo forced to miss (``AnswerMemo.recall`` patched
to remember nothing: what each sync cost before), with the keyings of the broker side counted.
Asserts nothing.

Run from the project root: ``python benchmarks/broker_at_rest.py [--positions N] [--syncs N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _rebuilt import every_memo_missing  # noqa: E402
from exchange_sync import binance_fake  # noqa: E402
from kite_sync import positions as kite_rows  # noqa: E402

from position_sync.app.broker import AdapterContext, BrokerAdapter  # noqa: E402
from position_sync.app.config import parse_settings  # noqa: E402
from position_sync.app.runtime import build_books  # noqa: E402
from position_sync.app.secrets import Secrets  # noqa: E402
from position_sync.app.store import Store  # noqa: E402
from position_sync.app.sync import SyncWorker  # noqa: E402
from position_sync.brokers import binance  # noqa: E402
from position_sync.brokers import ccxt_session as session_module  # noqa: E402
from position_sync.brokers.kite import KiteAdapter  # noqa: E402
from position_sync.brokers.rate_limit import SlidingWindowLimiter  # noqa: E402
from tests.conftest import write_book  # noqa: E402
from tests.fakes.kite_server import FakeKiteServer  # noqa: E402

SECRET_VARIABLE = "BENCH_AT_REST_SECRET"


@dataclass(frozen=True)
class Served:
    """What the parent needs of a fake running in a child process."""

    url: str
    api_key: str
    secret: str
    book: list[dict[str, Any]]


def serve_kite(count: int, pipe: Connection) -> None:
    with FakeKiteServer(api_key="bench_at_rest_key") as kite:
        rows = kite_rows(count)
        kite.set_positions(rows)
        kite.set_holdings([])
        kite.set_orders([])
        book = [
            {"symbol": f"{r['exchange']}:{r['tradingsymbol']}", "quantity": r["quantity"]}
            for r in rows
            if r["quantity"]
        ]
        pipe.send(Served(kite.url, kite.api_key, kite.access_token, book))
        pipe.recv()  # until the parent is done


def serve_binance(count: int, pipe: Connection) -> None:
    fake = binance_fake(count)
    try:
        rows = fake._state.positions
        book = [{"symbol": r["symbol"], "quantity": r["positionAmt"], "average_price": "1.5"} for r in rows]
        pipe.send(Served(fake.url, fake.api_key, "bench-secret", book))
        pipe.recv()
    finally:
        fake.stop()


@contextmanager
def fake_in_child(serve: Callable[[int, Connection], None], count: int) -> Iterator[Served]:
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(target=serve, args=(count, child), daemon=True)
    process.start()
    try:
        served = parent.recv()
        assert isinstance(served, Served)
        yield served
    finally:
        parent.send("stop")
        process.join(timeout=10)


async def measure(name: str, served: Served, root: Path, syncs: int) -> None:
    write_book(root / "book.json", served.book)
    options: dict[str, Any] = {"api_key": served.api_key, "api_root": served.url}
    if name == "kite":
        options |= {"access_token_env": SECRET_VARIABLE, "exchange": "NFO"}
    else:
        options |= {"api_secret_env": SECRET_VARIABLE}
    raw = {
        "books": [{"id": "bot", "kind": "file", "path": "book.json"}],
        "accounts": [
            {"id": "acct", "broker": name, "book": "bot", "timeout": 30, "settle_seconds": 0, **options}
        ],
    }
    settings = parse_settings(raw, root / "config.toml")
    secrets = Secrets({SECRET_VARIABLE: served.secret})
    context = AdapterContext(root / "data", secrets)
    adapter: BrokerAdapter
    if name == "kite":
        # A roomy limiter: the figure is a sync's CPU, not Kite's three requests a second.
        adapter = KiteAdapter(settings.accounts[0], context, limiter=SlidingWindowLimiter(1000, 1.0))
    else:
        session_module.MIN_SECONDS_BETWEEN_READS = 0.0  # likewise the one-read-a-second pacing
        adapter = binance.create(settings.accounts[0], context)
    store = Store.open(root / "data")
    worker = SyncWorker(settings, store, {"acct": adapter}, build_books(settings, secrets))
    await worker.load()
    resolver = worker._accounts["acct"].resolver
    keyings = [0]
    key_broker = resolver.key_broker

    def counted(positions: Any) -> Any:
        keyings[0] += 1
        return key_broker(positions)

    resolver.key_broker = counted  # type: ignore[method-assign]
    try:
        for _ in range(3):  # loaded, keyed, judged, stored: then at rest
            result = await worker.sync("acct")
        figures: dict[str, tuple[float, int]] = {}
        for phase in ("memo", "rebuilt"):
            before = keyings[0]
            times = []
            with every_memo_missing() if phase == "rebuilt" else nullcontext():
                for _ in range(syncs):
                    started = time.process_time()
                    result = await worker.sync("acct")
                    times.append(time.process_time() - started)
            figures[phase] = (statistics.median(times), keyings[0] - before)
    finally:
        await worker.stop()
        await adapter.close()
        store.close()
    rows = len(result.rows)
    memo, rebuilt = figures["memo"], figures["rebuilt"]
    print(f"{name}: {rows:,} rows, state {result.state.value}; CPU per sync at rest, median of {syncs}:")
    print(f"  answer memo:    {memo[0] * 1000:7.1f} ms   (broker side keyed {memo[1]} times)")
    print(f"  forced rebuild: {rebuilt[0] * 1000:7.1f} ms   (broker side keyed {rebuilt[1]} times)")
    print(f"  memo / rebuild: {memo[0] / rebuilt[0]:7.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=3000)
    parser.add_argument("--syncs", type=int, default=15)
    args = parser.parse_args()
    for name, serve in (("kite", serve_kite), ("binance", serve_binance)):
        with (
            tempfile.TemporaryDirectory(prefix=f"position-sync-rest-{name}-") as folder,
            fake_in_child(serve, args.positions) as served,
        ):
            asyncio.run(measure(name, served, Path(folder), args.syncs))


if __name__ == "__main__":
    main()
