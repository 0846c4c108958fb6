"""The positions model serves what it served before its storage was made compact (issue 19).

Every role of every cell (text, tooltip, colours, font, icon, alignment), and the default
order, for rows of every status, with acknowledgements that hold, lapsed and snoozes, in the
light and the dark palette, as recorded from the model before the change
(``positions_roles.json``, written by ``python -m tests.ui.test_positions_roles`` with
``TZ=UTC``). A trader who knows the table must find it as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QBuffer, QIODevice, Qt
from PySide6.QtGui import QColor, QFont, QIcon

from position_sync.app.domain import Part, Row, Status
from position_sync.app.store.acks import AckKind, Acknowledgement, AckState, fingerprint
from position_sync.ui.positions_columns import COLUMNS, Col
from position_sync.ui.positions_model import PositionsModel
from position_sync.ui.row_presenter import AccountInfo

RECORDED = Path(__file__).with_name("positions_roles.json")
NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
D = Decimal
ROLES = {  # in this order in the recording, the tooltip taken out of each cell
    "display": Qt.ItemDataRole.DisplayRole,
    "tooltip": Qt.ItemDataRole.ToolTipRole,
    "foreground": Qt.ItemDataRole.ForegroundRole,
    "background": Qt.ItemDataRole.BackgroundRole,
    "font": Qt.ItemDataRole.FontRole,
    "decoration": Qt.ItemDataRole.DecorationRole,
    "alignment": Qt.ItemDataRole.TextAlignmentRole,
}


def rows() -> list[Row]:
    since = NOW - timedelta(minutes=5)
    yesterday = NOW - timedelta(days=1, hours=2)

    def make(instrument: str, status: Status, account: str = "demo", **values: Any) -> Row:
        fields: dict[str, Any] = {
            "since": since,
            "broker_qty": D(10),
            "local_qty": D(10),
            "last_price": D(100),
        }
        fields.update(values)
        return Row(account=account, instrument=instrument, status=status, **fields)

    return [
        make("NSE:MATCH", Status.MATCH, broker_avg=D(1500), local_avg=D(1500), unrealised_pnl=D(-12.5)),
        make("NSE:QTY", Status.QTY_MISMATCH, broker_qty=D(70), local_qty=D(35), unrealised_pnl=D(40)),
        make("NSE:SIDE", Status.SIDE_MISMATCH, broker_qty=D(5), local_qty=D(-5)),
        make("NSE:PRICE", Status.PRICE_MISMATCH, broker_avg=D(1525), local_avg=D(1500)),
        make("NSE:PHANTOM", Status.PHANTOM, broker_qty=None, local_qty=D(50), confirmed=True),
        make("NSE:UNTRACKED", Status.UNTRACKED, local_qty=None, broker_qty=D(-20), hint="manual <b>sell</b>"),
        make(
            "NSE:CLOSED", Status.CLOSED, broker_qty=D(0), local_qty=None, realised_pnl=D(450), since=yesterday
        ),
        make("NSE:STALE", Status.STALE, previous_status=Status.PHANTOM, broker_qty=None, local_qty=D(5)),
        make("NSE:STALEOK", Status.STALE, previous_status=Status.MATCH, realised_pnl=D(-3)),
        make("NSE:ACKED", Status.QTY_MISMATCH, broker_qty=D(8), local_qty=D(6), explained=True),
        make("NSE:LAPSED", Status.PHANTOM, broker_qty=None, local_qty=D(9)),
        make("NSE:SNOOZED", Status.UNTRACKED, local_qty=None, broker_qty=D(3), realised_estimated=True),
        make(
            "NFO:NIFTY25O0725150CE",
            Status.MATCH,
            currency="USD",
            broker_parts=(Part("NFO NRML", D(75)), Part("NFO MIS", D(-25))),
            local_parts=(Part("NRML", D(50)),),
            broker_qty=D(50),
            local_qty=D(50),
            multiplier=D(25),
        ),
        make("BTC/USDT:USDT", Status.MATCH, account="ccxt", currency="USDT", last_price=None),
    ]


def acks(by_instrument: dict[str, Row]) -> dict[tuple[str, str], AckState]:
    def ack(instrument: str, kind: AckKind, **values: Any) -> Acknowledgement:
        return Acknowledgement(1, "demo", instrument, kind, NOW - timedelta(minutes=1), **values)

    acked = by_instrument["NSE:ACKED"]
    return {
        ("demo", "NSE:ACKED"): AckState(
            ack("NSE:ACKED", AckKind.ACK, note="known", fingerprint=fingerprint(acked))
        ),
        ("demo", "NSE:LAPSED"): AckState(
            ack("NSE:LAPSED", AckKind.ACK, fingerprint="phantom|None|1|None|None")
        ),
        ("demo", "NSE:SNOOZED"): AckState(
            snooze=ack("NSE:SNOOZED", AckKind.SNOOZE, until=NOW + timedelta(hours=1))
        ),
    }


def shown(value: object) -> object:
    """A role's value as plain data that compares across runs."""
    if isinstance(value, QColor):
        return value.name(QColor.NameFormat.HexArgb)
    if isinstance(value, QFont):
        return {"bold": value.bold(), "italic": value.italic()}
    if isinstance(value, QIcon):
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        value.pixmap(16, 16).toImage().save(buffer, "PNG")  # type: ignore[call-overload]
        return hashlib.sha256(bytes(buffer.data().data())).hexdigest()[:16]
    if isinstance(value, Qt.AlignmentFlag):
        return int(value.value)
    return value


