"""Window tests run offscreen with pytest-qt; a qasync loop runs what needs the asyncio side.

Everything is local: the demo scenario copied into ``tmp_path`` (with a short interval where a
test needs several syncs), ``QSettings`` and the keyring redirected, no network.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import asyncio
import shutil
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import keyring
import keyring.backend
import pytest
import qasync
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from app.config import Settings, load_settings
from app.runtime import Runtime, build_runtime

T = TypeVar("T")
DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"


class _DictKeyring(keyring.backend.KeyringBackend):
    priority = -1

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username), None)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path) -> Iterator[None]:
    """QSettings into tmp_path, so window layouts of tests and users never mix."""
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.NativeFormat, scope, str(tmp_path / "qsettings"))
        QSettings.setPath(QSettings.Format.IniFormat, scope, str(tmp_path / "qsettings"))
    yield


@pytest.fixture
def dict_keyring() -> Iterator[_DictKeyring]:
    previous = keyring.get_keyring()
    backend = _DictKeyring()
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


def demo_project(tmp_path: Path, interval: float = 3, extra: str = "") -> Path:
    """The demo config, scenario and book copied into tmp_path; returns the config path."""
    folder = tmp_path / "demo"
    folder.mkdir(exist_ok=True)
    for name in ("book.json", "scenario.toml"):
        shutil.copy(DEMO / name, folder / name)
    text = (DEMO / "config.toml").read_text(encoding="utf-8")
    text = text.replace("interval = 3 ", f"interval = {interval} ")
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
