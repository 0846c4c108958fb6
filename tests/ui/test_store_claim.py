"""The window is a writer too: it claims the store, and a store another process syncs keeps it
from starting with one sentence (printed, and in a message box on a real display)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from position_sync.app.config import load_settings
from position_sync.app.store.ownership import FileLockOwnership
from position_sync.app.store.repository import DB_NAME
from position_sync.ui.main import run_window
from tests.ui.conftest import demo_project, window_runtime


def test_the_window_refuses_a_store_another_process_syncs(
    qapp: QApplication, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = demo_project(tmp_path, interval=0.25)
    data = tmp_path / "data"
    data.mkdir()
    database = data / DB_NAME
    daemon = FileLockOwnership(database.with_name(f"{DB_NAME}.owner"), str(database), "daemon")
    daemon.acquire()
    try:
        args = argparse.Namespace(demo=False, screenshot=None)
        assert run_window(load_settings(config), data, args, window_runtime(data)) == 3
    finally:
        daemon.release()
    err = capsys.readouterr().err
    assert f"in use by another Position Sync (daemon, pid {os.getpid()}" in err
    assert err.count("\n") == 1
    assert not database.exists(), "a refused window writes nothing"
