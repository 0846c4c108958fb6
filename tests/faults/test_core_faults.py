"""Fault matrix, core: numbers that cannot be judged, a sync that crashes, a book that empties.

The broker is the simulated one and the book a file, so what is tested is the shared depth every
broker and book goes through: ``to_decimal`` bounding every number when it is parsed, the worker
turning any failure inside a sync into a stale account, and reconciliation holding a mass change
on the book side as on the broker side (safety rule 3).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from position_sync.app import sync as sync_module
from position_sync.app.config import load_settings
from position_sync.app.exit_codes import ExitCode
from position_sync.app.store import Store
from position_sync.brokers import simulated as simulated_broker
from position_sync.cli import main
from position_sync.cli_commands import cmd_daemon
from tests.conftest import Project, age, toml_table, write_book, write_scenario
from tests.faults.harness import (
    FORBIDDEN,
    SETTING_IDS,
    account_settings,
    assert_fault_held,
    assert_good,
    stored_event_kinds,
    sync_once,
)

POSITIONS = [
    {"symbol": "NIFTY25NOVFUT", "quantity": 75, "average_price": 24000},
    {"symbol": "BANKNIFTY25NOVFUT", "quantity": -35, "average_price": 51000},
    {"symbol": "FINNIFTY25NOVFUT", "quantity": 40, "average_price": 23000},
]
INSTRUMENTS = {f"NFO:{p['symbol']}" for p in POSITIONS}


def _with_first(**values: Any) -> list[dict[str, Any]]:
    """The healthy positions with the first one's fields replaced."""
    return [{**POSITIONS[0], **values}, *POSITIONS[1:]]


# -- numbers in the book ---------------------------------------------------------------------

# Each replaces the book after a good sync. Unbounded, the first two overflowed reconciliation
# (a traceback, exit 1, no JSON) or were judged as a quantity mismatch; the third printed as
# 100 MB of zeros.
BOOK_NUMBERS: dict[str, tuple[str, str]] = {
    "quantity 1e999999 (text)": ("quantity", '"1e999999"'),
    "quantity 1e999999 (JSON number)": ("quantity", "1e999999"),
    "average_price 9e999999": ("average_price", '"9e999999"'),
    "quantity 1E-99999999": ("quantity", '"1E-99999999"'),
    "quantity with 30 decimal places": ("quantity", '"75.000000000000000000000000000001"'),
    "quantity NaN (text)": ("quantity", '"NaN"'),
    "quantity NaN (JSON literal)": ("quantity", "NaN"),
    "quantity Infinity (text)": ("quantity", '"Infinity"'),
    "average_price -Infinity (JSON literal)": ("average_price", "-Infinity"),
}


def _book_text(fault: str) -> str:
    """The healthy book as JSON text, the first position's field written as the fault says."""
    field, literal = BOOK_NUMBERS[fault]
    first = {key: json.dumps(value) for key, value in POSITIONS[0].items()}
    first[field] = literal
    body = ", ".join(f'"{key}": {value}' for key, value in first.items())
    rest = ", ".join(json.dumps(p) for p in POSITIONS[1:])
    return f'{{"positions": [{{{body}}}, {rest}]}}'


@pytest.mark.parametrize("setting", SETTING_IDS)
@pytest.mark.parametrize("fault", list(BOOK_NUMBERS))
def test_a_book_number_that_cannot_be_judged_is_a_malformed_read(
    project: Project, capsys: pytest.CaptureFixture[str], fault: str, setting: str
) -> None:
    project.write(broker_steps=[{"positions": POSITIONS}], book=POSITIONS, account=account_settings(setting))
    good = sync_once(project.config, project.data_dir, capsys)
    assert_good(good, "sim", INSTRUMENTS)
    project.book.write_text(_book_text(fault), encoding="utf-8")
    faulted = sync_once(project.config, project.data_dir, capsys)
    assert_fault_held(
        good,
        faulted,
        "sim",
        config=project.config,
        data_dir=project.data_dir,
        capsys=capsys,
        words="NIFTY25NOVFUT",
    )
    assert len(faulted.account("sim")["error"]) < 400, "the value is quoted cut short, never whole"


# -- numbers at the broker -------------------------------------------------------------------

BROKER_NUMBERS: dict[str, dict[str, Any]] = {
    "last_price 9e999999": {"last_price": "9e999999"},
    "quantity 1e999999": {"quantity": "1e999999"},
    "quantity 1E-99999999": {"quantity": "1E-99999999"},
    "average_price with 30 decimal places": {"average_price": "24000.000000000000000000000000000001"},
    "quantity NaN": {"quantity": "NaN"},
    "last_price Infinity": {"last_price": "Infinity"},
}


def _rescript(project: Project, fault: str) -> None:
    """The scenario's one step (the good run stayed on it) now carries the fault."""
    write_scenario(project.scenario, [{"positions": _with_first(**BROKER_NUMBERS[fault])}])


