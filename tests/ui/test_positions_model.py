"""The positions model: what each status looks like, and updates that never reset the view."""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QAbstractItemModelTester
from pytestqt.qtbot import QtBot

from position_sync.app.display import STATUS_MEANINGS, fmt_money
from position_sync.app.domain import Part, Row, Status
from position_sync.app.store.acks import AckKind, Acknowledgement, AckState, fingerprint
from position_sync.ui import status_style
from position_sync.ui.positions_columns import Col
from position_sync.ui.positions_model import PositionsModel, RowRole
from position_sync.ui.positions_order import FilterSpec
from position_sync.ui.positions_view import PositionsView
from position_sync.ui.row_presenter import AccountInfo

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
D = Decimal


def row(instrument: str, status: Status, account: str = "demo", **values: object) -> Row:
    defaults: dict[str, object] = {"broker_qty": D(10), "local_qty": D(10), "last_price": D(100)}
    defaults.update(values)
    since = NOW - timedelta(minutes=5)
    return Row(account=account, instrument=instrument, status=status, since=since, **defaults)  # type: ignore[arg-type]


EXAMPLES = {
    Status.MATCH: row("NSE:MATCH", Status.MATCH, broker_avg=D("1500"), local_avg=D("1500")),
    Status.QTY_MISMATCH: row("NSE:QTY", Status.QTY_MISMATCH, broker_qty=D(70), local_qty=D(35)),
    Status.SIDE_MISMATCH: row("NSE:SIDE", Status.SIDE_MISMATCH, broker_qty=D(5), local_qty=D(-5)),
    Status.PRICE_MISMATCH: row("NSE:PRICE", Status.PRICE_MISMATCH, broker_avg=D(1525), local_avg=D(1500)),
    Status.PHANTOM: row("NSE:PHANTOM", Status.PHANTOM, broker_qty=None, local_qty=D(50)),
    Status.UNTRACKED: row("NSE:UNTRACKED", Status.UNTRACKED, local_qty=None, broker_qty=D(20)),
    Status.CLOSED: row("NSE:CLOSED", Status.CLOSED, broker_qty=D(0), local_qty=None, realised_pnl=D(450)),
    Status.STALE: row(
        "NSE:STALE", Status.STALE, previous_status=Status.PHANTOM, broker_qty=None, local_qty=D(5)
    ),
}


@pytest.fixture
def model(qapp: object) -> PositionsModel:
    model = PositionsModel()
    model.set_now(NOW)
    model.set_account_info("demo", AccountInfo("INR", last_success_at=NOW - timedelta(minutes=7)))
    return model


def cell(
    model: PositionsModel, instrument: str, column: Col, role: int = Qt.ItemDataRole.DisplayRole
) -> object:
    index = model.index_of(("demo", instrument), int(column))
    assert index.isValid(), instrument
    return index.data(role)


def test_each_status_has_its_text_icon_colour_and_tooltip(model: PositionsModel) -> None:
    model.apply_account("demo", {r.instrument: r for r in EXAMPLES.values()})
    assert model.rowCount() == len(Status)
    seen_colours = set()
    for status, example in EXAMPLES.items():
        name = example.instrument
        text = str(cell(model, name, Col.STATUS))
        icon = cell(model, name, Col.STATUS, Qt.ItemDataRole.DecorationRole)
        tooltip = str(cell(model, name, Col.STATUS, Qt.ItemDataRole.ToolTipRole))
        shown = example.effective_status
        assert icon is not None and not icon.isNull(), status  # type: ignore[attr-defined]
        assert STATUS_MEANINGS[shown] in tooltip, status
        background = cell(model, name, Col.ACCOUNT, Qt.ItemDataRole.BackgroundRole)
        if status is Status.STALE:
            assert text.startswith("Stale 7 min") and "Phantom" in text
            assert "could not be read" in tooltip
            assert cell(model, name, Col.STATUS, Qt.ItemDataRole.ForegroundRole) == status_style.muted_colour(
                False
            )
            assert background is None
            continue
        colour = cell(model, name, Col.STATUS, Qt.ItemDataRole.ForegroundRole)
        assert isinstance(colour, QColor)
        seen_colours.add(colour.name())
        if status.is_problem:
            assert isinstance(background, QColor) and background.alpha() > 0, status
        else:
            assert background is None, status
    assert len(seen_colours) == len(Status) - 1  # every status apart from stale has its own colour
    phantom = str(cell(model, "NSE:PHANTOM", Col.STATUS, Qt.ItemDataRole.ToolTipRole))
    assert "held by your book, not at the broker" in phantom


