"""Shared fixtures: temporary configs, books and scenarios, a store, rows, an in-memory keyring.

Everything here is local and deterministic: files live under ``tmp_path``, the keyring is a dict,
and times are fixed unless a test asks for the clock.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import keyring
import keyring.backend
import keyring.errors
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from position_sync.app.config import CONFIG_ENV, HOME_ENV
from position_sync.app.domain import AccountState, Event, Row, Status
from position_sync.app.reconcile import AccountMemory, ClosedPosition, Outcome
from position_sync.app.store import Store

T0 = datetime(2026, 11, 20, 9, 15, tzinfo=UTC)

# Test modules whose async tests run on both loops the program uses: plain asyncio (the daemon,
# the CLI) and qasync (the window). The two differ (qasync's ``call_later`` hands back a
# ``Handle`` without ``when()``, which once killed the window's book watcher), and a difference
# must fail a test rather than hide until the window runs.
BOTH_LOOPS = frozenset({"tests.test_sync_worker"})


_QT_APPS: list[object] = []


def _qasync_loop() -> asyncio.AbstractEventLoop:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import qasync
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    _QT_APPS.append(app)  # a QApplication nothing refers to is collected, and Qt crashes later
    return qasync.QEventLoop(app)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After a test that ran on qasync (its loop closed by now), free its Qt objects here, on
    the GUI thread: collected later by whichever thread allocates next, a QObject cannot
    unregister its timers and the GUI thread fires a timer of freed memory (a segfault)."""
    module = getattr(item, "module", None)
    if module is not None and module.__name__ in BOTH_LOOPS:
        gc.collect()


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The loops an async test runs on (pytest-asyncio's hook): asyncio, and for the modules
    in ``BOTH_LOOPS`` qasync as well."""
    module = getattr(item, "module", None)
    if module is not None and module.__name__ in BOTH_LOOPS:
        return {"asyncio": asyncio.new_event_loop, "qasync": _qasync_loop}
    return {"asyncio": asyncio.new_event_loop}


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring in a dict; its negative priority keeps it from ever being chosen on its own."""

    priority = -1

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may read or write the developer's real config or data directory."""
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.delenv(HOME_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))  # the window's log file
    monkeypatch.delenv("POSITION_SYNC_LOG_DIR", raising=False)


# -- files -------------------------------------------------------------------------------


def toml_value(value: Any) -> str:
    """Enough TOML for test configs and scenarios: strings, numbers, bools, lists, inline tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, Decimal):
        return json.dumps(str(value))
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, Sequence):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def toml_table(header: str, values: Mapping[str, Any]) -> str:
    lines = [header] + [f"{key} = {toml_value(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def write_scenario(path: Path, steps: Sequence[Mapping[str, Any] | str]) -> Path:
    """Steps are ``{"positions": [...], "orders": [...]}`` or a failure name such as ``"network"``."""
    chunks = []
    for step in steps:
        if isinstance(step, str):
            chunks.append(toml_table("[[steps]]", {"fail": step}))
            continue
        lines = ["[[steps]]", "positions = ["]
        lines += [f"  {toml_value(p)}," for p in step.get("positions", [])]
        lines.append("]")
        if step.get("orders"):
            lines.append(f"orders = {toml_value(step['orders'])}")
        chunks.append("\n".join(lines) + "\n")
    path.write_text("\n".join(chunks), encoding="utf-8")
    return path


def write_book(path: Path, positions: Sequence[Mapping[str, Any]], *, age_seconds: float = 3600) -> Path:
    """A JSON book, dated ``age_seconds`` ago so the settle time of reconciliation has passed."""
    path.write_text(json.dumps({"positions": list(positions)}, indent=1), encoding="utf-8")
    age(path, age_seconds)
    return path


def age(path: Path, seconds: float) -> None:
    moment = datetime.now(UTC).timestamp() - seconds
    os.utime(path, (moment, moment))


@dataclass
class Project:
    """A config with one simulated account and one file book, in a directory of its own."""

    root: Path
    config: Path
    book: Path
    scenario: Path
    data_dir: Path

    def write(
        self,
        *,
        broker_steps: Sequence[Mapping[str, Any] | str],
        book: Sequence[Mapping[str, Any]],
        account: Mapping[str, Any] | None = None,
        book_age: float = 3600,
    ) -> Project:
        write_scenario(self.scenario, broker_steps)
        write_book(self.book, book, age_seconds=book_age)
        account_values: dict[str, Any] = {
            "id": "sim",
            "broker": "simulated",
            "scenario": self.scenario.name,
            "book": "bot",
            "exchange": "NFO",
        }
        account_values.update(account or {})
        text = toml_table("[[books]]", {"id": "bot", "kind": "file", "path": self.book.name})
        text += "\n" + toml_table("[[accounts]]", account_values)
        self.config.write_text(text, encoding="utf-8")
        return self


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "project"
    root.mkdir()
    return Project(
        root=root,
        config=root / "config.toml",
        book=root / "book.json",
        scenario=root / "scenario.toml",
        data_dir=tmp_path / "data",
    )


# -- store and rows ----------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "store")
    try:
        yield opened
    finally:
        opened.close()


def make_outcome(
    rows: Iterable[Row],
    account: str = "acct",
    events: Iterable[Event] = (),
    closed: Iterable[ClosedPosition] = (),
    state: AccountState = AccountState.OK,
) -> Outcome:
    """One sync's outcome as a daemon would save it: the rows, moved to ``account``."""
    by_key = {row.instrument: replace(row, account=account) for row in rows}
    memory = AccountMemory(
        account=account,
        rows=by_key,
        state=state,
        error=None if state is AccountState.OK else "broker: down",
        last_success_at=T0,
        initialised=True,
    )
    return Outcome(by_key, list(events), memory, list(closed))


