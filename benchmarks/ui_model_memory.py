"""Resident memory of the positions model at 10,000, 50,000 and 100,000 rows (issue 19).

Each size runs in a fresh interpreter: the rows are built (as the worker's memory holds them),
then loaded into the model, then every row is painted once, as scrolling from top to bottom
asks it (every role of every cell). Printed: the time to load, the VmRSS the model adds over its
rows, and what scrolling through all of them adds on top; the rows themselves belong to the
worker and are shared, not counted. ``--before PATH`` measures another checkout in the same
run. Run offscreen: ``python benchmarks/ui_model_memory.py [--before /tmp/wt-base]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TREE = Path(os.environ.get("UI_MODEL_TREE", str(HERE.parent)))
sys.path.insert(0, str(TREE))

RUNS = 3


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(count: int) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from position_sync.app.domain import Row, Status
    from position_sync.ui.positions_index import snapshot
    from position_sync.ui.positions_model import PositionsModel
    from position_sync.ui.row_presenter import AccountInfo

    app = QApplication(sys.argv[:1])
    now = datetime.now(UTC)
    since = now - timedelta(minutes=5)
    rows: dict[str, Row] = {}
    for i in range(count):
        status = Status.PHANTOM if i % 100 == 0 else Status.QTY_MISMATCH if i % 100 == 1 else Status.MATCH
        qty = Decimal(i % 500 + 1)
        rows[f"NSE:SYM{i:06d}"] = Row(
            account="big",
            instrument=f"NSE:SYM{i:06d}",
            status=status,
            since=since,
            broker_qty=None if status is Status.PHANTOM else qty,
            local_qty=qty + (5 if status is Status.QTY_MISMATCH else 0),
            broker_avg=Decimal(f"{100 + i % 900}.25"),
            local_avg=Decimal(f"{100 + i % 900}.25"),
            last_price=Decimal(f"{101 + i % 900}.75"),
            unrealised_pnl=Decimal(f"{(i % 200) - 100}.5"),
        )
    picture = snapshot(rows)
    gc.collect()
    before = rss_mb()
    model = PositionsModel()
    model.set_account_info("big", AccountInfo("INR", last_success_at=now))
    started = time.perf_counter()
    model.apply_account("big", picture)
    loaded = time.perf_counter() - started
    gc.collect()
    after_load = rss_mb()
    roles = [
        Qt.ItemDataRole.DisplayRole,
        Qt.ItemDataRole.ForegroundRole,
        Qt.ItemDataRole.BackgroundRole,
        Qt.ItemDataRole.FontRole,
        Qt.ItemDataRole.DecorationRole,
        Qt.ItemDataRole.TextAlignmentRole,
    ]
    columns = model.columnCount()
    started = time.perf_counter()
    for position in range(model.rowCount()):
        for column in range(columns):
            index = model.index(position, column)
            for role in roles:
                model.data(index, role)
    scrolled = time.perf_counter() - started
    gc.collect()
    after_scroll = rss_mb()
    assert model.rowCount() == count and app is not None
    print(
        json.dumps(
            {
                "load_s": loaded,
                "model_mb": after_load - before,
                "scroll_s": scrolled,
                "scroll_mb": after_scroll - after_load,
                "total_mb": after_scroll,
            }
        )
    )


def measure(tree: Path, count: int) -> dict[str, Any]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "UI_MODEL_TREE": str(tree), "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(count)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd=tree,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000,100000")
    parser.add_argument("--before", type=Path, help="another checkout to measure beside this one")
    options = parser.parse_args()
    trees = [("after", TREE)]
    if options.before is not None:
        trees.insert(0, ("before", options.before.resolve()))
    print(f"positions model over N rows, offscreen, medians of {RUNS} runs:")
    for count in (int(s) for s in options.sizes.split(",")):
        runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in trees}
        for _ in range(RUNS):  # interleaved: both checkouts share the machine's moods
            for label, tree in trees:
                runs[label].append(measure(tree, count))
        for label, _ in trees:
            results = runs[label]

            def median(key: str, rs: list[dict[str, Any]] = results) -> float:
                return statistics.median(r[key] for r in rs)

            print(
                f"  {label:6} {count:>7,} rows: load {median('load_s') * 1000:6.0f} ms, model +{median('model_mb'):5.1f} MB; "
                f"every row painted once {median('scroll_s'):5.2f} s, +{median('scroll_mb'):6.1f} MB; "
                f"process VmRSS then {median('total_mb'):4.0f} MB",
                flush=True,
            )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(int(sys.argv[2]))
    else:
        main()
