"""``position-sync --viewer`` and ``[store] viewer = true`` open the window on the store alone."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from position_sync import cli
from position_sync.app.config import Settings
from position_sync.app.first_run import setup_needed
from position_sync.app.runtime import Runtime, RuntimeMaker
from position_sync.app.team.viewer import StoreViewer
from position_sync.ui import main as window_main
from tests.conftest import Project


class Opened:
    """What the entry point handed the window, instead of opening it."""

    def __init__(self) -> None:
        self.settings: Settings | None = None
        self.make: RuntimeMaker | None = None

    def __call__(
        self, settings: Settings, data_dir: Path, args: argparse.Namespace, make: RuntimeMaker
    ) -> int:
        self.settings, self.make = settings, make
        return 0


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Opened:
    record = Opened()
    monkeypatch.setattr(window_main, "run_window", record)
    monkeypatch.setattr("position_sync.app.log_file.install_log_file", lambda *a, **k: None)
    return record


def built(opened: Opened) -> Runtime:
    assert opened.settings is not None and opened.make is not None
    return opened.make(opened.settings)


@pytest.mark.parametrize("how", ["flag", "setting"])
def test_a_viewer_builds_no_broker_book_or_claim(
    how: str, opened: Opened, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write(broker_steps=[{"positions": []}], book=[])
    arguments = ["--config", str(project.config), "--data-dir", str(project.data_dir)]
    if how == "flag":
        arguments.append("--viewer")
    else:
        with project.config.open("a", encoding="utf-8") as config:
            config.write("\n[store]\nviewer = true\n")
    called: list[Any] = []
    monkeypatch.setattr("position_sync.wiring.build_runtime", lambda *a, **k: called.append(a))
    assert cli.main(arguments) == 0
    assert called == []  # the syncing runtime (brokers, books, the claim) was never built
    assert opened.settings is not None and opened.settings.team.viewer
    assert setup_needed(opened.settings) is None  # no first-run page: a viewer needs no account
    assert "viewer" in window_main.window_title(opened.settings, demo=False)
    runtime = built(opened)
    try:
        assert isinstance(runtime.worker, StoreViewer)
        assert runtime.books == {} and runtime.claim is None and runtime.adapter_context is None
        assert runtime.store.url.endswith("position-sync.db")
    finally:
        runtime.store.close()


def test_a_viewer_takes_no_command_and_no_demo(capsys: pytest.CaptureFixture[str]) -> None:
    for arguments in (["--viewer", "status"], ["--viewer", "--demo"]):
        with pytest.raises(SystemExit) as exited:
            cli.main(arguments)
        assert exited.value.code == 3
    assert "--viewer opens the window on the store alone" in capsys.readouterr().err
