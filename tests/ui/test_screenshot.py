"""``--screenshot``: the real ``run_window`` on the demo scenario (fast interval) writes a PNG."""

from __future__ import annotations

import argparse
from pathlib import Path

from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from app.config import load_settings
from tests.ui.conftest import demo_project
from ui.main import SCREENSHOT_SIZE, run_window


def test_screenshot_after_the_demo_walked_every_step(qapp: QApplication, tmp_path: Path) -> None:
    config = demo_project(tmp_path, interval=0.25)
    shot = tmp_path / "shot.png"
    args = argparse.Namespace(demo=True, screenshot=shot)
    assert run_window(load_settings(config), tmp_path / "data", args) == 0
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