def test_numbers_are_grouped_right_aligned_and_in_the_account_currency(model: PositionsModel) -> None:
    big = row(
        "NFO:BANKNIFTY",
        Status.QTY_MISMATCH,
        broker_qty=D(1500),
        local_qty=D(35),
        broker_avg=D("52100"),
        last_price=D("52244.8"),
        unrealised_pnl=D("-2172"),
    )
    model.apply_account("demo", {big.instrument: big})
    assert cell(model, big.instrument, Col.BROKER_QTY) == "1,500"
    assert cell(model, big.instrument, Col.DIFF) == "+1,465"
    assert cell(model, big.instrument, Col.BROKER_AVG) == "₹52,100.00"
    assert cell(model, big.instrument, Col.LAST) == "₹52,244.80"
    assert cell(model, big.instrument, Col.UNREALISED) == "−₹2,172.00"
    right = cell(model, big.instrument, Col.LAST, Qt.ItemDataRole.TextAlignmentRole)
    left = cell(model, big.instrument, Col.INSTRUMENT, Qt.ItemDataRole.TextAlignmentRole)
    assert isinstance(right, Qt.AlignmentFlag) and isinstance(left, Qt.AlignmentFlag)
    assert right & Qt.AlignmentFlag.AlignRight and left & Qt.AlignmentFlag.AlignLeft


def test_breakdown_and_hint_are_in_the_tooltip(model: PositionsModel) -> None:
    split = row(
        "NFO:NIFTY",
        Status.MATCH,
        broker_parts=(Part("NRML", D(50)), Part("MIS", D(25))),
        hint="SELL 25 pending would close the gap",
    )
    model.apply_account("demo", {split.instrument: split})
    tooltip = str(cell(model, split.instrument, Col.INSTRUMENT, Qt.ItemDataRole.ToolTipRole))
    assert "NRML 50" in tooltip and "MIS 25" in tooltip and "pending" in tooltip


def test_problems_come_first_largest_exposure_first(model: PositionsModel) -> None:
    rows = {
        "A": row("A", Status.MATCH, broker_qty=D(1000), local_qty=D(1000)),
        "B": row("B", Status.PHANTOM, broker_qty=None, local_qty=D(1)),
        "C": row("C", Status.QTY_MISMATCH, broker_qty=D(50), local_qty=D(10)),
        "D": row("D", Status.CLOSED, broker_qty=D(0), local_qty=None),
    }
    model.apply_account("demo", rows)
    assert [model.row_at(i).instrument for i in range(4)] == ["C", "B", "A", "D"]
    model.sort(int(Col.INSTRUMENT), Qt.SortOrder.DescendingOrder)
    assert [model.row_at(i).instrument for i in range(4)] == ["D", "C", "B", "A"]


def test_filters_by_account_status_text_and_only_problems(model: PositionsModel) -> None:
    model.apply_account("demo", {r.instrument: r for r in EXAMPLES.values()})
    model.apply_account("other", {"X": row("X", Status.PHANTOM, account="other", broker_qty=None)})
    model.set_filter(FilterSpec(only_problems=True))
    shown = {model.row_at(i).instrument for i in range(model.rowCount())}
    assert shown == {"NSE:QTY", "NSE:SIDE", "NSE:PRICE", "NSE:PHANTOM", "NSE:UNTRACKED", "NSE:STALE", "X"}
    model.set_filter(FilterSpec(account="other"))
    assert [model.row_at(i).instrument for i in range(model.rowCount())] == ["X"]
    model.set_filter(FilterSpec(text="price"))
    assert [model.row_at(i).instrument for i in range(model.rowCount())] == ["NSE:PRICE"]
    model.set_filter(FilterSpec(statuses=frozenset({Status.CLOSED})))
    assert [model.row_at(i).instrument for i in range(model.rowCount())] == ["NSE:CLOSED"]


