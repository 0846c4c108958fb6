"""Time to first window as a new user meets it: the first-run page, and the demo.

Each run starts ``position-sync`` afresh, as the menu entry does, in a fresh home (no config
file, no data directory, no window layout), and measures from the moment the process is
spawned until the window reports itself exposed on the screen (its first frame; the log line
the Xvfb test waits for too). Three cases:

- first launch: no config file and no data directory (the store is created and migrated);
- second launch: still no config file, the data directory made by the first;
- the demo: ``--demo``, whose throw-away directory is always new.

Offscreen by default; ``--display`` uses the display of the environment (run it under
``xvfb-run -a -s "-screen 0 1280x720x24"`` for an X server's figures). Goal: under 2 s (the
cached 10,000-row window of ``ui_startup`` paints in under 1 s since issue 19).
Run: ``python -m benchmarks.first_window``.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_SECONDS = 2.0
RUNS = 3
EXPOSED = "window exposed on screen"
TIMEOUT_S = 60.0


def first_window(arguments: list[str], home: Path, *, offscreen: bool) -> float:
    """Seconds from spawn to the window's first frame; the process is then asked to quit."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for name in ("POSITION_SYNC_CONFIG", "POSITION_SYNC_HOME", "POSITION_SYNC_LOG_DIR"):
        env.pop(name, None)
    env.update(
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_STATE_HOME=str(home / "state"),
        TMPDIR=str(home / "tmp"),
    )
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    if offscreen:
        env["QT_QPA_PLATFORM"] = "offscreen"
    spawned = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "position_sync", "-v", *arguments],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert process.stderr is not None
    seen: list[str] = []
    try:
        for line in process.stderr:
            seen.append(line)
            if EXPOSED in line:
                return time.monotonic() - spawned
            if time.monotonic() - spawned > TIMEOUT_S:
                break
        raise RuntimeError("the window never showed:\n" + "".join(seen[-20:]))
    finally:
        process.send_signal(signal.SIGTERM)  # quits like the Quit action
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--display", action="store_true", help="use the environment's display, not offscreen")
    options = parser.parse_args()
    offscreen = not options.display
    cases: dict[str, list[float]] = {"first launch (first-run page)": [], "second launch": [], "demo": []}
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory(prefix="position-sync-first-window-") as scratch:
            home = Path(scratch)
            cases["first launch (first-run page)"].append(first_window([], home, offscreen=offscreen))
            cases["second launch"].append(first_window([], home, offscreen=offscreen))
            assert not (home / "config" / "position-sync" / "config.toml").exists()  # nothing written
            cases["demo"].append(first_window(["--demo"], home, offscreen=offscreen))
            assert not any((home / "tmp").iterdir()), "the demo left its throw-away directory behind"
    where = (
        "offscreen"
        if offscreen
        else f"display {os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY')}"
    )
    print(f"time to first window ({where}, {RUNS} runs each, from spawn to the first frame):")
    for name, times in cases.items():
        best, median = min(times), statistics.median(times)
        verdict = "ok" if best < GOAL_SECONDS else "OVER GOAL"
        runs = ", ".join(f"{t:.2f}" for t in times)
        print(
            f"  {name:31} best {best:.2f} s, median {median:.2f} s ({runs}) goal < {GOAL_SECONDS:.0f} s: {verdict}"
        )


if __name__ == "__main__":
    main()
