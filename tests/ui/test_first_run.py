"""The first-run page: no config (or no enabled account) guides instead of an empty grid."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QLineEdit
from pytestqt.qtbot import QtBot

from position_sync.app.config import Settings, load_settings
from position_sync.app.first_run import blank_settings
from position_sync.app.secrets import KEYRING_SERVICE
from position_sync.brokers import registry
from position_sync.ui.main import run_window
from position_sync.ui.presenters.first_run import FirstRunPresenter
from position_sync.ui.window import MainWindow
from tests.conftest import MemoryKeyring
from tests.ui.conftest import DEMO, App, make_app, run, window_runtime


@dataclass
class FirstRun:
    app: App
    presenter: FirstRunPresenter
    demos: list[str]


@pytest.fixture
def first(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    tmp_path: Path,
    no_tray: None,
    request: pytest.FixtureRequest,
) -> Iterator[FirstRun]:
    """The window as ``ui.main`` builds it: on no config file, or on what an indirect parameter
    (a function of ``tmp_path``) makes."""
    make = getattr(request, "param", None)
    settings: Settings = make(tmp_path) if make else blank_settings(tmp_path / "cfg" / "config.toml")
    built = make_app(qtbot, settings, tmp_path / "data")
    demos: list[str] = []

    def demo() -> str | None:
        demos.append("demo")
        return None

    controller = built.controller
    presenter = FirstRunPresenter(
        built.window,
        lambda: controller.settings,
        lambda new, commit: controller.apply_settings(new, commit=commit),
        lambda: controller.settings_dialog,
        controller,
        demo=demo,
    )
    run(qloop, controller.load_cached())
    presenter.refresh()
    yield FirstRun(built, presenter, demos)
    run(qloop, presenter.close())
    run(qloop, controller.close())


def book_and_scenario(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(DEMO / "book-us.json", folder / "book.json")
    shutil.copy(DEMO / "scenario-us.toml", folder / "scenario.toml")
    return folder / "book.json", folder / "scenario.toml"


def fill_simulated(first: FirstRun, tmp_path: Path, account: str = "desk") -> None:
    book, scenario = book_and_scenario(tmp_path / "files")
    page = first.presenter.page
    page.broker.choose("simulated")
    page.broker.account_id.setText(account)
    page.findChild(QLineEdit, "option_simulated_scenario").setText(str(scenario))  # type: ignore[union-attr]
    page.book.form.line("file", "path").setText(str(book))


def start(loop: asyncio.AbstractEventLoop, first: FirstRun) -> bool:
    task = first.presenter.start()
    assert task is not None, f"refused: {first.presenter.page.error.text()}"

    async def finished() -> bool:
        return await task

    return run(loop, finished())


def test_no_config_shows_the_first_run_page_not_an_empty_grid(first: FirstRun) -> None:
    window = first.app.window
    page = first.presenter.page
    path = first.app.controller.settings.path
    assert first.presenter.showing and page.isVisibleTo(window)
    assert not window.table.isVisibleTo(window)  # no empty grid, no "all matching"
    assert not window.statusBar().isVisibleTo(window)
    assert page.situation.text() == f"No configuration yet: {path} does not exist. Add an account to start."
    assert "Welcome to Position Sync" in page.title.text()
    assert str(path) in page.where.text()
    assert not window.act_resync.isEnabled()
    assert "until an account is added" in window.act_resync.toolTip()


def test_every_registered_broker_is_offered_with_its_title_and_options(
    first: FirstRun, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = first.presenter.page
    titles = [page.broker.broker.itemText(i) for i in range(page.broker.broker.count())]
    assert titles == [registry.broker_spec(name).title for name in registry.known_brokers()]
    page.broker.choose("kite")
    assert page.broker.account_id.text() == "kite"  # a name suggested per broker
    api_key = page.findChild(QLineEdit, "option_kite_api_key")
    assert api_key is not None and api_key.isVisibleTo(page)
    assert page.findChild(QLineEdit, "option_ibkr_host").isHidden()  # type: ignore[union-attr]
    # The secret a variable option names is typed here, for the keyring, never the file.
    secret = page.findChild(QLineEdit, "secret_kite_api_secret")
    assert secret is not None and secret.isVisibleTo(page)
    assert page.findChild(QLineEdit, "option_kite_api_secret_env") is None
    assert "log in" in page.broker.note.text().lower()


def test_a_broker_added_to_the_registry_appears_by_itself(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from position_sync.ui.first_run import FirstRunPage

    module = tmp_path / "later_broker.py"
    module.write_text(
        "from position_sync.app.broker import BrokerSpec\n"
        "from position_sync.app.options import Option\n"
        "SPEC = BrokerSpec(name='later', title='A broker to come', options=(\n"
        "    Option('desk', str, 'the desk to read', required=True),))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(registry.BROKERS, "later", "later_broker")
    page = FirstRunPage()
    qtbot.addWidget(page)
    page.broker.choose("later")
    assert page.broker.broker.currentText() == "A broker to come"
    assert page.findChild(QLineEdit, "option_later_desk") is not None


def test_start_writes_the_config_and_the_grid_takes_over(
    first: FirstRun, qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    fill_simulated(first, tmp_path)
    assert start(qloop, first)
    path = tmp_path / "cfg" / "config.toml"
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    assert [(a["id"], a["broker"], a["book"]) for a in raw["accounts"]] == [("desk", "simulated", "book")]
    assert raw["books"][0]["kind"] == "file"
    assert load_settings(path).account("desk").enabled  # the program reads what was written
    window = first.app.window
    assert not first.presenter.showing and window.table.isVisibleTo(window)
    assert window.statusBar().isVisibleTo(window) and window.act_resync.isEnabled()
    controller = first.app.controller
    assert controller.worker.account_ids == ["desk"]
    run(qloop, controller.worker.sync("desk", "test"))
    run(qloop, controller.drain())
    assert window.model.row_for(("desk", "AAPL")) is not None  # it syncs


def test_a_refused_account_says_why_and_writes_nothing(
    first: FirstRun, qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    page = first.presenter.page
    page.broker.choose("kite")  # its api_key is required
    page.book.form.line("file", "path").setText("positions.json")
    assert first.presenter.start() is None
    assert page.error.isVisibleTo(page) and "api_key" in page.error.text() and "required" in page.error.text()
    assert not (tmp_path / "cfg").exists()
    assert first.presenter.showing


def test_secrets_typed_on_the_page_go_to_the_keyring_not_the_file(
    first: FirstRun, qloop: asyncio.AbstractEventLoop, tmp_path: Path, dict_keyring: MemoryKeyring
) -> None:
    page = first.presenter.page
    page.broker.choose("kite")
    page.findChild(QLineEdit, "option_kite_api_key").setText("abc123")  # type: ignore[union-attr]
    page.findChild(QLineEdit, "option_kite_api_root").setText("http://127.0.0.1:9")  # type: ignore[union-attr]
    page.findChild(QLineEdit, "secret_kite_api_secret").setText("hunter2")  # type: ignore[union-attr]
    page.book.form.line("file", "path").setText("positions.json")
    account, book, secrets = page.collect()
    assert account == {
        "id": "kite",
        "broker": "kite",
        "book": "book",
        "api_key": "abc123",
        "api_root": "http://127.0.0.1:9",
    }
    assert book == {"id": "book", "kind": "file", "path": "positions.json"}
    assert secrets == {("kite", "api_secret"): "hunter2"}
    assert start(qloop, first)
    assert dict_keyring.entries[(KEYRING_SERVICE, "kite:api_secret")] == "hunter2"
    assert "hunter2" not in (tmp_path / "cfg" / "config.toml").read_text(encoding="utf-8")


def config_with_disabled_account(tmp_path: Path) -> Settings:
    book, scenario = book_and_scenario(tmp_path / "cfg")
    path = tmp_path / "cfg" / "config.toml"
    path.write_text(
        f'[ui]\ntheme = "light"\n\n[[books]]\nid = "desk-book"\nkind = "file"\npath = "{book.name}"\n\n'
        f'[[accounts]]\nid = "old"\nbroker = "simulated"\nscenario = "{scenario.name}"\n'
        'book = "desk-book"\nenabled = false\n',
        encoding="utf-8",
    )
    return load_settings(path)


@pytest.mark.parametrize("first", [config_with_disabled_account], indirect=True)
def test_a_config_without_an_enabled_account_gets_the_same_guidance(
    first: FirstRun, qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    page = first.presenter.page
    assert first.presenter.showing
    path = tmp_path / "cfg" / "config.toml"
    assert page.situation.text() == (
        f"{path} has 1 account, none of them enabled. Enable one in Settings (Ctrl+,), or add one here."
    )
    assert "Nothing to sync yet" in page.title.text()
    assert page.book.existing_row.isVisibleTo(page) and page.book.chosen() == "desk-book"
    assert not page.book.form.isVisibleTo(page)  # the file's book is used: no new one to fill
    page.broker.choose("simulated")
    assert page.broker.account_id.text() == "simulated"
    page.findChild(QLineEdit, "option_simulated_scenario").setText("scenario.toml")  # type: ignore[union-attr]
    assert start(qloop, first)
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    assert [a["id"] for a in raw["accounts"]] == ["old", "simulated"]  # the old one is kept
    assert raw["accounts"][1]["book"] == "desk-book" and len(raw["books"]) == 1
    assert raw["ui"] == {"theme": "light"}
    assert (tmp_path / "cfg" / "config.toml.bak").exists()
    assert not first.presenter.showing


def test_the_demo_opens_beside_the_page(first: FirstRun) -> None:
    page = first.presenter.page
    page.demo.click()
    assert first.demos == ["demo"]
    assert "window of its own" in page.result.text() and first.presenter.showing


def test_settings_saved_with_an_account_replace_the_page(
    first: FirstRun, qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    controller = first.app.controller
    first.app.window.act_settings.trigger()  # File → Settings, on a first run
    dialog = controller.settings_dialog
    assert dialog is not None
    assert (tmp_path / "cfg").is_dir()  # the dialog's Save has a folder to write into
    fill_simulated(first, tmp_path)
    settings, _raw, _secrets = first.presenter._checked()  # type: ignore[misc]
    assert run(qloop, controller.apply_settings(settings)) is None
    dialog.saved.emit(settings)  # type: ignore[attr-defined]
    assert not first.presenter.showing
    dialog.close()


def test_the_real_window_opens_on_the_page_without_a_config(qapp: QApplication, tmp_path: Path) -> None:
    """``run_window`` as the entry point calls it, on a config file that does not exist."""
    seen: list[bool] = []

    def look() -> None:
        for widget in qapp.topLevelWidgets():
            if isinstance(widget, MainWindow) and widget.isVisible() and not widget.quitting:
                timer.stop()
                stack = widget.centralWidget()
                seen.append(stack is not None and stack.currentWidget().objectName() == "firstRunPage")  # type: ignore[attr-defined]
                widget.act_quit.trigger()
                return

    timer = QTimer()
    timer.setInterval(50)
    timer.timeout.connect(look)
    timer.start()
    try:
        args = argparse.Namespace(demo=False, screenshot=None)
        settings = blank_settings(tmp_path / "nothing" / "config.toml")
        assert run_window(settings, tmp_path / "data", args, window_runtime(tmp_path / "data")) == 0
    finally:
        timer.stop()
    assert seen == [True]
    assert not (tmp_path / "nothing").exists()  # nothing written until the user asks


def working_config(tmp_path: Path) -> Settings:
    book, scenario = book_and_scenario(tmp_path / "cfg")
    path = tmp_path / "cfg" / "config.toml"
    path.write_text(
        f'[[books]]\nid = "desk-book"\nkind = "file"\npath = "{book.name}"\n\n'
        f'[[accounts]]\nid = "desk"\nbroker = "simulated"\nscenario = "{scenario.name}"\nbook = "desk-book"\n',
        encoding="utf-8",
    )
    return load_settings(path)


@pytest.mark.parametrize("first", [working_config], indirect=True)
def test_a_working_config_never_builds_the_page(first: FirstRun) -> None:
    """The page lists every broker, which imports every broker's client library: a window on a
    config that syncs must not pay for it at start (it once cost 0.7 s and 50 MB)."""
    first.presenter.refresh()
    assert not first.presenter.showing
    assert first.presenter._page is None
