"""The settings dialog writes the TOML the program reads, refuses what it would refuse, keeps secrets out."""

from __future__ import annotations

import asyncio
import threading
import tomllib
from pathlib import Path

from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from position_sync.app.books.kinds import book_kind, known_kinds
from position_sync.app.config import load_settings
from position_sync.app.options import option_keys
from position_sync.app.secrets import KEYRING_SERVICE
from position_sync.ui.preferences import preferences
from position_sync.ui.settings_dialog import SettingsDialog
from tests.conftest import MemoryKeyring
from tests.ui.conftest import demo_project, run


def dialog_for(qtbot: QtBot, config: Path, read_only: bool = False) -> SettingsDialog:
    dialog = SettingsDialog(load_settings(config), config.parent / "data", read_only=read_only)
    qtbot.addWidget(dialog)
    return dialog


def save(loop: asyncio.AbstractEventLoop, dialog: SettingsDialog) -> bool:
    """Press Save and wait for the write (it runs off the UI thread)."""
    task = dialog.save()
    assert task is not None, f"refused: {dialog.error.text()}"

    async def finished() -> bool:
        return await task

    return run(loop, finished())


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
    qtbot: QtBot, tmp_path: Path, dict_keyring: MemoryKeyring, qloop: asyncio.AbstractEventLoop
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
    dialog.notify_boxes["sync_failed"].setChecked(False)  # on by default: a change to write
    keyring_threads: list[str] = []
    original = dict_keyring.set_password

    def recorded(service: str, username: str, password: str) -> None:
        keyring_threads.append(threading.current_thread().name)
        original(service, username, password)

    dict_keyring.set_password = recorded  # type: ignore[method-assign]
    assert save(qloop, dialog)
    assert dialog.error.text() == ""
    assert keyring_threads and keyring_threads[0] != threading.main_thread().name  # never the UI thread
    assert len(saved) == 1
    text = config.read_text(encoding="utf-8")
    assert "s3cret-token" not in text
    raw = tomllib.loads(text)
    assert raw["accounts"][0]["interval"] == 7
    assert raw["accounts"][0]["scenario"] == "scenario.toml"
    assert raw["ui"]["close_to_tray"] is False and "sync_failed" not in raw["ui"]["notify"]
    assert "phantom_detected" in raw["ui"]["notify"]
    assert dict_keyring.entries[(KEYRING_SERVICE, "demo:access_token")] == "s3cret-token"
    assert load_settings(config).account("demo").interval == 7  # the program reads what was written
    assert (config.parent / "config.toml.bak").exists()


def test_accounts_and_books_can_be_added_and_removed(qtbot: QtBot, tmp_path: Path) -> None:
    config = demo_project(tmp_path, only="demo")
    dialog = dialog_for(qtbot, config)
    dialog.add_book()
    dialog.book_form.id.setText("second-book")
    dialog.book_form.line("file", "path").setText("book.json")
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
    assert dialog.test_result.text() == "Broker: connected, 10 open position(s). Book: read, 8 position(s)."
    state = config.parent / "data" / "simulated" / "demo.json"
    assert not state.exists()  # the test ran in a scratch directory: the demo did not advance


def test_saving_unchanged_settings_changes_nothing_the_program_reads(
    qtbot: QtBot, tmp_path: Path, qloop: asyncio.AbstractEventLoop
) -> None:
    config = demo_project(tmp_path, interval=0.25)
    before = load_settings(config)
    dialog = dialog_for(qtbot, config)
    assert save(qloop, dialog)
    assert dialog.error.text() == ""
    after = load_settings(config)
    assert after.accounts == before.accounts and after.books == before.books


MIXED = """\
[[books]]
id = "bot-db"
kind = "sql"
url = "sqlite:///bot.db"
table = "positions"
where = "closed_at IS NULL"
change_probe = "SELECT max(updated_at) FROM positions"
probe_interval = 2
password_env = "BOT_DB_PASSWORD"
writable = true
fields = { symbol = "tradingsymbol", quantity = "qty" }

[books.write]
key = "id"
closed_at = "closed_at"
reason = "close_reason"

[[books]]
id = "bot-api"
kind = "http"
url = "https://bot.example/api/v1/positions"
list_key = "data"
token_env = "BOT_TOKEN"
timeout = 7.5
poll_interval = 5

[[books]]
id = "file-book"
kind = "file"
path = "book.json"
format = "json"

[[accounts]]
id = "sql-account"
broker = "simulated"
scenario = "scenario.toml"
book = "bot-db"
interval = 3
enabled = true
price_tolerance_rel = 0.002
aliases = { "NSE:M_M" = "NSE:M&M" }

[[accounts]]
id = "http-account"
broker = "simulated"
scenario = "scenario.toml"
book = "bot-api"
currency = "USD"
mass_change_min = 5

[store]
url = "sqlite:////tmp/never-opened.db"
"""


def mixed_project(tmp_path: Path) -> Path:
    config = tmp_path / "mixed" / "config.toml"
    config.parent.mkdir()
    config.write_text(MIXED, encoding="utf-8")
    return config


