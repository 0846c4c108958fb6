"""The window's log file: owner-only, rotated, redacted, and the terminal's level left alone."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from position_sync.app import log_file
from position_sync.app.log_file import (
    LOG_DIR_ENV,
    LOG_NAME,
    PrivateRotatingFileHandler,
    RedactingFormatter,
    active_log_file,
    describe_log_file,
    install_log_file,
    log_dir,
    remove_log_file,
)


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    """A logger of the test's own with a terminal-like handler at WARNING, as the CLI sets up."""
    target = logging.getLogger("position_sync.test_log_file")
    target.propagate = False
    target.setLevel(logging.WARNING)
    terminal = logging.StreamHandler()
    target.addHandler(terminal)
    yield target
    remove_log_file(target)
    target.removeHandler(terminal)
    target.setLevel(logging.NOTSET)
    target.propagate = True


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_log_file_is_private_and_gets_info_while_the_terminal_keeps_warning(
    logger: logging.Logger, tmp_path: Path
) -> None:
    folder = tmp_path / "state" / "log"
    previous = os.umask(0o022)
    try:
        path = install_log_file(logger, folder)
    finally:
        os.umask(previous)
    assert path == folder / LOG_NAME and active_log_file() == path
    assert mode(folder) == 0o700 and mode(path) == 0o600
    terminal = next(h for h in logger.handlers if not isinstance(h, PrivateRotatingFileHandler))
    logger.info("sync demo (interval): ok, 11 rows")
    logger.warning("demo-us is stale")
    text = path.read_text(encoding="utf-8")
    assert "INFO position_sync.test_log_file" in text and "sync demo (interval): ok" in text
    assert "WARNING" in text and "demo-us is stale" in text
    assert terminal.level == logging.WARNING  # what a terminal shows did not change
    assert install_log_file(logger, folder) == path  # once: a second call adds no second handler
    assert sum(isinstance(h, PrivateRotatingFileHandler) for h in logger.handlers) == 1
    assert str(path) in describe_log_file(path) and "rotated" in describe_log_file(path)


def test_every_rotated_file_is_private_too(tmp_path: Path) -> None:
    path = tmp_path / LOG_NAME
    previous = os.umask(0o022)
    try:
        handler = PrivateRotatingFileHandler(path, maxBytes=300, backupCount=2, encoding="utf-8")
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s", ("y" * 120,), None)
        for _ in range(10):
            handler.emit(record)
        handler.close()
    finally:
        os.umask(previous)
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == [LOG_NAME, f"{LOG_NAME}.1", f"{LOG_NAME}.2"]  # rotated, bounded
    assert {mode(f) for f in files} == {0o600}


def test_urls_are_masked_in_messages_and_in_tracebacks(logger: logging.Logger, tmp_path: Path) -> None:
    path = install_log_file(logger, tmp_path)
    assert path is not None
    logger.warning("book read from https://desk.example/positions?token=s3cret&x=1")
    try:
        raise ConnectionError("GET https://ops:hunter2@book.example/api?api_key=abc123 failed")
    except ConnectionError:
        logger.exception("reading the book failed")
    text = path.read_text(encoding="utf-8")
    assert "token=***&x=1" in text and "api_key=***" in text and "***@book.example" in text
    assert "Traceback" in text  # the traceback is there, redacted
    for secret in ("s3cret", "hunter2", "abc123"):
        assert secret not in text


def test_the_formatter_escapes_control_characters() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "symbol \x1b]0;owned\x07", None, None)
    assert "\\x1b" in RedactingFormatter("%(message)s").format(record)


def test_log_dir_follows_the_environment_then_the_platform(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(LOG_DIR_ENV, str(tmp_path / "mine"))
    assert log_dir() == tmp_path / "mine"
    monkeypatch.delenv(LOG_DIR_ENV)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert log_dir() == tmp_path / "state" / "position-sync" / "log"


def test_a_log_file_that_cannot_be_opened_is_said_once_and_not_fatal(
    logger: logging.Logger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert install_log_file(logger, blocker / "log") is None
    assert "no log file" in capsys.readouterr().err
    assert log_file.active_log_file() is None
    assert "standard error only" in describe_log_file(None)
