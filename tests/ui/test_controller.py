"""The controller's life with the real core: new settings, acknowledgements from elsewhere,
the first sync, snoozes running out, races between the diff thread and a new runtime."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from position_sync.app.config import Settings, load_settings
from position_sync.app.domain import AccountState, Row, Status
from position_sync.app.runtime import Runtime
from position_sync.app.store import Store, StoreError
from position_sync.app.store import acks as ack_store
from position_sync.app.sync import SyncResult
from position_sync.ui import status_style
from position_sync.ui.positions_index import Plan
from position_sync.ui.preferences import Preferences
from position_sync.ui.settings_dialog import SettingsDialog
from position_sync.ui.status_style import Health
from tests.ui.conftest import T0, App, demo_project, make_app, phantom_result, run, walk


class Clock:
    """The controller's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


async def idle(app: App) -> None:
    """Until the controller's own tasks (reloads, history reads) are done."""
    while [t for t in app.controller._tasks if not t.done()]:
        await asyncio.sleep(0.01)


@pytest.fixture
def clocked(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path, no_tray: None
) -> Iterator[tuple[App, Clock]]:
    clock = Clock()
    built = make_app(qtbot, load_settings(demo_project(tmp_path, interval=3600)), tmp_path / "data", clock)
    run(qloop, built.controller.load_cached())
    yield built, clock
    run(qloop, built.controller.close())


# -- new settings ---------------------------------------------------------------------------


def test_a_failed_rebuild_keeps_the_old_runtime_running_and_says_why(
    app: App, qloop: asyncio.AbstractEventLoop
) -> None:
    old = app.runtime
    threads: list[threading.Thread] = []

    def broken(settings: Settings) -> Runtime:
        threads.append(threading.current_thread())
        raise StoreError(
            "the store at postgresql://monitor@db/positions cannot be opened: connection refused"
        )

    error = run(qloop, app.controller.apply_settings(app.controller.settings, broken))
    assert error == "the store at postgresql://monitor@db/positions cannot be opened: connection refused"
    assert threads and threads[0] is not threading.main_thread()  # built off the UI thread
    assert app.controller.runtime is old
    result = run(qloop, app.controller.worker.sync("demo"))  # the old runtime still works
    assert result.state is AccountState.OK
    assert app.window.model.row_for(("demo", "NSE:TCS")) is not None
    message = app.window.statusBar().currentMessage()
    assert "could not be started" in message and "connection refused" in message
    assert "previous ones keep running" in message


def test_the_settings_dialog_refuses_settings_that_cannot_start_and_writes_nothing(
    app: App, qloop: asyncio.AbstractEventLoop
) -> None:
    controller = app.controller
    config = controller.settings.path
    assert config is not None
    before = config.read_text(encoding="utf-8")
    old = app.runtime
    controller.open_settings()
    dialog = controller.settings_dialog
    assert isinstance(dialog, SettingsDialog)
    dialog.a_options.setPlainText('scenario = "missing.toml"')  # parses, but the broker cannot start
    task = dialog.save()
    assert task is not None
    assert run(qloop, _wait(task)) is False
    assert "missing.toml" in dialog.error.text() and "does not exist" in dialog.error.text()
    assert dialog.isVisible() and config.read_text(encoding="utf-8") == before
    assert controller.runtime is old

    dialog.a_options.setPlainText('scenario = "scenario.toml"')
    dialog.a_interval.setValue(1800)
    task = dialog.save()
    assert task is not None and run(qloop, _wait(task)) is True
    assert controller.runtime is not old and controller.settings.account("demo").interval == 1800
    assert load_settings(config).account("demo").interval == 1800
    assert not dialog.isVisible()


async def _wait(task: asyncio.Future[bool]) -> bool:
    return await task


def test_new_settings_do_not_duplicate_the_event_log(app: App, qloop: asyncio.AbstractEventLoop) -> None:
    run(qloop, walk(app.runtime, 3))
    stored = len(app.runtime.store.events())
    assert stored > 0
    assert app.window.events.model.rowCount() == stored
    for _ in range(2):
        assert run(qloop, app.controller.apply_settings(app.controller.settings)) is None
        assert app.window.events.model.rowCount() == stored
        run(qloop, app.controller.worker.sync_all("test"))  # joins the new runtime's start-up sync
        stored = len(app.controller.runtime.store.events())
        assert app.window.events.model.rowCount() == stored


