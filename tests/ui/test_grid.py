"""The positions grid as a trader reads it: product, side, price gap and value columns that can
be hidden, moved and resized and are remembered; totals under the grid per account and
currency; history charts that say whose money they show; event icons that match the grid."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from PySide6.QtCore import QByteArray, QSettings
from pytestqt.qtbot import QtBot

from position_sync.app.display import MINUS
from position_sync.app.domain import Event, EventKind, Part, Row, Status
from position_sync.app.store.series import AccountSeries, QuantitySeries, Series
from position_sync.ui import status_style
from position_sync.ui.positions_columns import Col
from position_sync.ui.positions_index import snapshot
from position_sync.ui.presenters import totals as totals_presenter
from position_sync.ui.totals import AccountTotals
from position_sync.ui.window import MainWindow
from tests.ui.conftest import App, run, walk

NOW = datetime.now(UTC)
D = Decimal


def cell(app: App, instrument: str, column: Col, account: str = "demo") -> str:
    index = app.window.model.index_of((account, instrument), int(column))
    assert index.isValid(), instrument
    return str(index.data() or "")


@pytest.fixture
def walked(app: App, qloop: asyncio.AbstractEventLoop) -> App:
    """The demo after three syncs: every status on screen, both accounts read fine."""
    run(qloop, walk(app.runtime, 3))
    run(qloop, app.controller.drain())
    return app


# -- item 10: the columns ----------------------------------------------------------------------


def test_product_side_price_gap_and_market_value_are_shown(walked: App) -> None:
    assert cell(walked, "NFO:NIFTY26NOVFUT", Col.PRODUCT) == "NRML+MIS"  # two legs of one future
    assert cell(walked, "NSE:INFY", Col.PRODUCT) == "CNC"
    assert cell(walked, "NFO:FINNIFTY26NOVFUT", Col.SIDE) == "Short"
    assert cell(walked, "NSE:RELIANCE", Col.SIDE) == "Long"
    assert cell(walked, "NSE:INFY", Col.PRICE_GAP) == "+₹25.00 (+1.67%)"  # 1,525 against 1,500
    assert cell(walked, "NSE:HDFCBANK", Col.PRICE_GAP) == ""  # not a price mismatch
    finnifty = walked.window.model.row_for(("demo", "NFO:FINNIFTY26NOVFUT"))
    assert finnifty is not None and finnifty.last_price is not None
    assert cell(walked, "NFO:FINNIFTY26NOVFUT", Col.VALUE) == f"{MINUS}₹{65 * finnifty.last_price:,.2f}"
    assert cell(walked, "NSE:TCS", Col.VALUE) == ""  # a phantom: nothing held at the broker
    assert cell(walked, "AAPL", Col.VALUE, account="demo-us").startswith("$")


def test_status_is_in_view_of_a_1024_px_window(qtbot: QtBot, app: App) -> None:
    window = app.window
    window.resize(1024, 700)
    window.show()
    qtbot.waitExposed(window)
    header = window.table.horizontalHeader()
    for column in (Col.INSTRUMENT, Col.STATUS, Col.DIFF):
        right = header.sectionViewportPosition(int(column)) + header.sectionSize(int(column))
        assert header.sectionViewportPosition(int(column)) >= 0 and right <= header.viewport().width(), column


def test_columns_hide_move_resize_and_are_remembered(qtbot: QtBot, app: App) -> None:
    table = app.window.table
    header = table.horizontalHeader()
    menu = table.header_menu()
    entries = {action.text(): action for action in menu.actions() if action.isCheckable()}
    assert not entries["Status"].isEnabled() and "always shown" in entries["Status"].toolTip()
    assert "Unrealised (P&&L)" in entries  # shown as "P&L", the ampersand not taken for a shortcut
    entries["Product"].setChecked(False)  # what a right-click on the header and a click do
    assert Col.PRODUCT not in table.shown_columns()
    header.moveSection(header.visualIndex(int(Col.VALUE)), header.visualIndex(int(Col.STATUS)) + 1)
    header.resizeSection(int(Col.INSTRUMENT), 260)
    shown = table.shown_columns()
    assert shown[shown.index(Col.STATUS) + 1] is Col.VALUE

    settings = QSettings("position-sync-tests", "grid")
    app.window.save_layout(settings)
    again = MainWindow()
    qtbot.addWidget(again)
    assert again.restore_layout(settings)
    assert again.table.shown_columns() == shown
    assert again.table.horizontalHeader().sectionSize(int(Col.INSTRUMENT)) == 260

    # a layout saved by an older version (other columns) is not forced onto these
    settings.setValue("window/columns", header.saveState())
    fresh = MainWindow()
    qtbot.addWidget(fresh)
    fresh.restore_layout(settings)
    assert Col.PRODUCT in fresh.table.shown_columns()
    fresh.table.header_menu().actions()[-1].trigger()  # "Reset columns"
    assert fresh.table.shown_columns()[4] is Col.STATUS


def test_a_column_moved_out_of_its_group_still_says_whose_it_is(app: App) -> None:
    table = app.window.table
    header = table.horizontalHeader()
    runs = header.group_runs()  # type: ignore[attr-defined]
    assert ("Quantity", int(Col.BROKER_QTY), int(Col.DIFF)) in runs
    header.moveSection(header.visualIndex(int(Col.DIFF)), header.count() - 1)
    runs = header.group_runs()  # type: ignore[attr-defined]
    assert ("Quantity", int(Col.BROKER_QTY), int(Col.LOCAL_QTY)) in runs
    assert ("Quantity", int(Col.DIFF), int(Col.DIFF)) in runs


def test_copied_rows_follow_the_columns_as_shown(walked: App) -> None:
    table = walked.window.table
    table.set_column_shown(Col.PRODUCT, False)
    table.select_key(("demo", "NFO:FINNIFTY26NOVFUT"))
    heading, line = table.copy_rows().splitlines()
    titles = heading.split("\t")
    assert "Product" not in titles and titles.index("Status") < titles.index("Quantity Broker")
    values = line.split("\t")
    assert values[titles.index("Side")] == "Short" and values[titles.index("Quantity Broker")] == f"{MINUS}65"


# -- item 11: the totals ------------------------------------------------------------------------


def test_totals_per_account_in_its_own_currency_with_partial_said(walked: App) -> None:
    footer = walked.window.totals
    assert not footer.isHidden()
    lines = {texts[0]: texts for texts in footer.texts()}
    assert set(lines) == {"demo", "demo-us"}  # one currency each: no "All accounts" line to repeat them
    demo, us = lines["demo"], lines["demo-us"]
    assert all("₹" in text for text in demo[1:4]) and us[1].startswith("+$") and us[3].startswith("$")
    rows = [r for r in walked.window.model.rows() if r.account == "demo"]
    unrealised = sum((r.unrealised_pnl for r in rows if r.broker_qty and r.unrealised_pnl), D(0))
    assert demo[1] == f"+₹{unrealised:,.2f}"
    # the demo's broker gives no realised P&L for open rows: the total says it is partial
    assert demo[2].endswith("(partial)") and "rows have no realised P&amp;L" in footer.tooltips()[0][2]
    assert us[2] == "unknown"  # none of demo-us's rows has one: no amount at all, never $0.00


def test_totals_do_not_follow_the_filter(walked: App) -> None:
    before = walked.window.totals.texts()
    walked.window.filters.only_problems.setChecked(True)
    walked.window.filters.text.setText("INFY")
    assert walked.window.model.rowCount() == 1
    assert walked.window.totals.texts() == before


def test_a_large_account_is_totalled_in_pieces_between_turns_of_the_loop(
    app: App, qloop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    pieces: list[int] = []
    original = AccountTotals.add

    def recording(self: AccountTotals, rows: Any) -> None:
        rows = list(rows)
        pieces.append(len(rows))
        original(self, rows)

    monkeypatch.setattr(AccountTotals, "add", recording)
    template = Row(
        account="big",
        instrument="X",
        status=Status.MATCH,
        since=NOW,
        broker_qty=D(1),
        local_qty=D(1),
        last_price=D(2),
        unrealised_pnl=D(1),
    )
    count = 3 * totals_presenter.PIECE_ROWS + 1
    rows = {f"NSE:S{i}": replace(template, instrument=f"NSE:S{i}") for i in range(count)}
    app.controller.totals.show("big", snapshot(rows))
    assert pieces == []  # the UI thread is back at once
    app.controller.totals.show("big", snapshot(rows))  # a newer picture: the older pass stops
    run(qloop, asyncio.sleep(0.2))
    assert pieces == [totals_presenter.PIECE_ROWS] * 3 + [1]
    big = [texts for texts in app.window.totals.texts() if texts[0] == "big"]
    assert big and big[0][1] == f"+{count:,}.00"


# -- item 13: the history charts ----------------------------------------------------------------


def test_the_exposure_chart_says_whose_and_which_currency_and_keeps_zero_in_view(app: App) -> None:
    history = app.window.history
    history.set_accounts(["demo", "demo-us"])
    start = NOW.timestamp() - 600
    times = [start, start + 200, start + 400]
    exposure = [7_914_000.0, 7_920_000.0, 7_916_000.0]  # moves of less than 0.1 %
    series = AccountSeries(
        "demo", Series(times, [8, 9, 9]), Series(times, exposure), Series(times, [1, -2, 3])
    )
    history.show_account(series, NOW)
    title = history.exposure_plot.titleLabel.text
    assert "demo" in title and "INR" in title
    assert "INR" in history.pnl_plot.titleLabel.text
    (_, _), (low, high) = history.exposure_plot.viewRange()
    assert low <= 0 < max(exposure) <= high  # the whole exposure, not a 6,000 slice of it


def test_the_row_charts_legend_is_off_the_lines(qtbot: QtBot, app: App) -> None:
    app.window.resize(1280, 720)
    app.window.show()
    app.window.show_tab(1)
    history = app.window.history
    times = [NOW.timestamp() - s for s in (900, 600, 300)]
    history.show_row(
        QuantitySeries("demo", "NSE:TCS", times, [150, 0, 0], [150, 150, 150], ["x"] * 3), [], NOW
    )
    history.row_chart.grab()
    legend = history.legend.sceneBoundingRect()
    plot_area = history.row_plot.getViewBox().sceneBoundingRect()
    assert legend.isValid() and not legend.intersects(plot_area)
    (_, _), (low, _high) = history.row_plot.viewRange()
    assert low <= 0  # a position closing to zero reaches the axis


# -- item 14: event icons and the minus sign ------------------------------------------------------


def test_event_icons_are_the_grids_status_icons(app: App) -> None:
    events = [
        Event(NOW, "demo", EventKind.MISMATCH_DETECTED, "F", "side_mismatch: broker -65, book 65"),
        Event(NOW, "demo", EventKind.MISMATCH_DETECTED, "I", "price_mismatch: broker 100, book 100, ..."),
        Event(NOW, "demo", EventKind.MISMATCH_DETECTED, "H", "qty_mismatch: broker 150, book 100"),
        Event(NOW, "demo", EventKind.PHANTOM_DETECTED, "T", "phantom: broker none, book 50"),
        Event(NOW, "demo", EventKind.MASS_CHANGE_HELD, None, "held"),
    ]
    pane = app.window.events
    pane.replace(events)
    icons = [pane.model.index(row, 3).data(1).cacheKey() for row in range(len(events))][::-1]
    expected = [Status.SIDE_MISMATCH, Status.PRICE_MISMATCH, Status.QTY_MISMATCH, Status.PHANTOM]
    assert icons[:4] == [status_style.status_icon(s).cacheKey() for s in expected]
    assert icons[4] not in {status_style.status_icon(s).cacheKey() for s in Status}  # not a row's status
    assert not status_style.event_icon(EventKind.OPENED).isNull()


def test_events_write_negative_numbers_with_the_grids_minus(app: App) -> None:
    event = Event(
        NOW - timedelta(seconds=1),
        "demo",
        EventKind.QTY_CHANGED,
        "NFO:FINNIFTY26NOVFUT",
        "quantity at the broker changed from 65 to -65",
    )
    app.window.events.replace([event])
    assert app.window.events.model.index(0, 4).data().endswith(f"from 65 to {MINUS}65")


def test_layout_state_of_another_kind_is_refused(app: App) -> None:
    assert not app.window.table.restore_column_state(QByteArray(b"not a header state"))


def test_parts_labels_reach_the_product_cell(app: App) -> None:
    row = Row(
        account="demo",
        instrument="NSE:SBIN",
        status=Status.MATCH,
        since=NOW,
        broker_qty=D(10),
        local_qty=D(10),
        broker_parts=(Part("NSE MIS", D(4)), Part("BSE CNC holding", D(6))),
    )
    app.window.model.apply_account("demo", {row.instrument: row})
    assert cell(app, "NSE:SBIN", Col.PRODUCT) == "MIS+CNC"


def test_an_exchange_rows_kind_and_hedge_reach_the_product_cell(app: App) -> None:
    rows = {
        "BTC/USDT:USDT": Row(
            account="demo",
            instrument="BTC/USDT:USDT",
            status=Status.MATCH,
            since=NOW,
            broker_qty=D("0.006"),
            local_qty=D("0.006"),
            broker_parts=(Part("long leg", D("0.010")), Part("short leg", D("-0.004"))),
        ),
        "ETH/USDC:USDC": Row(
            account="demo",
            instrument="ETH/USDC:USDC",
            status=Status.MATCH,
            since=NOW,
            broker_qty=D(1),
            local_qty=D(1),
        ),
        "BTC/USDT": Row(
            account="demo",
            instrument="BTC/USDT",
            status=Status.MATCH,
            since=NOW,
            broker_qty=D(1),
            local_qty=D(1),
        ),
        "BTC/USDT:USDT-261225": Row(
            account="demo",
            instrument="BTC/USDT:USDT-261225",
            status=Status.MATCH,
            since=NOW,
            broker_qty=D(1),
            local_qty=D(1),
        ),
    }
    app.window.model.apply_account("demo", rows)
    assert cell(app, "BTC/USDT:USDT", Col.PRODUCT) == "Perp hedge"
    assert cell(app, "ETH/USDC:USDC", Col.PRODUCT) == "Perp"
    assert cell(app, "BTC/USDT", Col.PRODUCT) == "Spot"
    assert cell(app, "BTC/USDT:USDT-261225", Col.PRODUCT) == "Future"
