"""A resync request on a single-user SQLite store (a viewer of a local daemon): the daemon polls
for it, since SQLite has no notifications, and answers with a sync."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

import pytest

from position_sync.app.config import load_settings
from position_sync.app.store import Store
from position_sync.app.team.requests import request_sync, take_requests
from position_sync.wiring import build_runtime
from tests.conftest import Project

HELD = [{"symbol": "NFO:A", "quantity": "1", "average_price": "10"}]


async def test_a_local_daemon_takes_a_viewers_request_and_syncs(project: Project) -> None:
    project.write(broker_steps=[{"positions": HELD}], book=HELD, account={"interval": 3600})
    runtime = build_runtime(load_settings(project.config), project.data_dir, purpose="daemon")
    try:
        await runtime.worker.start()
        store = runtime.store
        loop = asyncio.get_running_loop()
        while not store.account_statuses():
            await asyncio.sleep(0.05)
        runs = len(store.latest_runs())
        before = (await loop.run_in_executor(None, store.account_statuses))["sim"].last_attempt_at
        request, _ = request_sync(store.engine, "sim", "asha", datetime.now(UTC))
        for _ in range(100):  # the poll is every 2 s
            status = (await loop.run_in_executor(None, store.account_statuses))["sim"]
            if status.last_attempt_at != before:
                break
            await asyncio.sleep(0.1)
        assert status.last_attempt_at != before, "the request was not answered within 10 s"
        assert runs == 1
    finally:
        await runtime.close()
    reopened = Store.open(project.data_dir)
    try:
        with reopened.engine.connect() as connection:
            taken = connection.exec_driver_sql(
                "SELECT taken_by FROM sync_requests WHERE id = ?", (request,)
            ).scalar()
        assert taken and "pid" in taken
        # Taken once: nothing is left for another look.
        assert take_requests(reopened.engine, ["sim"], "another", datetime.now(UTC)) == set()
    finally:
        reopened.close()


@pytest.mark.postgres
async def test_without_psycopg3_a_daemon_polls_for_requests(
    project: Project, shared_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A store URL on psycopg2 with psycopg 3 missing (a distribution's packages): no listener,
    one warning, and the requests are still answered, by the 2 s look."""
    for name in ("psycopg", "psycopg.conninfo"):
        monkeypatch.setitem(sys.modules, name, None)  # ``import psycopg`` raises ImportError
    project.write(broker_steps=[{"positions": HELD}], book=HELD, account={"interval": 3600})
    monkeypatch.setenv("PS_REQ_STORE", shared_url)
    with project.config.open("a", encoding="utf-8") as config:
        config.write('\n[store]\nurl_env = "PS_REQ_STORE"\nshared = true\n')
    runtime = build_runtime(load_settings(project.config), project.data_dir, purpose="daemon")
    try:
        await runtime.worker.start()
        store = runtime.store
        loop = asyncio.get_running_loop()
        while "sim" not in await loop.run_in_executor(None, store.account_statuses):
            await asyncio.sleep(0.05)
        before = (await loop.run_in_executor(None, store.account_statuses))["sim"].last_attempt_at
        request_sync(store.engine, "sim", "asha", datetime.now(UTC))
        for _ in range(100):
            status = (await loop.run_in_executor(None, store.account_statuses))["sim"]
            if status.last_attempt_at != before:
                break
            await asyncio.sleep(0.1)
        assert status.last_attempt_at != before, "the request was not answered within 10 s"
    finally:
        await runtime.close()
    assert "psycopg 3 is not installed" in caplog.text
