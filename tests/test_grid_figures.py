"""The grid's derived figures and its totals, without Qt: product, side, price gap, market value,
and totals per account and currency that never hide an unknown value."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from position_sync.app.display import MINUS, event_detail, short_hint, with_minus
from position_sync.app.domain import Event, EventKind, Part, Row, Status
from position_sync.ui.positions_columns import COLUMNS, DEFAULT_ORDER, Col
from position_sync.ui.positions_order import sort_key
from position_sync.ui.row_facts import market_value, price_gap_text, product, side, side_detail
from position_sync.ui.totals import Totals, account_totals

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
D = Decimal


def row(instrument: str, status: Status = Status.MATCH, account: str = "demo", **values: object) -> Row:
    defaults: dict[str, object] = {"broker_qty": D(10), "local_qty": D(10), "last_price": D(100)}
    defaults.update(values)
    return Row(account=account, instrument=instrument, status=status, since=NOW, **defaults)  # type: ignore[arg-type]


# -- product, side, price gap, market value -------------------------------------------------


def test_product_comes_from_kite_leg_labels_or_the_ib_security_type() -> None:
    nifty = row("NFO:NIFTY26NOVFUT", broker_parts=(Part("NFO NRML", D(50)), Part("NFO MIS", D(25))))
    assert product(nifty) == "NRML+MIS"
    assert product(row("NSE:INFY", broker_parts=(Part("BSE CNC holding", D(10)),))) == "CNC"
    assert product(row("NSE:SBIN", broker_parts=(Part("MIS", D(10)),))) == "MIS"  # the demo's labels
    assert product(row("STK:AAPL:USD")) == "STK"
    assert product(row("OPT:AAPL  251219C00150000")) == "OPT"
    assert product(row("FUT:ESZ5")) == "FUT"
    assert product(row("NSE:TCS")) == ""  # an exchange prefix is not a product
    phantom = row("NSE:TCS", Status.PHANTOM, broker_qty=None, local_parts=(Part("book MIS", D(5)),))
    assert product(phantom) == "MIS"


def test_side_in_words_is_the_brokers_and_the_books_where_the_broker_holds_none() -> None:
    assert side(row("A", broker_qty=D(5))) == "Long"
    assert side(row("A", broker_qty=D(-5))) == "Short"
    assert side(row("A", Status.PHANTOM, broker_qty=None, local_qty=D(-3))) == "Short"
    assert side(row("A", Status.CLOSED, broker_qty=D(0), local_qty=None)) == ""
    flipped = row("A", Status.SIDE_MISMATCH, broker_qty=D(-65), local_qty=D(65))
    assert side(flipped) == "Short"
    assert side_detail(flipped) == "short at the broker, long in the book"


def test_price_gap_of_a_price_mismatch_in_money_and_percent() -> None:
    infy = row("NSE:INFY", Status.PRICE_MISMATCH, broker_avg=D(1525), local_avg=D(1500))
    assert price_gap_text(infy, "INR") == "+₹25.00 (+1.67%)"
    cheaper = row("NSE:INFY", Status.PRICE_MISMATCH, broker_avg=D(1490), local_avg=D(1500))
    assert price_gap_text(cheaper, "INR") == f"{MINUS}₹10.00 ({MINUS}0.67%)"
    tiny = row("X", Status.PRICE_MISMATCH, broker_avg=D("100000.5"), local_avg=D(100000))
    assert price_gap_text(tiny, "USD") == "+$0.50 (+0.0005%)"
    qty = row("NSE:HDFCBANK", Status.QTY_MISMATCH, broker_avg=D("1721.6"), local_avg=D(1720))
    assert price_gap_text(qty, "INR") == ""  # only a price mismatch judges the averages


def test_market_value_is_signed_quantity_times_last_price_times_multiplier() -> None:
    assert market_value(row("A", broker_qty=D(-65), last_price=D(23822))) == D(-1548430)
    assert market_value(row("OPT", broker_qty=D(2), last_price=D("1.5"), multiplier=D(100))) == D(300)
    assert market_value(row("A", Status.PHANTOM, broker_qty=None, local_qty=D(5))) == 0
    assert market_value(row("A", broker_qty=D(5), last_price=None)) is None


def test_status_comes_before_the_figures_and_new_columns_sort() -> None:
    assert set(DEFAULT_ORDER) == set(COLUMNS)
    assert DEFAULT_ORDER.index(Col.STATUS) < DEFAULT_ORDER.index(Col.BROKER_QTY)
    assert DEFAULT_ORDER.index(Col.HINT) < DEFAULT_ORDER.index(Col.BROKER_AVG)
    a = row("A", Status.PRICE_MISMATCH, broker_avg=D(101), local_avg=D(100))
    b = row("B", Status.PRICE_MISMATCH, broker_avg=D(90), local_avg=D(100))
    for column in (Col.PRODUCT, Col.SIDE, Col.PRICE_GAP, Col.VALUE):
        assert sort_key(b, column, False, 0.0, False) != sort_key(a, column, False, 0.0, False)
    assert sort_key(b, Col.PRICE_GAP, False, 0.0, False) < sort_key(a, Col.PRICE_GAP, False, 0.0, False)


# -- totals ----------------------------------------------------------------------------------


def test_account_totals_sum_pnl_and_gross_exposure_of_what_the_broker_holds() -> None:
    rows = [
        row("LONG", broker_qty=D(10), last_price=D(100), unrealised_pnl=D(50), realised_pnl=D(5)),
        row("SHORT", broker_qty=D(-4), last_price=D(50), unrealised_pnl=D(-20), realised_pnl=D(0)),
        row("CLOSED", Status.CLOSED, broker_qty=D(0), local_qty=None, realised_pnl=D(450)),
        row("PHANTOM", Status.PHANTOM, broker_qty=None, local_qty=D(50), last_price=None),
    ]
    (inr,) = account_totals(rows, "INR").values()
    assert inr.currency == "INR" and inr.rows == 4
    assert inr.unrealised.amount == 30 and not inr.unrealised.partial
    assert inr.realised.amount == 455 and not inr.realised.partial
    assert inr.gross.amount == 1000 + 200  # |10 × 100| + |−4 × 50|; nothing held of the phantom


def test_an_unknown_value_makes_its_total_partial_and_is_named() -> None:
    rows = [
        row("KNOWN", unrealised_pnl=D(10), realised_pnl=D(1)),
        row("NO_PNL", unrealised_pnl=None, realised_pnl=None),
        row("NO_PRICE", last_price=None, unrealised_pnl=D(3), realised_pnl=D(2)),
    ]
    (sums,) = account_totals(rows, "INR").values()
    assert sums.unrealised.amount == 13 and sums.unrealised.partial
    assert sums.unrealised.missing == ("NO_PNL",)
    assert sums.realised.partial and sums.realised.missing == ("NO_PNL",)
    assert sums.gross.amount == 2000 and sums.gross.missing == ("NO_PRICE",)
    (nothing,) = account_totals([row("X", realised_pnl=None)], "USD").values()
    assert nothing.realised.none_known  # no amount at all: shown as unknown, not as 0.00


def test_currencies_are_never_added_together() -> None:
    totals = Totals()
    totals.set_account("kite", account_totals([row("NSE:A", unrealised_pnl=D(100))], "INR"))
    ib_rows = [
        row("STK:AAPL:USD", account="ib", unrealised_pnl=D(7), currency="USD"),
        row("STK:SHOP:CAD", account="ib", unrealised_pnl=D(3), currency="CAD"),
    ]
    totals.set_account("ib", account_totals(ib_rows, "USD"))
    totals.set_account(
        "ib2", account_totals([row("STK:MSFT:USD", account="ib2", unrealised_pnl=D(5))], "USD")
    )
    lines = [(line.label, line.sums.currency, line.sums.unrealised.amount) for line in totals.lines()]
    assert lines == [
        ("ib · CAD", "CAD", 3),
        ("ib · USD", "USD", 7),
        ("ib2", "USD", 5),
        ("kite", "INR", 100),
        ("All accounts · USD", "USD", 12),  # only USD is held by more than one account
    ]
    totals.remove_account("ib2")
    assert [line.label for line in totals.lines()] == ["ib · CAD", "ib · USD", "kite"]


def test_stale_rows_mark_their_totals() -> None:
    stale = row("A", Status.STALE, previous_status=Status.MATCH, unrealised_pnl=D(1), realised_pnl=D(0))
    (sums,) = account_totals([stale], "INR").values()
    assert sums.stale and sums.unrealised.amount == 1


def test_the_pure_parts_load_without_qt() -> None:
    code = (
        "import sys\n"
        "import position_sync.ui.totals, position_sync.ui.row_facts, position_sync.ui.positions_order\n"
        "assert not [m for m in sys.modules if m.startswith('PySide6')], 'Qt imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


# -- one minus sign --------------------------------------------------------------------------


def test_negative_numbers_in_words_use_the_grids_minus_sign() -> None:
    event = Event(
        NOW, "demo", EventKind.QTY_CHANGED, "NFO:X", "quantity at the broker changed from 50 to -65"
    )
    assert event_detail(event, "INR").endswith(f"from 50 to {MINUS}65")
    assert with_minus("NSE:BAJAJ-AUTO on 2026-11-21 at -3.5") == f"NSE:BAJAJ-AUTO on 2026-11-21 at {MINUS}3.5"
    assert short_hint("SELL 35 pending, net -35") == f"SELL 35 pending, net {MINUS}35"