@pytest.mark.parametrize("setting", SETTING_IDS)
@pytest.mark.parametrize("fault", list(BROKER_NUMBERS))
def test_a_scenario_number_out_of_bounds_is_refused_as_configuration(
    project: Project, capsys: pytest.CaptureFixture[str], fault: str, setting: str
) -> None:
    """The simulated broker checks its whole scenario when built: a bad number is the config's.

    Exit 3 with one sentence naming the file and the step, nothing synced, so the stored
    picture and its history stay as the good run left them.
    """
    project.write(broker_steps=[{"positions": POSITIONS}], book=POSITIONS, account=account_settings(setting))
    good = sync_once(project.config, project.data_dir, capsys)
    assert_good(good, "sim", INSTRUMENTS)
    _rescript(project, fault)
    capsys.readouterr()
    code = main(
        ["--config", str(project.config), "--data-dir", str(project.data_dir), "sync", "--once", "--json"]
    )
    out, err = capsys.readouterr()
    assert code == ExitCode.CONFIG, (out, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "scenario.toml" in err and "steps[0].positions[0]" in err, err
    assert not set(stored_event_kinds(project.config, project.data_dir, capsys)) & FORBIDDEN


@pytest.mark.parametrize("setting", SETTING_IDS)
@pytest.mark.parametrize("fault", ["last_price 9e999999", "quantity 1e999999"])
def test_an_adapter_that_lets_an_overflow_through_leaves_the_account_stale(
    project: Project,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
    setting: str,
) -> None:
    """The worker's own guard, for an adapter that does not bound its numbers.

    The simulated broker is made to parse without ``to_decimal``, as an adapter with its own
    parsing might: the overflow then happens inside the sync (reconciliation or the store's
    figures), and the account must still be stale with one sentence, exit 2 and JSON printed.
    """
    project.write(broker_steps=[{"positions": POSITIONS}], book=POSITIONS, account=account_settings(setting))
    good = sync_once(project.config, project.data_dir, capsys)
    assert_good(good, "sim", INSTRUMENTS)
    _rescript(project, fault)
    monkeypatch.setattr(simulated_broker, "to_decimal", lambda value: Decimal(str(value)))
    monkeypatch.setattr(
        simulated_broker, "optional_decimal", lambda value: None if value is None else Decimal(str(value))
    )
    faulted = sync_once(project.config, project.data_dir, capsys)
    assert_fault_held(
        good,
        faulted,
        "sim",
        config=project.config,
        data_dir=project.data_dir,
        capsys=capsys,
        words="internal error",
    )
    assert "Traceback" not in faulted.stderr


@pytest.mark.parametrize("setting", SETTING_IDS)
def test_a_reconciliation_that_crashes_leaves_the_account_stale(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    project.write(broker_steps=[{"positions": POSITIONS}], book=POSITIONS, account=account_settings(setting))
    good = sync_once(project.config, project.data_dir, capsys)
    assert_good(good, "sim", INSTRUMENTS)

    def crash(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a defect in reconciliation")

    monkeypatch.setattr(sync_module, "reconcile", crash)
    faulted = sync_once(project.config, project.data_dir, capsys)
    assert_fault_held(
        good,
        faulted,
        "sim",
        config=project.config,
        data_dir=project.data_dir,
        capsys=capsys,
        words="RuntimeError: a defect in reconciliation",
    )
    assert "sync_failed" in faulted.event_kinds()
    assert "Traceback" not in faulted.stderr
    # ``status`` shows what the failed sync recorded, not the good picture before it.
    capsys.readouterr()
    code = main(["--config", str(project.config), "--data-dir", str(project.data_dir), "status", "--json"])
    status = json.loads(capsys.readouterr().out)
    assert code == ExitCode.STALE
    assert status["accounts"][0]["state"] == "stale"


# -- the book empties at once ------------------------------------------------------------------

CSV_HEADER = "symbol,quantity,average_price\n"


def _csv_project(project: Project, setting: str) -> Path:
    """The project with its book as CSV, the way trading systems often keep one."""
    project.write(broker_steps=[{"positions": POSITIONS}], book=POSITIONS, account=account_settings(setting))
    book = project.root / "book.csv"
    book.write_text(
        CSV_HEADER + "".join(f"{p['symbol']},{p['quantity']},{p['average_price']}\n" for p in POSITIONS),
        encoding="utf-8",
    )
    age(book, 3600)
    text = project.config.read_text(encoding="utf-8").replace('"book.json"', '"book.csv"')
    project.config.write_text(text, encoding="utf-8")
    return book


@pytest.mark.parametrize("setting", SETTING_IDS)
def test_a_csv_book_truncated_to_its_header_is_held_not_untracked(
    project: Project, capsys: pytest.CaptureFixture[str], setting: str
) -> None:
    """Safety rule 3 on the book side: not stale (the file reads), but held, so not judged.

    A held change keeps the previous picture as it was (rows unchanged, the account ``ok``),
    says why in a ``mass_change_held`` event, and exits 1 like any held change; nothing is
    reported untracked until the next consecutive sync confirms it. That holds under both
    columns: ``confirm_syncs = 1`` turns off the confirmation of single problems, not the hold.
    """
    book = _csv_project(project, setting)
    good = sync_once(project.config, project.data_dir, capsys)
    assert_good(good, "sim", INSTRUMENTS)
    book.write_text(CSV_HEADER, encoding="utf-8")  # a rewrite caught before its rows
    held = sync_once(project.config, project.data_dir, capsys)
    assert held.code == ExitCode.MISMATCH, (held.code, held.payload["accounts"], held.stderr[-2000:])
    assert held.account("sim")["state"] == "ok"
    assert held.event_kinds() == {"mass_change_held"}
    (event,) = held.payload["events"]
    assert "no longer holds 3 of the 3 positions" in event["detail"], event
    assert held.rows("sim") == good.rows("sim"), "the previous picture is kept as it was"
    assert not set(stored_event_kinds(project.config, project.data_dir, capsys)) & FORBIDDEN
    # Restored before the next sync: nothing was ever reported.
    _csv_project(project, setting)
    restored = sync_once(project.config, project.data_dir, capsys)
    assert restored.code == 0 and restored.event_kinds() == set()
    assert not set(stored_event_kinds(project.config, project.data_dir, capsys)) & FORBIDDEN


def test_a_csv_book_still_empty_at_the_next_sync_is_confirmed(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """The other half of rule 3: a second consecutive sync that reads the same confirms it."""
    book = _csv_project(project, "eager")
    sync_once(project.config, project.data_dir, capsys)
    book.write_text(CSV_HEADER, encoding="utf-8")
    assert sync_once(project.config, project.data_dir, capsys).event_kinds() == {"mass_change_held"}
    confirmed = sync_once(project.config, project.data_dir, capsys)
    assert {r["status"] for r in confirmed.rows("sim").values()} == {"untracked"}
    assert [e["kind"] for e in confirmed.payload["events"]].count("untracked_detected") == 3


# -- the daemon ------------------------------------------------------------------------------


def _two_accounts(project: Project) -> Path:
    """``bad`` and ``good``, two simulated accounts on one book, syncing every 0.2 s."""
    write_scenario(project.scenario, [{"positions": POSITIONS}])
    write_book(project.book, POSITIONS)
    text = toml_table("[[books]]", {"id": "bot", "kind": "file", "path": project.book.name})
    for account_id in ("bad", "good"):
        values = {
            "id": account_id,
            "broker": "simulated",
            "scenario": project.scenario.name,
            "book": "bot",
            "exchange": "NFO",
            "interval": 0.2,
        }
        text += "\n" + toml_table("[[accounts]]", values)
    project.config.write_text(text, encoding="utf-8")
    return project.config


async def _until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the daemon did not get there in time"
        await asyncio.sleep(0.05)


async def test_the_daemon_outlives_an_account_whose_sync_raises(
    project: Project,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One account's sync raising every time: it is stale in ``status``, the other keeps syncing."""
    config = _two_accounts(project)
    real = sync_module.reconcile
    calls: dict[str, int] = {"bad": 0, "good": 0}

    def reconcile(account: str, *args: Any, **kwargs: Any) -> Any:
        calls[account] += 1
        if account == "bad":
            raise RuntimeError("a defect that strikes one account")
        return real(account, *args, **kwargs)

    monkeypatch.setattr(sync_module, "reconcile", reconcile)
    daemon = asyncio.create_task(cmd_daemon(load_settings(config), project.data_dir))

    def states() -> dict[str, str]:
        store = Store.open(project.data_dir)
        try:
            return {a: s.state.value for a, s in store.account_statuses().items()}
        finally:
            store.close()

    try:
        # Several intervals of each account: the failing one did not stop its loop or the other.
        await _until(lambda: calls["bad"] >= 3 and calls["good"] >= 3)
        await _until(lambda: states() == {"bad": "stale", "good": "ok"})
        assert not daemon.done()
        capsys.readouterr()
        code = await asyncio.to_thread(
            main, ["--config", str(config), "--data-dir", str(project.data_dir), "status", "--json"]
        )
        status = json.loads(capsys.readouterr().out)
        accounts = {a["id"]: a for a in status["accounts"]}
        assert code == ExitCode.STALE
        assert accounts["bad"]["state"] == "stale"
        assert "RuntimeError: a defect that strikes one account" in accounts["bad"]["error"]
        assert accounts["good"]["state"] == "ok"
        kinds = [e["kind"] for e in status["events"]]
        assert not set(kinds) & FORBIDDEN
    finally:
        daemon.cancel()
        with pytest.raises(asyncio.CancelledError):
            await daemon
    # The loop's last-resort guard never fired, and no traceback was shown at error level.
    assert not [r for r in caplog.records if "failed unexpectedly" in r.getMessage()]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
