"""The window's log file: where an error goes when nobody is watching a terminal.

A desktop program started from the menu has no terminal, so standard error goes nowhere; the
window writes its log to a file in the platform's log directory (``platformdirs``:
``~/.local/state/position-sync/log`` on Linux, ``~/Library/Logs/position-sync`` on macOS,
``%LOCALAPPDATA%\\position-sync\\...\\Logs`` on Windows), rotated so it never grows without
bound. The log names accounts, instruments and positions, so the file is created owner-only
like every other private file (``app.private``), after each rotation too, and every line goes
through the URL redaction (``app.redact``), tracebacks included: an exception's text quotes the
URL it failed on, token and all.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import sys
from pathlib import Path

import platformdirs

from position_sync.app.config import APP_NAME
from position_sync.app.private import private_dir, private_file
from position_sync.app.redact import RedactingFilter, mask_urls_in
from position_sync.app.terminal import TerminalSafeFormatter

LOG_DIR_ENV = "POSITION_SYNC_LOG_DIR"
LOG_NAME = "position-sync.log"
MAX_BYTES = 2 * 1024 * 1024
BACKUPS = 3  # position-sync.log and .1 to .3: 8 MB at most
FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d %(threadName)s]: %(message)s"
FILE_LEVEL = logging.INFO

_active: Path | None = None


def log_dir() -> Path:
    """``POSITION_SYNC_LOG_DIR`` when set, else the platform's user log directory."""
    env = os.environ.get(LOG_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_log_dir(APP_NAME))


def active_log_file() -> Path | None:
    """The file this process logs to, once ``install_log_file`` has opened it."""
    return _active


def describe_log_file(path: Path | None) -> str:
    """What the About dialog and the error dialog say about the log."""
    if path is None:
        return "standard error only: this run writes no log file (start from a terminal, add -v for more)"
    return f"{path} (rotated at {MAX_BYTES // (1024 * 1024)} MB, {BACKUPS} older files kept)"


class RedactingFormatter(TerminalSafeFormatter):
    """The message escaped for a terminal, and URLs masked in the whole line, traceback included.

    ``RedactingFilter`` masks the message; an exception's text is formatted later, by the
    formatter (and cached on the record by whichever handler formats it first), so the finished
    text is masked here.
    """

    def format(self, record: logging.LogRecord) -> str:
        return mask_urls_in(super().format(record))


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating file handler whose every file, the first and each after a rollover, is 0600."""

    def _open(self) -> io.TextIOWrapper:
        private_file(Path(self.baseFilename))
        return super()._open()


def install_log_file(logger: logging.Logger | None = None, folder: Path | None = None) -> Path | None:
    """Add the rotating file handler to ``logger`` (the root); returns the file, or None when
    it cannot be opened (said once on standard error: logging to a file is never a reason not
    to start).

    The logger's level is lowered to ``FILE_LEVEL`` where needed, so the file gets the window's
    INFO lines (syncs, the window shown); the other handlers keep the level they had, set on
    them so what a terminal shows does not change.
    """
    global _active
    target = logger or logging.getLogger()
    path = (folder or log_dir()) / LOG_NAME
    for existing in target.handlers:
        if isinstance(existing, PrivateRotatingFileHandler) and Path(existing.baseFilename) == path:
            return path  # installed already (a second window in the same process)
    try:
        private_dir(path.parent)
        handler = PrivateRotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    except OSError as exc:
        print(f"position-sync: no log file ({path}: {exc.strerror or exc})", file=sys.stderr)
        return None
    handler.setLevel(FILE_LEVEL)
    handler.setFormatter(RedactingFormatter(FORMAT))
    handler.addFilter(RedactingFilter())
    before = target.getEffectiveLevel()
    if before > FILE_LEVEL:
        for other in target.handlers:
            if other.level < before:
                other.setLevel(before)
        target.setLevel(FILE_LEVEL)
    target.addHandler(handler)
    _active = path
    return path


def remove_log_file(logger: logging.Logger | None = None) -> None:
    """Close and remove the handler ``install_log_file`` added (tests, a second run in-process)."""
    global _active
    target = logger or logging.getLogger()
    for handler in list(target.handlers):
        if isinstance(handler, PrivateRotatingFileHandler):
            target.removeHandler(handler)
            handler.close()
    _active = None
