"""How long the command takes to start: ``--version``, importing the CLI, and ``status``.

Each figure is the median of ``RUNS`` fresh processes after one untimed run (the files are in
the page cache, so "cold-ish": nothing is shared between the processes). Python's own start
(``python -c pass``) is timed in the same run, as the floor the others are divided by, because a
busy shared machine moves every figure together. Every figure is taken twice: with a bytecode
cache (``PYTHONPYCACHEPREFIX`` in a temporary directory, so nothing is written into the
checkout), as an installed program starts, and without one (``PYTHONDONTWRITEBYTECODE``, where
every module of ours is compiled again at each start, as in a checkout on a machine set so). ``status`` reads a 2-account config (a Kite and
an IBKR account, neither ever synced) and a SQLite store already at the newest schema revision,
so it shows what a headless command costs beyond starting: parsing the config, opening the store,
no network. Issue 19's goal: ``--version`` under 0.15 s. Prints figures; asserts nothing about
time.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 10

CONFIG = """\
[[books]]
id = "bot"
kind = "file"
path = "book.json"

[[accounts]]
id = "kite-main"
broker = "kite"
api_key = "bench_api_key"
book = "bot"

[[accounts]]
id = "ib-main"
broker = "ibkr"
book = "bot"
"""


def median_seconds(args: list[str], env: dict[str, str]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(args, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def figures(title: str, env: dict[str, str]) -> None:
    python = [sys.executable]
    cli = [*python, "-m", "position_sync.cli"]
    commands = {
        "python -c pass (the floor)": [*python, "-c", "pass"],
        "position-sync --version": [*cli, "--version"],
        "import position_sync.cli": [*python, "-c", "import position_sync.cli"],
        "status, kite + ibkr, store at head": [*cli, "status"],
    }
    for name, args in commands.items():  # the untimed run: bytecode cache, page cache, the store
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
        if done.returncode not in (0, 1, 2):  # status exits 2: never synced, as it should say
            raise SystemExit(f"{name} failed ({done.returncode}): {done.stderr.strip()}")
    times = {name: median_seconds(args, env) for name, args in commands.items()}
    floor = times.pop("python -c pass (the floor)")
    print(f"{title}:")
    print(f"  {'python -c pass (the floor)':36} {floor:.3f} s")
    for name, seconds in times.items():
        goal = "   goal < 0.15 s" if name.endswith("--version") else ""
        print(f"  {name:36} {seconds:.3f} s   {seconds / floor:4.1f}x the floor{goal}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="position-sync-bench-") as temporary:
        root = Path(temporary)
        (root / "config.toml").write_text(CONFIG, encoding="utf-8")
        (root / "book.json").write_text('{"positions": []}', encoding="utf-8")
        env = dict(os.environ)
        env["POSITION_SYNC_CONFIG"] = str(root / "config.toml")
        env["POSITION_SYNC_HOME"] = str(root / "data")
        print(f"median of {RUNS} runs each, after one untimed run")
        cached = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        cached["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
        figures("with a bytecode cache (as installed)", cached)
        uncached = {k: v for k, v in env.items() if k != "PYTHONPYCACHEPREFIX"}
        uncached["PYTHONDONTWRITEBYTECODE"] = "1"
        figures("without a bytecode cache (every module of ours compiled at each start)", uncached)


if __name__ == "__main__":
    main()
