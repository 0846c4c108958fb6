"""``position-sync`` end to end: the real entry point in a subprocess, walking scripted brokers.

Each ``sync --once`` is a new process, so these also prove that everything a sync continues
from (scenario step, rows, confirmation streaks, held mass changes) survives in the data dir.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Project, write_book

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "resources" / "demo"

TOP_KEYS = {"synced_at", "accounts", "rows", "events"}
ACCOUNT_KEYS = {"id", "state", "error", "last_success_at", "lease"}
ROW_KEYS = {
    "account",
    "instrument",
    "broker_qty",
    "local_qty",
    "broker_avg",
    "local_avg",
    "last_price",
    "unrealised_pnl",
    "realised_pnl",
    "status",
    "since",
    "hint",
    "acknowledgement",
    "realised_estimated",
    "broker_parts",
    "local_parts",
}
EVENT_KEYS = {"at", "account", "instrument", "kind", "detail"}
DECIMAL_FIELDS = ROW_KEYS - {
    "account",
    "instrument",
    "status",
    "since",
    "hint",
    "acknowledgement",
    "realised_estimated",
    "broker_parts",
    "local_parts",
}
DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d$")
STATUSES = {
    "match",
    "qty_mismatch",
    "side_mismatch",
    "price_mismatch",
    "phantom",
    "untracked",
    "closed",
    "stale",
}


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


def cli(*args: str | Path, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Run:
    """``python -m position_sync.cli ARGS`` with the test's environment (no user config, no real home)."""
    environ = dict(os.environ)
    environ.update(env or {})
    environ.pop("PYTHONWARNINGS", None)
    done = subprocess.run(
        [sys.executable, "-m", "position_sync.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=environ,
        cwd=cwd or REPO,
        timeout=120,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def is_time(value: Any) -> bool:
    if not isinstance(value, str) or not ISO_WITH_OFFSET.match(value):
        return False
    return datetime.fromisoformat(value).utcoffset() is not None


def check_picture(payload: Any) -> dict[str, Any]:
    """The JSON of ``sync --once --json`` and ``status --json``: exact keys, strings, times."""
    assert isinstance(payload, dict)
    assert set(payload) == TOP_KEYS
    assert payload["synced_at"] is None or is_time(payload["synced_at"])
    for account in payload["accounts"]:
        assert set(account) == ACCOUNT_KEYS
        assert account["state"] in {"ok", "stale", "login_required"}
        assert account["error"] is None or isinstance(account["error"], str)
        assert account["last_success_at"] is None or is_time(account["last_success_at"])
        assert account["lease"] is None  # no store in these tests is shared (tests/team has those)
    for row in payload["rows"]:
        assert set(row) == ROW_KEYS, row
        assert row["status"] in STATUSES
        assert is_time(row["since"]), row
        for name in DECIMAL_FIELDS:
            assert row[name] is None or (isinstance(row[name], str) and DECIMAL.match(row[name])), (name, row)
    for event in payload["events"]:
        check_event(event)
    return payload


def check_event(event: Any) -> None:
    assert set(event) == EVENT_KEYS, event
    assert is_time(event["at"])
    assert isinstance(event["kind"], str) and isinstance(event["detail"], str)


def sync(project: Project, *extra: str) -> tuple[int, dict[str, Any]]:
    run = cli("--config", project.config, "--data-dir", project.data_dir, "sync", "--once", "--json", *extra)
    assert "Traceback" not in run.stderr, run.stderr
    return run.code, check_picture(run.json)


def rows_by(payload: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["instrument"]: row for row in payload["rows"]}


def status_by(payload: Mapping[str, Any]) -> dict[str, str]:
    return {row["instrument"]: row["status"] for row in payload["rows"]}


def events_of(payload: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    return [(event["kind"], event["instrument"]) for event in payload["events"]]


def position(symbol: str, quantity: str, price: str, **more: str) -> dict[str, str]:
    return {"symbol": symbol, "quantity": quantity, "average_price": price, **more}


def book_line(symbol: str, quantity: Any, price: Any) -> dict[str, Any]:
    return {"symbol": symbol, "quantity": quantity, "average_price": price}


def one_line_error(run: Run, *words: str) -> str:
    assert run.code == 3, (run.code, run.stdout, run.stderr)
    assert "Traceback" not in run.stderr
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


# -- a walk through a scenario of our own ------------------------------------------------

BOOK = [
    book_line("NIFTY26NOVFUT", 75, 24500),
    book_line("NSE:INFY", 100, 1500),
    book_line("NSE:TCS", -50, 4100),
    book_line("NSE:PENNY", 1000, "0.00000085"),
]


def broker(infy: str = "100") -> dict[str, Any]:
    return {
        "positions": [
            position("NIFTY26NOVFUT", "50", "24500", last_price="24610", product="NRML"),
            position("NIFTY26NOVFUT", "25", "24500", last_price="24610", product="MIS"),
            position("NSE:INFY", infy, "1500", last_price="1531.4", product="CNC"),
            position("NSE:TCS", "-50", "4100", last_price="4090", product="MIS"),
            position("NSE:PENNY", "1000", "8.5E-7", last_price="9E-7", product="CNC"),
        ]
    }


def test_a_walk_through_a_scenario(project: Project) -> None:
    project.write(broker_steps=[broker(), broker("120"), broker("120"), "network", broker()], book=BOOK)

    code, first = sync(project)
    assert code == 0
    assert [a["id"] for a in first["accounts"]] == ["sim"]
    assert first["accounts"][0]["state"] == "ok" and first["accounts"][0]["error"] is None
    assert set(status_by(first).values()) == {"match"}
    nifty = rows_by(first)["NFO:NIFTY26NOVFUT"]
    assert (nifty["broker_qty"], nifty["local_qty"], nifty["last_price"]) == ("75", "75", "24610")
    assert nifty["unrealised_pnl"] == "8250"
    assert nifty["realised_pnl"] is None and nifty["hint"] is None
    penny = rows_by(first)["NSE:PENNY"]
    assert (penny["broker_avg"], penny["last_price"]) == ("0.00000085", "0.0000009")
    assert first["events"] == []

    code, second = sync(project)
    assert code == 1
    infy = rows_by(second)["NSE:INFY"]
    assert (infy["status"], infy["broker_qty"], infy["local_qty"]) == ("qty_mismatch", "120", "100")
    assert events_of(second) == [("qty_changed", "NSE:INFY")]  # the mismatch waits for confirmation
    assert rows_by(second)["NSE:TCS"]["since"] == rows_by(first)["NSE:TCS"]["since"]

    code, third = sync(project)
    assert code == 1
    assert events_of(third) == [("mismatch_detected", "NSE:INFY")]
    assert "broker 120, book 100" in third["events"][0]["detail"]
    assert rows_by(third)["NSE:INFY"]["since"] == infy["since"]

    code, fourth = sync(project)
    assert code == 2
    [account] = fourth["accounts"]
    assert account["state"] == "stale"
    assert "unreachable" in account["error"] and "sim" in account["error"]
    assert account["last_success_at"] == third["accounts"][0]["last_success_at"]
    assert set(status_by(fourth).values()) == {"stale"}
    assert rows_by(fourth)["NSE:INFY"]["broker_qty"] == "120"
    assert events_of(fourth) == [("sync_failed", None)]

    code, fifth = sync(project)
    assert code == 0
    assert set(status_by(fifth).values()) == {"match"}
    assert sorted(events_of(fifth)) == [
        ("mismatch_resolved", "NSE:INFY"),
        ("qty_changed", "NSE:INFY"),
        ("sync_recovered", None),
    ]


def test_status_is_the_cached_picture_and_touches_no_broker(project: Project) -> None:
    project.write(broker_steps=[broker(), broker("120")], book=BOOK)
    never = cli("--config", project.config, "--data-dir", project.data_dir, "status", "--json")
    assert never.code == 2
    assert check_picture(never.json)["accounts"][0]["state"] == "stale"
    assert "never synced" in never.json["accounts"][0]["error"]

    sync(project)
    code, synced = sync(project)
    assert code == 1
    step_file = project.data_dir / "simulated" / "sim.json"
    step_before = step_file.read_text()

    # The broker now fails; status must not notice, because it does not ask.
    project.scenario.write_text('[[steps]]\nfail = "network"\n', encoding="utf-8")
    status = cli("--config", project.config, "--data-dir", project.data_dir, "status", "--json")
    assert status.code == 1
    cached = check_picture(status.json)
    assert cached["rows"] == synced["rows"]
    assert cached["accounts"] == synced["accounts"]
    assert cached["events"] == synced["events"]
    assert step_file.read_text() == step_before

    table = cli("--config", project.config, "--data-dir", project.data_dir, "status")
    assert table.code == 1
    assert "qty_mismatch" in table.stdout and "NSE:INFY" in table.stdout

    code, _ = sync(project)
    assert code == 2
    after = cli("--config", project.config, "--data-dir", project.data_dir, "status", "--json")
    assert after.code == 2
    assert check_picture(after.json)["accounts"][0]["state"] == "stale"
    assert set(status_by(after.json).values()) == {"stale"}


def test_events_since_filters(project: Project) -> None:
    project.write(broker_steps=[broker(), broker("120"), broker("120"), broker()], book=BOOK)
    for _ in range(4):
        sync(project)
    everything = cli("--config", project.config, "--data-dir", project.data_dir, "events", "--json")
    assert everything.code == 0
    events = everything.json
    for event in events:
        check_event(event)
    assert [e["kind"] for e in events[:2]] == ["qty_changed", "mismatch_detected"]
    assert sorted(e["kind"] for e in events[2:]) == ["mismatch_resolved", "qty_changed"]
    third_sync = events[1]["at"]
    # The same instant written in another offset selects the same events.
    india = datetime.fromisoformat(third_sync).astimezone(timezone(timedelta(hours=5, minutes=30)))
    for since in (third_sync, india.isoformat()):
        run = cli(
            "--config", project.config, "--data-dir", project.data_dir, "events", "--since", since, "--json"
        )
        assert run.code == 0
        assert run.json == events[1:]
    later = (datetime.fromisoformat(events[-1]["at"]) + timedelta(seconds=1)).isoformat()
    run = cli(
        "--config", project.config, "--data-dir", project.data_dir, "events", "--since", later, "--json"
    )
    assert run.json == []
    kind = cli(
        "--config",
        project.config,
        "--data-dir",
        project.data_dir,
        "events",
        "--kind",
        "qty_changed",
        "--json",
    )
    assert [e["kind"] for e in kind.json] == ["qty_changed", "qty_changed"]

    bad = cli("--config", project.config, "--data-dir", project.data_dir, "events", "--since", "yesterday")
    one_line_error(bad, "--since", "ISO 8601", "'yesterday'")


# -- the built-in demo -------------------------------------------------------------------


def test_the_demo_walks_every_status(tmp_path: Path) -> None:
    data = tmp_path / "demo-data"
    config = DEMO / "config.toml"

    def demo_sync() -> tuple[int, dict[str, Any]]:
        run = cli("--config", config, "--data-dir", data, "sync", "--once", "--json")
        assert "Traceback" not in run.stderr, run.stderr
        return run.code, check_picture(run.json)

    def states(payload: Mapping[str, Any]) -> dict[str, str]:
        return {a["id"]: a["state"] for a in payload["accounts"]}

    def of(payload: Mapping[str, Any], account: str) -> dict[str, str]:
        return {r["instrument"]: r["status"] for r in payload["rows"] if r["account"] == account}

    code, first = demo_sync()
    assert code == 1
    assert states(first) == {"demo": "ok", "demo-us": "ok"}
    assert of(first, "demo") == {
        "NFO:BANKNIFTY26NOVFUT": "qty_mismatch",
        "NFO:FINNIFTY26NOVFUT": "side_mismatch",
        "NFO:NIFTY26N2424500CE": "match",
        "NFO:NIFTY26NOVFUT": "match",
        "NSE:BAJAJ-AUTO": "untracked",
        "NSE:BAJAJ_AUTO": "phantom",
        "NSE:HDFCBANK": "match",
        "NSE:INFY": "price_mismatch",
        "NSE:RELIANCE": "untracked",
        "NSE:SBIN": "untracked",
        "NSE:TCS": "phantom",
    }
    assert of(first, "demo-us") == {"AAPL": "match", "MSFT": "match", "NVDA": "match"}
    rows = rows_by(first)
    assert rows["NFO:NIFTY26NOVFUT"]["broker_qty"] == "75"  # NRML 50 + MIS 25
    assert rows["NFO:BANKNIFTY26NOVFUT"]["hint"] == "SELL 35 pending would close the gap"
    assert rows["NSE:BAJAJ_AUTO"]["hint"].startswith("did you mean NSE:BAJAJ-AUTO?")
    assert "add the alias" in rows["NSE:BAJAJ_AUTO"]["hint"]
    assert first["events"] == []

    code, second = demo_sync()
    assert code == 1
    assert sorted(events_of(second)) == [
        ("mismatch_detected", "NFO:FINNIFTY26NOVFUT"),
        ("mismatch_detected", "NSE:INFY"),
        ("phantom_detected", "NSE:BAJAJ_AUTO"),
        ("phantom_detected", "NSE:TCS"),
        ("untracked_detected", "NSE:BAJAJ-AUTO"),
        ("untracked_detected", "NSE:RELIANCE"),
        ("untracked_detected", "NSE:SBIN"),
    ]  # BANKNIFTY's gap is explained by its working order: never reported

    code, third = demo_sync()
    assert code == 1
    option = rows_by(third)["NFO:NIFTY26N2424500CE"]
    assert (option["status"], option["broker_qty"], option["local_qty"]) == ("phantom", "0", "150")
    assert option["realised_pnl"] == "-1650"
    sbin = rows_by(third)["NSE:SBIN"]
    assert (sbin["status"], sbin["realised_pnl"]) == ("closed", "450")
    assert of(third, "demo")["NSE:HDFCBANK"] == "qty_mismatch"  # a manual buy of 50
    assert set(events_of(third)) >= {
        ("phantom_detected", "NFO:NIFTY26N2424500CE"),  # the broker itself said zero: no waiting
        ("closed", "NFO:NIFTY26N2424500CE"),
        ("closed", "NSE:SBIN"),
    }
    assert ("mismatch_detected", "NSE:HDFCBANK") not in events_of(third)  # not confirmed yet

    code, fourth = demo_sync()
    assert code == 2
    assert states(fourth) == {"demo": "stale", "demo-us": "ok"}
    assert set(of(fourth, "demo").values()) == {"stale"}
    assert events_of(fourth) == [("sync_failed", None)]

    code, fifth = demo_sync()
    assert code == 2  # demo-us lost its broker just as demo recovered
    assert states(fifth) == {"demo": "ok", "demo-us": "stale"}
    assert of(fifth, "demo") == of(third, "demo")
    assert set(of(fifth, "demo-us").values()) == {"stale"}
    # Every status of the design is on screen at once now.
    assert {r["status"] for r in fifth["rows"]} == {
        "match",
        "qty_mismatch",
        "side_mismatch",
        "price_mismatch",
        "phantom",
        "untracked",
        "closed",
        "stale",
    }
    # demo read again (sync_recovered), demo-us failed.
    assert sorted(events_of(fifth)) == [
        ("mismatch_detected", "NSE:HDFCBANK"),
        ("sync_failed", None),
        ("sync_recovered", None),
    ]

    code, sixth = demo_sync()
    assert code == 1  # demo-us reads again: the demo rests with both accounts alive
    assert states(sixth) == {"demo": "ok", "demo-us": "ok"}
    assert of(sixth, "demo") == of(fifth, "demo")
    # Only demo-us's recovery is told; nothing else is reported again.
    assert events_of(sixth) == [("sync_recovered", None)]
    assert sixth["events"][0]["account"] == "demo-us"


def test_the_demo_removes_only_the_data_directory_it_made(tmp_path: Path) -> None:
    """``--demo`` without ``--data-dir`` makes a throw-away directory and removes it at exit."""
    script = (
        "import argparse, sys\n"
        "from pathlib import Path\n"
        "from position_sync.cli import _settings_and_data_dir\n"
        "given = Path(sys.argv[1]) if len(sys.argv) > 1 else None\n"
        "args = argparse.Namespace(demo=True, config=None, data_dir=given)\n"
        "_, data = _settings_and_data_dir(args)\n"
        "data.mkdir(parents=True, exist_ok=True)\n"
        "(data / 'position-sync.db').write_text('x')\n"
        "print(data)\n"
    )
    made = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=True
    )
    throwaway = Path(made.stdout.strip())
    assert throwaway.name.startswith("position-sync-demo-")
    assert not throwaway.exists()  # gone with the process that made it
    kept = tmp_path / "kept"
    subprocess.run(
        [sys.executable, "-c", script, str(kept)], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert (kept / "position-sync.db").exists()  # a directory the user named is theirs


# -- options, environment, console script ------------------------------------------------


def test_global_options_come_before_the_subcommand(project: Project, tmp_path: Path) -> None:
    project.write(broker_steps=[broker()], book=BOOK)
    run = cli("--config", project.config, "--data-dir", project.data_dir, "sync", "--once", cwd=tmp_path)
    assert run.code == 0, run.stderr
    assert "NSE:INFY" in run.stdout and "match" in run.stdout
    assert (project.data_dir / "position-sync.db").exists()


def test_the_environment_chooses_config_and_data_dir(project: Project, tmp_path: Path) -> None:
    project.write(broker_steps=[broker(), broker("120")], book=BOOK)
    home = tmp_path / "home"
    env = {"POSITION_SYNC_CONFIG": str(project.config), "POSITION_SYNC_HOME": str(home)}
    run = cli("sync", "--once", "--json", env=env, cwd=tmp_path)
    assert run.code == 0, run.stderr
    assert (home / "position-sync.db").exists()
    assert not project.data_dir.exists()
    status = cli("status", "--json", env=env, cwd=tmp_path)
    assert status.code == 0
    assert check_picture(status.json)["rows"] == run.json["rows"]
    # An explicit option wins over the environment.
    other = tmp_path / "other"
    run = cli("--data-dir", other, "sync", "--once", env=env, cwd=tmp_path)
    assert (other / "position-sync.db").exists()


def test_the_installed_console_script(project: Project, tmp_path: Path) -> None:
    script = shutil.which("position-sync")
    if script is None:
        pytest.skip("the package is not installed with its console script")
    project.write(broker_steps=[broker("90")], book=BOOK)
    done = subprocess.run(
        [
            script,
            "--config",
            str(project.config),
            "--data-dir",
            str(project.data_dir),
            "sync",
            "--once",
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert status_by(check_picture(json.loads(done.stdout)))["NSE:INFY"] == "qty_mismatch"
    version = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("position-sync ")


# -- configuration mistakes: exit 3, one sentence, no traceback --------------------------


def test_a_malformed_config(project: Project) -> None:
    project.write(broker_steps=[broker()], book=BOOK)
    project.config.write_text(project.config.read_text().replace('id = "sim"', 'id = "sim'), encoding="utf-8")
    run = cli("--config", project.config, "--data-dir", project.data_dir, "sync", "--once", "--json")
    one_line_error(run, "configuration error", str(project.config), "is not valid TOML")
    assert not project.data_dir.exists()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (('broker = "simulated"', 'broker = "etrade"'), ["'accounts.sim.broker'", "etrade"]),
        (('book = "bot"', 'book = "robot"'), ["'accounts[0].book'", "robot"]),
        (('exchange = "NFO"', 'exchange = "NFO"\naccess_token = "tok-42"'), ["'accounts.sim.access_token'"]),
        (('scenario = "scenario.toml"', 'scenario = "gone.toml"'), ["'accounts.sim.scenario'", "gone.toml"]),
        (('exchange = "NFO"', 'exchange = "NFO"\ninterval = -1'), ["'accounts.sim.interval'"]),
    ],
)
def test_config_mistakes_exit_3(project: Project, change: tuple[str, str], words: list[str]) -> None:
    project.write(broker_steps=[broker()], book=BOOK)
    text = project.config.read_text()
    assert change[0] in text
    project.config.write_text(text.replace(*change), encoding="utf-8")
    run = cli("--config", project.config, "--data-dir", project.data_dir, "sync", "--once")
    line = one_line_error(run, "configuration error", str(project.config), *words)
    assert "tok-42" not in line


def test_other_bad_input_exits_3(project: Project, tmp_path: Path) -> None:
    project.write(broker_steps=[broker()], book=BOOK)
    missing = cli("--config", tmp_path / "nope.toml", "status")
    one_line_error(missing, str(tmp_path / "nope.toml"), "does not exist")
    unknown = cli(
        "--config", project.config, "--data-dir", project.data_dir, "sync", "--once", "--account", "x"
    )
    one_line_error(unknown, "no account 'x'")
    usage = cli("--config", project.config, "sync", "--once", "--jsn")
    one_line_error(usage, "--jsn")
    # A database written by a newer Position Sync is refused, not damaged.
    sync(project)
    with sqlite3.connect(project.data_dir / "position-sync.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0999'")
    newer = cli("--config", project.config, "--data-dir", project.data_dir, "status")
    one_line_error(newer, "newer Position Sync", "0999")


# -- reconciliation rules, end to end ----------------------------------------------------


def test_lots_of_0_1_and_0_2_match_0_3(project: Project) -> None:
    broker_step = {
        "positions": [
            {"symbol": "NSE:BTC", "quantity": 0.3, "average_price": 0.7},
            {"symbol": "NSE:ETH", "quantity": 0.1, "average_price": 0.7, "product": "A"},
            {"symbol": "NSE:ETH", "quantity": 0.2, "average_price": 0.7, "product": "B"},
        ]
    }
    book = [
        book_line("NSE:BTC", 0.1, 0.7),
        book_line("NSE:BTC", 0.2, 0.7),
        book_line("NSE:ETH", 0.3, 0.7),
    ]
    project.write(broker_steps=[broker_step], book=book)
    code, payload = sync(project)
    assert code == 0
    for instrument in ("NSE:BTC", "NSE:ETH"):
        row = rows_by(payload)[instrument]
        assert (row["status"], row["broker_qty"], row["local_qty"]) == ("match", "0.3", "0.3")


def test_a_mass_disappearance_is_held_for_one_sync(project: Project) -> None:
    names = ["A", "B", "C", "D"]
    every = {"positions": [position(f"NSE:{n}", "10", "100") for n in names]}
    only_a = {"positions": [position("NSE:A", "10", "100")]}
    project.write(broker_steps=[every, only_a, only_a], book=[book_line(f"NSE:{n}", 10, 100) for n in names])

    code, first = sync(project)
    assert code == 0

    code, held = sync(project)
    assert code == 1
    assert events_of(held) == [("mass_change_held", None)]
    assert held["events"][0]["detail"].startswith("3 of 4 positions at sim would close or turn phantom")
    assert status_by(held) == status_by(first)  # the previous picture stays while held
    assert held["accounts"][0]["state"] == "ok"
    status = cli("--config", project.config, "--data-dir", project.data_dir, "status", "--json")
    assert status.code == 1  # the cached picture still says something is pending
    assert events_of(check_picture(status.json)) == [("mass_change_held", None)]

    code, applied = sync(project)
    assert code == 1
    assert status_by(applied) == {
        "NSE:A": "match",
        "NSE:B": "phantom",
        "NSE:C": "phantom",
        "NSE:D": "phantom",
    }
    assert sorted(events_of(applied)) == sorted(
        [(kind, f"NSE:{n}") for n in "BCD" for kind in ("closed", "phantom_detected")]
    )
    after = cli("--config", project.config, "--data-dir", project.data_dir, "status")
    assert after.code == 1 and "phantom" in after.stdout


def test_a_new_phantom_is_confirmed_on_the_second_sync_unless_the_broker_says_zero(
    project: Project,
) -> None:
    names = ["A", "B", "C", "D", "E"]
    every = {"positions": [position(f"NSE:{n}", "10", "100") for n in names]}
    # B is simply gone from the broker's answer; C is listed with quantity zero (closed today).
    later = {
        "positions": [
            position("NSE:A", "10", "100"),
            position("NSE:C", "0", "0", realised_pnl="-25"),
            position("NSE:D", "10", "100"),
            position("NSE:E", "10", "100"),
        ]
    }
    project.write(broker_steps=[every, later, later], book=[book_line(f"NSE:{n}", 10, 100) for n in names])
    assert sync(project)[0] == 0

    code, second = sync(project)
    assert code == 1
    assert status_by(second)["NSE:B"] == "phantom" and status_by(second)["NSE:C"] == "phantom"
    detected = [i for kind, i in events_of(second) if kind == "phantom_detected"]
    assert detected == ["NSE:C"]
    assert ("closed", "NSE:C") in events_of(second)
    assert rows_by(second)["NSE:C"]["realised_pnl"] == "-25"

    code, third = sync(project)
    assert code == 1
    assert events_of(third) == [("phantom_detected", "NSE:B")]


def test_a_book_still_being_written_is_not_judged_yet(project: Project) -> None:
    """The settle time (5 s by default): a book whose positions just changed gets no events yet."""
    book = [book_line("NSE:A", 10, 100)]
    project.write(broker_steps=[{"positions": []}], book=book)
    sync(project)
    write_book(project.book, [book_line("NSE:A", 12, 100)], age_seconds=0)
    code, second = sync(project)
    assert code == 1
    assert status_by(second) == {"NSE:A": "phantom"}
    assert second["events"] == []


# -- the daemon --------------------------------------------------------------------------


async def test_the_daemon_syncs_prints_events_and_stops_on_sigterm(project: Project) -> None:
    project.write(
        broker_steps=[broker("120")],
        book=BOOK,
        account={"interval": 0.3},
    )
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "position_sync.cli",
        "--config",
        str(project.config),
        "--data-dir",
        str(project.data_dir),
        "daemon",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environ,
        cwd=str(project.root),
    )
    assert process.stdout is not None and process.stderr is not None
    lines: list[str] = []
    try:
        while not any("mismatch_detected" in line for line in lines):
            raw = await asyncio.wait_for(process.stdout.readline(), 30)
            assert raw, f"the daemon ended early: {lines} {await process.stderr.read()!r}"
            lines.append(raw.decode().rstrip("\n"))
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    errors = (await process.stderr.read()).decode()
    assert code == 0, errors
    assert "Traceback" not in errors
    assert lines[0].startswith("position-sync daemon: 1 account(s)")
    assert "syncing until stopped with Ctrl+C or SIGTERM" in lines[0]
    assert any(
        re.search(r" sim NSE:INFY mismatch_detected: qty_mismatch: broker 120, book 100$", x) for x in lines
    )
    stored = cli("--config", project.config, "--data-dir", project.data_dir, "events", "--json")
    assert ("mismatch_detected", "NSE:INFY") in [(e["kind"], e["instrument"]) for e in stored.json]


def test_headless_commands_refuse_a_config_without_an_enabled_account(project: Project) -> None:
    """The window opens on such a file (to add an account); sync, status and daemon exit 3."""
    project.write(broker_steps=[broker()], book=BOOK)
    text = project.config.read_text()
    books_only = project.root / "books-only.toml"
    books_only.write_text(text[: text.index("[[accounts]]")])
    disabled = project.root / "disabled.toml"
    disabled.write_text(text + "enabled = false\n")
    for config, words in (
        (books_only, "no [[accounts]] table"),
        (disabled, "no account with enabled = true"),
    ):
        for command in (["sync", "--once"], ["status"], ["daemon"]):
            run = cli("--config", config, "--data-dir", project.data_dir, *command)
            one_line_error(run, str(config), "'accounts'", words)


# -- terminal escapes in outside text ----------------------------------------------------

EVIL = "NSE:EVIL\x1b]0;pwned\x07\x1b[2J\x9b31m\x7f\u202e"
RAW_CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _no_raw_controls(run: Run) -> None:
    """Nothing but newlines among the control characters, on stdout and stderr alike."""
    assert not RAW_CONTROLS.search(run.stdout), repr(run.stdout)
    assert not RAW_CONTROLS.search(run.stderr), repr(run.stderr)


def test_control_characters_from_a_book_and_a_broker_are_printed_escaped(project: Project) -> None:
    """A symbol cannot retitle or clear the terminal through sync, status or events."""
    project.write(
        broker_steps=[{"positions": [position(EVIL + "B", "5", "10", product="CNC")]}] * 2,
        book=[book_line(EVIL, 7, 10)],
    )
    base = ("--config", project.config, "--data-dir", project.data_dir)
    cli(*base, "sync", "--once")
    synced = cli(*base, "sync", "--once")  # the second confirms the phantom: events to print
    assert synced.code == 1, synced.stderr
    status = cli(*base, "status")
    events = cli(*base, "events")
    for run in (synced, status, events):
        _no_raw_controls(run)
        assert "Traceback" not in run.stderr
        # Symbols are upper-cased into instrument keys; the escapes are there either way.
        assert "evil\\x1b]0;pwned\\x07\\x1b[2j\\x9b31m\\x7f\\u202e" in run.stdout.lower(), run.stdout
    assert "untracked" in events.stdout
    for run in (cli(*base, "status", "--json"), cli(*base, "events", "--json")):
        _no_raw_controls(run)
        items = run.json["events"] if isinstance(run.json, dict) else run.json
        # JSON keeps the exact characters (escaped in its own notation), only the terminal is safe.
        assert EVIL.upper() in {item["instrument"] for item in items}


def test_control_characters_in_an_account_error_are_printed_escaped(project: Project) -> None:
    """A book whose unreadable value holds escapes: the account error quotes it, escaped."""
    project.write(broker_steps=[broker()], book=[book_line("NSE:INFY", "1\x1b[2J\x1b]0;pwned\x07", 10)])
    base = ("--config", project.config, "--data-dir", project.data_dir)
    synced = cli(*base, "sync", "--once")
    assert synced.code == 2, synced.stderr
    _no_raw_controls(synced)
    assert "\\x1b[2J" in synced.stdout, synced.stdout
    status = cli(*base, "status")
    _no_raw_controls(status)
    assert "stale" in status.stdout and "\\x1b]0;pwned\\x07" in status.stdout, status.stdout


def test_json_output_escapes_every_control_character() -> None:
    """``ensure_ascii`` writes C0, C1 and bidi characters as ``\\uXXXX``; DEL is escaped too."""
    import contextlib
    import io

    from position_sync.app.terminal import echo_json, terminal_safe

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        echo_json({"detail": EVIL})
    assert not RAW_CONTROLS.search(out.getvalue())
    assert json.loads(out.getvalue()) == {"detail": EVIL}
    assert terminal_safe("a\x1bb\x9bc\u2066d\ne\tf") == "a\\x1bb\\x9bc\\u2066d\\x0ae\\x09f"


def test_json_output_is_a_record_a_line_and_escapes_in_lists_too() -> None:
    """A large picture is written a row a line (each by the C encoder); what it says is what
    ``json.dumps`` would say, control characters escaped wherever they stand."""
    import contextlib
    import io

    from position_sync.app.terminal import echo_json

    payload = {
        "synced_at": None,
        "accounts": [{"id": "sim", "state": "ok", "lease": None}],
        "rows": [{"instrument": f"NSE:{i}", "hint": EVIL, "broker_parts": []} for i in range(3)],
        "events": [],
        True: {"nested": [1, 2]},
    }
    for value in (payload, [EVIL, {"a": EVIL}], [], {}, EVIL):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            echo_json(value)
        assert not RAW_CONTROLS.search(out.getvalue())
        assert out.getvalue() == out.getvalue().encode("ascii").decode("ascii")
        assert json.loads(out.getvalue()) == json.loads(json.dumps(value))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        echo_json(payload)
    lines = out.getvalue().splitlines()
    assert lines[0] == "{" and lines[-1] == "}"
    assert sum(line.startswith('    {"instrument": "NSE:') for line in lines) == 3  # a row a line
    assert '  "events": [],' in lines and '  "true": {"nested": [1, 2]}' in lines


# ---------------------------------------------------------------- numbers as numbers


def _rounding_rows() -> list[Any]:
    """The figures the issue saw reach JSON and the window, on rows as reconciliation makes them."""
    from decimal import Decimal

    from position_sync.app.domain import Part, Row, Status

    since = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    legs = (Part("NRML", Decimal(35), Decimal("801.05")), Part("MIS", Decimal(17), Decimal("801.2")))
    return [
        Row(
            account="kite",
            instrument="MCX:GOLDGUINEA17DECFUT",
            status=Status.UNTRACKED,
            since=since,
            broker_qty=Decimal(52),
            broker_avg=Decimal("801.0961538461538461538461538"),  # the legs' average, a quotient
            last_price=Decimal("800.15"),
            unrealised_pnl=Decimal("-49.19999999999999"),
            realised_pnl=Decimal("-631.2999999999993"),
            broker_parts=legs,
        ),
        Row(
            account="ib",
            instrument="OPT:SPX 200117P03205000",
            status=Status.MATCH,
            since=since,
            broker_qty=Decimal(-1),
            local_qty=Decimal(-1),
            broker_avg=Decimal("28.10000038"),  # one leg: the broker's own digits stay
            local_avg=Decimal("28.1"),
        ),
    ]


def test_computed_figures_are_rounded_in_json_and_prices_keep_their_digits() -> None:
    from position_sync.cli_output import row_json

    gold, spx = (row_json(row) for row in _rounding_rows())
    assert gold["realised_pnl"] == "-631.3"
    assert gold["unrealised_pnl"] == "-49.2"
    assert gold["broker_avg"] == "801.1", "an average of legs quoted to 0.05 and 0.2, to the cent"
    assert gold["last_price"] == "800.15" and gold["broker_qty"] == "52"
    assert spx["broker_avg"] == "28.10000038" and spx["local_avg"] == "28.1"
    assert spx["instrument"] == "OPT:SPX 200117P03205000", "JSON keeps the key a command accepts"


def test_text_output_pads_occ_symbols_and_rounds_pnl_in_events(capsys: pytest.CaptureFixture[str]) -> None:
    from decimal import Decimal

    from position_sync.app.domain import Event, EventKind
    from position_sync.cli_output import event_json, print_table

    at = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    closed = Event(
        at,
        "kite",
        EventKind.CLOSED,
        "MCX:GOLDGUINEA17DECFUT",
        "closed at the broker: was 52, realised P&L -631.2999999999993",
        {"realised_pnl": str(Decimal("-631.2999999999993"))},
    )
    print_table([], _rounding_rows(), [closed])
    out = capsys.readouterr().out
    assert "OPT:SPX   200117P03205000" in out
    assert "realised P&L -631.3" in out and "2999" not in out
    assert event_json(closed)["detail"] == "closed at the broker: was 52, realised P&L -631.3"


def test_the_window_shows_the_same_figures() -> None:
    from position_sync.app.display import figures, fmt_money, instrument_label

    gold, spx = _rounding_rows()
    shown = figures(gold)
    assert fmt_money(shown.realised_pnl, "INR", signed=True) == "\u2212₹631.30"
    assert fmt_money(shown.broker_avg, "INR") == "₹801.10"
    assert instrument_label(spx.instrument) == "OPT:SPX   200117P03205000"
    assert instrument_label("NFO:NIFTY25O0725150CE") == "NFO:NIFTY25O0725150CE"


def test_a_book_file_missing_before_any_good_read_is_a_config_mistake(project: Project) -> None:
    """A typo in a book's path is exit 3 at the first sync; once the account was read, the same
    missing file is an outage (stale, exit 2) and nothing is judged on it."""
    project.write(broker_steps=[{"positions": []}], book=[])
    project.book.unlink()
    line = one_line_error(
        cli("--config", project.config, "--data-dir", project.data_dir, "sync", "--once"),
        "books.",
        "which does not exist",
        "never read it",
    )
    assert str(project.book) in line
    write_book(project.book, [])
    assert cli("--config", project.config, "--data-dir", project.data_dir, "sync", "--once").code == 0
    project.book.unlink()
    later = cli("--config", project.config, "--data-dir", project.data_dir, "sync", "--once", "--json")
    assert later.code == 2, later.stderr
    assert later.json["accounts"][0]["state"] == "stale"


def test_event_filters_naming_nothing_are_refused_with_what_there_is(project: Project) -> None:
    project.write(broker_steps=[broker()], book=BOOK)
    sync(project)
    base = ("--config", project.config, "--data-dir", project.data_dir, "events")
    line = one_line_error(cli(*base, "--account", "sm"), "--account", "'sm'", "sim", "did you mean 'sim'")
    assert "accounts: sim" in line
    kinds = one_line_error(cli(*base, "--kind", "phantom"), "--kind", "'phantom'", "phantom_detected")
    assert "closed" in kinds and "sync_failed" in kinds
    assert cli(*base, "--account", "sim", "--kind", "opened").code == 0


def test_a_typo_among_an_accounts_keys_is_refused_by_every_command(project: Project) -> None:
    project.write(broker_steps=[broker()], book=BOOK, account={"intervall": 5})
    for command in (("status",), ("sync", "--once")):
        one_line_error(
            cli("--config", project.config, "--data-dir", project.data_dir, *command),
            "accounts.sim.intervall",
            "did you mean 'interval'",
        )


def test_the_human_tables_show_prices_pnl_local_times_and_how_long_a_row_is_stale(project: Project) -> None:
    project.write(broker_steps=[broker(), "network"], book=BOOK)
    base = ("--config", project.config, "--data-dir", project.data_dir)
    good = cli(*base, "sync", "--once")
    assert good.code == 0, good.stderr
    header = next(line for line in good.stdout.splitlines() if line.startswith("ACCOUNT"))
    assert header.split() == [
        "ACCOUNT", "INSTRUMENT", "BROKER", "LOCAL", "DIFF", "BROKER", "AVG", "LOCAL", "AVG",
        "LAST", "UNREALISED", "REALISED", "STATUS", "HINT",
    ]  # fmt: skip
    nifty = next(line for line in good.stdout.splitlines() if "NIFTY26NOVFUT" in line)
    assert "24,610" in nifty and "8,250" in nifty  # last price and unrealised P&L
    failed = cli(*base, "sync", "--once")
    assert failed.code == 2
    account = failed.stdout.splitlines()[0]
    assert account.startswith("sim: stale — ") and "((" not in account and "))" not in account
    # Local time to the second, no microseconds, no offset: what a clock on the wall says.
    assert re.search(r"; last good sync \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", account), account
    stale = next(line for line in failed.stdout.splitlines() if "NSE:INFY" in line)
    assert re.search(r"stale \d+ s, was match", stale), stale
    status = cli(*base, "status")
    assert status.code == 2 and "stale" in status.stdout and "LAST" in status.stdout
