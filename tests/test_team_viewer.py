"""Desktops as viewers of a shared store: live pictures, reconnects, resync requests, roles."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from position_sync.app.backoff import Backoff
from position_sync.app.domain import Event, EventKind, Status
from position_sync.app.store import Store
from position_sync.app.store import acks as ack_store
from position_sync.app.store.revisions import REQUESTS, Hint
from position_sync.app.sync import SyncResult
from position_sync.app.team.listener import HintListener
from position_sync.app.team.viewer import StoreViewer, ViewerRefused
from tests.conftest import T0, make_row
from tests.viewer_helpers import fresh_database, outcome, save, terminate

Results = list[SyncResult]


def psycopg3(url: str) -> str:
    """The same database through psycopg 3, the driver a viewer is meant to use."""
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


@pytest.fixture
def database(pg_admin: Engine) -> Iterator[str]:
    with fresh_database(pg_admin) as url:
        yield url


@pytest.fixture
def daemon_store(database: str) -> Iterator[Store]:
    """The store as the daemon writes it (psycopg2, as the daemon's config names it)."""
    store = Store(database)
    try:
        yield store
    finally:
        store.close()


class Watching:
    """One viewer and what it published."""

    def __init__(self, viewer: StoreViewer) -> None:
        self.viewer = viewer
        self.results: Results = []
        self.acks = 0
        viewer.subscribe(self.results.append)
        viewer.subscribe_acks(self._ack)

    def _ack(self) -> None:
        self.acks += 1

    async def until(self, condition: object, timeout: float = 10.0) -> None:
        assert callable(condition)
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.01)


async def open_viewer(url: str, **options: object) -> Watching:
    viewer = StoreViewer(Store(url), **options)  # type: ignore[arg-type]
    await viewer.start()
    watching = Watching(viewer)
    if viewer._listener is not None:
        assert await asyncio.to_thread(viewer._listener.wait_connected, 10)
        await watching.until(lambda: viewer.caught_up >= 1)  # the first LISTEN's catch-up
    return watching


async def close_viewer(watching: Watching) -> None:
    await watching.viewer.stop()
    watching.viewer.store.close()


@pytest.fixture
async def viewers(database: str, daemon_store: Store) -> AsyncIterator[list[Watching]]:
    save(daemon_store, outcome("acct", [make_row("NFO:A")]))
    opened = [await open_viewer(psycopg3(database), poll_seconds=60) for _ in range(3)]
    try:
        yield opened
    finally:
        for watching in opened:
            await close_viewer(watching)


pytestmark = pytest.mark.postgres


async def test_a_save_reaches_every_viewer_with_its_rows_and_events(
    viewers: list[Watching], daemon_store: Store
) -> None:
    for watching in viewers:
        assert watching.viewer.account_ids == ["acct"]
        assert set(watching.viewer.memory("acct").rows) == {"NFO:A"}
        assert watching.viewer.broker("acct") == "simulated"
        assert watching.viewer.status().live
    changed = outcome(
        "acct",
        [make_row("NFO:A", broker_qty=Decimal(12), status=Status.QTY_MISMATCH), make_row("NFO:B")],
        events=[Event(T0, "acct", EventKind.OPENED, "NFO:B", "opened NFO:B")],
    )
    save(daemon_store, changed, T0 + timedelta(minutes=1))
    for watching in viewers:
        await watching.until(lambda w=watching: len(w.results) == 1)
        result = watching.results[0]
        assert result.account == "acct" and result.reason == "store"
        assert result.rows["NFO:A"].status is Status.QTY_MISMATCH and set(result.rows) == {"NFO:A", "NFO:B"}
        assert [e.detail for e in result.events] == ["opened NFO:B"]
        assert watching.viewer.revision("acct") == 2
    # A second save: only its own events come with it.
    save(daemon_store, outcome("acct", changed.rows.values()), T0 + timedelta(minutes=2))
    for watching in viewers:
        await watching.until(lambda w=watching: len(w.results) == 2)
        assert watching.results[1].events == []


