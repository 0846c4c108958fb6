"""Nothing important is clipped: statuses, hints, the history's "What", the fix plan, the status bar.

The screenshot test (``test_xvfb_columns``) checks the demo at 1280 px on a real display; these
check the same rules offscreen, each on the case that used to be cut.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from position_sync.app.domain import AccountState, Row, Status
from position_sync.app.fix import FixPlan, Write
from position_sync.app.store.series import QuantitySeries
from position_sync.app.sync import SyncResult
from position_sync.ui.book_fix import FixPlanDialog
from position_sync.ui.history import HistoryPane, TimelineItem
from position_sync.ui.positions_columns import Col
from position_sync.ui.presenters.fixes import done_message
from tests.ui.conftest import T0, App, run
from tests.ui.xvfb_probe_columns import fit_of

LONG_HINT = (
    'did you mean NSE:BAJAJ-AUTO? same quantity at the broker; add the alias "NSE:BAJAJ_AUTO" = '
    '"NSE:BAJAJ-AUTO" to the account, or check the book for a second spelling of the same share'
)


def problem_rows() -> dict[str, Row]:
    rows = {}
    for status, name in ((Status.PHANTOM, "NSE:TCS"), (Status.PRICE_MISMATCH, "NSE:INFY")):
        rows[name] = Row(
            account="demo",
            instrument=name,
            status=status,
            since=T0,
            broker_qty=None if status is Status.PHANTOM else Decimal(10),
            local_qty=Decimal(10),
            confirmed=True,
        )
    rows["NSE:SBIN"] = Row(
        account="demo",
        instrument="NSE:SBIN",
        status=Status.UNTRACKED,
        since=T0,
        broker_qty=Decimal(5),
        hint=LONG_HINT,
        confirmed=True,
    )
    return rows


def settle(qtbot: QtBot, app: App) -> None:
    """Let the columns fit (they follow the model on the next turn of the loop)."""
    qtbot.waitUntil(lambda: not app.window.table.fitter._timer.isActive())


def test_an_acknowledged_status_widens_its_column_instead_of_ending_in_dots(
    qtbot: QtBot, app: App, qloop: asyncio.AbstractEventLoop
) -> None:
    window = app.window
    window.resize(1280, 720)
    window.show()
    rows = problem_rows()
    app.controller.on_result(SyncResult("demo", "test", T0, T0, AccountState.OK, None, rows, [], T0))
    run(qloop, app.controller.drain())
    settle(qtbot, app)
    run(qloop, app.controller.acks.acknowledge([rows["NSE:TCS"], rows["NSE:INFY"]], "known"))
    settle(qtbot, app)
    for instrument in ("NSE:TCS", "NSE:INFY"):
        text, needs, room = fit_of(window.table, window.model.index_of(("demo", instrument), int(Col.STATUS)))
        assert text.endswith(" · acknowledged")
        assert needs <= room, f"{text!r} needs {needs} px, has {room}"


def test_a_long_hint_is_elided_in_its_cell_and_whole_in_a_wrapped_tooltip(
    qtbot: QtBot, app: App, qloop: asyncio.AbstractEventLoop
) -> None:
    window = app.window
    window.resize(1280, 720)
    window.show()
    app.controller.on_result(
        SyncResult("demo", "test", T0, T0, AccountState.OK, None, problem_rows(), [], T0)
    )
    run(qloop, app.controller.drain())
    settle(qtbot, app)
    index = window.model.index_of(("demo", "NSE:SBIN"), int(Col.HINT))
    text, needs, room = fit_of(window.table, index)
    assert (
        text == LONG_HINT and needs > room
    )  # this one is longer than any screen's share: elided, not the others
    tip = index.data(Qt.ItemDataRole.ToolTipRole)
    assert "or check the book for a second spelling of the same share" in tip
    assert tip.startswith("<b>")  # rich text: Qt wraps it at a readable width


def test_the_window_never_grows_past_the_screen_for_a_long_status_line(app: App) -> None:
    window = app.window
    window.set_last_sync(
        "Last sync 14:02:07 (just now) · demo-us: last good 13:40:02 (22 min ago), failed 14:02:05 · "
        "kite-main: never read, failed 14:02:06 · 3 more failing"
    )
    window.set_summary(
        "1,234 positions · 9 problems · 4 accounts unreadable: 1,000 rows unverified · 3 closed"
    )
    assert window.minimumSizeHint().width() <= 1280
    assert "3 more failing" in window.last_sync.toolTip()  # whole where the label is cut


def test_the_history_timeline_wraps_a_long_what(qtbot: QtBot) -> None:
    pane = HistoryPane()
    qtbot.addWidget(pane)
    pane.resize(1280, 300)
    pane.show()
    series = QuantitySeries("demo", "NSE:TCS", [T0.timestamp()], [50.0], [50.0], ["phantom"])
    what = "Book fixed: " + "; ".join(
        f"UPDATE positions WHERE id = {i}: closed_at: NULL -> 'now'" for i in range(6)
    )
    pane.show_row(series, [TimelineItem(T0, "book_fixed", what)], T0)
    item = pane.timeline.topLevelItem(0)
    assert item is not None and pane.timeline.wordWrap()
    qtbot.waitUntil(
        lambda: pane.timeline.visualItemRect(item).height() > 2 * pane.timeline.fontMetrics().height()
    )


def test_the_fix_plan_wraps_each_write_and_the_status_bar_stays_short(qtbot: QtBot) -> None:
    after = {f"column_{i}": f"a value long enough to need room {i}" for i in range(8)}
    plan = FixPlan(
        "adopt",
        "demo",
        "NSE:INFY",
        "bot",
        "positions",
        "id",
        (Write("insert", None, None, after),),
        Decimal(100),
    )
    parent = QWidget()
    qtbot.addWidget(parent)
    dialog = FixPlanDialog(plan, "Adopt?", parent)
    dialog.show()
    qtbot.waitExposed(dialog)
    document = dialog.lines.document()
    write = document.firstBlock().next()
    assert write.text().startswith("INSERT INTO positions: column_0 = ")
    assert write.layout().lineCount() > 1  # wrapped at the dialog's width, nothing past a scroll bar
    assert dialog.lines.horizontalScrollBar().maximum() == 0
    message = done_message(plan)
    assert message.startswith("Book 'bot' fixed: Adopt for NSE:INFY (1 write); syncing demo now.")
    assert "INSERT" not in message and len(message) < 140
