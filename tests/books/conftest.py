"""Databases for the book tests: a SQLite file, and a real PostgreSQL server.

PostgreSQL comes from ``POSITION_SYNC_TEST_PG`` (a URL without password; the password is in
``POSITION_SYNC_TEST_PG_PASSWORD``), by default the server ``.ci/run`` starts on 127.0.0.1. A
test that needs it and cannot reach it fails in CI (``CI=true``) and is skipped elsewhere.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

PG_URL = os.environ.get("POSITION_SYNC_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
PG_PASSWORD_ENV = "POSITION_SYNC_TEST_PG_PASSWORD"


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


def _pg_admin() -> Engine | None:
    url = make_url(PG_URL).set(password=os.environ.get(PG_PASSWORD_ENV, "postgres"))
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        engine.dispose()
        return None
    return engine


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    engine = _pg_admin()
    if engine is None:
        message = f"PostgreSQL is not reachable at {PG_URL}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}: .ci/run must install and start it")
        pytest.skip(message)
    os.environ.setdefault(PG_PASSWORD_ENV, "postgres")
    yield engine
    engine.dispose()


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