def test_a_new_runtime_while_a_large_picture_is_diffed_drops_the_old_result(
    app: App, qloop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    """``apply_settings`` clears the queue while the diff thread works on its head."""
    model = app.window.model
    original = model.plan
    started = threading.Event()

    def slow_plan(account: str, rows: Mapping[str, Row]) -> Plan:
        started.set()
        threading.Event().wait(0.6)  # long enough for the new runtime to replace the old one
        return original(account, rows)

    model.plan = slow_plan  # type: ignore[method-assign]
    rows = {
        f"NSE:X{i:04}": Row(
            account="demo",
            instrument=f"NSE:X{i:04}",
            status=Status.MATCH,
            since=T0,
            broker_qty=Decimal(1),
            local_qty=Decimal(1),
        )
        for i in range(2500)
    }
    app.controller.on_result(SyncResult("demo", "test", T0, T0, AccountState.OK, None, rows, [], T0))
    assert app.controller.results.waiting  # a large picture goes to the diff thread

    async def both() -> None:
        while not started.is_set():
            await asyncio.sleep(0.01)
        assert await app.controller.apply_settings(app.controller.settings) is None
        await app.controller.drain()

    with caplog.at_level(logging.ERROR):
        run(qloop, both())
    assert "a window task failed" not in caplog.text
    assert model.row_for(("demo", "NSE:X0000")) is None  # the old runtime's picture was not shown


# -- acknowledgements written elsewhere -----------------------------------------------------


def test_acknowledgements_from_elsewhere_reach_a_running_window(
    clocked: tuple[App, Clock], qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    app, clock = clocked
    run(qloop, walk(app.runtime, 2))
    row = app.window.model.row_for(("demo", "NSE:TCS"))
    assert row is not None and not app.window.model.muted("demo", "NSE:TCS", clock.now)
    other = Store.open(tmp_path / "data")  # what `position-sync ack` does, in its own process
    try:
        ack_store.acknowledge(other, row, "known: booked by hand", clock.now)
    finally:
        other.close()
    app.controller.tick()
    run(qloop, idle(app))
    assert not app.window.model.muted("demo", "NSE:TCS", clock.now)  # not read again yet
    clock.now += timedelta(seconds=31)
    app.controller.tick()
    run(qloop, idle(app))
    assert app.window.model.muted("demo", "NSE:TCS", clock.now)
    assert "acknowledged" in app.window.model.index_of(("demo", "NSE:TCS"), 10).data()
    assert run(qloop, app.controller.acks.reload()) == 0  # an unchanged read touches no row


# -- the first sync -------------------------------------------------------------------------


def test_before_the_first_sync_the_window_is_amber_not_green(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path, no_tray: None
) -> None:
    settings = load_settings(demo_project(tmp_path, interval=3600, only="demo-us"))
    built = make_app(qtbot, settings, tmp_path / "data")
    try:
        run(qloop, built.controller.load_cached())
        assert built.controller.health is Health.WARN
        assert "waiting for the first sync" in built.window.counts.text()
        assert "all matching" not in built.window.counts.text()
        assert "waiting for the first sync of demo-us" in built.controller.tray.icon.toolTip()
        run(qloop, built.controller.worker.sync_all("test"))
        assert built.controller.health is Health.GOOD  # demo-us matches its book
        assert "all matching" in built.window.counts.text()
    finally:
        run(qloop, built.controller.close())


def test_the_badge_is_not_syncing_once_the_result_is_shown(
    app: App, qloop: asyncio.AbstractEventLoop
) -> None:
    seen: list[bool] = []
    app.controller.worker.subscribe(lambda r: seen.append(app.controller.worker.is_syncing(r.account)))
    run(qloop, app.controller.worker.sync("demo"))
    assert seen == [True]  # the worker publishes before it marks the sync finished...
    assert app.window.accounts.badges["demo"].kind == "ok"  # ...and the badge says done anyway
    assert not app.window.progress.isVisibleTo(app.window)


# -- snoozes --------------------------------------------------------------------------------


def test_a_snoozed_detection_notifies_when_the_snooze_runs_out(
    clocked: tuple[App, Clock], qloop: asyncio.AbstractEventLoop
) -> None:
    app, clock = clocked
    controller = app.controller
    result = phantom_result()
    run(qloop, controller.acks.snooze([result.rows["NSE:TCS"]], timedelta(minutes=15)))
    controller.on_result(result)
    assert controller.notifier.flush() == []  # snoozed: quiet
    clock.now += timedelta(minutes=14)
    controller.tick()
    assert controller.notifier.flush() == []
    clock.now += timedelta(minutes=2)
    controller.tick()
    (delivered,) = controller.notifier.flush()
    assert delivered.notification.title == "Phantom position at demo"
    controller.tick()
    assert controller.notifier.flush() == []  # once


# -- palette --------------------------------------------------------------------------------


def test_the_dark_theme_setting_is_honoured_where_the_system_says_nothing(app: App) -> None:
    try:
        app.controller._use_preferences(Preferences(theme="dark"))
        assert status_style.is_dark(app.window.palette())
        assert app.window.model._presenter._dark
        app.controller._use_preferences(Preferences(theme="light"))
        assert not status_style.is_dark(app.window.palette())
    finally:
        app.controller._use_preferences(Preferences())