async def test_a_viewer_whose_backend_is_terminated_reconnects_and_misses_nothing(
    database: str, daemon_store: Store, pg_admin: Engine
) -> None:
    save(daemon_store, outcome("acct", [make_row("NFO:A")]))
    watching = await open_viewer(
        psycopg3(database), poll_seconds=60, reconnect=Backoff(initial=1.5, cap=1.5, minimum=1.5)
    )
    try:
        listener = watching.viewer._listener
        assert listener is not None and listener.backend_pid is not None
        terminate(pg_admin, listener.backend_pid)
        await watching.until(lambda: not watching.viewer.status().live)
        # Saved while nobody listens: its hint is lost, the reconnect must catch it up.
        save(
            daemon_store,
            outcome(
                "acct",
                [make_row("NFO:A"), make_row("NFO:C")],
                events=[Event(T0, "acct", EventKind.OPENED, "NFO:C", "opened NFO:C")],
            ),
            T0 + timedelta(minutes=1),
        )
        save(daemon_store, outcome("other", [make_row("NFO:Z")]), T0 + timedelta(minutes=1))
        await watching.until(lambda: "other" in watching.viewer.account_ids and len(watching.results) == 1)
        assert listener.connections == 2
        assert watching.results[0].reason == "reconnect"
        assert set(watching.results[0].rows) == {"NFO:A", "NFO:C"}
        assert [e.detail for e in watching.results[0].events] == ["opened NFO:C"]
        assert watching.viewer.status().live and watching.viewer.status().reachable
    finally:
        await close_viewer(watching)


async def test_a_resync_asks_the_daemon_and_its_answer_comes_back(database: str, daemon_store: Store) -> None:
    save(daemon_store, outcome("acct", [make_row("NFO:A")]))
    taken: list[Hint] = []

    def daemon(hint: Hint) -> None:  # the daemon holding the account: takes the request, syncs
        taken.append(hint)
        save(
            daemon_store,
            outcome("acct", [make_row("NFO:A", broker_qty=Decimal(11))]),
            T0 + timedelta(minutes=5),
        )

    requests = HintListener(database, [REQUESTS], daemon)
    requests.start()
    watching = await open_viewer(psycopg3(database), poll_seconds=60, user="risk-desk")
    try:
        assert await asyncio.to_thread(requests.wait_connected, 10)
        result = await watching.viewer.sync("acct")
        assert result.rows["NFO:A"].broker_qty == Decimal(11)
        assert taken and taken[0].kind == "request" and taken[0].account == "acct"
        with daemon_store.engine.connect() as connection:
            asked = connection.execute(text("SELECT account, by FROM sync_requests")).all()
        assert [tuple(r) for r in asked] == [("acct", "risk-desk")]
        assert watching.results[-1] == result  # published like any other picture
    finally:
        requests.close()
        await close_viewer(watching)


async def test_a_resync_nobody_answers_says_so(database: str, daemon_store: Store) -> None:
    save(daemon_store, outcome("acct", [make_row("NFO:A")]))
    watching = await open_viewer(psycopg3(database), poll_seconds=60, request_seconds=0.3)
    try:
        result = await watching.viewer.sync("acct")
        assert set(result.rows) == {"NFO:A"}
        notice = watching.viewer.status().notice
        assert notice is not None and "no daemon answered the resync of acct" in notice
        assert not watching.viewer.is_syncing("acct")
    finally:
        await close_viewer(watching)


async def test_an_acknowledgement_by_one_viewer_reaches_the_others(
    viewers: list[Watching], daemon_store: Store
) -> None:
    """The acknowledgement's own transaction sends the hint: the others re-read at once (their
    poll is 30 s), and see who wrote it."""
    save(daemon_store, outcome("acct", [make_row("NFO:A", status=Status.PHANTOM, broker_qty=None)]))
    first, *others = viewers
    first.viewer.store.user = "asha"
    row = make_row("NFO:A", status=Status.PHANTOM, broker_qty=None)
    record = await asyncio.to_thread(ack_store.acknowledge, first.viewer.store, row, "seen", T0)
    for watching in others:
        await watching.until(lambda w=watching: w.acks >= 1)
        standing = await asyncio.to_thread(ack_store.current, watching.viewer.store)
        assert standing[("acct", "NFO:A")].ack == record and record.by == "asha"


async def test_the_poll_catches_up_without_hints(database: str, daemon_store: Store) -> None:
    """A writer that sends no hint (or one lost on the way) is caught by the revision poll."""
    save(daemon_store, outcome("acct", [make_row("NFO:A")]))
    watching = await open_viewer(psycopg3(database), listen=False, poll_seconds=0.1)
    try:
        ack_store.acknowledge(daemon_store, make_row("NFO:A"), "seen", T0)
        await watching.until(lambda: watching.acks >= 1)
        with daemon_store.engine.begin() as connection:  # a save whose NOTIFY never left
            connection.execute(text("UPDATE account_state SET revision = revision + 1, state = 'stale'"))
        await watching.until(lambda: len(watching.results) == 1)
        assert watching.results[0].state.value == "stale"
    finally:
        await close_viewer(watching)