def test_incremental_update_keeps_selection_and_never_resets(qtbot: QtBot, model: PositionsModel) -> None:
    rows = {
        f"I{i:04}": row(f"I{i:04}", Status.MATCH, broker_qty=D(i + 1), local_qty=D(i + 1)) for i in range(500)
    }
    model.apply_account("demo", rows)
    view = PositionsView(model)
    qtbot.addWidget(view)
    view.resize(900, 400)
    view.show()
    assert view.select_key(("demo", "I0100"))
    view.verticalScrollBar().setValue(40)
    resets: list[str] = []
    changed: list[tuple[int, int]] = []
    model.modelAboutToBeReset.connect(lambda: resets.append("reset"))
    model.layoutAboutToBeChanged.connect(lambda *_: resets.append("layout"))
    model.dataChanged.connect(lambda a, b, *_: changed.append((a.row(), b.row())))

    new = dict(rows)
    for i in range(0, 500, 50):  # ten rows get a new last price: data changes in place
        name = f"I{i:04}"
        new[name] = replace(rows[name], last_price=D(101))
    new["I0007"] = replace(rows["I0007"], status=Status.PHANTOM, broker_qty=None)  # moves to the top
    del new["I0003"]
    new["I9999"] = row("I9999", Status.UNTRACKED, local_qty=None)
    with qtbot.waitSignals([model.rowsInserted, model.rowsRemoved, model.rowsMoved], timeout=1000):
        added, updated, removed = model.apply_account("demo", new)

    assert (added, updated, removed) == (1, 11, 1)
    assert resets == []
    assert changed and len(changed) <= 12
    assert view.current_key() == ("demo", "I0100")
    selected = view.selectionModel().selectedRows()
    assert [i.data(RowRole).instrument for i in selected] == ["I0100"]
    assert view.verticalScrollBar().value() == 40
    assert model.row_at(0).instrument in ("I0007", "I9999")


def test_random_updates_keep_the_model_consistent(model: PositionsModel) -> None:
    # Qt's own model checker watches the first steps (it is thorough, hence slow); the display
    # order is checked against a plain sort at every step.
    tester: QAbstractItemModelTester | None = QAbstractItemModelTester(
        model, QAbstractItemModelTester.FailureReportingMode.Fatal
    )
    rng = random.Random(7)
    statuses = list(Status)

    def make(account: str, i: int) -> Row:
        status = rng.choice(statuses)
        return Row(
            account=account,
            instrument=f"I{i}",
            status=status,
            since=NOW,
            broker_qty=D(rng.randint(-5, 5)),
            local_qty=D(rng.randint(-5, 5)),
            last_price=D(rng.randint(1, 99)),
            previous_status=Status.MATCH if status is Status.STALE else None,
        )

    for step in range(150):
        if step == 25 and tester is not None:
            tester.setParent(None)
            tester = None
        account = rng.choice(["a", "b"])
        current = {k[1]: model.row_for(k) for k in model._index.keys_of(account)}
        size = rng.choice([0, 5, 20, 70])
        rows: dict[str, Row] = {}
        for i in range(size):
            old = current.get(f"I{i}")
            rows[f"I{i}"] = old if old is not None and rng.random() < 0.6 else make(account, i)
        if step % 3 == 0:  # a large diff applied in pieces, the order settled once at the end
            for piece in model.plan(account, rows).split(7):
                model.apply_plan(piece, defer_moves=True)
            model.settle_moves()
        else:
            model.apply_account(account, rows)
        if step % 17 == 0:
            model.sort(rng.randrange(len(Col)), rng.choice(list(Qt.SortOrder)))
        if step % 13 == 0:
            model.set_filter(FilterSpec(only_problems=rng.random() < 0.5))
        order = [model.row_at(i).key for i in range(model.rowCount())]
        expected = sorted(
            (r for r in model.rows() if model.filter.accepts(r)),
            key=lambda r: model._index.sort_key(model._index.entry(r.key)),
        )
        assert order == [r.key for r in expected]


def test_acknowledged_rows_stay_visible_marked_and_quieter(qtbot: QtBot, model: PositionsModel) -> None:
    phantom = EXAMPLES[Status.PHANTOM]
    other = row("NSE:OTHER", Status.PHANTOM, broker_qty=None, local_qty=D(1))
    model.apply_account("demo", {phantom.instrument: phantom, other.instrument: other})
    ack = Acknowledgement(
        1,
        "demo",
        phantom.instrument,
        AckKind.ACK,
        NOW,
        "known",
        status="phantom",
        fingerprint=fingerprint(phantom),
    )
    model.set_ack(phantom.key, AckState(ack, None))
    assert "acknowledged" in str(cell(model, phantom.instrument, Col.STATUS))
    assert model.muted("demo", phantom.instrument)
    assert model.row_at(1).instrument == phantom.instrument  # quiet problems sort after loud ones
    tint = cell(model, phantom.instrument, Col.ACCOUNT, Qt.ItemDataRole.BackgroundRole)
    loud = cell(model, other.instrument, Col.ACCOUNT, Qt.ItemDataRole.BackgroundRole)
    assert tint.alpha() < loud.alpha()  # type: ignore[attr-defined]
    changed = replace(phantom, local_qty=D(60))
    model.apply_account("demo", {phantom.instrument: changed, other.instrument: other})
    assert not model.muted("demo", phantom.instrument)  # it changed: loud again
    assert "acknowledged" not in str(cell(model, phantom.instrument, Col.STATUS))


