"""Connect and first snapshot of two IB accounts with 500 positions each, against the fake TWS.

Prints the wall time from the first ``fetch`` (which opens the shared connection, waits for the
whole position download and the portfolio stream of the first account) to both snapshots built.
Run from the project root: ``python benchmarks/ibkr_connect.py [--runs N] [--positions N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from position_sync.app.broker import AdapterContext
from position_sync.app.config import AccountConfig
from position_sync.app.secrets import Secrets
from position_sync.brokers import ibkr
from tests.fakes.tws_server import FakeContract, FakeTws

ACCOUNTS = ("U1111111", "U2222222")


def populate(server: FakeTws, per_account: int) -> None:
    """Stocks, options and futures in the proportions of a busy options trader's book."""
    con_id = 1_000_000
    for account in ACCOUNTS:
        for n in range(per_account):
            con_id += 1
            kind = n % 5
            if kind < 3:
                contract = FakeContract("STK", f"S{n:04d}", con_id, f"S{n:04d}")
                avg, price = f"{100 + n % 37}.{n % 100:02d}", f"{101 + n % 37}.5"
            elif kind == 3:
                root = f"O{n % 1000:03d}"
                strike = 100 + n % 50
                local = f"{root:<6}251219C{strike * 1000:08d}"
                contract = FakeContract(
                    "OPT", root, con_id, local, "20251219", str(strike), "C", "100", trading_class=root
                )
                avg, price = f"{250 + n % 90}.3", "2.75"
            else:
                contract = FakeContract("FUT", "ES", con_id, f"ESZ{n % 10}", "20251219", multiplier="50")
                avg, price = "250012.5", "5010.25"
            server.set_position(account, contract, str(n % 7 + 1), avg, market_price=price)


async def one_run(per_account: int) -> tuple[float, int]:
    server = FakeTws(accounts=ACCOUNTS)
    populate(server, per_account)
    await server.start()
    context = AdapterContext(data_dir=Path(tempfile.mkdtemp(prefix="ps-bench-ib-")), secrets=Secrets({}))
    adapters = [
        ibkr.create(
            AccountConfig(
                id=f"ib{i}", broker="ibkr", book="b", options={"port": server.port, "ib_account": a}
            ),
            context,
        )
        for i, a in enumerate(ACCOUNTS)
    ]
    try:
        start = time.perf_counter()
        snapshots = await asyncio.gather(*(adapter.fetch() for adapter in adapters))
        elapsed = time.perf_counter() - start
        return elapsed, sum(len(s.positions) for s in snapshots)
    finally:
        for adapter in adapters:
            await adapter.close()
        await server.stop()
        shutil.rmtree(context.data_dir, ignore_errors=True)


async def main(runs: int, per_account: int) -> None:
    timings = []
    for _ in range(runs):
        elapsed, count = await one_run(per_account)
        assert count == per_account * len(ACCOUNTS), count
        timings.append(elapsed)
    print(f"IB connect + first snapshot, {len(ACCOUNTS)} accounts x {per_account} positions, {runs} runs")
    print(
        f"  median {statistics.median(timings) * 1000:.1f} ms, min {min(timings) * 1000:.1f} ms, "
        f"max {max(timings) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--positions", type=int, default=500, help="per account")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.positions))
