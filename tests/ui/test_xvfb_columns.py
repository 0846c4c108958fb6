"""The demo at 1280x720 on a real (virtual) display: no Status or Hint text of its rows is elided.

Runs ``tests/ui/xvfb_probe_columns.py`` in a child process under ``xvfb-run`` (the xcb platform,
the fonts a desktop has), which plays the demo to its last step, writes the screenshot and
reports, cell by cell, the width each text needs against the width the style gives it. Skipped
where ``xvfb-run`` is missing, except in CI, like ``test_xvfb_demo``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from tests.ui.test_xvfb_demo import _xvfb_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.xvfb
def test_at_1280_px_no_status_or_hint_of_the_demo_is_elided(tmp_path: Path) -> None:
    xvfb_run = _xvfb_run()
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["XDG_RUNTIME_DIR"] = str(tmp_path / "runtime")
    (tmp_path / "runtime").mkdir(mode=0o700)
    picture = tmp_path / "demo-1280.png"
    command = [
        xvfb_run,
        "-a",
        "-s",
        "-screen 0 1280x720x24",
        sys.executable,
        "-m",
        "tests.ui.xvfb_probe_columns",
        "1280",
        "720",
        str(picture),
        str(tmp_path / "data"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=240)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    cells = [json.loads(line[5:]) for line in done.stdout.splitlines() if line.startswith("CELL ")]
    assert {c["column"] for c in cells} == {"STATUS", "HINT"}, output
    assert {tuple(c["window"]) for c in cells} == {(1280, 720)}  # the window fits the screen
    hints = [c for c in cells if c["column"] == "HINT" and c["text"]]
    assert len(hints) >= 3, "the demo's hints are missing"
    assert any(c["text"].startswith("Stale") for c in cells), "the demo's stale account is missing"
    elided = [
        f"{c['column']} {c['text']!r}: needs {c['needs']} px, has {c['room']}"
        for c in cells
        if c["needs"] > c["room"]
    ]
    assert elided == [], "\n".join(elided)
    assert all(c["on_screen"] for c in cells), "Status or Hint lies beyond the window's right edge"
    image = QImage(str(picture))
    assert (image.width(), image.height()) == (1280, 720)
