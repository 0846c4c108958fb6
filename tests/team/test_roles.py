"""Roles enforced by the database, and migrations of a shared store run once and only when asked."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from position_sync.app.store import Store, StoreError
from position_sync.app.store.engine import head_revision, make_engine, migrate, stored_revision
from position_sync.app.team.roles import DAEMON, OPERATOR, VIEWER
from position_sync.cli import main
from tests.conftest import T0, pg_url_with_password, toml_table
from tests.team.test_leases import outcome_for

pytestmark = pytest.mark.postgres

PASSWORD = "team-test"


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(toml_table("[store]", {"url_env": "PS_TEAM_STORE", "shared": True}), encoding="utf-8")
    return config


def as_role(url: str, role: str) -> Engine:
    return create_engine(make_url(url).set(username=role, password=PASSWORD))


@pytest.fixture
def with_roles(
    shared_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_admin: Engine
) -> Iterator[str]:
    monkeypatch.setenv("PS_TEAM_STORE", shared_url)
    code = main(
        ["--config", str(write_config(tmp_path)), "--data-dir", str(tmp_path / "data"), "store", "init-roles"]
    )
    assert code == 0
    with pg_admin.execution_options(isolation_level="AUTOCOMMIT").connect() as connection:
        for role in (DAEMON, OPERATOR, VIEWER):
            connection.execute(text(f"ALTER ROLE {role} PASSWORD '{PASSWORD}'"))
    yield shared_url


ACK = (
    "INSERT INTO acknowledgements (account, instrument, kind, at, note) "
    "VALUES ('a1', 'NFO:X', 'ack', '2026-12-04T10:00:00+00:00', '')"
)
AUDIT = "INSERT INTO audit_log (at, action, account) VALUES ('2026-12-04T10:00:00+00:00', 'ack', 'a1')"


def refused(engine: Engine, sql: str) -> bool:
    try:
        with engine.begin() as connection:
            connection.execute(text(sql))
    except DBAPIError as exc:
        return "permission denied" in str(exc.orig) or "read-only transaction" in str(exc.orig)
    return False


def test_a_viewer_reads_everything_and_writes_nothing(with_roles: str) -> None:
    viewer = as_role(with_roles, VIEWER)
    try:
        with viewer.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM rows")).scalar_one() == 0
            assert connection.execute(text("SHOW default_transaction_read_only")).scalar_one() == "on"
        assert refused(viewer, ACK)
        assert refused(viewer, AUDIT)
        assert refused(viewer, "INSERT INTO sync_requests (account, requested_at) VALUES ('a1', 'now')")
    finally:
        viewer.dispose()


def test_an_operator_acknowledges_but_never_rewrites_a_sync_or_the_audit(with_roles: str) -> None:
    operator = as_role(with_roles, OPERATOR)
    try:
        assert not refused(operator, ACK)
        assert not refused(operator, AUDIT)
        assert refused(operator, "UPDATE audit_log SET action = 'forged'")
        assert refused(operator, "DELETE FROM audit_log")
        assert refused(operator, "DELETE FROM acknowledgements")
        assert refused(
            operator,
            "INSERT INTO rows (account, instrument, status, since, updated_at) VALUES ('a1', 'X', 'match', 'x', 'x')",
        )
    finally:
        operator.dispose()


def test_a_daemon_saves_syncs_and_cannot_acknowledge(with_roles: str) -> None:
    url = make_url(with_roles).set(username=DAEMON, password=PASSWORD).render_as_string(hide_password=False)
    store = Store(url)
    try:
        store.save("a1", outcome_for("a1"), T0, T0)
        assert [r.instrument for r in store.rows()] == ["NFO:X"]
        assert refused(store.engine, ACK)
        assert refused(store.engine, "DELETE FROM audit_log")
    finally:
        store.close()


def test_a_shared_store_behind_is_upgraded_only_when_asked(
    pg_admin: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"ps_team_{uuid.uuid4().hex[:12]}"
    autocommit = pg_admin.execution_options(isolation_level="AUTOCOMMIT")
    with autocommit.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    url = pg_url_with_password(name)
    try:
        engine = make_engine(url)
        migrate(engine, "0005")
        engine.dispose()
        with pytest.raises(
            StoreError, match=r"at schema revision 0005, older than .*'position-sync store upgrade'"
        ):
            Store(url)
        monkeypatch.setenv("PS_TEAM_STORE", url)
        config = write_config(tmp_path)
        assert main(["--config", str(config), "--data-dir", str(tmp_path / "d"), "store", "upgrade"]) == 0
        store = Store(url)
        try:
            assert stored_revision(store.engine) == head_revision()
        finally:
            store.close()
    finally:
        with autocommit.connect() as connection:
            connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))


def test_processes_starting_together_on_a_new_store_create_it_once(pg_admin: Engine) -> None:
    name = f"ps_team_{uuid.uuid4().hex[:12]}"
    autocommit = pg_admin.execution_options(isolation_level="AUTOCOMMIT")
    with autocommit.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    url = pg_url_with_password(name)
    failures: list[BaseException] = []

    def open_store() -> None:
        try:
            Store(url).close()
        except BaseException as exc:  # collected for the assertion below
            failures.append(exc)

    try:
        threads = [threading.Thread(target=open_store) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert failures == []
        engine = make_engine(url)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [
                head_revision()
            ]
        engine.dispose()
    finally:
        with autocommit.connect() as connection:
            connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