def test_a_diff_on_another_thread_survives_the_ui_thread_changing_the_model(model: PositionsModel) -> None:
    """``plan`` runs on the diff thread while ``load_cached`` may add and remove rows."""
    wide = {f"I{i:05}": row(f"I{i:05}", Status.MATCH) for i in range(3000)}
    narrow = {k: v for i, (k, v) in enumerate(wide.items()) if i % 3}
    narrow.update({f"J{i:05}": row(f"J{i:05}", Status.MATCH) for i in range(1000)})
    errors: list[BaseException] = []
    stop = threading.Event()

    def differ() -> None:
        try:
            while not stop.is_set():
                model.plan("demo", wide)
        except BaseException as exc:  # the failure this test is about: a set changed mid-iteration
            errors.append(exc)

    thread = threading.Thread(target=differ)
    thread.start()
    try:
        for turn in range(60):
            model.apply_account("demo", narrow if turn % 2 else wide)
            if errors:
                break
    finally:
        stop.set()
        thread.join()
    assert errors == []


def test_usdt_is_a_code_not_the_togrog_sign() -> None:
    assert fmt_money(D("1234.5"), "USDT") == "1,234.50 USDT"
    assert fmt_money(D("-3"), "USDT", signed=True) == "\u22123.00 USDT"
    assert fmt_money(D("10"), "USD") == "$10.00"


def test_a_look_alike_hint_fits_its_cell_and_keeps_the_alias_in_the_tooltip(model: PositionsModel) -> None:
    alias = 'add the alias "NSE:BAJAJ_AUTO" = "NSE:BAJAJ-AUTO" to the account'
    phantom = row(
        "NSE:BAJAJ_AUTO",
        Status.PHANTOM,
        broker_qty=None,
        hint=f"did you mean NSE:BAJAJ-AUTO? same quantity at the broker; {alias}",
    )
    untracked = row(
        "NSE:BAJAJ-AUTO",
        Status.UNTRACKED,
        local_qty=None,
        hint="did you mean NSE:BAJAJ_AUTO? the book holds the same quantity under that spelling",
    )
    model.apply_account("demo", {r.instrument: r for r in (phantom, untracked)})
    assert cell(model, "NSE:BAJAJ_AUTO", Col.HINT) == "did you mean NSE:BAJAJ-AUTO? add the alias"
    assert cell(model, "NSE:BAJAJ-AUTO", Col.HINT) == "same as the book's NSE:BAJAJ_AUTO?"
    assert alias in str(cell(model, "NSE:BAJAJ_AUTO", Col.HINT, Qt.ItemDataRole.ToolTipRole))


def test_a_cell_looks_anew_when_the_row_the_palette_or_its_acknowledgement_changes(
    model: PositionsModel,
) -> None:
    """Looks are kept per row between repaints; each of these changes must show at once."""
    phantom = EXAMPLES[Status.PHANTOM]
    model.apply_account("demo", {phantom.instrument: phantom})
    background = Qt.ItemDataRole.BackgroundRole
    light = cell(model, phantom.instrument, Col.STATUS, background)
    assert light == status_style.tint(Status.PHANTOM, False)

    model.set_dark(True)
    assert cell(model, phantom.instrument, Col.STATUS, background) == status_style.tint(Status.PHANTOM, True)
    assert cell(model, phantom.instrument, Col.STATUS, background) != light

    matched = replace(phantom, status=Status.MATCH, broker_qty=D(50))
    model.apply_account("demo", {phantom.instrument: matched})
    assert cell(model, phantom.instrument, Col.STATUS, background) == status_style.tint(Status.MATCH, True)
    assert cell(model, phantom.instrument, Col.STATUS, Qt.ItemDataRole.FontRole) is None  # calm: not bold

    model.apply_account("demo", {phantom.instrument: phantom})
    assert cell(model, phantom.instrument, Col.INSTRUMENT, Qt.ItemDataRole.DecorationRole) is None
    note = Acknowledgement(
        1,
        "demo",
        phantom.instrument,
        AckKind.ACK,
        NOW,
        "known",
        status="phantom",
        fingerprint=fingerprint(phantom),
    )
    model.set_ack(phantom.key, AckState(note))
    assert cell(model, phantom.instrument, Col.INSTRUMENT, Qt.ItemDataRole.DecorationRole) is not None
