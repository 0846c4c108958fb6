"""Store to screen: a change at the (simulated) broker, synced by a daemon into a shared PostgreSQL
store, until each of three viewer windows shows it in its positions model.

Each of N rounds changes one position's quantity at the broker (the simulated broker's next
scenario step), runs the daemon's sync (broker read, book read, reconciliation, save with its
NOTIFY), and measures until every viewer's model holds the new quantity. The broker read is
timed on its own; the goal is judged on what comes beyond it: median under 500 ms. Everything
runs in this one process on one qasync loop (the daemon's worker and three real windows,
offscreen, each with its own ``StoreViewer`` and listener connection), so the three windows
also compete for one interpreter. Needs the test PostgreSQL server (``POSITION_SYNC_TEST_PG``,
``POSITION_SYNC_TEST_PG_PASSWORD``). Run from the project root:
``QT_QPA_PLATFORM=offscreen python benchmarks/store_to_screen.py [--rounds 50] [--positions 100]``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import qasync

from position_sync.app.config import load_settings
from position_sync.app.team.viewer import StoreViewer, as_viewer, viewer_runtime
from position_sync.brokers.simulated import SimulatedBroker
from position_sync.ui.controller import Controller
from position_sync.ui.main import application
from position_sync.ui.preferences import Preferences
from position_sync.ui.window import MainWindow
from position_sync.wiring import build_runtime
from tests.conftest import _pg_admin, toml_table, write_book, write_scenario
from tests.viewer_helpers import fresh_database

VIEWERS = 3
ACCOUNT = "sim"


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:7.1f} ms, max {max(values) * 1000:7.1f} ms"


def project(folder: Path, rounds: int, positions: int) -> Path:
    """A simulated account whose step n changes the quantity of one position, and its book."""
    base = [{"symbol": f"S{n:04d}", "quantity": 10, "average_price": 100} for n in range(positions)]
    steps: list[dict[str, Any]] = [{"positions": base}]
    for n in range(1, rounds + 1):
        step = [dict(p) for p in base]
        step[n % positions]["quantity"] = 10 + n
        steps.append({"positions": step})
    write_scenario(folder / "scenario.toml", steps)
    write_book(folder / "book.json", base)
    text = toml_table("[[books]]", {"id": "bot", "kind": "file", "path": "book.json"})
    text += "\n" + toml_table(
        "[[accounts]]",
        {"id": ACCOUNT, "broker": "simulated", "scenario": "scenario.toml", "book": "bot", "exchange": "NFO",
         "interval": 3600},
    )  # fmt: skip
    text += '\n[store]\nurl_env = "PS_BENCH_STORE"\n'
    (folder / "config.toml").write_text(text, encoding="utf-8")
    return folder / "config.toml"


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("a viewer did not show the change")
        await asyncio.sleep(0.001)


async def measure(config: Path, folder: Path, rounds: int, positions: int) -> None:
    reads: list[float] = []
    original = SimulatedBroker.fetch

    async def timed(self: SimulatedBroker) -> Any:
        started = time.perf_counter()
        try:
            return await original(self)
        finally:
            reads.append(time.perf_counter() - started)

    SimulatedBroker.fetch = timed  # type: ignore[method-assign]
    settings = load_settings(config)
    daemon = build_runtime(settings, folder / "daemon", purpose="daemon")
    await daemon.worker.load()
    await daemon.worker.sync(ACCOUNT, "start")
    windows: list[tuple[Controller, MainWindow]] = []
    for n in range(VIEWERS):
        runtime = viewer_runtime(as_viewer(settings), folder / f"desk{n}")
        window = MainWindow("viewer")
        controller = Controller(
            runtime,
            window,
            prefs=Preferences(),
            quit_event=asyncio.Event(),
            make_runtime=functools.partial(viewer_runtime, data_dir=folder / f"desk{n}"),
        )
        await controller.load_cached()
        await controller.start()
        window.show()
        windows.append((controller, window))
    for controller, _ in windows:
        viewer = controller.worker
        assert isinstance(viewer, StoreViewer)
        await until(lambda v=viewer: v.status().live and v.caught_up >= 1)  # type: ignore[misc]
    reads.clear()
    total: list[float] = []
    each: list[float] = []
    try:
        for n in range(1, rounds + 1):
            key = (ACCOUNT, f"NFO:S{n % positions:04d}")
            expected = Decimal(10 + n)
            started = time.perf_counter()
            await daemon.worker.sync(ACCOUNT, "bench")
            for _, window in windows:

                def shown(w: MainWindow = window, k: tuple[str, str] = key, e: Decimal = expected) -> bool:
                    row = w.model.row_for(k)
                    return row is not None and row.broker_qty == e

                await until(shown)
                each.append(time.perf_counter() - started)
            total.append(time.perf_counter() - started)
    finally:
        for controller, _ in windows:
            await controller.close()
        await daemon.close()
        SimulatedBroker.fetch = original  # type: ignore[method-assign]
    beyond = [t - r for t, r in zip(total, reads, strict=True)]
    print(f"store to screen, {rounds} changes, {VIEWERS} viewer windows, {positions} positions (PostgreSQL)")
    print(f"  broker read (simulated)           {ms(reads)}")
    print(f"  change -> every viewer's model    {ms(total)}")
    print(f"  change -> one viewer's model      {ms(each)}")
    print(f"  beyond the broker read (goal: median < 500 ms)  {ms(beyond)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--positions", type=int, default=100)
    args = parser.parse_args()
    admin = _pg_admin()
    if admin is None:
        sys.exit("PostgreSQL is not reachable (POSITION_SYNC_TEST_PG)")
    app = application()
    with (
        tempfile.TemporaryDirectory(prefix="ps-bench-viewer-") as temp,
        fresh_database(admin, "ps_bench") as url,
    ):
        os.environ["PS_BENCH_STORE"] = url
        folder = Path(temp)
        config = project(folder, args.rounds, args.positions)
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        with loop:
            loop.run_until_complete(measure(config, folder, args.rounds, args.positions))
    admin.dispose()


if __name__ == "__main__":
    main()
