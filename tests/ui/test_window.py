"""The window with the real core underneath: resync, offline picture, tray fallback, acks, charts."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSystemTrayIcon
from pytestqt.qtbot import QtBot

from app.config import Settings, load_settings
from app.domain import AccountState, Event, EventKind, Row, Status
from app.runtime import Runtime, build_runtime
from app.store import acks as ack_store
from app.store.series import account_series, steps
from app.sync import SyncResult
from brokers.simulated import SimulatedBroker
from tests.ui.conftest import demo_project, run, walk
from ui.controller import Controller
from ui.preferences import Preferences
from ui.status_style import Health
from ui.window import MainWindow

T0 = datetime.now(UTC)


@dataclass
class App:
    controller: Controller
    window: MainWindow
    runtime: Runtime
    quit_event: asyncio.Event


@dataclass
class Fetches:
    """Broker reads so far, and how long each one takes."""

    calls: list[str] = field(default_factory=list)
    delay: float = 0.0


@pytest.fixture
def fetches(monkeypatch: pytest.MonkeyPatch) -> Fetches:
    record = Fetches()
    original = SimulatedBroker.fetch

    async def counted(self: SimulatedBroker) -> Any:
        record.calls.append(self.account_id)
        await asyncio.sleep(record.delay)
        return await original(self)

    monkeypatch.setattr(SimulatedBroker, "fetch", counted)
    return record


@pytest.fixture
def no_tray(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: False))


def make_app(qtbot: QtBot, settings: Settings, data_dir: Path, **prefs: Any) -> App:
    runtime = build_runtime(settings, data_dir)
    window = MainWindow()
    qtbot.addWidget(window)
    quit_event = asyncio.Event()
    controller = Controller(runtime, window, prefs=Preferences(**prefs), quit_event=quit_event)
    return App(controller, window, runtime, quit_event)


@pytest.fixture
def app(qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path, no_tray: None) -> Iterator[App]:
    settings = load_settings(demo_project(tmp_path, interval=3600))
    built = make_app(qtbot, settings, tmp_path / "data")
    run(qloop, built.controller.load_cached())
    yield built
    run(qloop, built.controller.close())


def phantom_result(account: str = "demo", instrument: str = "NSE:TCS", confirmed: bool = True) -> SyncResult:
    row = Row(account, instrument, Status.PHANTOM, T0, None, Decimal(50), confirmed=confirmed)
    event = Event(T0, account, EventKind.PHANTOM_DETECTED, instrument, "phantom: broker none, book 50")
    return SyncResult(account, "test", T0, T0, AccountState.OK, None, {instrument: row}, [event], T0)


def test_resync_pressed_twice_runs_one_sync(
    app: App, qloop: asyncio.AbstractEventLoop, fetches: Fetches
) -> None:
    fetches.delay = 0.3
    app.window.act_resync.trigger()
    assert app.controller.resyncing()
    assert not app.window.act_resync.isEnabled()
    app.window.act_resync.trigger()  # disabled while it runs: nothing happens
    assert app.controller.resync() is False  # F5 and Ctrl+R land here too
    assert app.window.progress.isVisibleTo(app.window)
    assert app.window.progress.format() == "Syncing 0/1"

    async def settle() -> None:
        while app.controller.resyncing():
            await asyncio.sleep(0.02)

    run(qloop, settle())
    assert fetches.calls == ["demo"]
    assert app.window.act_resync.isEnabled()
    assert app.window.model.rowCount() == 7


def test_offline_banner_shows_the_cached_picture_before_any_network(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path, no_tray: None, fetches: Fetches
) -> None:
    settings = load_settings(demo_project(tmp_path, interval=3600))
    data = tmp_path / "data"
    before = datetime.now(UTC) - timedelta(minutes=5)
    earlier = build_runtime(settings, data, clock=lambda: before)
    run(qloop, walk(earlier, 2))  # the next step of the demo reads fine
    run(qloop, earlier.close())
    fetches.calls.clear()

    built = make_app(qtbot, settings, data)
    controller, window = built.controller, built.window
    try:
        run(qloop, controller.load_cached())
        window.show()
        assert fetches.calls == []  # the picture came from the store alone
        assert window.model.rowCount() == 7
        assert window.banner.isVisible()
        expected = before.astimezone().strftime("%H:%M")
        assert re.match(rf"Showing cached data from {expected} \((4|5) min ago\)", window.banner.text())
        run(qloop, controller.worker.sync_all("test"))
        assert fetches.calls == ["demo"]
        assert not window.banner.isVisible()
    finally:
        run(qloop, controller.close())


def test_stale_account_rows_are_greyed_with_their_age(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path, no_tray: None
) -> None:
    settings = load_settings(demo_project(tmp_path, interval=3600))
    data = tmp_path / "data"
    before = datetime.now(UTC) - timedelta(minutes=12)
    earlier = build_runtime(settings, data, clock=lambda: before)
    run(qloop, walk(earlier, 4))  # the fourth step of the demo cannot reach the broker
    run(qloop, earlier.close())
    built = make_app(qtbot, settings, data)
    try:
        run(qloop, built.controller.load_cached())
        model = built.window.model
        statuses = {model.row_at(i).status for i in range(model.rowCount())}
        assert statuses == {Status.STALE}
        text = model.index(0, 10).data()
        assert text.startswith("Stale 12 min")
        assert model.index(0, 10).data(Qt.ItemDataRole.FontRole).italic()
        badge = built.window.accounts.badges["demo"]
        assert badge.kind == "stale" and "unreachable" in badge.toolTip()
        assert "could not be read" in built.window.banner.text()
    finally:
        run(qloop, built.controller.close())


def test_without_a_system_tray_notifications_appear_in_the_window(qtbot: QtBot, app: App) -> None:
    app.controller.tray.ensure_visible()
    assert not app.controller.tray.is_shown()
    app.window.show()
    app.controller.on_result(phantom_result())
    delivered = app.controller.notifier.flush()
    assert [d.backend for d in delivered] == ["window"]
    assert app.window.toast.isVisible()
    assert "Phantom position at demo" in app.window.toast.text.text()
    assert app.window.notifications.count() == 1
    app.window.toast.show_row.click()  # "Show row" selects the row it is about
    assert app.window.table.current_key() == ("demo", "NSE:TCS")
    app.window.close()  # no tray to hide into: closing quits instead of vanishing
    assert app.quit_event.is_set()


def test_with_a_tray_the_tray_shows_the_message_and_its_click_selects_the_row(
    qtbot: QtBot, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    monkeypatch.setattr(QSystemTrayIcon, "supportsMessages", staticmethod(lambda: True))
    shown: list[tuple[str, str, int]] = []
    monkeypatch.setattr(app.controller.tray, "show_message", lambda t, b, s: shown.append((t, b, s)))
    assert app.controller.tray.ensure_visible()
    app.controller.on_result(phantom_result())
    delivered = app.controller.notifier.flush()
    assert [d.backend for d in delivered] == ["tray"] and shown[0][0] == "Phantom position at demo"
    assert not app.window.toast.isVisible()
    assert app.window.notifications.count() == 1  # every message is also in the window
    app.controller.tray.message_clicked.emit()
    assert app.window.isVisible() and app.window.table.current_key() == ("demo", "NSE:TCS")
    assert app.controller.tray.health is Health.BAD
    app.window.close()  # with a tray (and close-to-tray on) the window only hides
    assert not app.window.isVisible() and not app.quit_event.is_set()


def test_notifications_once_per_key_grouped_and_confirmed_only(app: App) -> None:
    controller = app.controller
    controller.on_result(phantom_result(confirmed=False))
    assert controller.notifier.flush() == []
    controller.on_result(phantom_result())
    controller.on_result(phantom_result())
    assert len(controller.notifier.flush()) == 1
    burst = [phantom_result(instrument=f"NSE:X{i}") for i in range(3)]
    rows = {k: v for r in burst for k, v in r.rows.items()}
    events = [e for r in burst for e in r.events]
    controller.on_result(SyncResult("demo", "test", T0, T0, AccountState.OK, None, rows, events, T0))
    (grouped,) = controller.notifier.flush()
    assert grouped.notification.title == "3 phantom positions at demo"


def test_acknowledge_stops_notifications_until_the_row_changes(
    app: App, qloop: asyncio.AbstractEventLoop
) -> None:
    controller = app.controller
    result = phantom_result()
    controller.on_result(result)
    controller.notifier.flush()
    row = result.rows["NSE:TCS"]
    run(qloop, controller.acknowledge([row], "booked by hand"))
    assert app.window.model.muted("demo", "NSE:TCS")
    resolved = Event(T0, "demo", EventKind.PHANTOM_RESOLVED, "NSE:TCS", "")
    controller.on_result(SyncResult("demo", "test", T0, T0, AccountState.OK, None, {}, [resolved], T0))
    controller.on_result(result)  # back, exactly as acknowledged: quiet
    assert controller.notifier.flush() == []
    stored = ack_store.current(app.runtime.store)[("demo", "NSE:TCS")]
    assert stored.ack is not None and stored.ack.note == "booked by hand"
    changed = phantom_result()
    bigger = {"NSE:TCS": Row("demo", "NSE:TCS", Status.PHANTOM, T0, None, Decimal(80), confirmed=True)}
    controller.on_result(SyncResult("demo", "test", T0, T0, AccountState.OK, None, {}, [resolved], T0))
    controller.on_result(
        SyncResult("demo", "test", T0, T0, AccountState.OK, None, bigger, changed.events, T0)
    )
    assert len(controller.notifier.flush()) == 1  # it changed since: loud again


def test_snooze_marks_the_row_and_keeps_it_quiet(app: App, qloop: asyncio.AbstractEventLoop) -> None:
    result = phantom_result()
    app.controller.on_result(result)
    app.controller.notifier.flush()
    run(qloop, app.controller.snooze([result.rows["NSE:TCS"]], timedelta(hours=1)))
    index = app.window.model.index_of(("demo", "NSE:TCS"), 10)
    assert "snoozed to" in index.data()


def test_charts_receive_the_stores_series(app: App, qloop: asyncio.AbstractEventLoop) -> None:
    controller = app.controller
    run(qloop, walk(app.runtime, 3))

    async def drain() -> None:  # metrics are recorded on the reader thread after each result
        while [t for t in controller._tasks if not t.done()]:
            await asyncio.sleep(0.02)

    run(qloop, drain())
    series = run(qloop, controller.load_account_history("demo"))
    stored = account_series(app.runtime.store, "demo")
    assert series.problems.values == stored.problems.values == [5.0, 5.0, 5.0]
    assert len(stored.gross_exposure) == 3 and stored.gross_exposure.values[0] > 0
    data = app.window.history.curve_data()
    xs, ys = data["problems"]
    expected_x, expected_y = steps(stored.problems.times, stored.problems.values)
    assert list(ys[: len(expected_y)]) == expected_y and list(xs[: len(expected_x)]) == expected_x
    assert list(data["exposure"][1]) == stored.gross_exposure.values
    assert list(data["unrealised"][1]) == stored.unrealised_pnl.values

    app.window.table.select_key(("demo", "NFO:NIFTY26N2424500CE"))
    run(qloop, controller.load_row_history(("demo", "NFO:NIFTY26N2424500CE")))
    _, broker_y = app.window.history.curve_data()["broker"]
    _, local_y = app.window.history.curve_data()["local"]
    assert broker_y[0] == 150 and 0 in list(broker_y)  # the stop-loss closed it at the broker
    assert set(local_y) == {150}
    timeline = app.window.history.timeline
    texts = [item.text(1) for i in range(timeline.topLevelItemCount()) if (item := timeline.topLevelItem(i))]
    assert any(t.startswith("closed:") for t in texts) and any(t.startswith("Phantom") for t in texts)
