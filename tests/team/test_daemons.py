"""Two real daemons on one shared PostgreSQL store: each account synced by exactly one of them;
one killed with SIGKILL, the other takes its accounts over, carrying on from the store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from position_sync.app.team.requests import request_sync
from tests.conftest import toml_table, write_book, write_scenario

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
ACCOUNTS = ["t1", "t2", "t3", "t4"]
LEASE_SECONDS = 3.0
HELD = [
    {"symbol": "NFO:KEEP", "quantity": "10", "average_price": "100"},
    {"symbol": "NFO:CLOSEME", "quantity": "5", "average_price": "50"},
]


def write_team(root: Path) -> Path:
    """Four simulated accounts, each with its own scenario and book, on a shared store."""
    text_ = toml_table(
        "[store]", {"url_env": "PS_TEAM_STORE", "shared": True, "lease_seconds": LEASE_SECONDS}
    )
    for account in ACCOUNTS:
        write_scenario(root / f"{account}.toml", [{"positions": HELD}])
        write_book(root / f"{account}.json", HELD)
        text_ += "\n" + toml_table(
            "[[books]]", {"id": f"{account}-book", "kind": "file", "path": f"{account}.json"}
        )
        text_ += "\n" + toml_table(
            "[[accounts]]",
            {
                "id": account,
                "broker": "simulated",
                "scenario": f"{account}.toml",
                "book": f"{account}-book",
                "interval": 0.5,
                "settle_seconds": 0,
            },
        )
    config = root / "config.toml"
    config.write_text(text_, encoding="utf-8")
    return config


class Daemons:
    def __init__(self, root: Path, config: Path, url: str) -> None:
        self.root = root
        self.config = config
        self.env = {**os.environ, "PS_TEAM_STORE": url, "PYTHONPATH": str(ROOT)}
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "position_sync.cli",
                "--config",
                str(self.config),
                "--data-dir",
                str(self.root / f"data-{name}"),
                "daemon",
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.running[name] = process
        return process

    def stop_all(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)


@pytest.fixture
def team(tmp_path: Path, shared_url: str) -> Iterator[tuple[Daemons, Engine]]:
    daemons = Daemons(tmp_path, write_team(tmp_path), shared_url)
    engine = create_engine(shared_url)
    try:
        yield daemons, engine
    finally:
        daemons.stop_all()
        engine.dispose()


def wait_for(check: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")


def query(engine: Engine, sql: str, **values: Any) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(text(sql), values))


def cli(daemons: Daemons, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A one-off command on the team's config, as a person at the server would run it."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "position_sync.cli",
            "--config",
            str(daemons.config),
            "--data-dir",
            str(data_dir),
            *args,
        ],
        env=daemons.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def holders(engine: Engine) -> dict[str, str]:
    return {r.account: r.holder for r in query(engine, "SELECT account, holder FROM account_leases")}


def test_two_daemons_share_the_accounts_and_one_takes_over_from_a_killed_one(
    team: tuple[Daemons, Engine], tmp_path: Path
) -> None:
    daemons, engine = team
    first = daemons.start("first")
    second = daemons.start("second")

    def every_account_synced_twice() -> bool:
        runs = query(engine, "SELECT account, count(*) AS n FROM sync_runs GROUP BY account")
        return len(runs) == len(ACCOUNTS) and all(r.n >= 2 for r in runs)

    wait_for(every_account_synced_twice, 60, "every account to be synced twice")
    # Every account synced by exactly one daemon, and that one holds its lease.
    by_account: dict[str, set[str]] = {}
    for r in query(engine, "SELECT account, synced_by FROM sync_runs"):
        by_account.setdefault(r.account, set()).add(r.synced_by)
    leased = holders(engine)
    assert set(leased) == set(ACCOUNTS)
    assert all(by_account[a] == {leased[a]} for a in ACCOUNTS), (by_account, leased)
    assert {h for h in leased.values()} <= {f"daemon, pid {first.pid}", f"daemon, pid {second.pid}"} | {
        h for h in leased.values() if f"pid {first.pid} " in h or f"pid {second.pid} " in h
    }

    # status --json says who holds each account, and since when.
    status = cli(daemons, tmp_path / "data-status", "status", "--json")
    accounts = {a["id"]: a for a in json.loads(status.stdout)["accounts"]}
    assert {a: accounts[a]["lease"]["holder"] for a in ACCOUNTS} == leased
    assert all(
        accounts[a]["lease"]["since"] and 0 < accounts[a]["lease"]["expires_in"] <= LEASE_SECONDS
        for a in ACCOUNTS
    )

    # A one-off sync leases what it syncs: the daemons hold everything, so it refuses, naming them.
    once = cli(daemons, tmp_path / "data-once", "sync", "--once", "--wait", "0", "--account", "t1")
    assert once.returncode == 3, once.stderr
    assert f"t1 by {leased['t1']}" in once.stderr and "Traceback" not in once.stderr

    # Kill the holder of t1 outright, and close a position at the "broker" meanwhile.
    victim, survivor = (first, second) if f"pid {first.pid} " in leased["t1"] else (second, first)
    victim_accounts = [a for a in ACCOUNTS if f"pid {victim.pid} " in leased[a]]
    killed_at = time.monotonic()
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    write_scenario(tmp_path / "t1.toml", [{"positions": HELD[:1]}])

    def all_with_survivor() -> bool:
        now = holders(engine)
        return len(now) == len(ACCOUNTS) and all(f"pid {survivor.pid} " in h for h in now.values())

    wait_for(all_with_survivor, LEASE_SECONDS * 4, "the survivor to hold every account")
    handover = time.monotonic() - killed_at
    assert handover < LEASE_SECONDS * 4, handover

    def close_recorded() -> bool:
        return bool(query(engine, "SELECT 1 FROM closed_positions WHERE account = 't1'"))

    wait_for(close_recorded, 30, "the close of t1's NFO:CLOSEME")
    time.sleep(2.0)  # a few more syncs by the survivor: nothing may be announced again
    closes = query(engine, "SELECT instrument FROM closed_positions")
    assert [c.instrument for c in closes] == ["NFO:CLOSEME"]
    closed_events = query(engine, "SELECT account, instrument FROM events WHERE kind = 'closed'")
    assert [(e.account, e.instrument) for e in closed_events] == [("t1", "NFO:CLOSEME")]
    repeated = query(
        engine,
        "SELECT account, instrument, kind, count(*) AS n FROM events GROUP BY 1, 2, 3 HAVING count(*) > 1",
    )
    assert repeated == [], "the takeover announced something again"
    phantoms = query(engine, "SELECT account, instrument FROM events WHERE kind = 'phantom_detected'")
    assert [(p.account, p.instrument) for p in phantoms] == [("t1", "NFO:CLOSEME")]
    # The victim's accounts were synced by the survivor after the kill, by nobody else.
    late = query(
        engine,
        "SELECT DISTINCT synced_by FROM sync_runs WHERE account = ANY(:accounts) AND id > "
        "(SELECT max(id) FROM sync_runs WHERE synced_by LIKE :victim)",
        accounts=victim_accounts,
        victim=f"%pid {victim.pid} %",
    )
    assert [r.synced_by for r in late] == [holders(engine)["t1"]]

    # A viewer's resync request is taken at once by the daemon holding the account (woken by
    # the requests channel; its poll is 30 s), and answered with a new revision.
    revision = query(engine, "SELECT revision FROM account_state WHERE account = 't2'")[0].revision
    request, _ = request_sync(engine, "t2", "asha", datetime.now(UTC))
    asked = time.monotonic()

    def answered() -> bool:
        taken = query(engine, "SELECT taken_by FROM sync_requests WHERE id = :i", i=request)[0].taken_by
        now = query(engine, "SELECT revision FROM account_state WHERE account = 't2'")[0].revision
        return taken == holders(engine)["t2"] and now > revision

    wait_for(answered, 10, "the daemon to answer the resync request")
    assert time.monotonic() - asked < 10

    # A clean stop gives the leases back at once.
    survivor.send_signal(signal.SIGTERM)
    assert survivor.wait(timeout=30) == 0
    assert holders(engine) == {}
