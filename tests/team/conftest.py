"""A fresh PostgreSQL database per test, migrated to the newest revision: a team's shared store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from position_sync.app.store import Store
from tests.conftest import fresh_database


@pytest.fixture
def shared_url(pg_admin: Engine) -> Iterator[str]:
    """The URL (password included) of a new database holding an empty, migrated store."""
    with fresh_database(pg_admin, "ps_team") as url:
        Store(url).close()
        yield url
