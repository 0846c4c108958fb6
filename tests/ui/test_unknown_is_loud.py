"""Unknown is as loud as wrong: an account that cannot be read never reads as "all matching".

A stale or never-read account counts as a problem in the counts beside the filters and in the
status bar, turns the tray red, keeps its rows under "Only problems", names itself in the window
title, and "Last sync" shows the last *good* sync, with the failed attempt said apart.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from position_sync.app.display import clock
from position_sync.app.domain import AccountState, Row, Status
from position_sync.app.sync import SyncResult
from position_sync.ui.presenters.accounts import AccountView
from position_sync.ui.presenters.positions import Tally
from position_sync.ui.presenters.status import last_sync_text, summarise
from position_sync.ui.status_style import Health
from tests.ui.conftest import T0, App, run

GOOD_AT = T0 - timedelta(minutes=7)
FAILED_AT = T0 - timedelta(seconds=20)


def match(account: str, instrument: str) -> Row:
    return Row(
        account=account,
        instrument=instrument,
        status=Status.MATCH,
        since=GOOD_AT,
        broker_qty=Decimal(10),
        local_qty=Decimal(10),
        last_price=Decimal(100),
    )


def stale(account: str, instrument: str) -> Row:
    return replace(match(account, instrument), status=Status.STALE, previous_status=Status.MATCH)


def ok_result(account: str, *instruments: str) -> SyncResult:
    rows = {i: match(account, i) for i in instruments}
    return SyncResult(account, "test", T0, T0, AccountState.OK, None, rows, [], T0)


def stale_result(account: str, *instruments: str, last_good: bool = True) -> SyncResult:
    rows = {i: stale(account, i) for i in instruments}
    error = "broker: the simulated broker is unreachable"
    return SyncResult(
        account,
        "test",
        FAILED_AT,
        FAILED_AT,
        AccountState.STALE,
        error,
        rows,
        [],
        GOOD_AT if last_good else None,
    )


def test_a_stale_account_is_a_problem_in_the_summary_not_all_matching() -> None:
    tally = Tally(5, Counter({Status.MATCH: 2, Status.STALE: 0}), 0, {"demo": 2, "demo-us": 3})
    views = {
        "demo": AccountView(AccountState.OK, None, T0, read_this_session=True),
        "demo-us": AccountView(AccountState.STALE, "unreachable", GOOD_AT, read_this_session=True),
    }
    summary = summarise(tally, views)
    assert summary.health is Health.BAD
    assert "all matching" not in summary.text
    assert "demo-us stale: 3 rows unverified" in summary.text
    assert summary.title == "demo-us stale"
    assert "demo-us stale" in summary.words
    assert "demo-us stale: 3 rows unverified" in summary.short and "positions" not in summary.short

    views["demo-us"] = AccountView(AccountState.STALE, "unreachable", None, read_this_session=True)
    summary = summarise(tally, views)
    assert "demo-us never read" in summary.text and summary.title == "demo-us never read"
    assert summary.health is Health.BAD

    views["demo-us"] = AccountView(AccountState.OK, None, T0, read_this_session=True)
    summary = summarise(tally, views)
    assert summary.health is Health.GOOD and "all matching" in summary.text and summary.title == ""


def test_problems_and_unknown_accounts_both_reach_the_title() -> None:
    tally = Tally(5, Counter({Status.PHANTOM: 3, Status.MATCH: 2}), 3, {"demo": 5})
    views = {
        "demo": AccountView(AccountState.OK, None, T0, read_this_session=True),
        "kite": AccountView(AccountState.LOGIN_REQUIRED, "expired", GOOD_AT, read_this_session=True),
    }
    summary = summarise(tally, views)
    assert summary.title == "3 problems · kite login required"
    assert summary.health is Health.BAD
    views["ib"] = AccountView(AccountState.STALE, "refused", GOOD_AT, read_this_session=True)
    summary = summarise(Tally(7, tally.counts, 3, {"demo": 5, "kite": 0, "ib": 2}), views)
    assert "2 accounts unreadable: 2 rows unverified" in summary.text  # one part, however many
    assert summary.title == "3 problems · kite login required · ib stale"


def test_last_sync_is_the_last_good_one_and_the_failure_is_named_apart() -> None:
    now = T0 + timedelta(seconds=90)
    views = {
        "demo": AccountView(AccountState.OK, None, T0, T0, read_this_session=True),
        "demo-us": AccountView(AccountState.STALE, "unreachable", GOOD_AT, FAILED_AT, read_this_session=True),
    }
    text = last_sync_text(views, now)
    # As the status line writes a time: with the day when it is not today's (a run at midnight).
    good = clock(T0, now, seconds=True)
    last_good = clock(GOOD_AT, now, seconds=True)
    failed = clock(FAILED_AT, now, seconds=True)
    assert (
        text == f"Last sync {good} (1 min ago) · demo-us: last good {last_good} (8 min ago), failed {failed}"
    )
    views["demo"] = AccountView(AccountState.STALE, "unreachable", None, FAILED_AT, read_this_session=True)
    text = last_sync_text(views, now)
    assert text.startswith(f"demo: never read, failed {failed} · demo-us: last good {last_good}")


def test_the_window_says_a_stale_account_everywhere(app: App, qloop: asyncio.AbstractEventLoop) -> None:
    window, controller = app.window, app.controller
    controller.on_result(ok_result("demo", "NSE:INFY", "NSE:TCS"))
    controller.on_result(stale_result("demo-us", "AAPL", "MSFT", "NVDA"))
    run(qloop, controller.drain())

    for label in (window.counts, window.filters.summary):
        assert "demo-us stale: 3 rows unverified" in label.text()
        assert "all matching" not in label.text()
    assert controller.health is Health.BAD
    assert "demo-us stale" in controller.tray.icon.toolTip()
    assert window.windowTitle().startswith("demo-us stale — ")

    failed = clock(FAILED_AT, seconds=True)
    last_good = clock(GOOD_AT, seconds=True)
    text = window.last_sync.text()
    assert text.startswith(f"Last sync {clock(T0, seconds=True)}")  # demo's good sync, not the failure
    assert f"demo-us: last good {last_good} (" in text and text.endswith(f"min ago), failed {failed}")

    window.act_only_problems.trigger()
    shown = {window.model.row_at(i).key for i in range(window.model.rowCount())}
    assert shown == {("demo-us", "AAPL"), ("demo-us", "MSFT"), ("demo-us", "NVDA")}  # stale rows stay

    controller.on_result(ok_result("demo-us", "AAPL", "MSFT", "NVDA"))
    run(qloop, controller.drain())
    assert "all matching" in window.counts.text()
    assert controller.health is Health.GOOD
    assert window.windowTitle() == "Position Sync"
    assert window.model.rowCount() == 0  # every row matches again: "only problems" shows none
