"""The daemon's lease path under faults: a database that cannot be reached, a lease session
killed under it, a lease row removed by hand. The verdict is the lease form of the safety
rules: a daemon that cannot prove it holds an account writes nothing for it (no second
writer, no stale picture over another daemon's), and takes it back only by reloading what the
store holds."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from position_sync.app.config import load_settings
from position_sync.app.store import Store
from position_sync.app.sync import SyncWorker
from position_sync.app.team.leases import LeaseKeeper, LeaseLost
from position_sync.wiring import build_runtime
from tests.conftest import T0, Project, toml_table
from tests.team.test_leases import outcome_for
from tests.viewer_helpers import fresh_database, terminate

pytestmark = pytest.mark.postgres

HELD = [{"symbol": "NFO:A", "quantity": "1", "average_price": "10"}]


@pytest.fixture
def shared(pg_admin: Engine) -> Iterator[str]:
    with fresh_database(pg_admin, "ps_lease") as url:
        Store(url).close()
        yield url


def lease_pids(admin: Engine) -> list[int]:
    with admin.connect() as connection:
        return list(
            connection.execute(
                text("SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'position-sync lease%'")
            ).scalars()
        )


def test_an_unreachable_database_holds_nothing_and_raises_nothing() -> None:
    keeper = LeaseKeeper("postgresql+psycopg2://nobody:x@127.0.0.1:1/none", ["a1"], 5.0, "daemon")
    try:
        beat = keeper.beat()
        assert beat.gained == frozenset() and keeper.held() == frozenset()
    finally:
        keeper.close()


def test_a_killed_lease_session_loses_everything_then_takes_it_back(shared: str, pg_admin: Engine) -> None:
    keeper = LeaseKeeper(shared, ["a1", "a2"], 5.0, "daemon")
    try:
        assert keeper.beat().gained == {"a1", "a2"}
        for pid in lease_pids(pg_admin):
            terminate(pg_admin, pid)
        lost = keeper.beat()
        assert lost.lost == {"a1", "a2"} and keeper.held() == frozenset()
        # Back: the old session is gone, so the leases are free, and taking them again is a gain
        # (the worker reloads the accounts' memory from the store before syncing them).
        assert keeper.beat().gained == {"a1", "a2"}
    finally:
        keeper.close()


def test_a_lease_row_removed_by_hand_refuses_the_next_save(shared: str) -> None:
    keeper = LeaseKeeper(shared, ["a1"], 5.0, "daemon")
    store = Store(shared)
    try:
        keeper.beat()
        with store.engine.begin() as connection:
            connection.execute(text("DELETE FROM account_leases"))
        with pytest.raises(LeaseLost):
            store.save("a1", outcome_for("a1"), T0, T0, fence=keeper)
        assert store.rows() == [] and not keeper.holds("a1")
    finally:
        store.close()
        keeper.close()


async def test_a_worker_without_its_lease_reads_and_writes_nothing(
    project: Project, shared: str, pg_admin: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    project.write(broker_steps=[{"positions": HELD}], book=HELD, account={"interval": 3600})
    monkeypatch.setenv("PS_FAULT_STORE", make_url(shared).render_as_string(hide_password=False))
    config = project.config.read_text(encoding="utf-8")
    config += "\n" + toml_table("[store]", {"url_env": "PS_FAULT_STORE", "shared": True, "lease_seconds": 30})
    project.config.write_text(config, encoding="utf-8")
    runtime = build_runtime(load_settings(project.config), project.data_dir, purpose="daemon")
    worker = runtime.worker
    assert isinstance(worker, SyncWorker) and worker.leases is not None
    try:
        await worker.load()
        await worker.beat()
        first = await worker.sync("sim", "test")
        assert first.run_id is not None
        for pid in lease_pids(pg_admin):
            terminate(pg_admin, pid)
        await worker.beat()
        assert not worker.leases.holds("sim")
        step = (project.data_dir / "simulated" / "sim.json").read_text(encoding="utf-8")
        unsaved = await worker.sync("sim", "test")
        assert unsaved.run_id is None and unsaved.events == []
        # Nothing was read from the broker either: its scenario did not move.
        assert (project.data_dir / "simulated" / "sim.json").read_text(encoding="utf-8") == step
        with runtime.store.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM sync_runs")).scalar_one() == 1
        await worker.beat()
        assert worker.leases.holds("sim")
        again = await asyncio.wait_for(worker.sync("sim", "test"), 30)
        assert again.run_id is not None and again.events == []  # carried on, nothing re-announced
    finally:
        await runtime.close()
