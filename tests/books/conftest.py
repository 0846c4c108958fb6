"""Databases for the book tests: a SQLite file, and a real PostgreSQL server.

PostgreSQL is the server of the ``pg_admin`` fixture in ``tests/conftest.py``: each test gets a
schema of its own on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from position_sync.app.config import parse_settings
from position_sync.app.runtime import Runtime
from position_sync.app.secrets import Secrets
from position_sync.app.sync import Clock
from position_sync.wiring import build_runtime
from tests.conftest import PG_PASSWORD_ENV, PG_URL


@dataclass
class Database:
    """A place for one test's tables: ``prefix`` qualifies table names (a schema on PostgreSQL)."""

    backend: str
    url: str  # what a book's config gets (no password)
    admin: Engine  # for the test's own set-up, with password
    prefix: str
    path: Path | None = None

    def table(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def run(self, *statements: str) -> None:
        with self.admin.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))

    def book_options(self) -> dict[str, str]:
        return {"password_env": PG_PASSWORD_ENV} if self.backend == "postgres" else {}


def sqlite_database(tmp_path: Path) -> Database:
    path = tmp_path / "book.db"
    url = f"sqlite:///{path}"
    return Database("sqlite", url, create_engine(url), "", path)


@pytest.fixture
def pg_database(pg_admin: Engine) -> Iterator[Database]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with pg_admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    yield Database("postgres", PG_URL, pg_admin, f"{schema}.")
    with pg_admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        db = sqlite_database(tmp_path)
        yield db
        db.admin.dispose()
    else:
        yield request.getfixturevalue("pg_database")


def simulated_runtime(
    tmp_path: Path, scenario: str, book: dict[str, Any], clock: Clock | None = None, **account: Any
) -> Runtime:
    """The real runtime for one simulated account ``sim`` on the book ``bot`` described by ``book``."""
    (tmp_path / "scenario.toml").write_text(scenario)
    raw = {
        "books": [{"id": "bot", **book}],
        "accounts": [
            {"id": "sim", "broker": "simulated", "scenario": "scenario.toml", "book": "bot", **account}
        ],
    }
    settings = parse_settings(raw, tmp_path / "config.toml")
    if clock is None:
        return build_runtime(settings, tmp_path / "data", secrets=Secrets(environ={}))
    return build_runtime(settings, tmp_path / "data", secrets=Secrets(environ={}), clock=clock)
