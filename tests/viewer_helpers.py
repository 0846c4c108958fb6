"""A fresh PostgreSQL store per test, and saves made the way a daemon makes them.

Shared by the viewer's tests (core, window, faults) and its benchmark: each test gets a database
of its own, dropped afterwards with whatever sessions still use it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import Engine, text

from position_sync.app.domain import AccountState, Event, Row
from position_sync.app.reconcile import Outcome
from position_sync.app.store import Store
from tests.conftest import T0, fresh_database, make_outcome

__all__ = ["fresh_database"]


def outcome(
    account: str,
    rows: Iterable[Row],
    events: Iterable[Event] = (),
    state: AccountState = AccountState.OK,
) -> Outcome:
    return make_outcome(rows, account, events, (), state)


def save(store: Store, result: Outcome, at: datetime = T0, broker: str = "simulated") -> int:
    """One sync saved as a daemon saves it: against the rows it last saved, with its broker."""
    return store.save(result.memory.account, result, at, at + timedelta(milliseconds=5), broker=broker)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, step: float = 0.02) -> bool:
    """Polls ``condition`` from a plain thread (no loop): True once it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def terminate(admin: Engine, pid: int) -> None:
    """Ends one backend as an administrator would (``pg_terminate_backend``)."""
    with admin.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        connection.commit()


@contextmanager
def reader_role(admin: Engine, url: str, name: str) -> Iterator[str]:
    """A role that may only read the store at ``url`` (``SELECT``, read-only sessions): the URL
    a viewer with it connects with (psycopg 3). Dropped afterwards."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    autocommit = admin.execution_options(isolation_level="AUTOCOMMIT")
    with autocommit.connect() as connection:
        connection.execute(text(f"CREATE ROLE {name} LOGIN PASSWORD 'look-only'"))
        connection.execute(text(f"ALTER ROLE {name} SET default_transaction_read_only = on"))
        connection.execute(text(f"GRANT CONNECT ON DATABASE {database} TO {name}"))
    owner = create_engine(url)
    with owner.begin() as connection:
        connection.execute(text(f"GRANT USAGE ON SCHEMA public TO {name}"))
        connection.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {name}"))
    try:
        viewer = make_url(url).set(drivername="postgresql+psycopg", username=name, password="look-only")
        yield viewer.render_as_string(hide_password=False)
    finally:
        with autocommit.connect() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :n"), {"n": name}
            )
        with owner.begin() as connection:
            connection.execute(text(f"DROP OWNED BY {name}"))
        owner.dispose()
        with autocommit.connect() as connection:
            connection.execute(text(f"REVOKE CONNECT ON DATABASE {database} FROM {name}"))
            connection.execute(text(f"DROP ROLE {name}"))
