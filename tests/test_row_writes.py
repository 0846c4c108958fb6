"""How a save writes an account's rows: repriced in two columns, rewritten whole, or deleted.

The store tests check what comes back; these check the path each row takes, the stamp a
repriced row gets, and that a row the table lacks is never lost to the cheaper path.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from position_sync.app.domain import Status
from position_sync.app.store import Store
from position_sync.app.store.row_writes import row_changes
from tests.conftest import T0, make_outcome, make_row


def test_rows_are_sorted_by_what_changed() -> None:
    same = make_row("NFO:SAME")
    saved = {r.instrument: r for r in (same, make_row("NFO:TICK"), make_row("NFO:QTY"), make_row("NFO:GONE"))}
    rows = {
        "NFO:SAME": same,
        "NFO:TICK": make_row("NFO:TICK", last_price=Decimal("101.5"), unrealised_pnl=Decimal("15")),
        "NFO:QTY": make_row("NFO:QTY", broker_qty=Decimal(12), status=Status.QTY_MISMATCH),
        "NFO:NEW": make_row("NFO:NEW"),
        "NFO:COPY": make_row("NFO:COPY"),
    }
    saved["NFO:COPY"] = make_row("NFO:COPY")  # equal, not the same object: nothing to write
    changes = row_changes(saved, rows)
    assert [r.instrument for r in changes.repriced] == ["NFO:TICK"]
    assert sorted(r.instrument for r in changes.rewritten) == ["NFO:NEW", "NFO:QTY"]
    assert changes.gone == ["NFO:GONE"]
    assert not row_changes(
        saved, {k: saved[k] for k in ("NFO:SAME", "NFO:COPY", "NFO:TICK", "NFO:QTY", "NFO:GONE")}
    )


def _stored(store: Store) -> dict[str, tuple[str, str]]:
    with store.engine.connect() as connection:
        found = connection.execute(text("SELECT instrument, last_price, updated_at FROM rows"))
        return {r.instrument: (r.last_price, r.updated_at) for r in found}


def test_a_repriced_row_gets_the_sync_s_stamp(store: Store) -> None:
    first = make_outcome([make_row("NFO:A"), make_row("NFO:B")])
    store.save("acct", first, T0, T0)
    ticked = make_outcome([make_row("NFO:A", last_price=Decimal("102")), make_row("NFO:B")])
    later = T0 + timedelta(minutes=1)
    store.save("acct", ticked, later, later, previous=first.rows)
    stored = _stored(store)
    assert stored["NFO:A"] == ("102", later.isoformat(timespec="microseconds"))
    assert stored["NFO:B"] == ("101", T0.isoformat(timespec="microseconds"))  # untouched


def test_a_repriced_row_the_table_lost_is_written_whole(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The memory a save compares with can be ahead of the table (a commit that failed as far
    as the process knew); a price tick of a row the table lacks must not vanish."""
    first = make_outcome([make_row("NFO:A"), make_row("NFO:B")])
    store.save("acct", first, T0, T0)
    with store.engine.begin() as connection:
        connection.execute(text("DELETE FROM rows WHERE instrument = 'NFO:A'"))
    ticked = {k: replace(r, last_price=Decimal("103")) for k, r in first.rows.items()}
    with caplog.at_level(logging.WARNING):
        store.save("acct", make_outcome(list(ticked.values())), T0, T0, previous=first.rows)
    reopened = Store.open(tmp_path / "store")
    try:
        assert {r.instrument: r for r in reopened.rows()} == ticked
    finally:
        reopened.close()
    assert "1 of 2 rows to reprice were not in the store" in caplog.text
