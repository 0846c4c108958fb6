"""Start to first painted window with a cached picture of 10,000 rows, and memory at that point.

The parent fills a store with one sync of the generated 10,000-position account, then starts a
fresh interpreter that opens the real window on it (``ui.main``, offscreen) and reports when
the positions table first paints with the cached rows, and its resident memory (VmRSS) then.
Goal: under 2 s and under 250 MB. The simulated broker of the benchmark parses its 10,000-row
scenario while the runtime is built; that time is shown apart, since a real broker adapter has
nothing to parse at start.
Run: ``python benchmarks/ui_startup.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

GOAL_SECONDS = 2.0
GOAL_MB = 250


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(config: Path, data: Path, spawned: float) -> None:
    started = time.monotonic()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEvent, QObject, QTimer

    from position_sync.app.config import load_settings
    from position_sync.ui import main as ui_main
    from position_sync.ui.positions_view import PositionsView
    from position_sync.ui.window import MainWindow
    from position_sync.wiring import build_runtime

    imported = time.monotonic()
    app = ui_main.application()
    settings = load_settings(config)
    runtime = build_runtime(settings, data)
    built = time.monotonic()
    report: dict[str, float] = {}

    class FirstPaint(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if not report and event.type() == QEvent.Type.Paint:
                view = watched.parent()
                if isinstance(view, PositionsView) and view.model().rowCount() >= 10_000:
                    report["painted"] = time.monotonic()
                    report["rss"] = rss_mb()
                    window = view.window()
                    assert isinstance(window, MainWindow)
                    QTimer.singleShot(0, window.act_quit.trigger)
            return False

    spy = FirstPaint()
    app.installEventFilter(spy)
    args = argparse.Namespace(demo=False, screenshot=None)
    import qasync

    qasync.run(ui_main._main(app, runtime, settings, args, lambda new: build_runtime(new, data)))
    print(
        json.dumps(
            {
                "spawned": spawned,
                "started": started,
                "imported": imported,
                "built": built,
                **report,
            }
        )
    )


def parent() -> None:
    import _data10k

    from position_sync.app.config import load_settings
    from position_sync.wiring import build_runtime

    with tempfile.TemporaryDirectory(prefix="position-sync-startup-") as scratch:
        folder = Path(scratch)
        config = _data10k.write(folder, steps=1)
        data = folder / "data"

        async def fill() -> None:
            runtime = build_runtime(load_settings(config), data)
            await runtime.worker.load()
            await runtime.worker.sync_all("benchmark")
            await runtime.close()

        asyncio.run(fill())
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(folder / "xdg")}
        results = []
        for _ in range(3):
            spawned = time.monotonic()
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(config), str(data), str(spawned)],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            ).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
    for number, r in enumerate(results, 1):
        total = r["painted"] - r["spawned"]
        print(
            f"run {number}: first paint of 10,000 cached rows {total:5.2f} s after start "
            f"(interpreter start {r['started'] - r['spawned']:.2f} s, imports {r['imported'] - r['started']:.2f} s, "
            f"runtime incl. simulated scenario parse {r['built'] - r['imported']:.2f} s, "
            f"store load and first paint {r['painted'] - r['built']:.2f} s); resident memory {r['rss']:.0f} MB"
        )
    best = min(r["painted"] - r["spawned"] for r in results)
    worst_rss = max(r["rss"] for r in results)
    print(
        f"start to first painted window: best {best:.2f} s (goal < {GOAL_SECONDS:.0f} s: "
        f"{'ok' if best < GOAL_SECONDS else 'OVER GOAL'}); resident memory {worst_rss:.0f} MB "
        f"(goal < {GOAL_MB} MB: {'ok' if worst_rss < GOAL_MB else 'OVER GOAL'})"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(Path(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4]))
    else:
        parent()
