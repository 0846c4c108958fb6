"""Window tests run offscreen with pytest-qt; a qasync loop runs what needs the asyncio side.

Everything is local: the demo scenario copied into ``tmp_path`` (with a short interval where a
test needs several syncs), ``QSettings`` and the keyring redirected, no network.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import asyncio
import gc
import shutil
import tomllib
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import keyring
import keyring.backend
import pytest
import qasync
import tomli_w
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QSystemTrayIcon
from pytestqt.qtbot import QtBot

from position_sync.app.config import Settings, load_settings
from position_sync.app.domain import AccountState, Event, EventKind, Row, Status
from position_sync.app.runtime import Runtime
from position_sync.app.sync import SyncResult, utcnow
from position_sync.brokers.simulated import SimulatedBroker
from position_sync.ui.controller import Controller
from position_sync.ui.preferences import Preferences
from position_sync.ui.window import MainWindow
from position_sync.wiring import build_runtime
from tests.conftest import MemoryKeyring

T = TypeVar("T")
DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path) -> Iterator[None]:
    """QSettings into tmp_path, so window layouts of tests and users never mix."""
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.NativeFormat, scope, str(tmp_path / "qsettings"))
        QSettings.setPath(QSettings.Format.IniFormat, scope, str(tmp_path / "qsettings"))
    yield


@pytest.fixture(autouse=True)
def _collect_on_the_gui_thread() -> Iterator[None]:
    """Free each test's garbage here, on the GUI thread.

    A controller, its tray menu and their timers sit in reference cycles (signal lambdas), so
    they are freed by Python's cycle collector, which runs in whichever thread happens to
    allocate next: a store or diff thread of a later test. A QObject destroyed there cannot
    unregister its timers, and the GUI thread later fires a timer of freed memory (a
    segfault in ``QTimerInfoList::activateTimers``). Collecting at teardown keeps it here.
    """
    yield
    gc.collect()


@pytest.fixture
def dict_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def qloop(qapp: QApplication) -> Iterator[asyncio.AbstractEventLoop]:
    """A qasync loop on the test's QApplication; ``run(loop, coro)`` drives coroutines on it."""
    qapp.setQuitOnLastWindowClosed(False)  # as in the app: a closed window must not end the next loop
    loop = qasync.QEventLoop(qapp, already_running=False)
    asyncio.set_event_loop(loop)
    yield loop
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()
    asyncio.set_event_loop(None)


def run(loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
    return loop.run_until_complete(asyncio.wait_for(coroutine, timeout))


def demo_project(tmp_path: Path, interval: float = 3, extra: str = "", only: str | None = None) -> Path:
    """The demo (config, scenarios, books) copied into tmp_path; returns the config path.

    ``only`` keeps one account and its book: tests about one account's walk need not wait for
    or count the other's syncs.
    """
    folder = tmp_path / "demo"
    folder.mkdir(exist_ok=True)
    for path in DEMO.iterdir():
        if path.suffix in (".json", ".toml") and path.name != "config.toml":
            shutil.copy(path, folder / path.name)
    text = (DEMO / "config.toml").read_text(encoding="utf-8")
    text = text.replace("interval = 3 ", f"interval = {interval} ")
    if only is not None:
        raw = tomllib.loads(text)
        raw["accounts"] = [a for a in raw["accounts"] if a["id"] == only]
        books = {a["book"] for a in raw["accounts"]}
        raw["books"] = [b for b in raw["books"] if b["id"] in books]
        text = tomli_w.dumps(raw)
    (folder / "config.toml").write_text(text + extra, encoding="utf-8")
    return folder / "config.toml"


@pytest.fixture
def demo_settings(tmp_path: Path) -> Settings:
    return load_settings(demo_project(tmp_path))


def make_runtime(settings: Settings, data_dir: Path) -> Runtime:
    return build_runtime(settings, data_dir)


async def walk(runtime: Runtime, syncs: int) -> None:
    """Run ``syncs`` headless syncs of every account (fills the store like earlier sessions did)."""
    await runtime.worker.load()
    for _ in range(syncs):
        await runtime.worker.sync_all("test")


# -- the window on the demo, with the real core underneath --------------------------------

T0 = datetime.now(UTC)


@dataclass
class App:
    controller: Controller
    window: MainWindow
    runtime: Runtime
    quit_event: asyncio.Event


@dataclass
class Fetches:
    """Broker reads so far, and how long each one takes."""

    calls: list[str] = field(default_factory=list)
    delay: float = 0.0


@pytest.fixture
def fetches(monkeypatch: pytest.MonkeyPatch) -> Fetches:
    record = Fetches()
    original = SimulatedBroker.fetch

    async def counted(self: SimulatedBroker) -> Any:
        record.calls.append(self.account_id)
        await asyncio.sleep(record.delay)
        return await original(self)

    monkeypatch.setattr(SimulatedBroker, "fetch", counted)
    return record


@pytest.fixture
def no_tray(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: False))


def make_app(
    qtbot: QtBot, settings: Settings, data_dir: Path, clock: Callable[[], datetime] = utcnow, **prefs: Any
) -> App:
    runtime = build_runtime(settings, data_dir)
    window = MainWindow()
    qtbot.addWidget(window)
    quit_event = asyncio.Event()
    controller = Controller(
        runtime,
        window,
        prefs=Preferences(**prefs),
        quit_event=quit_event,
        make_runtime=lambda new: build_runtime(new, data_dir, purpose="window"),
        clock=clock,
    )
    return App(controller, window, runtime, quit_event)


@pytest.fixture
def app(qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path, no_tray: None) -> Iterator[App]:
    settings = load_settings(demo_project(tmp_path, interval=3600))
    built = make_app(qtbot, settings, tmp_path / "data")
    run(qloop, built.controller.load_cached())
    yield built
    run(qloop, built.controller.close())


def phantom_result(account: str = "demo", instrument: str = "NSE:TCS", confirmed: bool = True) -> SyncResult:
    row = Row(
        account=account,
        instrument=instrument,
        status=Status.PHANTOM,
        since=T0,
        broker_qty=None,
        local_qty=Decimal(50),
        confirmed=confirmed,
    )
    event = Event(T0, account, EventKind.PHANTOM_DETECTED, instrument, "phantom: broker none, book 50")
    return SyncResult(account, "test", T0, T0, AccountState.OK, None, {instrument: row}, [event], T0)


def window_runtime(data_dir: Path) -> Callable[[Settings], Runtime]:
    """What the entry point hands the window: a runtime maker for its data directory."""
    return lambda settings: build_runtime(settings, data_dir, purpose="window")
