"""A resync request on a single-user SQLite store (a viewer of a local daemon): the daemon polls
for it, since SQLite has no notifications, and answers with a sync."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from position_sync.app.config import load_settings
from position_sync.app.store import Store
from position_sync.app.team.picture import request_sync
from position_sync.app.team.requests import take_requests
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
