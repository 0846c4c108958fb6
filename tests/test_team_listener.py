"""The listener hears hints, survives its backend being terminated, and stops promptly."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from position_sync.app.backoff import Backoff
from position_sync.app.store.revisions import CHANGES, REQUESTS, Hint
from position_sync.app.team.listener import HintListener, conninfo
from tests.viewer_helpers import fresh_database, terminate, wait_until

pytestmark = pytest.mark.postgres


@pytest.fixture
def database(pg_admin: Engine) -> Iterator[str]:
    with fresh_database(pg_admin, "ps_listen") as url:
        yield url


def send(url: str, channel: str, payload: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("SELECT pg_notify(:c, :p)"), {"c": channel, "p": payload})
    finally:
        engine.dispose()


def test_conninfo_takes_either_driver_and_names_the_connection() -> None:
    for driver in ("postgresql+psycopg2", "postgresql+psycopg", "postgresql"):
        info = conninfo(f"{driver}://ann:s%40cret@db.local:6543/desk?sslmode=require", "position-sync viewer")
        assert "host=db.local" in info and "port=6543" in info and "dbname=desk" in info
        assert "user=ann" in info and "password=s@cret" in info and "sslmode=require" in info
        assert "application_name='position-sync viewer'" in info
    with pytest.raises(ValueError, match="only a PostgreSQL store"):
        conninfo("sqlite:///x.db", "viewer")


def test_hints_arrive_and_a_terminated_backend_is_reconnected_and_listened_again(
    database: str, pg_admin: Engine
) -> None:
    hints: list[Hint] = []
    reconnects = threading.Event()
    calls: list[int] = []
    states: list[tuple[bool, str | None]] = []

    def reconnected() -> None:
        calls.append(listener.connections)
        if listener.connections >= 2:
            reconnects.set()

    listener = HintListener(
        database,
        [CHANGES, REQUESTS],
        hints.append,
        on_reconnect=reconnected,
        on_state=lambda up, why: states.append((up, why)),
        application_name="ps test listener",
        reconnect=Backoff(initial=0.1, cap=0.5),
    )
    listener.start()
    try:
        assert listener.wait_connected(10)
        send(database, CHANGES, '{"account":"a","revision":3}')
        send(database, REQUESTS, '{"account":"a","request":7}')
        send(database, CHANGES, "not json at all")
        assert wait_until(lambda: len(hints) == 2 and listener.dropped == 1)
        assert hints == [Hint(CHANGES, "a", "revision", 3), Hint(REQUESTS, "a", "request", 7)]
        with pg_admin.connect() as connection:
            name = connection.execute(
                text("SELECT application_name FROM pg_stat_activity WHERE pid = :p"),
                {"p": listener.backend_pid},
            ).scalar_one()
        assert name == "ps test listener"

        first_pid = listener.backend_pid
        assert first_pid is not None
        terminate(pg_admin, first_pid)
        assert reconnects.wait(15), "the listener did not reconnect after its backend was terminated"
        assert listener.backend_pid not in (None, first_pid)
        assert calls == [1, 2]  # after the first LISTEN and after the reconnect
        assert [up for up, _ in states] == [True, False, True]
        assert states[1][1]  # the loss is said in words
        # Listening again: a hint sent after the reconnect arrives.
        send(database, CHANGES, '{"account":"b","revision":1}')
        assert wait_until(lambda: Hint(CHANGES, "b", "revision", 1) in hints)
    finally:
        started = time.monotonic()
        listener.close()
        assert time.monotonic() - started < 2.0
    assert not listener.connected


def test_an_unreachable_server_is_retried_until_closed() -> None:
    states: list[tuple[bool, str | None]] = []
    listener = HintListener(
        "postgresql+psycopg2://nobody:x@127.0.0.1:9/none",
        [CHANGES],
        lambda hint: None,
        on_state=lambda up, why: states.append((up, why)),
        reconnect=Backoff(initial=0.05, cap=0.1),
    )
    listener.start()
    try:
        assert wait_until(lambda: len(states) >= 2, timeout=10)
        assert all(not up and why for up, why in states)
        assert not listener.connected
    finally:
        listener.close()