async def test_a_viewer_role_reads_everything_and_writes_nothing(
    database: str, daemon_store: Store, pg_admin: Engine
) -> None:
    save(daemon_store, outcome("acct", [make_row("NFO:A")]))
    role = f"ps_viewer_{uuid.uuid4().hex[:8]}"
    name = make_url(database).database
    with pg_admin.execution_options(isolation_level="AUTOCOMMIT").connect() as connection:
        connection.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD 'look-only'"))
        connection.execute(text(f"ALTER ROLE {role} SET default_transaction_read_only = on"))
        connection.execute(text(f"GRANT CONNECT ON DATABASE {name} TO {role}"))
    with daemon_store.engine.begin() as connection:
        connection.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
        connection.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"))
    url = make_url(psycopg3(database)).set(username=role, password="look-only").render_as_string(False)
    watching = await open_viewer(url, poll_seconds=60)
    try:
        viewer = watching.viewer
        assert set(viewer.memory("acct").rows) == {"NFO:A"}
        assert not viewer.privileges.acknowledge and not viewer.privileges.resync
        assert viewer.privileges.refusal("acknowledging").startswith(
            f"your database role {role} can only read"
        )
        with pytest.raises(ViewerRefused, match="can only read"):
            await viewer.sync("acct")
        # The database itself refuses, whatever a window would allow.
        with pytest.raises(DBAPIError, match=r"read-only transaction|permission denied"):
            ack_store.acknowledge(viewer.store, make_row("NFO:A"), "sneaky", T0)
        refused = pytest.raises(DBAPIError, match=r"read-only transaction|permission denied")
        with refused, viewer.store.engine.begin() as connection:
            connection.execute(text("SET TRANSACTION READ WRITE"))
            connection.execute(text("INSERT INTO sync_requests (account, requested_at) VALUES ('acct', 'x')"))
        # Still live: a daemon's save reaches it.
        save(daemon_store, outcome("acct", [make_row("NFO:B")]), T0 + timedelta(minutes=1))
        await watching.until(lambda: len(watching.results) == 1)
    finally:
        await close_viewer(watching)
        engine = create_engine(database)
        with engine.begin() as connection:
            connection.execute(text(f"DROP OWNED BY {role}"))
        engine.dispose()
        with pg_admin.execution_options(isolation_level="AUTOCOMMIT").connect() as connection:
            connection.execute(text(f"REVOKE CONNECT ON DATABASE {name} FROM {role}"))
            connection.execute(text(f"DROP ROLE {role}"))


async def test_a_viewer_of_a_sqlite_store_polls_it(tmp_path: Path) -> None:
    """A viewer of a daemon on the same machine: no NOTIFY on SQLite, a quick poll instead."""
    daemon = Store.open(tmp_path)
    try:
        save(daemon, outcome("acct", [make_row("NFO:A")]))
        watching = await open_viewer(daemon.url, poll_seconds=0.05)
        assert watching.viewer._listener is None
        assert watching.viewer.privileges.acknowledge and watching.viewer.privileges.resync
        save(daemon, outcome("acct", [make_row("NFO:A"), make_row("NFO:B")]), T0 + timedelta(minutes=1))
        await watching.until(lambda: len(watching.results) == 1)
        assert set(watching.results[0].rows) == {"NFO:A", "NFO:B"}
        await close_viewer(watching)
    finally:
        daemon.close()


async def test_without_psycopg3_a_viewer_polls_the_store(
    database: str, daemon_store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A psycopg2 store URL and no psycopg 3 (a distribution's packages): the viewer cannot
    listen, says so once, and follows the store by its quick poll instead."""
    for name in ("psycopg", "psycopg.conninfo"):
        monkeypatch.setitem(sys.modules, name, None)
    save(daemon_store, outcome("acct", [make_row("NFO:A")]))
    watching = await open_viewer(database)
    try:
        assert watching.viewer._listener is None and watching.viewer.poll_seconds == 1.0
        assert "psycopg 3 is not installed" in caplog.text
        save(
            daemon_store,
            outcome("acct", [make_row("NFO:A", broker_qty=Decimal(11))]),
            T0 + timedelta(seconds=1),
        )
        await watching.until(lambda: len(watching.results) == 1)
        assert watching.results[0].rows["NFO:A"].broker_qty == Decimal(11)
    finally:
        await close_viewer(watching)
