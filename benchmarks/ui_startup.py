"""Start to first painted window with a cached picture of 10,000, 50,000 and 100,000 rows.

For each size the parent fills a store with one sync of a generated account (``_data10k``),
then starts fresh interpreters that open the real window on it the way ``position-sync`` does
(``ui.main.run_window``, offscreen) and report:

- when the positions table first paints with every cached row, and the resident memory
  (VmRSS) then;
- when the start-up sync's result is on screen (the runtime built, the worker started), the
  resident memory then and the peak (VmHWM);
- how long importing the window's path took (``ui.main`` and the wiring, as the CLI imports
  them), and which heavy modules were loaded at the first paint.

Goals (issue 19): 10,000 rows painted under 1 s; 50,000 under 1.5 s and 250 MB. The simulated
broker of the benchmark parses its whole scenario when its adapter is built, a cost a real
broker adapter does not have; the window builds adapters after its first paint.
``--before PATH`` runs the same children on another checkout too (an older commit's worktree)
and prints both, measured in the same run. Medians of ``--runs`` (default 3).
Run: ``python benchmarks/ui_startup.py [--sizes 10000,50000] [--before /tmp/wt-base]``.
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

HERE = Path(__file__).resolve().parent
TREE = Path(os.environ.get("UI_STARTUP_TREE", str(HERE.parent)))
sys.path.insert(0, str(TREE))
sys.path.insert(0, str(HERE))

GOALS = {10_000: (1.0, None), 50_000: (1.5, 250.0)}  # rows: (seconds, MB) to first paint
HEAVY = ("pyqtgraph", "numpy", "position_sync.brokers.registry", "position_sync.ui.settings_dialog")


def memory_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(config: Path, data: Path, spawned: float, count: int) -> None:
    """One window start, as the CLI's ``_window`` does it; prints one JSON line."""
    started = time.monotonic()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from position_sync.ui import main as ui_main
    from position_sync.wiring import build_runtime

    imported = time.monotonic()
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    from position_sync.app.config import load_settings
    from position_sync.ui.controller import Controller
    from position_sync.ui.positions_view import PositionsView
    from position_sync.ui.window import MainWindow

    app = ui_main.application()
    settings = load_settings(config)
    report: dict[str, Any] = {}

    class FirstPaint(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if "painted" not in report and event.type() == QEvent.Type.Paint:
                view = watched.parent()
                if isinstance(view, PositionsView) and view.model().rowCount() >= count:
                    report["painted"] = time.monotonic()
                    report["rss_painted"] = memory_mb("VmRSS")
                    report["heavy"] = [name for name in HEAVY if name in sys.modules]
                    window = view.window()
                    if "synced" in report and isinstance(window, MainWindow):
                        QTimer.singleShot(0, window.act_quit.trigger)
            return False

    spy = FirstPaint()
    app.installEventFilter(spy)
    shown = Controller._show_result

    def show_result(self: Controller, arrival: Any, plan: Any) -> None:
        shown(self, arrival, plan)
        if "synced" not in report:
            report["synced"] = time.monotonic()
            report["rss_synced"] = memory_mb("VmRSS")
        if "painted" in report:  # else at the paint: an old checkout may sync before it paints
            QTimer.singleShot(0, self.request_quit)

    Controller._show_result = show_result  # type: ignore[method-assign]
    args = argparse.Namespace(demo=False, screenshot=None)
    ui_main.run_window(settings, data, args, lambda new: build_runtime(new, data, purpose="window"))
    assert isinstance(QApplication.instance(), QApplication)
    report["peak"] = memory_mb("VmHWM")
    print(json.dumps({"spawned": spawned, "started": started, "imported": imported, **report}))


def fill(folder: Path, count: int) -> tuple[Path, Path]:
    import _data10k

    from position_sync.app.config import load_settings
    from position_sync.wiring import build_runtime

    config = _data10k.write(folder, count=count, steps=1)
    data = folder / "data"

    async def sync_once() -> None:
        runtime = build_runtime(load_settings(config), data)
        await runtime.worker.load()
        await runtime.worker.sync_all("benchmark")
        await runtime.close()

    asyncio.run(sync_once())
    return config, data


def measure(tree: Path, config: Path, data: Path, count: int) -> dict[str, Any]:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_CONFIG_HOME": str(data.parent / "xdg"),
        "UI_STARTUP_TREE": str(tree),
        "PYTHONPATH": str(tree),
    }
    spawned = time.monotonic()
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(config), str(data), str(spawned), str(count)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd=tree,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    if "painted" not in result:
        raise RuntimeError(f"{tree}: the table never painted its {count} rows: {result}")
    return result


def summary(label: str, count: int, results: list[dict[str, Any]]) -> str:
    def median(key: str, base: str | None = "spawned") -> float:
        return statistics.median(r[key] - (r[base] if base else 0.0) for r in results)

    paint = median("painted")
    rss = median("rss_painted", None)
    seconds_goal, mb_goal = GOALS.get(count, (None, None))
    verdicts = []
    if seconds_goal is not None:
        verdicts.append(f"< {seconds_goal:g} s: {'ok' if paint < seconds_goal else 'OVER GOAL'}")
    if mb_goal is not None:
        verdicts.append(f"< {mb_goal:.0f} MB: {'ok' if rss < mb_goal else 'OVER GOAL'}")
    goal = f" (goal {', '.join(verdicts)})" if verdicts else ""
    heavy = sorted({name for r in results for name in r["heavy"]})
    return (
        f"  {label:6} {count:>7,} rows: first paint {paint:5.2f} s, VmRSS {rss:4.0f} MB{goal}\n"
        f"  {'':6} {'':>7}       imports of the window path {median('imported', 'started'):.2f} s "
        f"(interpreter {median('started'):.2f} s); start-up sync on screen {median('synced'):5.2f} s, "
        f"VmRSS then {median('rss_synced', None):.0f} MB, peak {median('peak', None):.0f} MB\n"
        f"  {'':6} {'':>7}       loaded at first paint: {', '.join(heavy) or 'none of ' + ', '.join(HEAVY)}"
    )


def parent() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000,100000", help="rows, comma separated")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--before", type=Path, help="another checkout to measure beside this one")
    options = parser.parse_args()
    sizes = [int(s) for s in options.sizes.split(",")]
    trees = [("after", TREE)]
    if options.before is not None:
        trees.insert(0, ("before", options.before.resolve()))
    print(f"window start to first paint, offscreen, medians of {options.runs} runs:")
    for count in sizes:
        with tempfile.TemporaryDirectory(prefix="position-sync-startup-") as scratch:
            config, data = fill(Path(scratch), count)
            results: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in trees}
            for _ in range(options.runs):  # interleaved: both checkouts share the machine's moods
                for label, tree in trees:
                    results[label].append(measure(tree, config, data, count))
            for label, _ in trees:
                print(summary(label, count, results[label]), flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(Path(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))
    else:
        parent()
