"""``position-sync sync --once`` with 10,000 positions on each side, timed as a whole process.

Generates a simulated-broker scenario and a JSON book of 10,000 positions in a temporary
directory (1% quantity mismatches, the rest matching), then times the subprocess from start to
exit: a first run (empty database: every row is new) and a second run (every row already
stored, only prices ticked). Also times ``--version`` as the floor of starting Python and the
package. Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N = 10_000


def write_inputs(root: Path) -> Path:
    book = []
    steps: list[list[str]] = [[], []]
    for i in range(N):
        symbol = f"NSE:SYM{i:05d}"
        qty = i % 500 + 1
        price = f"{100 + i % 997}.{i % 100:02d}"
        book.append({"symbol": symbol, "quantity": qty + (1 if i % 100 == 7 else 0), "average_price": price})
        for step, last in enumerate((f"{price}", f"{100 + i % 997 + 1}.{i % 100:02d}")):
            steps[step].append(
                f'  {{ symbol = "{symbol}", quantity = "{qty}", average_price = "{price}", '
                f'last_price = "{last}", product = "CNC" }},'
            )
    (root / "book.json").write_text(json.dumps({"positions": book}), encoding="utf-8")
    scenario = "".join("[[steps]]\npositions = [\n" + "\n".join(lines) + "\n]\n\n" for lines in steps)
    (root / "scenario.toml").write_text(scenario, encoding="utf-8")
    config = root / "config.toml"
    config.write_text(
        '[[books]]\nid = "bot"\nkind = "file"\npath = "book.json"\n\n'
        '[[accounts]]\nid = "big"\nbroker = "simulated"\nscenario = "scenario.toml"\nbook = "bot"\n'
        "settle_seconds = 0\n",
        encoding="utf-8",
    )
    return config


def command() -> list[str]:
    script = shutil.which("position-sync")
    return [script] if script else [sys.executable, "-m", "position_sync.cli"]


def timed(args: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    # Exit 1 is also what Python gives a program that could not even import (a stale install):
    # a sync that ran says so on stdout, or a timed failure would pass for a fast sync.
    ran = "--version" in args or done.stdout.strip() != ""
    if done.returncode not in (0, 1) or "Traceback" in done.stderr or not ran:
        raise SystemExit(f"position-sync failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return elapsed, done.returncode


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="position-sync-bench-") as temporary:
        root = Path(temporary)
        config = write_inputs(root)
        data = root / "data"
        base = [*command(), "--config", str(config), "--data-dir", str(data)]
        startup = min(timed([*command(), "--version"])[0] for _ in range(3))
        first, code_first = timed([*base, "sync", "--once"])
        second, code_second = timed([*base, "sync", "--once"])
        third, _ = timed([*base, "sync", "--once"])
        size = sum(p.stat().st_size for p in data.glob("position-sync.db*"))
    print(f"positions per side:               {N:,}")
    print(f"command:                          {' '.join(command())}")
    print(f"start-up floor (--version):       {startup:6.2f} s")
    print(f"sync --once, first run:           {first:6.2f} s   (exit {code_first}: every row new)")
    print(f"sync --once, second run:          {second:6.2f} s   (exit {code_second}: prices ticked)")
    print(f"sync --once, third run:           {third:6.2f} s   (nothing changed)")
    print(f"database after three runs:        {size / 1e6:6.2f} MB")


if __name__ == "__main__":
    main()
