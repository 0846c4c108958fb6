"""One writer per store, with real processes: a second one refuses or waits, a killed one leaves
no stale claim, and neither way produces a duplicate event or a second archived close.

Each process is the real ``position-sync`` (``python -m position_sync.cli``) with this checkout on
``PYTHONPATH``. The simulated broker keeps its scenario step in the data directory, so every
process on one store walks the same scenario: two writers beside each other would both see the
close and each announce and archive it from its own memory.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from position_sync.app.store.repository import DB_NAME
from tests.conftest import Project

REPO = Path(__file__).resolve().parents[2]
NIFTY = {"symbol": "NIFTY25NOVFUT", "quantity": 75, "average_price": 24000}
BANKNIFTY = {"symbol": "BANKNIFTY25NOVFUT", "quantity": -35, "average_price": 51000}
FINNIFTY = {"symbol": "FINNIFTY25NOVFUT", "quantity": 40, "average_price": 23000}
# Fast and eager, so a close is judged on the sync that sees it.
ACCOUNT = {"interval": 0.5, "confirm_syncs": 1, "settle_seconds": 0}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _cli(project: Project, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "position_sync.cli",
        "--config",
        str(project.config),
        "--data-dir",
        str(project.data_dir),
        *args,
    ]


def _run(project: Project, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _cli(project, *args), env=_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def daemons(project: Project) -> Iterator[list[subprocess.Popen[str]]]:
    """Daemons a test starts; any still running at the end are killed (by their own pid)."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def _start_daemon(project: Project, daemons: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        _cli(project, "daemon"),
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    daemons.append(process)
    assert process.stdout is not None
    line = process.stdout.readline()  # printed once the daemon owns the store and runs
    assert line.startswith("position-sync daemon:"), (line, process.poll())
    return process


def _stored(project: Project, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(project.data_dir / DB_NAME, timeout=10) as connection:
        return connection.execute(sql).fetchall()


def _events(project: Project) -> list[tuple[str, str]]:
    return [
        (kind, instrument or "")
        for kind, instrument in _stored(project, "SELECT kind, instrument FROM events")
    ]


def _wait_for(project: Project, kind: str, instrument: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (project.data_dir / DB_NAME).exists() and (kind, instrument) in _events(project):
            return
        time.sleep(0.2)
    pytest.fail(f"no {kind} event for {instrument} within {seconds} s: {_events(project)}")


def _write(project: Project, steps: Sequence[Mapping[str, Any]], book: Sequence[Mapping[str, Any]]) -> None:
    project.write(broker_steps=steps, book=book, account=ACCOUNT)


def _no_duplicates(project: Project) -> None:
    """Each (kind, instrument) is announced once in these scenarios, and each close archived once."""
    repeated = {key: n for key, n in Counter(_events(project)).items() if n > 1}
    assert not repeated, repeated
    closed = Counter(r[0] for r in _stored(project, "SELECT instrument FROM closed_positions"))
    assert all(n == 1 for n in closed.values()), closed


def test_a_sync_once_beside_a_daemon_refuses_and_nothing_is_announced_twice(
    project: Project, daemons: list[subprocess.Popen[str]]
) -> None:
    # The broker closes BANKNIFTY on the second sync; the book still holds it (phantom + closed).
    _write(project, [{"positions": [NIFTY, BANKNIFTY]}, {"positions": [NIFTY]}], [NIFTY, BANKNIFTY])
    daemon = _start_daemon(project, daemons)

    second = _run(project, "sync", "--once", "--json", "--wait", "0")
    assert second.returncode == 3, (second.returncode, second.stdout, second.stderr)
    assert second.stdout == ""
    message = second.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert f"pid {daemon.pid}" in message and "daemon" in message, message
    assert str(project.data_dir / DB_NAME) in message

    another = _run(project, "daemon")
    assert another.returncode == 3, (another.stdout, another.stderr)
    assert f"pid {daemon.pid}" in another.stderr

    _wait_for(project, "closed", "NFO:BANKNIFTY25NOVFUT")
    # Reads stay allowed while the daemon owns the store.
    status = _run(project, "status", "--json")
    assert status.returncode in (0, 1, 2), status.stderr
    assert json.loads(status.stdout)["accounts"][0]["id"] == "sim"
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=20) == 0

    # The store is free again: a one-shot sync carries on from the daemon's memory.
    after = _run(project, "sync", "--once", "--json", "--wait", "0")
    assert after.returncode in (0, 1), after.stderr
    assert not {e["kind"] for e in json.loads(after.stdout)["events"]} & {"closed", "opened"}
    _no_duplicates(project)
    assert _events(project).count(("closed", "NFO:BANKNIFTY25NOVFUT")) == 1


def test_a_sync_once_waits_for_the_owner_then_syncs_from_its_memory(
    project: Project, daemons: list[subprocess.Popen[str]]
) -> None:
    _write(project, [{"positions": [NIFTY, BANKNIFTY]}, {"positions": [NIFTY]}], [NIFTY, BANKNIFTY])
    daemon = _start_daemon(project, daemons)
    _wait_for(project, "closed", "NFO:BANKNIFTY25NOVFUT")
    waiting = subprocess.Popen(
        _cli(project, "sync", "--once", "--json", "--wait", "30"),
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.5)
        assert waiting.poll() is None, "sync --once must wait while the daemon owns the store"
        daemon.send_signal(signal.SIGTERM)
        out, err = waiting.communicate(timeout=40)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.communicate()
    assert waiting.returncode in (0, 1), err
    assert "closed" not in {e["kind"] for e in json.loads(out)["events"]}
    _no_duplicates(project)


def test_a_killed_daemon_leaves_no_stale_claim_and_its_successor_continues(
    project: Project, daemons: list[subprocess.Popen[str]]
) -> None:
    steps = [
        {"positions": [NIFTY, BANKNIFTY, FINNIFTY]},
        {"positions": [NIFTY, BANKNIFTY, FINNIFTY]},
        {"positions": [NIFTY, BANKNIFTY, FINNIFTY]},
        {"positions": [NIFTY, FINNIFTY]},
    ]
    _write(project, steps, [NIFTY, BANKNIFTY, FINNIFTY])
    first = _start_daemon(project, daemons)
    deadline = time.monotonic() + 30
    while not (project.data_dir / DB_NAME).exists() or not _stored(project, "SELECT 1 FROM sync_runs"):
        assert time.monotonic() < deadline, "the first daemon never synced"
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)  # mid-run: no clean shutdown, the claim file names it still
    first.wait(timeout=10)
    assert f'"pid": {first.pid}' in (project.data_dir / f"{DB_NAME}.owner").read_text()

    second = _start_daemon(project, daemons)  # at once: the kernel dropped the dead one's lock
    _wait_for(project, "closed", "NFO:BANKNIFTY25NOVFUT")
    time.sleep(1.5)  # a few more syncs on the final step must add nothing
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=20) == 0
    _no_duplicates(project)
    assert _stored(project, "SELECT instrument FROM closed_positions") == [("NFO:BANKNIFTY25NOVFUT",)]
