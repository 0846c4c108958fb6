"""One fetch of a large Kite account against the fake Kite: time from trigger to snapshot.

The account holds 1,000 positions (options, futures, MCX, a few closed today) and 500 delivery
holdings, plus 200 orders of which a quarter are still working. Each run is one ``fetch`` of
the real adapter with the real ``kiteconnect`` client over HTTP on 127.0.0.1: the three reads
in parallel, kiteconnect's JSON decoding, and the conversion of every row to exact Decimals.
Runs are spaced by the adapter's rate window (outside the timing), so the figure is the cost
of a sync and not of the rate limiter. Each run builds its positions anew, as for a changed
answer (``_rebuilt``); an unchanged one is ``broker_at_rest.py``'s figure.

Run from the project root: ``python benchmarks/kite_sync.py [--runs N] [--positions N] [--holdings N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _rebuilt import every_memo_missing

from position_sync.app.broker import AdapterContext
from position_sync.app.config import AccountConfig
from position_sync.app.secrets import Secrets
from position_sync.brokers.kite import RATE_WINDOW_SECONDS, create
from tests.fakes.kite_server import FakeKiteServer, holding_row, order_row, position_row


def positions(count: int) -> list[dict[str, Any]]:
    rows = []
    for n in range(count):
        kind = n % 10
        if kind < 6:
            strike = 24000 + 50 * (n % 40)
            # n in the symbol: one (symbol, product) once, as Kite lists it (duplicates are refused).
            symbol = f"NIFTY25O07{strike}{'CE' if n % 2 else 'PE'}{n:04d}"
            rows.append(
                position_row(
                    symbol,
                    product="MIS" if n % 3 == 0 else "NRML",
                    quantity=75 * (1 + n % 4) * (-1 if n % 5 == 0 else 1),
                    average_price=100 + (n % 97) * 0.35,
                    last_price=101 + (n % 89) * 0.4,
                    close_price=100.5,
                )
            )
        elif kind < 8:
            rows.append(
                position_row(
                    f"STK{n:04d}25OCTFUT",
                    quantity=250 * (1 + n % 3),
                    average_price=1500 + n % 300,
                    last_price=1510 + n % 300,
                    overnight_quantity=250,
                )
            )
        elif kind == 8:
            rows.append(
                position_row(
                    f"CRUDEOIL25OCT{n:04d}FUT",
                    "MCX",
                    quantity=1 + n % 3,
                    average_price=5650,
                    last_price=5661,
                    multiplier=100,
                )
            )
        else:
            rows.append(
                position_row(
                    f"BANKNIFTY25OCT{n:04d}CE",
                    quantity=0,
                    closed_quantity=35,
                    average_price=300,
                    realised=875.5,
                )
            )
    return rows


def holdings(count: int) -> list[dict[str, Any]]:
    return [
        holding_row(
            f"EQ{n:04d}",
            "NSE" if n % 3 else "BSE",
            quantity=1 + n % 200,
            t1_quantity=5 if n % 7 == 0 else 0,
            average_price=100 + (n % 500) * 1.7,
            last_price=105 + (n % 500) * 1.75,
        )
        for n in range(count)
    ]


def orders(count: int) -> list[dict[str, Any]]:
    statuses = ("COMPLETE", "COMPLETE", "CANCELLED", "OPEN")
    return [
        order_row(
            f"STK{n:04d}25OCTFUT",
            transaction_type="BUY" if n % 2 else "SELL",
            quantity=250,
            status=statuses[n % 4],
            filled_quantity=250 if n % 4 < 2 else 0,
            cancelled_quantity=250 if n % 4 == 2 else 0,
            price=1500.05,
        )
        for n in range(count)
    ]


async def run(runs: int, n_positions: int, n_holdings: int) -> None:
    with FakeKiteServer(api_key="bench_sync_key") as kite:
        net = positions(n_positions)
        held = holdings(n_holdings)
        kite.set_positions(net)
        kite.set_holdings(held)
        kite.set_orders(orders(200))
        payload = len(json.dumps({"net": net, "day": net})) + len(json.dumps(held))
        account = AccountConfig(
            id="BENCH1",
            broker="kite",
            book="book",
            timeout=30,
            options={"api_key": kite.api_key, "api_root": kite.url, "access_token_env": "KITE_TOKEN"},
        )
        adapter = create(account, AdapterContext(Path("."), Secrets({"KITE_TOKEN": kite.access_token})))
        timings = []
        try:
            await adapter.fetch()  # warm-up: connection pool, first imports
            for _ in range(runs):
                await asyncio.sleep(RATE_WINDOW_SECONDS)
                with every_memo_missing():
                    started = time.perf_counter()
                    snapshot = await adapter.fetch()
                    timings.append(time.perf_counter() - started)
        finally:
            await adapter.close()
    print(f"Kite sync benchmark: {n_positions} positions + {n_holdings} holdings + 200 orders")
    print(f"  payload (positions + holdings JSON): {payload / 1024:.0f} KiB")
    print(f"  snapshot: {len(snapshot.positions)} positions, {len(snapshot.orders)} working orders")
    print(
        f"  trigger -> snapshot over {runs} runs: median {statistics.median(timings) * 1000:.1f} ms, "
        f"min {min(timings) * 1000:.1f} ms, max {max(timings) * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--positions", type=int, default=1000)
    parser.add_argument("--holdings", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(run(args.runs, args.positions, args.holdings))


if __name__ == "__main__":
    main()
