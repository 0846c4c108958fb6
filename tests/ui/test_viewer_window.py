"""The window as a viewer of a shared PostgreSQL store: a daemon's sync reaches its grid, and what
a viewer cannot do is off, saying why."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from position_sync.app.config import load_settings
from position_sync.app.domain import Status
from position_sync.app.runtime import Runtime
from position_sync.app.team.viewer import StoreViewer, viewer_runtime
from position_sync.ui.controller import Controller
from position_sync.ui.main import window_title
from position_sync.ui.preferences import Preferences
from position_sync.ui.window import MainWindow
from position_sync.wiring import build_runtime
from tests.ui.conftest import demo_project, run
from tests.viewer_helpers import fresh_database, reader_role

pytestmark = pytest.mark.postgres


@pytest.fixture
def database(pg_admin: Engine) -> Iterator[str]:
    with fresh_database(pg_admin, "ps_window") as url:
        yield url


def viewer_config(folder: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A desktop's whole config: the store (its URL, password and all, in the environment), and
    that this window only watches it."""
    monkeypatch.setenv("PS_TEST_VIEWER_URL", url)
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "viewer.toml"
    config.write_text('[store]\nurl_env = "PS_TEST_VIEWER_URL"\nviewer = true\n', encoding="utf-8")
    return config


def daemon_config(tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PS_TEST_DAEMON_URL", url)
    return demo_project(
        tmp_path, interval=3600, extra='\n[store]\nurl_env = "PS_TEST_DAEMON_URL"\n', only="demo"
    )


def open_viewer_window(qtbot: QtBot, runtime: Runtime, data: Path) -> tuple[Controller, MainWindow]:
    window = MainWindow(window_title(runtime.settings, demo=False))
    qtbot.addWidget(window)
    controller = Controller(
        runtime,
        window,
        prefs=Preferences(),
        quit_event=asyncio.Event(),
        make_runtime=lambda new: viewer_runtime(new, data),
    )
    return controller, window


async def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the viewer's window did not show the daemon's change in time")
        await asyncio.sleep(0.02)


def test_a_daemons_sync_reaches_the_viewers_grid(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    tmp_path: Path,
    no_tray: None,
    database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    daemon_settings = load_settings(daemon_config(tmp_path, database, monkeypatch))
    daemon = build_runtime(daemon_settings, tmp_path / "daemon-data", purpose="daemon")
    run(qloop, daemon.worker.load())
    run(qloop, daemon.worker.sync_all("test"))  # the demo's first step: everything matches

    settings = load_settings(viewer_config(tmp_path / "desk", database, monkeypatch))
    assert settings.team.viewer and settings.accounts == ()
    runtime = viewer_runtime(settings, tmp_path / "desk-data")
    assert runtime.books == {} and runtime.claim is None and isinstance(runtime.worker, StoreViewer)
    controller, window = open_viewer_window(qtbot, runtime, tmp_path / "desk-data")
    try:
        run(qloop, controller.load_cached())
        run(qloop, controller.start())
        window.show()
        model = window.model
        first = {model.row_at(i).instrument: model.row_at(i).status for i in range(model.rowCount())}
        assert first == {r.instrument: r.status for r in daemon.store.rows() if r.account == "demo"}
        assert "viewer" in window.windowTitle()
        viewer = runtime.worker
        run(qloop, until(lambda: viewer.status().live))
        controller.tick()
        banner = controller.viewer.banner
        assert banner is not None and banner.isVisible()
        assert banner.text().startswith(f"Viewer of {make_url(database).database} on 127.0.0.1")
        assert "live" in banner.text() and "last saved" in banner.text()
        # What a viewer cannot do is off, and says why.
        assert not window.act_pause.isEnabled() and "daemons decide" in window.act_pause.toolTip()
        assert (
            not window.act_settings.isEnabled() and "daemons' configuration" in window.act_settings.toolTip()
        )
        assert all(not a.isEnabled() for a in window.fix_actions.values())
        assert "does not write to books" in window.fix_actions["adopt"].toolTip()
        assert window.act_ack.isEnabled() and window.act_resync.isEnabled()  # the owner's role may

        def stored() -> dict[str, Status]:
            return {r.instrument: r.status for r in daemon.store.rows() if r.account == "demo"}

        def shown() -> dict[str, Status]:
            return {model.row_at(i).instrument: model.row_at(i).status for i in range(model.rowCount())}

        for _ in range(6):  # the daemon walks the demo on until a status changes
            run(qloop, daemon.worker.sync_all("test"))
            if stored() != first:
                break
        assert stored() != first
        run(qloop, until(lambda: shown() == stored()))
        assert controller.results_seen >= 1
    finally:
        run(qloop, controller.close())
        run(qloop, daemon.close())


def test_a_read_only_role_turns_acknowledge_and_resync_off_saying_why(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    tmp_path: Path,
    no_tray: None,
    database: str,
    pg_admin: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    daemon_settings = load_settings(daemon_config(tmp_path, database, monkeypatch))
    daemon = build_runtime(daemon_settings, tmp_path / "daemon-data", purpose="daemon")
    run(qloop, daemon.worker.load())
    run(qloop, daemon.worker.sync_all("test"))
    run(qloop, daemon.close())
    role = f"ps_look_{uuid.uuid4().hex[:8]}"
    with reader_role(pg_admin, database, role) as url:
        settings = load_settings(viewer_config(tmp_path / "desk", url, monkeypatch))
        runtime = viewer_runtime(settings, tmp_path / "desk-data")
        controller, window = open_viewer_window(qtbot, runtime, tmp_path / "desk-data")
        try:
            run(qloop, controller.load_cached())
            assert window.model.rowCount() > 0
            for action in (window.act_ack, window.act_snooze, window.act_clear_ack, window.act_resync):
                assert not action.isEnabled()
                assert f"your database role {role} can only read" in action.toolTip()
            assert controller.resync() is False
            assert "can only read" in window.statusBar().currentMessage()
            controller.tick()
            assert controller.viewer.banner is not None
            assert "read-only database role" in controller.viewer.banner.text()
        finally:
            run(qloop, controller.close())