def table_roles() -> dict[str, Any]:
    """Everything the model serves for the rows, light then dark."""
    picture = rows()
    by_instrument = {r.instrument: r for r in picture}
    model = PositionsModel()
    model.set_now(NOW)
    model.set_account_info("demo", AccountInfo("INR", last_success_at=NOW - timedelta(minutes=7)))
    model.set_account_info(
        "ccxt", AccountInfo(None, last_success_at=NOW - timedelta(minutes=3), error="timeout <5 s>")
    )
    for account in ("demo", "ccxt"):
        model.apply_account(account, {r.instrument: r for r in picture if r.account == account})
    model.set_acks(acks(by_instrument))
    recorded: dict[str, Any] = {}
    for palette, dark in (("light", False), ("dark", True)):
        model.set_dark(dark)
        table = []
        for position in range(model.rowCount()):
            cells = []
            for column in range(len(COLUMNS)):
                index = model.index(position, column)
                cells.append([shown(index.data(role)) for role in ROLES.values()])
            tooltips = sorted({str(cell.pop(1)) for cell in cells})  # the row's, on every cell
            table.append({"row": list(model.row_at(position).key), "tooltips": tooltips, "cells": cells})
        recorded[palette] = table
    return recorded


@pytest.fixture
def utc() -> Iterator[None]:
    """Times shown in the user's local time: recorded and compared in UTC."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def test_every_cell_serves_the_roles_it_served_before(qapp: object, utc: None) -> None:
    recorded = json.loads(RECORDED.read_text(encoding="utf-8"))
    now = table_roles()
    for palette in ("light", "dark"):
        assert [r["row"] for r in now[palette]] == [r["row"] for r in recorded[palette]], "the order"
        for before, after in zip(recorded[palette], now[palette], strict=True):
            assert after["tooltips"] == before["tooltips"], (palette, before["row"])
            for column, (old, new) in enumerate(zip(before["cells"], after["cells"], strict=True)):
                assert new == old, (palette, before["row"], COLUMNS[Col(column)].title)


if __name__ == "__main__":
    from PySide6.QtWidgets import QApplication

    os.environ["TZ"] = "UTC"
    time.tzset()
    application = QApplication(sys.argv[:1])
    RECORDED.write_text(
        json.dumps({"_source": "recorded by this module's __main__ from the model before issue 19", **table_roles()},
                   ensure_ascii=False).replace('{"row"', '\n{"row"') + "\n",
        encoding="utf-8",
    )  # fmt: skip


def test_scrolling_through_every_row_keeps_memory_flat(qapp: object) -> None:
    """Each row painted once, top to bottom: what is kept for painting stays a few screens'
    worth, not a tuple of texts, colours, fonts and icons for every row ever seen."""
    import tracemalloc

    since = NOW - timedelta(minutes=5)
    statuses = [Status.MATCH, Status.QTY_MISMATCH, Status.PHANTOM, Status.UNTRACKED, Status.CLOSED]
    picture = {
        f"NSE:S{i:05d}": Row(
            account="demo",
            instrument=f"NSE:S{i:05d}",
            status=statuses[i % len(statuses)],
            since=since,
            broker_qty=D(i % 70 + 1),
            local_qty=D(i % 50 + 1),
            last_price=D(i % 900 + 10),
            unrealised_pnl=D(i % 200 - 100),
        )
        for i in range(6000)
    }
    model = PositionsModel()
    model.set_account_info("demo", AccountInfo("INR", last_success_at=NOW))
    model.apply_account("demo", picture)
    looks = [role for name, role in ROLES.items() if name not in ("tooltip", "alignment")]

    def paint(rows: range) -> None:
        for position in rows:
            for column in range(len(COLUMNS)):
                index = model.index(position, column)
                for role in looks:
                    index.data(role)

    paint(range(1500))  # a first stretch: whatever is kept for painting is kept by now
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        paint(range(1500, 6000))
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 1_500_000, f"{grown} bytes kept for 4,500 more rows painted"  # 11 MB before
