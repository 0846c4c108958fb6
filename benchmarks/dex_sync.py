"""The DEX figures of issue 16: one sync of a 200-position wallet, and credits spent under pressure.

1. One sync of a wallet holding 200 positions against each fake (Pacifica, Hyperliquid) on
   loopback, after the market list is loaded: the adapter's read (the real ccxt client over
   HTTP, envelopes checked, rows to positions) and the whole sync through the runtime (read,
   a 200-line JSON book, reconcile, store). Median and slowest of ``--syncs``. Pacifica's marks
   are asked on every sync here (their few-seconds reuse switched off): the worst case.
2. Resync pressed as fast as possible: ``--callers`` loops calling ``fetch`` back to back for
   ``--seconds`` seconds (default 20: a full minute of pressing adds nothing but waiting; the
   credits a minute are the 20 s figure scaled to 60 s, and said so). Pacifica's fake enforces
   the unauthenticated limit (100 credits a rolling minute) and answers 429 past it; the
   figures are what it counted. Hyperliquid's weight (1200 a minute) the same way.

Run from the project root: ``python benchmarks/dex_sync.py [--syncs 20] [--seconds 20]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _rebuilt import every_memo_missing

from position_sync.app.broker import AdapterContext
from position_sync.app.config import AccountConfig, parse_settings
from position_sync.app.errors import ReadError
from position_sync.app.secrets import Secrets
from position_sync.brokers import ccxt_session, hyperliquid, pacifica
from position_sync.brokers.ccxt_adapter import CcxtAdapter
from position_sync.wiring import build_runtime
from tests.conftest import write_book
from tests.fakes.dex_rows import price_for
from tests.fakes.hyperliquid_server import WEIGHT_PER_MINUTE, FakeHyperliquidServer
from tests.fakes.pacifica_server import UNIDENTIFIED_QUOTA, FakePacificaServer

PACIFICA_WALLET = "42trU9A5fakeSoLanaAccount1111111111111111"
HYPERLIQUID_WALLET = "0x" + "ab" * 20
POSITIONS = 200


def _ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.1f} ms, slowest {max(values) * 1000:.1f} ms"


async def _timed(call: Callable[[], Awaitable[Any]], times: int) -> list[float]:
    await call()  # markets loaded, connections open
    took = []
    for _ in range(times):
        with every_memo_missing():  # each sync a whole build, as for a changed answer
            started = time.perf_counter()
            await call()
            took.append(time.perf_counter() - started)
    return took


def _account(broker: str, url: str, wallet: str) -> AccountConfig:
    return AccountConfig(
        id=broker, broker=broker, book="book", timeout=30, options={"wallet_address": wallet, "api_root": url}
    )


async def _one_sync(broker: str, url: str, wallet: str, book: list[dict[str, Any]], syncs: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        module = pacifica if broker == "pacifica" else hyperliquid
        adapter = module.create(_account(broker, url, wallet), AdapterContext(root / "a", Secrets({})))
        try:
            fetches = await _timed(adapter.fetch, syncs)
        finally:
            await adapter.close()
        write_book(root / "book.json", book)
        raw = {
            "books": [{"id": "bot", "kind": "file", "path": "book.json"}],
            "accounts": [
                {
                    "id": "dex",
                    "broker": broker,
                    "book": "bot",
                    "wallet_address": wallet,
                    "api_root": url,
                    "settle_seconds": 0,
                    "price_tolerance_rel": 1,
                }
            ],
        }
        runtime = build_runtime(parse_settings(raw, root / "config.toml"), root / "data", secrets=Secrets({}))
        await runtime.worker.load()
        try:
            results = []

            async def sync() -> None:
                results.append(await runtime.worker.sync("dex"))

            full = await _timed(sync, syncs)
        finally:
            await runtime.close()
        assert all(len(r.rows) == POSITIONS and r.error is None for r in results), results[-1].error
    print(f"  {broker:<11} fetch: {_ms(fetches)}; whole sync: {_ms(full)}  ({syncs} syncs)")


async def _press(adapter: CcxtAdapter, until: float, counts: dict[str, int]) -> None:
    while time.monotonic() < until:
        try:
            await adapter.fetch()
            counts["read"] += 1
        except ReadError as exc:
            counts["failed"] += 1
            counts["rate_limited"] += exc.kind == "rate_limited"


async def _pressed(adapter: CcxtAdapter, seconds: float, callers: int) -> tuple[dict[str, int], float]:
    counts = {"read": 0, "failed": 0, "rate_limited": 0}
    started = time.monotonic()
    until = started + seconds
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(_press(adapter, until, counts) for _ in range(callers))), seconds + 5
            )
    finally:
        await adapter.close()
    return counts, time.monotonic() - started


async def run(syncs: int, seconds: float, callers: int) -> None:
    print(f"One sync of a wallet holding {POSITIONS} positions, markets loaded (goal: under 300 ms):")
    original = (ccxt_session.MIN_SECONDS_BETWEEN_READS, pacifica.PRICES_MAX_AGE)
    ccxt_session.MIN_SECONDS_BETWEEN_READS, pacifica.PRICES_MAX_AGE = 0.0, 0.0
    try:
        # Timing only: the fake's credit headers must not make the adapter hold back here.
        with FakePacificaServer(enforce_limit=False, quota=1e6) as server:
            rows = server.open_positions(PACIFICA_WALLET, POSITIONS)
            book = [
                {"symbol": r["symbol"], "quantity": float(r["amount"]) * (1 if r["side"] == "bid" else -1)}
                for r in rows
            ]
            await _one_sync("pacifica", server.url, PACIFICA_WALLET, book, syncs)
        with FakeHyperliquidServer(enforce_limit=False) as server:
            entries = server.open_positions(HYPERLIQUID_WALLET, POSITIONS)
            book = [
                {
                    "symbol": e["position"]["coin"],
                    "quantity": e["position"]["szi"],
                    "average_price": price_for(e["position"]["coin"]),
                }
                for e in entries
            ]
            await _one_sync("hyperliquid", server.url, HYPERLIQUID_WALLET, book, syncs)
    finally:
        ccxt_session.MIN_SECONDS_BETWEEN_READS, pacifica.PRICES_MAX_AGE = original

    print(
        f"\nResync pressed as fast as possible: {callers} callers, {seconds:.0f} s measured "
        "(per-minute figures are that scaled to 60 s):"
    )
    with tempfile.TemporaryDirectory() as folder, FakePacificaServer() as server:
        server.open_positions(PACIFICA_WALLET, 16)
        account = _account("pacifica", server.url, PACIFICA_WALLET)
        counts, elapsed = await _pressed(
            pacifica.create(account, AdapterContext(Path(folder), Secrets({}))), seconds, callers
        )
        refused = len(server.requests) - len(server.charges)
        print(
            f"  pacifica    {counts['read']} reads, {counts['failed']} failed ({counts['rate_limited']} "
            f"rate limited); {server.credits_used():.0f} credits in {elapsed:.1f} s = "
            f"{server.credits_used() / elapsed * 60:.0f} credits a minute, most in any 60 s "
            f"{server.max_credits_per_window():.0f}; unauthenticated limit {UNIDENTIFIED_QUOTA:.0f} a "
            f"minute; 429s answered: {refused}"
        )
    with tempfile.TemporaryDirectory() as folder, FakeHyperliquidServer() as server:
        server.open_positions(HYPERLIQUID_WALLET, 16)
        account = _account("hyperliquid", server.url, HYPERLIQUID_WALLET)
        counts, elapsed = await _pressed(
            hyperliquid.create(account, AdapterContext(Path(folder), Secrets({}))), seconds, callers
        )
        print(
            f"  hyperliquid {counts['read']} reads, {counts['failed']} failed; weight "
            f"{server.weight_used():.0f} in {elapsed:.1f} s = {server.weight_used() / elapsed * 60:.0f} a "
            f"minute (the market list's 20 included), most in any 60 s "
            f"{server.max_weight_per_window():.0f}; limit {WEIGHT_PER_MINUTE:.0f} a minute"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--syncs", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--callers", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(run(args.syncs, args.seconds, args.callers))


if __name__ == "__main__":
    main()
