"""Binance and Bybit accounts against their fakes: the figures issue 15 names.

1. One sync (``fetch``) of an account with 500 positions, markets loaded: median of ``--runs``.
2. The first sync of a fresh process (``position-sync sync --once`` in a subprocess), with the
   market list cached on disk by an earlier run and without it.
3. Requests and weight while resync is pressed as fast as possible for ``--press`` seconds,
   scaled to a minute, next to each exchange's own limit (and the fake's own count of the
   heaviest 60-second window, which is what the exchange would judge).

Everything is the real adapter and the real ccxt client over HTTP on 127.0.0.1. Run from the
project root: ``python -m benchmarks.exchange_sync [--runs N] [--positions N] [--press S]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.request import urlopen

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _rebuilt import every_memo_missing

from position_sync.app.broker import AdapterContext
from position_sync.app.config import AccountConfig
from position_sync.app.secrets import Secrets
from position_sync.brokers import binance, bybit
from position_sync.brokers import ccxt_session as session_module
from tests.fakes.binance_rows import position_row as binance_row
from tests.fakes.binance_server import POSITION_RISK, FakeBinanceServer
from tests.fakes.bybit_rows import linear_instrument
from tests.fakes.bybit_rows import position_row as bybit_row
from tests.fakes.bybit_server import POSITIONS, FakeBybitServer

MARKET_PATH = {
    "binance": "/fapi/v1/exchangeInfo",
    "bybit": "/v5/market/instruments-info?category=linear&limit=1000",
}
SECRET = "bench-secret"
VARIABLE = "BENCH_EXCHANGE_SECRET"
Fake = FakeBinanceServer | FakeBybitServer


def symbols(count: int) -> list[str]:
    return [f"B{index:04d}USDT" for index in range(count)]


def binance_fake(count: int) -> FakeBinanceServer:
    fake = FakeBinanceServer(api_secret=SECRET, markets=count + 12).start()
    listed = [m["symbol"] for m in fake._state.futures_markets if m["symbol"].endswith("USDT")][:count]
    fake.set_positions(
        [
            binance_row(s, f"{(n % 7 + 1) * (-1 if n % 3 == 0 else 1)}", "1.5", "1.6", quantity_decimals=0)
            for n, s in enumerate(listed)
        ]
    )
    return fake


def bybit_fake(count: int) -> FakeBybitServer:
    fake = FakeBybitServer(api_secret=SECRET).start()
    fake.set_instruments("linear", [linear_instrument(s, s[:-4]) for s in symbols(count)])
    fake.set_positions(
        [
            bybit_row(s, f"{n % 7 + 1}", "Sell" if n % 3 == 0 else "Buy", "1.5", "1.6")
            for n, s in enumerate(symbols(count))
        ]
    )
    return fake


def account(broker: str, fake: Fake) -> AccountConfig:
    return AccountConfig(
        id=f"{broker}-bench",
        broker=broker,
        book="book",
        timeout=10.0,
        options={"api_key": fake.api_key, "api_secret_env": VARIABLE, "api_root": fake.url},
    )


async def one_sync_median(broker: str, fake: Fake, data: Path, runs: int) -> tuple[float, int]:
    module = binance if broker == "binance" else bybit
    adapter = module.create(account(broker, fake), AdapterContext(data, Secrets({VARIABLE: SECRET})))
    try:
        snapshot = await adapter.fetch()  # markets loaded, the key looked at
        times = []
        for _ in range(runs):
            with every_memo_missing():  # each sync a whole build, as for a changed answer
                started = time.perf_counter()
                snapshot = await adapter.fetch()
                times.append(time.perf_counter() - started)
        return statistics.median(times), len(snapshot.positions)
    finally:
        await adapter.close()


def first_sync_of_a_process(broker: str, fake: Fake, root: Path, cached: bool) -> tuple[float, int]:
    """``sync --once`` in a new process; the market list on disk from an earlier run or not."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "book.json").write_text('{"positions": []}')
    config = root / "config.toml"
    config.write_text(
        '[[books]]\nid = "bot"\nkind = "file"\npath = "book.json"\n\n'
        f'[[accounts]]\nid = "x"\nbroker = "{broker}"\nbook = "bot"\napi_key = "{fake.api_key}"\n'
        f'api_secret_env = "{VARIABLE}"\napi_root = "{fake.url}"\ntimeout = 30\n'
    )
    data = root / "data"
    command = [
        sys.executable,
        "-m",
        "position_sync.cli",
        "--config",
        str(config),
        "--data-dir",
        str(data),
        "sync",
        "--once",
    ]
    env = {**os.environ, VARIABLE: SECRET}
    if cached:
        subprocess.run(command, env=env, capture_output=True, check=False)
    else:
        shutil.rmtree(data / "markets", ignore_errors=True)
    fake.clear_requests()
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"sync --once failed ({done.returncode}): {done.stderr[-500:]}")
    return elapsed, len(fake.requests)