def make_row(instrument: str, account: str = "acct", **values: Any) -> Row:
    """A matched row of ``10`` at ``100`` unless told otherwise."""
    defaults: dict[str, Any] = {
        "status": Status.MATCH,
        "since": T0,
        "broker_qty": Decimal(10),
        "local_qty": Decimal(10),
        "broker_avg": Decimal(100),
        "local_avg": Decimal(100),
        "last_price": Decimal(101),
    }
    defaults.update(values)
    return Row(account=account, instrument=instrument, **defaults)


# -- PostgreSQL ------------------------------------------------------------------------------

# A URL without password (books read the password from ``PG_PASSWORD_ENV``), by default the
# server ``.ci/run`` starts on 127.0.0.1.
PG_URL = os.environ.get("POSITION_SYNC_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
PG_PASSWORD_ENV = "POSITION_SYNC_TEST_PG_PASSWORD"


def pg_url_with_password(database: str | None = None) -> str:
    """``PG_URL`` with the password in it (and another database), for the tests' own engines."""
    url = make_url(PG_URL).set(password=os.environ.get(PG_PASSWORD_ENV, "postgres"))
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


def _pg_admin() -> Engine | None:
    engine = create_engine(pg_url_with_password())
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        engine.dispose()
        return None
    return engine


def pg_required() -> bool:
    """Whether a missing PostgreSQL server is a failure rather than a reason to skip.

    In CI (``CI=true``), and whenever ``POSITION_SYNC_TEST_PG`` is set explicitly: whoever names
    a server means the tests to run on it (``.ci/run`` sets it), so an unreachable one must not
    turn every PostgreSQL test into a quiet skip.
    """
    return os.environ.get("CI", "").lower() == "true" or "POSITION_SYNC_TEST_PG" in os.environ


@contextmanager
def fresh_database(admin: Engine, prefix: str = "ps_test") -> Iterator[str]:
    """The URL (password included) of a new, empty database on the test server; dropped,
    sessions and all, afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    autocommit = admin.execution_options(isolation_level="AUTOCOMMIT")
    with autocommit.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield pg_url_with_password(name)
    finally:
        with autocommit.connect() as connection:
            connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    """The PostgreSQL server; a test that needs it fails without it in CI or when
    ``POSITION_SYNC_TEST_PG`` names it, and is skipped elsewhere."""
    engine = _pg_admin()
    if engine is None:
        message = f"PostgreSQL is not reachable at {PG_URL}"
        if pg_required():
            pytest.fail(f"{message}: .ci/run must install and start it (or unset POSITION_SYNC_TEST_PG)")
        pytest.skip(message)
    os.environ.setdefault(PG_PASSWORD_ENV, "postgres")
    yield engine
    engine.dispose()
