"""The window paints the stored picture before it builds anything else (issue 19).

What a trader sees in the first second is the last picture the store holds; the charts'
libraries, the settings dialog, the broker adapters and the worker come after that paint. A
fresh interpreter tells which modules were loaded when the table first painted its rows; the
runtime built afterwards is handed the rows on screen, not a second copy of them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from position_sync.app.config import Settings, load_settings
from position_sync.app.runtime import Runtime
from position_sync.app.store import Store
from position_sync.app.store.ownership import FileLockOwnership
from position_sync.app.store.repository import DB_NAME
from position_sync.ui.controller import Controller
from position_sync.ui.main import run_window
from position_sync.ui.preferences import Preferences
from position_sync.ui.stored_picture import PictureWorker, picture_runtime
from position_sync.ui.window import MainWindow
from position_sync.wiring import build_runtime
from tests.ui.conftest import demo_project, run, walk, window_runtime

REPO = Path(__file__).resolve().parents[2]

# Loaded only after the first paint: the History pane's charts, the settings dialog and the
# first-run page's forms, a broker's client library (building the Kite account's adapter).
LATER = (
    "pyqtgraph",
    "numpy",
    "position_sync.ui.settings_dialog",
    "position_sync.ui.first_run",
    "kiteconnect",
)
KITE_ACCOUNT = """
[[accounts]]
id = "kite-main"
broker = "kite"
api_key = "first_paint_api_key"
book = "demo-book"
interval = 3600
"""

CHILD = """
import argparse, json, sys
from pathlib import Path
from PySide6.QtCore import QEvent, QObject, QTimer
from position_sync.app.config import load_settings
from position_sync.ui import main as ui_main
from position_sync.ui.controller import Controller
from position_sync.ui.positions_view import PositionsView
from position_sync.wiring import build_runtime

config, data, later = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
app = ui_main.application()
report = {}

class Spy(QObject):
    def eventFilter(self, watched, event):
        view = watched.parent()
        if "painted" not in report and event.type() == QEvent.Type.Paint and isinstance(view, PositionsView):
            report["painted"] = view.model().rowCount()
            report["loaded"] = [name for name in later if name in sys.modules]
        return False

spy = Spy()
app.installEventFilter(spy)
shown = Controller._show_result

def show_result(self, arrival, plan):
    shown(self, arrival, plan)
    if "synced" not in report:
        report["synced"] = [name for name in later if name in sys.modules]
        QTimer.singleShot(0, self.request_quit)

Controller._show_result = show_result
args = argparse.Namespace(demo=False, screenshot=None)
settings = load_settings(config)
report["exit"] = ui_main.run_window(settings, data, args, lambda new: build_runtime(new, data, purpose="window"))
print(json.dumps(report))
"""


def stored_demo(tmp_path: Path, extra: str = "") -> tuple[Path, Path, int]:
    """The demo after two syncs: its config, data directory and how many rows the store holds."""
    config = demo_project(tmp_path, interval=3600, extra=extra)
    data = tmp_path / "data"
    runtime = build_runtime(load_settings(config), data)
    asyncio.run(walk(runtime, 2))
    count = len(runtime.store.rows())
    asyncio.run(runtime.close())
    return config, data, count


def test_the_stored_rows_are_painted_before_charts_dialogs_and_adapters_load(tmp_path: Path) -> None:
    config, data, count = stored_demo(tmp_path, KITE_ACCOUNT)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(config), str(data), json.dumps(LATER)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["painted"] == count > 0, "the first paint shows every stored row"
    assert report["loaded"] == [], f"loaded before the first paint: {report['loaded']}"
    assert "kiteconnect" in report["synced"], "the adapters are built after the paint, and sync"
    assert report["exit"] == 0


def test_the_runtime_built_after_the_paint_shares_the_rows_on_screen(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path, no_tray: None
) -> None:
    config, data, _count = stored_demo(tmp_path)
    settings = load_settings(config)
    picture = picture_runtime(settings, data)
    assert isinstance(picture.worker, PictureWorker)
    window = MainWindow()
    qtbot.addWidget(window)
    controller = Controller(
        picture,
        window,
        prefs=Preferences(),
        quit_event=asyncio.Event(),
        make_runtime=window_runtime(data),
    )
    try:
        run(qloop, controller.load_cached())
        painted = {key: window.model.row_for(key) for key in (r.key for r in window.model.rows())}
        assert painted and not controller.worker.is_syncing()
        controller.set_paused(True)  # pressed while the runtime is being built
        resync = asyncio.ensure_future(picture.worker.sync_all("manual"), loop=qloop)
        run(qloop, controller.go_live())
        worker = controller.worker
        assert worker is not picture.worker and controller.runtime is not picture
        assert worker.paused, "Pause pressed before the runtime stood still holds"
        for (account, instrument), row in painted.items():
            assert worker.memory(account).rows[instrument] is row, "one copy of each row"
        results = qloop.run_until_complete(asyncio.wait_for(resync, 30))
        assert {r.account for r in results} == set(worker.account_ids), "the early resync ran"
        assert all(r.state.value == "ok" for r in results)
    finally:
        run(qloop, controller.close())


def test_settings_that_cannot_run_end_the_window_after_the_picture_with_one_sentence(
    qapp: QApplication, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, data, count = stored_demo(tmp_path)
    (config.parent / "scenario.toml").unlink()  # the demo broker's scenario went missing
    args = argparse.Namespace(demo=False, screenshot=None)
    assert run_window(load_settings(config), data, args, window_runtime(data)) == 3
    err = capsys.readouterr().err
    assert "scenario.toml, which does not exist" in err and err.count("\n") == 1
    store = Store.open(data)
    try:
        assert len(store.rows()) == count, "the stored picture is left as it was"
    finally:
        store.close()


def test_a_quit_while_the_runtime_is_built_starts_no_sync(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path, no_tray: None
) -> None:
    config, data, _count = stored_demo(tmp_path)
    picture = picture_runtime(load_settings(config), data)
    built: list[Runtime] = []

    def maker(settings: Settings) -> Runtime:
        runtime = build_runtime(settings, data, purpose="window")
        built.append(runtime)
        return runtime

    window = MainWindow()
    qtbot.addWidget(window)
    quit_event = asyncio.Event()
    controller = Controller(picture, window, prefs=Preferences(), quit_event=quit_event, make_runtime=maker)
    try:
        run(qloop, controller.load_cached())
        quit_event.set()  # Ctrl+Q right after the first paint
        run(qloop, controller.go_live())
        assert controller.runtime is picture and len(built) == 1
        assert not any(built[0].worker.is_syncing(a) for a in built[0].worker.account_ids)
    finally:
        run(qloop, controller.close())
    database = data / DB_NAME
    daemon = FileLockOwnership(database.with_name(f"{DB_NAME}.owner"), str(database), "daemon")
    assert daemon.try_acquire(), "both runtimes gave the store up"
    daemon.release()
