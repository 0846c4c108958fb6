"""From a position change pushed by the fake TWS to the push handler, and to a fresh snapshot.

Each of N rounds changes one position at the fake (which sends the position and the portfolio
update to the client), then measures until the adapter's push handler runs and until ``fetch``
returns a snapshot holding the new quantity. Run from the project root:
``python benchmarks/ibkr_push.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from position_sync.app.broker import AdapterContext
from position_sync.app.config import AccountConfig
from position_sync.app.secrets import Secrets
from position_sync.brokers import ibkr
from tests.fakes.tws_server import FakeContract, FakeTws

ACCOUNT = "U1111111"


async def main(rounds: int, positions: int) -> None:
    server = FakeTws(accounts=[ACCOUNT, "U2222222"])
    contracts = [FakeContract("STK", f"S{n:04d}", 2_000_000 + n, f"S{n:04d}") for n in range(positions)]
    for contract in contracts:
        server.set_position(ACCOUNT, contract, "10", "100.5", market_price="101")
    await server.start()
    context = AdapterContext(data_dir=Path(tempfile.mkdtemp(prefix="ps-bench-ib-")), secrets=Secrets({}))
    adapter = ibkr.create(
        AccountConfig(
            id="ib1", broker="ibkr", book="b", options={"port": server.port, "ib_account": ACCOUNT}
        ),
        context,
    )
    pushed = asyncio.Event()
    adapter.on_push(pushed.set)
    to_handler: list[float] = []
    to_snapshot: list[float] = []
    try:
        await adapter.fetch()
        for n in range(rounds):
            contract = contracts[n % len(contracts)]
            quantity = Decimal(11 + n)
            key = f"STK:{contract.local_symbol}:USD"
            pushed.clear()
            start = time.perf_counter()
            await server.update_position(ACCOUNT, contract, str(quantity), "100.5", market_price="101")
            await asyncio.wait_for(pushed.wait(), 1.0)
            to_handler.append(time.perf_counter() - start)
            snapshot = await adapter.fetch()
            to_snapshot.append(time.perf_counter() - start)
            row = next(p for p in snapshot.positions if p.instrument == key)
            assert row.quantity == quantity, (row, quantity)
    finally:
        await adapter.close()
        await server.stop()
        shutil.rmtree(context.data_dir, ignore_errors=True)
    print(f"IB push, {rounds} changes, account with {positions} positions")
    for name, values in (("change -> handler called", to_handler), ("change -> new snapshot", to_snapshot)):
        print(f"  {name}: median {statistics.median(values) * 1000:.2f} ms, max {max(values) * 1000:.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--positions", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.positions))
