"""The real ``position-sync --demo`` under Xvfb: the window appears and survives a minute of steps.

Runs the installed entry point in a child process on a virtual X server (the xcb platform, not
offscreen), so it catches what only a real display shows: missing system libraries, a window
that never maps, a crash after some syncs, a quit that hangs. Skipped where ``xvfb-run`` is
missing, except in CI (``CI=true``), where a missing Xvfb is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

RUN_SECONDS = 62


def _xvfb_run() -> str:
    found = shutil.which("xvfb-run")
    if found:
        return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("xvfb-run is missing: CI must install the xvfb and xauth packages")
    pytest.skip("xvfb-run is not installed (apt-get install xvfb xauth)")


@pytest.mark.xvfb
def test_demo_window_appears_and_survives_a_minute(tmp_path: Path) -> None:
    xvfb_run = _xvfb_run()
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")  # QSettings of this run stay here
    env["XDG_RUNTIME_DIR"] = str(tmp_path / "runtime")
    (tmp_path / "runtime").mkdir(mode=0o700)
    command = [
        xvfb_run,
        "-a",
        "-s",
        "-screen 0 1600x1000x24",
        sys.executable,
        "-m",
        "position_sync.cli",
        "-v",
        "--demo",
        "--data-dir",
        str(tmp_path / "data"),
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()

    def wait_for(pattern: str, seconds: float) -> re.Match[str] | None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for line in list(lines):
                match = re.search(pattern, line)
                if match:
                    return match
            if process.poll() is not None:
                return None
            time.sleep(0.2)
        return None

    try:
        shown = wait_for(r"window shown: Position Sync .*\(pid (\d+)\)", 45)
        assert shown, "the window never appeared:\n" + "".join(lines)
        pid = int(shown.group(1))
        assert wait_for(r"window exposed on screen", 15), "the window was never mapped:\n" + "".join(lines)
        started = time.monotonic()
        while time.monotonic() - started < RUN_SECONDS:
            assert process.poll() is None, "the window died during the demo:\n" + "".join(lines)
            time.sleep(1)
        syncs = [line for line in lines if "sync demo (" in line]
        assert len(syncs) >= 12, "the demo did not keep syncing:\n" + "".join(lines)
        assert any(": stale," in line for line in syncs), "the demo's failing step never showed"
        assert ": ok," in syncs[-1]
        os.kill(pid, signal.SIGTERM)  # quits like the Quit action: tasks cancelled, store closed
        assert process.wait(timeout=30) == 0, "".join(lines)
        reader.join(timeout=5)
        assert any("window closed" in line for line in lines)
        assert not any("Traceback" in line for line in lines), "".join(lines)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
