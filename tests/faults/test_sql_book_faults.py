"""Fault matrix, SQL book with a change probe: a probe or read that fails is never an empty book,
and never the last good read either.

A SQLite book whose reads are gated by its ``change_probe`` (a read runs the probe first and
answers from the last good read while the probe answers as before). Each fault strikes after a
good sync; the broker stays healthy, so a read taken as empty would turn every broker position
untracked. The matrix runs ``sync --once`` (a new process's book, nothing remembered); the last
case runs the real runtime twice in one process, where a good read is remembered, to show that a
failed probe is stale there too rather than answered from memory.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from position_sync.app.books.sql import SqlBook
from position_sync.app.domain import AccountState, Status
from position_sync.app.runtime import Runtime
from tests.books.conftest import simulated_runtime
from tests.conftest import toml_table, write_scenario
from tests.faults.harness import SETTING_IDS, account_settings, assert_fault_held, assert_good, sync_once

POSITIONS = [
    {"symbol": "NIFTY25NOVFUT", "quantity": 75, "average_price": 24000},
    {"symbol": "BANKNIFTY25NOVFUT", "quantity": -35, "average_price": 51000},
    {"symbol": "FINNIFTY25NOVFUT", "quantity": 40, "average_price": 23000},
]
INSTRUMENTS = {f"NFO:{p['symbol']}" for p in POSITIONS}
BOOK = {
    "kind": "sql",
    "url": "sqlite:///book.db",
    "table": "positions",
    "change_probe": "SELECT revision FROM book_revision",
}


def _make_database(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE positions (symbol TEXT, quantity NUMERIC, average_price NUMERIC)")
        connection.executemany(
            "INSERT INTO positions VALUES (?, ?, ?)",
            [(p["symbol"], p["quantity"], p["average_price"]) for p in POSITIONS],
        )
        connection.execute("CREATE TABLE book_revision (revision INTEGER)")
        connection.execute("INSERT INTO book_revision VALUES (1)")
    connection.close()


def _run_sql(*statements: str) -> Callable[[Path], None]:
    def fault(database: Path) -> None:
        with sqlite3.connect(database) as connection:
            for statement in statements:
                connection.execute(statement)
        connection.close()

    return fault


FAULTS: dict[str, Callable[[Path], None]] = {
    # The probe's own table gone: the rows are intact, and still the read is a failure.
    "probe fails": _run_sql("DROP TABLE book_revision"),
    "probe changes, table gone": _run_sql("UPDATE book_revision SET revision = 2", "DROP TABLE positions"),
    "probe changes, a line unreadable": _run_sql(
        "UPDATE book_revision SET revision = 2", "INSERT INTO positions VALUES (NULL, 5, 100)"
    ),
}


def _write_config(root: Path, setting: str) -> Path:
    write_scenario(root / "scenario.toml", [{"positions": POSITIONS}])
    account = {
        "id": "sim",
        "broker": "simulated",
        "scenario": "scenario.toml",
        "book": "bot",
        "exchange": "NFO",
        **account_settings(setting),
    }
    config = root / "config.toml"
    config.write_text(
        toml_table("[[books]]", {"id": "bot", **BOOK}) + "\n" + toml_table("[[accounts]]", account)
    )
    return config


@pytest.mark.parametrize("setting", SETTING_IDS)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_broken_probed_sql_book_holds_the_picture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fault: str, setting: str
) -> None:
    _make_database(tmp_path / "book.db")
    config = _write_config(tmp_path, setting)
    data_dir = tmp_path / "data"
    good = sync_once(config, data_dir, capsys)
    assert_good(good, "sim", INSTRUMENTS)
    FAULTS[fault](tmp_path / "book.db")
    faulted = sync_once(config, data_dir, capsys)
    assert_fault_held(
        good, faulted, "sim", config=config, data_dir=data_dir, capsys=capsys, words="book 'bot'"
    )


def _probed_runtime(tmp_path: Path) -> Runtime:
    """The real runtime of one simulated account on the probed SQL book, in one process, where
    the book remembers its last good read between syncs."""
    _make_database(tmp_path / "book.db")
    scenario = tmp_path / "steps.toml"
    write_scenario(scenario, [{"positions": POSITIONS}])
    return simulated_runtime(
        tmp_path,
        scenario.read_text(),
        dict[str, Any](BOOK),
        exchange="NFO",
        confirm_syncs=1,
        settle_seconds=0,
    )


async def test_a_failed_probe_is_stale_in_a_runtime_that_remembers_the_last_read(tmp_path: Path) -> None:
    runtime = _probed_runtime(tmp_path)
    book = runtime.books["bot"]
    assert isinstance(book, SqlBook)
    queries: list[str] = []
    event.listen(
        book.engine, "before_cursor_execute", lambda _c, _k, statement, *_: queries.append(statement)
    )
    try:
        await runtime.worker.load()
        good = await runtime.worker.sync("sim", "test")
        assert good.state is AccountState.OK, good.error
        again = await runtime.worker.sync("sim", "test")
        assert again.state is AccountState.OK and again.rows.keys() == good.rows.keys()
        reads = [q for q in queries if q.endswith("FROM positions")]
        assert len(reads) == 1, "the second sync is answered from the remembered read"
        FAULTS["probe fails"](tmp_path / "book.db")
        faulted = await runtime.worker.sync("sim", "test")
    finally:
        await runtime.close()
    assert faulted.state is AccountState.STALE
    assert faulted.error is not None and "book 'bot'" in faulted.error
    assert faulted.rows.keys() == good.rows.keys()
    assert all(row.status is Status.STALE for row in faulted.rows.values())
    assert not faulted.events or all(
        e.kind.value not in {"phantom_detected", "untracked_detected", "closed"} for e in faulted.events
    )


async def test_a_resync_reads_the_book_in_full_whatever_its_probe_says(tmp_path: Path) -> None:
    """A probe that misses a change (here nothing moves ``book_revision``) holds the old lines
    between interval syncs; the resync button, a fix written and a viewer's request read anew."""
    runtime = _probed_runtime(tmp_path)
    changes = {
        True: _run_sql("DELETE FROM positions WHERE symbol = 'FINNIFTY25NOVFUT'"),
        False: _run_sql("INSERT INTO positions VALUES ('FINNIFTY25NOVFUT', 40, 23000)"),
    }
    shown = {True: Status.MATCH, False: Status.UNTRACKED}  # the book holds it, or only the broker
    seen: list[tuple[str, Status, Status]] = []
    try:
        await runtime.worker.load()
        assert (await runtime.worker.sync("sim", "interval")).state is AccountState.OK
        held = True
        for reason in ("manual", "book fixed", "requested"):
            changes[held](tmp_path / "book.db")
            between = await runtime.worker.sync("sim", "interval")
            asked = await runtime.worker.sync("sim", reason)
            seen.append(
                (
                    reason,
                    between.rows["NFO:FINNIFTY25NOVFUT"].status,
                    asked.rows["NFO:FINNIFTY25NOVFUT"].status,
                )
            )
            held = not held
    finally:
        await runtime.close()
    # Between: the lines the probe vouched for; asked: the table as it is.
    assert seen == [
        ("manual", shown[True], shown[False]),
        ("book fixed", shown[False], shown[True]),
        ("requested", shown[True], shown[False]),
    ]