def test_sql_and_http_books_survive_an_unchanged_save(
    qtbot: QtBot, tmp_path: Path, qloop: asyncio.AbstractEventLoop
) -> None:
    config = mixed_project(tmp_path)
    dialog = dialog_for(qtbot, config)
    form = dialog.book_form
    assert form.current_kind() == "sql"  # the first book, committed on open, is not turned into a file
    assert form.shown_kind() == "sql"
    assert (
        form.line("sql", "url").text(),
        form.line("sql", "table").text(),
        form.line("sql", "where").text(),
    ) == (
        "sqlite:///bot.db",
        "positions",
        "closed_at IS NULL",
    )
    assert (
        form.check_box("sql", "writable").isChecked()
        and 'key = "id"' in form.text_box("sql", "write").toPlainText()
    )
    for kind in known_kinds():  # every key the readers declare has its widget
        assert set(form.page[kind].keys) == set(option_keys(book_kind(kind).options)), kind
    for row in (1, 2, 0):  # visit every book and account: each visit commits the form
        dialog.book_list.setCurrentRow(row)
    dialog.book_list.setCurrentRow(1)
    assert (
        form.current_kind() == "http"
        and form.line("http", "url").text() == "https://bot.example/api/v1/positions"
    )
    assert (
        form.line("http", "token_env").text(),
        form.line("http", "timeout").text(),
        form.line("http", "poll_interval").text(),
    ) == (
        "BOT_TOKEN",
        "7.5",
        "5",
    )
    dialog.account_list.setCurrentRow(1)
    assert "mass_change_min" in dialog.a_options.toPlainText()  # shown, and kept
    dialog.account_list.setCurrentRow(0)
    assert save(qloop, dialog), dialog.error.text()
    assert tomllib.loads(config.read_text(encoding="utf-8")) == tomllib.loads(MIXED)


def test_editing_an_sql_books_where_is_written_and_nothing_else_moves(
    qtbot: QtBot, tmp_path: Path, qloop: asyncio.AbstractEventLoop
) -> None:
    config = mixed_project(tmp_path)
    dialog = dialog_for(qtbot, config)
    dialog.book_form.line("sql", "where").setText("status = 'active'")
    dialog.book_list.setCurrentRow(1)
    dialog.book_form.line("http", "poll_interval").setText("2.5")
    assert save(qloop, dialog), dialog.error.text()
    written = tomllib.loads(config.read_text(encoding="utf-8"))
    expected = tomllib.loads(MIXED)
    expected["books"][0]["where"] = "status = 'active'"
    expected["books"][1]["poll_interval"] = 2.5
    assert written == expected
    settings = load_settings(config)
    assert settings.books["bot-db"].options["where"] == "status = 'active'"
    assert settings.books["bot-db"].kind == "sql" and settings.books["bot-api"].kind == "http"


def test_a_books_kind_can_change_and_a_bad_number_is_refused(qtbot: QtBot, tmp_path: Path) -> None:
    config = mixed_project(tmp_path)
    dialog = dialog_for(qtbot, config)
    dialog.book_list.setCurrentRow(2)
    form = dialog.book_form
    form.kind.setCurrentIndex(form.kind.findData("http"))
    assert form.shown_kind() == "http"
    form.line("http", "url").setText("https://bot.example/other")
    dialog.book_list.setCurrentRow(1)
    form.line("http", "poll_interval").setText("soon")
    assert dialog.check() is None
    assert "books[1].poll_interval" in dialog.error.text() and "'soon'" in dialog.error.text()
    form.line("http", "poll_interval").setText("5")
    settings = dialog.check()
    assert settings is not None
    changed = settings.books["file-book"]
    assert (changed.kind, changed.url, changed.path) == ("http", "https://bot.example/other", None)
    assert "format" not in changed.options  # the file's keys went with the kind


def test_a_book_password_goes_to_the_keyring_under_the_books_id(
    qtbot: QtBot, tmp_path: Path, qloop: asyncio.AbstractEventLoop, dict_keyring: MemoryKeyring
) -> None:
    config = mixed_project(tmp_path)
    dialog = dialog_for(qtbot, config)
    dialog.book_form.secret_value.setText("db-pass")
    assert save(qloop, dialog)
    assert dict_keyring.entries[(KEYRING_SERVICE, "bot-db:password")] == "db-pass"
    assert "db-pass" not in config.read_text(encoding="utf-8")


def test_browse_opens_a_file_dialog_without_a_nested_loop(qtbot: QtBot, tmp_path: Path) -> None:
    config = demo_project(tmp_path)
    dialog = dialog_for(qtbot, config)
    chooser = dialog.book_form.browse()
    assert chooser.isVisible()  # open() returned at once: no exec() waiting for the user
    chooser.fileSelected.emit(str(config.parent / "other.json"))
    assert dialog.book_form.line("file", "path").text() == "other.json"
    chooser.reject()


def test_the_theme_choice_is_written_only_when_changed(
    qtbot: QtBot, tmp_path: Path, qloop: asyncio.AbstractEventLoop
) -> None:
    config = demo_project(tmp_path)
    dialog = dialog_for(qtbot, config)
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    assert save(qloop, dialog)
    raw = tomllib.loads(config.read_text(encoding="utf-8"))
    assert raw["ui"] == {"theme": "dark"}  # nothing the user did not change
    assert preferences(load_settings(config)).theme == "dark"
