"""One fetch of a large Kotak Neo account against the fake Kotak, and what the adapter costs a process.

The account holds 500 position rows (options and futures carried and traded today, MCX, cash
intraday, a tenth squared off) and 300 delivery holdings, a third of which were also traded
today. Each run is one ``fetch`` of the real adapter over HTTP on 127.0.0.1: both reads in
parallel, JSON decoding, and every row to exact Decimals with the holdings joined. Runs are
spaced by the adapter's rate window (outside the timing). Goal: median under 300 ms.

Then the process figures: wall time from exec to exit, and resident memory at exit, of a Python
that imports the program's CLI, without and with the Kotak adapter loaded (median of several).
``--sdk-python PATH`` adds the same figures for ``import neo_api_client`` in a virtual environment
holding the official SDK, and what that SDK adds on disk, for the note on why it is not used.

Run from the project root: ``python benchmarks/kotak_sync.py [--runs N] [--sdk-python /tmp/kvenv/bin/python]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _rebuilt import every_memo_missing  # noqa: E402

from position_sync.app.broker import AdapterContext  # noqa: E402
from position_sync.app.config import AccountConfig  # noqa: E402
from position_sync.app.secrets import Secrets  # noqa: E402
from position_sync.brokers.kotak import RATE_WINDOW_SECONDS, create  # noqa: E402
from tests.fakes.kotak_server import FakeKotakServer, holding_row, position_row  # noqa: E402

# The child reports its peak resident memory from /proc (VmHWM, which starts afresh at exec;
# getrusage's ru_maxrss would carry the parent's size over the fork), in KiB.
_MEMORY = "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))"


def positions(count: int, holdings: int) -> list[dict[str, Any]]:
    rows = []
    for n in range(count):
        kind = n % 10
        if kind < 5:
            strike = 24000 + 50 * (n % 40)
            rows.append(
                position_row(
                    f"NIFTY26N{n:04d}{strike}{'CE' if n % 2 else 'PE'}",
                    cf_buy=75 if n % 3 == 0 else 0,
                    fl_buy=75 * (1 + n % 4),
                    fl_sell=75 if n % 5 == 0 else 0,
                    settlement=100.5,
                    buy_price=100 + (n % 97) * 0.35,
                    sell_price=102.25,
                    ltp=101 + (n % 89) * 0.4,
                    lot=75,
                )
            )
        elif kind < 7:
            rows.append(
                position_row(
                    f"STK{n:04d}26NOVFUT",
                    cf_sell=250,
                    fl_buy=500,
                    settlement=1500,
                    buy_price=1510 + n % 300,
                    ltp=1520,
                )
            )
        elif kind == 7:
            rows.append(
                position_row(
                    f"CRUDEOIL{n:04d}26NOVFUT",
                    "mcx_fo",
                    fl_buy=1 + n % 3,
                    buy_price=5650,
                    ltp=5661,
                    multiplier=100,
                )
            )
        elif kind == 8 and n // 10 < holdings // 3:
            # A holding traded today: carried in positions, counted by the holding.
            rows.append(
                position_row(
                    f"EQ{n // 10:04d}-EQ",
                    "nse_cm",
                    product="CNC",
                    cf_buy=10,
                    fl_sell=5,
                    settlement=200,
                    sell_price=205,
                    ltp=204,
                )
            )
        else:
            rows.append(
                position_row(
                    f"INTRA{n:04d}-EQ",
                    "nse_cm",
                    product="MIS",
                    fl_buy=100,
                    fl_sell=100,
                    buy_price=800,
                    sell_price=805,
                )
            )
    return rows


def holding_rows(count: int) -> list[dict[str, Any]]:
    return [
        holding_row(
            f"EQ{n:04d}",
            quantity=10 + n % 200,
            average_price=100 + (n % 500) * 1.7,
            closing_price=105 + n % 50,
        )
        for n in range(count)
    ]


async def sync_figures(runs: int, n_positions: int, n_holdings: int) -> None:
    os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    import keyring

    from tests.conftest import MemoryKeyring

    keyring.set_keyring(MemoryKeyring())
    with FakeKotakServer(consumer_key="bench-consumer-key") as kotak, tempfile.TemporaryDirectory() as data:
        rows, held = positions(n_positions, n_holdings), holding_rows(n_holdings)
        kotak.set_positions(rows)
        kotak.set_holdings(held)
        payload = len(json.dumps({"data": rows})) + len(json.dumps({"data": held}))
        keyring.set_password("position-sync", "BENCH1:session", kotak.issue_session())
        account = AccountConfig(
            id="BENCH1",
            broker="kotak",
            book="book",
            timeout=30,
            options={"consumer_key": kotak.consumer_key, "api_root": kotak.url},
        )
        adapter = create(account, AdapterContext(Path(data), Secrets()))
        timings = []
        try:
            await adapter.fetch()  # warm-up: connection pool, first imports
            for _ in range(runs):
                await asyncio.sleep(RATE_WINDOW_SECONDS)
                with every_memo_missing():  # each run a whole build, as for a changed answer
                    started = time.perf_counter()
                    snapshot = await adapter.fetch()
                    timings.append(time.perf_counter() - started)
        finally:
            await adapter.close()
    print(f"Kotak sync benchmark: {n_positions} positions + {n_holdings} holdings")
    print(f"  payload (positions + holdings JSON): {payload / 1024:.0f} KiB")
    print(f"  snapshot: {len(snapshot.positions)} broker legs")
    print(
        f"  trigger -> snapshot over {runs} runs: median {statistics.median(timings) * 1000:.1f} ms, "
        f"min {min(timings) * 1000:.1f} ms, max {max(timings) * 1000:.1f} ms (goal: under 300 ms)"
    )


def process_figures(
    python: str, imports: str, runs: int, env: dict[str, str] | None = None
) -> tuple[float, float]:
    """Median seconds from exec to exit and median peak RSS (MiB) of ``python -c imports``."""
    seconds, memory = [], []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            [python, "-c", f"{imports}\n{_MEMORY}"],
            capture_output=True,
            text=True,
            check=True,
            cwd=tempfile.gettempdir(),
            env={**os.environ, **(env or {})},
        )
        seconds.append(time.perf_counter() - started)
        memory.append(int(done.stdout.split()[-1]) / 1024)
    return statistics.median(seconds), statistics.median(memory)


def process_report(runs: int, sdk_python: str | None) -> None:
    env = {"PYTHONPATH": str(ROOT)}
    base = "import position_sync.cli, position_sync.brokers.registry"
    cases = [
        ("python alone", sys.executable, "pass", env),
        ("the CLI, no broker loaded", sys.executable, base, env),
        ("the CLI + the Kite adapter", sys.executable, f"{base}, position_sync.brokers.kite", env),
        ("the CLI + the Kotak adapter", sys.executable, f"{base}, position_sync.brokers.kotak", env),
        (
            "the CLI + Kotak adapter and login",
            sys.executable,
            f"{base}, position_sync.brokers.kotak, position_sync.brokers.kotak_login",
            env,
        ),
    ]
    if sdk_python:
        quiet = {
            "NEO_LOG_FILE_ENABLED": "false",
            "NEO_LOG_LEVEL": "NOLOG",
            "NEO_HOLDINGS_CACHE_DIR": tempfile.gettempdir(),
        }
        cases += [
            ("SDK venv: python alone", sdk_python, "pass", quiet),
            ("SDK venv: import neo_api_client", sdk_python, "import neo_api_client", quiet),
        ]
    print(f"Process start to exit and peak resident memory (median of {runs}):")
    for name, python, imports, extra in cases:
        seconds, rss = process_figures(python, imports, runs, extra)
        print(f"  {name:<36} {seconds * 1000:7.0f} ms  {rss:6.1f} MiB")
    if sdk_python:
        sdk_sizes(sdk_python)


def sdk_sizes(sdk_python: str) -> None:
    """What the SDK's distributions take on disk, and which of them this environment lacks."""
    script = (
        "import importlib.metadata as m, json, os\n"
        "out = {}\n"
        "for d in m.distributions():\n"
        "    size = 0\n"
        "    for f in d.files or []:\n"
        "        try: size += os.path.getsize(d.locate_file(f))\n"
        "        except OSError: pass\n"
        "    out[d.metadata['Name']] = size\n"
        "print(json.dumps(out))\n"
    )
    sizes: dict[str, int] = json.loads(
        subprocess.run([sdk_python, "-c", script], capture_output=True, text=True, check=True).stdout
    )
    import importlib.metadata as metadata

    ours = {d.metadata["Name"].lower().replace("_", "-") for d in metadata.distributions()}
    tooling = {"pip", "setuptools", "wheel"}
    closure = {k: v for k, v in sizes.items() if k.lower() not in tooling}
    new = {k: v for k, v in closure.items() if k.lower().replace("_", "-") not in ours}
    print(f"kotakneoapi and its dependencies on disk: {sum(closure.values()) / 1e6:.1f} MB")
    print(f"  of which this environment lacks: {sum(new.values()) / 1e6:.1f} MB")
    for name, size in sorted(new.items(), key=lambda kv: -kv[1])[:6]:
        print(f"    {name:<18} {size / 1e6:6.1f} MB")
    for name in ("numpy", "pandas"):
        print(f"  {name}: {sizes.get(name, 0) / 1e6:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--positions", type=int, default=500)
    parser.add_argument("--holdings", type=int, default=300)
    parser.add_argument("--process-runs", type=int, default=5)
    parser.add_argument("--sdk-python", help="a Python with kotakneoapi installed, to measure it too")
    args = parser.parse_args()
    asyncio.run(sync_figures(args.runs, args.positions, args.holdings))
    process_report(args.process_runs, args.sdk_python)


if __name__ == "__main__":
    main()
