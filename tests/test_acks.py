"""Acknowledgements and snoozes in the store, and ``position-sync ack`` doing the same headless."""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import inspect

from position_sync.app.config import load_settings
from position_sync.app.domain import Row, Status
from position_sync.app.store import Store, acks
from position_sync.app.store.engine import current_revision, head_revision
from position_sync.cli import main
from position_sync.wiring import build_runtime

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo"


def phantom(qty: int = 50) -> Row:
    return Row(
        account="demo",
        instrument="NSE:TCS",
        status=Status.PHANTOM,
        since=NOW,
        broker_qty=None,
        local_qty=Decimal(qty),
        confirmed=True,
    )


def test_migration_0003_creates_the_tables(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    try:
        assert current_revision(store.engine) == head_revision()
        assert {"acknowledgements", "sync_metrics"} <= set(inspect(store.engine).get_table_names())
        assert acks.current(store) == {}
    finally:
        store.close()


def test_an_acknowledgement_covers_the_row_until_it_changes(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    try:
        record = acks.acknowledge(store, phantom(), "booked by hand", NOW)
        state = acks.current(store)[("demo", "NSE:TCS")]
        assert state.ack == record and record.note == "booked by hand" and record.status == "phantom"
        assert state.acknowledged(phantom()) and state.mutes(phantom(), NOW)
        stale = replace(phantom(), status=Status.STALE, previous_status=Status.PHANTOM)
        assert state.acknowledged(stale)  # an unreadable account changes nothing about it
        assert not state.acknowledged(phantom(60))
    finally:
        store.close()


def test_a_snooze_ends_and_a_clear_withdraws_both(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    try:
        acks.acknowledge(store, phantom(), "", NOW)
        acks.snooze(store, "demo", "NSE:TCS", NOW + timedelta(hours=1), NOW)
        state = acks.current(store)[("demo", "NSE:TCS")]
        assert state.snoozed(NOW + timedelta(minutes=59)) and not state.snoozed(NOW + timedelta(minutes=61))
        acks.clear(store, "demo", "NSE:TCS", NOW + timedelta(minutes=1))
        assert acks.current(store) == {}
        kinds = [r.kind for r in acks.records(store, "demo", "NSE:TCS")]
        assert kinds == [acks.AckKind.ACK, acks.AckKind.SNOOZE, acks.AckKind.CLEAR]  # history keeps all
        with pytest.raises(ValueError):
            acks.snooze(store, "demo", "NSE:TCS", NOW, NOW)
    finally:
        store.close()


@pytest.fixture
def demo_dir(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "demo"
    shutil.copytree(DEMO, folder)
    data = tmp_path / "data"
    settings = load_settings(folder / "config.toml")

    async def walk() -> None:
        runtime = build_runtime(settings, data)
        try:
            await runtime.worker.load()
            for _ in range(3):
                await runtime.worker.sync_all("test")
        finally:
            await runtime.close()

    asyncio.run(walk())
    return folder / "config.toml", data


def test_ack_command_acknowledges_snoozes_lists_and_clears(
    demo_dir: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config, data = demo_dir
    base = ["--config", str(config), "--data-dir", str(data), "ack"]
    assert main([*base, "demo", "NSE:TCS", "--note", "fixing tonight"]) == 0
    assert "acknowledged (Phantom)" in capsys.readouterr().out
    assert main([*base, "demo", "nse:infy", "--snooze", "2h", "--json"]) == 0
    snoozed = json.loads(capsys.readouterr().out)
    assert snoozed["kind"] == "snooze" and snoozed["instrument"] == "NSE:INFY"
    assert main([*base, "--list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {e["instrument"] for e in listed} == {"NSE:TCS", "NSE:INFY"}
    tcs = next(e for e in listed if e["instrument"] == "NSE:TCS")
    assert tcs["acknowledged"]["note"] == "fixing tonight" and tcs["acknowledged"]["applies"]
    assert main([*base, "demo", "NSE:TCS", "--clear"]) == 0
    capsys.readouterr()
    assert main([*base, "--list", "--json"]) == 0
    assert [e["instrument"] for e in json.loads(capsys.readouterr().out)] == ["NSE:INFY"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "NFO:NIFTY26NOVFUT"], "not a mismatch"),
        (["demo", "TCS"], "did you mean NSE:TCS"),
        (["nobody", "NSE:TCS"], "has no account 'nobody'"),
        (["demo", "NSE:TCS", "--snooze", "soon"], "expected a duration"),
        ([], "needs an ACCOUNT and an INSTRUMENT"),
    ],
)
def test_ack_command_refuses_mistakes_in_one_sentence(
    demo_dir: tuple[Path, Path], capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    config, data = demo_dir
    assert main(["--config", str(config), "--data-dir", str(data), "ack", *args]) == 3
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_status_shows_who_acknowledged_and_exits_0_once_every_problem_is_covered(
    demo_dir: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cron wrapper stops alerting once the trader has acknowledged or snoozed every problem;
    ``--strict`` asks for the old code. The JSON and the table say who, what note, until when."""
    monkeypatch.setattr(acks, "local_user", lambda: "asha")
    config, data = demo_dir
    base = ["--config", str(config), "--data-dir", str(data)]
    assert main([*base, "status", "--json"]) == 1
    problems = [
        r for r in json.loads(capsys.readouterr().out)["rows"] if r["status"] not in ("match", "closed")
    ]
    assert problems and all(r["acknowledgement"] is None for r in problems)
    first, *rest = problems
    assert main([*base, "ack", first["account"], first["instrument"], "--note", "closing tonight"]) == 0
    for row in rest:
        assert main([*base, "ack", row["account"], row["instrument"], "--snooze", "2h"]) == 0
    capsys.readouterr()
    assert main([*base, "status", "--json"]) == 0
    rows = {r["instrument"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    acked = rows[first["instrument"]]["acknowledgement"]
    assert (acked["kind"], acked["by"], acked["note"], acked["until"]) == (
        "acknowledged",
        "asha",
        "closing tonight",
        None,
    )
    if rest:
        snoozed = rows[rest[0]["instrument"]]["acknowledgement"]
        assert snoozed["kind"] == "snoozed" and snoozed["until"] is not None and snoozed["by"] == "asha"
    assert main([*base, "status", "--strict"]) == 1
    table = capsys.readouterr().out
    assert "acknowledged by asha" in table and "note: closing tonight" in table
