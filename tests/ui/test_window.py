"""The window with the real core underneath: resync, offline picture, tray fallback, acks, charts."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSystemTrayIcon
from pytestqt.qtbot import QtBot

from position_sync.app.config import load_settings
from position_sync.app.domain import AccountState, Event, EventKind, Row, Status
from position_sync.app.store import acks as ack_store
from position_sync.app.store.series import QuantitySeries, account_series, steps
from position_sync.app.sync import SyncResult
from position_sync.ui.actions import shortcut_names
from position_sync.ui.history import MIN_SPAN, TimelineItem
from position_sync.ui.status_style import Health
from position_sync.ui.window import TAB_HISTORY
from position_sync.wiring import build_runtime
from tests.ui.conftest import T0, App, Fetches, demo_project, make_app, phantom_result, run, walk


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
    assert app.window.progress.format() == "Syncing 0/2"

    async def settle() -> None:
        while app.controller.resyncing():
            await asyncio.sleep(0.02)

    run(qloop, settle())
    assert sorted(fetches.calls) == ["demo", "demo-us"]
    assert app.window.act_resync.isEnabled()
    assert app.window.model.rowCount() == 14


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
        assert window.model.rowCount() == 14
        assert window.banner.isVisible()
        expected = before.astimezone().strftime("%H:%M")
        assert re.match(rf"Showing cached data from {expected} \((4|5) min ago\)", window.banner.text())
        run(qloop, controller.worker.sync_all("test"))
        assert sorted(fetches.calls) == ["demo", "demo-us"]
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
        rows = [model.row_at(i) for i in range(model.rowCount())]
        assert {r.status for r in rows if r.account == "demo"} == {Status.STALE}
        assert {r.status for r in rows if r.account == "demo-us"} == {Status.MATCH}  # still read fine
        index = model.index_of(("demo", "NSE:TCS"), 10)
        assert index.data() == "Stale 12 min · Phantom"
        assert index.data(Qt.ItemDataRole.FontRole).italic()
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
    run(qloop, controller.acks.acknowledge([row], "booked by hand"))
    assert app.window.model.muted("demo", "NSE:TCS")
    resolved = Event(T0, "demo", EventKind.PHANTOM_RESOLVED, "NSE:TCS", "")
    controller.on_result(SyncResult("demo", "test", T0, T0, AccountState.OK, None, {}, [resolved], T0))
    controller.on_result(result)  # back, exactly as acknowledged: quiet
    assert controller.notifier.flush() == []
    stored = ack_store.current(app.runtime.store)[("demo", "NSE:TCS")]
    assert stored.ack is not None and stored.ack.note == "booked by hand"
    changed = phantom_result()
    bigger = {
        "NSE:TCS": Row(
            account="demo",
            instrument="NSE:TCS",
            status=Status.PHANTOM,
            since=T0,
            broker_qty=None,
            local_qty=Decimal(80),
            confirmed=True,
        )
    }
    controller.on_result(SyncResult("demo", "test", T0, T0, AccountState.OK, None, {}, [resolved], T0))
    controller.on_result(
        SyncResult("demo", "test", T0, T0, AccountState.OK, None, bigger, changed.events, T0)
    )
    assert len(controller.notifier.flush()) == 1  # it changed since: loud again


def test_snooze_marks_the_row_and_keeps_it_quiet(app: App, qloop: asyncio.AbstractEventLoop) -> None:
    result = phantom_result()
    app.controller.on_result(result)
    app.controller.notifier.flush()
    run(qloop, app.controller.acks.snooze([result.rows["NSE:TCS"]], timedelta(hours=1)))
    index = app.window.model.index_of(("demo", "NSE:TCS"), 10)
    assert "snoozed to" in index.data()


def test_charts_receive_the_stores_series(app: App, qloop: asyncio.AbstractEventLoop) -> None:
    controller = app.controller
    run(qloop, walk(app.runtime, 3))
    series = run(qloop, controller.history.load_account_history("demo"))
    stored = account_series(app.runtime.store, "demo")
    assert series.problems.values == stored.problems.values
    assert stored.problems.values == [
        8.0,
        8.0,
        9.0,
    ]  # step 3: the option turns phantom, SBIN closes, HDFCBANK differs
    assert len(stored.gross_exposure) == 3 and stored.gross_exposure.values[0] > 0  # prices moved each step
    data = app.window.history.curve_data()
    for name, recorded in (
        ("problems", stored.problems),
        ("exposure", stored.gross_exposure),
        ("unrealised", stored.unrealised_pnl),
    ):
        xs, ys = data[name]
        expected_x, expected_y = steps(recorded.times, recorded.values)
        assert ys[: len(expected_y)] == expected_y and xs[: len(expected_x)] == expected_x, name

    app.window.table.select_key(("demo", "NFO:NIFTY26N2424500CE"))
    run(qloop, controller.history.load_row_history(("demo", "NFO:NIFTY26N2424500CE")))
    _, broker_y = app.window.history.curve_data()["broker"]
    _, local_y = app.window.history.curve_data()["local"]
    assert broker_y[0] == 150 and 0 in list(broker_y)  # the stop-loss closed it at the broker
    assert set(local_y) == {150}
    timeline = app.window.history.timeline
    texts = [item.text(1) for i in range(timeline.topLevelItemCount()) if (item := timeline.topLevelItem(i))]
    assert "Closed at the broker: was 150, realised P&L −₹1,650.00" in texts
    assert "Phantom detected: broker 0, book 150" in texts  # "phantom" said once
    assert any(t.startswith("Phantom: broker 0, book 150") for t in texts)
    assert not any("_" in t for t in texts)  # no raw status names such as price_mismatch


def test_every_action_has_a_shortcut_named_in_its_tooltip(app: App) -> None:
    window = app.window
    actions = window._all_actions()
    assert {a.iconText() for a in actions} >= {
        "Show Position Sync",
        "About Position Sync",
        "Snooze 15 minutes",
        "Snooze 24 hours",
    }
    for action in actions:
        assert action.shortcuts(), f"{action.iconText()} has no shortcut"
        names = shortcut_names(action)
        assert f"({names})" in action.toolTip().splitlines()[0], action.toolTip()
    keys = [shortcut_names(a) for a in actions]
    assert len(keys) == len(set(keys)), "two actions share a shortcut"


def test_the_pause_action_says_what_pressing_it_does(app: App) -> None:
    pause = app.window.act_pause
    assert pause.toolTip().startswith("Pause auto-sync (Ctrl+Shift+P)")
    pause.trigger()
    assert app.controller.worker.paused
    assert pause.text() == "Resume auto-sync" and pause.iconText() == "Resume auto-sync"
    assert pause.toolTip().startswith("Resume auto-sync (Ctrl+Shift+P)")
    pause.trigger()
    assert not app.controller.worker.paused
    assert pause.toolTip().startswith("Pause auto-sync (Ctrl+Shift+P)")


def test_hide_minimises_where_there_is_no_tray_and_never_quits(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.window.show()
    app.window.act_hide.trigger()  # no tray (the fixture): nowhere to hide to
    assert not app.quit_event.is_set()
    assert app.window.isMinimized()
    app.window.bring_to_front()
    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    assert app.controller.tray.ensure_visible()
    app.window.act_hide.trigger()
    assert not app.window.isVisible() and not app.quit_event.is_set()


def test_the_row_timeline_reads_as_words_with_seconds_and_dates(app: App) -> None:
    history = app.window.history
    now = datetime.now(UTC)
    yesterday = now - timedelta(days=1)
    series = QuantitySeries("demo", "NSE:TCS", [yesterday.timestamp()], [0.0], [50.0], ["phantom"])
    history.show_row(
        series,
        [TimelineItem(yesterday, "event", "Phantom detected"), TimelineItem(now, "change", "Phantom")],
        now,
    )
    first, second = (history.timeline.topLevelItem(i) for i in range(2))
    assert first is not None and second is not None
    assert re.fullmatch(r"\d\d:\d\d:\d\d", first.text(0))  # today: time to the second
    assert re.fullmatch(r"\d\d \w{3} \d\d:\d\d:\d\d", second.text(0))  # another day: with its date
    assert not history.row_placeholder_shown()


def test_an_empty_row_history_shows_a_sentence_not_an_axis_from_1970(app: App) -> None:
    history = app.window.history
    empty = QuantitySeries("demo", "NSE:NEW", [], [], [], [])
    history.show_row(empty, [])
    assert history.row_placeholder_shown()
    assert "No history for this row yet" in history.row_placeholder.text()
    history.show_row(None, [])
    assert history.row_placeholder_shown() and "Select a row" in history.row_placeholder.text()


def test_a_short_history_still_gets_a_labelled_time_axis(app: App) -> None:
    app.window.show()
    app.window.show_tab(TAB_HISTORY)
    history = app.window.history
    now = datetime.now(UTC)
    times = [(now - timedelta(seconds=s)).timestamp() for s in (30, 20, 10)]
    history.show_row(QuantitySeries("demo", "NSE:TCS", times, [1, 2, 3], [1, 1, 1], ["x"] * 3), [], now)
    history.row_chart.grab()  # paint once: the axis learns its font and works out its ticks
    (start, end), _ = history.row_plot.viewRange()
    assert end - start >= MIN_SPAN * 0.99
    axis = history.row_plot.getAxis("bottom")
    levels = axis.tickValues(start, end, axis.geometry().width())
    ticks = [value for _spacing, values in levels for value in values]
    assert len(ticks) >= 2
    labels = axis.tickStrings(ticks, 1.0, levels[-1][0])
    assert all(re.fullmatch(r"\d\d:\d\d(:\d\d)?", label) for label in labels), labels
