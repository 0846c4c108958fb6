"""Text from brokers, books and configs is shown literally on every surface, never as markup.

A Kite 500 whose message held ``<font size=6 color=red>BIG</font><img src=x>`` showed big red
text and an image box in the toast, the banner and the History title. Each surface here is
read back as what the user sees: a plain-text label's text, or a rich-text label's (or
tooltip's) rendering through ``QTextDocument``, which must hold the markup as characters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QLabel, QMessageBox
from pytestqt.qtbot import QtBot

from position_sync.app.config import load_settings
from position_sync.app.domain import Event, EventKind, Row, Status
from position_sync.app.errors import ReadError, ReadErrorKind
from position_sync.app.store.series import QuantitySeries
from position_sync.app.sync import SyncResult
from position_sync.brokers.simulated import SimulatedBroker
from position_sync.ui.history import TimelineItem
from position_sync.ui.plain_text import escape, markup, message_box, notification_text, tooltip
from position_sync.wiring import build_runtime
from tests.ui.conftest import T0, App, demo_project, make_app, run, walk

HOSTILE = "<font size=6 color=red>BIG</font><img src=x>"


def seen(text: str, rich: bool) -> str:
    """What Qt shows for ``text``: itself when plain, its rendering when rich."""
    if not rich:
        return text
    document = QTextDocument()
    document.setHtml(text)
    return document.toPlainText()


def label_shows(label: QLabel) -> str:
    fmt = label.textFormat()
    rich = fmt == Qt.TextFormat.RichText or (
        fmt == Qt.TextFormat.AutoText and GuiQt.mightBeRichText(label.text())
    )
    return seen(label.text(), rich)


def tooltip_shows(text: str) -> str:
    """Tooltips guess: whatever looks like markup is rendered as such."""
    return seen(text, GuiQt.mightBeRichText(text))


def shows_literally(shown: str) -> None:
    assert HOSTILE in shown.replace("\u2029", "\n"), shown


def _sync(app: App, qloop: asyncio.AbstractEventLoop) -> SyncResult:
    """One real sync of the demo account, handed to the window as the worker does."""
    results: list[SyncResult] = []
    unsubscribe = app.runtime.worker.subscribe(results.append)
    try:
        run(qloop, app.runtime.worker.sync("demo", "test"))
    finally:
        unsubscribe()
    [result] = results
    if app.controller._unsubscribe is None:  # not listening yet: hand it over as the worker would
        app.controller.on_result(result)
    qloop.run_until_complete(asyncio.sleep(0.2))
    return result


@pytest.fixture
def cached_app(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path, no_tray: None
) -> Iterator[App]:
    """The demo account synced once by an earlier session, then a window on its cached rows."""
    settings = load_settings(demo_project(tmp_path, interval=3600, only="demo"))
    earlier = build_runtime(settings, tmp_path / "data")
    run(qloop, walk(earlier, 1))
    run(qloop, earlier.close())
    built = make_app(qtbot, settings, tmp_path / "data")
    run(qloop, built.controller.load_cached())
    yield built
    run(qloop, built.controller.close())


def test_a_sync_failure_quoting_markup_is_shown_as_text_everywhere(
    cached_app: App, qloop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's broker answers like Kite's 500 whose message is markup."""
    app = cached_app
    controller, window = app.controller, app.window

    async def fail(self: SimulatedBroker) -> Any:
        raise ReadError(ReadErrorKind.HTTP, f"Kite answered HTTP 500: {HOSTILE}")

    monkeypatch.setattr(SimulatedBroker, "fetch", fail)
    result = _sync(app, qloop)
    assert result.error is not None and HOSTILE in result.error
    assert controller.accounts["demo"].state.value == "stale"

    # The banner quotes the failing account's error.
    assert not window.banner.isHidden()
    assert window.banner.textFormat() == Qt.TextFormat.PlainText
    shows_literally(label_shows(window.banner))

    # The account's badge: its text and its tooltip.
    badge = window.accounts.badges["demo"]
    shows_literally(tooltip_shows(badge.toolTip()))
    assert "<b>" not in label_shows(badge.text)

    # The events pane: the failure's tooltip.
    model = window.events.model
    tips = [
        model.data(model.index(row, 4, QModelIndex()), Qt.ItemDataRole.ToolTipRole)
        for row in range(model.rowCount())
    ]
    assert any(HOSTILE in tooltip_shows(t) for t in tips if t), tips

    # The positions table: a stale row's tooltip names the reason.
    positions = window.model
    stale_tips = [
        positions.data(positions.index(row, 0), Qt.ItemDataRole.ToolTipRole)
        for row in range(positions.rowCount())
    ]
    assert stale_tips, "the demo has cached rows"
    assert any(HOSTILE in tooltip_shows(t) for t in stale_tips if t), stale_tips[:2]


def test_a_notification_quoting_markup_is_shown_as_text(app: App) -> None:
    """The toast: our bold title, then the body, both as the outside sent them."""
    instrument = f"NSE:{HOSTILE}"
    row = Row(
        account="demo",
        instrument=instrument,
        status=Status.PHANTOM,
        since=T0,
        broker_qty=None,
        local_qty=Decimal(50),
        confirmed=True,
    )
    event = Event(T0, "demo", EventKind.PHANTOM_DETECTED, instrument, f"phantom: {HOSTILE}")
    app.controller.tray.ensure_visible()  # none here (no_tray): notifications go to the window
    app.window.show()
    app.controller.on_result(
        SyncResult(
            "demo",
            "test",
            T0,
            T0,
            app.controller.accounts["demo"].state,
            None,
            {instrument: row},
            [event],
            T0,
        )
    )
    app.controller.notifier.flush()
    toast = app.window.toast
    assert toast.isVisible()
    shows_literally(label_shows(toast.text))


def test_the_history_title_and_timeline_show_markup_as_text(app: App) -> None:
    history = app.window.history
    now = datetime.now(UTC)
    series = QuantitySeries(HOSTILE, f"NSE:{HOSTILE}", [now.timestamp()], [0.0], [50.0], ["phantom"])
    history.show_row(series, [TimelineItem(now, "event", f"Phantom: {HOSTILE}")], now)
    shows_literally(label_shows(history.row_title))
    item = history.timeline.topLevelItem(0)
    assert item is not None
    shows_literally(tooltip_shows(item.toolTip(1)))


def test_the_shared_helpers() -> None:
    assert HOSTILE in seen(markup("<b>{x}</b>", x=HOSTILE), rich=True)
    assert seen(escape(f"a\n{HOSTILE}"), rich=True).replace("\u2029", "\n").endswith(HOSTILE)
    assert HOSTILE in tooltip_shows(tooltip(HOSTILE))
    assert tooltip("") == ""
    box = message_box(QMessageBox.Icon.Warning, "Book not changed", HOSTILE)
    assert box.textFormat() == Qt.TextFormat.PlainText and box.text() == HOSTILE
    box.deleteLater()
    # The tray: escaped for Linux notification servers that read markup, as-is elsewhere.
    assert "<" not in notification_text(HOSTILE, platform="linux")
    assert notification_text(HOSTILE, platform="win32") == HOSTILE
