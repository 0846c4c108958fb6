"""How whole-process ``position-sync sync --once`` grows with the account: 1k, 10k, 100k (and 1M).

For each size, in a temporary folder: a simulated-broker scenario and a JSON book of that many
positions a side (1 % quantity mismatches, the rest matching; the scenario's second step ticks
every last price). Each figure is a whole process, timed from start to exit, with its peak
resident memory (``wait4``'s ``ru_maxrss``):

* floor: a Python process that parses both inputs (the scenario's TOML, the book's JSON) and
  joins them into a dict of Decimals: what any program reading these files has to do;
* sync --once three times on one data directory: the first (every row new), the second (every
  price ticked: every row written again), the third (nothing changed).

Each sync is printed as a ratio to the floor of the same round; rounds alternate floor and
syncs, and the median of the rounds is printed, so a machine shared with other work moves both.
Goal: at most 2x the floor in time and in peak memory. 1,000,000 positions takes minutes and
gigabytes: only with ``--million`` (or ``POSITION_SYNC_BENCH_MILLION=1``). Asserts nothing.

``python benchmarks/sync_scaling.py [--rounds N] [--million] [--sizes 1000,10000]``; the code
measured is what ``python -m position_sync.cli`` imports (set ``PYTHONPATH`` to compare trees).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

FLOOR = """
import json, sys, tomllib
from decimal import Decimal
from pathlib import Path
root = Path(sys.argv[1])
scenario = tomllib.loads((root / "scenario.toml").read_text(encoding="utf-8"))
book = json.loads((root / "book.json").read_text(encoding="utf-8"))
broker = {
    p["symbol"]: (Decimal(p["quantity"]), Decimal(p["average_price"]))
    for p in scenario["steps"][0]["positions"]
}
local = {p["symbol"]: (Decimal(p["quantity"]), Decimal(p["average_price"])) for p in book["positions"]}
joined = {key: (broker.get(key), local.get(key)) for key in broker.keys() | local.keys()}
print(len(joined))
"""


def write_inputs(root: Path, count: int) -> Path:
    """The scenario, the book and the config of ``count`` positions a side (as benchmarks/cli_sync.py)."""
    book = []
    steps: list[list[str]] = [[], []]
    for i in range(count):
        symbol = f"NSE:SYM{i:07d}"
        qty = i % 500 + 1
        price = f"{100 + i % 997}.{i % 100:02d}"
        book.append({"symbol": symbol, "quantity": qty + (1 if i % 100 == 7 else 0), "average_price": price})
        for step, last in enumerate((price, f"{100 + i % 997 + 1}.{i % 100:02d}")):
            steps[step].append(
                f'  {{ symbol = "{symbol}", quantity = "{qty}", average_price = "{price}", '
                f'last_price = "{last}", product = "CNC" }},'
            )
    (root / "book.json").write_text(json.dumps({"positions": book}), encoding="utf-8")
    with (root / "scenario.toml").open("w", encoding="utf-8") as handle:
        for lines in steps:
            handle.write("[[steps]]\npositions = [\n")
            handle.write("\n".join(lines))
            handle.write("\n]\n\n")
    config = root / "config.toml"
    config.write_text(
        '[[books]]\nid = "bot"\nkind = "file"\npath = "book.json"\n\n'
        '[[accounts]]\nid = "big"\nbroker = "simulated"\nscenario = "scenario.toml"\nbook = "bot"\n'
        "settle_seconds = 0\nmass_change_min = 100000000\n",
        encoding="utf-8",
    )
    return config


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mb: float


def measured(args: list[str], *, sync: bool) -> Run:
    """One whole process: wall time to exit, and its own peak resident memory.

    Reaped with ``wait4``, which reports the child's own ``ru_maxrss``; its output goes to files,
    not pipes, so a 13 MB table cannot block it while nobody reads.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(args, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        printed, errors = out.read(), err.read()
    # Exit 1 is also what Python gives a program that could not even import: a sync that ran
    # printed its table, so a timed failure cannot pass for a fast sync.
    if process.returncode not in (0, 1) or b"Traceback" in errors or (sync and not printed.strip()):
        raise SystemExit(f"{args[2:]} failed ({process.returncode}): {errors.decode()[-2000:]}")
    return Run(elapsed, usage.ru_maxrss / 1024)


def one_size(count: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="position-sync-scaling-") as temporary:
        root = Path(temporary)
        config = write_inputs(root, count)
        floor_args = [sys.executable, "-c", FLOOR, str(root)]
        floors: list[Run] = []
        syncs: list[list[Run]] = [[], [], []]
        for index in range(rounds):
            floors.append(measured(floor_args, sync=False))
            data = root / f"data{index}"
            base = [
                sys.executable,
                "-m",
                "position_sync.cli",
                "--config",
                str(config),
                "--data-dir",
                str(data),
            ]
            for which in range(3):
                syncs[which].append(measured([*base, "sync", "--once"], sync=True))
    floor_s = statistics.median(r.seconds for r in floors)
    floor_mb = statistics.median(r.peak_mb for r in floors)
    cells = [f"{count:>9,}", f"{floor_s:7.2f} s {floor_mb:6.0f} MB"]
    for runs in syncs:
        seconds = statistics.median(r.seconds for r in runs)
        peak = statistics.median(r.peak_mb for r in runs)
        cells.append(f"{seconds:7.2f} s {seconds / floor_s:4.1f}x {peak:6.0f} MB {peak / floor_mb:4.1f}x")
    print(" | ".join(cells), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=0, help="rounds per size (default: 5, 3, 1, 1)")
    parser.add_argument("--million", action="store_true", help="also 1,000,000 positions a side")
    parser.add_argument("--sizes", help="comma-separated sizes instead of 1k, 10k, 100k")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else [1_000, 10_000, 100_000]
    if args.million or os.environ.get("POSITION_SYNC_BENCH_MILLION") == "1":
        sizes.append(1_000_000)
    default_rounds = {1_000: 5, 10_000: 3}
    print("positions | floor (parse both + dict join): time, peak | each sync: time, x floor, peak, x floor")
    print(
        "          |                                          | first (all new) | second (prices ticked) | third (unchanged)"
    )
    for count in sizes:
        one_size(count, args.rounds or default_rounds.get(count, 1))


if __name__ == "__main__":
    main()
