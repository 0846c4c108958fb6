"""The viewer's read path under faults: a store that cannot be reached, and hints that make no sense.

The verdict is the viewer's form of safety rule 1: a store it cannot read is never an empty store.
The last picture stays (no result with fewer rows is published), the viewer says the store cannot
be reached, and once it can be read again it catches up with what changed meanwhile. A hint it
cannot read is dropped and changes nothing; the next real change still arrives.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text

from position_sync.app.backoff import Backoff
from position_sync.app.store import Store
from position_sync.app.store.revisions import CHANGES
from position_sync.app.sync import SyncResult
from position_sync.app.team.viewer import StoreViewer
from tests.conftest import T0, make_row
from tests.viewer_helpers import fresh_database, outcome, reader_role, save

pytestmark = pytest.mark.postgres


@pytest.fixture
def database(pg_admin: Engine) -> Iterator[str]:
    with fresh_database(pg_admin, "ps_vfault") as url:
        yield url


async def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_an_unreachable_store_keeps_the_last_picture_and_says_so(
    database: str, pg_admin: Engine
) -> None:
    daemon = Store(database)
    save(daemon, outcome("acct", [make_row("NFO:A"), make_row("NFO:B")]))
    role = f"ps_vf_{uuid.uuid4().hex[:8]}"
    with reader_role(pg_admin, database, role) as url:
        viewer = StoreViewer(Store(url), poll_seconds=0.2, reconnect=Backoff(initial=0.2, cap=0.5))
        results: list[SyncResult] = []
        viewer.subscribe(results.append)
        await viewer.start()
        try:
            await until(lambda: viewer.status().live)
            with pg_admin.execution_options(isolation_level="AUTOCOMMIT").connect() as connection:
                connection.execute(text(f"ALTER ROLE {role} CONNECTION LIMIT 0"))
                connection.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :n"),
                    {"n": role},
                )
            await until(lambda: not viewer.status().reachable)
            status = viewer.status()
            assert status.problem is not None and "cannot be" in status.problem
            assert not status.live
            # The daemon carries on; the viewer, cut off, shows its last picture, whole.
            save(daemon, outcome("acct", [make_row("NFO:A")]), T0 + timedelta(minutes=1))
            await asyncio.sleep(0.6)  # several polls fail meanwhile
            assert results == []
            assert set(viewer.memory("acct").rows) == {"NFO:A", "NFO:B"}
            with pg_admin.execution_options(isolation_level="AUTOCOMMIT").connect() as connection:
                connection.execute(text(f"ALTER ROLE {role} CONNECTION LIMIT -1"))
            await until(lambda: viewer.status().reachable and len(results) == 1)
            assert set(results[0].rows) == {"NFO:A"}  # the change made while it was cut off
            await until(lambda: viewer.status().live)
        finally:
            await viewer.stop()
            viewer.store.close()
            daemon.close()


@pytest.mark.parametrize(
    "payload",
    [
        "not json at all",
        "[1, 2, 3]",
        '{"account": 5, "revision": 1}',
        '{"account": "acct", "revision": "7"}',
        '{"account": "acct", "revision": true}',
        '{"account": "acct"}',
        '{"account": "ghost", "revision": 99}',  # well formed, but no such account is stored
        '{"account": "acct", "revision": 999}',  # above what the store holds: a lie, or a later one
        '{"account": "acct", "acks": -1}',
    ],
)
async def test_a_hint_that_makes_no_sense_changes_nothing(database: str, payload: str) -> None:
    daemon = Store(database)
    save(daemon, outcome("acct", [make_row("NFO:A")]))
    viewer = StoreViewer(Store(database), poll_seconds=60)
    results: list[SyncResult] = []
    acks: list[int] = []
    viewer.subscribe(results.append)
    viewer.subscribe_acks(lambda: acks.append(1))
    await viewer.start()
    try:
        await until(lambda: viewer.status().live and viewer.caught_up >= 1)
        with daemon.engine.begin() as connection:
            connection.execute(text("SELECT pg_notify(:c, :p)"), {"c": CHANGES, "p": payload})
        await asyncio.sleep(0.3)
        assert results == [] and acks == []
        assert viewer.account_ids == ["acct"] and set(viewer.memory("acct").rows) == {"NFO:A"}
        assert viewer.status().reachable
        save(daemon, outcome("acct", [make_row("NFO:A"), make_row("NFO:B")]), T0 + timedelta(minutes=1))
        await until(lambda: len(results) == 1)
        assert set(results[0].rows) == {"NFO:A", "NFO:B"}
    finally:
        await viewer.stop()
        viewer.store.close()
        daemon.close()
