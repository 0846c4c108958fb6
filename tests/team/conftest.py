"""A fresh PostgreSQL database per test, migrated to the newest revision: a team's shared store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from position_sync.app.store import Store
from tests.conftest import pg_url_with_password


@pytest.fixture
def shared_url(pg_admin: Engine) -> Iterator[str]:
    """The URL (password included) of a new database holding an empty, migrated store."""
    name = f"ps_team_{uuid.uuid4().hex[:12]}"
    autocommit = pg_admin.execution_options(isolation_level="AUTOCOMMIT")
    with autocommit.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    url = pg_url_with_password(name)
    Store(url).close()
    try:
        yield url
    finally:
        with autocommit.connect() as connection:
            connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