async def pressed(broker: str, fake: Fake, data: Path, seconds: float) -> tuple[int, int]:
    """Fetch back to back for ``seconds`` (the worker would run them one after another)."""
    module = binance if broker == "binance" else bybit
    adapter = module.create(account(broker, fake), AdapterContext(data, Secrets({VARIABLE: SECRET})))
    reads = 0
    try:
        await adapter.fetch()
        fake.clear_requests()
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:
            await adapter.fetch()
            reads += 1
    finally:
        await adapter.close()
    return reads, len(fake.requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--positions", type=int, default=500)
    parser.add_argument("--press", type=float, default=20.0)
    args = parser.parse_args()
    print(
        f"ccxt {__import__('ccxt').__version__}; {args.positions} positions a account; medians of {args.runs}"
    )
    for broker, make in (("binance", binance_fake), ("bybit", bybit_fake)):
        fake = make(args.positions)
        root = Path(tempfile.mkdtemp(prefix=f"bench-{broker}-"))
        try:
            session_module.MIN_SECONDS_BETWEEN_READS = 0.0  # the figure is a sync's cost, not the pacing
            median, held = asyncio.run(one_sync_median(broker, fake, root / "one", args.runs))
            print(
                f"{broker}: one sync of {held} positions, markets loaded: {median * 1000:.0f} ms median (goal < 300 ms)"
            )
            market_bytes = len(urlopen(f"{fake.url}{MARKET_PATH[broker]}").read())
            cold, cold_requests = first_sync_of_a_process(broker, fake, root / "cold", cached=False)
            warm, warm_requests = first_sync_of_a_process(broker, fake, root / "warm", cached=True)
            print(
                f"{broker}: first sync of a fresh process: {warm:.2f} s and {warm_requests} requests with the "
                f"market list on disk, {cold:.2f} s and {cold_requests} requests without; the list not "
                f"fetched is {market_bytes / 1e6:.2f} MB here (loopback hides its transfer time)"
            )
            session_module.MIN_SECONDS_BETWEEN_READS = 1.0
            reads, sent = asyncio.run(pressed(broker, fake, root / "press", args.press))
            scale = 60.0 / args.press
            path = POSITION_RISK if broker == "binance" else POSITIONS
            if isinstance(fake, FakeBinanceServer):
                weight = fake.max_weight_in_window("fapi", 60.0)
                print(
                    f"{broker}: resync pressed for {args.press:.0f} s: {reads} reads, {sent} requests "
                    f"({sent * scale:.0f} a minute), heaviest 60 s of fapi weight {weight} of Binance's 2400"
                )
            else:
                busiest = fake.max_requests_in_window(1.0, path)
                print(
                    f"{broker}: resync pressed for {args.press:.0f} s: {reads} reads, {sent} requests "
                    f"({sent * scale:.0f} a minute), at most {busiest} a second on {path} of Bybit's 50"
                )
        finally:
            fake.stop()
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
