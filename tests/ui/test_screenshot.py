"""``--screenshot``: the real ``run_window`` on the demo scenario (fast interval) writes a PNG."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pytest
from PySide6.QtCore import QByteArray, QSettings, QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from position_sync.app.config import load_settings
from position_sync.ui.main import SCREENSHOT_SIZE, run_window
from position_sync.ui.window import SETTINGS_APP, SETTINGS_ORG, MainWindow
from tests.ui.conftest import demo_project, window_runtime


def test_screenshot_after_the_demo_walked_every_step(
    qapp: QApplication, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = demo_project(tmp_path, interval=0.25)
    shot = tmp_path / "shot.png"
    args = argparse.Namespace(demo=True, screenshot=shot)
    with caplog.at_level(logging.INFO, logger="position_sync.ui.screenshot"):
        assert (
            run_window(load_settings(config), tmp_path / "data", args, window_runtime(tmp_path / "data")) == 0
        )
    statuses = "match, phantom, price_mismatch, qty_mismatch, side_mismatch, stale, untracked"
    assert f"(statuses on screen: closed, {statuses})" in caplog.text  # every status at once
    image = QImage(str(shot))
    assert (image.width(), image.height()) == SCREENSHOT_SIZE
    colours = {
        image.pixelColor(x, y).name()
        for x in range(0, image.width(), 25)
        for y in range(0, image.height(), 25)
    }
    assert len(colours) > 10  # a painted window, not a blank surface
    state = (tmp_path / "data" / "simulated" / "demo.json").read_text()
    assert '"step": 4' in state  # the scenario reached its last step before the picture
    state = (tmp_path / "data" / "simulated" / "demo-us.json").read_text()
    assert '"step": 5' in state  # and the second account lost its broker (the first of two failing steps)


def _quit_when_shown(qapp: QApplication) -> QTimer:
    """Press Quit once the window is on screen (the way a user ends a run); the caller stops
    the returned timer, so nothing of it outlives the run it was made for."""
    timer = QTimer()
    timer.setInterval(100)

    def attempt() -> None:
        for widget in qapp.topLevelWidgets():
            if isinstance(widget, MainWindow) and widget.isVisible() and not widget.quitting:
                timer.stop()
                widget.act_quit.trigger()
                return

    timer.timeout.connect(attempt)
    timer.start()
    return timer


def test_a_demo_run_leaves_the_users_window_layout_alone(qapp: QApplication, tmp_path: Path) -> None:
    config = demo_project(tmp_path, interval=3600)
    layout = QSettings(SETTINGS_ORG, SETTINGS_APP)  # redirected into tmp_path by the conftest
    for demo in (True, False):
        quitter = _quit_when_shown(qapp)
        try:
            args = argparse.Namespace(demo=demo, screenshot=None)
            assert (
                run_window(load_settings(config), tmp_path / "data", args, window_runtime(tmp_path / "data"))
                == 0
            )
        finally:
            quitter.stop()
        layout.sync()
        if demo:
            assert layout.value("window/geometry") is None
        else:
            assert isinstance(layout.value("window/geometry"), QByteArray)  # a real session remembers it


def test_screenshot_of_a_viewer_shows_the_stores_picture(
    qapp: QApplication, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A viewer's screenshot: the accounts it shows come from the store, not from its config
    (which names none), and it walks no scenario of its own."""
    import asyncio

    from position_sync.app.team.viewer import as_viewer, viewer_runtime
    from position_sync.wiring import build_runtime

    config = demo_project(tmp_path, interval=0.25)

    async def daemon_syncs_twice() -> None:
        runtime = build_runtime(load_settings(config), tmp_path / "data")
        try:
            await runtime.worker.load()
            for _ in range(2):
                await runtime.worker.sync_all("test")
        finally:
            await runtime.close()

    asyncio.run(daemon_syncs_twice())
    viewer_config = tmp_path / "viewer.toml"
    viewer_config.write_text(
        '[store]\nurl = "sqlite:///data/position-sync.db"\nviewer = true\n', encoding="utf-8"
    )
    settings = as_viewer(load_settings(viewer_config))
    shot = tmp_path / "viewer.png"
    args = argparse.Namespace(demo=False, screenshot=shot, viewer=True)
    with caplog.at_level(logging.INFO, logger="position_sync.ui.screenshot"):
        code = run_window(
            settings, tmp_path / "viewer-data", args, lambda s: viewer_runtime(s, tmp_path / "viewer-data")
        )
    assert code == 0, caplog.text
    assert QImage(str(shot)).width() == SCREENSHOT_SIZE[0]
    assert "statuses on screen:" in caplog.text and "phantom" in caplog.text.split("statuses on screen:")[1]
