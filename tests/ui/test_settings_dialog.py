"""The settings dialog writes the TOML the program reads, refuses what it would refuse, keeps secrets out."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from app.config import load_settings
from app.secrets import KEYRING_SERVICE
from tests.ui.conftest import _DictKeyring, demo_project, run
from ui.settings_dialog import SettingsDialog


def dialog_for(qtbot: QtBot, config: Path, read_only: bool = False) -> SettingsDialog:
    dialog = SettingsDialog(load_settings(config), config.parent / "data", read_only=read_only)
    qtbot.addWidget(dialog)
    return dialog


def test_invalid_input_is_refused_with_the_reason(qtbot: QtBot, tmp_path: Path) -> None:
    config = demo_project(tmp_path)
    before = config.read_text(encoding="utf-8")
    dialog = dialog_for(qtbot, config)
    saved: list[object] = []
    dialog.saved.connect(saved.append)
    dialog.a_id.setText("")
    dialog.save()
    assert saved == [] and config.read_text(encoding="utf-8") == before
    assert dialog.error.isVisibleTo(dialog)
    assert "'accounts[0].id' is required" in dialog.error.text()
    dialog.a_id.setText("demo")
    dialog.a_options.setPlainText('scenario = "scenario.toml"\napi_secret = "hunter2"')
    dialog.save()
    assert saved == [] and "must not hold a secret" in dialog.error.text()
    dialog.a_options.setPlainText("scenario = ")
    dialog.save()
    assert saved == [] and "must be TOML lines" in dialog.error.text()


def test_saving_writes_the_toml_and_puts_secrets_in_the_keyring(
    qtbot: QtBot, tmp_path: Path, dict_keyring: _DictKeyring
) -> None:
    config = demo_project(tmp_path)
    dialog = dialog_for(qtbot, config)
    saved: list[object] = []
    dialog.saved.connect(saved.append)
    dialog.a_interval.setValue(7)
    dialog.a_tol_rel.setText("0.002")
    dialog.a_secret_name.setCurrentText("access_token")
    dialog.a_secret_value.setText("s3cret-token")
    dialog.close_to_tray.setChecked(False)
    dialog.notify_boxes["sync_failed"].setChecked(True)
    dialog.save()
    assert dialog.error.text() == ""
    assert len(saved) == 1
    text = config.read_text(encoding="utf-8")
    assert "s3cret-token" not in text
    raw = tomllib.loads(text)
    assert raw["accounts"][0]["interval"] == 7
    assert raw["accounts"][0]["scenario"] == "scenario.toml"
    assert raw["ui"]["close_to_tray"] is False and "sync_failed" in raw["ui"]["notify"]
    assert dict_keyring.entries[(KEYRING_SERVICE, "demo:access_token")] == "s3cret-token"
    assert load_settings(config).account("demo").interval == 7  # the program reads what was written
    assert (config.parent / "config.toml.bak").exists()


def test_accounts_and_books_can_be_added_and_removed(qtbot: QtBot, tmp_path: Path) -> None:
    config = demo_project(tmp_path)
    dialog = dialog_for(qtbot, config)
    dialog.add_book()
    dialog.b_id.setText("second-book")
    dialog.b_path.setText("book.json")
    dialog.add_account()
    dialog.a_id.setText("second")
    dialog.a_book.setCurrentText("second-book")
    dialog.a_options.setPlainText('scenario = "scenario.toml"')
    settings = dialog.check()
    assert settings is not None and [a.id for a in settings.accounts] == ["demo", "second"]
    assert settings.account("second").book == "second-book"
    dialog.account_list.setCurrentRow(1)
    dialog.remove_account()
    settings = dialog.check()
    assert settings is not None and [a.id for a in settings.accounts] == ["demo"]


def test_the_demo_configuration_is_read_only(qtbot: QtBot, tmp_path: Path) -> None:
    dialog = dialog_for(qtbot, demo_project(tmp_path), read_only=True)
    save = dialog.buttons.button(QDialogButtonBox.StandardButton.Save)
    assert not save.isEnabled() and "built in" in save.toolTip()


def test_test_connection_reads_broker_and_book(
    qtbot: QtBot, tmp_path: Path, qloop: asyncio.AbstractEventLoop
) -> None:
    config = demo_project(tmp_path)
    dialog = dialog_for(qtbot, config)
    dialog.test_connection()
    task = dialog._test_task
    assert task is not None

    async def finished() -> None:
        await task

    run(qloop, finished())
    assert dialog.test_result.text() == "Broker: connected, 7 open position(s). Book: read, 5 position(s)."
    state = config.parent / "data" / "simulated" / "demo.json"
    assert not state.exists()  # the test ran in a scratch directory: the demo did not advance


def test_saving_unchanged_settings_changes_nothing_the_program_reads(qtbot: QtBot, tmp_path: Path) -> None:
    config = demo_project(tmp_path, interval=0.25)
    before = load_settings(config)
    dialog = dialog_for(qtbot, config)
    dialog.save()
    assert dialog.error.text() == ""
    after = load_settings(config)
    assert after.accounts == before.accounts and after.books == before.books
