"""A one-shot command runs with the cyclic collector paused; a daemon keeps it, and main restores it.

A 100,000-position ``sync --once`` spent 0.8 s of 7 s in collector passes over its own rows; a
daemon runs for months and must keep collecting what cycles it makes.
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from position_sync import cli, cli_commands
from position_sync.app.config import Settings
from tests.conftest import Project

GOOD = {"symbol": "INFY", "quantity": "10", "average_price": "1500"}


def _arguments(project: Project, *command: str) -> list[str]:
    project.write(broker_steps=[{"positions": [GOOD]}], book=[GOOD])
    return ["--config", str(project.config), "--data-dir", str(project.data_dir), *command]


def test_status_runs_with_the_collector_paused_and_gets_it_back(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []

    def status(settings: Settings, data_dir: Path, *, as_json: bool, strict: bool = False) -> int:
        seen.append(gc.isenabled())
        return 0

    monkeypatch.setattr(cli_commands, "cmd_status", status)
    assert gc.isenabled()
    assert cli.main(_arguments(project, "status")) == 0
    assert seen == [False]
    assert gc.isenabled()


def test_a_daemon_keeps_collecting(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []

    async def daemon(settings: Settings, data_dir: Path, *, command: str) -> int:
        seen.append(gc.isenabled())
        return 0

    monkeypatch.setattr(cli_commands, "cmd_daemon", daemon)
    assert cli.main(_arguments(project, "daemon")) == 0
    assert seen == [True]
